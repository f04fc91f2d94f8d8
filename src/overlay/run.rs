//! The overlay of one change layer with the job's reference layers, stage by stage:
//! changes -> county pieces -> approvals (suspect remainder) -> land classes and protected
//! areas -> judgement -> numbering -> output. Each reference layer is streamed once.

use super::geom::{AreaMethod, repair};
use super::index::{RefFeature, Targets, Want};
use super::layer::{FieldSpec, Fields, LayerStats, Schema, WorkCrs, layer_fields, read_layer};
use super::ops::{OpFailed, cover, subtract_all, union_all};
use super::rules::{CountyMode, Measures, Rules};
use crate::error::{Error, Result};
use crate::job::{Date, Job, Source};
use crate::pipeline::ProgressFn;
use geo::MultiPolygon;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
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
    let src = Source {
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
struct Streamed {
    stats: LayerStats,
    repaired: u64,
    /// Targets where a boolean operation failed (their areas from this layer are incomplete).
    failed: BTreeSet<usize>,
}

/// Stream one reference layer against `targets`, handing each hit (target, attrs, part) on.
#[allow(clippy::too_many_arguments)]
fn stream(
    src: &Source,
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
fn covered_m2(
    base: &MultiPolygon<f64>,
    operands: &[MultiPolygon<f64>],
    area: AreaMethod,
) -> std::result::Result<f64, OpFailed> {
    Ok(area.area_m2(&cover(base, operands)?))
}

/// Area tolerance for "the whole polygon is covered": float rounding of the same area computed
/// along different paths, far below a pixel.
fn tolerance(area_m2: f64) -> f64 {
    (1e-7 * area_m2).max(0.01)
}

/// Cut the changes into county pieces (or assign them whole, by majority).
fn county_pieces(
    changes: &[Change],
    parts: Vec<Vec<(usize, MultiPolygon<f64>)>>,
    counties: &[County],
    mode: CountyMode,
    area: AreaMethod,
    overlaps: &std::sync::atomic::AtomicU64,
) -> Vec<Piece> {
    let piece = |change: usize, county: Option<usize>, geom: MultiPolygon<f64>| {
        let area_m2 = area.area_m2(&geom);
        Piece {
            change,
            county,
            suspect: geom.clone(),
            geom,
            area_m2,
            approved_m2: 0.0,
            approvals: BTreeSet::new(),
            classes: BTreeMap::new(),
            arable_m2: 0.0,
            basic_farmland_m2: 0.0,
            red_line_m2: 0.0,
            red_line_names: BTreeSet::new(),
            urban_m2: 0.0,
            failed: BTreeSet::new(),
        }
    };
    let per_change: Vec<Vec<Piece>> = parts
        .into_par_iter()
        .enumerate()
        .map(|(i, parts)| {
            let whole = &changes[i].geom;
            let total = area.area_m2(whole);
            // County index -> its parts and their area; BTreeMap keeps the code order stable.
            let mut by_county: BTreeMap<usize, (Vec<MultiPolygon<f64>>, f64)> = BTreeMap::new();
            for (c, p) in parts {
                let e = by_county.entry(c).or_default();
                e.1 += area.area_m2(&p);
                e.0.push(p);
            }
            let covered: f64 = by_county.values().map(|v| v.1).sum();
            if by_county.is_empty() {
                return vec![piece(i, None, whole.clone())];
            }
            if mode == CountyMode::Majority
                || (by_county.len() == 1 && covered >= total - tolerance(total))
            {
                let best = by_county
                    .iter()
                    .max_by(|a, b| {
                        a.1.1
                            .total_cmp(&b.1.1)
                            .then(counties[*b.0].code.cmp(&counties[*a.0].code))
                    })
                    .map(|(c, _)| *c);
                return vec![piece(i, best, whole.clone())];
            }
            // Counties in code order; where county polygons overlap (simplified or
            // mis-digitised borders), the overlap goes to the first, so that no ground is sent
            // to two counties; the part under no county is kept as its own piece.
            let mut order: Vec<(usize, Vec<MultiPolygon<f64>>)> =
                by_county.into_iter().map(|(c, (ps, _))| (c, ps)).collect();
            order.sort_by(|a, b| counties[a.0].code.cmp(&counties[b.0].code));
            let mut taken: Vec<MultiPolygon<f64>> = vec![];
            let mut out = vec![];
            for (c, ps) in order {
                // Parts of one county from several features: their union (side by side if
                // even the guarded union fails).
                let own = union_all(&ps).unwrap_or_else(|_| {
                    MultiPolygon::new(ps.iter().flat_map(|p| p.0.clone()).collect())
                });
                let mine = if taken.is_empty() {
                    own.clone()
                } else {
                    subtract_all(&own, &taken).unwrap_or_else(|_| own.clone())
                };
                if area.area_m2(&own) - area.area_m2(&mine) > tolerance(total) {
                    overlaps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                taken.push(own);
                if area.area_m2(&mine) > tolerance(total) {
                    out.push(piece(i, Some(c), mine));
                }
            }
            let rest = subtract_all(whole, &taken).unwrap_or_else(|_| MultiPolygon::new(vec![]));
            if area.area_m2(&rest) > tolerance(total) {
                out.push(piece(i, None, rest));
            }
            out
        })
        .collect();
    per_change.into_iter().flatten().collect()
}

/// Check, before any work, that every layer the job maps opens and has the fields it names
/// (and DLBM / XZQDM where those are used by default).
///
/// # Errors
/// [`Error::Layer`] / [`Error::Field`] as the overlay itself would report them.
pub fn preflight(j: &Job) -> Result<()> {
    let check = |src: &Source, default_layer: &str, fields: &[FieldSpec]| -> Result<()> {
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
    let named = |role, v: &Option<String>| FieldSpec::mapped(role, v, "");
    if let Some((s, c)) = &j.dltb {
        let mut class = FieldSpec::mapped("dltb.class_field", &c.class_field, "DLBM");
        class.required = true;
        check(
            s,
            "DLTB",
            &[
                class,
                named("dltb.unit_field", &c.unit_field),
                named("dltb.deduction_field", &c.deduction_field),
            ],
        )?;
    }
    for (layer, default) in [
        (&j.basic_farmland, "YJJBNTTB"),
        (&j.red_line, "STBHHX"),
        (&j.urban_boundary, "CZKFBJ"),
    ] {
        if let Some((s, c)) = layer {
            check(s, default, &[named("name_field", &c.name_field)])?;
        }
    }
    if let Some((s, c)) = &j.approvals {
        check(
            s,
            "PZYD",
            &[
                named("approvals.date_field", &c.date_field),
                named("approvals.number_field", &c.number_field),
            ],
        )?;
    }
    if let Some((s, c)) = &j.counties {
        let mut code = FieldSpec::mapped("counties.code_field", &c.code_field, "XZQDM");
        code.required = true;
        check(
            s,
            "XZQ",
            &[code, named("counties.name_field", &c.name_field)],
        )?;
    }
    Ok(())
}

/// Run the stages (without writing).
pub(super) fn run_stages(job: &OverlayJob, progress: ProgressFn) -> Result<Overlaid> {
    let mut seconds = BTreeMap::new();
    let mut stats = BTreeMap::new();
    let mut repaired = BTreeMap::new();
    let mut warnings = vec![];
    let j = job.job;
    let rules = Rules::from_conf(&j.rules);
    let ChangesRead {
        changes,
        schema,
        work,
        stats: st,
        repaired: rep,
    } = timed(&mut seconds, "changes", || read_changes(job, progress))?;
    stats.insert("changes", st);
    repaired.insert("changes", rep);
    let area = work.area;

    // Counties.
    let mut counties: Vec<County> = vec![];
    let mut failed_changes = BTreeSet::new();
    let pieces = timed(&mut seconds, "counties", || -> Result<Vec<Piece>> {
        let mut parts: Vec<Vec<(usize, MultiPolygon<f64>)>> = vec![vec![]; changes.len()];
        if let Some((src, conf)) = &j.counties {
            let targets = Targets::new(changes.iter().map(|c| c.geom.clone()).collect());
            let mut fields = [
                FieldSpec::mapped("counties.code_field", &conf.code_field, "XZQDM"),
                FieldSpec::mapped("counties.name_field", &conf.name_field, "XZQMC"),
            ];
            fields[0].required = true;
            let mut index_of: BTreeMap<String, usize> = BTreeMap::new();
            let sd = stream(
                src,
                "XZQ",
                &fields,
                &work,
                &targets,
                Want::Parts,
                "counties",
                progress,
                |t, attrs, part| {
                    let code = attrs[0].clone().unwrap_or_default().trim().to_string();
                    let k = *index_of.entry(code.clone()).or_insert_with(|| {
                        counties.push(County {
                            code,
                            name: attrs.get(1).cloned().flatten(),
                        });
                        counties.len() - 1
                    });
                    parts[t].push((k, part));
                },
            )?;
            failed_changes = sd.failed;
            stats.insert("counties", sd.stats);
            repaired.insert("counties", sd.repaired);
        }
        let overlaps = std::sync::atomic::AtomicU64::new(0);
        let pieces = county_pieces(
            &changes,
            parts,
            &counties,
            rules.county_mode,
            area,
            &overlaps,
        );
        let n = overlaps.into_inner();
        if n > 0 {
            warnings.push(format!(
                "county polygons overlap under {n} changes: each overlap went to the county with the lower code"
            ));
        }
        Ok(pieces)
    })?;
    let mut pieces = pieces;
    for p in pieces.iter_mut() {
        if failed_changes.contains(&p.change) {
            p.failed.insert("counties");
        }
    }

    // Approvals: the suspect part is what no approval dated by the after image covers.
    if let Some((src, conf)) = &j.approvals {
        timed(&mut seconds, "approvals", || -> Result<()> {
            let after = job.after_date;
            if after.is_none() {
                return Err(Error::Job {
                    path: j.path.clone(),
                    line: src.line,
                    reason: "layers.approvals needs the after-image date (only approvals dated by then count): set imagery.after_date in the job or pass --after-date".into(),
                });
            }
            let fields = [
                FieldSpec::mapped("approvals.date_field", &conf.date_field, "PZRQ"),
                FieldSpec::mapped("approvals.number_field", &conf.number_field, "PZWH"),
            ];
            // Without a date field (none named, no PZRQ) every approval counts, with a warning.
            let has_date = fields[0].required
                || layer_fields(src, "PZYD")?
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(&fields[0].name));
            if !has_date {
                warnings.push(format!(
                    "{}: approvals have no date field (set layers.approvals.date_field): all are applied",
                    src.path
                ));
            }
            let targets = Targets::new(pieces.iter().map(|p| p.geom.clone()).collect());
            let mut parts: Vec<Vec<MultiPolygon<f64>>> = vec![vec![]; pieces.len()];
            let (mut late, mut undated) = (BTreeSet::new(), BTreeSet::new());
            let sd = stream(
                src,
                "PZYD",
                &fields,
                &work,
                &targets,
                Want::Operands,
                "approvals",
                progress,
                |t, attrs, part| {
                    let number = attrs[1].clone();
                    if has_date {
                        let Some(raw) = attrs[0].clone() else {
                            undated.insert(number.unwrap_or_else(|| "(no number)".into()));
                            return;
                        };
                        match Date::parse(&raw) {
                            Ok(d) if after.is_some_and(|a| d <= a) => {}
                            Ok(_) => {
                                late.insert(number.clone().unwrap_or(raw));
                                return;
                            }
                            Err(_) => {
                                undated.insert(number.clone().unwrap_or(raw));
                                return;
                            }
                        }
                    }
                    parts[t].push(part);
                    if let Some(n) = number {
                        pieces[t].approvals.insert(n);
                    }
                },
            )?;
            if !late.is_empty() {
                warnings.push(format!(
                    "{} approvals near changes are dated after the after image and were not applied",
                    late.len()
                ));
            }
            if !undated.is_empty() {
                warnings.push(format!(
                    "{} approvals near changes have no readable date and were not applied: {}",
                    undated.len(),
                    undated
                        .iter()
                        .take(5)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            for &t in &sd.failed {
                pieces[t].failed.insert("approvals");
            }
            stats.insert("approvals", sd.stats);
            repaired.insert("approvals", sd.repaired);
            pieces
                .par_iter_mut()
                .zip(parts.into_par_iter())
                .for_each(|(p, parts)| {
                    if parts.is_empty() {
                        return;
                    }
                    match subtract_all(&p.geom, &parts) {
                        Ok(rest) => {
                            p.approved_m2 = (p.area_m2 - area.area_m2(&rest)).max(0.0);
                            p.suspect = rest;
                        }
                        Err(OpFailed) => {
                            p.failed.insert("approvals");
                        }
                    }
                });
            Ok(())
        })?;
    }
    let targets = Targets::new(pieces.iter().map(|p| p.suspect.clone()).collect());

    // Land classes.
    if let Some((src, conf)) = &j.dltb {
        timed(&mut seconds, "dltb", || -> Result<()> {
            let arable: Vec<String> = conf
                .arable_codes
                .clone()
                .unwrap_or_else(|| vec!["0101".into(), "0102".into(), "0103".into()]);
            let mut fields = vec![
                FieldSpec::mapped("dltb.class_field", &conf.class_field, "DLBM"),
                FieldSpec::mapped("dltb.unit_field", &conf.unit_field, "ZLDWDM"),
            ];
            fields[0].required = true;
            let unit_at = Some(1);
            // The deduction coefficient is applied only when mapped: survey generations differ
            // in whether KCXS is a fraction of the polygon or already netted out of TBDLMJ.
            let kcxs_at = conf.deduction_field.as_ref().map(|k| {
                fields.push(FieldSpec::mapped(
                    "dltb.deduction_field",
                    &Some(k.clone()),
                    "",
                ));
                2
            });
            let mut units: Vec<FxHashMap<String, f64>> = vec![FxHashMap::default(); pieces.len()];
            let mut covered = vec![0.0; pieces.len()];
            let mut bad_kcxs = 0u64;
            let sd = stream(
                src,
                "DLTB",
                &fields,
                &work,
                &targets,
                Want::Parts,
                "dltb",
                progress,
                |t, attrs, part| {
                    let a = area.area_m2(&part);
                    covered[t] += a;
                    let k = kcxs_at
                        .and_then(|i| attrs[i].as_deref())
                        .map(str::trim)
                        .filter(|s| !s.is_empty());
                    let factor = match k.map(str::parse::<f64>) {
                        None => 1.0,
                        Some(Ok(k)) if (0.0..1.0).contains(&k) => 1.0 - k,
                        Some(_) => {
                            bad_kcxs += 1;
                            1.0
                        }
                    };
                    let class = attrs[0].clone().unwrap_or_default().trim().to_string();
                    *pieces[t].classes.entry(class).or_default() += a * factor;
                    if let Some(u) = unit_at.and_then(|i| attrs[i].as_deref()) {
                        let county: String = u.trim().chars().take(6).collect();
                        *units[t].entry(county).or_default() += a;
                    }
                },
            )?;
            if bad_kcxs > 0 {
                warnings.push(format!("{bad_kcxs} DLTB pieces have a deduction coefficient outside [0, 1); used undeducted"));
            }
            let overlapping = pieces
                .iter()
                .zip(&covered)
                .filter(|(p, c)| **c > area.area_m2(&p.suspect) + tolerance(p.area_m2))
                .count();
            if overlapping > 0 {
                warnings.push(format!(
                    "DLTB polygons overlap under {overlapping} change pieces: their class areas add up to more than the piece (check the survey layer's topology)"
                ));
            }
            for p in pieces.iter_mut() {
                p.arable_m2 = p
                    .classes
                    .iter()
                    .filter(|(c, _)| arable.contains(c))
                    .map(|(_, a)| a)
                    .sum();
            }
            // Without a county layer, the county is where most of the piece's DLTB unit codes say.
            if j.counties.is_none() {
                for (p, u) in pieces.iter_mut().zip(units) {
                    if let Some((code, _)) = u
                        .into_iter()
                        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
                    {
                        let k = match counties.iter().position(|c| c.code == code) {
                            Some(k) => k,
                            None => {
                                counties.push(County { code, name: None });
                                counties.len() - 1
                            }
                        };
                        p.county = Some(k);
                    }
                }
            }
            for &t in &sd.failed {
                pieces[t].failed.insert("dltb");
            }
            stats.insert("dltb", sd.stats);
            repaired.insert("dltb", sd.repaired);
            Ok(())
        })?;
    } else {
        warnings.push("no layers.dltb: arable area (GDMJ) is not measured".into());
    }

    // Covered areas: permanent basic farmland, red line, urban development boundary.
    for (key, layer, default_name) in [
        ("basic_farmland", &j.basic_farmland, "YJJBNTTB"),
        ("red_line", &j.red_line, "STBHHX"),
        ("urban_boundary", &j.urban_boundary, "CZKFBJ"),
    ] {
        let Some((src, conf)) = layer else { continue };
        timed(&mut seconds, key, || -> Result<()> {
            let fields: Vec<FieldSpec> = conf
                .name_field
                .iter()
                .map(|n| FieldSpec::mapped("name_field", &Some(n.clone()), ""))
                .collect();
            let mut parts: Vec<Vec<MultiPolygon<f64>>> = vec![vec![]; pieces.len()];
            let mut names: Vec<BTreeSet<String>> = vec![BTreeSet::new(); pieces.len()];
            let sd = stream(
                src,
                default_name,
                &fields,
                &work,
                &targets,
                Want::Operands,
                key,
                progress,
                |t, attrs, part| {
                    parts[t].push(part);
                    if let Some(Some(n)) = attrs.first() {
                        names[t].insert(n.clone());
                    }
                },
            )?;
            // On a failed operation: the whole piece (an upper bound: a doubtful polygon is
            // sent out rather than missed, and marked for review).
            let areas: Vec<(f64, bool)> = pieces
                .par_iter()
                .zip(parts.par_iter())
                .map(|(p, ps)| match covered_m2(&p.suspect, ps, area) {
                    Ok(a) => (a, false),
                    Err(OpFailed) => (area.area_m2(&p.suspect), true),
                })
                .collect();
            for ((p, (a, bad)), n) in pieces.iter_mut().zip(areas).zip(names) {
                if bad {
                    p.failed.insert(key);
                }
                match key {
                    "basic_farmland" => p.basic_farmland_m2 = a,
                    "red_line" => {
                        p.red_line_m2 = a;
                        p.red_line_names = n;
                    }
                    _ => p.urban_m2 = a,
                }
            }
            for &t in &sd.failed {
                pieces[t].failed.insert(key);
            }
            stats.insert(key, sd.stats);
            repaired.insert(key, sd.repaired);
            Ok(())
        })?;
    }
    for (layer, n) in &repaired {
        if *n > 0 {
            warnings.push(format!("{layer}: {n} invalid geometries repaired (rings oriented, self-intersections resolved under the non-zero rule)"));
        }
    }
    for (layer, s) in &stats {
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
