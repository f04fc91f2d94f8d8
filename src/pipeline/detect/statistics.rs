//! The statistics pass: sample cells spread over the scene (independent of `--tile`) for the
//! radiometric fit, the model's band statistics and the Otsu threshold; the registration
//! offset between the dates, and `--coregister`.

use super::blend::Blend;
use super::{DetectOptions, SceneStats, crop};
use crate::change::{Plan, otsu, radiometry};
use crate::engine::Backend;
use crate::error::{Error, Result};
use crate::raster::grid::{Tile, TileGrid, Window};
use crate::raster::pair::{DateReaders, PairOptions, ScenePair};
use crate::raster::registration::Registration;
use crate::raster::values::{ValueRange, ValueTally};
use crate::stream::ProgressFn;

/// Side of the sample cells used for scene statistics, and how many at most.
pub(super) const SAMPLE_CELL_PX: usize = 256;
pub(super) const SAMPLE_CELLS: usize = 64;

/// Windows spread over the scene whose phase correlation measures the shift between the dates.
pub(super) const REGISTRATION_WINDOWS: usize = 16;

/// `--coregister` leaves shifts shorter than this (px) alone: resampling costs more than they do.
pub(super) const COREGISTER_MIN_PX: f64 = 0.1;

/// Paired pixels kept for the radiometric fit.
pub(super) const RADIOMETRY_SAMPLES: usize = 250_000;

/// `--coregister`: measure the shift between the dates, then open the pair again with the after
/// image read moved back by it (a warped copy beside the outputs, removed with the pair).
/// Returns the pair to read, the shift removed, and a note when it could not be measured.
pub(super) fn coregister(
    pair: ScenePair,
    opts: &DetectOptions,
    pair_opts: &PairOptions,
) -> Result<(ScenePair, Option<Registration>, Option<String>)> {
    if pair.geo_transform.is_none() {
        return Err(Error::Ungeoreferenced {
            before: opts.before.clone(),
            after: opts.after.clone(),
            what: "--coregister warps the after image: it needs a georeference".into(),
        });
    }
    let probe = TileGrid::new(pair.width, pair.height, opts.tile_px, 0);
    let (measured, _) = measure_registration(&mut DateReaders::open(&pair)?, &probe)?;
    match measured {
        None => Ok((
            pair,
            None,
            Some(
                "--coregister: the shift could not be measured (no wholly valid, textured 256 x 256 window in both dates): not co-registered".into(),
            ),
        )),
        Some(r) if r.length_px() >= COREGISTER_MIN_PX => {
            let moved = PairOptions {
                shift_after: Some((r.dx_px, r.dy_px)),
                ..pair_opts.clone()
            };
            drop(pair);
            Ok((
                ScenePair::open(&opts.before, &opts.after, &moved)?,
                Some(r),
                None,
            ))
        }
        Some(_) => Ok((pair, None, None)),
    }
}

/// The shift between the dates: phase correlation of the mean of all bands over up to
/// [`REGISTRATION_WINDOWS`] windows spread over the scene, each wholly valid in both dates;
/// and each date's [`ValueRange`] over those windows (edge windows of another size included),
/// which [`ScenePair::settle_scales`] reads.
pub(super) fn measure_registration(
    readers: &mut DateReaders,
    grid: &TileGrid,
) -> Result<(Option<Registration>, [ValueRange; 2])> {
    use crate::raster::registration::{WINDOW_PX, register};
    let n = WINDOW_PX;
    let px = n * n;
    let mut windows = vec![];
    let pair = readers.pair();
    let mut tally = [pair.value_scale(), pair.after_value_scale()].map(ValueTally::new);
    for t in grid.sample_tiles(n, REGISTRATION_WINDOWS) {
        let input = readers.read(t.core)?;
        tally[0].add(&input.before, &input.valid);
        tally[1].add(&input.after, &input.valid);
        if t.core.width != n || t.core.height != n {
            continue;
        }
        if input.valid.iter().all(|&v| v == 1) {
            let mean = |img: &[f32]| -> Vec<f32> {
                (0..px)
                    .map(|i| {
                        (0..input.bands).map(|b| img[b * px + i]).sum::<f32>() / input.bands as f32
                    })
                    .collect()
            };
            windows.push((mean(&input.before), mean(&input.after)));
        }
    }
    Ok((register(&windows, n), tally.map(|t| t.range())))
}

/// The sample cells: a spread of 256-px cells; when none of them has a valid pixel (a scene that
/// is mostly nodata), every cell.
pub(super) fn sample_cells(readers: &mut DateReaders, grid: &TileGrid) -> Result<Vec<Tile>> {
    let spread = grid.sample_tiles(SAMPLE_CELL_PX, SAMPLE_CELLS);
    for t in &spread {
        if readers.read(t.core)?.valid.contains(&1) {
            return Ok(spread);
        }
    }
    let all = grid.sample_tiles(SAMPLE_CELL_PX, usize::MAX);
    for t in &all {
        if readers.read(t.core)?.valid.contains(&1) {
            return Ok(all);
        }
    }
    let (b, a) = readers.pair().paths();
    Err(Error::AllNodata {
        before: b.into(),
        after: a.into(),
    })
}

/// Per date and band, the mean and standard deviation of the valid pixels of the sample cells
/// (a model's `scale = "scene"`).
pub(super) fn band_stats(
    readers: &mut DateReaders,
    cells: &[Tile],
) -> Result<[Vec<(f64, f64)>; 2]> {
    let mut acc =
        [(); 2].map(|_| vec![crate::model::infer::Moments::default(); readers.pair().bands()]);
    for t in cells {
        let input = readers.read(t.core)?;
        let n = input.pixels();
        for (date, img) in [&input.before, &input.after].into_iter().enumerate() {
            for (b, m) in acc[date].iter_mut().enumerate() {
                m.add(&img[b * n..(b + 1) * n], &input.valid);
            }
        }
    }
    Ok(acc.map(|date| date.iter().map(|m| m.mean_std()).collect()))
}

pub(super) fn fit_radiometry(readers: &mut DateReaders, cells: &[Tile]) -> Result<Vec<f32>> {
    let total: usize = cells.iter().map(|t| t.core.pixels()).sum();
    let stride = total.div_ceil(RADIOMETRY_SAMPLES).max(1);
    let mut s = radiometry::PairSamples::new(readers.pair().bands());
    let mut k = 0usize;
    for t in cells {
        let input = readers.read(t.core)?;
        let n = input.pixels();
        for i in 0..n {
            k += 1;
            if k % stride != 0 || input.valid[i] == 0 {
                continue;
            }
            for b in 0..input.bands {
                s.before[b].push(input.before[b * n + i]);
                s.after[b].push(input.after[b * n + i]);
            }
        }
    }
    Ok(radiometry::fit(&s))
}

/// The Otsu threshold of `plan`'s evidence over the sample `cells`. `window_px` is the most
/// pixels the main pass reads at once (a tile and its halo): when the smallest window holding
/// every cell's read is no larger, and holds no more pixels than the cells' reads together (a
/// small scene, its cells covering it), the evidence is computed once over that window and
/// the cells cut from it.
pub(super) fn scene_threshold(
    readers: &mut DateReaders,
    plan: &Plan,
    (backend, window_px): (&Backend, usize),
    cells: &[Tile],
    progress: ProgressFn,
) -> Result<f32> {
    let mut values = Vec::new();
    // Each cell is read with as much around it as the evidence reaches, not with the whole
    // detection halo (morphology, joining, typing's ring): the evidence of its pixels is the
    // same, and 256-px cells read with the 0.8 m defaults' 220-px halo computed 7.7 times
    // their pixels (the building index on a 1024² tile: 2.1 s of statistics against 0.35 s of
    // evidence in the main pass).
    let scene = (readers.pair().width, readers.pair().height);
    let reach = plan.evidence_reach_px();
    let reads: Vec<Window> = cells.iter().map(|t| t.core.grown(reach, scene)).collect();
    let computed: usize = reads.iter().map(Window::pixels).sum();
    let union = reads.iter().copied().reduce(|a, b| a.union(b));
    if let Some(union) = union.filter(|u| u.pixels() <= computed.min(window_px)) {
        // The same values: a pixel's evidence depends on what lies within its reach, which
        // the union holds wherever a cell's read held it, and the scene's edge cuts both alike
        // (the main pass's tiles rely on it too). The building index on WHU-CD's 1024² pair:
        // its 16 cells grown by 44 px computed 1.8 times the scene.
        let input = readers.read(union)?;
        let r = backend.run_tile(plan, &input, false)?;
        for t in cells {
            values.extend(crop(&r.evidence, union, t.core));
        }
        progress("statistics", cells.len() as u64, cells.len() as u64);
    } else {
        for (k, (t, &read)) in cells.iter().zip(&reads).enumerate() {
            let input = readers.read(read)?;
            let r = backend.run_tile(plan, &input, false)?;
            values.extend(crop(&r.evidence, read, t.core));
            progress("statistics", k as u64 + 1, cells.len() as u64);
        }
    }
    otsu::otsu_threshold(&values).ok_or_else(|| {
        let (b, a) = readers.pair().paths();
        Error::AllNodata {
            before: b.into(),
            after: a.into(),
        }
    })
}

/// The classical kind of a blend, measured as `--evidence KIND` alone would measure it: the
/// after image normalised onto the before one (the model reads the dates as they are) and the
/// kind's own Otsu threshold over `samples`; or taken from the scene statistics `given`.
///
/// # Errors
/// Reading errors; given statistics without the kind's threshold (naming `before`).
pub(super) fn blend_statistics(
    mut b: Blend,
    given: Option<&SceneStats>,
    (readers, samples): (&mut DateReaders, &[Tile]),
    (backend, window_px, progress): (&Backend, usize, ProgressFn),
    before: &std::path::Path,
) -> Result<Blend> {
    match given {
        Some(g) => {
            if g.index_radiometry.len() == b.plan.bands {
                b.plan.set_radiometry(&g.index_radiometry);
            }
            b.plan.threshold = g.index_threshold.ok_or_else(|| Error::Job {
                path: before.to_path_buf(),
                line: 0,
                reason: format!(
                    "the scene statistics given have no threshold for the {} evidence the model blends in",
                    b.kind().name()
                ),
            })?;
        }
        None => {
            if b.plan.config.normalize && !b.kind().is_ratio_index() {
                b.plan.coeffs = fit_radiometry(readers, samples)?;
            }
            b.plan.threshold =
                scene_threshold(readers, &b.plan, (backend, window_px), samples, progress)?;
        }
    }
    Ok(b)
}
