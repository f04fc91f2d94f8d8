//! Wiring of the stages; each stage's logic lives in its own module. [`detect`] runs raster ->
//! change for a pair of images and writes the evidence and mask rasters.

#[cfg(feature = "gdal")]
pub mod checkpoint;
#[cfg(feature = "gdal")]
pub mod detect;
pub mod lock;
#[cfg(feature = "gdal")]
pub mod plan;
#[cfg(feature = "gdal")]
pub mod polygonize;
#[cfg(feature = "gdal")]
pub mod run;
#[cfg(feature = "gdal")]
pub mod scenes;

pub use crate::stream::ProgressFn;
