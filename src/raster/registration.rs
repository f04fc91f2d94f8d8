//! How far apart the two dates are: sub-pixel phase correlation on sample windows.
//!
//! Change detection compares the pixels of two dates at the same grid position, so a shift
//! between them turns every edge into change (the roof edge, the field boundary, the road's
//! kerb). Orthorectified imagery of different dates is often off by a pixel or more. Each
//! sample window of both dates (mean of the visible bands, mean removed, Hann-tapered) is
//! correlated in the frequency domain: the normalised cross-power spectrum's inverse has one
//! peak at the shift (Kuglin & Hines 1975). The peak is refined to a sub-pixel position with
//! the peak-ratio estimate of Foroosh, Zerubia & Berthod (2002). Windows with nodata or a weak peak (texture-free water, cloud) are left out; the
//! shift is the median over the windows that remain.

use rustfft::FftPlanner;
use rustfft::num_complex::Complex32;
use serde::Serialize;

/// Side of a correlation window, pixels (a power of two).
pub const WINDOW_PX: usize = 256;

/// The height a window's correlation peak must reach to count: 8 / n. For unrelated windows
/// of n x n the surface is noise of standard deviation ~1/n whose maximum is ~4.7/n at n = 256;
/// a shared scene gives 0.2-0.9.
pub fn min_peak(n: usize) -> f32 {
    8.0 / n.max(1) as f32
}

/// Windows whose own shift lies farther than this (px, along either axis) from the median of
/// all windows do not count.
pub const AGREE_PX: f64 = 1.5;

/// Shifts from this length on are reported as misregistration.
pub const WARN_PX: f64 = 0.5;

/// The shift of one window: the after image shows at `(x + dx, y + dy)` what the before image
/// shows at `(x, y)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowShift {
    pub dx: f64,
    pub dy: f64,
    /// Height of the correlation peak (0..1).
    pub peak: f32,
}

/// The measured shift between the dates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Registration {
    /// Shift, pixels: the after image shows at `(x + dx, y + dy)` what the before image shows
    /// at `(x, y)`.
    pub dx_px: f64,
    pub dy_px: f64,
    /// Windows correlated, and those whose peak was strong enough to count.
    pub windows: usize,
    pub used: usize,
    /// Median distance of the windows' own shifts from the joint one (px): large when the shift
    /// varies over the scene (a warp, not a shift) or the windows disagree.
    pub spread_px: f64,
}

impl Registration {
    /// Length of the shift, pixels.
    pub fn length_px(&self) -> f64 {
        self.dx_px.hypot(self.dy_px)
    }
}

/// A 2-D FFT of an `n` x `n` row-major buffer, in place.
struct Fft2 {
    n: usize,
    forward: std::sync::Arc<dyn rustfft::Fft<f32>>,
    inverse: std::sync::Arc<dyn rustfft::Fft<f32>>,
}

impl Fft2 {
    fn new(n: usize) -> Self {
        let mut planner = FftPlanner::<f32>::new();
        Fft2 {
            n,
            forward: planner.plan_fft_forward(n),
            inverse: planner.plan_fft_inverse(n),
        }
    }

    fn run(&self, data: &mut [Complex32], forward: bool) {
        let f = if forward {
            &self.forward
        } else {
            &self.inverse
        };
        f.process(data);
        transpose(data, self.n);
        f.process(data);
        transpose(data, self.n);
    }
}

fn transpose(d: &mut [Complex32], n: usize) {
    for y in 0..n {
        for x in y + 1..n {
            d.swap(y * n + x, x * n + y);
        }
    }
}

/// The window prepared for correlation: mean removed, Hann taper.
fn prepare(img: &[f32], n: usize) -> Vec<Complex32> {
    let mean = img.iter().map(|&v| f64::from(v)).sum::<f64>() / img.len().max(1) as f64;
    let hann: Vec<f32> = (0..n)
        .map(|i| {
            let t = std::f32::consts::TAU * i as f32 / n as f32;
            0.5 - 0.5 * t.cos()
        })
        .collect();
    img.iter()
        .enumerate()
        .map(|(i, &v)| {
            let w = hann[i % n] * hann[i / n];
            Complex32::new((v - mean as f32) * w, 0.0)
        })
        .collect()
}

/// The normalised cross-power spectrum of two `n` x `n` row-major windows, B·conj(A)/|B·conj(A)|
/// (its inverse peaks at the shift of `after` against `before`); None when either is flat.
fn cross_power(fft: &Fft2, before: &[f32], after: &[f32]) -> Option<Vec<Complex32>> {
    let n = fft.n;
    assert!(
        n.is_power_of_two() && before.len() == n * n && after.len() == n * n,
        "phase correlation: two {n} x {n} windows"
    );
    let mut a = prepare(before, n);
    let mut b = prepare(after, n);
    fft.run(&mut a, true);
    fft.run(&mut b, true);
    // Bins without signal (float noise around a band-limited image) would weigh as much as
    // the rest once normalised: each magnitude gets a floor of 1e-3 of the mean.
    let cross: Vec<Complex32> = b.iter().zip(&a).map(|(x, y)| *x * y.conj()).collect();
    let mean = cross.iter().map(|c| c.norm()).sum::<f32>() / cross.len() as f32;
    if mean <= 0.0 || !mean.is_finite() {
        return None;
    }
    let floor = 1e-3 * mean;
    Some(cross.iter().map(|c| *c / (c.norm() + floor)).collect())
}

/// The peak of the correlation surface of a (sum of) normalised cross-power spectra, `count`
/// of them.
fn peak_of(fft: &Fft2, mut spectrum: Vec<Complex32>, count: usize) -> Option<WindowShift> {
    let n = fft.n;
    fft.run(&mut spectrum, false);
    let scale = 1.0 / (n * n * count.max(1)) as f32;
    let r: Vec<f32> = spectrum.iter().map(|c| c.re * scale).collect();
    let (k, &peak) = r.iter().enumerate().max_by(|p, q| p.1.total_cmp(q.1))?;
    let (px, py) = (k % n, k / n);
    let at = |x: usize, y: usize| r[(y % n) * n + (x % n)];
    // Sub-pixel (Foroosh, Zerubia & Berthod 2002): for a shift the correlation surface is a
    // sampled Dirichlet kernel, and with the peak r0 and its larger neighbour r1 along an axis
    // the offset toward that neighbour is r1 / (r1 + r0).
    let refine = |r0: f32, minus: f32, plus: f32| -> f64 {
        let (r1, dir) = if plus >= minus {
            (plus, 1.0)
        } else {
            (minus, -1.0)
        };
        if r1 <= 0.0 || r0 <= 0.0 {
            return 0.0;
        }
        dir * f64::from(r1 / (r1 + r0))
    };
    let fx = refine(peak, at(px + n - 1, py), at(px + 1, py));
    let fy = refine(peak, at(px, py + n - 1), at(px, py + 1));
    let signed = |p: usize| {
        if p > n / 2 {
            p as f64 - n as f64
        } else {
            p as f64
        }
    };
    Some(WindowShift {
        dx: signed(px) + fx,
        dy: signed(py) + fy,
        peak,
    })
}

/// The shift of `after` against `before`, two `n` x `n` row-major windows (n a power of two);
/// None when either is flat.
pub fn phase_correlate(before: &[f32], after: &[f32], n: usize) -> Option<WindowShift> {
    let fft = Fft2::new(n);
    let spectrum = cross_power(&fft, before, after)?;
    peak_of(&fft, spectrum, 1)
}

/// The shift between the dates from windows `(before, after)` of `n` x `n`: each window's own
/// peak decides whether it counts (strong enough: a shared, textured scene; near the median of
/// all windows' peaks: not a window of change); the spectra of those that count are summed and the shift is the peak of the sum (every window's phase evidence at once,
/// steadier than any one window or the median of their peaks). Windows are correlated in
/// parallel.
pub fn register(windows: &[(Vec<f32>, Vec<f32>)], n: usize) -> Option<Registration> {
    use rayon::prelude::*;
    let fft = Fft2::new(n);
    let each: Vec<Option<(Vec<Complex32>, WindowShift)>> = windows
        .par_iter()
        .map(|(b, a)| {
            let c = cross_power(&fft, b, a)?;
            let s = peak_of(&fft, c.clone(), 1)?;
            Some((c, s))
        })
        .collect();
    let peaked: Vec<&(Vec<Complex32>, WindowShift)> = each
        .iter()
        .flatten()
        .filter(|(_, s)| s.peak >= min_peak(n))
        .collect();
    // Consensus: a window full of change, cloud or a periodic pattern can peak anywhere. The
    // windows that count are those within AGREE_PX of the median of all peaks (a sub-pixel
    // shift of real imagery moves edges by 0 or 1 px, so the windows' own peaks scatter by one).
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    let mx = median(peaked.iter().map(|(_, s)| s.dx).collect())?;
    let my = median(peaked.iter().map(|(_, s)| s.dy).collect())?;
    let used: Vec<&(Vec<Complex32>, WindowShift)> = peaked
        .into_iter()
        .filter(|(_, s)| (s.dx - mx).abs() <= AGREE_PX && (s.dy - my).abs() <= AGREE_PX)
        .collect();
    let first = used.first()?;
    let mut sum = vec![Complex32::new(0.0, 0.0); first.0.len()];
    for (c, _) in &used {
        for (s, v) in sum.iter_mut().zip(c) {
            *s += v;
        }
    }
    let joint = peak_of(&fft, sum, used.len())?;
    let mut dev: Vec<f64> = used
        .iter()
        .map(|(_, s)| (s.dx - joint.dx).hypot(s.dy - joint.dy))
        .collect();
    dev.sort_by(f64::total_cmp);
    Some(Registration {
        dx_px: joint.dx,
        dy_px: joint.dy,
        windows: windows.len(),
        used: used.len(),
        spread_px: dev[dev.len() / 2],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured image: hashed noise smoothed over 3 x 3 pixels (speckle at every scale a
    /// landscape has in its first octaves), read bilinearly at `(x + sx, y + sy)`.
    fn texture(n: usize, sx: f64, sy: f64) -> Vec<f32> {
        let noise = |x: i64, y: i64| -> f64 {
            let h = (x.wrapping_mul(0x9E37_79B9) ^ y.wrapping_mul(0x85EB_CA6B)) as u64;
            let h = h.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
            ((h >> 40) & 0xFFFF) as f64 / 65535.0
        };
        let smooth = |x: i64, y: i64| -> f64 {
            let mut s = 0.0;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    s += noise(x + dx, y + dy);
                }
            }
            s / 9.0
        };
        let mut out = vec![0.0f32; n * n];
        for y in 0..n {
            for x in 0..n {
                let (u, v) = (x as f64 + sx, y as f64 + sy);
                let (x0, y0) = (u.floor(), v.floor());
                let (fx, fy) = (u - x0, v - y0);
                let (x0, y0) = (x0 as i64, y0 as i64);
                let s = smooth(x0, y0) * (1.0 - fx) * (1.0 - fy)
                    + smooth(x0 + 1, y0) * fx * (1.0 - fy)
                    + smooth(x0, y0 + 1) * (1.0 - fx) * fy
                    + smooth(x0 + 1, y0 + 1) * fx * fy;
                out[y * n + x] = (1000.0 + 400.0 * s) as f32;
            }
        }
        out
    }

    #[test]
    fn integer_and_fractional_shifts_are_found() {
        let n = 128;
        let before = texture(n, 0.0, 0.0);
        for (sx, sy) in [
            (0.0, 0.0),
            (3.0, -2.0),
            (0.4, -0.7),
            (-1.3, 0.6),
            (0.5, 0.5),
        ] {
            // The after image shows at x what the before image shows at x - s: shifted by +s.
            let after = texture(n, -sx, -sy);
            let s = phase_correlate(&before, &after, n).unwrap();
            assert!(
                (s.dx - sx).abs() < 0.15 && (s.dy - sy).abs() < 0.15,
                "want ({sx}, {sy}), got {s:?}"
            );
            assert!(s.peak > 0.2, "{s:?}");
        }
    }

    #[test]
    fn unrelated_windows_have_a_weak_peak_and_do_not_count() {
        let n = 64;
        let a = texture(n, 0.0, 0.0);
        let noise: Vec<f32> = (0..n * n)
            .map(|i| ((i as u64).wrapping_mul(2_654_435_761) % 1000) as f32)
            .collect();
        let weak = phase_correlate(&a, &noise, n).unwrap();
        assert!(weak.peak < min_peak(n), "{weak:?}");
        let win = |sx: f64, sy: f64| {
            (
                texture(n, sx * 7.0, sy),
                texture(n, sx * 7.0 - 1.2, sy + 0.4),
            )
        };
        let windows = vec![
            win(0.0, 0.0),
            (a.clone(), noise.clone()),
            // A window of change: its own strong peak far from the others'.
            (texture(n, 30.0, 0.0), texture(n, 30.0 + 9.0, 5.0)),
            win(9.0, 3.0),
            (vec![5.0; n * n], vec![5.0; n * n]),
            win(-4.0, 11.0),
        ];
        let r = register(&windows, n).unwrap();
        assert_eq!((r.windows, r.used), (6, 3));
        assert!(
            (r.dx_px - 1.2).abs() < 0.15 && (r.dy_px + 0.4).abs() < 0.15,
            "{r:?}"
        );
        assert!(register(&[(a, noise)], n).is_none());
    }

    #[test]
    fn a_flat_window_has_no_shift() {
        let flat = vec![7.0f32; 64 * 64];
        assert!(phase_correlate(&flat, &flat, 64).is_none_or(|s| s.peak < min_peak(64)));
    }
}
