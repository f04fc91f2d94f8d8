//! Raster IO and tiling: the tile grid (always built), and with the `gdal` feature the pair
//! reader (band mapping, nodata, co-registration) and the GeoTIFF writer.

pub mod bands;
#[cfg(feature = "gdal")]
pub mod crs;
pub mod grid;
pub mod pool;

#[cfg(feature = "gdal")]
pub mod blocks;
pub mod fill;
#[cfg(feature = "gdal")]
pub mod pair;
pub mod registration;
pub mod values;
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

/// GDAL's last error message on this thread (for errors of raw GDAL calls).
#[cfg(feature = "gdal")]
pub fn gdal_last_error() -> String {
    // SAFETY: CPLGetLastErrorMsg returns a pointer to a NUL-terminated thread-local string
    // (never null), copied out at once.
    unsafe { std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()) }
        .to_string_lossy()
        .into_owned()
}

/// Command-line style arguments for GDAL's utility functions (GDALTranslateOptionsNew, ...):
/// the strings and the NULL-terminated pointer array to them, kept together so the pointers
/// stay valid while this lives.
#[cfg(feature = "gdal")]
pub struct GdalArgs {
    _strings: Vec<std::ffi::CString>,
    pointers: Vec<*mut std::ffi::c_char>,
}

#[cfg(feature = "gdal")]
impl GdalArgs {
    /// # Errors
    /// An argument holds a NUL byte.
    pub fn new(args: &[&str]) -> std::result::Result<Self, std::ffi::NulError> {
        let strings = args
            .iter()
            .map(|a| std::ffi::CString::new(*a))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut pointers: Vec<*mut std::ffi::c_char> =
            strings.iter().map(|a| a.as_ptr().cast_mut()).collect();
        pointers.push(std::ptr::null_mut());
        Ok(GdalArgs {
            _strings: strings,
            pointers,
        })
    }

    /// The `char **` GDAL takes (it does not write through it).
    pub fn argv(&mut self) -> *mut *mut std::ffi::c_char {
        self.pointers.as_mut_ptr()
    }
}

/// GDAL settings for streaming, unless the user set them: a block cache of `cache_mb` MiB (the
/// default, 5 % of RAM, lets the cache alone outgrow the tile budget on big machines; the
/// resident size grows by well over the cache: synth's 16384² scene peaks at 1.07 GB with
/// 256 MiB, 0.54 GB with 64) and multi-threaded decoding of compressed GeoTIFF blocks
/// (GDAL >= 3.6). Called before the first raster is opened (GDAL reads the size once).
#[cfg(feature = "gdal")]
pub fn tune_gdal(cache_mb: u32) {
    let cache = cache_mb.to_string();
    for (key, value) in [
        ("GDAL_CACHEMAX", cache.as_str()),
        ("GDAL_NUM_THREADS", "ALL_CPUS"),
    ] {
        if std::env::var_os(key).is_none()
            && gdal::config::get_config_option(key, "")
                .unwrap_or_default()
                .is_empty()
        {
            let _ = gdal::config::set_config_option(key, value);
        }
    }
}

/// Geotransform `g` with its origin moved by `(dx, dy)` of its pixels (x east, y south).
pub fn moved_origin(g: [f64; 6], (dx, dy): (f64, f64)) -> [f64; 6] {
    let mut m = g;
    m[0] += dx * g[1] + dy * g[2];
    m[3] += dx * g[4] + dy * g[5];
    m
}

/// A VRT of `ds` (no pixels copied) whose origin is moved by `(dx, dy)` of its pixels (x east,
/// y south): warped onto a grid, its content shows moved by `(dx, dy)`. It reads through `ds`,
/// so it must be dropped first.
///
/// # Errors
/// GDAL's reason, when `ds` has no geotransform or the VRT cannot be made.
#[cfg(feature = "gdal")]
pub fn moved_vrt(ds: &gdal::Dataset, (dx, dy): (f64, f64)) -> Result<gdal::Dataset, String> {
    let g = ds.geo_transform().map_err(|e| e.to_string())?;
    let vrt = gdal::DriverManager::get_driver_by_name("VRT").map_err(|e| e.to_string())?;
    let mut moved = ds
        .create_copy(&vrt, "", &Default::default())
        .map_err(|e| e.to_string())?;
    moved
        .set_geo_transform(&moved_origin(g, (dx, dy)))
        .map_err(|e| e.to_string())?;
    Ok(moved)
}
