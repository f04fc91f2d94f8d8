//! Wiring of the stages. [`detect`] runs raster -> change for a pair of images and writes the
//! evidence and mask rasters.

#[cfg(feature = "gdal")]
pub mod checkpoint;
#[cfg(feature = "gdal")]
pub mod classify;
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

/// Progress reports from long stages: the stage name, units done, units in total.
pub type ProgressFn<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);
