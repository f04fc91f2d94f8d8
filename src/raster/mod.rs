//! Raster IO and tiling: the tile grid (always built), and with the `gdal` feature the pair
//! reader (band mapping, nodata, co-registration) and the GeoTIFF writer.

pub mod bands;
pub mod grid;

#[cfg(feature = "gdal")]
pub mod pair;
#[cfg(feature = "gdal")]
pub mod writer;
