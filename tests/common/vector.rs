//! Vector helpers for overlay tests: GeoPackage layers from shapes, rows of an output layer,
//! and the `tuban overlay` runner.

use super::cli::tuban;
use gdal::spatial_ref::SpatialRef;
use gdal::vector::LayerAccess;
use geo::{Coord, MultiPolygon, Rect};
use rusqlite::types::Value as Sql;
use std::collections::BTreeMap;
use std::path::Path;
use tuban::output::gpkg::{Column, GpkgWriter};

/// Origin of hand-made shapes: CGCS2000 3-degree GK zone 39 (EPSG:4527), zone-prefixed.
pub const X0: f64 = 39_500_000.0;
pub const Y0: f64 = 3_500_000.0;
/// Real layers bundled for the tests (see testdata/README.md).
pub const REAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/real-geo");

pub fn wkt_of(epsg: u32) -> String {
    SpatialRef::from_epsg(epsg).unwrap().to_wkt().unwrap()
}

/// A rectangle in metres from (X0, Y0).
pub fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
    MultiPolygon::new(vec![
        Rect::new(
            Coord {
                x: X0 + x0,
                y: Y0 + y0,
            },
            Coord {
                x: X0 + x1,
                y: Y0 + y1,
            },
        )
        .to_polygon(),
    ])
}

/// Write a polygon layer with text attributes into a GeoPackage (created or extended).
pub fn write_layer(
    path: &Path,
    table: &str,
    wkt: &str,
    fields: &[&str],
    feats: &[(MultiPolygon<f64>, Vec<&str>)],
) {
    let cols: Vec<(&str, Column)> = fields.iter().map(|f| (*f, Column::Text)).collect();
    let mut w = GpkgWriter::create(path, table, wkt, &cols).unwrap();
    for (g, v) in feats {
        w.push(g, v.iter().map(|s| Sql::Text(s.to_string())).collect())
            .unwrap();
    }
    w.finish().unwrap();
}

/// A vector dataset (a file, or a connection string such as `PG:...`, which GDAL would
/// otherwise also probe for rasters).
pub fn open_vector(path: impl AsRef<Path>) -> gdal::Dataset {
    super::open_with(path, gdal::GdalOpenFlags::GDAL_OF_VECTOR)
}

/// Every feature of a layer as field -> text.
pub fn rows(path: &Path, layer: &str) -> Vec<BTreeMap<String, String>> {
    let ds = open_vector(path);
    let mut l = ds.layer_by_name(layer).unwrap();
    let names: Vec<String> = l.defn().fields().map(|f| f.name()).collect();
    l.features()
        .map(|f| {
            names
                .iter()
                .enumerate()
                .filter_map(|(i, n)| f.field_as_string(i).ok().flatten().map(|v| (n.clone(), v)))
                .collect()
        })
        .collect()
}

pub fn text_field(f: &gdal::vector::Feature, name: &str) -> String {
    f.field_as_string(f.field_index(name).unwrap())
        .unwrap()
        .unwrap()
}

pub fn real_field(f: &gdal::vector::Feature, name: &str) -> f64 {
    f.field_as_double(f.field_index(name).unwrap())
        .unwrap()
        .unwrap()
}

pub fn num(r: &BTreeMap<String, String>, k: &str) -> f64 {
    r.get(k).map_or(0.0, |v| v.parse().unwrap())
}

pub fn overlay(changes: &Path, job: &Path, out: &Path) -> (i32, String, String) {
    tuban(&[
        "overlay",
        "--changes",
        changes.to_str().unwrap(),
        "--job",
        job.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}
