//! Judgement, numbering and the output GeoPackage: layer `leads` (疑似违法图斑, numbered) and
//! layer `excluded` (every other piece, with the reason), in the same schema, plus a JSON
//! summary beside it. Written under a partial name and renamed when complete.

use super::number::{Place, jcbh, sequence};
use super::rules::{Rules, Ruling, judge};
use super::run::{Overlaid, change_measures};
use crate::MU_M2;
use crate::error::{Error, Result};
use crate::job::{Date, Quarter};
use crate::output::gpkg::{Column, GpkgWriter, yes_no};
use geo::{BoundingRect, MultiPolygon};
use rusqlite::types::Value as Sql;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The fields tuban writes, in order. Passed-through change attributes follow them.
pub const FIELDS: &[(&str, Column)] = &[
    ("JCBH", Column::Text),
    ("XZQDM", Column::Text),
    ("XMC", Column::Text),
    ("TBLX", Column::Text),
    ("QSX", Column::Text),
    ("HSX", Column::Text),
    ("JCMJ", Column::Real),
    ("JCMJ_MU", Column::Real),
    ("PZMJ", Column::Real),
    ("PZWH", Column::Text),
    ("GDMJ", Column::Real),
    ("GDMJ_MU", Column::Real),
    ("YJJBNTMJ", Column::Real),
    ("YJJBNTMJ_MU", Column::Real),
    ("STHXMJ", Column::Real),
    ("STHXMC", Column::Text),
    ("CZKFMJ", Column::Real),
    ("DLBM_MJ", Column::Text),
    ("ZYDL", Column::Text),
    ("SFYN", Column::Text),
    ("SFHX", Column::Text),
    ("YXJ", Column::Integer),
    ("PDYJ", Column::Text),
    ("MJFS", Column::Text),
    ("SRC_ID", Column::Integer),
];

/// The county code of leads when the job gives no county information at all (no county layer,
/// no DLTB unit codes).
pub const NO_COUNTY: &str = "000000";

/// Totals of one county.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CountyTotals {
    pub name: Option<String>,
    pub leads: usize,
    pub lead_mu: f64,
    pub excluded: usize,
    /// Leads and mu per change type.
    pub by_type: BTreeMap<String, (usize, f64)>,
}

/// What an overlay run did.
#[derive(Clone, Debug, Serialize)]
pub struct OverlaySummary {
    pub out: PathBuf,
    pub quarter: String,
    pub crs: String,
    pub area_method: &'static str,
    pub changes: usize,
    pub pieces: usize,
    pub leads: usize,
    pub excluded: usize,
    pub lead_mu: f64,
    pub counties: BTreeMap<String, CountyTotals>,
    pub layers: BTreeMap<&'static str, super::layer::LayerStats>,
    pub repaired: BTreeMap<&'static str, u64>,
    pub warnings: Vec<String>,
    pub seconds: BTreeMap<&'static str, f64>,
    /// Polygon operations that panicked in i_overlay and were retried on snapped coordinates.
    pub guarded_panics: u64,
}

fn round(v: f64, digits: i32) -> f64 {
    let s = 10f64.powi(digits);
    (v * s).round() / s
}

fn text(s: Option<&str>) -> Sql {
    s.filter(|s| !s.is_empty())
        .map_or(Sql::Null, |s| Sql::Text(s.to_string()))
}

/// A change attribute by name (case-insensitive).
fn attr<'a>(o: &'a Overlaid, change: usize, name: &str) -> Option<&'a str> {
    let i = o
        .schema
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
    o.changes[change].attrs.get(i)?.as_deref()
}

fn ogr_column(t: u32) -> Column {
    match t {
        gdal_sys::OGRFieldType::OFTInteger | gdal_sys::OGRFieldType::OFTInteger64 => {
            Column::Integer
        }
        gdal_sys::OGRFieldType::OFTReal => Column::Real,
        _ => Column::Text,
    }
}

fn pass_value(v: Option<&str>, c: Column) -> Sql {
    match (v, c) {
        (None, _) => Sql::Null,
        (Some(s), Column::Integer) => s.parse().map_or(Sql::Null, Sql::Integer),
        (Some(s), Column::Real) => s.parse().map_or(Sql::Null, Sql::Real),
        (Some(s), Column::Text) => Sql::Text(s.to_string()),
    }
}

/// Dates and numbering context.
pub(super) struct Context<'a> {
    pub rules: &'a Rules,
    pub quarter: Quarter,
    pub before: Option<Date>,
    pub after: Option<Date>,
}

struct Record {
    piece: usize,
    verdict: Ruling,
    jcbh: Option<String>,
}

/// Judge, number and write.
pub(super) fn write(o: &Overlaid, ctx: &Context, out: &Path) -> Result<OverlaySummary> {
    let measures = change_measures(&o.pieces, o.changes.len());
    let pieces_of = {
        let mut n = vec![0usize; o.changes.len()];
        for p in &o.pieces {
            n[p.change] += 1;
        }
        n
    };
    let mut records: Vec<Record> = o
        .pieces
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let tblx = attr(o, p.change, "TBLX");
            let mut verdict = judge(ctx.rules, tblx, &measures[p.change]);
            if pieces_of[p.change] > 1 {
                verdict.reasons = format!(
                    "judged on the whole polygon, split across {} units: {}",
                    pieces_of[p.change], verdict.reasons
                );
            }
            if !p.failed.is_empty() {
                let layers: Vec<&str> = p.failed.iter().copied().collect();
                verdict.reasons = format!(
                    "REVIEW: a polygon operation failed against {}, those areas are upper bounds; {}",
                    layers.join(", "),
                    verdict.reasons
                );
            }
            if verdict.lead && p.county.is_none() && o.has_counties {
                verdict.lead = false;
                verdict.priority = 0;
                verdict.reasons = format!(
                    "outside every county of the county layer; {}",
                    verdict.reasons
                );
            }
            Record {
                piece: k,
                verdict,
                jcbh: None,
            }
        })
        .collect();
    // Numbers per county.
    // Without any county information, leads are numbered under the code 000000.
    let mut by_county: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
    for (r, rec) in records.iter().enumerate() {
        if rec.verdict.lead {
            by_county
                .entry(o.pieces[rec.piece].county)
                .or_default()
                .push(r);
        }
    }
    for (c, recs) in &by_county {
        let places: Vec<Place> = recs
            .iter()
            .map(|&r| {
                let p = &o.pieces[records[r].piece];
                let b = p.geom.bounding_rect();
                Place {
                    centre_x: b.map_or(0.0, |b| b.center().x),
                    centre_y: b.map_or(0.0, |b| b.center().y),
                    area_m2: p.area_m2,
                    id: (p.change as u64) << 16 | (records[r].piece as u64 & 0xffff),
                }
            })
            .collect();
        for (&r, seq) in recs.iter().zip(sequence(&places)) {
            let code = c.map_or(NO_COUNTY, |c| o.counties[c].code.as_str());
            records[r].jcbh = Some(jcbh(code, ctx.quarter, seq));
        }
    }
    write_gpkg(o, ctx, &records, out)?;
    let mut counties: BTreeMap<String, CountyTotals> = BTreeMap::new();
    let (mut leads, mut lead_mu) = (0, 0.0);
    for rec in &records {
        let p = &o.pieces[rec.piece];
        let c = p.county.map(|c| &o.counties[c]);
        let t = counties
            .entry(c.map_or(NO_COUNTY.to_string(), |c| c.code.clone()))
            .or_default();
        t.name = c.and_then(|c| c.name.clone());
        if rec.verdict.lead {
            let mu = p.area_m2 / MU_M2;
            t.leads += 1;
            t.lead_mu += mu;
            let ty = attr(o, p.change, "TBLX").unwrap_or("untyped").to_string();
            let e = t.by_type.entry(ty).or_default();
            e.0 += 1;
            e.1 += mu;
            leads += 1;
            lead_mu += mu;
        } else {
            t.excluded += 1;
        }
    }
    Ok(OverlaySummary {
        out: out.into(),
        quarter: ctx.quarter.to_string(),
        crs: o.work.name.clone(),
        area_method: o.work.area.describe(),
        changes: o.changes.len(),
        pieces: o.pieces.len(),
        leads,
        excluded: records.len() - leads,
        lead_mu,
        counties,
        layers: o.stats.clone(),
        repaired: o.repaired.clone(),
        warnings: o.warnings.clone(),
        seconds: o.seconds.clone(),
        guarded_panics: crate::geom::boolean::panics(),
    })
}

fn write_gpkg(o: &Overlaid, ctx: &Context, records: &[Record], out: &Path) -> Result<()> {
    let ours: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
    let passed: Vec<(usize, String, Column)> = o
        .schema
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| !ours.iter().any(|x| x.eq_ignore_ascii_case(n)))
        .map(|(i, (n, t))| (i, n.clone(), ogr_column(*t)))
        .collect();
    let mut columns: Vec<(&str, Column)> = FIELDS.to_vec();
    columns.extend(passed.iter().map(|(_, n, c)| (n.as_str(), *c)));
    let tmp = crate::output::partial_path(out);
    let _ = std::fs::remove_file(&tmp);
    for (table, leads) in [("leads", true), ("excluded", false)] {
        let mut w = GpkgWriter::create(&tmp, table, &o.work.wkt, &columns)?;
        let mut rows: Vec<&Record> = records.iter().filter(|r| r.verdict.lead == leads).collect();
        rows.sort_by(|a, b| a.jcbh.cmp(&b.jcbh).then(a.piece.cmp(&b.piece)));
        for rec in rows {
            let p = &o.pieces[rec.piece];
            let mut values = row(o, ctx, rec, p.change);
            let change = &o.changes[p.change];
            values.extend(
                passed.iter().map(|(i, _, c)| {
                    pass_value(change.attrs.get(*i).and_then(|v| v.as_deref()), *c)
                }),
            );
            let geom: &MultiPolygon<f64> = &p.geom;
            w.push(geom, values)?;
        }
        w.finish()?;
    }
    std::fs::rename(&tmp, out).map_err(|e| Error::write(out, e))
}

/// Our fields of one record, in [`FIELDS`] order.
fn row(o: &Overlaid, ctx: &Context, rec: &Record, change: usize) -> Vec<Sql> {
    let p = &o.pieces[rec.piece];
    let county = p.county.map(|c| &o.counties[c]);
    let mut classes: Vec<(&String, &f64)> = p.classes.iter().filter(|(_, a)| **a > 0.005).collect();
    classes.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    let dlbm_json = format!(
        "{{{}}}",
        classes
            .iter()
            .map(|(c, a)| format!("{}:{:.2}", serde_json::Value::String((*c).clone()), a))
            .collect::<Vec<_>>()
            .join(",")
    );
    let date = |name: &str, d: Option<Date>| {
        attr(o, change, name)
            .map(str::to_string)
            .or_else(|| d.map(|d| d.to_string()))
    };
    let mu = |a: f64| Sql::Real(round(a / MU_M2, 4));
    let m2 = |a: f64| Sql::Real(round(a, 2));
    let v = &rec.verdict;
    vec![
        text(rec.jcbh.as_deref()),
        text(county.map(|c| c.code.as_str())),
        text(county.and_then(|c| c.name.as_deref())),
        text(attr(o, change, "TBLX")),
        text(date("QSX", ctx.before).as_deref()),
        text(date("HSX", ctx.after).as_deref()),
        m2(p.area_m2),
        mu(p.area_m2),
        m2(p.approved_m2),
        text(Some(
            &p.approvals.iter().cloned().collect::<Vec<_>>().join(";"),
        )),
        m2(p.arable_m2),
        mu(p.arable_m2),
        m2(p.basic_farmland_m2),
        mu(p.basic_farmland_m2),
        m2(p.red_line_m2),
        text(Some(
            &p.red_line_names
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(";"),
        )),
        m2(p.urban_m2),
        Sql::Text(dlbm_json),
        text(classes.first().map(|(c, _)| c.as_str())),
        // Per piece: a county is told whether its own part touches farmland or red line.
        yes_no(p.basic_farmland_m2 > 0.01),
        yes_no(p.red_line_m2 > 0.01),
        Sql::Integer(i64::from(v.priority)),
        Sql::Text(v.reasons.clone()),
        Sql::Text(format!("{} in {}", o.work.area.describe(), o.work.name)),
        Sql::Integer(o.changes[change].fid as i64),
    ]
}
