//! Image chips: a before and an after PNG around each lead, in true colour, with the polygon's
//! outline and a labelled scale bar, for the field team and the report.
//!
//! A chip is square, 256 px, covering the polygon's extent with a margin (at least 64 image
//! pixels), read through GDAL with averaging. Each band of a chip is stretched between the
//! chip's own 2nd and 98th percentiles (readable under haze or next to clouds), widened to a
//! quarter of the image's range (from a decimated read of the whole image) around the chip's
//! median when the chip is nearly flat, so that noise stays noise.
//! Nothing is written next to the imagery (no statistics files).

use crate::error::{Error, Result};
use crate::raster::bands::{Role, parse_bands};
use gdal::Dataset;
use gdal::raster::{Buffer, ResampleAlg};
use geo::{BoundingRect, MultiPolygon};
use std::path::{Path, PathBuf};

/// Chip side in pixels.
pub const CHIP_PX: usize = 256;
/// Narrowest chip stretch, as a share of the image's 2-98 % range.
const MIN_CHIP_RANGE: f64 = 0.25;

/// One date's imagery prepared for chips: its open dataset and what it shows.
pub struct ChipSource {
    ds: Dataset,
    spec: ChipRecipe,
}

/// The value at quantile `q` (the element a sort would put at `round((len - 1) q)`), found by
/// selection: each chip takes three of them per band, and sorting the 65,536 values each time
/// was a twentieth of a run's time on counties with many leads.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let k = ((values.len() - 1) as f64 * q).round() as usize;
    *values.select_nth_unstable_by(k, f64::total_cmp).1
}

/// A [`ChipSource`] without its dataset handle ([`ChipSource::recipe`]).
#[derive(Clone, Debug)]
pub struct ChipRecipe {
    path: PathBuf,
    /// 1-based band numbers shown as red, green, blue.
    rgb: [usize; 3],
    /// Stretch per shown band: value at 0 and at 255.
    stretch: [(f64, f64); 3],
    /// Geotransform of the image.
    gt: [f64; 6],
    width: usize,
    height: usize,
}

impl ChipRecipe {
    /// The image file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open the image again.
    ///
    /// # Errors
    /// [`Error::Open`] naming the file.
    pub fn open(&self) -> Result<ChipSource> {
        Ok(ChipSource {
            ds: crate::raster::open_dataset(&self.path)?,
            spec: self.clone(),
        })
    }
}

impl ChipSource {
    /// Open `path`; `bands` is the job's band mapping (R, G, B roles are shown; without them
    /// bands 3, 2, 1 of a 3+ band image, or band 1 as grey).
    ///
    /// # Errors
    /// [`Error::Open`] / [`Error::BandMapping`] naming the file.
    pub fn open(path: &Path, bands: Option<&str>) -> Result<ChipSource> {
        let ds = crate::raster::open_dataset(path)?;
        let count = ds.raster_count();
        let rgb = match bands.map(|b| parse_bands(b, count, path)).transpose()? {
            Some(choice) => {
                let find = |r: Role| choice.iter().find(|c| c.role == Some(r)).map(|c| c.number);
                match (find(Role::Red), find(Role::Green), find(Role::Blue)) {
                    (Some(r), Some(g), Some(b)) => [r, g, b],
                    _ => [choice[0].number; 3],
                }
            }
            None if count >= 3 => [1, 2, 3],
            None => [1; 3],
        };
        let gt = ds
            .geo_transform()
            .unwrap_or([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]);
        let (width, height) = ds.raster_size();
        let mut stretch = [(0.0, 1.0); 3];
        for (k, &b) in rgb.iter().enumerate() {
            let band = ds.rasterband(b).map_err(|e| Error::open(path, e))?;
            let nodata = band.no_data_value();
            let (w, h) = (width.min(512), height.min(512));
            let buf: Buffer<f64> = band
                .read_as(
                    (0, 0),
                    (width, height),
                    (w, h),
                    Some(ResampleAlg::NearestNeighbour),
                )
                .map_err(|e| Error::open(path, e))?;
            let mut v: Vec<f64> = buf
                .data()
                .iter()
                .copied()
                .filter(|x| x.is_finite() && Some(*x) != nodata)
                .collect();
            let (lo, hi) = (percentile(&mut v, 0.02), percentile(&mut v, 0.98));
            stretch[k] = (lo, if hi > lo { hi } else { lo + 1.0 });
        }
        Ok(ChipSource {
            ds,
            spec: ChipRecipe {
                path: path.into(),
                rgb,
                stretch,
                gt,
                width,
                height,
            },
        })
    }

    /// The image's file.
    pub fn path(&self) -> &Path {
        &self.spec.path
    }

    /// What opens this image again with the same bands and stretch, on another thread (a
    /// GDAL dataset serves one thread at a time): the chips of a county are drawn on every
    /// core, each with its own handle.
    pub fn recipe(&self) -> ChipRecipe {
        self.spec.clone()
    }

    /// The stretch of one band of a chip: its own 2nd-98th percentiles, so that a chip under
    /// haze or beside a cloud stays readable, but never narrower than a quarter of the image's
    /// range (centred on the chip's median): the 2-98 % stretch of a flat chip (water, a bare
    /// field) turned sensor noise into saturated colour speckle, band by band.
    fn chip_stretch(&self, plane: &[f64], k: usize) -> (f64, f64) {
        let mut v: Vec<f64> = plane.iter().copied().filter(|x| x.is_finite()).collect();
        let (lo, hi) = (percentile(&mut v, 0.02), percentile(&mut v, 0.98));
        let (glo, ghi) = self.spec.stretch[k];
        let least = MIN_CHIP_RANGE * (ghi - glo);
        if hi - lo >= least {
            return (lo, hi);
        }
        let mid = percentile(&mut v, 0.5);
        (mid - least / 2.0, mid + least / 2.0)
    }

    /// Image pixel (column, row) of a world coordinate.
    fn to_pixel(&self, x: f64, y: f64) -> (f64, f64) {
        let g = &self.spec.gt;
        let det = g[1] * g[5] - g[2] * g[4];
        let (dx, dy) = (x - g[0], y - g[3]);
        (
            (g[5] * dx - g[2] * dy) / det,
            (-g[4] * dx + g[1] * dy) / det,
        )
    }

    /// Ground size of one image pixel in metres (projected CRS units assumed metres).
    fn pixel_m(&self) -> f64 {
        (self.spec.gt[1] * self.spec.gt[1] + self.spec.gt[4] * self.spec.gt[4]).sqrt()
    }

    /// The RGBA pixels (rows top down, `n` x `n`) of the square `area` (in the image's CRS)
    /// with the image's own stretch (the same colours in every tile): transparent where the
    /// image does not reach or a shown band is nodata; `None` when it does not reach the area
    /// at all. The tiles of `tuban serve`. The window is snapped to whole image pixels (a
    /// shift under one image pixel); reduced views average (or use the file's overviews).
    ///
    /// # Errors
    /// [`Error::Open`] when the image cannot be read.
    pub fn rgba(&self, area: geo::Rect<f64>, n: usize) -> Result<Option<Vec<u8>>> {
        let (c0, r0) = self.to_pixel(area.min().x, area.max().y);
        let (c1, r1) = self.to_pixel(area.max().x, area.min().y);
        let (w, h) = (self.spec.width as f64, self.spec.height as f64);
        let (wx0, wy0) = (c0.max(0.0).floor(), r0.max(0.0).floor());
        let (wx1, wy1) = (c1.min(w).ceil(), r1.min(h).ceil());
        if wx1 <= wx0 || wy1 <= wy0 || c1 <= c0 || r1 <= r0 {
            return Ok(None);
        }
        let (sx, sy) = (n as f64 / (c1 - c0), n as f64 / (r1 - r0));
        let to_buf = |v: f64, s: f64, o: f64| ((v - o) * s).round().clamp(0.0, n as f64) as usize;
        let (bx0, bx1) = (to_buf(wx0, sx, c0), to_buf(wx1, sx, c0));
        let (by0, by1) = (to_buf(wy0, sy, r0), to_buf(wy1, sy, r0));
        let (bw, bh) = (bx1 - bx0, by1 - by0);
        if bw == 0 || bh == 0 {
            return Ok(None);
        }
        let window = (wx0 as isize, wy0 as isize);
        let size = ((wx1 - wx0) as usize, (wy1 - wy0) as usize);
        let alg = if sx < 1.0 {
            ResampleAlg::Average
        } else {
            ResampleAlg::NearestNeighbour
        };
        let mut out = vec![0u8; 4 * n * n];
        let mut seen = vec![true; bw * bh];
        for (k, &band_no) in self.spec.rgb.iter().enumerate() {
            let band = self
                .ds
                .rasterband(band_no)
                .map_err(|e| Error::open(&self.spec.path, e))?;
            let nodata = band.no_data_value();
            let buf: Buffer<f64> = band
                .read_as(window, size, (bw, bh), Some(alg))
                .map_err(|e| Error::open(&self.spec.path, e))?;
            let (lo, hi) = self.spec.stretch[k];
            for (i, &v) in buf.data().iter().enumerate() {
                if !v.is_finite() || Some(v) == nodata {
                    seen[i] = false;
                }
                let (x, y) = (bx0 + i % bw, by0 + i / bw);
                out[4 * (y * n + x) + k] = ((v - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0) as u8;
            }
        }
        for (i, s) in seen.iter().enumerate() {
            let (x, y) = (bx0 + i % bw, by0 + i / bw);
            out[4 * (y * n + x) + 3] = if *s { 255 } else { 0 };
        }
        Ok(Some(out))
    }

    /// Write the chip of `geom` (in the image's CRS) to `out` as PNG.
    ///
    /// # Errors
    /// [`Error::Open`] when the image cannot be read, [`Error::Write`] naming `out`.
    pub fn write(&self, geom: &MultiPolygon<f64>, out: &Path) -> Result<()> {
        let Some(b) = geom.bounding_rect() else {
            return Ok(());
        };
        self.write_area(self.chip_area(b), std::slice::from_ref(geom), out)
    }

    /// The square a chip of `extent` shows (in the image's CRS): centred on it, twice its
    /// larger side, at least 64 image pixels.
    pub fn chip_area(&self, b: geo::Rect<f64>) -> geo::Rect<f64> {
        let (c0, r0) = self.to_pixel(b.min().x, b.max().y);
        let (c1, r1) = self.to_pixel(b.max().x, b.min().y);
        let (cx, cy) = ((c0 + c1) / 2.0, (r0 + r1) / 2.0);
        let half = ((c1 - c0).abs().max((r1 - r0).abs()) * 2.0).max(64.0) / 2.0;
        let g = &self.spec.gt;
        let world = |c: f64, r: f64| {
            geo::coord! {
                x: g[0] + c * g[1] + r * g[2],
                y: g[3] + c * g[4] + r * g[5],
            }
        };
        geo::Rect::new(world(cx - half, cy - half), world(cx + half, cy + half))
    }

    /// Write the chip of the square `area` (in the image's CRS; see [`Self::chip_area`]) with
    /// `outlines` drawn, to `out` as PNG: the same ground in several images, each with its own
    /// polygons (`tuban sources`).
    ///
    /// # Errors
    /// [`Error::Open`] when the image cannot be read, [`Error::Write`] naming `out`.
    pub fn write_area(
        &self,
        area: geo::Rect<f64>,
        outlines: &[MultiPolygon<f64>],
        out: &Path,
    ) -> Result<()> {
        let (c0, r0) = self.to_pixel(area.min().x, area.max().y);
        let (c1, r1) = self.to_pixel(area.max().x, area.min().y);
        let (cx, cy) = ((c0 + c1) / 2.0, (r0 + r1) / 2.0);
        let side = (c1 - c0)
            .abs()
            .max((r1 - r0).abs())
            .min(self.spec.width.min(self.spec.height) as f64)
            .round() as usize;
        let side = side.max(1);
        let x0 = (cx - side as f64 / 2.0)
            .round()
            .clamp(0.0, (self.spec.width - side) as f64) as isize;
        let y0 = (cy - side as f64 / 2.0)
            .round()
            .clamp(0.0, (self.spec.height - side) as f64) as isize;
        let n = CHIP_PX;
        let mut rgb = vec![0u8; 3 * n * n];
        let mut planes = Vec::with_capacity(3);
        for &band_no in &self.spec.rgb {
            let band = self
                .ds
                .rasterband(band_no)
                .map_err(|e| Error::open(&self.spec.path, e))?;
            let buf: Buffer<f64> = band
                .read_as((x0, y0), (side, side), (n, n), Some(ResampleAlg::Average))
                .map_err(|e| Error::open(&self.spec.path, e))?;
            planes.push(buf.data().to_vec());
        }
        for (k, plane) in planes.iter().enumerate() {
            let (lo, hi) = self.chip_stretch(plane, k);
            for (i, v) in plane.iter().enumerate() {
                rgb[k * n * n + i] = ((v - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0) as u8;
            }
        }
        let scale = n as f64 / side as f64;
        let to_chip = |x: f64, y: f64| {
            let (c, r) = self.to_pixel(x, y);
            ((c - x0 as f64) * scale, (r - y0 as f64) * scale)
        };
        for p in outlines.iter().flat_map(|g| &g.0) {
            for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
                for w in ring.0.windows(2) {
                    let a = to_chip(w[0].x, w[0].y);
                    let b = to_chip(w[1].x, w[1].y);
                    line(&mut rgb, n, a, b, [255, 255, 0]);
                }
            }
        }
        scale_bar(&mut rgb, n, self.pixel_m() * side as f64 / n as f64);
        write_png(&rgb, n, out)
    }
}

fn put(rgb: &mut [u8], n: usize, x: i64, y: i64, c: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as usize) < n && (y as usize) < n {
        let i = y as usize * n + x as usize;
        for k in 0..3 {
            rgb[k * n * n + i] = c[k];
        }
    }
}

/// A 2-px line.
fn line(rgb: &mut [u8], n: usize, a: (f64, f64), b: (f64, f64), c: [u8; 3]) {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).clamp(1, 4 * n);
    for s in 0..=steps {
        let t = s as f64 / steps as f64;
        let (x, y) = (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
        for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            put(rgb, n, x.floor() as i64 + dx, y.floor() as i64 + dy, c);
        }
    }
}

/// 3x5 glyphs for the scale label: digits, 'k' and 'm'.
fn glyph(ch: char) -> [u8; 5] {
    match ch {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        'k' => [0b100, 0b101, 0b110, 0b101, 0b101],
        'm' => [0b000, 0b000, 0b111, 0b111, 0b101],
        _ => [0; 5],
    }
}

/// A white bar with a black edge in the lower left, a round length, and its label.
fn scale_bar(rgb: &mut [u8], n: usize, m_per_px: f64) {
    if !(m_per_px.is_finite() && m_per_px > 0.0) {
        return;
    }
    let nice = [
        1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
    ];
    let len_m = nice
        .iter()
        .copied()
        .filter(|l| l / m_per_px <= n as f64 / 3.0)
        .fold(nice[0], f64::max);
    let len_px = (len_m / m_per_px).round() as i64;
    let (x0, y0) = (8i64, n as i64 - 12);
    for y in y0 - 1..y0 + 5 {
        for x in x0 - 1..x0 + len_px + 1 {
            put(rgb, n, x, y, [0, 0, 0]);
        }
    }
    for y in y0..y0 + 4 {
        for x in x0..x0 + len_px {
            put(rgb, n, x, y, [255, 255, 255]);
        }
    }
    let label = if len_m >= 1000.0 {
        format!("{}km", len_m / 1000.0)
    } else {
        format!("{len_m}m")
    };
    // White glyphs on a black box: readable over bright roofs and clouds as over water.
    let text_w = 8 * label.chars().count() as i64;
    for y in y0 - 17..y0 - 2 {
        for x in x0 - 3..x0 + text_w + 1 {
            put(rgb, n, x, y, [0, 0, 0]);
        }
    }
    let mut x = x0;
    for ch in label.chars() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..3 {
                if bits >> (2 - col) & 1 == 1 {
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        put(
                            rgb,
                            n,
                            x + 2 * col + dx,
                            y0 - 14 + 2 * row as i64 + dy,
                            [255, 255, 255],
                        );
                    }
                }
            }
        }
        x += 8;
    }
}

/// Encode an RGB planar buffer as PNG through GDAL (MEM -> PNG), via a partial name.
fn write_png(rgb: &[u8], n: usize, out: &Path) -> Result<()> {
    let mem = gdal::DriverManager::get_driver_by_name("MEM").map_err(|e| Error::write(out, e))?;
    let ds = mem
        .create_with_band_type::<u8, _>("", n, n, 3)
        .map_err(|e| Error::write(out, e))?;
    for k in 0..3 {
        let mut band = ds.rasterband(k + 1).map_err(|e| Error::write(out, e))?;
        let mut buf = Buffer::new((n, n), rgb[k * n * n..(k + 1) * n * n].to_vec());
        band.write((0, 0), (n, n), &mut buf)
            .map_err(|e| Error::write(out, e))?;
    }
    let png = gdal::DriverManager::get_driver_by_name("PNG").map_err(|e| Error::write(out, e))?;
    let tmp = crate::output::partial_path(out);
    // Deflate level 1: on a 2 m county of 98 leads the packages took 4.3 s at GDAL's default
    // (6), 2.65 s at 1, for chips 12 % larger (15.0 MB against 13.4 MB).
    let opts = gdal::cpl::CslStringList::from_iter(["ZLEVEL=1"]);
    ds.create_copy(&png, &tmp, &opts)
        .map_err(|e| Error::write(out, e))?;
    // GDAL may add a .aux.xml beside a PNG; chips carry no georeference.
    let _ = std::fs::remove_file(tmp.with_extension("partial.aux.xml"));
    std::fs::rename(&tmp, out).map_err(|e| Error::write(out, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Standard deviation of band `b` of a PNG.
    fn band_std(path: &Path, b: usize) -> f64 {
        let ds = Dataset::open(path).unwrap();
        let v: Vec<f64> = ds
            .rasterband(b)
            .unwrap()
            .read_as::<f64>((0, 0), (CHIP_PX, CHIP_PX), (CHIP_PX, CHIP_PX), None)
            .unwrap()
            .data()
            .to_vec();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
    }

    #[test]
    fn a_nearly_flat_chip_keeps_its_noise_small() {
        // An image spanning 0-1000 (dark left half, bright right half) with a noisy field of
        // 450-550 in the dark half: 10 % of the image's range.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.tif");
        let n = 512;
        let drv = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
        let mut ds = drv.create_with_band_type::<u16, _>(&path, n, n, 3).unwrap();
        ds.set_geo_transform(&[500_000.0, 1.0, 0.0, 3_000_000.0, 0.0, -1.0])
            .unwrap();
        let mut state = 7u64;
        for b in 1..=3 {
            let v: Vec<u16> = (0..n * n)
                .map(|i| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let noise = (state >> 33) % 101;
                    let (x, y) = (i % n, i / n);
                    if x >= n / 2 {
                        1000
                    } else if y < 200 && x < 200 {
                        450 + noise as u16
                    } else {
                        0
                    }
                })
                .collect();
            let mut buf = Buffer::new((n, n), v);
            ds.rasterband(b)
                .unwrap()
                .write((0, 0), (n, n), &mut buf)
                .unwrap();
        }
        drop(ds);
        let src = ChipSource::open(&path, None).unwrap();
        let poly = geo::MultiPolygon::new(vec![
            geo::Rect::new(
                geo::Coord {
                    x: 500_080.0,
                    y: 2_999_920.0,
                },
                geo::Coord {
                    x: 500_100.0,
                    y: 2_999_900.0,
                },
            )
            .to_polygon(),
        ]);
        let out = dir.path().join("chip.png");
        src.write(&poly, &out).unwrap();
        // A full 2-98 % stretch of the noise gave a standard deviation of about 70 of 255.
        for b in 1..=3 {
            let s = band_std(&out, b);
            assert!(s < 40.0, "band {b}: std {s:.1}");
        }
    }
}
