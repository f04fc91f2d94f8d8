//! The main pass: a reader per date -> the kernels -> one writer, tile by tile, with the
//! checkpoint log, the counts and the pixels typing keeps near changes.

use super::ModelRun;
use crate::change::cpu::threshold::is_near_px;
use crate::change::{CLOUD_EVIDENCE, MASK_CLASSES, Plan, SHADOW_EVIDENCE, is_change};
use crate::classify::near::NearStore;
use crate::engine::Backend;
use crate::error::Result;
use crate::model::infer::still_where_identical;
use crate::pipeline::checkpoint;
use crate::raster::fill::ZeroFill;
use crate::raster::grid::{Tile, TileGrid, Window};
use crate::raster::pair::{DateOf, DateReaders, DateTile, ScenePair};
use crate::raster::writer::{Georef, OutputRaster};
use crate::stream::ProgressFn;
use std::path::Path;
use std::time::Instant;

/// The `core` part of a raster laid out over `read`.
pub fn crop<T: Copy>(data: &[T], read: Window, core: Window) -> Vec<T> {
    let (ox, oy) = (core.x - read.x, core.y - read.y);
    let mut out = Vec::with_capacity(core.pixels());
    for y in 0..core.height {
        let row = (oy + y) * read.width + ox;
        out.extend_from_slice(&data[row..row + core.width]);
    }
    out
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
/// Pixel counts of the main pass (valid, changed, near the threshold).
pub struct Counts {
    pub valid: u64,
    pub changed: u64,
    pub near: u64,
    /// Pixels the cloud test took out.
    pub cloud: u64,
    /// Pixels the shadow test took out.
    pub shadow: u64,
}

/// What the main pass measured: its counts, the mask classes that occur (bit `1 << class`) and
/// the busy seconds of each stage.
pub(super) struct Streamed {
    pub counts: Counts,
    pub classes: u32,
    pub timings: crate::timing::Timings,
    /// Per date (before, after): pixels 0 in every band where the file declares no nodata.
    pub fill: [ZeroFill; 2],
}

/// The main pass on the streaming skeleton ([`crate::stream`]): a reader per date -> kernels
/// (this thread) -> writer thread.
pub(super) fn stream(
    (pair, readers): (&ScenePair, DateReaders),
    grid: &TileGrid,
    plan: &Plan,
    (backend, model): (&Backend, Option<&ModelRun>),
    outputs: (OutputRaster, OutputRaster, Option<OutputRaster>),
    (resume, mut near): (checkpoint::Resume, Option<(&mut NearStore, usize)>),
    progress: ProgressFn,
) -> Result<Streamed> {
    let (mut ev_out, mut mask_out, mut cls_out) = outputs;
    let total = grid.len() as u64;
    // Tiles a previous, interrupted run already wrote are skipped.
    let (ids, tiles): (Vec<usize>, Vec<Tile>) = grid
        .tiles()
        .enumerate()
        .filter(|(i, _)| !resume.done.contains(i))
        .unzip();
    let log = resume.log.clone();
    // One reader per date, each with its own dataset handles, reads every tile in order: the
    // halo blocks a tile shares with the previous one come from GDAL's block cache of that
    // handle (and the statistics pass read through the same two handles, so the blocks it
    // decoded are there too). The kernels pair the two dates of each tile. The caller keeps
    // `pair` (and any warped copy it owns) alive until the polygons are written (typing reads
    // the images when the store of pixels near changes is not complete).
    // The two readers decode side by side already: GDAL's own decoding threads on top (set
    // when a dataset opens) only add switching (measured: 8 % more CPU time, 5 % longer runs).
    let handles = readers.into_handles();
    let pool = crate::raster::pair::BufferPool::default();
    // Per tile: id, counts, core window, evidence, mask, a per-class model's class planes.
    type Written = (usize, Counts, Window, Vec<f32>, Vec<u8>, Vec<Vec<f32>>);
    type Outputs = (OutputRaster, OutputRaster, Option<OutputRaster>, f64);
    // The kernels' tally: counts, mask classes seen, stage times, fill per date.
    type Tally = (Counts, u32, crate::timing::Timings, [ZeroFill; 2]);
    let ((counts, classes, mut timings, fill), (ev_out, mask_out, cls_out, write_s)) =
        crate::stream::with_writer(
            2,
            Path::new("outputs"),
            move |write_rx: crossbeam_channel::Receiver<Written>| -> Result<Outputs> {
                let mut busy = 0.0;
                for (id, c, w, ev, mask, planes) in write_rx {
                    let clock = Instant::now();
                    ev_out.write(w, ev)?;
                    mask_out.write(w, mask)?;
                    if let Some(cls) = &mut cls_out {
                        for (b, plane) in planes.into_iter().enumerate() {
                            cls.write_band(b + 1, w, plane)?;
                        }
                    }
                    busy += clock.elapsed().as_secs_f64();
                    // On disk first, then in the checkpoint: a tile listed there is whole.
                    if let Some(log) = &log {
                        ev_out.flush()?;
                        mask_out.flush()?;
                        if let Some(cls) = &mut cls_out {
                            cls.flush()?;
                        }
                        checkpoint::append(log, id, &c)?;
                    }
                }
                Ok((ev_out, mask_out, cls_out, busy))
            },
            |write_tx| {
                std::thread::scope(|s| -> Result<Tally> {
                    // One reader per date, handing each tile over as it is read (a queue of
                    // none): the reader works one tile ahead of the kernels. Each held tile is
                    // a date of a tile, halo and all, in f32 (38-62 MB at 1536 px); a tile
                    // waiting in a queue as well cost a buffer per date, faulted in afresh:
                    // measured on the 4096² county, 12 % fewer page faults, 100 MB less peak
                    // memory, 3-6 % shorter runs.
                    let queues: Vec<_> = handles
                        .into_iter()
                        .zip([DateOf::Before, DateOf::After])
                        .map(|(handle, date)| {
                            let pool = pool.clone();
                            let fill = handle.fill_values(date);
                            crate::stream::reader(s, 0, tiles.iter(), move |t| {
                                let clock = Instant::now();
                                handle.read_date_pooled(date, t.read, &pool).map(|d| {
                                    let mut zero = ZeroFill::default();
                                    if let Some(f) = &fill {
                                        zero.add(&d.data, f, &d.valid, t.read, t.core);
                                    }
                                    (d, clock.elapsed().as_secs_f64(), zero)
                                })
                            })
                        })
                        .collect();

                    let mut counts = resume.counts;
                    // Tiles written before a resume were not seen: any class may be there.
                    let mut classes: u32 = if resume.done.is_empty() {
                        0
                    } else {
                        MASK_CLASSES.iter().fold(0, |s, (c, _)| s | 1 << c)
                    };
                    let mut timings = crate::timing::Timings::default();
                    let mut fill = [ZeroFill::default(); 2];
                    let rel = plan.config.evidence.rounding_rel();
                    let mut done = resume.done.len() as u64;
                    for (k, &t) in tiles.iter().enumerate() {
                        let (Ok(before), Ok(after)) = (queues[0].recv(), queues[1].recv()) else {
                            break;
                        };
                        let id = ids[k];
                        let step = before.and_then(|b| Ok((b, after?))).and_then(
                            |((b, b_s, b_zero), (a, a_s, a_zero))| {
                                timings.add("read", b_s + a_s);
                                fill[0].merge(&b_zero);
                                fill[1].merge(&a_zero);
                                let (w, h) = (t.read.width, t.read.height);
                                let input = DateTile::pair(w, h, pair.bands(), b, a, &pool);
                                let learned = match model {
                                    Some(m) => {
                                        let clock = Instant::now();
                                        let device = match backend {
                                            Backend::Gpu(g) => Some(*g),
                                            Backend::Cpu(_) => None,
                                        };
                                        let mut e = m.model.evidence(
                                            &input,
                                            (t.read.x, t.read.y),
                                            &m.bands,
                                            &m.scaling,
                                            m.tile_px,
                                            device,
                                        )?;
                                        timings.add("model", clock.elapsed().as_secs_f64());
                                        if let Some(b) = &m.blend {
                                            let clock = Instant::now();
                                            let x = backend.run_tile(&b.plan, &input, false)?;
                                            b.apply(&mut e.change, &x.evidence);
                                            timings.add("blend", clock.elapsed().as_secs_f64());
                                        }
                                        still_where_identical(&input, &m.bands, &mut e.change);
                                        Some(e)
                                    }
                                    None => None,
                                };
                                let (evidence, class_planes) = match learned {
                                    Some(me) => (Some(me.change), me.classes),
                                    None => (None, Vec::new()),
                                };
                                let r = backend.run_tile_on(plan, &input, evidence, true)?;
                                if let Some((store, ring)) = near.as_mut() {
                                    let clock = Instant::now();
                                    store.keep(
                                        &input,
                                        &r.mask,
                                        is_change,
                                        (t.read, t.core),
                                        *ring,
                                    )?;
                                    timings.add("keep_near", clock.elapsed().as_secs_f64());
                                }
                                pool.give(input.before);
                                pool.give(input.after);
                                pool.give_valid(input.valid);
                                timings.merge(&r.timings);
                                let clock = Instant::now();
                                let mask: Vec<u8> = crop(&r.mask, t.read, t.core)
                                    .into_iter()
                                    .map(|m| m as u8)
                                    .collect();
                                let evidence = crop(&r.evidence, t.read, t.core);
                                // The screens' codes, counted in one pass.
                                let (cloud, shadow) =
                                    evidence.iter().fold((0u64, 0u64), |(c, s), e| {
                                        (
                                            c + u64::from(*e == CLOUD_EVIDENCE),
                                            s + u64::from(*e == SHADOW_EVIDENCE),
                                        )
                                    });
                                let c = Counts {
                                    valid: mask.iter().filter(|&&m| m != 255).count() as u64,
                                    changed: mask
                                        .iter()
                                        .filter(|&&m| is_change(u32::from(m)))
                                        .inspect(|&&m| classes |= 1 << m)
                                        .count()
                                        as u64,
                                    // Counted on the core only (the kernel's own count includes the halo).
                                    near: evidence
                                        .iter()
                                        .zip(&mask)
                                        .filter(|(e, m)| {
                                            is_near_px(
                                                **e,
                                                (**m != 255) as u32,
                                                plan.threshold,
                                                rel,
                                            )
                                        })
                                        .count() as u64,
                                    cloud,
                                    shadow,
                                };
                                counts.valid += c.valid;
                                counts.changed += c.changed;
                                counts.near += c.near;
                                counts.cloud += c.cloud;
                                counts.shadow += c.shadow;
                                timings.add("crop_count", clock.elapsed().as_secs_f64());
                                let planes = class_planes
                                    .iter()
                                    .map(|p| crop(p, t.read, t.core))
                                    .collect();
                                Ok((id, c, t.core, evidence, mask, planes))
                            },
                        );
                        match step {
                            Ok(out) => {
                                if write_tx.send(out).is_err() {
                                    break;
                                }
                            }
                            Err(e) => return Err(e),
                        }
                        done += 1;
                        progress("detect", done, total);
                    }
                    Ok((counts, classes, timings, fill))
                })
            },
        )?;
    let clock = Instant::now();
    ev_out.finish()?;
    mask_out.finish()?;
    if let Some(cls) = cls_out {
        cls.finish()?;
    }
    timings.add("write", write_s + clock.elapsed().as_secs_f64());
    Ok(Streamed {
        counts,
        classes,
        timings,
        fill,
    })
}

/// `DIR/classes.tif`: one float band per change class of a per-class model, its TBLX as the
/// band description (the probability raster `--classes` reads).
pub(super) fn class_raster(
    path: &Path,
    (width, height): (usize, usize),
    georef: &Georef,
    names: &[String],
    block: usize,
) -> Result<OutputRaster> {
    let spec = crate::raster::writer::RasterSpec {
        width,
        height,
        bands: names.len(),
        nodata: Some(f64::NAN),
        predictor: "PREDICTOR=1",
        tile_rows: block,
        tile_cols: block,
    };
    let mut r = OutputRaster::create_bands::<f32>(path, &spec, georef)?;
    for (b, name) in names.iter().enumerate() {
        r.set_band_description(b + 1, name)?;
    }
    Ok(r)
}
