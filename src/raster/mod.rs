//! Raster IO and tiling: the tile grid (always built), and with the `gdal` feature the pair
//! reader (band mapping, nodata, co-registration) and the GeoTIFF writer.

pub mod bands;
pub mod grid;

#[cfg(feature = "gdal")]
pub mod pair;
#[cfg(feature = "gdal")]
pub mod writer;

/// Open any GDAL dataset, with a clear error naming the file when it is missing or unreadable.
///
/// # Errors
/// [`crate::Error::Open`] naming `path`.
#[cfg(feature = "gdal")]
pub fn open_dataset(path: &std::path::Path) -> crate::Result<gdal::Dataset> {
    let fail = |reason: String| crate::Error::Open {
        path: path.into(),
        reason,
    };
    if !path.exists() {
        return Err(fail("no such file".into()));
    }
    gdal::Dataset::open(path).map_err(|e| fail(e.to_string()))
}
