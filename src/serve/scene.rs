//! The imagery and survey layers the review app shows: where they come from (a `tuban run`
//! folder, or a `tuban detect` folder), the map's grid, and tiles rendered on the fly.
//!
//! **The map is in the imagery's own CRS**, not Web Mercator: the after image's pixel grid is
//! the tile pyramid (zoom `max_zoom` = one screen pixel per image pixel, each level below
//! halves), so at full zoom a reviewer sees exactly the pixels detection saw, without a
//! resampling step, in the CGCS2000 Gauss-Krüger grid the survey layers and the leads already
//! share; nothing offline needs a Mercator base map. The before image is cut to the same tile
//! boxes from its own grid (another resolution or extent is fine; another CRS is refused, as
//! detection refuses it). Survey layers and leads are reprojected into the map's CRS.

use crate::error::{Error, Result};
use crate::job::Job;
use crate::output::chips::{ChipRecipe, ChipSource};
use crate::overlay::layer::WorkCrs;
use geo::Rect;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Tile side in pixels.
pub const TILE_PX: usize = 256;

/// The map's grid: the after image's, north up.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MapGrid {
    pub x0: f64,
    pub y0: f64,
    /// Map units per image pixel, across and down (positive; geographic grids often differ).
    pub res: f64,
    pub res_y: f64,
    pub width: usize,
    pub height: usize,
    /// The zoom at which one tile pixel is one image pixel.
    pub max_zoom: u32,
    /// The CRS (WKT) and its name.
    #[serde(skip)]
    pub wkt: String,
    pub crs_name: String,
}

impl MapGrid {
    /// The box tile (`z`, `x`, `y`) covers, in map units.
    pub fn tile_box(&self, z: u32, x: u32, y: u32) -> Rect<f64> {
        let px = TILE_PX as f64 * f64::from(1u32 << (self.max_zoom.saturating_sub(z)).min(30));
        let (w, h) = (px * self.res, px * self.res_y);
        let minx = self.x0 + f64::from(x) * w;
        let maxy = self.y0 - f64::from(y) * h;
        Rect::new((minx, maxy - h), (minx + w, maxy))
    }
}

/// One date's imagery.
#[derive(Clone, Debug)]
pub struct DateImage {
    /// before or after.
    pub name: &'static str,
    pub date: Option<String>,
    /// The image file.
    pub path: PathBuf,
    recipe: ChipRecipe,
}

/// A survey layer the map can overlay.
#[derive(Clone, Debug)]
pub struct MapLayer {
    /// dltb, basic_farmland, red_line, urban_boundary, approvals, counties.
    pub name: &'static str,
    /// The survey's conventional layer name, read when the job names none (DLTB, ...).
    pub default_layer: &'static str,
    pub source: crate::job::LayerSource,
    /// The field that names a feature's class or code (DLBM, XZQDM), when the layer has one.
    pub field: Option<String>,
}

/// Everything the map shows besides the leads.
pub struct Scene {
    pub grid: MapGrid,
    pub work: WorkCrs,
    pub dates: Vec<DateImage>,
    pub layers: Vec<MapLayer>,
    /// Where the imagery was found (for the startup line).
    pub origin: PathBuf,
}

fn json(path: &Path) -> Result<Option<serde_json::Value>> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_json::from_str(&t)
            .map(Some)
            .map_err(|e| Error::open(path, format!("not valid JSON: {e}"))),
        Err(_) => Ok(None),
    }
}

/// A path a run recorded (relative to where the run was started): as written when it exists,
/// else under the first of the run folder's ancestors where it does (a server started
/// elsewhere than the run).
fn recorded_path(p: &str, run_dir: &Path) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() || p.exists() {
        return p;
    }
    let run_dir = std::path::absolute(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
    run_dir
        .ancestors()
        .skip(1)
        .map(|a| a.join(&p))
        .find(|c| c.exists())
        .unwrap_or(p)
}

impl Scene {
    /// The imagery and layers of a `tuban run` output folder (its `run.json` names the job) or
    /// of a `tuban detect` folder (`detect.json`; no survey layers then).
    ///
    /// # Errors
    /// [`Error::Open`] naming the folder when it is neither, or naming an image that cannot be
    /// read.
    pub fn discover(dir: &Path) -> Result<Scene> {
        if let Some(run) = json(&dir.join("run.json"))? {
            let job = run
                .get("job")
                .and_then(|j| j.as_str())
                .map(|j| recorded_path(j, dir))
                .ok_or_else(|| Error::open(dir.join("run.json"), "names no job file"))?;
            let job = Job::load(&job)?;
            let im = job.imagery.as_ref().ok_or_else(|| {
                Error::open(
                    &job.path,
                    "has no [imagery]: the review map needs the two dates",
                )
            })?;
            let pick = |scenes: &[crate::job::SceneFile], name: &str| -> PathBuf {
                match scenes {
                    [one] => one.path.clone(),
                    _ => dir.join("mosaic").join(format!("{name}.vrt")),
                }
            };
            let date = |d: Option<crate::job::Date>| d.map(|d| d.to_string());
            // (key, the survey's conventional layer name, the source, the field shown)
            let dltb_field = job.dltb.as_ref().and_then(|(_, c)| c.class_field.clone());
            let code_field = job
                .counties
                .as_ref()
                .and_then(|(_, c)| c.code_field.clone());
            let candidates = [
                (
                    "dltb",
                    "DLTB",
                    job.dltb.as_ref().map(|l| &l.0),
                    Some(dltb_field.unwrap_or_else(|| "DLBM".into())),
                ),
                (
                    "basic_farmland",
                    "YJJBNTTB",
                    job.basic_farmland.as_ref().map(|l| &l.0),
                    None,
                ),
                (
                    "red_line",
                    "STBHHX",
                    job.red_line.as_ref().map(|l| &l.0),
                    None,
                ),
                (
                    "urban_boundary",
                    "CZKFBJ",
                    job.urban_boundary.as_ref().map(|l| &l.0),
                    None,
                ),
                (
                    "approvals",
                    "PZYD",
                    job.approvals.as_ref().map(|l| &l.0),
                    None,
                ),
                (
                    "counties",
                    "XZQ",
                    job.counties.as_ref().map(|l| &l.0),
                    Some(code_field.unwrap_or_else(|| "XZQDM".into())),
                ),
            ];
            let layers = candidates
                .into_iter()
                .filter_map(|(name, default_layer, src, field)| {
                    Some(MapLayer {
                        name,
                        default_layer,
                        source: src?.clone(),
                        field,
                    })
                })
                .collect();
            return Scene::open(
                (pick(&im.before, "before"), date(im.before_date)),
                (pick(&im.after, "after"), date(im.after_date)),
                im.bands.as_deref(),
                layers,
                dir,
            );
        }
        if let Some(d) = json(&dir.join("detect.json"))? {
            let path = |k: &str| -> Result<PathBuf> {
                d.get(k)
                    .and_then(|v| v.as_str())
                    .map(|p| recorded_path(p, dir))
                    .ok_or_else(|| {
                        Error::open(dir.join("detect.json"), format!("names no {k} image"))
                    })
            };
            return Scene::open(
                (path("before")?, None),
                (path("after")?, None),
                None,
                vec![],
                dir,
            );
        }
        Err(Error::open(
            dir,
            "neither a `tuban run` output folder (run.json) nor a `tuban detect` folder (detect.json)",
        ))
    }

    /// The scene of two images (`bands`: the job's band mapping, for true colour).
    ///
    /// # Errors
    /// [`Error::Open`] naming an image that cannot be read or has no usable geotransform.
    pub fn open(
        before: (PathBuf, Option<String>),
        after: (PathBuf, Option<String>),
        bands: Option<&str>,
        layers: Vec<MapLayer>,
        origin: &Path,
    ) -> Result<Scene> {
        let ds = crate::raster::open_dataset(&after.0)?;
        let gt = ds.geo_transform().map_err(|_| {
            Error::open(
                &after.0,
                "has no geotransform: the review map needs georeferenced imagery",
            )
        })?;
        if gt[2] != 0.0 || gt[4] != 0.0 || gt[1] <= 0.0 || gt[5] >= 0.0 {
            return Err(Error::open(
                &after.0,
                "is rotated or not north up; warp it north up (gdalwarp) for the review map",
            ));
        }
        let wkt = ds.projection();
        if wkt.is_empty() {
            return Err(Error::open(&after.0, "has no CRS"));
        }
        let work = WorkCrs::from_wkt(&wkt, &after.0.display().to_string())?;
        let (width, height) = ds.raster_size();
        let mut max_zoom = 0;
        while (TILE_PX << max_zoom) < width.max(height) {
            max_zoom += 1;
        }
        let grid = MapGrid {
            x0: gt[0],
            y0: gt[3],
            res: gt[1],
            res_y: -gt[5],
            width,
            height,
            max_zoom,
            crs_name: work.name.clone(),
            wkt: wkt.clone(),
        };
        let date = |name, (path, date): (PathBuf, Option<String>)| -> Result<DateImage> {
            same_crs_as_map(&path, &wkt)?;
            let recipe = ChipSource::open(&path, bands)?.recipe();
            Ok(DateImage {
                name,
                date,
                path,
                recipe,
            })
        };
        Ok(Scene {
            grid,
            work,
            dates: vec![date("before", before)?, date("after", after)?],
            layers,
            origin: origin.to_path_buf(),
        })
    }

    /// The RGBA pixels of tile (`z`, `x`, `y`) of date `d` (0 before, 1 after); `None` when
    /// the image does not reach the tile.
    ///
    /// # Errors
    /// [`Error::Open`] when the image cannot be read.
    pub fn render(&self, d: usize, z: u32, x: u32, y: u32) -> Result<Option<Vec<u8>>> {
        let date = &self.dates[d];
        let area = self.grid.tile_box(z, x, y);
        thread_local! {
            static OPEN: RefCell<HashMap<PathBuf, ChipSource>> = RefCell::new(HashMap::new());
        }
        OPEN.with(|open| {
            let mut open = open.borrow_mut();
            let key = date.recipe.path().to_path_buf();
            if !open.contains_key(&key) {
                open.insert(key.clone(), date.recipe.open()?);
            }
            open[&key].rgba(area, TILE_PX)
        })
    }
}

/// Refuse an image in another CRS than the map's (detection refuses such a pair too); one CRS
/// written another way is the same ([`crate::raster::crs::compare`], as detection reads it).
fn same_crs_as_map(path: &Path, map_wkt: &str) -> Result<()> {
    use crate::raster::crs::{CrsMatch, compare};
    let ds = crate::raster::open_dataset(path)?;
    let wkt = ds.projection();
    // `compare` tries GDAL's own comparison first; without a grid to probe, that alone.
    let one = wkt.is_empty()
        || match ds.geo_transform() {
            Ok(gt) => !matches!(
                compare(&wkt, map_wkt, gt, ds.raster_size()),
                CrsMatch::Differ { .. }
            ),
            Err(_) => same_crs(&wkt, map_wkt),
        };
    if one {
        return Ok(());
    }
    Err(Error::open(
        path,
        "is in another CRS than the after image; the map shows both dates in one grid (gdalwarp it to the after image's CRS)",
    ))
}

/// Whether two WKTs are one CRS.
pub fn same_crs(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (
        gdal::spatial_ref::SpatialRef::from_wkt(a),
        gdal::spatial_ref::SpatialRef::from_wkt(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gdal::spatial_ref::SpatialRef;

    /// A 64² GeoTIFF on EPSG:4527 (Gauss-Krüger zone 39).
    fn image(path: &Path) {
        let drv = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
        let mut ds = drv.create_with_band_type::<u8, _>(path, 64, 64, 1).unwrap();
        ds.set_geo_transform(&[39_480_000.0, 0.8, 0.0, 3_510_000.0, 0.0, -0.8])
            .unwrap();
        ds.set_spatial_ref(&SpatialRef::from_epsg(4527).unwrap())
            .unwrap();
    }

    #[test]
    fn the_map_takes_one_crs_written_another_way_and_refuses_another() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("before.tif");
        image(&path);
        let wkt = |def: &str| SpatialRef::from_definition(def).unwrap().to_wkt().unwrap();
        let proj = wkt(
            "+proj=tmerc +lat_0=0 +lon_0=117 +k=1 +x_0=39500000 +y_0=0 +ellps=GRS80 +units=m +no_defs",
        );
        assert!(same_crs_as_map(&path, &proj).is_ok());
        let e = same_crs_as_map(&path, &wkt("EPSG:4326")).unwrap_err();
        assert!(e.to_string().contains("another CRS"), "{e}");
    }
}
