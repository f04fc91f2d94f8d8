//! The overlay of one change layer with the job's reference layers, stage by stage:
//! changes -> county pieces -> approvals (suspect remainder) -> land classes and protected
//! areas -> judgement -> numbering -> output. Each reference layer is streamed once.

use super::index::{RefFeature, Targets, Want};
use super::layer::{FieldSpec, Fields, LayerStats, Schema, WorkCrs, layer_fields, read_layer};
use super::rules::Measures;
use super::stages::{self, StageInputs, StageReport};
use crate::error::{Error, Result};
use crate::geom::boolean::{OpFailed, cover};
use crate::geom::{AreaMethod, repair};
use crate::job::{Date, Job, LayerSource};
use crate::stream::ProgressFn;
use geo::MultiPolygon;
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// A change polygon as read.
pub(super) struct Change {
    /// Feature id in the change source (OGR FID), written as SRC_ID.
    pub fid: u64,
    pub geom: MultiPolygon<f64>,
    pub attrs: Vec<Option<String>>,
}

/// A county-level unit.
#[derive(Clone, Debug)]
pub(super) struct County {
    pub code: String,
    pub name: Option<String>,
}

/// A change polygon, or its part in one county.
pub(super) struct Piece {
    pub change: usize,
    pub county: Option<usize>,
    pub geom: MultiPolygon<f64>,
    pub area_m2: f64,
    /// The unapproved part.
    pub suspect: MultiPolygon<f64>,
    pub approved_m2: f64,
    pub approvals: BTreeSet<String>,
    /// Area per land class (deducted by KCXS when mapped), m².
    pub classes: BTreeMap<String, f64>,
    pub arable_m2: f64,
    pub basic_farmland_m2: f64,
    pub red_line_m2: f64,
    pub red_line_names: BTreeSet<String>,
    pub urban_m2: f64,
    /// Layers whose areas are incomplete here because a boolean operation failed.
    pub failed: BTreeSet<&'static str>,
}

/// Everything the stages produce, for the writer.
pub(super) struct Overlaid {
    pub changes: Vec<Change>,
    pub schema: Schema,
    pub counties: Vec<County>,
    pub pieces: Vec<Piece>,
    pub work: WorkCrs,
    pub stats: BTreeMap<&'static str, LayerStats>,
    pub repaired: BTreeMap<&'static str, u64>,
    pub warnings: Vec<String>,
    pub seconds: BTreeMap<&'static str, f64>,
    /// Whether the job gave county information (a county layer, or DLTB unit codes).
    pub has_counties: bool,
}

/// Inputs of an overlay run.
pub struct OverlayJob<'a> {
    /// The change polygons (any OGR source; `tuban detect`'s changes.gpkg).
    pub changes: PathBuf,
    pub changes_layer: Option<String>,
    /// Reference layers, rules, quarter.
    pub job: &'a Job,
    /// The output GeoPackage.
    pub out: PathBuf,
    /// Imagery dates; default: the job's `[imagery]` dates.
    pub before_date: Option<Date>,
    pub after_date: Option<Date>,
}

impl OverlayJob<'_> {
    /// The before-image date: the one given, else the job's `[imagery]` date.
    pub fn before(&self) -> Option<Date> {
        self.before_date
            .or(self.job.imagery.as_ref().and_then(|i| i.before_date))
    }

    /// The after-image date (the approvals' cut-off): the one given, else the job's.
    pub fn after(&self) -> Option<Date> {
        self.after_date
            .or(self.job.imagery.as_ref().and_then(|i| i.after_date))
    }
}

fn timed<T>(
    seconds: &mut BTreeMap<&'static str, f64>,
    stage: &'static str,
    f: impl FnOnce() -> T,
) -> T {
    let t = std::time::Instant::now();
    let r = f();
    *seconds.entry(stage).or_default() += t.elapsed().as_secs_f64();
    r
}

/// The change layer as read; its CRS is the working CRS.
struct ChangesRead {
    changes: Vec<Change>,
    schema: Schema,
    work: WorkCrs,
    stats: LayerStats,
    repaired: u64,
}

fn read_changes(job: &OverlayJob, progress: ProgressFn) -> Result<ChangesRead> {
    let src = LayerSource {
        path: job.changes.to_string_lossy().into_owned(),
        layer: job.changes_layer.clone(),
        crs: None,
        encoding: None,
        filter: None,
        line: 0,
    };
    let mut feats: Vec<RefFeature> = vec![];
    let read = read_layer(
        &src,
        "changes",
        Fields::All,
        None,
        None,
        &|d, t| progress("changes", d, t),
        |b| {
            feats.extend(b);
            Ok(())
        },
    )?;
    if feats.is_empty() && read.stats.empty + read.stats.not_polygons > 0 {
        return Err(Error::Layer {
            source_name: src.path.clone(),
            layer: Some(read.stats.layer.clone()),
            reason: format!(
                "no polygon in {} features ({} without geometry, {} not polygons)",
                read.stats.empty + read.stats.not_polygons,
                read.stats.empty,
                read.stats.not_polygons
            ),
        });
    }
    let work = WorkCrs::from_wkt(&read.wkt, &src.path)?;
    let fixed: Vec<(Change, bool)> = feats
        .into_par_iter()
        .map(|f| {
            let (geom, r) = repair(f.geom);
            (
                Change {
                    fid: f.fid,
                    geom,
                    attrs: f.attrs,
                },
                r,
            )
        })
        .collect();
    let repaired = fixed.iter().filter(|(_, r)| *r).count() as u64;
    Ok(ChangesRead {
        changes: fixed.into_iter().map(|(c, _)| c).collect(),
        schema: read.schema,
        work,
        stats: read.stats,
        repaired,
    })
}

/// What streaming a layer produced besides the hits.
pub(super) struct Streamed {
    pub stats: LayerStats,
    pub repaired: u64,
    /// Targets where a boolean operation failed (their areas from this layer are incomplete).
    pub failed: BTreeSet<usize>,
}

/// Stream one reference layer against `targets`, handing each hit (target, attrs, part) on.
#[allow(clippy::too_many_arguments)]
pub(super) fn stream(
    src: &LayerSource,
    default_layer: &str,
    fields: &[FieldSpec],
    work: &WorkCrs,
    targets: &Targets,
    want: Want,
    stage: &'static str,
    progress: ProgressFn,
    mut on_hit: impl FnMut(usize, &[Option<String>], MultiPolygon<f64>),
) -> Result<Streamed> {
    let mut repaired = 0;
    let mut failed = BTreeSet::new();
    let read = read_layer(
        src,
        default_layer,
        Fields::Named(fields),
        Some(work),
        targets.extent(),
        &|d, t| progress(stage, d, t),
        |mut batch| {
            let (hits, r) = targets.hits(&mut batch, want);
            repaired += r;
            for h in hits {
                match h.part {
                    Ok(part) => on_hit(h.target, &batch[h.feature].attrs, part),
                    Err(OpFailed) => {
                        failed.insert(h.target);
                    }
                }
            }
            Ok(())
        },
    )?;
    Ok(Streamed {
        stats: read.stats,
        repaired,
        failed,
    })
}

/// Area of `base` covered by the union of `operands` (raw reference pieces; may overlap).
pub(super) fn covered_m2(
    base: &MultiPolygon<f64>,
    operands: &[MultiPolygon<f64>],
    area: AreaMethod,
) -> std::result::Result<f64, OpFailed> {
    Ok(area.area_m2(&cover(base, operands)?))
}

/// Area tolerance for "the whole polygon is covered": float rounding of the same area computed
/// along different paths, far below a pixel.
pub(super) fn tolerance(area_m2: f64) -> f64 {
    (1e-7 * area_m2).max(0.01)
}

/// Check, before any work, that every layer the job maps opens and has the fields the stages
/// will require (the same field lists, from `stages`).
///
/// # Errors
/// [`Error::Layer`] / [`Error::Field`] as the overlay itself would report them.
pub fn preflight(j: &Job) -> Result<()> {
    let check = |src: &LayerSource, default_layer: &str, fields: &[FieldSpec]| -> Result<()> {
        if let Some(c) = &src.crs
            && gdal::spatial_ref::SpatialRef::from_definition(c).is_err()
        {
            return Err(Error::Job {
                path: j.path.clone(),
                line: src.line,
                reason: format!("crs {c:?} of {} is not a CRS GDAL knows", src.path),
            });
        }
        let have = layer_fields(src, default_layer)?;
        for f in fields.iter().filter(|f| f.required) {
            if !have.iter().any(|h| h.eq_ignore_ascii_case(&f.name)) {
                return Err(Error::Field {
                    source_name: src.path.clone(),
                    layer: src.layer.clone().unwrap_or_else(|| default_layer.into()),
                    field: f.name.clone(),
                    role: f.role,
                    available: have,
                });
            }
        }
        Ok(())
    };
    if let Some((s, c)) = &j.dltb {
        check(s, "DLTB", &stages::dltb_fields(c))?;
    }
    for (key, layer, default) in [
        ("basic_farmland", &j.basic_farmland, "YJJBNTTB"),
        ("red_line", &j.red_line, "STBHHX"),
        ("urban_boundary", &j.urban_boundary, "CZKFBJ"),
    ] {
        if let Some((s, c)) = layer {
            check(s, default, &stages::cover_fields(key, c))?;
        }
    }
    if let Some((s, c)) = &j.approvals {
        check(s, "PZYD", &stages::approval_fields(c))?;
    }
    if let Some((s, c)) = &j.counties {
        check(s, "XZQ", &stages::county_fields(c))?;
    }
    Ok(())
}

/// Run the stages (without writing).
pub(super) fn run_stages(job: &OverlayJob, progress: ProgressFn) -> Result<Overlaid> {
    let mut seconds = BTreeMap::new();
    let mut books = StageReport::default();
    let j = job.job;
    let ChangesRead {
        changes,
        schema,
        work,
        stats: st,
        repaired: rep,
    } = timed(&mut seconds, "changes", || read_changes(job, progress))?;
    books.record("changes", st, rep);
    let ctx = StageInputs {
        job,
        work: &work,
        progress,
    };
    let (mut pieces, mut counties) = timed(&mut seconds, "counties", || {
        stages::counties(&ctx, &changes, &mut books)
    })?;
    if let Some((src, conf)) = &j.approvals {
        timed(&mut seconds, "approvals", || {
            stages::approvals(&ctx, src, conf, &mut pieces, &mut books)
        })?;
    }
    let targets = Targets::new(pieces.iter().map(|p| p.suspect.clone()).collect());
    match &j.dltb {
        Some((src, conf)) => timed(&mut seconds, "dltb", || {
            stages::land_classes(
                &ctx,
                src,
                conf,
                &targets,
                &mut pieces,
                &mut counties,
                &mut books,
            )
        })?,
        None => books
            .warnings
            .push("no layers.dltb: arable area (GDMJ) is not measured".into()),
    }
    for (key, layer, default_name) in [
        ("basic_farmland", &j.basic_farmland, "YJJBNTTB"),
        ("red_line", &j.red_line, "STBHHX"),
        ("urban_boundary", &j.urban_boundary, "CZKFBJ"),
    ] {
        let Some((src, conf)) = layer else { continue };
        timed(&mut seconds, key, || {
            stages::covered(
                &ctx,
                (key, default_name, src, conf),
                &targets,
                &mut pieces,
                &mut books,
            )
        })?;
    }
    let StageReport {
        stats,
        repaired,
        mut warnings,
    } = books;
    for (layer, n) in &repaired {
        if *n > 0 {
            warnings.push(format!("{layer}: {n} invalid geometries repaired (rings oriented, self-intersections resolved under the non-zero rule)"));
        }
    }
    for (layer, s) in &stats {
        warnings.extend(s.notes.iter().map(|n| format!("{layer}: {n}")));
        if s.empty + s.not_polygons > 0 {
            warnings.push(format!(
                "{layer}: skipped {} features without geometry and {} without polygons",
                s.empty, s.not_polygons
            ));
        }
    }
    let has_counties = j.counties.is_some() || !counties.is_empty();
    Ok(Overlaid {
        changes,
        schema,
        counties,
        pieces,
        work,
        stats,
        repaired,
        warnings,
        seconds,
        has_counties,
    })
}

/// The measures of a whole change: the sum over its pieces.
pub(super) fn change_measures(pieces: &[Piece], n_changes: usize) -> Vec<Measures> {
    let mut m = vec![Measures::default(); n_changes];
    for p in pieces {
        let x = &mut m[p.change];
        x.area_m2 += p.area_m2;
        x.approved_m2 += p.approved_m2;
        x.arable_m2 += p.arable_m2;
        x.basic_farmland_m2 += p.basic_farmland_m2;
        x.red_line_m2 += p.red_line_m2;
    }
    m
}
