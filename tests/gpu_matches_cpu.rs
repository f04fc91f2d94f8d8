//! Every WGSL kernel against its CPU twin, on real Vulkan (lavapipe in CI): masks identical,
//! evidence within a stated tolerance.

mod common;

use tuban::change::cpu::Driver;
use tuban::change::{BandRoles, EvidenceKind, PipelineConfig, Plan, Threshold, run_tile_cpu};

fn plan_for(kind: EvidenceKind, bands: usize, t: f32) -> Plan {
    let roles = BandRoles {
        red: Some(2),
        green: Some(1),
        blue: Some(0),
        nir: Some(3),
        swir: Some(4),
    };
    let config = PipelineConfig {
        evidence: kind,
        threshold: Threshold::Value(t),
        mbi_half_px: (2, 9),
        ..PipelineConfig::default()
    };
    let mut plan = Plan::new(config, bands, roles);
    plan.coeffs = (0..bands)
        .flat_map(|b| [1.1 + 0.01 * b as f32, -20.0])
        .collect();
    plan.threshold = t;
    plan
}

fn assert_close(cpu: &[f32], gpu: &[f32], kind: EvidenceKind) {
    let what = kind.name();
    assert_eq!(cpu.len(), gpu.len());
    for (i, (c, g)) in cpu.iter().zip(gpu).enumerate() {
        if c.is_nan() {
            assert!(g.is_nan(), "{what}: pixel {i}: cpu NaN, gpu {g}");
            continue;
        }
        // Evidence tolerance: the GPU rounding the kind allows (see `rounding_rel`).
        let tol = kind.rounding_rel() * c.abs().max(1e-3);
        assert!((c - g).abs() <= tol, "{what}: pixel {i}: cpu {c}, gpu {g}");
    }
}

#[test]
fn every_kernel_gpu_matches_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let backend = tuban::change::Backend::Gpu(&gpu);
    // Five bands: blue, green, red, NIR, SWIR.
    let input = common::scene(83, 61, 5, 7);
    for kind in EvidenceKind::ALL {
        // A threshold in the middle of the evidence range, so both classes are present.
        let probe = run_tile_cpu(Driver::Sequential, &plan_for(kind, 5, 0.0), &input, false);
        let mut finite: Vec<f32> = probe
            .evidence
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        finite.sort_by(f32::total_cmp);
        let t = finite[finite.len() * 4 / 5];
        let mut plan = plan_for(kind, 5, t);
        // Line joining on every kind.
        plan.config.join_half_px = 7;
        plan.config.join_wide_px = 4;
        let cpu = run_tile_cpu(Driver::Rayon, &plan, &input, true);
        let seq = run_tile_cpu(Driver::Sequential, &plan, &input, true);
        assert!(
            common::same_result(&cpu, &seq),
            "{}: rayon and sequential differ",
            kind.name()
        );
        let g = backend.run_tile(&plan, &input, true).expect("gpu run");
        assert_close(&cpu.evidence, &g.evidence, kind);
        if cpu.mask != g.mask {
            let diff = cpu.mask.iter().zip(&g.mask).filter(|(a, b)| a != b).count();
            panic!(
                "{}: {diff} mask pixels differ (near-threshold: cpu {}, gpu {})",
                kind.name(),
                cpu.near_threshold,
                g.near_threshold
            );
        }
        assert!(
            cpu.mask.contains(&1) && cpu.mask.contains(&0),
            "{}: degenerate mask",
            kind.name()
        );
        assert_eq!(cpu.near_threshold, g.near_threshold, "{}", kind.name());
    }
    // The cloud and shadow tests of the conversion evidence: the new roofs (after ~1740 once
    // normalised) are cloud, their east shadows (~70) dark.
    let mut plan = plan_for(EvidenceKind::Conversion, 5, 1.0);
    plan.cloud_value = 1000.0;
    plan.dark_value = 100.0;
    let cpu = run_tile_cpu(Driver::Rayon, &plan, &input, true);
    let g = backend.run_tile(&plan, &input, true).expect("gpu run");
    assert_close(&cpu.evidence, &g.evidence, EvidenceKind::Conversion);
    assert_eq!(cpu.mask, g.mask, "conversion with cloud and shadow tests");
    // The bright arm (new surfaces on bare ground) on both devices, screens off: a block of
    // bare soil (NDVI 0.1) that turns into a grey roof twice as bright.
    let mut bare = input.clone();
    let n = bare.width * bare.height;
    for y in 10..30 {
        for x in 10..30 {
            let i = y * bare.width + x;
            for (b, (before, after)) in [
                (300.0, 700.0),
                (350.0, 720.0),
                (400.0, 740.0),
                (490.0, 760.0),
                (600.0, 800.0),
            ]
            .into_iter()
            .enumerate()
            {
                bare.before[b * n + i] = before;
                bare.after[b * n + i] = after;
            }
        }
    }
    let mut lit = plan_for(EvidenceKind::Conversion, 5, 1.0);
    lit.bright_value = 150.0;
    let c = run_tile_cpu(Driver::Rayon, &lit, &bare, true);
    let gl = backend.run_tile(&lit, &bare, true).expect("gpu run");
    assert_close(&c.evidence, &gl.evidence, EvidenceKind::Conversion);
    assert_eq!(c.mask, gl.mask, "conversion with the bright arm");
    let dark = run_tile_cpu(
        Driver::Rayon,
        &plan_for(EvidenceKind::Conversion, 5, 1.0),
        &bare,
        true,
    );
    assert_ne!(c.mask, dark.mask, "the bright arm found nothing to test");
    let cloud = cpu
        .evidence
        .iter()
        .filter(|e| **e == tuban::change::CLOUD_EVIDENCE)
        .count();
    let dark = cpu
        .evidence
        .iter()
        .filter(|e| **e == tuban::change::SHADOW_EVIDENCE)
        .count();
    assert!(cloud > 100 && dark > 10, "cloud {cloud}, dark {dark}");
}

#[test]
fn rows_of_panels_gpu_matches_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let backend = tuban::change::Backend::Gpu(&gpu);
    // Green fields before; after, a 40 x 30 array of 3-px panel rows (grey, no NIR lift) with
    // 3-px strips of the field between, and a lone panel block elsewhere.
    let (w, h, bands) = (90usize, 70usize, 5usize);
    let mut input = common::scene(w, h, bands, 11);
    let n = w * h;
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            for (b, v) in [300.0, 500.0, 400.0, 3500.0, 1800.0]
                .into_iter()
                .enumerate()
            {
                input.before[b * n + i] = v;
                input.after[b * n + i] = v;
            }
            let array = (20..60).contains(&x) && (15..45).contains(&y) && (x / 3) % 2 == 0;
            let block = (70..80).contains(&x) && (55..65).contains(&y);
            if array || block {
                for (b, v) in [900.0, 800.0, 700.0, 900.0, 1500.0].into_iter().enumerate() {
                    input.after[b * n + i] = v;
                }
            }
            input.valid[i] = 1;
        }
    }
    let mut plan = plan_for(EvidenceKind::Conversion, bands, 1.0);
    plan.config.rows_half_px = 12;
    let cpu = run_tile_cpu(Driver::Rayon, &plan, &input, true);
    let seq = run_tile_cpu(Driver::Sequential, &plan, &input, true);
    assert!(
        common::same_result(&cpu, &seq),
        "rayon and sequential differ"
    );
    let g = backend.run_tile(&plan, &input, true).expect("gpu run");
    assert_eq!(cpu.mask, g.mask, "rows: masks differ");
    // The array is one class-3 region, gaps included; the lone block stays class 1.
    let at = |x: usize, y: usize| cpu.mask[y * w + x];
    assert_eq!((at(40, 30), at(41, 30), at(28, 16)), (3, 3, 3));
    assert_eq!(at(75, 60), 1);
    assert_eq!(at(10, 30), 0);
}

#[test]
fn kernel_params_match_wgsl_struct_size() {
    // shaders/common.wgsl declares `struct Params` with 16 four-byte fields; no other shader
    // may declare its own.
    assert_eq!(std::mem::size_of::<tuban::change::KernelParams>(), 64);
    for (name, src) in tuban::gpu::shader_sources() {
        let decls = src.matches("struct Params {").count();
        if name == "common" {
            assert_eq!(decls, 1);
            let body = src
                .split("struct Params {")
                .nth(1)
                .and_then(|s| s.split('}').next())
                .unwrap_or("");
            assert_eq!(body.split(',').filter(|f| f.contains(':')).count(), 16);
        } else {
            assert_eq!(decls, 0, "{name}.wgsl declares its own Params");
        }
    }
}
