//! Raster IO and tiling.
pub mod grid;
