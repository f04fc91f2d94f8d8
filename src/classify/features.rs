//! Per-polygon features for typing: spectra of both dates inside the polygon, texture, the
//! shadow ring around it, and the distance-transform width. The accumulation works on windows
//! of band values ([`crate::change::TileInput`]) and needs no GDAL; [`Measurer`] (feature
//! `gdal`) reads the windows of a polygon from the image pair, strip by strip, so memory stays
//! bounded by the strip whatever the polygon's extent.

use super::pixels;
use crate::change::{BandRoles, TileInput};
use crate::vectorize::assemble::PixelPolygon;

/// NDVI under which a pixel counts as open water.
pub const WATER_NDVI: f64 = 0.0;
/// NDVI from which a pixel counts as dense green vegetation (turf, crops in leaf).
pub const GREEN_NDVI: f64 = 0.6;
/// A ring pixel is in shadow when its after brightness fell under this share of the before.
pub const SHADOW_RATIO: f64 = 0.65;
/// Rows per strip read from the images, at most; fewer for wide polygons so that a strip holds
/// at most [`STRIP_PX`] pixels (a railway across a county is 60 000 pixels wide).
const STRIP_ROWS: usize = 256;
const STRIP_PX: usize = 1 << 22;
/// The after brightness histogram behind `spread`: bins of reflectance over [0, 1) (brighter
/// pixels count in the last bin), fine enough that sensor noise on dark asphalt spans bins.
const SPREAD_BINS: usize = 2048;
/// Largest bounding box (pixels) for which the distance transform is computed.
const MAX_DT_PX: usize = 16 << 20;

/// What the spectra and pixels of one polygon say. Brightness is reflectance (band value /
/// scale, mean of the visible bands); shares are fractions of the polygon's valid pixels.
/// NDVI-based values are None without red and NIR bands.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Features {
    /// Pixels valid in both dates.
    pub pixels: u64,
    pub ndvi_before: Option<f64>,
    pub ndvi_after: Option<f64>,
    /// Mean NDBI, (SWIR - NIR) / (SWIR + NIR), before and after: None without SWIR and NIR.
    pub ndbi_before: Option<f64>,
    pub ndbi_after: Option<f64>,
    pub bright_before: Option<f64>,
    pub bright_after: Option<f64>,
    /// Coefficient of variation of the after brightness inside the polygon.
    pub texture_after: Option<f64>,
    /// Interquartile range over the median of the after brightness: a texture that a shadow
    /// or a bright patch over less than a quarter of the polygon does not move.
    pub spread_after: Option<f64>,
    /// Share of pixels that are water after / before (NDVI < [`WATER_NDVI`]).
    pub water_after: Option<f64>,
    pub water_before: Option<f64>,
    /// Share of pixels that are dense vegetation after (NDVI >= [`GREEN_NDVI`]).
    pub green_after: Option<f64>,
    /// Share of the ring around the polygon that darkened (a cast shadow).
    pub shadow: Option<f64>,
    /// Blue-red balance of the after image, (B - R) / (B + R) of the mean bands: above 0 only
    /// for blue and cyan surfaces (painted steel roofs, the commonest new rural structure),
    /// about -0.15 for bare soil, -0.3 for red tiles. None without blue and red bands.
    pub blue_red: Option<f64>,
    /// Mean width from the distance transform, pixels (None for huge extents).
    pub width_px: Option<f64>,
}

/// Running sums of one polygon.
#[derive(Clone, Debug, Default)]
pub struct Accumulator {
    /// After brightness histogram ([`SPREAD_BINS`] bins; empty until the first pixel).
    hist: Vec<u32>,
    n: u64,
    ndvi_b: f64,
    ndvi_a: f64,
    ndbi_b: f64,
    ndbi_a: f64,
    br_b: f64,
    br_a: f64,
    br_a2: f64,
    water_a: u64,
    water_b: u64,
    green_a: u64,
    ring: u64,
    ring_dark: u64,
    blue_a: f64,
    red_a: f64,
}

/// Which bands mean what, and the value of reflectance 1.0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spectra {
    pub roles: BandRoles,
    /// The value of reflectance 1.0 in the before and in the after image (they differ when one
    /// date is an 8-bit product and the other 16-bit reflectance).
    pub scale: f64,
    pub after_scale: f64,
}

impl Spectra {
    /// (b - a) / (b + a) of two bands of pixel `i`, 0 where both are 0.
    fn norm_diff(img: &[f32], n: usize, i: usize, a: usize, b: usize) -> f64 {
        let (a, b) = (img[a * n + i] as f64, img[b * n + i] as f64);
        let s = a + b;
        if s == 0.0 { 0.0 } else { (b - a) / s }
    }

    fn ndvi(&self, img: &[f32], n: usize, i: usize) -> Option<f64> {
        Some(Self::norm_diff(img, n, i, self.roles.red?, self.roles.nir?))
    }

    /// The built-up index (SWIR - NIR) / (SWIR + NIR).
    fn ndbi(&self, img: &[f32], n: usize, i: usize) -> Option<f64> {
        Some(Self::norm_diff(
            img,
            n,
            i,
            self.roles.nir?,
            self.roles.swir?,
        ))
    }

    fn brightness(&self, img: &[f32], bands: usize, n: usize, i: usize, scale: f64) -> f64 {
        let visible = self.roles.visible_mask();
        let (mut sum, mut k) = (0.0f64, 0u32);
        for b in 0..bands {
            if visible == 0 || (visible >> b) & 1 == 1 {
                sum += img[b * n + i] as f64;
                k += 1;
            }
        }
        sum / k.max(1) as f64 / scale
    }
}

impl Accumulator {
    /// The after brightness at quantile `q` (linear within a histogram bin).
    fn quantile(&self, q: f64) -> f64 {
        let target = q * self.n as f64;
        let mut below = 0.0;
        for (b, &c) in self.hist.iter().enumerate() {
            let c = c as f64;
            if c > 0.0 && below + c >= target {
                return (b as f64 + (target - below) / c) / SPREAD_BINS as f64;
            }
            below += c;
        }
        1.0
    }

    /// (q75 - q25) / q50 of the after brightness.
    fn spread(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let median = self.quantile(0.5);
        (median > 0.0).then(|| (self.quantile(0.75) - self.quantile(0.25)) / median)
    }

    /// Add the rows `rows` of a window: `inside` and `ring` are masks of the window.
    pub fn add(
        &mut self,
        s: &Spectra,
        t: &TileInput,
        inside: &[u8],
        ring: &[u8],
        rows: std::ops::Range<usize>,
    ) {
        let n = t.pixels();
        for r in rows {
            for x in 0..t.width {
                let i = r * t.width + x;
                if t.valid[i] == 0 || (inside[i] == 0 && ring[i] == 0) {
                    continue;
                }
                let (bb, ba) = (
                    s.brightness(&t.before, t.bands, n, i, s.scale),
                    s.brightness(&t.after, t.bands, n, i, s.after_scale),
                );
                if ring[i] == 1 {
                    self.ring += 1;
                    self.ring_dark += u64::from(ba < SHADOW_RATIO * bb);
                    continue;
                }
                self.n += 1;
                if let (Some(b), Some(r)) = (s.roles.blue, s.roles.red) {
                    self.blue_a += t.after[b * n + i] as f64;
                    self.red_a += t.after[r * n + i] as f64;
                }
                if self.hist.is_empty() {
                    self.hist = vec![0; SPREAD_BINS];
                }
                self.hist[((ba.max(0.0) * SPREAD_BINS as f64) as usize).min(SPREAD_BINS - 1)] += 1;
                self.br_b += bb;
                self.br_a += ba;
                self.br_a2 += ba * ba;
                if let (Some(nb), Some(na)) = (s.ndvi(&t.before, n, i), s.ndvi(&t.after, n, i)) {
                    self.ndvi_b += nb;
                    self.ndvi_a += na;
                    if let (Some(bb), Some(ba)) = (s.ndbi(&t.before, n, i), s.ndbi(&t.after, n, i))
                    {
                        self.ndbi_b += bb;
                        self.ndbi_a += ba;
                    }
                    self.water_a += u64::from(na < WATER_NDVI);
                    self.water_b += u64::from(nb < WATER_NDVI);
                    self.green_a += u64::from(na >= GREEN_NDVI);
                }
            }
        }
    }

    /// The features (width from the distance transform given separately).
    pub fn finish(&self, s: &Spectra, width_px: Option<f64>) -> Features {
        let n = self.n as f64;
        let some = |v: f64| (self.n > 0).then_some(v / n);
        let spectral = s.roles.red.is_some() && s.roles.nir.is_some();
        let ndvi = |v: f64| if spectral { some(v) } else { None };
        let mean_a = self.br_a / n.max(1.0);
        let var = (self.br_a2 / n.max(1.0) - mean_a * mean_a).max(0.0);
        Features {
            pixels: self.n,
            ndvi_before: ndvi(self.ndvi_b),
            ndvi_after: ndvi(self.ndvi_a),
            ndbi_before: if spectral && s.roles.swir.is_some() {
                some(self.ndbi_b)
            } else {
                None
            },
            ndbi_after: if spectral && s.roles.swir.is_some() {
                some(self.ndbi_a)
            } else {
                None
            },
            bright_before: some(self.br_b),
            bright_after: some(self.br_a),
            texture_after: (self.n > 0 && mean_a > 0.0).then(|| var.sqrt() / mean_a),
            spread_after: self.spread(),
            water_after: ndvi(self.water_a as f64),
            water_before: ndvi(self.water_b as f64),
            green_after: ndvi(self.green_a as f64),
            shadow: (self.ring > 0).then(|| self.ring_dark as f64 / self.ring as f64),
            blue_red: (s.roles.blue.is_some()
                && s.roles.red.is_some()
                && self.blue_a + self.red_a > 0.0)
                .then(|| (self.blue_a - self.red_a) / (self.blue_a + self.red_a)),
            width_px,
        }
    }
}

/// Width in pixels from the distance transform of the polygons' own mask (None when the
/// bounding box exceeds the memory bound: the rules then use the rectangle width).
pub fn dt_width(polys: &[PixelPolygon]) -> Option<f64> {
    let (x0, y0, x1, y1) = pixels::bbox(polys)?;
    let (w, h) = ((x1 - x0) as usize, (y1 - y0) as usize);
    if w == 0 || h == 0 || w * h > MAX_DT_PX {
        return None;
    }
    let m = pixels::rasterize(polys, x0, y0, w, h);
    pixels::ridge_width(&pixels::distance(&m, w, h), w, h)
}

/// Strips `(y, rows, halo_top)` covering `y0..y1` of a `width`-pixel-wide window with a halo
/// of `r` rows on each side, clipped to `0..height`: each strip reads `[y - halo_top, y + rows
/// + halo_bottom)`.
pub fn strips(
    y0: i64,
    y1: i64,
    r: usize,
    height: usize,
    width: usize,
) -> Vec<(usize, usize, usize)> {
    let (y0, y1) = (y0.max(0) as usize, (y1.max(0) as usize).min(height));
    let step = (STRIP_PX / width.max(1)).clamp(16, STRIP_ROWS);
    (y0..y1)
        .step_by(step)
        .map(|y| (y, step.min(y1 - y), r.min(y)))
        .collect()
}

/// Where the pixels of measured windows come from: the images, or the pixels near changes
/// the detection pass kept ([`super::near::NearStore`]).
pub trait PixelSource: Send + Sync {
    /// Both dates of `w` (the pair's overlap coordinates) with their validity.
    ///
    /// # Errors
    /// [`crate::Error::Open`] naming the file when a read fails.
    fn read(&self, w: crate::raster::grid::Window) -> crate::error::Result<TileInput>;
}

#[cfg(feature = "gdal")]
pub use measure::Measurer;

#[cfg(feature = "gdal")]
mod measure {
    use super::*;
    use crate::error::Result;
    use crate::raster::blocks::BlockReader;
    use crate::raster::grid::Window;
    use crate::raster::pair::ScenePair;

    /// Decoded image blocks the measuring threads share (both dates).
    const BLOCK_CACHE_BYTES: usize = 384 << 20;

    /// Reads the pixels of polygons from an image pair; safe to share between threads (the
    /// windows of neighbouring polygons and of a split polygon's pieces share image blocks,
    /// decoded once through a [`BlockReader`]).
    pub struct Measurer {
        reader: Box<dyn PixelSource>,
        pub spectra: Spectra,
        /// Ring radius for the shadow, pixels.
        pub ring_px: usize,
        width: usize,
        height: usize,
    }

    impl Measurer {
        /// A measurer over `pair`; `scale` is the value of reflectance 1.0 (None: from the data
        /// type, [`ScenePair::value_scale`]); `ring_px` the shadow ring's radius.
        pub fn new(pair: ScenePair, scale: Option<f64>, ring_px: usize) -> Self {
            let spectra = Spectra {
                roles: pair.roles,
                scale: scale.unwrap_or_else(|| pair.value_scale()),
                after_scale: scale.unwrap_or_else(|| pair.after_value_scale()),
            };
            Measurer {
                width: pair.width,
                height: pair.height,
                reader: Box::new(BlockReader::new(pair, BLOCK_CACHE_BYTES)),
                spectra,
                ring_px,
            }
        }

        /// Read windows from `source` from now on instead of the images (the pixels near
        /// changes the detection pass kept: the same values wherever a measure looks).
        pub fn read_from(&mut self, source: Box<dyn PixelSource>) {
            self.reader = source;
        }

        /// The features of one polygon (pixel-corner coordinates of the pair's grid).
        ///
        /// # Errors
        /// [`crate::Error::Open`] naming the image when a read fails.
        pub fn measure(&self, polys: &[PixelPolygon]) -> Result<Features> {
            let Some((_, y0, _, y1)) = pixels::bbox(polys) else {
                return Ok(Features::default());
            };
            let r = self.ring_px as i64;
            let mut acc = Accumulator::default();
            // Each strip reads only the columns of the polygon's pixels within reach of its
            // rows (and the ring around them): a diagonal road's bounding box is mostly empty,
            // and every block read is a block decoded.
            let extents = pixels::row_extents(polys, y0, y1);
            let reach = |ya: i64, yb: i64| -> Option<(usize, usize)> {
                let rows = (ya.max(y0) - y0) as usize..(yb.min(y1) - y0).max(0) as usize;
                let (a, b) = extents
                    .get(rows)?
                    .iter()
                    .fold((i64::MAX, i64::MIN), |(a, b), &(lo, hi)| {
                        (a.min(lo), b.max(hi))
                    });
                let (xa, xb) = (
                    (a - r).max(0) as usize,
                    ((b + r).max(0) as usize).min(self.width),
                );
                (xa < xb).then_some((xa, xb))
            };
            let Some((xa, xb)) = reach(y0, y1) else {
                return Ok(acc.finish(&self.spectra, dt_width(polys)));
            };
            for (y, rows, top) in strips(y0 - r, y1 + r, self.ring_px, self.height, xb - xa) {
                let Some((xa, xb)) = reach(y as i64 - r, (y + rows) as i64 + r) else {
                    continue;
                };
                let bottom = self.ring_px.min(self.height - (y + rows));
                let win = Window {
                    x: xa,
                    y: y - top,
                    width: xb - xa,
                    height: top + rows + bottom,
                };
                let t = self.reader.read(win)?;
                let inside =
                    pixels::rasterize(polys, xa as i64, win.y as i64, win.width, win.height);
                let ring = pixels::ring(&inside, win.width, win.height, self.ring_px);
                acc.add(&self.spectra, &t, &inside, &ring, top..top + rows);
            }
            Ok(acc.finish(&self.spectra, dt_width(polys)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spread of a 10 x 10 polygon whose after brightness is `bright` except for the first
    /// `dark` pixels, which are `dim` (reflectance, grey).
    fn spread_of(bright: f32, dim: f32, dark: usize) -> (f64, f64) {
        let n = 100;
        let after: Vec<f32> = (0..3 * n)
            .map(|i| if i % n < dark { dim } else { bright } * 10_000.0)
            .collect();
        let t = TileInput {
            width: 10,
            height: 10,
            bands: 3,
            before: vec![500.0; 3 * n],
            after,
            valid: vec![1; n],
        };
        let s = Spectra {
            roles: BandRoles {
                blue: Some(0),
                green: Some(1),
                red: Some(2),
                nir: None,
                swir: None,
            },
            scale: 10_000.0,
            after_scale: 10_000.0,
        };
        let mut acc = Accumulator::default();
        acc.add(&s, &t, &[1; 100], &[0; 100], 0..10);
        let f = acc.finish(&s, None);
        (f.spread_after.unwrap(), f.texture_after.unwrap())
    }

    #[test]
    fn ndbi_needs_a_swir_band() {
        // B, G, R, NIR, SWIR: vegetation before, a built surface after.
        let plane = |v: [f32; 5]| v.iter().flat_map(|&x| [x; 4]).collect::<Vec<f32>>();
        let t = TileInput {
            width: 2,
            height: 2,
            bands: 5,
            before: plane([400.0, 700.0, 500.0, 3000.0, 1500.0]),
            after: plane([1200.0, 1200.0, 1200.0, 1500.0, 2500.0]),
            valid: vec![1; 4],
        };
        let roles = BandRoles {
            blue: Some(0),
            green: Some(1),
            red: Some(2),
            nir: Some(3),
            swir: Some(4),
        };
        let s = Spectra {
            roles,
            scale: 10_000.0,
            after_scale: 10_000.0,
        };
        let mut acc = Accumulator::default();
        acc.add(&s, &t, &[1; 4], &[0; 4], 0..2);
        let f = acc.finish(&s, None);
        assert!((f.ndbi_before.unwrap() + 1.0 / 3.0).abs() < 1e-9);
        assert!((f.ndbi_after.unwrap() - 0.25).abs() < 1e-9);
        let m = crate::classify::Measured {
            features: f,
            ..Default::default()
        };
        assert!((m.value("ndbi_rise").unwrap() - (0.25 + 1.0 / 3.0)).abs() < 1e-9);
        // Without SWIR there is no NDBI (NDVI stays).
        let s = Spectra {
            roles: BandRoles {
                swir: None,
                ..roles
            },
            ..s
        };
        let mut acc = Accumulator::default();
        acc.add(&s, &t, &[1; 4], &[0; 4], 0..2);
        let f = acc.finish(&s, None);
        assert_eq!((f.ndbi_before, f.ndbi_after), (None, None));
        assert!(f.ndvi_after.is_some());
    }

    #[test]
    fn spread_ignores_a_shadow_over_a_fifth_and_sees_two_surfaces() {
        // A uniform road: no spread, no texture.
        let (s, t) = spread_of(0.15, 0.15, 0);
        assert!(s < 0.01 && t < 0.01, "{s} {t}");
        // A fifth of it under a cloud shadow: the coefficient of variation jumps, the
        // interquartile spread does not.
        let (s, t) = spread_of(0.15, 0.05, 20);
        assert!(s < 0.01 && t > 0.25, "{s} {t}");
        // Ballast (40 %) beside an embankment: both see it.
        let (s, t) = spread_of(0.135, 0.072, 40);
        assert!(s > 0.4 && t > 0.2, "{s} {t}");
    }

    #[test]
    fn accumulates_ndvi_brightness_shadow_and_water() {
        // 4 x 3 window, bands B, G, R, NIR; the middle 2 x 1 is the polygon, the rest its ring.
        let (w, h) = (4usize, 3usize);
        let n = w * h;
        let plane = |v: f32| vec![v; n];
        let mut before = [plane(400.0), plane(700.0), plane(500.0), plane(3500.0)].concat();
        let mut after = [plane(900.0), plane(900.0), plane(900.0), plane(1000.0)].concat();
        // After: the polygon is water on one pixel; the ring pixel (0, 0) darkened.
        after[3 * n + 5] = 100.0;
        for b in 0..3 {
            after[b * n] = 100.0;
        }
        before[3 * n] = 3500.0;
        let t = TileInput {
            width: w,
            height: h,
            bands: 4,
            before,
            after,
            valid: vec![1; n],
        };
        let mut inside = vec![0u8; n];
        inside[5] = 1;
        inside[6] = 1;
        let ring = pixels::ring(&inside, w, h, 1);
        let roles = BandRoles {
            blue: Some(0),
            green: Some(1),
            red: Some(2),
            nir: Some(3),
            swir: None,
        };
        let s = Spectra {
            roles,
            scale: 10_000.0,
            after_scale: 10_000.0,
        };
        let mut acc = Accumulator::default();
        acc.add(&s, &t, &inside, &ring, 0..h);
        let f = acc.finish(&s, Some(2.0));
        assert_eq!(f.pixels, 2);
        let nd_b = (3500.0 - 500.0) / 4000.0;
        assert!((f.ndvi_before.unwrap() - nd_b).abs() < 1e-9);
        let nd_a = ((1000.0 - 900.0) / 1900.0 + (100.0 - 900.0) / 1000.0) / 2.0;
        assert!((f.ndvi_after.unwrap() - nd_a).abs() < 1e-6);
        assert_eq!(f.water_after, Some(0.5));
        assert!((f.bright_after.unwrap() - 0.09).abs() < 1e-9);
        assert_eq!(f.shadow, Some(1.0 / 10.0));
        assert_eq!(f.width_px, Some(2.0));
        // Without NIR there is no NDVI, but brightness stays.
        let rgb = Spectra {
            roles: BandRoles { nir: None, ..roles },
            ..s
        };
        let mut acc = Accumulator::default();
        acc.add(&rgb, &t, &inside, &ring, 0..h);
        let f = acc.finish(&rgb, None);
        assert_eq!((f.ndvi_after, f.water_after), (None, None));
        assert!(f.bright_after.is_some());
    }
}
