//! tuban: change polygons (图斑) from two dates of satellite imagery.
pub mod change;
pub mod error;
pub mod gpu;
pub mod raster;

pub use error::{Error, Result};
pub mod pipeline;
