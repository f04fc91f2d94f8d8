//! Writers of tuban's products.
#[cfg(feature = "gdal")]
pub mod gpkg;
#[cfg(feature = "gdal")]
pub mod vector;
