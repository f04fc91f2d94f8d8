//! Writers of tuban's products.
#[cfg(feature = "gdal")]
pub mod vector;
