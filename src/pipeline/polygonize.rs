//! `polygonize`: a mask raster to a polygon layer, streaming row of tiles by row of tiles.
//!
//! A reader thread reads tile rows (with a one-pixel halo) ahead; the polygonizer traces each
//! row in parallel and hands out finished components, which are turned into world geometry with
//! ground attributes and written in batches.

use crate::classify::classifier::{CLASS_FIELDS, Untyped};
use crate::classify::measures::{FIELDS, Ground, attributes, ground};
use crate::error::Result;
use crate::output::vector::{Encoded, FieldKind, VectorWriter};
use crate::raster::grid::TileGrid;
use crate::stream::ProgressFn;
use crate::vectorize::geometry::{GeoTransform, to_world, to_world_simplified};
use crate::vectorize::source::{Foreground, MaskSource};
use crate::vectorize::stitch::{Component, PolygonizeOptions, Polygonizer};
use geo::MultiPolygon;
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The CRS written for rasters without georeference: an engineering CRS in pixel units.
pub const PIXEL_CRS: &str = r#"LOCAL_CS["image pixels (no georeference), y down",UNIT["pixel",1],AXIS["x",EAST],AXIS["y",SOUTH]]"#;

/// What to polygonize and how.
#[derive(Clone, Debug)]
pub struct PolygonizeJob {
    pub mask: PathBuf,
    pub out: PathBuf,
    pub evidence: Option<PathBuf>,
    pub foreground: Foreground,
    pub tile_px: usize,
    pub options: PolygonizeOptions,
    /// Drop polygons smaller than this ground area (m²); 0 keeps all.
    pub min_area_m2: f64,
    /// Fill holes smaller than this ground area (m²); 0 keeps all.
    pub fill_holes_m2: f64,
    /// Simplify: remove vertices whose Visvalingam-Whyatt triangle is under this ground area
    /// (m²); 0 keeps the exact pixel boundaries. Attributes keep the exact mask measures.
    pub simplify_m2: f64,
    /// Layer name (GeoPackage).
    pub layer: String,
    /// Type every polygon (fields [`crate::classify::classifier::CLASS_FIELDS`] added);
    /// pseudo-changes go to the classifier's `rejected` layer instead.
    pub classify: Option<std::sync::Arc<crate::classify::classifier::Classifier>>,
}

/// What `polygonize` did.
#[derive(Clone, Debug, Serialize)]
pub struct PolygonizeSummary {
    pub path: PathBuf,
    pub polygons: u64,
    pub pixels: u64,
    pub area_m2: f64,
    /// How areas were computed.
    pub area_method: &'static str,
    pub seconds: f64,
}

/// Masks of at least this many pixels get a layer made for size ([`VectorWriter::create_large`]).
const LARGE_MASK_PX: usize = 1 << 26;

/// One polygon ready to write, encoded for its layer where it was made
/// ([`crate::output::vector::Encoder`]).
struct Feature {
    area: f64,
    pixels: u64,
    encoded: Encoded,
    /// Set aside as a pseudo-change by the classifier.
    pseudo: bool,
}

/// Run a polygonize job.
///
/// # Errors
/// [`Error::Open`] / [`Error::Param`] for an unusable mask, [`Error::Write`] when the output
/// cannot be written (nothing half-written is left behind).
///
/// # Examples
/// ```no_run
/// use tuban::pipeline::polygonize::{PolygonizeJob, polygonize};
/// use tuban::vectorize::source::Foreground;
/// let job = PolygonizeJob {
///     mask: "out/change.tif".into(),
///     out: "out/changes.gpkg".into(),
///     evidence: Some("out/evidence.tif".into()),
///     foreground: Foreground::NonZero,
///     tile_px: 1024,
///     options: Default::default(),
///     min_area_m2: 0.0,
///     fill_holes_m2: 0.0,
///     simplify_m2: 0.0,
///     layer: "changes".into(),
///     classify: None,
/// };
/// let s = polygonize(&job, &|_, _, _| {})?;
/// println!("{} polygons", s.polygons);
/// # Ok::<(), tuban::Error>(())
/// ```
pub fn polygonize(job: &PolygonizeJob, progress: ProgressFn) -> Result<PolygonizeSummary> {
    let t0 = Instant::now();
    // One pass per foreground rule: a class raster is traced class by class, so touching
    // regions of different classes become separate polygons.
    let passes = job.foreground.passes();
    let src = MaskSource::open(&job.mask, job.foreground, job.evidence.as_deref())?;
    let gt = src
        .geo_transform
        .map(GeoTransform)
        .unwrap_or(GeoTransform::IDENTITY);
    let g = ground(&src.projection, src.geo_transform.is_some());
    let px_m2 = match g {
        Ground::Projected(u) => gt.pixel_area() * u * u,
        _ => 1.0,
    };
    let mut options = job.options;
    if job.fill_holes_m2 > 0.0 {
        options.min_hole_px = options
            .min_hole_px
            .max((job.fill_holes_m2 / px_m2).ceil() as i64);
    }
    let grid = TileGrid::new(src.width, src.height, job.tile_px, 1);
    let (_, rows) = grid.dims();
    // Without georeference, coordinates are pixels: say so rather than let a driver assume
    // degrees.
    let projection = if src.geo_transform.is_none() && src.projection.is_empty() {
        PIXEL_CRS.to_string()
    } else {
        src.projection.clone()
    };
    let mut fields: Vec<(&str, FieldKind)> = FIELDS.to_vec();
    if job.classify.is_some() {
        fields.extend(CLASS_FIELDS);
    }
    // A mask of 8192² pixels or more can hold hundreds of MB of polygons: large SQLite pages.
    let create = if src.width * src.height >= LARGE_MASK_PX {
        VectorWriter::create_large
    } else {
        VectorWriter::create
    };
    let mut writer = create(&job.out, &job.layer, &projection, &fields)?;
    let mut rejected = match &job.classify {
        Some(c) => Some(VectorWriter::create(
            &c.rejected,
            "rejected",
            &projection,
            &fields,
        )?),
        None => None,
    };
    let classify = job.classify.clone();
    // The mask class each pass traces (None for a plain mask).
    let pass_class: Vec<Option<u32>> = passes
        .iter()
        .map(|r| match (job.foreground, r) {
            (Foreground::Classes(_), Foreground::Value(v)) => Some(*v as u32),
            _ => None,
        })
        .collect();
    let min_area_m2 = job.min_area_m2;
    let simplify_px2 = job.simplify_m2 / px_m2;
    let width = src.width;
    // Geometry, attributes and the layer are done by a writer thread, overlapping tracing.
    let ((), (pixels, area, polygons, path)) = crate::stream::with_writer(
        4,
        &job.out,
        move |out_rx: crossbeam_channel::Receiver<(Option<u32>, Vec<Component>)>| -> Result<(u64, f64, u64, PathBuf)> {
                let (mut pixels, mut area) = (0u64, 0.0f64);
                let encoder = writer.encoder();
                let reject_encoder = rejected.as_ref().map_or(encoder, VectorWriter::encoder);
                for (class, comps) in out_rx {
                    let features: Vec<Result<Vec<Feature>>> = comps
                        .par_iter()
                        .map(|c| {
                            let exact = to_world(&c.polygons, &gt);
                            let (mut m, values) = attributes(c, &exact, &gt, g);
                            m.mask_class = class;
                            if m.area_m2 < min_area_m2 {
                                return Ok(Vec::new());
                            }
                            let geom = |c: &Component, exact: MultiPolygon<f64>| {
                                if simplify_px2 > 0.0 {
                                    to_world_simplified(&c.polygons, &gt, simplify_px2)
                                } else {
                                    exact
                                }
                            };
                            let Some(k) = &classify else {
                                return Ok(vec![Feature {
                                    area: m.area_m2,
                                    pixels: c.pixels,
                                    encoded: encoder.encode(&geom(c, exact), values),
                                    pseudo: false,
                                }]);
                            };
                            // Pieces of a split component are measured afresh.
                            let base = |p: &Component| {
                                let geom = to_world(&p.polygons, &gt);
                                let (mut measured, values) = attributes(p, &geom, &gt, g);
                                measured.mask_class = class;
                                Untyped {
                                    geom,
                                    measured,
                                    values,
                                }
                            };
                            let whole = Untyped {
                                geom: exact,
                                measured: m,
                                values,
                            };
                            let typed = k.type_component(c, whole, &base, min_area_m2)?;
                            Ok(typed
                                .into_iter()
                                .map(|t| {
                                    let pseudo = t.decision.pseudo.is_some();
                                    let to = if pseudo { reject_encoder } else { encoder };
                                    Feature {
                                        area: t.measured.area_m2,
                                        pixels: t.component.pixels,
                                        pseudo,
                                        encoded: to.encode(&geom(&t.component, t.geom), t.values),
                                    }
                                })
                                .collect())
                        })
                        .collect();
                    for f in features {
                        for f in f? {
                            match (&mut rejected, f.pseudo) {
                                (Some(r), true) => r.push_encoded(f.encoded)?,
                                _ => {
                                    pixels += f.pixels;
                                    area += f.area;
                                    writer.push_encoded(f.encoded)?;
                                }
                            }
                        }
                    }
                }
                let polygons = writer.written_total();
                if let Some(r) = rejected {
                    r.finish()?;
                }
                Ok((pixels, area, polygons, writer.finish()?))
            },
        move |out_tx| {
            // One reader decodes each row of the mask (and the evidence) once for every pass;
            // each pass has its own polygonizer, so regions of different classes stay apart.
            std::thread::scope(|s| {
                let (grid, passes) = (&grid, &passes);
                let rows_rx =
                    crate::stream::reader(s, 1, 0..rows, move |r| src.read_row_passes(grid, r, passes));
                let mut polys: Vec<Polygonizer> = passes
                    .iter()
                    .map(|_| Polygonizer::new(width, job.tile_px, options))
                    .collect();
                for r in 0..rows {
                    let tiles = match rows_rx.recv() {
                        Ok(row) => row?,
                        Err(_) => break,
                    };
                    for (k, (poly, tiles)) in polys.iter_mut().zip(tiles).enumerate() {
                        let comps = poly.push_row(&tiles, r + 1 == rows);
                        if out_tx.send((pass_class[k], comps)).is_err() {
                            return Ok(());
                        }
                    }
                    progress("polygonize", r as u64 + 1, rows as u64);
                }
                Ok(())
            })
        },
    )?;
    Ok(PolygonizeSummary {
        path,
        polygons,
        pixels,
        area_m2: area,
        area_method: match g {
            Ground::Projected(_) => "planar (pixel count x pixel area, projected CRS)",
            Ground::Geodesic => "geodesic (ellipsoidal, geographiclib)",
            Ground::Pixels => "pixels (no georeference)",
        },
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// The default output path for polygons next to a mask.
pub fn default_out(mask: &Path) -> PathBuf {
    mask.with_extension("gpkg")
}
