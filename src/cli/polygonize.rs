//! `tuban polygonize`: flags -> [`PolygonizeJob`], run, summary.

use super::Progress;
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use tuban::MU_M2;
use tuban::pipeline::polygonize::{PolygonizeJob, polygonize};
use tuban::vectorize::source::Foreground;
use tuban::vectorize::stitch::{Connectivity, PolygonizeOptions};

/// Raw flags of `tuban polygonize`.
#[derive(Debug, Args)]
pub struct PolygonizeArgs {
    /// Single-band mask raster (band 1 is read).
    #[arg(long)]
    pub mask: PathBuf,
    /// Output layer: .gpkg (GeoPackage), .shp (Shapefile, UTF-8 .cpg) or .fgb (FlatGeobuf).
    #[arg(long)]
    pub out: PathBuf,
    /// Foreground is exactly this value (default: any non-zero, non-nodata value).
    #[arg(long, conflicts_with = "min_value")]
    pub value: Option<f64>,
    /// Foreground is this value or more (for probability or score rasters).
    #[arg(long)]
    pub min_value: Option<f64>,
    /// 8: pixels touching at a corner are one polygon (a MultiPolygon whose parts meet at that
    /// corner); 4: only pixels sharing a side.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u8).range(4..=8))]
    pub connectivity: u8,
    /// Evidence raster on the same grid: mean and max per polygon.
    #[arg(long)]
    pub evidence: Option<PathBuf>,
    /// Drop polygons of fewer pixels.
    #[arg(long, default_value_t = 0)]
    pub min_pixels: u64,
    /// Drop polygons smaller than this ground area in m².
    #[arg(long, default_value_t = 0.0)]
    pub min_area_m2: f64,
    /// Drop polygons smaller than this ground area in mu (1 mu = 666.67 m²).
    #[arg(long, default_value_t = 0.0)]
    pub min_area_mu: f64,
    /// Fill holes smaller than this ground area in m².
    #[arg(long, default_value_t = 0.0)]
    pub fill_holes_m2: f64,
    /// Simplify boundaries: drop vertices whose Visvalingam-Whyatt triangle is under this ground
    /// area in m² (topology-preserving; a feature whose simplification would be invalid keeps
    /// its exact pixel boundary). Area attributes stay exact.
    #[arg(long, default_value_t = 0.0)]
    pub simplify_m2: f64,
    /// Tile side in pixels.
    #[arg(long, default_value_t = 1024)]
    pub tile: usize,
    /// Layer name (GeoPackage and FlatGeobuf).
    #[arg(long, default_value = "changes")]
    pub layer: String,
}

fn job(a: &PolygonizeArgs) -> Result<PolygonizeJob> {
    let connectivity = match a.connectivity {
        8 => Connectivity::Eight,
        4 => Connectivity::Four,
        n => bail!("--connectivity {n}: use 4 or 8"),
    };
    if a.tile < 16 {
        bail!("--tile {}: must be at least 16 pixels", a.tile);
    }
    for (name, v) in [
        ("--min-area-m2", a.min_area_m2),
        ("--min-area-mu", a.min_area_mu),
        ("--fill-holes-m2", a.fill_holes_m2),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            bail!("{name} {v}: must be a non-negative number");
        }
    }
    // A NaN matched no pixel and gave an empty layer, exit 0.
    for (name, v) in [("--value", a.value), ("--min-value", a.min_value)] {
        if let Some(v) = v
            && !v.is_finite()
        {
            bail!("{name} {v}: must be a finite number");
        }
    }
    let foreground = match (a.value, a.min_value) {
        (Some(v), _) => Foreground::Value(v),
        (None, Some(m)) => Foreground::AtLeast(m),
        (None, None) => Foreground::NonZero,
    };
    Ok(PolygonizeJob {
        mask: a.mask.clone(),
        out: a.out.clone(),
        evidence: a.evidence.clone(),
        foreground,
        tile_px: a.tile,
        options: PolygonizeOptions {
            connectivity,
            min_pixels: a.min_pixels,
            min_hole_px: 0,
        },
        min_area_m2: a.min_area_m2.max(a.min_area_mu * MU_M2),
        fill_holes_m2: a.fill_holes_m2,
        simplify_m2: a.simplify_m2,
        layer: a.layer.clone(),
        classify: None,
    })
}

pub fn run(a: &PolygonizeArgs) -> Result<()> {
    let job = job(a)?;
    let progress = Progress::new();
    let s = polygonize(&job, &|st, d, t| progress.report(st, d, t));
    progress.finish();
    let s = s?;
    println!(
        "{} polygons, {} px, {:.1} m² ({:.2} mu); areas: {}; {:.2} s; wrote {}",
        s.polygons,
        s.pixels,
        s.area_m2,
        s.area_m2 / MU_M2,
        s.area_method,
        s.seconds,
        s.path.display()
    );
    Ok(())
}
