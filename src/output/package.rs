//! The dispatch package of one county, cut from the overlay's GeoPackage: `tuban.gpkg` (layers
//! `leads` and `excluded`), `tuban.shp` (the leads, attributes in GBK by default with a .cpg
//! naming it), `leads.csv` (one row per lead) and `summary.csv` (count and mu per change type).
//! The folder is written as `.CODE.partial` and renamed when complete, so a folder named by its
//! county code is always whole.

use super::chips::ChipSource;
use super::gpkg::{Column, GpkgWriter};
use super::report::{ReportCoverage, ReportLead, county_report};
use super::vector::{FieldKind, Value, VectorWriter};
use crate::MU_M2;
use crate::coverage::{CountyCoverage, NotSeen};
use crate::error::{Error, Result};
use crate::job::Quarter;
use gdal::vector::LayerAccess;
use geo::MultiPolygon;
use rusqlite::types::Value as Sql;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One feature as read back: geometry and typed attributes.
pub(crate) struct Row {
    pub geom: MultiPolygon<f64>,
    pub values: Vec<Sql>,
}

/// A layer's columns (name, kind) and rows.
pub(crate) type Table = (Vec<(String, Column)>, Vec<Row>);

/// Column kinds of a layer and its polygon features (those of county `code` when given).
pub(crate) fn read(src: &Path, layer: &str, code: Option<&str>) -> Result<Table> {
    let open_err = |e: gdal::errors::GdalError| Error::open(src, e);
    let ds = gdal::Dataset::open(src).map_err(open_err)?;
    let mut l = ds.layer_by_name(layer).map_err(open_err)?;
    let cols: Vec<(String, Column)> = l
        .defn()
        .fields()
        .map(|f| {
            let c = match f.field_type() {
                gdal_sys::OGRFieldType::OFTInteger | gdal_sys::OGRFieldType::OFTInteger64 => {
                    Column::Integer
                }
                gdal_sys::OGRFieldType::OFTReal => Column::Real,
                _ => Column::Text,
            };
            (f.name(), c)
        })
        .collect();
    if let Some(code) = code {
        l.set_attribute_filter(&format!("XZQDM = '{}'", code.replace('\'', "''")))
            .map_err(open_err)?;
    }
    let mut rows = vec![];
    for f in l.features() {
        let Some(geom) = f
            .geometry()
            .and_then(|g| g.to_geo().ok())
            .and_then(|g| match g {
                geo::Geometry::MultiPolygon(m) => Some(m),
                geo::Geometry::Polygon(p) => Some(MultiPolygon::new(vec![p])),
                _ => None,
            })
        else {
            continue;
        };
        let values = cols
            .iter()
            .enumerate()
            .map(|(i, (_, c))| match c {
                Column::Integer => f
                    .field_as_integer64(i)
                    .ok()
                    .flatten()
                    .map_or(Sql::Null, Sql::Integer),
                Column::Real => f
                    .field_as_double(i)
                    .ok()
                    .flatten()
                    .map_or(Sql::Null, Sql::Real),
                Column::Text => f
                    .field_as_string(i)
                    .ok()
                    .flatten()
                    .map_or(Sql::Null, Sql::Text),
            })
            .collect();
        rows.push(Row { geom, values });
    }
    Ok((cols, rows))
}

/// Shapefile field names are at most 10 bytes: the long overlay fields get short names.
fn dbf_name(name: &str) -> String {
    match name {
        "YJJBNTMJ_MU" => "YJJBNT_MU".into(),
        "GDMJ_MU" | "JCMJ_MU" => name.into(),
        n if n.len() <= 10 => n.into(),
        n => n.chars().take(10).collect(),
    }
}

fn text_of(v: &Sql) -> String {
    match v {
        Sql::Null => String::new(),
        Sql::Integer(i) => i.to_string(),
        Sql::Real(r) => format!("{r}"),
        Sql::Text(t) => t.clone(),
        Sql::Blob(_) => String::new(),
    }
}

pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// What a county package holds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CountyPackage {
    pub code: String,
    pub dir: PathBuf,
    pub leads: usize,
    pub excluded: usize,
    pub lead_mu: f64,
    /// Share of the county seen clear by both dates (None without a coverage pass).
    pub clear_share: Option<f64>,
}

/// What every county package shares.
pub struct PackageContext<'a> {
    /// CRS of the polygons (WKT).
    pub projection: &'a str,
    /// Attribute encoding of the Shapefile ("GBK", "UTF-8").
    pub shp_encoding: &'a str,
    pub quarter: Quarter,
    /// Before and after imagery for the chips (none: no chips).
    pub chips: Option<(&'a ChipSource, &'a ChipSource)>,
}

/// Append a text column (if absent) and return its index.
pub(crate) fn text_column(cols: &mut Vec<(String, Column)>, rows: &mut [Row], name: &str) -> usize {
    column(cols, rows, name, Column::Text)
}

/// The index of column `name` of kind `kind`, added (NULL in every row) when missing.
pub(crate) fn column(
    cols: &mut Vec<(String, Column)>,
    rows: &mut [Row],
    name: &str,
    kind: Column,
) -> usize {
    if let Some(i) = cols.iter().position(|(n, _)| n == name) {
        return i;
    }
    cols.push((name.into(), kind));
    for r in rows.iter_mut() {
        r.values.push(Sql::Null);
    }
    cols.len() - 1
}

/// Write the package of county `code` from the overlay output `src` into `dir` (replaced when
/// it exists; built in `.CODE.partial` beside it and renamed when whole); `outline` is the
/// county's boundary for the report map (may be empty); `coverage` what the imagery saw of
/// the county (a `coverage` layer in tuban.gpkg and a section of the report).
///
/// # Errors
/// [`Error::Open`] when `src` or the imagery cannot be read, [`Error::Write`] naming the file
/// that failed.
pub fn write_county(
    src: &Path,
    code: &str,
    dir: &Path,
    ctx: &PackageContext,
    outline: &[MultiPolygon<f64>],
    coverage: Option<(&CountyCoverage, &[&NotSeen])>,
) -> Result<CountyPackage> {
    let staging = crate::output::partial_path(dir);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| Error::write(&staging, e))?;
    let gpkg = staging.join("tuban.gpkg");
    let (mut cols, mut leads) = read(src, "leads", Some(code))?;
    let (xcols, excluded) = read(src, "excluded", Some(code))?;
    let (projection, shp_encoding) = (ctx.projection, ctx.shp_encoding);
    // Chips, named by JCBH; their relative paths go into QSIMG / HSIMG.
    let jcbh_at = cols.iter().position(|(n, _)| n == "JCBH");
    let qs = text_column(&mut cols, &mut leads, "QSIMG");
    let hs = text_column(&mut cols, &mut leads, "HSIMG");
    if let (Some((before, after)), Some(j)) = (ctx.chips, jcbh_at) {
        use rayon::prelude::*;
        std::fs::create_dir_all(staging.join("chips")).map_err(|e| Error::write(&staging, e))?;
        // Drawn on every core, each worker with its own handles on the two images.
        let recipes = (before.recipe(), after.recipe());
        let before_path = before.path().to_path_buf();
        let drawn: Vec<Option<[String; 2]>> = leads
            .par_iter()
            .map_init(
                || Ok::<_, Error>((recipes.0.open()?, recipes.1.open()?)),
                |handles, r| {
                    let Sql::Text(jcbh) = &r.values[j] else {
                        return Ok(None);
                    };
                    // A failed reopen names its file; every lead of the worker reports it.
                    let (b, a) = handles.as_ref().map_err(|e| Error::Open {
                        path: before_path.clone(),
                        reason: e.to_string(),
                    })?;
                    let mut rel = [String::new(), String::new()];
                    for (k, (img, tag)) in [(b, "QS"), (a, "HS")].into_iter().enumerate() {
                        rel[k] = format!("chips/{jcbh}_{tag}.png");
                        img.write(&r.geom, &staging.join(&rel[k]))?;
                    }
                    Ok(Some(rel))
                },
            )
            .collect::<Result<_>>()?;
        for (r, d) in leads.iter_mut().zip(drawn) {
            if let Some([q, h]) = d {
                r.values[qs] = Sql::Text(q);
                r.values[hs] = Sql::Text(h);
            }
        }
    }
    for (table, cols, rows) in [("leads", &cols, &leads), ("excluded", &xcols, &excluded)] {
        let c: Vec<(&str, Column)> = cols.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        let mut w = GpkgWriter::create(&gpkg, table, projection, &c)?;
        for r in rows.iter() {
            w.push(&r.geom, r.values.clone())?;
        }
        w.finish()?;
    }
    if let Some((row, parts)) = coverage {
        write_coverage_layer(&gpkg, projection, row, parts)?;
    }
    // The leads as a Shapefile.
    let names: Vec<String> = cols.iter().map(|(n, _)| dbf_name(n)).collect();
    let kinds: Vec<(&str, FieldKind)> = names
        .iter()
        .zip(&cols)
        .map(|(n, (_, c))| {
            let k = match c {
                Column::Integer => FieldKind::Integer,
                Column::Real => FieldKind::Real,
                Column::Text => FieldKind::Text,
            };
            (n.as_str(), k)
        })
        .collect();
    let mut shp = VectorWriter::create_encoded(
        &staging.join("tuban.shp"),
        "tuban",
        projection,
        &kinds,
        shp_encoding,
    )?;
    for r in &leads {
        let values = r
            .values
            .iter()
            .map(|v| match v {
                Sql::Integer(i) => Value::Integer(*i),
                Sql::Real(x) => Value::Real(*x),
                Sql::Text(t) => Value::Text(t.clone()),
                _ => Value::Null,
            })
            .collect();
        shp.push(r.geom.clone(), values)?;
    }
    shp.finish()?;
    // CSVs (UTF-8 with a byte-order mark, so spreadsheet software reads the Chinese text).
    let at = |n: &str| cols.iter().position(|(c, _)| c == n);
    let pick = |r: &Row, n: &str| at(n).map(|i| text_of(&r.values[i])).unwrap_or_default();
    let keys = [
        "JCBH",
        "XZQDM",
        "XMC",
        "TBLX",
        "confidence",
        "JCMJ",
        "JCMJ_MU",
        "GDMJ",
        "YJJBNTMJ",
        "STHXMJ",
        "SFYN",
        "SFHX",
        "YXJ",
        "PDYJ",
        "LXYJ",
    ];
    let mut csv = String::from("\u{feff}");
    csv.push_str(&keys.join(","));
    csv.push('\n');
    let mut by_type: BTreeMap<String, (usize, f64, f64, f64)> = BTreeMap::new();
    for r in &leads {
        let line: Vec<String> = keys.iter().map(|k| csv_field(&pick(r, k))).collect();
        csv.push_str(&line.join(","));
        csv.push('\n');
        let num = |k: &str| pick(r, k).parse::<f64>().unwrap_or(0.0);
        let ty = match pick(r, "TBLX") {
            t if t.is_empty() => "untyped".to_string(),
            t => t,
        };
        let e = by_type.entry(ty).or_default();
        e.0 += 1;
        e.1 += num("JCMJ") / MU_M2;
        e.2 += num("GDMJ") / MU_M2;
        e.3 += num("YJJBNTMJ") / MU_M2;
    }
    let mut summary = String::from("\u{feff}TBLX,leads,JCMJ_mu,GDMJ_mu,YJJBNTMJ_mu\n");
    for (t, (n, a, g, y)) in &by_type {
        let _ = writeln!(summary, "{t},{n},{a:.4},{g:.4},{y:.4}");
    }
    let (lead_mu, g, y) = by_type
        .values()
        .fold((0.0, 0.0, 0.0), |t, e| (t.0 + e.1, t.1 + e.2, t.2 + e.3));
    let _ = writeln!(summary, "total,{},{lead_mu:.4},{g:.4},{y:.4}", leads.len());
    let name_of = leads.first().map(|r| pick(r, "XMC")).unwrap_or_default();
    let report_leads: Vec<ReportLead> = leads
        .iter()
        .map(|r| {
            let num = |k: &str| pick(r, k).parse::<f64>().unwrap_or(0.0);
            let path = |k: &str| Some(pick(r, k)).filter(|p| !p.is_empty());
            ReportLead {
                geom: &r.geom,
                jcbh: pick(r, "JCBH"),
                tblx: pick(r, "TBLX"),
                confidence: pick(r, "confidence").parse::<f64>().ok(),
                type_reasons: pick(r, "LXYJ"),
                area_m2: num("JCMJ"),
                arable_m2: num("GDMJ"),
                basic_farmland_m2: num("YJJBNTMJ"),
                red_line_m2: num("STHXMJ"),
                sfyn: pick(r, "SFYN"),
                sfhx: pick(r, "SFHX"),
                reasons: pick(r, "PDYJ"),
                before_chip: path("QSIMG"),
                after_chip: path("HSIMG"),
            }
        })
        .collect();
    let excluded_geoms: Vec<&MultiPolygon<f64>> = excluded.iter().map(|r| &r.geom).collect();
    let report = county_report(
        code,
        &name_of,
        ctx.quarter,
        &report_leads,
        &excluded_geoms,
        outline,
        coverage
            .map(|(row, parts)| ReportCoverage {
                row,
                not_seen: parts.iter().map(|p| (p.reason, &p.geom)).collect(),
            })
            .as_ref(),
    );
    for (name, text) in [
        ("leads.csv", &csv),
        ("summary.csv", &summary),
        ("report.html", &report),
    ] {
        std::fs::write(staging.join(name), text)
            .map_err(|e| Error::write(staging.join(name), e))?;
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&staging, dir).map_err(|e| Error::write(dir, e))?;
    Ok(CountyPackage {
        code: code.into(),
        dir: dir.into(),
        leads: leads.len(),
        excluded: excluded.len(),
        lead_mu,
        clear_share: coverage.map(|(row, _)| row.clear_share),
    })
}

/// The fields of a coverage layer: county code, why not seen (English and Chinese), area.
pub const COVERAGE_FIELDS: [(&str, Column); 5] = [
    ("XZQDM", Column::Text),
    ("reason", Column::Text),
    ("YY", Column::Text),
    ("area_m2", Column::Real),
    ("area_km2", Column::Real),
];

/// The row of one not-seen part in a coverage layer.
pub fn coverage_values(code: &str, p: &NotSeen) -> Vec<Sql> {
    vec![
        Sql::Text(code.into()),
        Sql::Text(p.reason.label().into()),
        Sql::Text(p.reason.label_zh().into()),
        Sql::Real(crate::output::vector::decimals(p.area_m2, 2)),
        Sql::Real(crate::output::vector::decimals(p.area_m2 / 1e6, 6)),
    ]
}

/// Add the `coverage` table (what the imagery did not see of one county) to a GeoPackage.
fn write_coverage_layer(
    gpkg: &Path,
    projection: &str,
    row: &CountyCoverage,
    parts: &[&NotSeen],
) -> Result<()> {
    let mut w = GpkgWriter::create(gpkg, "coverage", projection, &COVERAGE_FIELDS)?;
    for p in parts {
        w.push(&p.geom, coverage_values(&row.code, p))?;
    }
    w.finish()
}
