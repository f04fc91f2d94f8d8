//! Output rasters: tiled, compressed GeoTIFFs written window by window under a temporary name
//! and renamed into place only by [`OutputRaster::finish`], so an interrupted run never leaves
//! a file that looks complete.

use super::grid::Window;
use crate::error::{Error, Result};
use gdal::Dataset;
use gdal::raster::{Buffer, GdalType, RasterCreationOptions};
use std::path::{Path, PathBuf};

/// A single-band GeoTIFF being written.
pub struct OutputRaster {
    ds: Option<Dataset>,
    tmp: PathBuf,
    path: PathBuf,
}

/// Shape and encoding of an output raster.
#[derive(Clone, Copy, Debug)]
pub struct RasterSpec<'a> {
    pub width: usize,
    pub height: usize,
    pub bands: usize,
    pub nodata: Option<f64>,
    /// GeoTIFF predictor option, e.g. "PREDICTOR=2".
    pub predictor: &'a str,
    /// Rows per GeoTIFF tile: match the rows written at once, so that each write completes
    /// whole tiles and no half-written tile waits in the block cache.
    pub tile_rows: usize,
    /// Columns per GeoTIFF tile (a multiple of 16).
    pub tile_cols: usize,
}

/// Georeference to stamp on outputs.
#[derive(Clone, Debug)]
pub struct Georef {
    pub geo_transform: Option<[f64; 6]>,
    pub projection: String,
}

use crate::output::partial_path;

impl OutputRaster {
    /// Create `path` (written as a hidden `.NAME.partial` until finished) with pixel type `T`.
    ///
    /// # Errors
    /// [`Error::Write`] naming `path` when the file cannot be created.
    pub fn create<T: GdalType>(
        path: &Path,
        width: usize,
        height: usize,
        georef: &Georef,
        nodata: f64,
        predictor: &str,
    ) -> Result<Self> {
        Self::create_tiled::<T>(path, (width, height), georef, nodata, predictor, 512)
    }

    /// Set a metadata item of band 1 (e.g. what the values of a class raster mean).
    ///
    /// # Errors
    /// [`Error::Write`] naming the file.
    pub fn set_band_metadata(&mut self, key: &str, value: &str) -> Result<()> {
        use gdal::Metadata;
        let Some(ds) = &self.ds else {
            return Ok(());
        };
        let mut band = ds.rasterband(1).map_err(|e| Error::write(&self.path, e))?;
        band.set_metadata_item(key, value, "")
            .map_err(|e| Error::write(&self.path, e))
    }

    /// Set the description of band `band` (1-based): a probability raster's TBLX per band.
    ///
    /// # Errors
    /// [`Error::Write`] naming the file.
    pub fn set_band_description(&mut self, band: usize, text: &str) -> Result<()> {
        let Some(ds) = &self.ds else {
            return Ok(());
        };
        let mut b = ds
            .rasterband(band)
            .map_err(|e| Error::write(&self.path, e))?;
        gdal::Metadata::set_description(&mut b, text).map_err(|e| Error::write(&self.path, e))
    }

    /// As [`OutputRaster::create`], with square GeoTIFF tiles of `tile_px` (a multiple of 16).
    ///
    /// # Errors
    /// [`Error::Write`] naming `path` when the file cannot be created.
    pub fn create_tiled<T: GdalType>(
        path: &Path,
        size: (usize, usize),
        georef: &Georef,
        nodata: f64,
        predictor: &str,
        tile_px: usize,
    ) -> Result<Self> {
        let spec = RasterSpec {
            width: size.0,
            height: size.1,
            bands: 1,
            nodata: Some(nodata),
            predictor,
            tile_rows: tile_px,
            tile_cols: tile_px,
        };
        Self::create_bands::<T>(path, &spec, georef)
    }

    /// Create a raster of `spec.bands` bands (see [`OutputRaster::create`]).
    ///
    /// # Errors
    /// [`Error::Write`] naming `path` when the file cannot be created.
    pub fn create_bands<T: GdalType>(
        path: &Path,
        spec: &RasterSpec,
        georef: &Georef,
    ) -> Result<Self> {
        let err = |e: gdal::errors::GdalError| Error::Write {
            path: path.into(),
            reason: e.to_string(),
        };
        let tmp = partial_path(path);
        let drv = gdal::DriverManager::get_driver_by_name("GTiff").map_err(err)?;
        let opts = RasterCreationOptions::from_iter([
            "TILED=YES",
            &format!("BLOCKXSIZE={}", spec.tile_cols),
            &format!("BLOCKYSIZE={}", spec.tile_rows),
            "COMPRESS=ZSTD",
            "ZSTD_LEVEL=1",
            spec.predictor,
            "BIGTIFF=IF_SAFER",
            // GDAL's GeoTIFF flush waits for these compression jobs (resume relies on it).
            "NUM_THREADS=ALL_CPUS",
        ]);
        let mut ds = drv
            .create_with_band_type_with_options::<T, _>(
                &tmp,
                spec.width,
                spec.height,
                spec.bands,
                &opts,
            )
            .map_err(err)?;
        if let Some(gt) = georef.geo_transform {
            ds.set_geo_transform(&gt).map_err(err)?;
        }
        if !georef.projection.is_empty() {
            ds.set_projection(&georef.projection).map_err(err)?;
        }
        if let Some(nd) = spec.nodata {
            for b in 1..=spec.bands {
                ds.rasterband(b)
                    .map_err(err)?
                    .set_no_data_value(Some(nd))
                    .map_err(err)?;
            }
        }
        Ok(OutputRaster {
            ds: Some(ds),
            tmp,
            path: path.into(),
        })
    }

    /// Reopen, for update, the partial file an interrupted run left for `path` (None when there
    /// is none or it cannot be opened: the caller starts over).
    pub fn resume(path: &Path) -> Option<Self> {
        let tmp = partial_path(path);
        if !tmp.is_file() {
            return None;
        }
        let ds = Dataset::open_ex(
            &tmp,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_RASTER
                    | gdal::GdalOpenFlags::GDAL_OF_UPDATE,
                ..Default::default()
            },
        )
        .ok()?;
        Some(OutputRaster {
            ds: Some(ds),
            tmp,
            path: path.into(),
        })
    }

    /// Write every cached block and the file's directory to disk, so that what was written so
    /// far survives the process being killed.
    ///
    /// # Errors
    /// [`Error::Write`] naming the file.
    pub fn flush(&mut self) -> Result<()> {
        let ds = self.ds.as_mut().expect("flushed before finish");
        // Twice: GDAL's GeoTIFF flush writes the directory before the dirty blocks, so the
        // tile offsets on disk catch up with the blocks only on the second call.
        for _ in 0..2 {
            ds.flush_cache().map_err(|e| Error::Write {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// The dataset being written (to set band metadata or colour interpretation).
    pub fn dataset(&self) -> &Dataset {
        self.ds.as_ref().expect("used before finish")
    }

    /// Write `data` (row-major, `w.width` wide) into window `w`.
    ///
    /// # Errors
    /// [`Error::Write`] naming the file.
    pub fn write<T: GdalType + Copy>(&mut self, w: Window, data: Vec<T>) -> Result<()> {
        self.write_band(1, w, data)
    }

    /// Write `data` into window `w` of band `band` (1-based).
    ///
    /// # Errors
    /// [`Error::Write`] naming the file.
    pub fn write_band<T: GdalType + Copy>(
        &mut self,
        band: usize,
        w: Window,
        data: Vec<T>,
    ) -> Result<()> {
        let err = |e: gdal::errors::GdalError| Error::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let ds = self.ds.as_ref().expect("written after finish");
        let mut band = ds.rasterband(band).map_err(err)?;
        let mut buf = Buffer::new((w.width, w.height), data);
        band.write((w.x as isize, w.y as isize), (w.width, w.height), &mut buf)
            .map_err(err)
    }

    /// Write every band of window `w` at once from pixel-interleaved `data` (`B` values per
    /// pixel, row-major, `w.width` wide): one dataset-level RasterIO, so GDAL fills each block
    /// of a pixel-interleaved file once instead of once per band.
    ///
    /// # Errors
    /// [`Error::Write`] naming the file, also when the raster has not `B` bands or `data` does
    /// not cover the window.
    pub fn write_pixels<T: GdalType + Copy, const B: usize>(
        &mut self,
        w: Window,
        data: &[[T; B]],
    ) -> Result<()> {
        let fail = |reason: String| Error::Write {
            path: self.path.clone(),
            reason,
        };
        let ds = self.ds.as_ref().expect("written after finish");
        if ds.raster_count() != B || data.len() != w.pixels() {
            return Err(fail(format!(
                "{} values of {B} bands for a {}x{} window of a {}-band raster",
                data.len(),
                w.width,
                w.height,
                ds.raster_count()
            )));
        }
        let to_i32 = |v: usize| i32::try_from(v).map_err(|_| fail(format!("{v} px window")));
        let (x, y, width, height) = (
            to_i32(w.x)?,
            to_i32(w.y)?,
            to_i32(w.width)?,
            to_i32(w.height)?,
        );
        let value = std::mem::size_of::<T>();
        // SAFETY: `data` holds exactly `w.width * w.height` pixels of `B` values of `T`, laid
        // out with the pixel, line and band spacings passed; GDAL only reads it (GF_Write); a
        // null band map means bands 1..=B, which the dataset has (checked above).
        let rv = unsafe {
            gdal_sys::GDALDatasetRasterIOEx(
                ds.c_dataset(),
                gdal_sys::GDALRWFlag::GF_Write,
                x,
                y,
                width,
                height,
                data.as_ptr().cast_mut().cast(),
                width,
                height,
                T::gdal_ordinal(),
                B as i32,
                std::ptr::null_mut(),
                (B * value) as i64,
                (B * value * w.width) as i64,
                value as i64,
                std::ptr::null_mut(),
            )
        };
        if rv == gdal_sys::CPLErr::CE_None {
            Ok(())
        } else {
            Err(fail(super::gdal_last_error().trim().to_string()))
        }
    }

    /// Flush, close and rename into place.
    ///
    /// # Errors
    /// [`Error::Write`] when flushing or renaming fails.
    pub fn finish(mut self) -> Result<PathBuf> {
        let ds = self.ds.take().expect("finished once");
        ds.close().map_err(|e| Error::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::Write {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        Ok(self.path.clone())
    }
}

impl Drop for OutputRaster {
    fn drop(&mut self) {
        // Not finished: an error or a panic. Remove the partial file.
        if self.ds.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_interleaved_writes_land_band_by_band() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("four.tif");
        let spec = RasterSpec {
            width: 40,
            height: 20,
            bands: 4,
            nodata: None,
            predictor: "PREDICTOR=2",
            tile_rows: 16,
            tile_cols: 16,
        };
        let georef = Georef {
            geo_transform: None,
            projection: String::new(),
        };
        let mut out = OutputRaster::create_bands::<u16>(&path, &spec, &georef).unwrap();
        let value = |x: usize, y: usize, b: usize| (1000 * b + 40 * y + x) as u16;
        // Two windows: the top 12 rows, then the rest (not tile-aligned).
        for (y0, h) in [(0, 12), (12, 8)] {
            let w = Window {
                x: 0,
                y: y0,
                width: 40,
                height: h,
            };
            let px: Vec<[u16; 4]> = (0..w.pixels())
                .map(|i| std::array::from_fn(|b| value(i % 40, y0 + i / 40, b)))
                .collect();
            out.write_pixels(w, &px).unwrap();
        }
        // A window the data does not cover, and a band count the raster does not have.
        let w = Window {
            x: 0,
            y: 0,
            width: 4,
            height: 4,
        };
        let err = out
            .write_pixels(w, &[[0u16; 4]; 15])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("four.tif") && err.contains("4x4 window"),
            "{err}"
        );
        let err = out
            .write_pixels(w, &[[0u16; 3]; 16])
            .unwrap_err()
            .to_string();
        assert!(err.contains("4-band raster"), "{err}");
        out.finish().unwrap();
        let ds = Dataset::open(&path).unwrap();
        for b in 0..4 {
            let got = ds
                .rasterband(b + 1)
                .unwrap()
                .read_as::<u16>((0, 0), (40, 20), (40, 20), None)
                .unwrap()
                .data()
                .to_vec();
            let want: Vec<u16> = (0..800).map(|i| value(i % 40, i / 40, b)).collect();
            assert_eq!(got, want, "band {}", b + 1);
        }
    }
}
