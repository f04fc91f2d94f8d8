//! Imagery made of several scenes per date: the mosaic detection reads (a GDAL VRT, the
//! later-listed scene on top where scenes overlap, uncovered ground nodata), and the provenance
//! of every change polygon: which scenes of each date it lies in and the date of the scene that
//! supplied its pixels (QSX / HSX).

use crate::error::{Error, Result};
use crate::job::{Date, SceneFile};
use crate::output::gpkg::{Column, GpkgWriter};
use crate::output::package::{column, read, text_column};
use crate::vectorize::geometry::GeoTransform;
use gdal::programs::raster::{BuildVRTOptions, build_vrt};
use geo::{BoundingRect, Intersects, Rect};
use rusqlite::types::Value as Sql;
use std::path::{Path, PathBuf};

/// A scene's extent and date.
#[derive(Clone, Debug)]
pub struct Footprint {
    pub name: String,
    pub date: Option<Date>,
    pub extent: Rect<f64>,
    /// Ground size of its pixels in metres (None without a usable CRS).
    pub pixel_m: Option<f64>,
}

impl Footprint {
    /// What the coverage pass needs of it.
    pub fn source(&self) -> crate::coverage::SceneSource {
        crate::coverage::SceneSource {
            extent: self.extent,
            pixel_m: self.pixel_m,
        }
    }
}

/// The image detection reads for one date: the file itself for one scene, else a VRT of the
/// scenes written to `dir/NAME.vrt`.
///
/// # Errors
/// [`Error::Open`] naming a scene that cannot be opened, or the mosaic when GDAL refuses the
/// scenes together (different CRS or band counts).
pub fn mosaic(scenes: &[SceneFile], dir: &Path, name: &str) -> Result<PathBuf> {
    if let [one] = scenes {
        return Ok(one.path.clone());
    }
    let datasets: Vec<gdal::Dataset> = scenes
        .iter()
        .map(|s| crate::raster::open_dataset(&s.path))
        .collect::<Result<_>>()?;
    let nodata = datasets
        .first()
        .and_then(|d| d.rasterband(1).ok())
        .and_then(|b| b.no_data_value())
        .unwrap_or(0.0);
    let out = dir.join(format!("{name}.vrt"));
    let fresh = crate::output::partial_path(&out);
    std::fs::create_dir_all(dir).map_err(|e| Error::open(dir, e))?;
    let nd = format!("{nodata}");
    let opts = BuildVRTOptions::new(["-vrtnodata", nd.as_str(), "-resolution", "highest"])
        .map_err(|e| Error::open(&out, e))?;
    let vrt = build_vrt(Some(&fresh), &datasets, Some(opts)).map_err(|e| {
        Error::open(
            &out,
            format!("the {name} scenes do not mosaic (CRS, bands?): {e}"),
        )
    })?;
    drop(vrt);
    // An unchanged mosaic keeps its file (and time), so an interrupted detection resumes.
    if std::fs::read(&out).ok() == std::fs::read(&fresh).ok() {
        let _ = std::fs::remove_file(&fresh);
    } else {
        std::fs::rename(&fresh, &out).map_err(|e| Error::open(&out, e))?;
    }
    Ok(out)
}

/// Extents and dates of scenes.
///
/// # Errors
/// [`Error::Open`] naming a scene that cannot be opened.
pub fn footprints(scenes: &[SceneFile]) -> Result<Vec<Footprint>> {
    scenes
        .iter()
        .map(|s| {
            let ds = crate::raster::open_dataset(&s.path)?;
            let g = ds.geo_transform().map_err(|e| Error::open(&s.path, e))?;
            let (w, h) = ds.raster_size();
            Ok(Footprint {
                name: s
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                date: s.date,
                extent: GeoTransform(g).extent(w, h),
                pixel_m: crate::raster::pair::ground_pixel_m(&g, &ds.projection(), h),
            })
        })
        .collect()
}

/// The scenes a polygon's extent meets ("name (date); ..."), and the topmost scene holding its
/// centre (it supplied the polygon's pixels: its date and pixel size).
fn provenance<'a>(extent: &Rect<f64>, scenes: &'a [Footprint]) -> (String, Option<&'a Footprint>) {
    let list: Vec<String> = scenes
        .iter()
        .filter(|s| s.extent.intersects(extent))
        .map(|s| match s.date {
            Some(d) => format!("{} ({d})", s.name),
            None => s.name.clone(),
        })
        .collect();
    let c = extent.center();
    let top = scenes.iter().rev().find(|s| s.extent.intersects(&c));
    (list.join("; "), top)
}

/// Copy the change layer `src` to `dst` adding QSX, HSX (dates of the scenes that supplied the
/// polygon's pixels), QS_RES_M, HS_RES_M (those scenes' pixel sizes in metres: mosaics of
/// several resolutions are detected on the finest grid, and this says what each polygon was
/// really seen at), QS_SCENES and HS_SCENES (every scene its extent meets). Returns the
/// number of polygons.
///
/// # Errors
/// [`Error::Open`] / [`Error::Write`] naming the file.
pub fn annotate(
    src: &Path,
    dst: &Path,
    projection: &str,
    before: &[Footprint],
    after: &[Footprint],
) -> Result<usize> {
    let (mut cols, mut rows) = read(src, "changes", None)?;
    let idx: Vec<usize> = ["QSX", "HSX", "QS_SCENES", "HS_SCENES"]
        .iter()
        .map(|n| text_column(&mut cols, &mut rows, n))
        .collect();
    let res: Vec<usize> = ["QS_RES_M", "HS_RES_M"]
        .iter()
        .map(|n| column(&mut cols, &mut rows, n, Column::Real))
        .collect();
    for r in rows.iter_mut() {
        let Some(e) = r.geom.bounding_rect() else {
            continue;
        };
        let (qs, qtop) = provenance(&e, before);
        let (hs, htop) = provenance(&e, after);
        let text = |f: Option<&Footprint>| {
            f.and_then(|f| f.date)
                .map_or(Sql::Null, |d| Sql::Text(d.to_string()))
        };
        let metres = |f: Option<&Footprint>| {
            f.and_then(|f| f.pixel_m)
                .map_or(Sql::Null, |m| Sql::Real((m * 1e4).round() / 1e4))
        };
        r.values[idx[0]] = text(qtop);
        r.values[idx[1]] = text(htop);
        r.values[res[0]] = metres(qtop);
        r.values[res[1]] = metres(htop);
        r.values[idx[2]] = Sql::Text(qs);
        r.values[idx[3]] = Sql::Text(hs);
    }
    let tmp = crate::output::partial_path(dst);
    let _ = std::fs::remove_file(&tmp);
    let c: Vec<(&str, Column)> = cols.iter().map(|(n, k)| (n.as_str(), *k)).collect();
    let mut w = GpkgWriter::create(&tmp, "changes", projection, &c)?;
    for r in &rows {
        w.push(&r.geom, r.values.clone())?;
    }
    w.finish()?;
    std::fs::rename(&tmp, dst).map_err(|e| Error::write(dst, e))?;
    Ok(rows.len())
}
