//! Vectorize: change masks to valid polygons, tile by tile in parallel, seams stitched so the
//! result equals a whole-scene polygonization.
pub mod assemble;
pub mod geometry;
pub mod label;
#[cfg(feature = "gdal")]
pub mod source;
pub mod stitch;
pub mod tile;
pub mod trace;
pub mod valid;
