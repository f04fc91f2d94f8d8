//! tuban: change polygons (图斑) from two dates of satellite imagery.
//!
//! The pipeline, one module per stage (see `DESIGN.md` in the shared docs):
//!
//! 1. [`raster`]: open two dates with GDAL, check co-registration (CRS, pixel size, grid
//!    alignment; optional warp), cut the overlap into tiles with a halo.
//! 2. [`change`]: per tile, radiometric normalisation of the after image, change evidence
//!    (building-index change, change vector, spectral angle, index differences, SAR log-ratio),
//!    threshold (Otsu over a scene-wide sample, or a value), morphological opening and closing.
//!    Each kernel is a WGSL shader run by [`gpu`] with a CPU twin in [`change::cpu`]; the two
//!    give the same mask.
//!    A learned model's change probability can be the evidence instead ([`model`]: an ONNX
//!    engine with the convolutions on the CPU or as a WGSL kernel, and `tuban train`).
//! 3. [`pipeline`]: the streaming drivers; [`pipeline::detect::detect`] writes `evidence.tif`
//!    and `change.tif` for a pair of images.
//!
//! # Examples
//!
//! A 16 x 16 two-band tile in memory where an 8 x 8 bright roof appears in the after date:
//!
//! ```
//! use tuban::change::{BandRoles, PipelineConfig, Plan, Threshold, TileInput};
//! use tuban::change::cpu::{Driver, run_tile};
//!
//! let (w, h) = (16, 16);
//! let before = vec![100.0f32; w * h * 2];
//! let mut after = before.clone();
//! for y in 4..12 {
//!     for x in 4..12 {
//!         after[y * w + x] = 900.0; // band 1
//!         after[w * h + y * w + x] = 900.0; // band 2
//!     }
//! }
//! let input = TileInput { width: w, height: h, bands: 2, before, after, valid: vec![1; w * h] };
//! let config = PipelineConfig { threshold: Threshold::Value(50.0), mbi_half_px: (1, 6), ..Default::default() };
//! let plan = Plan { threshold: 50.0, ..Plan::new(config, 2, BandRoles::NONE) };
//! let result = run_tile(Driver::Rayon, &plan, &input, true);
//! let changed = result.mask.iter().filter(|&&m| m == 1).count();
//! assert_eq!(changed, 64);
//! ```

pub mod change;
pub mod classify;
#[cfg(feature = "gdal")]
pub mod coverage;
pub mod engine;
pub mod error;
pub mod eval;
pub mod geom;
pub mod gpu;
pub mod job;
pub mod learn;
#[cfg(feature = "gdal")]
pub mod ledger;
pub mod model;
pub mod output;
pub mod overlay;
pub mod pipeline;
pub mod raster;
#[cfg(feature = "gdal")]
pub mod serve;
#[cfg(feature = "gdal")]
pub mod sources;
pub mod stream;
pub mod synth;
pub mod timing;
pub mod vectorize;

pub use error::{Error, Result};

/// One mu (亩), the unit the rules are written in: 10,000 / 15 m².
pub const MU_M2: f64 = 10_000.0 / 15.0;
