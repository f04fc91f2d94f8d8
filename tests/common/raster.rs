//! Writing test rasters with GDAL.

use gdal::DriverManager;
use gdal::raster::{Buffer, GdalType};
use std::path::Path;

/// Georeference of test scenes: CGCS2000 / 3-degree Gauss-Krüger zone 39 (EPSG:4527), 0.8 m.
pub const GT: [f64; 6] = [39_500_000.0, 0.8, 0.0, 3_400_000.0, 0.0, -0.8];

/// Shape and georeference of a test raster.
#[derive(Clone, Copy)]
pub struct Spec {
    pub width: usize,
    pub height: usize,
    pub bands: usize,
    pub gt: Option<[f64; 6]>,
    pub epsg: Option<u32>,
    pub nodata: Option<f64>,
}

impl Spec {
    /// A georeferenced EPSG:4527 raster on [`GT`] without nodata.
    pub fn gk(width: usize, height: usize, bands: usize) -> Self {
        Spec {
            width,
            height,
            bands,
            gt: Some(GT),
            epsg: Some(4527),
            nodata: None,
        }
    }
}

/// Write band-sequential `data` as a GeoTIFF of type `T`.
pub fn write_tif<T: GdalType + Copy>(
    path: &Path,
    spec: Spec,
    data: &[f32],
    convert: impl Fn(f32) -> T,
) {
    let Spec {
        width,
        height,
        bands,
        gt,
        epsg,
        nodata,
    } = spec;
    let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = drv
        .create_with_band_type::<T, _>(path, width, height, bands)
        .unwrap();
    if let Some(gt) = gt {
        ds.set_geo_transform(&gt).unwrap();
    }
    if let Some(code) = epsg {
        let srs = gdal::spatial_ref::SpatialRef::from_epsg(code).unwrap();
        ds.set_spatial_ref(&srs).unwrap();
    }
    let n = width * height;
    for b in 0..bands {
        let mut band = ds.rasterband(b + 1).unwrap();
        if let Some(nd) = nodata {
            band.set_no_data_value(Some(nd)).unwrap();
        }
        let plane: Vec<T> = data[b * n..(b + 1) * n]
            .iter()
            .map(|&v| convert(v))
            .collect();
        let mut buf = Buffer::new((width, height), plane);
        band.write((0, 0), (width, height), &mut buf).unwrap();
    }
}

/// Read band 1 of a raster as u8.
pub fn read_u8(path: &Path) -> (usize, usize, Vec<u8>) {
    let ds = gdal::Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    let buf = ds
        .rasterband(1)
        .unwrap()
        .read_as::<u8>((0, 0), (w, h), (w, h), None)
        .unwrap();
    (w, h, buf.data().to_vec())
}

/// Read band 1 of a raster as f32.
pub fn read_f32(path: &Path) -> Vec<f32> {
    let ds = gdal::Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    ds.rasterband(1)
        .unwrap()
        .read_as::<f32>((0, 0), (w, h), (w, h), None)
        .unwrap()
        .data()
        .to_vec()
}

/// The first column of the first row of an OGR SQL query, as f64.
pub fn sql_f64(ds: &gdal::Dataset, sql: &str) -> Option<f64> {
    use gdal::vector::LayerAccess;
    ds.execute_sql(sql, None, gdal::vector::sql::Dialect::DEFAULT)
        .ok()??
        .features()
        .next()
        .and_then(|f| f.field_as_double(0).ok().flatten())
}
