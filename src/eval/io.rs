//! Reading evaluation inputs through GDAL: rasters (masks or class codes) and vector layers
//! (GeoPackage, Shapefile, ... rasterized onto the evaluation grid, one object per feature, type
//! from a TBLX field), in any combination.

use super::objects::{ObjectLayer, components};
use crate::error::{Error, Result};
use gdal::Dataset;
use gdal::raster::{Buffer, RasterizeOptions};
use gdal::vector::LayerAccess;
use rustc_hash::FxHashMap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Largest grid evaluated in memory.
const MAX_PIXELS: usize = 1 << 30;

/// The evaluation grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub width: usize,
    pub height: usize,
    pub geo_transform: [f64; 6],
    pub projection: String,
    /// The file the grid is taken from (named when another input does not fit it).
    pub source: std::path::PathBuf,
}

impl Grid {
    /// Ground area of one pixel in m² (projected: exact; geographic: at the grid's central
    /// latitude on a sphere of the ellipsoid's mean radius; no CRS: 1 "pixel").
    pub fn pixel_area_m2(&self) -> f64 {
        let g = &self.geo_transform;
        let a = (g[1] * g[5] - g[2] * g[4]).abs();
        match gdal::spatial_ref::SpatialRef::from_wkt(&self.projection) {
            Ok(s) if s.is_projected() => a * s.linear_units().powi(2),
            Ok(s) if s.is_geographic() => {
                let lat = (g[3] + g[5] * self.height as f64 / 2.0).to_radians();
                let m = 6_371_008.8f64.to_radians();
                a * m * m * lat.cos()
            }
            _ => 1.0,
        }
    }
}

/// What was loaded for one side.
pub struct Loaded {
    pub layer: ObjectLayer,
    /// Pixels that are nodata on this side (not scored).
    pub nodata: Vec<bool>,
    /// A vector layer's feature ids, one per object (empty for a raster).
    pub fids: Vec<u64>,
}

fn is_raster(ds: &Dataset) -> bool {
    ds.raster_count() > 0
}

fn raster_grid(ds: &Dataset, source: &Path) -> Grid {
    let (width, height) = ds.raster_size();
    Grid {
        width,
        height,
        geo_transform: ds.geo_transform().unwrap_or([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
        projection: ds.projection(),
        source: source.into(),
    }
}

/// The grid both inputs are compared on: the truth raster's, else the prediction raster's, else
/// (two vector layers) the truth layer's extent at `pixel_size`.
///
/// # Errors
/// [`Error::Param`] when two vector layers come without a pixel size; [`Error::GridMismatch`]
/// when two rasters differ in size.
pub fn grid_for(pred: &Path, truth: &Path, pixel_size: Option<f64>) -> Result<Grid> {
    let (dp, dt) = (
        crate::raster::open_dataset(pred)?,
        crate::raster::open_dataset(truth)?,
    );
    match (is_raster(&dp), is_raster(&dt)) {
        (_, true) => {
            let g = raster_grid(&dt, truth);
            if is_raster(&dp) && dp.raster_size() != (g.width, g.height) {
                let (w, h) = dp.raster_size();
                return Err(Error::GridMismatch {
                    first: pred.into(),
                    second: truth.into(),
                    what: format!(
                        "prediction is {w}x{h} pixels, truth {}x{}",
                        g.width, g.height
                    ),
                });
            }
            Ok(g)
        }
        (true, false) => Ok(raster_grid(&dp, pred)),
        (false, false) => {
            let px = pixel_size
                .filter(|p| *p > 0.0)
                .ok_or_else(|| Error::Param {
                    name: "pixel-size",
                    reason: format!(
                        "{} and {} are both vector layers: give --pixel-size (CRS units)",
                        pred.display(),
                        truth.display()
                    ),
                })?;
            let layer = dt.layer(0).map_err(|e| Error::Open {
                path: truth.into(),
                reason: e.to_string(),
            })?;
            let env = layer.get_extent().map_err(|e| Error::Open {
                path: truth.into(),
                reason: e.to_string(),
            })?;
            let width = ((env.MaxX - env.MinX) / px).ceil().max(1.0) as usize;
            let height = ((env.MaxY - env.MinY) / px).ceil().max(1.0) as usize;
            let projection = layer
                .spatial_ref()
                .and_then(|s| s.to_wkt().ok())
                .unwrap_or_default();
            Ok(Grid {
                width,
                height,
                geo_transform: [env.MinX, px, 0.0, env.MaxY, 0.0, -px],
                projection,
                source: truth.into(),
            })
        }
    }
}

/// Load one side onto `grid`.
///
/// # Errors
/// [`Error::Open`] naming the file; [`Error::Param`] when the grid is too large to score in
/// memory.
pub fn load(path: &Path, grid: &Grid) -> Result<Loaded> {
    let n = grid.width * grid.height;
    if n > MAX_PIXELS {
        return Err(Error::Param {
            name: "eval",
            reason: format!(
                "{}: {n} pixels is more than eval holds in memory ({MAX_PIXELS}); evaluate per tile or county",
                path.display()
            ),
        });
    }
    let ds = crate::raster::open_dataset(path)?;
    let err = |e: gdal::errors::GdalError| Error::Open {
        path: path.into(),
        reason: e.to_string(),
    };
    if is_raster(&ds) {
        same_crs(&ds, path, grid)?;
        let band = ds.rasterband(1).map_err(err)?;
        let nd = band.no_data_value();
        let v = read_on_grid(&ds, path, grid, 1)?;
        one_layer_of_values(&ds, path, grid, &v)?;
        if matches!(
            band.band_type(),
            gdal::raster::GdalDataType::Float32 | gdal::raster::GdalDataType::Float64
        ) && let Some(x) = v
            .iter()
            .find(|&&x| x.is_finite() && nd != Some(x) && x.fract() != 0.0)
        {
            return Err(Error::Open {
                path: path.into(),
                reason: format!(
                    "float values such as {x}: a probability or evidence raster, not a mask or class codes; threshold it first (gdal_calc.py --calc \"A>0.5\") or give tuban's change.tif"
                ),
            });
        }
        let nodata: Vec<bool> = v
            .iter()
            .map(|&x| x.is_nan() || nd.is_some_and(|d| x == d))
            .collect();
        // tuban's own change.tif: its classes are kinds of evidence, not change types.
        let plain_mask =
            gdal::Metadata::metadata_item(&band, crate::change::CHANGE_CLASSES_KEY, "").is_some();
        let codes: Vec<u32> = v
            .iter()
            .zip(&nodata)
            .map(|(&x, &bad)| {
                if bad || x == 0.0 {
                    0
                } else if plain_mask {
                    1
                } else {
                    x.abs().min(u32::MAX as f64).max(1.0) as u32
                }
            })
            .collect();
        let mut names = FxHashMap::default();
        for entry in gdal::Metadata::metadata(&band) {
            if let Some(code) = entry
                .key
                .strip_prefix("CLASS_")
                .and_then(|c| c.parse::<u32>().ok())
            {
                names.insert(code, entry.value.clone());
            }
        }
        return Ok(Loaded {
            layer: components(&codes, grid.width, &names),
            nodata,
            fids: Vec::new(),
        });
    }
    rasterize_layer(&ds, path, grid)
}

/// A raster in another CRS than the grid's is refused (its pixels would be compared with the
/// wrong ground); one CRS written another way (an EPSG code and its PROJ string) is the same.
fn same_crs(ds: &Dataset, path: &Path, grid: &Grid) -> Result<()> {
    use crate::raster::crs::{CrsMatch, compare};
    let (own, theirs) = (ds.projection(), &grid.projection);
    if own.is_empty() || theirs.is_empty() {
        return Ok(());
    }
    let size = (grid.width, grid.height);
    if !matches!(
        compare(theirs, &own, grid.geo_transform, size),
        CrsMatch::Differ { .. }
    ) {
        return Ok(());
    }
    let srs = |w: &str| gdal::spatial_ref::SpatialRef::from_wkt(w).ok();
    let (a, b) = (srs(&own), srs(theirs));
    let name = |s: Option<gdal::spatial_ref::SpatialRef>| {
        s.map(|s| match (s.auth_name(), s.auth_code()) {
            (Some(n), Ok(c)) => format!("{n}:{c}"),
            _ => s.name().unwrap_or_else(|| "an unnamed CRS".into()),
        })
        .unwrap_or_else(|| "an unreadable CRS".into())
    };
    Err(Error::GridMismatch {
        first: path.into(),
        second: grid.source.clone(),
        what: format!("the first is in {}, the second in {}", name(a), name(b)),
    })
}

/// A raster of several bands is scored only when they all hold the same values (a grey label
/// saved as RGB); otherwise it is an image, not a mask. Alpha bands do not count.
fn one_layer_of_values(ds: &Dataset, path: &Path, grid: &Grid, first: &[f64]) -> Result<()> {
    let bands: Vec<usize> = (1..=ds.raster_count())
        .filter(|&b| {
            ds.rasterband(b).is_ok_and(|band| {
                band.color_interpretation() != gdal::raster::ColorInterpretation::AlphaBand
            })
        })
        .collect();
    for &b in bands.iter().skip(1) {
        if read_on_grid(ds, path, grid, b)? != first {
            return Err(Error::Open {
                path: path.into(),
                reason: format!(
                    "{} bands that differ (band {b} is not band 1): an image, not a mask or class raster; eval scores a single band (gdal_translate -b N to pick one)",
                    bands.len()
                ),
            });
        }
    }
    Ok(())
}

/// Band `b` of a raster on the evaluation grid: the same pixel size, whole-pixel offsets
/// allowed (pixels outside the raster read as 0), but some overlap. Other grids are refused
/// rather than resampled.
fn read_on_grid(ds: &Dataset, path: &Path, grid: &Grid, b: usize) -> Result<Vec<f64>> {
    let err = |e: gdal::errors::GdalError| Error::Open {
        path: path.into(),
        reason: e.to_string(),
    };
    let (w, h) = ds.raster_size();
    const NONE: [f64; 6] = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    let gt = ds.geo_transform().unwrap_or(NONE);
    let g = &grid.geo_transform;
    let off_grid = |what: String| Error::Open {
        path: path.into(),
        reason: format!("not on the evaluation grid: {what}"),
    };
    if gt == NONE || *g == NONE {
        // Without georeference on either side, pixel grids must simply match.
        if (w, h) != (grid.width, grid.height) {
            return Err(off_grid(format!(
                "{w}x{h} pixels, the grid has {}x{}",
                grid.width, grid.height
            )));
        }
        let mut out = vec![0.0f64; w * h];
        ds.rasterband(b)
            .map_err(err)?
            .read_into_slice((0, 0), (w, h), (w, h), &mut out, None)
            .map_err(err)?;
        return Ok(out);
    }
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300);
    let (dx, dy) = ((g[0] - gt[0]) / gt[1], (g[3] - gt[3]) / gt[5]);
    if !close(gt[1], g[1])
        || !close(gt[5], g[5])
        || (dx - dx.round()).abs() > 1e-3
        || (dy - dy.round()).abs() > 1e-3
    {
        return Err(off_grid(format!(
            "pixel {} x {} at ({}, {}), grid pixel {} x {} at ({}, {})",
            gt[1], gt[5], gt[0], gt[3], g[1], g[5], g[0], g[3]
        )));
    }
    // The evaluation grid's origin in this raster's pixels, and the overlap of the two.
    let (ox, oy) = (dx.round() as i64, dy.round() as i64);
    let x0 = ox.max(0);
    let y0 = oy.max(0);
    let x1 = (ox + grid.width as i64).min(w as i64);
    let y1 = (oy + grid.height as i64).min(h as i64);
    if x1 <= x0 || y1 <= y0 {
        return Err(Error::GridMismatch {
            first: path.into(),
            second: grid.source.clone(),
            what: format!(
                "they do not overlap: the first spans x {:.1} to {:.1}, y {:.1} to {:.1}; the second x {:.1} to {:.1}, y {:.1} to {:.1}",
                gt[0],
                gt[0] + gt[1] * w as f64,
                gt[3] + gt[5] * h as f64,
                gt[3],
                g[0],
                g[0] + g[1] * grid.width as f64,
                g[3] + g[5] * grid.height as f64,
                g[3]
            ),
        });
    }
    let mut out = vec![0.0f64; grid.width * grid.height];
    let (rw, rh) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let mut v = vec![0.0f64; rw * rh];
    ds.rasterband(b)
        .map_err(err)?
        .read_into_slice((x0 as isize, y0 as isize), (rw, rh), (rw, rh), &mut v, None)
        .map_err(err)?;
    let (gx, gy) = ((x0 - ox) as usize, (y0 - oy) as usize);
    for r in 0..rh {
        out[(gy + r) * grid.width + gx..(gy + r) * grid.width + gx + rw]
            .copy_from_slice(&v[r * rw..(r + 1) * rw]);
    }
    Ok(out)
}

fn rasterize_layer(ds: &Dataset, path: &Path, grid: &Grid) -> Result<Loaded> {
    let err = |e: gdal::errors::GdalError| Error::Open {
        path: path.into(),
        reason: e.to_string(),
    };
    let mut layer = ds.layer(0).map_err(err)?;
    let tblx = layer
        .defn()
        .fields()
        .map(|f| f.name())
        .find(|n| n.eq_ignore_ascii_case("TBLX"));
    // Reproject only between real (geographic or projected) CRSs; pixel-unit layers written for
    // rasters without georeference are already on the grid.
    // Coordinates are x/y (easting/northing, lon/lat) on both sides, whatever the EPSG axis
    // order (CGCS2000 Gauss-Krüger declares northing first).
    let gis_order = |mut s: gdal::spatial_ref::SpatialRef| {
        s.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
        s
    };
    let earthly = |s: &gdal::spatial_ref::SpatialRef| s.is_geographic() || s.is_projected();
    let target = (!grid.projection.is_empty())
        .then(|| gdal::spatial_ref::SpatialRef::from_wkt(&grid.projection).ok())
        .flatten()
        .filter(earthly)
        .map(gis_order);
    let source = layer.spatial_ref().filter(earthly).map(gis_order);
    let mut geoms = Vec::new();
    let mut kinds = Vec::new();
    let mut fids = Vec::new();
    for f in layer.features() {
        let Some(g) = f.geometry() else { continue };
        fids.push(f.fid().unwrap_or(geoms.len() as u64));
        let mut g = g.clone();
        if let (Some(s), Some(t)) = (&source, &target) {
            if s != t {
                g = g.transform_to(t).map_err(err)?;
            }
        }
        let kind = match &tblx {
            Some(name) => f
                .field_index(name)
                .ok()
                .and_then(|i| f.field_as_string(i).ok().flatten())
                .unwrap_or_default(),
            None => String::new(),
        };
        geoms.push(g);
        kinds.push(kind);
    }
    // Polygons that all lie off the grid are another place (or a layer without its CRS), not
    // a prediction of no change.
    let g = &grid.geo_transform;
    let (gx0, gx1) = (g[0], g[0] + g[1] * grid.width as f64);
    let (gy0, gy1) = (g[3] + g[5] * grid.height as f64, g[3]);
    let (gx0, gx1, gy0, gy1) = (gx0.min(gx1), gx0.max(gx1), gy0.min(gy1), gy0.max(gy1));
    if !geoms.is_empty()
        && geoms.iter().all(|geom| {
            let e = geom.envelope();
            e.MaxX < gx0 || e.MinX > gx1 || e.MaxY < gy0 || e.MinY > gy1
        })
    {
        return Err(Error::GridMismatch {
            first: path.into(),
            second: grid.source.clone(),
            what: format!(
                "none of the first's {} polygons lies on the second's grid (x {gx0:.1} to {gx1:.1}, y {gy0:.1} to {gy1:.1}): another place, or a layer without its CRS",
                geoms.len()
            ),
        });
    }
    let drv = gdal::DriverManager::get_driver_by_name("MEM").map_err(err)?;
    let mut mem = drv
        .create_with_band_type::<u32, _>("", grid.width, grid.height, 1)
        .map_err(err)?;
    mem.set_geo_transform(&grid.geo_transform).map_err(err)?;
    if !grid.projection.is_empty() {
        mem.set_projection(&grid.projection).map_err(err)?;
    }
    if !geoms.is_empty() {
        let burn: Vec<f64> = (1..=geoms.len()).map(|i| i as f64).collect();
        gdal::raster::rasterize(
            &mut mem,
            &[1],
            &geoms,
            &burn,
            Some(RasterizeOptions::default()),
        )
        .map_err(err)?;
    }
    let size = (grid.width, grid.height);
    let buf: Buffer<u32> = mem
        .rasterband(1)
        .map_err(err)?
        .read_as::<u32>((0, 0), size, size, None)
        .map_err(err)?;
    let ids = buf.data().to_vec();
    Ok(Loaded {
        layer: ObjectLayer { ids, kinds },
        nodata: vec![false; grid.width * grid.height],
        fids,
    })
}

/// The pixels that count: data on both sides, and not set aside by a mask: with
/// `keep_nonzero` false a mask's nonzero pixels are not scored (`--ignore`: clouds), with true
/// only they are (`--scored`: labelled pixels).
pub fn scored_pixels(truth: &Loaded, pred: &Loaded, masks: &[(&Loaded, bool)]) -> Vec<bool> {
    let mut scored: Vec<bool> = truth
        .nodata
        .iter()
        .zip(&pred.nodata)
        .map(|(t, p)| !t && !p)
        .collect();
    for (m, keep_nonzero) in masks {
        for (s, id) in scored.iter_mut().zip(&m.layer.ids) {
            if (*id != 0) != *keep_nonzero {
                *s = false;
            }
        }
    }
    scored
}

/// What `tuban eval` scores: a prediction against truth, read from files (rasters or polygon
/// layers, any mix).
#[derive(Clone, Debug)]
pub struct EvalFiles {
    pub pred: PathBuf,
    pub truth: PathBuf,
    /// Raster on the grid whose non-zero pixels are not scored (unlabelled).
    pub ignore: Option<PathBuf>,
    /// Raster on the grid whose non-zero pixels are the only ones scored.
    pub scored: Option<PathBuf>,
    /// Pixel size (CRS units) of the grid when both inputs are vector layers.
    pub pixel_size: Option<f64>,
    /// Types scored as one: each name on the left becomes the one on the right, on both sides.
    pub merge: HashMap<String, String>,
    pub options: super::EvalOptions,
    /// Also give the verdict a field check would give each predicted polygon.
    pub verdicts: bool,
}

/// A `--merge` rule "DL1,DL2=DL" (several types scored as one) added to `merge`.
///
/// # Errors
/// [`Error::Param`] for text that is not TYPES=NAME.
pub fn parse_merge(rule: &str, merge: &mut HashMap<String, String>) -> Result<()> {
    let (from, to) = rule
        .split_once('=')
        .filter(|(f, t)| !f.trim().is_empty() && !t.trim().is_empty())
        .ok_or_else(|| Error::Param {
            name: "merge",
            reason: format!("--merge {rule:?}: expected TYPES=NAME, e.g. DL1,DL2=DL"),
        })?;
    for f in from.split(',') {
        merge.insert(f.trim().to_string(), to.trim().to_string());
    }
    Ok(())
}

/// Score `job.pred` against `job.truth` on one grid; with `job.verdicts`, also the verdict of
/// every predicted polygon (keyed by its fid; real when truth covers `cover` of it, with the
/// truth type over most of it).
///
/// # Errors
/// [`Error::Param`] for options out of range or verdicts asked of a raster prediction; any
/// read error naming its file.
pub fn evaluate_files(
    job: &EvalFiles,
) -> Result<(super::Report, Option<Vec<crate::learn::verdicts::Verdict>>)> {
    let o = job.options;
    if !(o.cover > 0.0 && o.cover <= 1.0) {
        return Err(Error::Param {
            name: "cover",
            reason: format!("--cover {}: must be in (0, 1]", o.cover),
        });
    }
    if !(o.min_area_mu.is_finite() && o.min_area_mu >= 0.0) {
        return Err(Error::Param {
            name: "min_area_mu",
            reason: format!(
                "--min-area-mu {}: must be a non-negative number",
                o.min_area_mu
            ),
        });
    }
    let grid = grid_for(&job.pred, &job.truth, job.pixel_size)?;
    let mut truth = load(&job.truth, &grid)?;
    let mut pred = load(&job.pred, &grid)?;
    for layer in [&mut truth.layer, &mut pred.layer] {
        for k in layer.kinds.iter_mut() {
            if let Some(to) = job.merge.get(k.as_str()) {
                *k = to.clone();
            }
        }
    }
    let mut masks = vec![];
    for (path, keep_nonzero) in [(&job.ignore, false), (&job.scored, true)] {
        if let Some(p) = path {
            masks.push((load(p, &grid)?, keep_nonzero));
        }
    }
    let masks: Vec<(&Loaded, bool)> = masks.iter().map(|(m, k)| (m, *k)).collect();
    let scored = scored_pixels(&truth, &pred, &masks);
    let report = super::evaluate(
        &truth.layer,
        &pred.layer,
        Some(&scored),
        grid.pixel_area_m2(),
        o,
    );
    if !job.verdicts {
        return Ok((report, None));
    }
    if pred.fids.is_empty() && !pred.layer.kinds.is_empty() {
        return Err(Error::Param {
            name: "verdicts",
            reason: format!(
                "--verdicts: {} is a raster; verdicts are per polygon of a layer (changes.gpkg)",
                job.pred.display()
            ),
        });
    }
    let judged = super::objects::verdicts(&truth.layer, &pred.layer, &scored, o.cover);
    let rows = judged
        .into_iter()
        .zip(&pred.fids)
        .filter_map(|(v, fid)| {
            v.map(|(real, kind)| crate::learn::verdicts::Verdict {
                key: fid.to_string(),
                real,
                kind,
                line: 0,
            })
        })
        .collect();
    Ok((report, Some(rows)))
}
