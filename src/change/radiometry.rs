//! Relative radiometric normalisation: a per-band linear model `after' = gain * after + offset`
//! that maps the after image onto the before image, fitted once per scene.
//!
//! Method: iterated pseudo-invariant-feature (PIF) selection with mean/standard-deviation
//! matching. Start from moment matching over all sampled pixels; then, three times, keep the
//! half of the pixels whose standardised change vector is smallest (the ones that look
//! unchanged) and refit on them alone. Real change (new roofs, cleared fields) is excluded from
//! the fit, so it is not normalised away; haze, sun angle and sensor gain are.

/// Paired samples of both dates: `before[b][k]`, `after[b][k]` for band `b`, pixel `k`.
#[derive(Clone, Debug, Default)]
pub struct PairSamples {
    pub before: Vec<Vec<f32>>,
    pub after: Vec<Vec<f32>>,
}

impl PairSamples {
    /// Empty samples for `bands` bands.
    pub fn new(bands: usize) -> Self {
        PairSamples {
            before: vec![Vec::new(); bands],
            after: vec![Vec::new(); bands],
        }
    }

    /// Number of sampled pixels.
    pub fn len(&self) -> usize {
        self.before.first().map_or(0, Vec::len)
    }

    /// True when no pixel was sampled.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Mean and standard deviation (population) of `v` over the indices `idx`.
fn moments(v: &[f32], idx: &[usize]) -> (f64, f64) {
    let n = idx.len().max(1) as f64;
    let mean = idx.iter().map(|&k| v[k] as f64).sum::<f64>() / n;
    let var = idx
        .iter()
        .map(|&k| (v[k] as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    (mean, var.sqrt())
}

/// Median and median absolute deviation of `v`.
fn median_mad(v: &[f32]) -> (f64, f64) {
    let median = |mut x: Vec<f64>| -> f64 {
        let mid = x.len() / 2;
        *x.select_nth_unstable_by(mid, f64::total_cmp).1
    };
    let med = median(v.iter().map(|&x| x as f64).collect());
    let mad = median(v.iter().map(|&x| (x as f64 - med).abs()).collect());
    (med, mad)
}

/// Gain and offset from medians and MADs: the robust starting model, which up to half of the
/// pixels changing cannot pull away.
fn match_robust(before: &[f32], after: &[f32]) -> (f64, f64) {
    let (mb, sb) = median_mad(before);
    let (ma, sa) = median_mad(after);
    let gain = if sa > 1e-12 && sb > 1e-12 {
        sb / sa
    } else {
        1.0
    };
    (gain, mb - gain * ma)
}

/// Gain and offset that match the moments of `after` to those of `before` over `idx`.
fn match_moments(before: &[f32], after: &[f32], idx: &[usize]) -> (f64, f64) {
    let (mb, sb) = moments(before, idx);
    let (ma, sa) = moments(after, idx);
    let gain = if sa > 1e-12 && sb > 1e-12 {
        sb / sa
    } else {
        1.0
    };
    (gain, mb - gain * ma)
}

/// Fit the per-band model. Returns `[gain_0, offset_0, gain_1, offset_1, ..]`; identity when
/// there are no samples.
pub fn fit(samples: &PairSamples) -> Vec<f32> {
    let bands = samples.before.len();
    let n = samples.len();
    if n == 0 {
        return (0..bands).flat_map(|_| [1.0, 0.0]).collect();
    }
    let all: Vec<usize> = (0..n).collect();
    let fit_on = |idx: &[usize]| -> Vec<(f64, f64)> {
        (0..bands)
            .map(|b| match_moments(&samples.before[b], &samples.after[b], idx))
            .collect()
    };
    let scale: Vec<f64> = (0..bands)
        .map(|b| moments(&samples.before[b], &all).1.max(1e-12))
        .collect();
    let mut model: Vec<(f64, f64)> = (0..bands)
        .map(|b| match_robust(&samples.before[b], &samples.after[b]))
        .collect();
    for _ in 0..3 {
        let dist: Vec<f64> = (0..n)
            .map(|k| {
                (0..bands)
                    .map(|b| {
                        let (g, o) = model[b];
                        let d = g * samples.after[b][k] as f64 + o - samples.before[b][k] as f64;
                        (d / scale[b]).powi(2)
                    })
                    .sum()
            })
            .collect();
        let mut sorted = dist.clone();
        let mid = n / 2;
        sorted.select_nth_unstable_by(mid, f64::total_cmp);
        let median = sorted[mid];
        let invariant: Vec<usize> = (0..n).filter(|&k| dist[k] <= median).collect();
        model = fit_on(&invariant);
    }
    model
        .into_iter()
        .flat_map(|(g, o)| [g as f32, o as f32])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_gain_and_offset_despite_real_change() {
        // after = (before - 10) / 2 on 80 % of pixels; 20 % are real change (very bright).
        let mut s = PairSamples::new(1);
        for k in 0..1000 {
            let b = 100.0 + (k % 97) as f32;
            let a = if k % 5 == 0 { 900.0 } else { (b - 10.0) / 2.0 };
            s.before[0].push(b);
            s.after[0].push(a);
        }
        let c = fit(&s);
        assert!((c[0] - 2.0).abs() < 0.05, "gain {}", c[0]);
        assert!((c[1] - 10.0).abs() < 3.0, "offset {}", c[1]);
    }

    #[test]
    fn no_samples_is_identity() {
        assert_eq!(fit(&PairSamples::new(2)), vec![1.0, 0.0, 1.0, 0.0]);
    }
}
