//! `synth`: a bi-temporal scene of a rural/peri-urban county in which the right answer is known.
//!
//! Outputs (in the output folder): `before.tif`, `after.tif` (4 bands B, G, R, NIR, uint16
//! reflectance x 10000, CGCS2000 3-degree Gauss-Krüger, 0.8 m by default), `truth.tif` (change
//! class code per pixel, 0 = none; band metadata `CLASS_<code>=<TBLX>`), `pseudo.tif`
//! (pseudo-changes that must not be reported: 1 crop phenology, 2 water level, 3 cloud, 4 cloud
//! shadow), `clouds.tif` (cloud and cloud-shadow mask) and `synth.json` (the scene's parameters:
//! haze, misregistration, the change objects). With the `gdal` feature.
//!
//! The scene is rendered tile row by tile row in parallel; every pixel depends only on the seed
//! and its coordinates, so the bytes are the same on any machine and memory stays bounded.

pub mod render;
pub mod scene;
pub mod world;

#[cfg(feature = "gdal")]
mod vectors;
#[cfg(feature = "gdal")]
mod write;

#[cfg(feature = "gdal")]
pub use write::{SynthOptions, SynthSummary, synth};
