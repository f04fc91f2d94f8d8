//! The vector products of a synthetic scene: `truth.gpkg` (one polygon per truth component, with
//! its TBLX and the rule measures of its change object), `refs.gpkg` (DLTB, YJJBNTTB, STBHHX,
//! PZYD approvals, XZQ: the survey layers as a county would hold them) and `job.toml`.
//! Polygons come from the scene's rasters through tuban's own polygonizer, so they agree with
//! the rasters pixel for pixel.

use super::scene::{COUNTIES, Dlbm};
use super::write::{ObjectStats, SynthOptions};
use crate::error::{Error, Result};
use crate::output::gpkg::{Column, GpkgWriter, yes_no};
use crate::raster::writer::Georef;
use crate::stream::ProgressFn;
use crate::vectorize::geometry::{GeoTransform, to_world};
use crate::vectorize::source::{components, components_each};
use crate::vectorize::stitch::Component;
use geo::{Coord, LineString, MultiPolygon, Polygon};
use rusqlite::types::Value as Sql;
use std::path::Path;

use crate::MU_M2;

/// Write `truth.gpkg` and `refs.gpkg` (through hidden partial names, renamed at the end).
/// The polygons of `truth.gpkg`: one per connected piece of a change object (a road cut by a
/// crossing is two), and those of objects that qualify as leads.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct TruthCount {
    pub polygons: u64,
    pub lead_polygons: u64,
}

pub fn write_vectors(
    dir: &Path,
    aux: &Path,
    g: &Georef,
    objects: &[ObjectStats],
    counties: usize,
    progress: ProgressFn,
) -> Result<TruthCount> {
    let counties = &COUNTIES[..counties];
    let mut count = TruthCount::default();
    let gt = GeoTransform(g.geo_transform.unwrap_or([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]));
    let px_m2 = gt.pixel_area();
    let area = |c: &Component| c.pixels as f64 * px_m2;
    // truth.gpkg
    let tmp = crate::output::partial_path(&dir.join("truth.gpkg"));
    let _ = std::fs::remove_file(&tmp);
    let fields = [
        ("TBLX", Column::Text),
        ("kind", Column::Text),
        ("object_id", Column::Integer),
        ("pixels", Column::Integer),
        ("area_m2", Column::Real),
        ("area_mu", Column::Real),
        ("GDMJ", Column::Real),
        ("YJJBNTMJ", Column::Real),
        ("STHXMJ", Column::Real),
        ("XZQDM", Column::Text),
        ("approved", Column::Text),
        ("qualifies", Column::Text),
    ];
    let mut w = GpkgWriter::create(&tmp, "truth", &g.projection, &fields)?;
    let codes: Vec<f64> = super::scene::Change::ALL
        .iter()
        .map(|c| c.code() as f64)
        .collect();
    let truth = components(
        &dir.join("truth.tif"),
        &codes,
        Some(&aux.join("objects.tif")),
    )?;
    for (c, comps) in super::scene::Change::ALL.iter().zip(truth) {
        for comp in comps {
            // The component's object: the largest id it holds (components of one object are the
            // rule; two touching objects of one class share a polygon).
            let id = comp.evidence.max as u32;
            let o = objects.iter().find(|o| o.id == id);
            let geom = to_world(&comp.polygons, &gt);
            let num = |f: fn(&ObjectStats) -> f64| o.map_or(Sql::Null, |o| Sql::Real(f(o)));
            let values = vec![
                Sql::Text(c.tblx().into()),
                Sql::Text(c.describe().into()),
                Sql::Integer(id as i64),
                Sql::Integer(comp.pixels as i64),
                Sql::Real(area(&comp)),
                Sql::Real(area(&comp) / MU_M2),
                num(|o| o.arable_m2),
                num(|o| o.pbf_m2),
                num(|o| o.redline_m2),
                o.map_or(Sql::Null, |o| Sql::Text(o.county.into())),
                o.map_or(Sql::Null, |o| yes_no(o.approval.is_some())),
                o.map_or(Sql::Null, |o| yes_no(o.qualifies)),
            ];
            w.push(&geom, values)?;
            count.polygons += 1;
            count.lead_polygons += u64::from(o.is_some_and(|o| o.qualifies));
        }
    }
    w.finish()?;
    rename(&tmp, &dir.join("truth.gpkg"))?;
    progress("references", 1, 5);
    // refs.gpkg
    let tmp = crate::output::partial_path(&dir.join("refs.gpkg"));
    let _ = std::fs::remove_file(&tmp);
    let mut dltb = GpkgWriter::create(
        &tmp,
        "DLTB",
        &g.projection,
        &[
            ("DLBM", Column::Text),
            ("DLMC", Column::Text),
            ("ZLDWDM", Column::Text),
            ("TBMJ", Column::Real),
            ("TBDLMJ", Column::Real),
            ("KCXS", Column::Real),
        ],
    )?;
    let classes: Vec<(usize, Dlbm)> = (0..counties.len())
        .flat_map(|k| Dlbm::ALL.into_iter().map(move |d| (k, d)))
        .collect();
    let values: Vec<f64> = classes
        .iter()
        .map(|(k, d)| f64::from(super::write::landuse_code(d.raster(), *k as u8)))
        .collect();
    // Written as the rows complete them (a county's fields are most of a scene's polygons:
    // they are not held until the raster is traced).
    components_each(&aux.join("landuse.tif"), &values, None, |k, comp| {
        let (county, d) = classes[k];
        let (dlbm, dlmc) = d.code_name();
        let a = area(&comp);
        let values = vec![
            Sql::Text(dlbm.into()),
            Sql::Text(dlmc.into()),
            Sql::Text(format!("{}100001", counties[county].0)),
            Sql::Real(a),
            Sql::Real(a),
            Sql::Real(0.0),
        ];
        dltb.push(&to_world(&comp.polygons, &gt), values)
    })?;
    dltb.finish()?;
    progress("references", 2, 5);
    let mut pbf = GpkgWriter::create(
        &tmp,
        "YJJBNTTB",
        &g.projection,
        &[("JBNTMJ", Column::Real), ("XZQDM", Column::Text)],
    )?;
    let values: Vec<f64> = (1..=counties.len()).map(|k| k as f64).collect();
    components_each(&aux.join("pbf.tif"), &values, None, |k, comp| {
        pbf.push(
            &to_world(&comp.polygons, &gt),
            vec![Sql::Real(area(&comp)), Sql::Text(counties[k].0.into())],
        )
    })?;
    pbf.finish()?;
    let mut red = GpkgWriter::create(
        &tmp,
        "STBHHX",
        &g.projection,
        &[("HXMC", Column::Text), ("MJ", Column::Real)],
    )?;
    for comp in components(&aux.join("redline.tif"), &[1.0], None)?
        .into_iter()
        .flatten()
    {
        red.push(
            &to_world(&comp.polygons, &gt),
            vec![Sql::Text("生态保护红线".into()), Sql::Real(area(&comp))],
        )?;
    }
    red.finish()?;
    progress("references", 3, 5);
    let mut xzq = GpkgWriter::create(
        &tmp,
        "XZQ",
        &g.projection,
        &[("XZQDM", Column::Text), ("XZQMC", Column::Text)],
    )?;
    let pieces = components(&aux.join("county.tif"), &values, None)?;
    for ((code, name), comps) in counties.iter().zip(pieces) {
        for comp in comps {
            xzq.push(
                &to_world(&comp.polygons, &gt),
                vec![Sql::Text((*code).into()), Sql::Text((*name).into())],
            )?;
        }
    }
    xzq.finish()?;
    let mut pzyd = GpkgWriter::create(
        &tmp,
        "PZYD",
        &g.projection,
        &[
            ("PZWH", Column::Text),
            ("PZRQ", Column::Text),
            ("PZMJ", Column::Real),
            ("XZQDM", Column::Text),
        ],
    )?;
    for o in objects {
        if let Some((no, date)) = &o.approval {
            // The approved site: the object's extent, two pixels wider.
            let b = o.bbox_px;
            let (x0, y0, x1, y1) = (
                b[0] as f64 - 2.0,
                b[1] as f64 - 2.0,
                b[2] as f64 + 3.0,
                b[3] as f64 + 3.0,
            );
            let ring: Vec<Coord<f64>> = [(x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0)]
                .iter()
                .map(|&(x, y)| gt.apply_f64(x, y))
                .collect();
            let geom = MultiPolygon::new(vec![Polygon::new(LineString::new(ring), vec![])]);
            let a = (x1 - x0) * (y1 - y0) * px_m2;
            pzyd.push(
                &geom,
                vec![
                    Sql::Text(no.clone()),
                    Sql::Text(date.clone()),
                    Sql::Real(a),
                    Sql::Text(o.county.into()),
                ],
            )?;
        }
    }
    pzyd.finish()?;
    progress("references", 5, 5);
    rename(&tmp, &dir.join("refs.gpkg"))?;
    Ok(count)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| Error::Write {
        path: to.into(),
        reason: e.to_string(),
    })
}

/// `job.toml` for `tuban run` on this scene: imagery, layers and their fields, the quarter.
pub fn write_job(dir: &Path, opts: &SynthOptions) -> Result<()> {
    let text = format!(
        r#"# Job for `tuban run`, written by `tuban synth --size {size} --seed {seed}`.
quarter = "2024Q2"
out = "run"

[imagery]
before = "before.tif"
after = "after.tif"
before_date = "2024-03-20"
after_date = "2024-06-25"
bands = "B=1,G=2,R=3,NIR=4"

[layers.dltb]
path = "refs.gpkg"
layer = "DLTB"
class_field = "DLBM"
unit_field = "ZLDWDM"
arable_codes = ["0101", "0102", "0103"]

[layers.basic_farmland]
path = "refs.gpkg"
layer = "YJJBNTTB"

[layers.red_line]
path = "refs.gpkg"
layer = "STBHHX"

[layers.approvals]
path = "refs.gpkg"
layer = "PZYD"
date_field = "PZRQ"

[layers.counties]
path = "refs.gpkg"
layer = "XZQ"
code_field = "XZQDM"
name_field = "XZQMC"

[rules]
basic_farmland_mu = 5.0
arable_mu = 10.0
red_line = true
"#,
        size = opts.size,
        seed = opts.seed
    );
    crate::output::write_text(&dir.join("job.toml"), &text)
}
