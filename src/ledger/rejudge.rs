//! Error tolerance (容错纠错): a correction of a reference layer, and the leads it touches
//! judged again.
//!
//! A correction names a layer of the job (`basic_farmland`, `red_line`, `urban_boundary`,
//! `approvals`, `dltb`), polygons (in any CRS; stored in the ledger's), an action, who made it,
//! when, why and the evidence file (which must exist):
//! - `remove`: the polygons' area is not part of the layer (land wrongly designated as basic
//!   farmland);
//! - `add`: the polygons are part of the layer with the given field values, replacing what was
//!   there (an approval missing from the records: `PZRQ=2024-01-10,PZWH=...`; a DLTB class
//!   recorded wrongly: `DLBM=0702`).
//!
//! [`Ledger::rejudge`] takes every lead that shares area with a correction not yet applied and
//! runs the overlay stage on it again, with the layers of the lead's job corrected by every
//! correction recorded so far (only the part of each layer around the leads is copied). Each
//! lead's new judgement, measures and reasons are written with an event naming the
//! corrections; a lead that stops qualifying stays in the ledger as `judged = excluded`.

use super::db::{Tx, Val, vals};
use super::dispatch::{envelope, overlap_ratio};
use super::{Ledger, ledger_err, log, sql};
use crate::error::{Error, Result};
use crate::job::{Date, Job, LayerSource};
use crate::output::gpkg::{Column, GpkgWriter, gpkg_blob, parse_blob};
use geo::MultiPolygon;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, params};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers a correction can name, with the overlay's default layer name of each.
pub const LAYERS: [(&str, &str); 5] = [
    ("basic_farmland", "YJJBNTTB"),
    ("red_line", "STBHHX"),
    ("urban_boundary", "CZKFBJ"),
    ("approvals", "PZYD"),
    ("dltb", "DLTB"),
];

/// A correction as the user states it.
#[derive(Clone, Debug)]
pub struct CorrectionInput {
    pub layer: String,
    /// `remove` or `add`.
    pub action: String,
    /// Polygons of the correction (any OGR source).
    pub geometry: PathBuf,
    /// Field values of added features.
    pub fields: BTreeMap<String, String>,
    pub reason: String,
    pub evidence: PathBuf,
    pub date: Date,
}

/// A correction as stored.
struct Correction {
    id: i64,
    layer: String,
    action: String,
    geom: MultiPolygon<f64>,
    fields: BTreeMap<String, String>,
}

/// One lead judged again.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Rejudged {
    pub jcbh: String,
    pub before: String,
    pub after: String,
    pub reasons: String,
}

/// What a rejudgement did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct RejudgeSummary {
    /// Corrections applied by this rejudgement.
    pub corrections: Vec<i64>,
    /// Every lead judged again, flipped or not.
    pub leads: Vec<Rejudged>,
}

impl RejudgeSummary {
    /// The leads whose judgement changed.
    pub fn flipped(&self) -> impl Iterator<Item = &Rejudged> {
        self.leads.iter().filter(|l| l.before != l.after)
    }
}

impl Ledger {
    /// Record a correction; the number of leads it touches (judged again by
    /// [`Ledger::rejudge`]).
    ///
    /// # Errors
    /// [`Error::Ledger`] for an unknown layer or action, a missing evidence file, an empty
    /// ledger; [`Error::Layer`] for unreadable polygons.
    pub fn correct(&mut self, c: &CorrectionInput) -> Result<(i64, usize)> {
        if !LAYERS.iter().any(|(l, _)| *l == c.layer) {
            return Err(ledger_err(
                &c.geometry,
                format!(
                    "layer {:?}: one of {}",
                    c.layer,
                    LAYERS.map(|(l, _)| l).join(", ")
                ),
            ));
        }
        if c.action != "remove" && c.action != "add" {
            return Err(ledger_err(
                &c.geometry,
                format!("action {:?}: remove or add", c.action),
            ));
        }
        if c.action == "remove" && !c.fields.is_empty() {
            return Err(ledger_err(
                &c.geometry,
                "field values go with add, not remove",
            ));
        }
        if !c.evidence.is_file() {
            return Err(ledger_err(&c.evidence, "evidence file not found"));
        }
        if c.reason.trim().is_empty() {
            return Err(ledger_err(&c.geometry, "a correction needs a reason"));
        }
        let work = self.work_crs()?.1.ok_or_else(|| {
            ledger_err(
                &self.path,
                "the ledger has no leads yet: nothing to correct",
            )
        })?;
        let src = LayerSource {
            path: c.geometry.to_string_lossy().into_owned(),
            layer: None,
            crs: None,
            encoding: None,
            filter: None,
            line: 0,
        };
        let mut polys = vec![];
        crate::overlay::layer::read_layer(
            &src,
            "",
            crate::overlay::layer::Fields::All,
            Some(&work),
            None,
            &|_, _| {},
            |b| {
                polys.extend(b.into_iter().flat_map(|f| f.geom.0));
                Ok(())
            },
        )?;
        let geom = MultiPolygon::new(polys);
        let Some(env) = envelope(&geom) else {
            return Err(ledger_err(&c.geometry, "no polygon in the correction file"));
        };
        let touched = self.read(|tx| affected(tx, &geom))?;
        let actor = self.actor.clone();
        let fields = serde_json::to_string(&c.fields).unwrap_or_else(|_| "{}".into());
        let id = self.write(|tx| {
            let evidence = std::path::absolute(&c.evidence)
                .unwrap_or_else(|_| c.evidence.clone())
                .to_string_lossy()
                .into_owned();
            let id = tx
                .query_one(
                    "INSERT INTO corrections (layer, action, geom, fields, by, at, date, reason, evidence, minx, maxx, miny, maxy) VALUES (?1, ?2, GEOM(?3), ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
                    &[
                        Val::from(&c.layer),
                        Val::from(&c.action),
                        Val::Geom(geom.clone()),
                        Val::from(fields.as_str()),
                        Val::from(&actor),
                        Val::from(super::now_utc()),
                        Val::from(c.date.to_string()),
                        Val::from(&c.reason),
                        Val::from(evidence),
                        Val::from(env[0]),
                        Val::from(env[1]),
                        Val::from(env[2]),
                        Val::from(env[3]),
                    ],
                )
                .map_err(sql)?
                .and_then(|r| r.int(0))
                .ok_or_else(|| sql("no id for the correction".into()))?;
            log(
                tx,
                &actor,
                None,
                "correct",
                &format!(
                    "correction {id}: {} {} ({} polygon(s), {} lead(s) touched) on {}: {}; evidence {}",
                    c.action,
                    c.layer,
                    geom.0.len(),
                    touched.len(),
                    c.date,
                    c.reason,
                    c.evidence.display()
                ),
            )?;
            Ok(id)
        })?;
        Ok((id, touched.len()))
    }

    /// Judge again every lead a pending correction touches; `job` overrides the job each run
    /// recorded (for a run made elsewhere); `scratch` holds the temporary layers.
    ///
    /// # Errors
    /// [`Error::Ledger`] when a lead's run has no job, the overlay's errors for the job's
    /// layers, [`Error::Write`] for the scratch folder.
    pub fn rejudge(&mut self, job: Option<&Path>, scratch: &Path) -> Result<RejudgeSummary> {
        let (all, pending_ids, leads) = self.read(|tx| {
            let all = corrections(tx)?;
            let pending_ids: BTreeSet<i64> = tx
                .query("SELECT id FROM corrections WHERE rejudged_at IS NULL", &[])
                .map_err(sql)?
                .iter()
                .filter_map(|r| r.int(0))
                .collect();
            // Leads touched by a pending correction.
            let mut touched: BTreeSet<i64> = BTreeSet::new();
            for c in all.iter().filter(|c| pending_ids.contains(&c.id)) {
                touched.extend(affected(tx, &c.geom)?);
            }
            // A lead cut at a county border was judged as the whole change polygon: its pieces
            // in the other counties are judged again with it.
            for fid in touched.clone() {
                let more = tx
                    .query(
                        "SELECT s.fid FROM leads l JOIN leads s ON s.run_id = l.run_id AND SRC_ID(s.attrs) = SRC_ID(l.attrs) WHERE l.fid = ?1",
                        vals![fid],
                    )
                    .map_err(sql)?;
                touched.extend(more.iter().filter_map(|r| r.int(0)));
            }
            let leads = load_leads(tx, &touched)?;
            Ok((all, pending_ids, leads))
        })?;
        let mut summary = RejudgeSummary {
            corrections: pending_ids.iter().copied().collect(),
            ..Default::default()
        };
        if pending_ids.is_empty() {
            return Ok(summary);
        }
        // Grouped by the job that judged them.
        let mut by_job: BTreeMap<PathBuf, Vec<&LeadRow>> = BTreeMap::new();
        for l in &leads {
            let j = match (job, &l.job) {
                (Some(j), _) => j.to_path_buf(),
                (None, Some(j)) => PathBuf::from(j),
                (None, None) => {
                    return Err(ledger_err(
                        &self.path,
                        format!(
                            "lead {} came from {} without a job file; pass --job with the job its layers are in",
                            l.jcbh, l.source
                        ),
                    ));
                }
            };
            by_job.entry(j).or_default().push(l);
        }
        std::fs::create_dir_all(scratch).map_err(|e| Error::write(scratch, e))?;
        let projection = self.projection()?.unwrap_or_default();
        let mut judged = vec![];
        for (k, (job_path, group)) in by_job.iter().enumerate() {
            let dir = scratch.join(format!("rejudge-{}-{k}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
            let out = overlay_again(job_path, group, &all, &projection, &dir);
            let _ = std::fs::remove_dir_all(&dir);
            judged.extend(out?);
        }
        let actor = self.actor.clone();
        let ids: Vec<String> = pending_ids.iter().map(i64::to_string).collect();
        self.write(|tx| {
            for (lead, j) in &judged {
                tx.execute(
                    "UPDATE leads SET judged = ?2, PDYJ = ?3, GDMJ = ?4, YJJBNTMJ = ?5, STHXMJ = ?6, PZMJ = ?7, version = version + 1 WHERE fid = ?1",
                    vals![lead.fid, &j.judged, &j.reasons, j.gdmj, j.yjjbntmj, j.sthxmj, j.pzmj],
                )
                .map_err(sql)?;
                let what = if lead.judged == j.judged {
                    format!("still {}", j.judged)
                } else {
                    format!("{} -> {}", lead.judged, j.judged)
                };
                log(
                    tx,
                    &actor,
                    Some(&lead.jcbh),
                    "rejudge",
                    &format!(
                        "{what} after correction(s) {}: {} (was: {})",
                        ids.join(", "),
                        j.reasons,
                        lead.reasons.as_deref().unwrap_or("-")
                    ),
                )?;
                summary.leads.push(Rejudged {
                    jcbh: lead.jcbh.clone(),
                    before: lead.judged.clone(),
                    after: j.judged.clone(),
                    reasons: j.reasons.clone(),
                });
            }
            let now = super::now_utc();
            for id in &pending_ids {
                tx.execute(
                    "UPDATE corrections SET rejudged_at = ?2 WHERE id = ?1",
                    vals![*id, &now],
                )
                .map_err(sql)?;
            }
            Ok(())
        })?;
        Ok(summary)
    }
}

fn corrections(tx: &mut Tx) -> Result<Vec<Correction>> {
    let rows = tx
        .query(
            "SELECT id, layer, action, WKB(geom), fields FROM corrections ORDER BY id",
            &[],
        )
        .map_err(sql)?;
    Ok(rows
        .iter()
        .map(|r| Correction {
            id: r.int(0).unwrap_or(0),
            layer: r.text(1).unwrap_or_default(),
            action: r.text(2).unwrap_or_default(),
            geom: r.geom(3).unwrap_or_else(|| MultiPolygon::new(vec![])),
            fields: serde_json::from_str(&r.text(4).unwrap_or_default()).unwrap_or_default(),
        })
        .collect())
}

/// Leads sharing area with `g`.
fn affected(tx: &mut Tx, g: &MultiPolygon<f64>) -> Result<Vec<i64>> {
    let Some(e) = envelope(g) else {
        return Ok(vec![]);
    };
    let rows = tx
        .query(
            "SELECT l.fid, WKB(l.geom) FROM leads l WHERE BBOX(l, ?1, ?2, ?3, ?4)",
            vals![e[0], e[1], e[2], e[3]],
        )
        .map_err(sql)?;
    Ok(rows
        .iter()
        .filter(|r| r.geom(1).is_some_and(|l| overlap_ratio(&l, g) > 0.0))
        .filter_map(|r| r.int(0))
        .collect())
}

/// A lead to judge again.
struct LeadRow {
    fid: i64,
    jcbh: String,
    xzqdm: String,
    run_id: i64,
    /// The change polygon the lead is a piece of (the overlay's SRC_ID), when known.
    src_id: Option<i64>,
    geom: MultiPolygon<f64>,
    tblx: Option<String>,
    hsx: Option<String>,
    judged: String,
    reasons: Option<String>,
    job: Option<String>,
    source: String,
}

fn load_leads(tx: &mut Tx, fids: &BTreeSet<i64>) -> Result<Vec<LeadRow>> {
    let mut out = vec![];
    for fid in fids {
        let Some(r) = tx
            .query_one(
                "SELECT l.fid, l.JCBH, WKB(l.geom), l.TBLX, l.HSX, l.judged, l.PDYJ, r.job, r.path, l.XZQDM, l.run_id, SRC_ID(l.attrs) FROM leads l JOIN ledger_runs r ON r.id = l.run_id WHERE l.fid = ?1",
                vals![*fid],
            )
            .map_err(sql)?
        else {
            continue;
        };
        out.push(LeadRow {
            fid: r.int(0).unwrap_or(0),
            jcbh: r.text(1).unwrap_or_default(),
            geom: r.geom(2).unwrap_or_else(|| MultiPolygon::new(vec![])),
            tblx: r.text(3),
            hsx: r.text(4),
            judged: r.text(5).unwrap_or_default(),
            reasons: r.text(6),
            job: r.text(7),
            source: r.text(8).unwrap_or_default(),
            xzqdm: r.text(9).unwrap_or_default(),
            run_id: r.int(10).unwrap_or(0),
            src_id: r.int(11),
        });
    }
    Ok(out)
}

/// The overlay's new judgement of one lead (its pieces summed).
#[derive(Default)]
struct Judgement {
    judged: String,
    reasons: String,
    gdmj: f64,
    yjjbntmj: f64,
    sthxmj: f64,
    pzmj: f64,
}

/// Run the overlay of `job_path` on `leads`, with its layers corrected by `corrections`.
fn overlay_again<'a>(
    job_path: &Path,
    leads: &[&'a LeadRow],
    corrections: &[Correction],
    projection: &str,
    dir: &Path,
) -> Result<Vec<(&'a LeadRow, Judgement)>> {
    let mut job = Job::load(job_path)?;
    // One change polygon per original change (the pieces of a lead cut at county borders
    // together), written in order: feature id k + 1 is group k.
    let mut groups: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
    for (i, l) in leads.iter().enumerate() {
        let key = l.src_id.map_or((-1, l.fid), |s| (l.run_id, s));
        groups.entry(key).or_default().push(i);
    }
    let changes = dir.join("changes.gpkg");
    let mut w = GpkgWriter::create(&changes, "changes", projection, &[("TBLX", Column::Text)])?;
    let mut group_of = vec![0i64; leads.len()];
    for (k, members) in groups.values().enumerate() {
        let parts: Vec<MultiPolygon<f64>> =
            members.iter().map(|&i| leads[i].geom.clone()).collect();
        let whole = crate::geom::boolean::union_all(&parts)
            .unwrap_or_else(|_| MultiPolygon::new(parts.into_iter().flat_map(|p| p.0).collect()));
        let tblx = leads[members[0]].tblx.clone();
        w.push(&whole, vec![tblx.map_or(Sql::Null, Sql::Text)])?;
        for &i in members {
            group_of[i] = k as i64 + 1;
        }
    }
    w.finish()?;
    // The leads' joint envelope, without copying their polygons.
    let Some(extent) = leads
        .iter()
        .filter_map(|l| envelope(&l.geom))
        .reduce(|a, b| {
            [
                a[0].min(b[0]),
                a[1].max(b[1]),
                a[2].min(b[2]),
                a[3].max(b[3]),
            ]
        })
    else {
        return Ok(vec![]);
    };
    for (name, default_layer) in LAYERS {
        let mine: Vec<&Correction> = corrections
            .iter()
            .filter(|c| c.layer == name)
            .filter(|c| envelope(&c.geom).is_some_and(|e| meets(&e, &extent)))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let slot = match name {
            "basic_farmland" => job.basic_farmland.as_mut().map(|x| &mut x.0),
            "red_line" => job.red_line.as_mut().map(|x| &mut x.0),
            "urban_boundary" => job.urban_boundary.as_mut().map(|x| &mut x.0),
            "approvals" => job.approvals.as_mut().map(|x| &mut x.0),
            _ => job.dltb.as_mut().map(|x| &mut x.0),
        };
        let Some(src) = slot else {
            return Err(ledger_err(
                job_path,
                format!("a correction of {name}, but the job maps no {name} layer"),
            ));
        };
        *src = corrected_layer(src, default_layer, &mine, projection, &extent, dir)?;
    }
    let out = dir.join("overlay.gpkg");
    let after = leads
        .iter()
        .find_map(|l| l.hsx.as_deref().and_then(|d| Date::parse(d).ok()));
    crate::overlay::overlay(
        &crate::overlay::OverlayJob {
            changes: changes.clone(),
            changes_layer: Some("changes".into()),
            job: &job,
            out: out.clone(),
            before_date: None,
            after_date: after,
        },
        &|_, _, _| {},
    )?;
    let mut by_src: BTreeMap<(i64, String), Judgement> = BTreeMap::new();
    for (layer, is_lead) in [("leads", true), ("excluded", false)] {
        let (cols, rows) = crate::output::package::read(&out, layer, None)?;
        let at = |n: &str| cols.iter().position(|(c, _)| c == n);
        let (Some(src_at), Some(county_at), pdyj) = (at("SRC_ID"), at("XZQDM"), at("PDYJ")) else {
            continue;
        };
        for r in rows {
            let (Sql::Integer(src), Sql::Text(county)) = (&r.values[src_at], &r.values[county_at])
            else {
                continue;
            };
            let j = by_src.entry((*src, county.clone())).or_default();
            if is_lead || j.judged.is_empty() {
                j.judged = if is_lead { "lead" } else { "excluded" }.into();
            }
            let real = |n: &str| match at(n).map(|i| &r.values[i]) {
                Some(Sql::Real(v)) => *v,
                Some(Sql::Integer(v)) => *v as f64,
                _ => 0.0,
            };
            j.gdmj += real("GDMJ");
            j.yjjbntmj += real("YJJBNTMJ");
            j.sthxmj += real("STHXMJ");
            j.pzmj += real("PZMJ");
            if let Some(Sql::Text(t)) = pdyj.map(|i| &r.values[i])
                && !j.reasons.contains(t.as_str())
            {
                if !j.reasons.is_empty() {
                    j.reasons.push_str("; ");
                }
                j.reasons.push_str(t);
            }
        }
    }
    Ok(leads
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let j = by_src
                .remove(&(group_of[i], l.xzqdm.clone()))
                .unwrap_or_else(|| Judgement {
                    judged: "excluded".into(),
                    reasons: "nothing left after the overlay".into(),
                    ..Default::default()
                });
            (*l, j)
        })
        .collect())
}

fn meets(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] <= b[1] && a[1] >= b[0] && a[2] <= b[3] && a[3] >= b[2]
}

/// A copy of the part of `src` around `extent` (ledger CRS) with `corrections` applied, as a
/// source the overlay reads.
fn corrected_layer(
    src: &LayerSource,
    default_layer: &str,
    corrections: &[&Correction],
    projection: &str,
    extent: &[f64; 4],
    dir: &Path,
) -> Result<LayerSource> {
    let (ds, _) = crate::overlay::layer::open(src)?;
    let (_, name) = crate::overlay::layer::choose_layer(&ds, src, default_layer)?;
    let dest = dir.join(format!("{default_layer}.gpkg"));
    // A margin so that features touching the leads' edges come along whole.
    let pad = 0.05 * ((extent[1] - extent[0]) + (extent[3] - extent[2])).max(1.0);
    let spat = [
        extent[0] - pad,
        extent[2] - pad,
        extent[1] + pad,
        extent[3] + pad,
    ]
    .map(|v| v.to_string());
    let mut args: Vec<&str> = vec![
        "-f",
        "GPKG",
        "-lco",
        "SPATIAL_INDEX=NO",
        "-nlt",
        "MULTIPOLYGON",
        "-t_srs",
        projection,
        "-spat",
        &spat[0],
        &spat[1],
        &spat[2],
        &spat[3],
        "-spat_srs",
        projection,
        "-nln",
        &name,
    ];
    if let Some(c) = &src.crs {
        args.extend(["-s_srs", c]);
    }
    if let Some(f) = &src.filter {
        args.extend(["-where", f]);
    }
    args.push(&name);
    crate::output::vector::translate(&ds, &dest, &args)?;
    let conn = Connection::open(&dest).map_err(|e| Error::write(&dest, e))?;
    apply(&conn, &name, corrections).map_err(|e| Error::write(&dest, e))?;
    Ok(LayerSource {
        path: dest.to_string_lossy().into_owned(),
        layer: Some(name),
        crs: None,
        encoding: None,
        filter: None,
        line: src.line,
    })
}

/// Apply corrections, in the order they were made, to a GeoPackage layer without a spatial
/// index: their area is cut out of every feature, and an `add` puts its polygons in as a new
/// feature with its field values.
fn apply(
    conn: &Connection,
    table: &str,
    corrections: &[&Correction],
) -> std::result::Result<(), String> {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let (geom_col, srs_id): (String, i32) = conn
        .query_row(
            "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?1",
            [table],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| e.to_string())?;
    let columns: Vec<String> = conn
        .prepare(&format!("PRAGMA table_info({})", q(table)))
        .and_then(|mut st| st.query_map([], |r| r.get::<_, String>(1))?.collect())
        .map_err(|e| e.to_string())?;
    let pk = "fid";
    for c in corrections {
        let mut st = conn
            .prepare(&format!("SELECT {pk}, {} FROM {}", q(&geom_col), q(table)))
            .map_err(|e| e.to_string())?;
        let feats: Vec<(i64, Option<Vec<u8>>)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| e.to_string())?;
        for (fid, blob) in feats {
            let Some(g) = blob.as_deref().and_then(parse_blob) else {
                continue;
            };
            if overlap_ratio(&g, &c.geom) <= 0.0 {
                continue;
            }
            let cut = crate::geom::boolean::subtract_all(&g, std::slice::from_ref(&c.geom))
                .map_err(|_| format!("correction {}: cutting feature {fid} failed", c.id))?;
            conn.execute(
                &format!(
                    "UPDATE {} SET {} = ?2 WHERE {pk} = ?1",
                    q(table),
                    q(&geom_col)
                ),
                params![fid, gpkg_blob(&cut, srs_id).0],
            )
            .map_err(|e| e.to_string())?;
        }
        if c.action == "add" {
            let mut names = vec![q(&geom_col)];
            let mut values = vec![Sql::Blob(gpkg_blob(&c.geom, srs_id).0)];
            for (k, v) in &c.fields {
                let Some(col) = columns.iter().find(|n| n.eq_ignore_ascii_case(k)) else {
                    return Err(format!(
                        "correction {}: the layer has no field {k:?}; its fields are {}",
                        c.id,
                        columns.join(", ")
                    ));
                };
                names.push(q(col));
                values.push(Sql::Text(v.clone()));
            }
            let marks = vec!["?"; names.len()].join(", ");
            conn.execute(
                &format!(
                    "INSERT INTO {} ({}) VALUES ({marks})",
                    q(table),
                    names.join(", ")
                ),
                rusqlite::params_from_iter(values),
            )
            .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
