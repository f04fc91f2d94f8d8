//! The overlay's stages, each streaming one reference layer against the pieces: counties (cut
//! the changes into county pieces), approvals (the unapproved remainder), land classes (DLTB)
//! and covered areas (basic farmland, red line, urban boundary).

use super::index::{Targets, Want};
use super::layer::{FieldSpec, LayerStats, WorkCrs, layer_fields};
use super::rules::CountyMode;
use super::rules::Rules;
use super::run::{Change, County, OverlayJob, Piece, Streamed, covered_m2, stream, tolerance};
use crate::error::{Error, Result};
use crate::geom::AreaMethod;
use crate::geom::boolean::union_all;
use crate::geom::boolean::{OpFailed, subtract_all};
use crate::job::{ApprovalsConf, CountiesConf, CoverConf, Date, DltbConf, LayerSource};
use crate::stream::ProgressFn;
use geo::MultiPolygon;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};

/// The county layer's fields: code (required, XZQDM by default), name (XZQMC if present).
pub(crate) fn county_fields(c: &CountiesConf) -> [FieldSpec; 2] {
    let mut code = FieldSpec::mapped("counties.code_field", &c.code_field, "XZQDM");
    code.required = true;
    [
        code,
        FieldSpec::mapped("counties.name_field", &c.name_field, "XZQMC"),
    ]
}

/// The approvals' fields: date (PZRQ if present) and number (PZWH if present).
pub(super) fn approval_fields(c: &ApprovalsConf) -> [FieldSpec; 2] {
    [
        FieldSpec::mapped("approvals.date_field", &c.date_field, "PZRQ"),
        FieldSpec::mapped("approvals.number_field", &c.number_field, "PZWH"),
    ]
}

/// DLTB's fields: class (required, DLBM by default), unit code (ZLDWDM if present) and, only
/// when mapped, the deduction coefficient: survey generations differ in whether KCXS is a
/// fraction of the polygon or already netted out of TBDLMJ.
pub(super) fn dltb_fields(c: &DltbConf) -> Vec<FieldSpec> {
    let mut class = FieldSpec::mapped("dltb.class_field", &c.class_field, "DLBM");
    class.required = true;
    let mut fields = vec![
        class,
        FieldSpec::mapped("dltb.unit_field", &c.unit_field, "ZLDWDM"),
    ];
    if c.deduction_field.is_some() {
        fields.push(FieldSpec::mapped(
            "dltb.deduction_field",
            &c.deduction_field,
            "",
        ));
    }
    fields
}

/// A covered-area layer's fields: its name field when mapped, else the survey's conventional
/// one where the layer has it (the red line's HXMC, 红线名称), so that a lead in the red line
/// names it (STHXMC) without a mapping.
pub(super) fn cover_fields(key: &str, c: &CoverConf) -> Vec<FieldSpec> {
    let conventional = match key {
        "red_line" => "HXMC",
        _ => "",
    };
    if c.name_field.is_none() && conventional.is_empty() {
        return Vec::new();
    }
    vec![FieldSpec::mapped("name_field", &c.name_field, conventional)]
}

/// What every stage reads.
pub(super) struct StageInputs<'a> {
    pub job: &'a OverlayJob<'a>,
    pub work: &'a WorkCrs,
    pub progress: ProgressFn<'a>,
}

/// What the stages report besides the pieces.
#[derive(Default)]
pub(super) struct StageReport {
    pub stats: BTreeMap<&'static str, LayerStats>,
    pub repaired: BTreeMap<&'static str, u64>,
    pub warnings: Vec<String>,
}

impl StageReport {
    pub fn record(&mut self, stage: &'static str, stats: LayerStats, repaired: u64) {
        self.stats.insert(stage, stats);
        self.repaired.insert(stage, repaired);
    }

    /// Record a layer streamed against the pieces, marking the pieces where an operation failed.
    fn streamed(&mut self, stage: &'static str, sd: Streamed, pieces: &mut [Piece]) {
        for &t in &sd.failed {
            pieces[t].failed.insert(stage);
        }
        self.record(stage, sd.stats, sd.repaired);
    }
}

/// Cut the changes into county pieces; returns the pieces and the counties met.
pub(super) fn counties(
    ctx: &StageInputs,
    changes: &[Change],
    books: &mut StageReport,
) -> Result<(Vec<Piece>, Vec<County>)> {
    let j = ctx.job.job;
    let rules = Rules::from_conf(&j.rules);
    let area = ctx.work.area;
    let mut counties: Vec<County> = vec![];
    let mut failed_changes = BTreeSet::new();
    let mut parts: Vec<Vec<(usize, MultiPolygon<f64>)>> = vec![vec![]; changes.len()];
    if let Some((src, conf)) = &j.counties {
        let targets = Targets::new(changes.iter().map(|c| c.geom.clone()).collect());
        let fields = county_fields(conf);
        let mut index_of: BTreeMap<String, usize> = BTreeMap::new();
        let sd = stream(
            src,
            "XZQ",
            &fields,
            ctx.work,
            &targets,
            Want::Parts,
            "counties",
            ctx.progress,
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
        books.record("counties", sd.stats, sd.repaired);
    }
    let overlaps = std::sync::atomic::AtomicU64::new(0);
    let pieces = county_pieces(
        changes,
        parts,
        &counties,
        rules.county_mode,
        area,
        &overlaps,
    );
    let n = overlaps.into_inner();
    if n > 0 {
        books.warnings.push(format!(
            "county polygons overlap under {n} changes: each overlap went to the county with the lower code"
        ));
    }
    let mut pieces = pieces;
    for p in pieces.iter_mut() {
        if failed_changes.contains(&p.change) {
            p.failed.insert("counties");
        }
    }
    Ok((pieces, counties))
}

/// Subtract approvals dated by the after image: each piece keeps its unapproved part.
pub(super) fn approvals(
    ctx: &StageInputs,
    src: &LayerSource,
    conf: &ApprovalsConf,
    pieces: &mut [Piece],
    books: &mut StageReport,
) -> Result<()> {
    let area = ctx.work.area;
    let after = ctx.job.after();
    if after.is_none() {
        return Err(Error::Job {
            path: ctx.job.job.path.clone(),
            line: src.line,
            reason: "layers.approvals needs the after-image date (only approvals dated by then count): set imagery.after_date in the job or pass --after-date".into(),
        });
    }
    let fields = approval_fields(conf);
    // Without a date field (none named, no PZRQ) every approval counts, with a warning.
    let has_date = fields[0].required
        || layer_fields(src, "PZYD")?
            .iter()
            .any(|f| f.eq_ignore_ascii_case(&fields[0].name));
    if !has_date {
        books.warnings.push(format!(
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
        ctx.work,
        &targets,
        Want::Operands,
        "approvals",
        ctx.progress,
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
        books.warnings.push(format!(
            "{} approvals near changes are dated after the after image and were not applied",
            late.len()
        ));
    }
    if !undated.is_empty() {
        books.warnings.push(format!(
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
    books.streamed("approvals", sd, pieces);
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
}

/// DLBM codes of arable land unless a job names its own: paddy, irrigated and dry land of the
/// third national land survey (0101, 0102, 0103) and of the second (GB/T 21010-2007: 011, 012,
/// 013), whose codes no third-survey class shares; older county layers still carry them.
pub const DEFAULT_ARABLE_CODES: [&str; 6] = ["0101", "0102", "0103", "011", "012", "013"];

/// Land classes of the unapproved parts: area per DLBM, arable area, and (without a county
/// layer) the county from the unit codes.
pub(super) fn land_classes(
    ctx: &StageInputs,
    src: &LayerSource,
    conf: &DltbConf,
    targets: &Targets,
    pieces: &mut [Piece],
    counties: &mut Vec<County>,
    books: &mut StageReport,
) -> Result<()> {
    let area = ctx.work.area;
    let arable: Vec<String> = conf
        .arable_codes
        .clone()
        .unwrap_or_else(|| DEFAULT_ARABLE_CODES.iter().map(|c| c.to_string()).collect());
    let fields = dltb_fields(conf);
    let unit_at = Some(1);
    let kcxs_at = conf.deduction_field.as_ref().map(|_| 2);
    let mut units: Vec<FxHashMap<String, f64>> = vec![FxHashMap::default(); pieces.len()];
    let mut covered = vec![0.0; pieces.len()];
    let mut bad_kcxs = 0u64;
    let sd = stream(
        src,
        "DLTB",
        &fields,
        ctx.work,
        targets,
        Want::Parts,
        "dltb",
        ctx.progress,
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
        books.warnings.push(format!(
            "{bad_kcxs} DLTB pieces have a deduction coefficient outside [0, 1); used undeducted"
        ));
    }
    let overlapping = pieces
        .iter()
        .zip(&covered)
        .filter(|(p, c)| **c > area.area_m2(&p.suspect) + tolerance(p.area_m2))
        .count();
    if overlapping > 0 {
        books.warnings.push(format!(
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
    if ctx.job.job.counties.is_none() {
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
    books.streamed("dltb", sd, pieces);
    Ok(())
}

/// Area of the unapproved parts inside one overlapping layer (`key`: basic_farmland,
/// red_line or urban_boundary).
pub(super) fn covered(
    ctx: &StageInputs,
    layer: (&'static str, &'static str, &LayerSource, &CoverConf),
    targets: &Targets,
    pieces: &mut [Piece],
    books: &mut StageReport,
) -> Result<()> {
    let (key, default_name, src, conf) = layer;
    let area = ctx.work.area;
    let fields = cover_fields(key, conf);
    let mut parts: Vec<Vec<MultiPolygon<f64>>> = vec![vec![]; pieces.len()];
    let mut names: Vec<BTreeSet<String>> = vec![BTreeSet::new(); pieces.len()];
    let sd = stream(
        src,
        default_name,
        &fields,
        ctx.work,
        targets,
        Want::Operands,
        key,
        ctx.progress,
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
    books.streamed(key, sd, pieces);
    Ok(())
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
