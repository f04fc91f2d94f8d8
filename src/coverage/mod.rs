//! Coverage: what the imagery saw in each county, and what it did not.
//!
//! A lead cannot be found where no image looked. After detection, every pixel of the grid is
//! one of: seen clear by both dates, under cloud in either date or in shadow in the after date (the screens
//! of the evidence kernels, [`crate::change::CLOUD_EVIDENCE`] and
//! [`crate::change::SHADOW_EVIDENCE`]), or nodata in either date (scene gaps, mosaic seams,
//! fill). Each county's area is split into those and into the part the grid does not reach at
//! all (no image). The parts that were not seen become polygons with their reason,
//! exact to the pixel and cut to each county, so a county can see on its map where leads could
//! not have been found.
//!
//! The split adds up by construction: clear = (county ∩ grid) − cloud − shadow − nodata, every
//! term an
//! exact polygon area in the same area method as the overlay (planar in a projected CRS,
//! geodesic in a geographic one). Pixels are counted by their squares, not their centres, so a
//! county boundary through a cloud pixel splits that pixel's area.

use crate::change::{CLOUD_EVIDENCE, SHADOW_EVIDENCE};
use crate::error::{Error, Result};
use crate::geom::boolean::{Op, boolean};
use crate::geom::{AreaMethod, clip_to_rect};
use crate::job::{CountiesConf, LayerSource};
use crate::overlay::index::Targets;
use crate::overlay::layer::{Fields, WorkCrs, read_layer};
use crate::raster::grid::Window;
use crate::raster::writer::{Georef, OutputRaster};
use crate::stream::ProgressFn;
use crate::vectorize::geometry::{GeoTransform, to_world};
use crate::vectorize::source::components;
use geo::{BoundingRect, MultiPolygon, Polygon, Rect};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Code of `seen.tif`: seen clear by both dates.
pub const SEEN_CLEAR: u8 = 0;
/// Code of `seen.tif`: under cloud in either date.
pub const SEEN_CLOUD: u8 = 1;
/// Code of `seen.tif`: nodata in either date.
pub const SEEN_NODATA: u8 = 2;
/// Code of `seen.tif`: in shadow in the after date (cloud shadow, the shadow of a building).
pub const SEEN_SHADOW: u8 = 3;

/// Default share of a county that must be seen clear before `run` warns.
pub const MIN_CLEAR_SHARE: f64 = 0.9;

/// Why a part of a county was not seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Cloud,
    Shadow,
    Nodata,
    NoImage,
}

impl Reason {
    /// As written into the coverage layers.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Cloud => "cloud",
            Reason::Shadow => "shadow",
            Reason::Nodata => "nodata",
            Reason::NoImage => "no image",
        }
    }

    /// In Chinese, for the county's report.
    pub fn label_zh(self) -> &'static str {
        match self {
            Reason::Cloud => "云覆盖",
            Reason::Shadow => "阴影",
            Reason::Nodata => "无数据",
            Reason::NoImage => "无影像",
        }
    }
}

/// Resolution class of a pixel size, as imagery is bought: sub-metre, 1-2 m, coarser.
pub fn resolution_class(pixel_m: Option<f64>) -> &'static str {
    match pixel_m {
        Some(p) if p <= 1.0 => "<= 1 m",
        Some(p) if p <= 2.0 => "1-2 m",
        Some(_) => "> 2 m",
        None => "unknown (no georeference)",
    }
}

/// One county's coverage (km²; the five parts add up to `area_km2`).
#[derive(Clone, Debug, Serialize)]
pub struct CountyCoverage {
    pub code: String,
    pub name: Option<String>,
    pub area_km2: f64,
    pub clear_km2: f64,
    pub cloud_km2: f64,
    pub shadow_km2: f64,
    pub nodata_km2: f64,
    pub no_image_km2: f64,
    /// `clear_km2 / area_km2` (0 for a county of no area).
    pub clear_share: f64,
    /// The clear km² by the [`resolution_class`] it was seen at (the coarser of the two dates'
    /// scenes there); one class for single images. Adds up to `clear_km2`.
    pub clear_km2_by_resolution: std::collections::BTreeMap<&'static str, f64>,
    /// Boolean operations that failed on this county's geometry (its parts are then approximate
    /// and say so).
    pub failed_ops: u64,
}

/// A part of a county that was not seen.
#[derive(Clone, Debug)]
pub struct NotSeen {
    /// Index into [`Coverage::counties`].
    pub county: usize,
    pub reason: Reason,
    pub geom: MultiPolygon<f64>,
    pub area_m2: f64,
}

/// Pixel counts of the whole grid.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct GridCounts {
    pub clear_px: u64,
    pub cloud_px: u64,
    pub shadow_px: u64,
    pub nodata_px: u64,
}

/// What the coverage pass found.
#[derive(Clone, Debug, Serialize)]
pub struct Coverage {
    pub pixel_size_m: Option<f64>,
    /// [`resolution_class`] of the imagery; for mosaics of scenes of several classes,
    /// "mixed: <= 1 m + 1-2 m" (each county's split is in its
    /// `clear_km2_by_resolution`).
    pub resolution: String,
    pub area_method: &'static str,
    pub grid: GridCounts,
    pub counties: Vec<CountyCoverage>,
    /// The share under which a county is reported as poorly covered.
    pub min_clear_share: f64,
    /// One line per county the imagery reaches that is under `min_clear_share`, and one line
    /// for the counties it does not reach at all.
    pub warnings: Vec<String>,
    /// `seen.tif`: the per-pixel code raster ([`SEEN_CLEAR`], [`SEEN_CLOUD`], [`SEEN_NODATA`],
    /// [`SEEN_SHADOW`]).
    pub seen_raster: PathBuf,
    pub seconds: f64,
    /// The grid's CRS (WKT), that of every geometry here.
    #[serde(skip)]
    pub projection: String,
    #[serde(skip)]
    pub not_seen: Vec<NotSeen>,
}

/// Inputs of the coverage pass.
pub struct CoverageJob<'a> {
    /// A detection folder: `change.tif` and `evidence.tif`.
    pub detect_dir: &'a Path,
    /// Where `seen.tif` goes.
    pub out_dir: &'a Path,
    /// The county layer; without one, the grid is one unit named by `whole_name`.
    pub counties: Option<&'a (LayerSource, CountiesConf)>,
    pub whole_name: &'a str,
    pub min_clear_share: f64,
    /// The scenes of each date (before, after) when a date is a mosaic: where each was on top
    /// and its pixel size split the clear area by resolution class. `None`: the grid's.
    pub scenes: Option<(&'a [SceneSource], &'a [SceneSource])>,
}

/// One scene of a mosaic: its extent (in the grid's CRS) and ground pixel size. Later scenes
/// of a date lie on top of earlier ones, as in the mosaic.
#[derive(Clone, Debug)]
pub struct SceneSource {
    pub extent: Rect<f64>,
    pub pixel_m: Option<f64>,
}

/// The places of the grid by the resolution class they were seen at: each date's topmost
/// scene there, the coarser of the two. Empty regions are left out.
fn resolution_regions(
    before: &[SceneSource],
    after: &[SceneSource],
) -> Vec<(&'static str, MultiPolygon<f64>)> {
    // Where each scene of a date is on top: its extent less those of the scenes after it.
    let on_top = |scenes: &[SceneSource]| -> Vec<(Option<f64>, MultiPolygon<f64>)> {
        scenes
            .iter()
            .enumerate()
            .map(|(i, sc)| {
                let mut g = MultiPolygon::new(vec![sc.extent.to_polygon()]);
                for later in &scenes[i + 1..] {
                    let cut = MultiPolygon::new(vec![later.extent.to_polygon()]);
                    g = boolean(&g, &cut, Op::Difference).unwrap_or(g);
                }
                (sc.pixel_m, g)
            })
            .collect()
    };
    let (b, a) = (on_top(before), on_top(after));
    let mut regions: Vec<(&'static str, MultiPolygon<f64>)> = vec![];
    for (rb, gb) in &b {
        for (ra, ga) in &a {
            let Ok(both) = boolean(gb, ga, Op::Intersection) else {
                continue;
            };
            if both.0.is_empty() {
                continue;
            }
            let coarser = match (rb, ra) {
                (Some(x), Some(y)) => Some(x.max(*y)),
                _ => None,
            };
            let class = resolution_class(coarser);
            match regions.iter_mut().find(|(c, _)| *c == class) {
                Some((_, g)) => *g = boolean(g, &both, Op::Union).unwrap_or_else(|_| g.clone()),
                None => regions.push((class, both)),
            }
        }
    }
    regions.sort_by_key(|(c, _)| class_rank(c));
    regions
}

/// The order of [`resolution_class`]es, finest first.
pub fn class_rank(class: &str) -> u8 {
    match class {
        "<= 1 m" => 0,
        "1-2 m" => 1,
        "> 2 m" => 2,
        _ => 3,
    }
}

/// The per-pixel code of one pixel from its mask value and evidence.
#[inline]
pub fn seen_code(mask: u8, evidence: f32) -> u8 {
    if mask == crate::change::MASK_NODATA as u8 {
        SEEN_NODATA
    } else if evidence == CLOUD_EVIDENCE {
        SEEN_CLOUD
    } else if evidence == SHADOW_EVIDENCE {
        SEEN_SHADOW
    } else {
        SEEN_CLEAR
    }
}

/// Rows read and written at once by the seen pass.
const STRIP_ROWS: usize = 256;

/// Write `seen.tif` from a detection's `change.tif` and `evidence.tif`, strip by strip; count
/// the codes. Returns the counts, the grid's size and its georeference.
fn seen_pass(
    detect_dir: &Path,
    out: &Path,
    progress: ProgressFn,
) -> Result<(GridCounts, (usize, usize), Georef)> {
    let mask_path = detect_dir.join("change.tif");
    let ev_path = detect_dir.join("evidence.tif");
    let mask_ds = crate::raster::open_dataset(&mask_path)?;
    let ev_ds = crate::raster::open_dataset(&ev_path)?;
    let (w, h) = mask_ds.raster_size();
    if ev_ds.raster_size() != (w, h) {
        return Err(Error::Open {
            path: ev_path,
            reason: format!(
                "{} x {} px, but change.tif beside it is {w} x {h}: not the same detection",
                ev_ds.raster_size().0,
                ev_ds.raster_size().1
            ),
        });
    }
    let georef = Georef {
        geo_transform: mask_ds.geo_transform().ok(),
        projection: mask_ds.projection(),
    };
    let mut seen =
        OutputRaster::create_tiled::<u8>(out, (w, h), &georef, 255.0, "PREDICTOR=1", 512)?;
    let mask_band = mask_ds
        .rasterband(1)
        .map_err(|e| Error::open(&mask_path, e))?;
    let ev_band = ev_ds.rasterband(1).map_err(|e| Error::open(&ev_path, e))?;
    let mut counts = GridCounts::default();
    let strips = h.div_ceil(STRIP_ROWS);
    let (mut m, mut e) = (Vec::new(), Vec::new());
    for k in 0..strips {
        let (y, rows) = (k * STRIP_ROWS, STRIP_ROWS.min(h - k * STRIP_ROWS));
        let n = w * rows;
        m.resize(n, 0u8);
        e.resize(n, 0f32);
        mask_band
            .read_into_slice((0, y as isize), (w, rows), (w, rows), &mut m, None)
            .map_err(|err| Error::open(&mask_path, err))?;
        ev_band
            .read_into_slice((0, y as isize), (w, rows), (w, rows), &mut e, None)
            .map_err(|err| Error::open(&ev_path, err))?;
        let codes: Vec<u8> = m.iter().zip(&e).map(|(&m, &e)| seen_code(m, e)).collect();
        for &c in &codes {
            match c {
                SEEN_CLEAR => counts.clear_px += 1,
                SEEN_CLOUD => counts.cloud_px += 1,
                SEEN_SHADOW => counts.shadow_px += 1,
                _ => counts.nodata_px += 1,
            }
        }
        let window = Window {
            x: 0,
            y,
            width: w,
            height: rows,
        };
        seen.write(window, codes)?;
        progress("coverage", k as u64 + 1, strips as u64);
    }
    seen.finish()?;
    Ok((counts, (w, h), georef))
}

/// One county as read: code, name, boundary in the imagery's CRS.
struct Unit {
    code: String,
    name: Option<String>,
    geom: MultiPolygon<f64>,
}

/// The counties of the job's layer in the imagery's CRS (features of one code are one unit).
fn read_counties((src, conf): &(LayerSource, CountiesConf), work: &WorkCrs) -> Result<Vec<Unit>> {
    let fields = crate::overlay::county_fields(conf);
    let mut units: Vec<Unit> = vec![];
    read_layer(
        src,
        "XZQ",
        Fields::Named(&fields),
        Some(work),
        None,
        &|_, _| {},
        |batch| {
            for f in batch {
                let code = f.attrs[0].clone().unwrap_or_default().trim().to_string();
                match units.iter_mut().find(|u| u.code == code) {
                    Some(u) => u.geom.0.extend(f.geom.0),
                    None => units.push(Unit {
                        code,
                        name: f.attrs.get(1).cloned().flatten(),
                        geom: f.geom,
                    }),
                }
            }
            Ok(())
        },
    )?;
    units.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(units)
}

/// Split each county into clear, cloud, nodata and no image.
///
/// # Errors
/// [`Error::Open`] when the detection's rasters cannot be read, [`Error::Layer`] for the county
/// layer, [`Error::Write`] for `seen.tif`.
pub fn coverage(job: &CoverageJob, progress: ProgressFn) -> Result<Coverage> {
    let t0 = Instant::now();
    std::fs::create_dir_all(job.out_dir).map_err(|e| Error::write(job.out_dir, e))?;
    let seen_path = job.out_dir.join("seen.tif");
    let (grid, (w, h), georef) = seen_pass(job.detect_dir, &seen_path, progress)?;
    let gt = GeoTransform(
        georef
            .geo_transform
            .unwrap_or([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
    );
    let footprint = gt.extent(w, h);
    let work = if georef.projection.trim().is_empty() {
        None
    } else {
        Some(WorkCrs::from_wkt(&georef.projection, "imagery")?)
    };
    let area = work.as_ref().map_or(
        AreaMethod::Planar {
            metres_per_unit: 1.0,
        },
        |w| w.area,
    );
    let pixel_size_m = crate::raster::pair::ground_pixel_m(&gt.0, &georef.projection, h);
    let units = match (job.counties, &work) {
        (Some(c), Some(work)) => read_counties(c, work)?,
        _ => vec![Unit {
            code: job.whole_name.to_string(),
            name: None,
            geom: MultiPolygon::new(vec![footprint.to_polygon()]),
        }],
    };
    // The exact polygons of each reason's pixels, all from one decode of seen.tif.
    let reasons = [
        (Reason::Cloud, SEEN_CLOUD),
        (Reason::Shadow, SEEN_SHADOW),
        (Reason::Nodata, SEEN_NODATA),
    ];
    let codes: Vec<f64> = reasons.iter().map(|(_, c)| f64::from(*c)).collect();
    let indexed: Vec<(Reason, Targets)> = reasons
        .iter()
        .zip(components(&seen_path, &codes, None)?)
        .map(|((r, _), comps)| {
            let polys = comps.iter().map(|c| to_world(&c.polygons, &gt)).collect();
            (*r, Targets::new(polys))
        })
        .collect();
    let grid_class = resolution_class(pixel_size_m);
    let regions = job
        .scenes
        .map(|(b, a)| resolution_regions(b, a))
        .unwrap_or_default();
    let per_county: Vec<(CountyCoverage, Vec<NotSeen>)> = units
        .par_iter()
        .enumerate()
        .map(|(k, u)| {
            let classes = Classes {
                regions: &regions,
                grid: grid_class,
            };
            county_parts(k, u, &footprint, &indexed, &area, &classes)
        })
        .collect();
    let mut counties = vec![];
    let mut not_seen = vec![];
    for (c, parts) in per_county {
        counties.push(c);
        not_seen.extend(parts);
    }
    let warnings = warnings(&counties, job.min_clear_share);
    Ok(Coverage {
        pixel_size_m,
        resolution: match regions.as_slice() {
            [] => grid_class.to_string(),
            [(one, _)] => (*one).to_string(),
            many => format!(
                "mixed: {}",
                many.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(" + ")
            ),
        },
        area_method: area.describe(),
        grid,
        counties,
        min_clear_share: job.min_clear_share,
        warnings,
        seen_raster: seen_path,
        seconds: t0.elapsed().as_secs_f64(),
        projection: georef.projection,
        not_seen,
    })
}

/// One warning per county the imagery reaches whose clear share is under `min_clear_share`,
/// and one line for the counties it does not reach at all (a national county layer would
/// otherwise give thousands of lines).
fn warnings(counties: &[CountyCoverage], min_clear_share: f64) -> Vec<String> {
    let outside = |c: &&CountyCoverage| c.no_image_km2 >= c.area_km2 * (1.0 - 1e-9);
    let mut warnings: Vec<String> = counties
        .iter()
        .filter(|c| c.area_km2 > 0.0 && c.clear_share < min_clear_share && !outside(c))
        .map(|c| {
            format!(
                "county {}{}: only {:.1} % of its {:.2} km² was seen clear (cloud {:.2} km², shadow {:.2} km², nodata {:.2} km², no image {:.2} km²): leads cannot be found in the rest",
                c.code,
                c.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default(),
                100.0 * c.clear_share,
                c.area_km2,
                c.cloud_km2,
                c.shadow_km2,
                c.nodata_km2,
                c.no_image_km2
            )
        })
        .collect();
    let unseen: Vec<&str> = counties
        .iter()
        .filter(|c| c.area_km2 > 0.0 && outside(c))
        .map(|c| c.code.as_str())
        .collect();
    if !unseen.is_empty() {
        let shown: Vec<&str> = unseen.iter().take(10).copied().collect();
        warnings.push(format!(
            "{} {} of the county layer lie wholly outside the imagery ({}{}): nothing was seen there",
            unseen.len(),
            if unseen.len() == 1 {
                "county"
            } else {
                "counties"
            },
            shown.join(", "),
            if unseen.len() > 10 { ", ..." } else { "" }
        ));
    }
    warnings
}

/// The resolution classes of the grid's places ([`resolution_regions`]), or the grid's one
/// class for single images (no regions).
struct Classes<'a> {
    regions: &'a [(&'static str, MultiPolygon<f64>)],
    grid: &'static str,
}

/// A county's clear km² (`clear_km2`) by resolution class: for each class's region, the
/// county's part inside the grid (`inside`) there less the not-seen pieces there (exact polygon
/// areas); all of it in the grid's class when there are no regions.
fn clear_by_class(
    inside: &MultiPolygon<f64>,
    parts: &[NotSeen],
    classes: &Classes,
    area: &AreaMethod,
    clear_km2: f64,
) -> std::collections::BTreeMap<&'static str, f64> {
    let mut out = std::collections::BTreeMap::new();
    if classes.regions.is_empty() {
        out.insert(classes.grid, clear_km2);
        return out;
    }
    let within = |g: &MultiPolygon<f64>, r: &MultiPolygon<f64>| -> f64 {
        boolean(g, r, Op::Intersection).map_or(0.0, |x| area.area_m2(&x))
    };
    for (class, region) in classes.regions {
        let seen = within(inside, region);
        let lost: f64 = parts
            .iter()
            .filter(|p| p.reason != Reason::NoImage)
            .filter(|p| match (p.geom.bounding_rect(), region.bounding_rect()) {
                (Some(a), Some(b)) => geo::Intersects::intersects(&a, &b),
                _ => false,
            })
            .map(|p| within(&p.geom, region))
            .sum();
        let km2 = (seen - lost).max(0.0) / 1e6;
        if km2 > 0.0 {
            out.insert(*class, km2);
        }
    }
    out
}

/// One county's parts: not-seen pieces cut to the county, and its table row.
fn county_parts(
    k: usize,
    u: &Unit,
    footprint: &Rect<f64>,
    indexed: &[(Reason, Targets)],
    area: &AreaMethod,
    classes: &Classes,
) -> (CountyCoverage, Vec<NotSeen>) {
    let mut failed = 0u64;
    let total_m2 = area.area_m2(&u.geom);
    let inside = clip_to_rect(&u.geom, footprint);
    let inside_m2 = area.area_m2(&inside);
    let mut parts = vec![];
    // What lies outside the grid: the county minus its part inside (no image at all).
    if total_m2 - inside_m2 > 1e-9 * total_m2.max(1.0) {
        let outside = if inside.0.is_empty() {
            Ok(u.geom.clone())
        } else {
            boolean(
                &u.geom,
                &MultiPolygon::new(vec![footprint.to_polygon()]),
                Op::Difference,
            )
        };
        let geom = outside.unwrap_or_else(|_| {
            failed += 1;
            MultiPolygon::new(vec![])
        });
        parts.push(NotSeen {
            county: k,
            reason: Reason::NoImage,
            geom,
            // The area that makes the parts add up; the geometry is exact unless an operation
            // failed (then it is empty and `failed_ops` says so).
            area_m2: total_m2 - inside_m2,
        });
    }
    if let Some(bbox) = inside.bounding_rect() {
        for (reason, targets) in indexed {
            for i in targets.candidates(&bbox) {
                let p = targets.geom(i);
                let Some(pb) = p.bounding_rect() else {
                    continue;
                };
                // A piece whose extent lies inside a rectangle within the county needs no cut
                // when the county is that rectangle (the usual case without a county layer).
                let cut = if contains_rect(&inside, &pb) {
                    Ok(p.clone())
                } else {
                    boolean(p, &inside, Op::Intersection)
                };
                let geom = match cut {
                    Ok(g) => g,
                    Err(_) => {
                        failed += 1;
                        continue;
                    }
                };
                if geom.0.is_empty() {
                    continue;
                }
                let a = area.area_m2(&geom);
                if a <= 0.0 {
                    continue;
                }
                parts.push(NotSeen {
                    county: k,
                    reason: *reason,
                    geom,
                    area_m2: a,
                });
            }
        }
    }
    let sum = |r: Reason| -> f64 {
        parts
            .iter()
            .filter(|p| p.reason == r)
            // From +0.0: an empty f64 sum is -0.0, which prints as "-0.000000".
            .fold(0.0, |t, p| t + p.area_m2)
    };
    let (cloud_m2, shadow_m2, nodata_m2) =
        (sum(Reason::Cloud), sum(Reason::Shadow), sum(Reason::Nodata));
    let clear_m2 = (inside_m2 - cloud_m2 - shadow_m2 - nodata_m2).max(0.0);
    let km2 = |m2: f64| m2 / 1e6;
    (
        CountyCoverage {
            code: u.code.clone(),
            name: u.name.clone(),
            area_km2: km2(total_m2),
            clear_km2: km2(clear_m2),
            cloud_km2: km2(cloud_m2),
            shadow_km2: km2(shadow_m2),
            nodata_km2: km2(nodata_m2),
            no_image_km2: km2(total_m2 - inside_m2),
            clear_share: if total_m2 > 0.0 {
                clear_m2 / total_m2
            } else {
                0.0
            },
            clear_km2_by_resolution: clear_by_class(&inside, &parts, classes, area, km2(clear_m2)),
            failed_ops: failed,
        },
        parts,
    )
}

/// True when `g` is a single axis-aligned rectangle (ring of 4 corners) holding `r`.
fn contains_rect(g: &MultiPolygon<f64>, r: &Rect<f64>) -> bool {
    let [p] = g.0.as_slice() else {
        return false;
    };
    if !p.interiors().is_empty() || !is_rectangle(p) {
        return false;
    }
    p.bounding_rect().is_some_and(|b| {
        b.min().x <= r.min().x
            && b.min().y <= r.min().y
            && b.max().x >= r.max().x
            && b.max().y >= r.max().y
    })
}

fn is_rectangle(p: &Polygon<f64>) -> bool {
    let Some(b) = p.bounding_rect() else {
        return false;
    };
    let pts = &p.exterior().0;
    pts.len() <= 5
        && pts.iter().all(|c| {
            (c.x == b.min().x || c.x == b.max().x) && (c.y == b.min().y || c.y == b.max().y)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, polygon};

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
        MultiPolygon::new(vec![
            Rect::new(coord! { x: x0, y: y0 }, coord! { x: x1, y: y1 }).to_polygon(),
        ])
    }

    #[test]
    fn a_pixel_is_nodata_before_cloud_before_clear() {
        assert_eq!(seen_code(255, CLOUD_EVIDENCE), SEEN_NODATA);
        assert_eq!(seen_code(0, CLOUD_EVIDENCE), SEEN_CLOUD);
        assert_eq!(seen_code(0, SHADOW_EVIDENCE), SEEN_SHADOW);
        assert_eq!(seen_code(1, 0.7), SEEN_CLEAR);
        assert_eq!(seen_code(0, f32::NAN), SEEN_CLEAR);
    }

    #[test]
    fn a_county_splits_into_parts_that_add_up() {
        // The grid covers x 0..100; the county x 50..150 (half outside: no image); a cloud
        // 40 x 20 crosses the county's west edge, a nodata strip lies inside.
        let footprint = Rect::new(coord! { x: 0.0, y: 0.0 }, coord! { x: 100.0, y: 100.0 });
        let county = Unit {
            code: "320581".into(),
            name: Some("常熟市".into()),
            geom: square(50.0, 0.0, 150.0, 100.0),
        };
        let indexed = vec![
            (
                Reason::Cloud,
                Targets::new(vec![square(30.0, 10.0, 70.0, 30.0)]),
            ),
            (
                Reason::Shadow,
                Targets::new(vec![square(60.0, 50.0, 70.0, 60.0)]),
            ),
            (
                Reason::Nodata,
                Targets::new(vec![square(90.0, 0.0, 100.0, 100.0)]),
            ),
        ];
        let area = AreaMethod::Planar {
            metres_per_unit: 1.0,
        };
        let (row, parts) = county_parts(0, &county, &footprint, &indexed, &area, &ONE_CLASS);
        let km2 = |m2: f64| m2 / 1e6;
        assert!((row.area_km2 - km2(10_000.0)).abs() < 1e-12);
        assert!((row.no_image_km2 - km2(5_000.0)).abs() < 1e-12);
        assert!((row.cloud_km2 - km2(400.0)).abs() < 1e-12, "{row:?}");
        assert!((row.nodata_km2 - km2(1_000.0)).abs() < 1e-12);
        assert!((row.shadow_km2 - km2(100.0)).abs() < 1e-12);
        assert!((row.clear_km2 - km2(3_500.0)).abs() < 1e-12);
        assert!((row.clear_share - 0.35).abs() < 1e-12);
        assert_eq!(row.failed_ops, 0);
        // The parts: no image (the east half), the cloud cut to the county, the nodata strip.
        let by = |r: Reason| -> f64 {
            parts
                .iter()
                .filter(|p| p.reason == r)
                .map(|p| geo::Area::unsigned_area(&p.geom))
                .sum()
        };
        assert!((by(Reason::NoImage) - 5_000.0).abs() < 1e-9);
        assert!((by(Reason::Cloud) - 400.0).abs() < 1e-9);
        assert!((by(Reason::Nodata) - 1_000.0).abs() < 1e-9);
        let cloud = parts.iter().find(|p| p.reason == Reason::Cloud).unwrap();
        assert_eq!(
            cloud.geom.bounding_rect().unwrap(),
            Rect::new(coord! { x: 50.0, y: 10.0 }, coord! { x: 70.0, y: 30.0 })
        );
    }

    #[test]
    fn a_county_wholly_outside_the_grid_is_all_no_image() {
        let footprint = Rect::new(coord! { x: 0.0, y: 0.0 }, coord! { x: 100.0, y: 100.0 });
        let county = Unit {
            code: "1".into(),
            name: None,
            geom: square(200.0, 0.0, 300.0, 50.0),
        };
        let area = AreaMethod::Planar {
            metres_per_unit: 1.0,
        };
        let (row, parts) = county_parts(0, &county, &footprint, &[], &area, &ONE_CLASS);
        assert_eq!(row.clear_km2, 0.0);
        assert!((row.no_image_km2 - 0.005).abs() < 1e-12);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].reason, Reason::NoImage);
    }

    const ONE_CLASS: Classes = Classes {
        regions: &[],
        grid: "<= 1 m",
    };

    #[test]
    fn each_place_takes_the_coarser_of_the_two_dates_topmost_scenes() {
        use geo::Area;
        let scene = |x0: f64, y0: f64, x1: f64, y1: f64, m: f64| SceneSource {
            extent: Rect::new((x0, y0), (x1, y1)),
            pixel_m: Some(m),
        };
        let before = [scene(0.0, 0.0, 100.0, 100.0, 0.8)];
        // A 2 m scene listed last lies on top of the 0.8 m one where they overlap (y 40-50).
        let after = [
            scene(0.0, 0.0, 100.0, 50.0, 0.8),
            scene(0.0, 40.0, 100.0, 100.0, 2.0),
        ];
        let r = resolution_regions(&before, &after);
        let areas: Vec<(&str, f64)> = r.iter().map(|(c, g)| (*c, g.unsigned_area())).collect();
        assert_eq!(areas.len(), 2, "{areas:?}");
        assert_eq!(areas[0].0, "<= 1 m");
        assert!((areas[0].1 - 4000.0).abs() < 1e-6, "{areas:?}");
        assert_eq!(areas[1].0, "1-2 m");
        assert!((areas[1].1 - 6000.0).abs() < 1e-6, "{areas:?}");
        // A coarse before scene makes the place coarse whatever the after image.
        let r = resolution_regions(&[scene(0.0, 0.0, 100.0, 100.0, 4.0)], &after);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, "> 2 m");
    }

    #[test]
    fn counties_out_of_the_imagery_share_one_warning() {
        let row = |code: &str, clear: f64, no_image: f64| CountyCoverage {
            code: code.into(),
            name: None,
            area_km2: 1.0,
            clear_km2: clear,
            cloud_km2: 1.0 - clear - no_image,
            shadow_km2: 0.0,
            nodata_km2: 0.0,
            no_image_km2: no_image,
            clear_share: clear,
            clear_km2_by_resolution: Default::default(),
            failed_ops: 0,
        };
        let rows = [
            row("1", 0.95, 0.0),
            row("2", 0.5, 0.2),
            row("3", 0.0, 1.0),
            row("4", 0.0, 1.0),
        ];
        let w = warnings(&rows, 0.9);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("county 2: only 50.0 %"), "{w:?}");
        assert!(
            w[1].starts_with(
                "2 counties of the county layer lie wholly outside the imagery (3, 4)"
            ),
            "{w:?}"
        );
    }

    #[test]
    fn only_a_plain_rectangle_contains_without_a_cut() {
        let r = Rect::new(coord! { x: 1.0, y: 1.0 }, coord! { x: 2.0, y: 2.0 });
        assert!(contains_rect(&square(0.0, 0.0, 3.0, 3.0), &r));
        assert!(!contains_rect(&square(1.5, 0.0, 3.0, 3.0), &r));
        let l = MultiPolygon::new(vec![polygon![
            (x: 0.0, y: 0.0), (x: 3.0, y: 0.0), (x: 3.0, y: 1.5), (x: 1.5, y: 1.5), (x: 1.5, y: 3.0), (x: 0.0, y: 3.0)
        ]]);
        assert!(!contains_rect(&l, &r));
    }
}
