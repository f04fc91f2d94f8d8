//! Leads entering the ledger: a run's county packages ([`Ledger::dispatch`]) or polygons made
//! outside tuban ([`Ledger::import`]: provincial self-made polygons, the annual survey's), each
//! linked to the leads already there.
//!
//! Linking: a new lead and an earlier one are the same place when their intersection covers at
//! least `overlap` of the smaller of the two. Of the earlier leads at its place the newest
//! (latest quarter, then largest overlap) gives `QQJCBH` and the case; when any lead of that case
//! has been verified, the new lead is a duplicate: the case is not verified twice. A lead with
//! no earlier lead opens its own case (`case_no` = its JCBH).

use super::db::{Tx, Val, vals};
use super::{Ledger, ledger_err, log, meta, set_meta, sql};
use crate::error::{Error, Result};
use crate::geom::AreaMethod;
use crate::job::{Date, LayerSource, Quarter};
use crate::overlay::layer::{Fields, WorkCrs, read_layer};
use geo::{Area, BoundingRect, MultiPolygon};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// How new leads are linked and when they are due.
#[derive(Clone, Debug)]
pub struct DispatchOptions {
    /// Share of the smaller polygon two leads must share to be the same place.
    pub overlap: f64,
    /// The dispatch date (recorded on each lead).
    pub date: Date,
    /// The verification deadline; default: the last day of the quarter of `date`.
    pub deadline: Option<Date>,
}

/// What a dispatch or import added.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DispatchSummary {
    pub source: PathBuf,
    pub quarter: String,
    pub kind: String,
    pub added: usize,
    /// The same leads were dispatched before: nothing was added.
    pub already_dispatched: bool,
    /// Leads skipped because the ledger has them already (same number, same polygon).
    pub already_in: usize,
    /// Leads linked to an earlier lead (QQJCBH set).
    pub linked: usize,
    /// Of those, leads at a place already verified.
    pub duplicates: usize,
    /// Leads added per county.
    pub per_county: BTreeMap<String, usize>,
}

/// Which fields of an imported layer carry the ledger's attributes (`[fields]` of the mapping
/// TOML); every other field is kept as it is.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportMapping {
    /// The lead number (unique in the ledger).
    #[serde(rename = "JCBH", default = "jcbh_default")]
    pub jcbh: String,
    /// The county code; default: the first 6 characters of the number.
    #[serde(rename = "XZQDM")]
    pub xzqdm: Option<String>,
    #[serde(rename = "TBLX")]
    pub tblx: Option<String>,
    #[serde(rename = "QSX")]
    pub qsx: Option<String>,
    #[serde(rename = "HSX")]
    pub hsx: Option<String>,
}

fn jcbh_default() -> String {
    "JCBH".into()
}

impl Default for ImportMapping {
    fn default() -> Self {
        ImportMapping {
            jcbh: jcbh_default(),
            xzqdm: Some("XZQDM".into()),
            tblx: Some("TBLX".into()),
            qsx: Some("QSX".into()),
            hsx: Some("HSX".into()),
        }
    }
}

/// A mapping file: `[fields]` with `JCBH = "BH"` and so on.
///
/// # Errors
/// [`Error::Job`] naming the file and line of a wrong key.
pub fn read_mapping(path: &Path) -> Result<ImportMapping> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        fields: ImportMapping,
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::Job {
        path: path.into(),
        line: 0,
        reason: e.to_string(),
    })?;
    let f: File = toml::from_str(&text).map_err(|e| Error::Job {
        path: path.into(),
        line: e
            .span()
            .map_or(0, |s| text[..s.start].lines().count().max(1)),
        reason: e.message().to_string(),
    })?;
    Ok(f.fields)
}

/// A lead about to enter the ledger.
struct Incoming {
    geom: MultiPolygon<f64>,
    jcbh: String,
    xzqdm: String,
    tblx: Option<String>,
    qsx: Option<String>,
    hsx: Option<String>,
    attrs: Map<String, Value>,
}

impl Incoming {
    fn real(&self, key: &str) -> Option<f64> {
        self.attrs.get(key).and_then(Value::as_f64)
    }
}

/// The last day of the quarter `d` falls in.
fn quarter_end(d: Date) -> Date {
    Quarter {
        year: d.year,
        q: (d.month - 1) / 3 + 1,
    }
    .span()
    .1
}

/// A polygon feature and its attributes.
type Feature = (MultiPolygon<f64>, Map<String, Value>);

/// Every feature of a layer with its attributes as JSON (numbers typed by the field),
/// reprojected into the ledger's CRS when it has one; the layer's CRS (WKT) comes back too.
fn read_features(
    path: &Path,
    layer: Option<&str>,
    work: Option<&WorkCrs>,
) -> Result<(String, Vec<Feature>)> {
    let src = LayerSource {
        path: path.to_string_lossy().into_owned(),
        layer: layer.map(str::to_string),
        crs: None,
        encoding: None,
        filter: None,
        line: 0,
    };
    let mut out = vec![];
    let read = read_layer(&src, "", Fields::All, work, None, &|_, _| {}, |batch| {
        out.extend(batch.into_iter().map(|f| (f.geom, f.attrs)));
        Ok(())
    })?;
    use gdal::vector::OGRFieldType as T;
    let typed = out
        .into_iter()
        .map(|(g, attrs)| {
            let m = read
                .schema
                .iter()
                .zip(attrs)
                .map(|((name, ty), v)| {
                    let v = match v {
                        None => Value::Null,
                        Some(s) => match *ty {
                            T::OFTInteger | T::OFTInteger64 => {
                                s.parse::<i64>().map_or(Value::String(s), Value::from)
                            }
                            T::OFTReal => s.parse::<f64>().map_or(Value::String(s), Value::from),
                            _ => Value::String(s),
                        },
                    };
                    (name.clone(), v)
                })
                .collect();
            (g, m)
        })
        .collect();
    Ok((read.wkt, typed))
}

fn text(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    match attrs.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The quarter and the job of a run folder (`run.json`) or a merged plan (`tasks.json`, whose
/// job file says the quarter).
fn run_origin(dir: &Path) -> Result<(Quarter, Option<PathBuf>)> {
    let json = |name: &str| -> Result<Option<(PathBuf, Value)>> {
        let path = dir.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        let v = serde_json::from_str(&text)
            .map_err(|e| ledger_err(&path, format!("not valid JSON: {e}")))?;
        Ok(Some((path, v)))
    };
    if let Some((path, run)) = json("run.json")? {
        let quarter = run
            .get("quarter")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ledger_err(
                    &path,
                    "has no quarter (written by an older tuban): run the job again",
                )
            })
            .and_then(|q| Quarter::parse(q).map_err(|e| ledger_err(&path, e)))?;
        return Ok((
            quarter,
            run.get("job").and_then(Value::as_str).map(PathBuf::from),
        ));
    }
    if let Some((path, plan)) = json(crate::pipeline::plan::PLAN_FILE)? {
        if !dir.join("merge.json").is_file() {
            return Err(ledger_err(
                dir,
                "a cluster plan not merged yet: dispatch it after `tuban merge` has checked that every county finished",
            ));
        }
        let job = plan
            .get("job")
            .and_then(Value::as_str)
            .map(PathBuf::from)
            .ok_or_else(|| ledger_err(&path, "names no job"))?;
        let quarter = crate::job::Job::load(&job)?.quarter;
        return Ok((quarter, Some(job)));
    }
    Err(ledger_err(
        dir,
        "not a tuban run output (no run.json) nor a merged cluster plan (no tasks.json)",
    ))
}

impl Ledger {
    /// The ledger's CRS (WKT) and the same as the working CRS of reads (None before the first
    /// lead).
    pub(super) fn work_crs(&mut self) -> Result<(Option<String>, Option<WorkCrs>)> {
        let wkt = self.projection()?;
        let work = wkt
            .as_deref()
            .map(|w| WorkCrs::from_wkt(w, &self.path.to_string_lossy()))
            .transpose()?;
        Ok((wkt, work))
    }

    /// Add the leads of a `tuban run` output folder, or of a merged cluster plan (`tuban plan`
    /// + `tuban merge`): every county package in it.
    ///
    /// # Errors
    /// [`Error::Ledger`] for a folder that is neither (or a plan not merged yet), a lead number
    /// already in the ledger with another polygon; [`Error::Layer`] for an unreadable package.
    pub fn dispatch(&mut self, run_dir: &Path, o: &DispatchOptions) -> Result<DispatchSummary> {
        let (quarter, job) = run_origin(run_dir)?;
        let mut packages: Vec<PathBuf> = std::fs::read_dir(run_dir)
            .map_err(|e| ledger_err(run_dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()))
                    && p.join("tuban.gpkg").is_file()
            })
            .collect();
        packages.sort();
        let (mut wkt, mut work) = self.work_crs()?;
        let mut incoming = vec![];
        for dir in &packages {
            let gpkg = dir.join("tuban.gpkg");
            let (layer_wkt, feats) = read_features(&gpkg, Some("leads"), work.as_ref())?;
            if work.is_none() {
                work = Some(WorkCrs::from_wkt(&layer_wkt, &gpkg.to_string_lossy())?);
                wkt = Some(layer_wkt);
            }
            for (geom, attrs) in feats {
                let jcbh = text(&attrs, "JCBH").ok_or_else(|| {
                    ledger_err(&gpkg, "a lead without JCBH: not a tuban dispatch package")
                })?;
                incoming.push(Incoming {
                    geom,
                    xzqdm: text(&attrs, "XZQDM").unwrap_or_else(|| jcbh.chars().take(6).collect()),
                    tblx: text(&attrs, "TBLX"),
                    qsx: text(&attrs, "QSX"),
                    hsx: text(&attrs, "HSX"),
                    jcbh,
                    attrs,
                });
            }
        }
        let source = std::path::absolute(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
        self.add(
            &source,
            job.as_deref(),
            quarter,
            "ministry",
            wkt,
            incoming,
            o,
        )
    }

    /// Add polygons made outside tuban (`kind`: provincial, annual, ...), their fields mapped
    /// by `mapping`, as leads of `quarter`.
    ///
    /// # Errors
    /// [`Error::Layer`] / [`Error::Ledger`] naming the file: unreadable, a feature without a
    /// lead number, a number repeated or already in the ledger.
    pub fn import(
        &mut self,
        file: &Path,
        layer: Option<&str>,
        kind: &str,
        quarter: Quarter,
        mapping: &ImportMapping,
        o: &DispatchOptions,
    ) -> Result<DispatchSummary> {
        let (wkt, work) = self.work_crs()?;
        let (layer_wkt, feats) = read_features(file, layer, work.as_ref())?;
        let wkt = wkt.or(Some(layer_wkt));
        let mut incoming = Vec::with_capacity(feats.len());
        for (i, (geom, attrs)) in feats.into_iter().enumerate() {
            let field = |f: &Option<String>| f.as_ref().and_then(|f| text(&attrs, f));
            let jcbh = text(&attrs, &mapping.jcbh).ok_or_else(|| {
                ledger_err(
                    file,
                    format!(
                        "feature {}: no lead number in field {:?} (map it with JCBH = \"FIELD\" in [fields])",
                        i + 1,
                        mapping.jcbh
                    ),
                )
            })?;
            incoming.push(Incoming {
                geom,
                xzqdm: field(&mapping.xzqdm).unwrap_or_else(|| jcbh.chars().take(6).collect()),
                tblx: field(&mapping.tblx),
                qsx: field(&mapping.qsx),
                hsx: field(&mapping.hsx),
                jcbh,
                attrs,
            });
        }
        let source = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        self.add(&source, None, quarter, kind, wkt, incoming, o)
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        source: &Path,
        job: Option<&Path>,
        quarter: Quarter,
        kind: &str,
        wkt: Option<String>,
        mut incoming: Vec<Incoming>,
        o: &DispatchOptions,
    ) -> Result<DispatchSummary> {
        if !(o.overlap > 0.0 && o.overlap <= 1.0) {
            return Err(ledger_err(
                &self.path,
                format!("overlap {}: a share in (0, 1]", o.overlap),
            ));
        }
        incoming.sort_by(|a, b| a.jcbh.cmp(&b.jcbh));
        if let Some(w) = incoming.windows(2).find(|w| w[0].jcbh == w[1].jcbh) {
            return Err(ledger_err(
                source,
                format!("lead number {} appears twice", w[0].jcbh),
            ));
        }
        let digest = digest(kind, quarter, &incoming);
        let mut summary = DispatchSummary {
            source: source.to_path_buf(),
            quarter: quarter.to_string(),
            kind: kind.to_string(),
            ..Default::default()
        };
        let (path, actor) = (self.path.clone(), self.actor.clone());
        let deadline = o.deadline.unwrap_or_else(|| quarter_end(o.date));
        let srid = self.write(|tx| {
            let before = tx
                .query_one("SELECT id FROM ledger_runs WHERE digest = ?1", vals![&digest])
                .map_err(sql)?;
            if before.is_some() {
                summary.already_dispatched = true;
                return Ok(None);
            }
            let (present, clashes) = numbers_present(tx, &incoming)?;
            if !clashes.is_empty() {
                return Err(ledger_err(
                    &path,
                    format!(
                        "{}: {} lead number(s) already in the ledger with other polygons ({}{}); a number names one lead",
                        source.display(),
                        clashes.len(),
                        clashes.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                        if clashes.len() > 5 { ", ..." } else { "" }
                    ),
                ));
            }
            let srs_id = adopt_crs(tx, wkt.as_deref())?;
            let run_id = tx
                .query_one(
                    "INSERT INTO ledger_runs (digest, path, job, quarter, kind, leads, added_at, added_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                    vals![
                        &digest,
                        source.to_string_lossy().into_owned(),
                        job.map(|j| j.to_string_lossy().into_owned()),
                        quarter.to_string(),
                        kind,
                        incoming.len() as i64,
                        super::now_utc(),
                        &actor
                    ],
                )
                .map_err(sql)?
                .and_then(|r| r.int(0))
                .ok_or_else(|| sql("no id for the new run".into()))?;
            summary.already_in = present.len();
            // A lead without its own JCMJ is measured on the ground: geodesic in a
            // geographic CRS (a planar area there would be in square degrees). The leads are
            // in the ledger's CRS by now (adopted from them, or reprojected into it).
            let area = super::meta(tx, "projection")?
                .or(wkt.clone())
                .and_then(|w| WorkCrs::from_wkt(&w, "the leads' CRS").ok())
                .map_or(AreaMethod::Planar { metres_per_unit: 1.0 }, |c| c.area);
            for lead in incoming.iter().filter(|l| !present.contains(&l.jcbh)) {
                let link = earlier_lead(tx, lead, run_id, o.overlap)?;
                let jcmj = lead.real("JCMJ").unwrap_or_else(|| area.area_m2(&lead.geom));
                insert(tx, lead, jcmj, run_id, quarter, kind, o.date, deadline, link.as_ref())?;
                let detail = match &link {
                    Some(l) => format!(
                        "{kind} {quarter} from {}; same place as {} ({:.0} % overlap), case {}{}",
                        source.display(),
                        l.jcbh,
                        100.0 * l.overlap,
                        l.case_no,
                        if l.verified { "; already verified: duplicate" } else { "" }
                    ),
                    None => format!("{kind} {quarter} from {}; new case", source.display()),
                };
                log(tx, &actor, Some(&lead.jcbh), "dispatch", &detail)?;
                summary.added += 1;
                summary.linked += usize::from(link.is_some());
                summary.duplicates += usize::from(link.as_ref().is_some_and(|l| l.verified));
                *summary.per_county.entry(lead.xzqdm.clone()).or_default() += 1;
            }
            Ok(Some(srs_id))
        })?;
        if let Some(id) = srid {
            self.srid = id;
        }
        Ok(summary)
    }
}

/// A stable fingerprint of what is being added: the same run dispatched twice has one.
fn digest(kind: &str, quarter: Quarter, leads: &[Incoming]) -> String {
    // FNV-1a, not std's hasher: the digest is stored and must not change between builds.
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    kind.hash(&mut h);
    quarter.to_string().hash(&mut h);
    for l in leads {
        l.jcbh.hash(&mut h);
        crate::output::vector::wkb_multipolygon(&l.geom).hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// Lead numbers already in the ledger: with the same polygon (a run dispatched again after
/// more of its counties finished: skipped), and with another polygon (refused).
fn numbers_present(
    tx: &mut Tx,
    leads: &[Incoming],
) -> Result<(std::collections::BTreeSet<String>, Vec<String>)> {
    let (mut same, mut clash) = (std::collections::BTreeSet::new(), vec![]);
    for l in leads {
        let Some(row) = tx
            .query_one(
                "SELECT WKB(geom) FROM leads WHERE JCBH = ?1",
                vals![&l.jcbh],
            )
            .map_err(sql)?
        else {
            continue;
        };
        if row.geom(0).is_some_and(|g| {
            crate::output::vector::wkb_multipolygon(&g)
                == crate::output::vector::wkb_multipolygon(&l.geom)
        }) {
            same.insert(l.jcbh.clone());
        } else {
            clash.push(l.jcbh.clone());
        }
    }
    Ok((same, clash))
}

/// Record the ledger's CRS on the first lead (in a GeoPackage its SRS row and the `leads`
/// layer's SRS); the SRS id of the leads' geometries.
fn adopt_crs(tx: &mut Tx, wkt: Option<&str>) -> Result<i32> {
    if let Some(id) = meta(tx, "srs_id")? {
        let id = id.parse().unwrap_or(0);
        tx.set_srid(id);
        return Ok(id);
    }
    let wkt = wkt.unwrap_or("");
    let id = match tx {
        Tx::Sqlite(t, _) => {
            let id = crate::output::gpkg::register_srs(t, wkt).map_err(|e| sql(e.to_string()))?;
            for table in ["gpkg_geometry_columns", "gpkg_contents"] {
                t.execute(
                    &format!("UPDATE {table} SET srs_id = ?1 WHERE table_name = 'leads'"),
                    [id],
                )
                .map_err(|e| sql(e.to_string()))?;
            }
            id
        }
        // PostGIS knows the EPSG codes; a CRS without one is stored as SRID 0 with its WKT in
        // ledger_meta.
        Tx::Postgres(..) => crate::output::gpkg::epsg_code(wkt).unwrap_or(0),
    };
    tx.set_srid(id);
    set_meta(tx, "projection", wkt)?;
    set_meta(tx, "srs_id", &id.to_string())?;
    Ok(id)
}

/// The earlier lead a new one continues.
struct Link {
    jcbh: String,
    case_no: String,
    overlap: f64,
    /// Some lead of the case has been verified.
    verified: bool,
}

/// Envelope of a geometry as (minx, maxx, miny, maxy).
pub(super) fn envelope(g: &MultiPolygon<f64>) -> Option<[f64; 4]> {
    g.bounding_rect()
        .map(|r| [r.min().x, r.max().x, r.min().y, r.max().y])
}

/// Share of the smaller of `a` and `b` that they share (0 when either has no area).
pub(super) fn overlap_ratio(a: &MultiPolygon<f64>, b: &MultiPolygon<f64>) -> f64 {
    let smaller = a.unsigned_area().min(b.unsigned_area());
    if smaller <= 0.0 {
        return 0.0;
    }
    crate::geom::boolean::boolean(a, b, crate::geom::boolean::Op::Intersection)
        .map_or(0.0, |i| i.unsigned_area() / smaller)
}

fn earlier_lead(
    tx: &mut Tx,
    lead: &Incoming,
    run_id: i64,
    min_overlap: f64,
) -> Result<Option<Link>> {
    let Some(e) = envelope(&lead.geom) else {
        return Ok(None);
    };
    let rows = tx
        .query(
            "SELECT l.JCBH, l.case_no, l.quarter, WKB(l.geom) FROM leads l WHERE BBOX(l, ?1, ?2, ?3, ?4) AND l.run_id != ?5",
            vals![e[0], e[1], e[2], e[3], run_id],
        )
        .map_err(sql)?;
    let mut best: Option<(String, f64, Link)> = None;
    for r in rows {
        let Some(g) = r.geom(3) else {
            continue;
        };
        let ratio = overlap_ratio(&lead.geom, &g);
        if ratio < min_overlap {
            continue;
        }
        let quarter = r.text(2).unwrap_or_default();
        let better = best
            .as_ref()
            .is_none_or(|(q, o, _)| (&quarter, ratio) > (q, *o));
        if better {
            let link = Link {
                jcbh: r.text(0).unwrap_or_default(),
                case_no: r.text(1).unwrap_or_default(),
                overlap: ratio,
                verified: false,
            };
            best = Some((quarter, ratio, link));
        }
    }
    let Some((_, _, mut link)) = best else {
        return Ok(None);
    };
    link.verified = tx
        .query_one(
            "SELECT 1 FROM leads WHERE case_no = ?1 AND verified IS NOT NULL",
            vals![&link.case_no],
        )
        .map_err(sql)?
        .is_some();
    Ok(Some(link))
}

#[allow(clippy::too_many_arguments)]
fn insert(
    tx: &mut Tx,
    lead: &Incoming,
    jcmj: f64,
    run_id: i64,
    quarter: Quarter,
    kind: &str,
    date: Date,
    deadline: Date,
    link: Option<&Link>,
) -> Result<()> {
    let env = envelope(&lead.geom).map_or([None; 4], |e| e.map(Some));
    let attrs = Value::Object(lead.attrs.clone()).to_string();
    let fid = tx
        .query_one(
            "INSERT INTO leads (geom, JCBH, XZQDM, quarter, kind, run_id, TBLX, JCMJ, QSX, HSX, QQJCBH, overlap, case_no, duplicate, PDYJ, GDMJ, YJJBNTMJ, STHXMJ, PZMJ, dispatched, deadline, attrs, minx, maxx, miny, maxy) \
             VALUES (GEOM(?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26) RETURNING fid",
            &[
                Val::Geom(lead.geom.clone()),
                Val::from(&lead.jcbh),
                Val::from(&lead.xzqdm),
                Val::from(quarter.to_string()),
                Val::from(kind),
                Val::from(run_id),
                Val::from(lead.tblx.as_ref()),
                Val::from(jcmj),
                Val::from(lead.qsx.as_ref()),
                Val::from(lead.hsx.as_ref()),
                Val::from(link.map(|l| &l.jcbh)),
                Val::from(link.map(|l| l.overlap)),
                Val::from(link.map_or(&lead.jcbh, |l| &l.case_no)),
                Val::from(link.is_some_and(|l| l.verified)),
                Val::from(text(&lead.attrs, "PDYJ")),
                Val::from(lead.real("GDMJ")),
                Val::from(lead.real("YJJBNTMJ")),
                Val::from(lead.real("STHXMJ")),
                Val::from(lead.real("PZMJ")),
                Val::from(date.to_string()),
                Val::from(deadline.to_string()),
                Val::from(attrs),
                Val::from(env[0]),
                Val::from(env[1]),
                Val::from(env[2]),
                Val::from(env[3]),
            ],
        )
        .map_err(sql)?
        .and_then(|r| r.int(0));
    if !tx.is_postgres()
        && let (Some(fid), [Some(x0), Some(x1), Some(y0), Some(y1)]) = (fid, env)
    {
        tx.execute(
            "INSERT INTO ledger_envelopes VALUES (?1, ?2, ?3, ?4, ?5)",
            vals![fid, x0, x1, y0, y1],
        )
        .map_err(sql)?;
    }
    Ok(())
}
