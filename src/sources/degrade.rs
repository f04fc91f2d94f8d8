//! A source degraded on purpose: coarser pixels (area-averaged, as a sensor integrates),
//! sensor noise, a shift of the after image, haze on the after image. Written as GeoTIFFs of
//! the source's data type, so detection reads them as it reads the source.

use crate::error::{Error, Result};
use gdal::raster::{GdalDataType, RasterCreationOptions};
use gdal::{Dataset, Metadata};
use serde::Serialize;
use std::path::Path;

/// How a source is degraded (each `None` leaves it as it is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Degradation {
    /// New pixel size, metres (coarser than the source's): each new pixel is the mean of the
    /// source pixels it covers.
    pub resample_m: Option<f64>,
    /// Standard deviation of Gaussian noise added to every band of both dates, in reflectance
    /// (0.01 = 1 %; times 10000 for 16-bit products, 255 for 8-bit images).
    pub noise: Option<f64>,
    /// Shift of the after image's content, in the source's pixels (x to the east, y to the
    /// south): the after image shows at `(x + dx, y + dy)` what it showed at `(x, y)`.
    pub shift_px: Option<[f64; 2]>,
    /// Path radiance added to every band of the after image, in reflectance.
    pub haze: Option<f64>,
}

impl Degradation {
    /// True when nothing is degraded.
    pub fn is_none(&self) -> bool {
        *self == Degradation::default()
    }

    /// Range checks, as a reason.
    ///
    /// # Errors
    /// The first value out of range.
    pub fn check(&self) -> std::result::Result<(), String> {
        if let Some(r) = self.resample_m
            && !(r.is_finite() && r > 0.0)
        {
            return Err(format!(
                "resample_m = {r}: expected a pixel size > 0 (metres)"
            ));
        }
        if let Some(n) = self.noise
            && !(n.is_finite() && (0.0..=1.0).contains(&n))
        {
            return Err(format!("noise = {n}: expected a reflectance from 0 to 1"));
        }
        if let Some(h) = self.haze
            && !(h.is_finite() && (0.0..=1.0).contains(&h))
        {
            return Err(format!("haze = {h}: expected a reflectance from 0 to 1"));
        }
        if let Some([x, y]) = self.shift_px
            && !(x.is_finite() && y.is_finite() && x.abs() <= 1000.0 && y.abs() <= 1000.0)
        {
            return Err(format!(
                "shift_px = [{x}, {y}]: expected pixels within ±1000"
            ));
        }
        Ok(())
    }
}

fn fail(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Write {
        path: path.into(),
        reason: reason.to_string(),
    }
}

/// Write the degraded `src` (one date) to `dst`; `after` applies the after-only degradations
/// (shift, haze); `seed` makes the noise of each source its own (and every run the same).
///
/// # Errors
/// [`Error::Open`] for `src`, [`Error::Write`] for `dst`, each with GDAL's reason; a
/// resampling or shift of an image without a projected georeference is refused.
pub fn degrade(src: &Path, dst: &Path, d: &Degradation, after: bool, seed: u64) -> Result<()> {
    // A paletted source is degraded as its colours (resampling indices mixes unrelated ones).
    let (ds, _) = crate::raster::pair::open_image(src)?;
    let band1 = ds.rasterband(1).map_err(|e| Error::open(src, e))?;
    let dtype = band1.band_type();
    let nodata = band1.no_data_value();
    let gt = ds.geo_transform().ok();
    let shift = if after { d.shift_px } else { None };
    let (w, h) = ds.raster_size();
    let target = match (d.resample_m, gt) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Error::Open {
                path: src.into(),
                reason: "resample_m needs a georeferenced image (for images without one, give the bench pixel_m = their ground size in metres)".into(),
            });
        }
        (Some(m), Some(g)) => {
            let srs = ds.spatial_ref().ok();
            if srs.as_ref().is_some_and(|s| s.is_geographic()) {
                return Err(Error::Open {
                    path: src.into(),
                    reason: "resample_m is in metres: the image is in a geographic CRS".into(),
                });
            }
            let (ew, eh) = (w as f64 * g[1].abs(), h as f64 * g[5].abs());
            let (nw, nh) = (
                (ew / m).round().max(1.0) as usize,
                (eh / m).round().max(1.0) as usize,
            );
            Some((
                nw,
                nh,
                [g[0], m * g[1].signum(), 0.0, g[3], 0.0, m * g[5].signum()],
            ))
        }
    };
    let partial = crate::output::partial_path(dst);
    let _ = std::fs::remove_file(&partial);
    if target.is_some() || shift.is_some() {
        let Some(g) = gt else {
            return Err(Error::Open {
                path: src.into(),
                reason: "shift_px needs a georeferenced image".into(),
            });
        };
        let (nw, nh, ngt) = target.unwrap_or((w, h, g));
        // The shift: the source with its origin moved by it (a VRT, no pixels copied; dropped
        // before `ds`), warped back onto the grid, shows its content moved by it.
        let shifted;
        let from: &Dataset = match shift {
            Some([dx, dy]) => {
                shifted = crate::raster::moved_vrt(&ds, (dx, dy)).map_err(|e| fail(dst, e))?;
                &shifted
            }
            None => &ds,
        };
        let mut out = create_like(&ds, &partial, (nw, nh), dtype, nodata)?;
        out.set_geo_transform(&ngt).map_err(|e| fail(dst, e))?;
        out.set_projection(&ds.projection())
            .map_err(|e| fail(dst, e))?;
        // Coarser pixels average what they cover; a shift alone interpolates.
        let alg = if target.is_some() {
            gdal_sys::GDALResampleAlg::GRA_Average
        } else {
            gdal_sys::GDALResampleAlg::GRA_Bilinear
        };
        // SAFETY: both handles are valid datasets owned here for the whole call; null WKTs
        // take the datasets' own CRS, and no options, progress or transformer are passed.
        let rv = unsafe {
            gdal_sys::GDALReprojectImage(
                from.c_dataset(),
                std::ptr::null(),
                out.c_dataset(),
                std::ptr::null(),
                alg,
                0.0,
                0.0,
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rv != gdal_sys::CPLErr::CE_None {
            return Err(fail(dst, "GDAL could not warp the image"));
        }
        out.flush_cache().map_err(|e| fail(dst, e))?;
    } else {
        let gtiff = gdal::DriverManager::get_driver_by_name("GTiff").map_err(|e| fail(dst, e))?;
        let opts =
            RasterCreationOptions::from_iter(["TILED=YES", "COMPRESS=ZSTD", "BIGTIFF=IF_SAFER"]);
        ds.create_copy(&gtiff, &partial, &opts)
            .map_err(|e| fail(dst, e))?;
    }
    let noise = d.noise.filter(|n| *n > 0.0);
    let haze = if after {
        d.haze.filter(|h| *h > 0.0)
    } else {
        None
    };
    if noise.is_some() || haze.is_some() {
        // Reflectance units of the values, as detect reads them.
        let scale = crate::raster::pair::value_scale(dtype);
        add_noise_and_haze(
            &partial,
            noise.map(|n| n * scale),
            haze.map(|h| h * scale),
            nodata,
            seed.wrapping_mul(2).wrapping_add(u64::from(after)),
        )?;
    }
    std::fs::rename(&partial, dst).map_err(|e| fail(dst, e))
}

/// A GeoTIFF like `src` (band count, colour interpretation, scale and offset, nodata; integer
/// images without nodata get 0, the value of ground no source covers).
fn create_like(
    src: &Dataset,
    path: &Path,
    (w, h): (usize, usize),
    dtype: GdalDataType,
    nodata: Option<f64>,
) -> Result<Dataset> {
    let gtiff = gdal::DriverManager::get_driver_by_name("GTiff").map_err(|e| fail(path, e))?;
    let opts = RasterCreationOptions::from_iter(["TILED=YES", "COMPRESS=ZSTD", "BIGTIFF=IF_SAFER"]);
    let bands = src.raster_count();
    let out = match dtype {
        GdalDataType::UInt8 => {
            gtiff.create_with_band_type_with_options::<u8, _>(path, w, h, bands, &opts)
        }
        GdalDataType::UInt16 => {
            gtiff.create_with_band_type_with_options::<u16, _>(path, w, h, bands, &opts)
        }
        GdalDataType::Int16 => {
            gtiff.create_with_band_type_with_options::<i16, _>(path, w, h, bands, &opts)
        }
        GdalDataType::Float64 => {
            gtiff.create_with_band_type_with_options::<f64, _>(path, w, h, bands, &opts)
        }
        _ => gtiff.create_with_band_type_with_options::<f32, _>(path, w, h, bands, &opts),
    }
    .map_err(|e| fail(path, e))?;
    let fill = nodata.unwrap_or(
        if matches!(dtype, GdalDataType::Float32 | GdalDataType::Float64) {
            f64::NAN
        } else {
            0.0
        },
    );
    for b in 1..=bands {
        let mut band = out.rasterband(b).map_err(|e| fail(path, e))?;
        band.set_no_data_value(Some(fill))
            .map_err(|e| fail(path, e))?;
        band.fill(fill, None).map_err(|e| fail(path, e))?;
        if let Ok(sb) = src.rasterband(b) {
            let _ = band.set_color_interpretation(sb.color_interpretation());
            let _ = band.set_description(&sb.description().unwrap_or_default());
            // The raw values keep their meaning: the bands' own scale and offset go along.
            if let Some(s) = sb.scale() {
                band.set_scale(s).map_err(|e| fail(path, e))?;
            }
            if let Some(o) = sb.offset() {
                band.set_offset(o).map_err(|e| fail(path, e))?;
            }
        }
    }
    Ok(out)
}

/// SplitMix64's step from `z` (the synth generator's, [`crate::synth::world::Rng`]): every
/// input bit moves every output bit.
fn mix(z: u64) -> u64 {
    crate::synth::world::Rng::from_state(z).next_u64()
}

/// A standard normal deviate from a hash of (seed, pixel, band): the sum of four uniforms,
/// centred and scaled (Irwin-Hall), deterministic on every machine; the seeds of the two dates
/// give independent noise.
fn gaussian(seed: u64, i: u64, b: u64) -> f64 {
    let mut h = mix(mix(mix(seed) ^ i) ^ b);
    let mut s = 0.0;
    for _ in 0..4 {
        h = mix(h);
        s += (h >> 11) as f64 / (1u64 << 53) as f64;
    }
    (s - 2.0) * 3f64.sqrt()
}

/// Add noise (standard deviation in band units) and haze (band units) to every valid pixel of
/// the GeoTIFF at `path`, in place, strip by strip.
fn add_noise_and_haze(
    path: &Path,
    sigma: Option<f64>,
    haze: Option<f64>,
    nodata: Option<f64>,
    seed: u64,
) -> Result<()> {
    let ds = Dataset::open_ex(
        path,
        gdal::DatasetOptions {
            open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE | gdal::GdalOpenFlags::GDAL_OF_RASTER,
            ..Default::default()
        },
    )
    .map_err(|e| fail(path, e))?;
    let (w, h) = ds.raster_size();
    let strip = 256usize;
    for b in 1..=ds.raster_count() {
        let mut band = ds.rasterband(b).map_err(|e| fail(path, e))?;
        let fill = band.no_data_value().or(nodata);
        for y0 in (0..h).step_by(strip) {
            let rows = strip.min(h - y0);
            let mut buf = band
                .read_as::<f64>((0, y0 as isize), (w, rows), (w, rows), None)
                .map_err(|e| fail(path, e))?;
            for (k, v) in buf.data_mut().iter_mut().enumerate() {
                if !v.is_finite() || fill.is_some_and(|f| *v == f) {
                    continue;
                }
                let i = (y0 * w + k) as u64;
                let mut x = *v + haze.unwrap_or(0.0);
                if let Some(s) = sigma {
                    x += s * gaussian(seed, i, b as u64);
                }
                // Integer images: never onto their nodata value 0.
                *v = if fill == Some(0.0) { x.max(1.0) } else { x };
            }
            band.write((0, y0 as isize), (w, rows), &mut buf)
                .map_err(|e| fail(path, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_noise_is_standard_normal_and_repeatable() {
        let n = 200_000u64;
        let v: Vec<f64> = (0..n).map(|i| gaussian(7, i, 1)).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
        assert_eq!(gaussian(7, 5, 1), gaussian(7, 5, 1));
        // Neighbouring seeds (the two dates of a source) are independent.
        let w: Vec<f64> = (0..n).map(|i| gaussian(6, i, 1)).collect();
        let cov = v.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() / n as f64;
        assert!(cov.abs() < 0.01, "{cov}");
    }

    #[test]
    fn a_paletted_source_is_degraded_as_its_colours() {
        use gdal::raster::{ColorEntry, ColorInterpretation, ColorTable, PaletteInterpretation};
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("pal.tif"), dir.path().join("out.tif"));
        {
            let drv = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
            let mut ds = drv.create_with_band_type::<u8, _>(&src, 4, 2, 1).unwrap();
            ds.set_geo_transform(&[500_000.0, 2.0, 0.0, 3_000_000.0, 0.0, -2.0])
                .unwrap();
            let mut band = ds.rasterband(1).unwrap();
            let mut buf = gdal::raster::Buffer::new((4, 2), vec![0u8, 1, 2, 3, 3, 2, 1, 0]);
            band.write((0, 0), (4, 2), &mut buf).unwrap();
            let mut table = ColorTable::new(PaletteInterpretation::Rgba);
            for k in 0..4i16 {
                table.set_color_entry(k as u16, &ColorEntry::rgba(10 * k, 100 + k, 200 - k, 255));
            }
            band.set_color_table(&table);
            band.set_color_interpretation(ColorInterpretation::PaletteIndex)
                .unwrap();
        }
        let noise = Degradation {
            noise: Some(0.0),
            ..Default::default()
        };
        degrade(&src, &dst, &noise, false, 1).unwrap();
        let out = gdal::Dataset::open(&dst).unwrap();
        assert_eq!(out.raster_count(), 3);
        let band = |b: usize| -> Vec<f64> {
            out.rasterband(b)
                .unwrap()
                .read_as::<f64>((0, 0), (4, 2), (4, 2), None)
                .unwrap()
                .data()
                .to_vec()
        };
        assert_eq!(band(1), [0.0, 10.0, 20.0, 30.0, 30.0, 20.0, 10.0, 0.0]);
        assert_eq!(
            band(3),
            [200.0, 199.0, 198.0, 197.0, 197.0, 198.0, 199.0, 200.0]
        );
    }

    #[test]
    fn degradations_out_of_range_are_named() {
        let bad = |d: Degradation| d.check().unwrap_err();
        assert!(
            bad(Degradation {
                resample_m: Some(0.0),
                ..Default::default()
            })
            .contains("resample_m")
        );
        assert!(
            bad(Degradation {
                noise: Some(-1.0),
                ..Default::default()
            })
            .contains("noise")
        );
        assert!(
            bad(Degradation {
                haze: Some(f64::NAN),
                ..Default::default()
            })
            .contains("haze")
        );
        assert!(
            bad(Degradation {
                shift_px: Some([1e9, 0.0]),
                ..Default::default()
            })
            .contains("shift_px")
        );
        assert!(Degradation::default().is_none());
    }
}
