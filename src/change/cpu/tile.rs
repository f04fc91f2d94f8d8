//! The CPU pipeline for one tile, step for step the twin of the GPU dispatch order in
//! [`crate::gpu::GpuContext::run_tile`].

use super::Driver;
use crate::change::{EvidenceKind, KernelParams, Plan, TileInput, TileResult};

/// The CPU pipeline for one tile (the twin of [`crate::gpu::GpuContext::run_tile`]).
pub fn run_tile(driver: Driver, plan: &Plan, input: &TileInput, with_mask: bool) -> TileResult {
    run_tile_on(driver, plan, input, None, with_mask)
}

/// [`run_tile`] with the evidence given instead of computed (a model's; NaN where nodata).
pub fn run_tile_on(
    driver: Driver,
    plan: &Plan,
    input: &TileInput,
    given: Option<Vec<f32>>,
    with_mask: bool,
) -> TileResult {
    let mut t = crate::timing::Timings::default();
    let p = plan.params(input.width, input.height);
    // Gain 1 and offset 0 change no value (NaN stays NaN): the ratio indices skip the pass
    // and its copy of the after image.
    let identity = plan.coeffs.chunks(2).all(|c| c == [1.0, 0.0]);
    let after: std::borrow::Cow<[f32]> = if plan.config.normalize && !identity {
        let mut after = input.after.clone();
        t.time("normalize", || {
            super::normalize::normalize(driver, &p, &plan.coeffs, &mut after)
        });
        after.into()
    } else {
        input.after.as_slice().into()
    };
    let n = input.pixels();
    let evidence = match given {
        Some(e) => e,
        None => {
            let mut evidence = vec![0.0f32; n];
            t.time("evidence", || {
                tile_evidence(driver, plan, &p, input, &after, &mut evidence)
            });
            evidence
        }
    };
    if !with_mask {
        return TileResult {
            evidence,
            mask: Vec::new(),
            near_threshold: 0,
            timings: t,
        };
    }
    let mut mask = vec![0u32; n];
    let near = t.time("threshold", || {
        super::threshold::threshold(driver, &p, &evidence, &input.valid, &mut mask)
    });
    let c = &plan.config;
    t.time("open_close", || {
        super::morphology::open_close(driver, &p, &mut mask, c.open_px, c.close_px)
    });
    t.time("join", || {
        super::morphology::join_lines(driver, &p, &mut mask, c.join_half_px, c.join_wide_px)
    });
    t.time("classes", || {
        driver.update(&mut mask, |i, m| {
            super::spectral::change_class_px(&p, &input.before, &after, &evidence, m, i)
        })
    });
    if c.evidence == EvidenceKind::Conversion {
        let pv = KernelParams {
            half: crate::change::contract::CLASS_VOTE_PX,
            ..p
        };
        t.time("class_vote", || {
            let raw = mask.clone();
            driver.fill(&mut mask, input.width, |i| {
                super::morphology::class_majority_px(&pv, &raw, i)
            })
        });
        if c.rows_half_px > 0 {
            let pr = KernelParams {
                half: c.rows_half_px,
                ..p
            };
            t.time("rows", || {
                let voted = mask.clone();
                super::morphology::rows(&pr, &voted, &mut mask)
            });
        }
    }
    TileResult {
        evidence,
        mask,
        near_threshold: near,
        timings: t,
    }
}

/// The evidence of a tile: the building or shadow index change, or a spectral kind.
fn tile_evidence(
    driver: Driver,
    plan: &Plan,
    p: &KernelParams,
    input: &TileInput,
    after: &[f32],
    evidence: &mut [f32],
) {
    if plan.config.evidence.is_morphological() {
        let n = input.pixels();
        let (mut base_b, mut base_a) = (vec![0.0; n], vec![0.0; n]);
        super::spectral::visible_max(driver, p, &input.before, after, &mut base_b, &mut base_a);
        let acc_b = super::mbi::mbi_sum(driver, p, &base_b, &input.valid, plan.config.mbi_half_px);
        let acc_a = super::mbi::mbi_sum(driver, p, &base_a, &input.valid, plan.config.mbi_half_px);
        driver.fill(evidence, input.width, |i| {
            super::mbi::mbi_change_px(&input.valid, &acc_b, &acc_a, i)
        });
    } else {
        super::spectral::evidence(driver, p, &input.before, after, &input.valid, evidence);
    }
}
