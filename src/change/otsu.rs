//! Otsu's threshold over a histogram of evidence values sampled from the whole scene.
//!
//! The histogram has [`BINS`] equal bins between the smallest and largest finite sample; the
//! threshold is the centre of the bin that maximises the between-class variance, and a pixel is
//! change when its evidence is strictly greater. Computed in f64 on the CPU, once per scene, so
//! both backends use the same number.

/// Number of histogram bins.
pub const BINS: usize = 256;

/// Otsu's threshold of `values` (NaN and infinite values are ignored). `None` when there is no
/// finite value. When all values are equal the threshold is that value (nothing is change).
pub fn otsu_threshold(values: &[f32]) -> Option<f32> {
    let finite = || values.iter().copied().filter(|v| v.is_finite());
    let lo = finite().fold(f32::INFINITY, f32::min);
    let hi = finite().fold(f32::NEG_INFINITY, f32::max);
    if !lo.is_finite() {
        return None;
    }
    if hi <= lo {
        return Some(hi);
    }
    let (lo, hi) = (lo as f64, hi as f64);
    let width = (hi - lo) / BINS as f64;
    let mut hist = [0u64; BINS];
    for v in finite() {
        let b = (((v as f64 - lo) / width) as usize).min(BINS - 1);
        hist[b] += 1;
    }
    let centre = |k: usize| lo + (k as f64 + 0.5) * width;
    let total: f64 = hist.iter().sum::<u64>() as f64;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(k, &c)| c as f64 * centre(k))
        .sum();
    let (mut w0, mut sum0) = (0.0f64, 0.0f64);
    let (mut best, mut best_k) = (-1.0f64, 0usize);
    for (k, &c) in hist.iter().enumerate() {
        w0 += c as f64;
        sum0 += c as f64 * centre(k);
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / w1;
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_k = k;
        }
    }
    Some(centre(best_k) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_two_modes() {
        let mut v: Vec<f32> = (0..900).map(|k| (k % 10) as f32).collect();
        v.extend((0..100).map(|k| 100.0 + (k % 10) as f32));
        v.push(f32::NAN);
        let t = otsu_threshold(&v).unwrap();
        assert!(t > 9.0 && t < 100.0, "t = {t}");
        assert_eq!(v.iter().filter(|&&x| x > t).count(), 100);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(otsu_threshold(&[]), None);
        assert_eq!(otsu_threshold(&[f32::NAN]), None);
        assert_eq!(otsu_threshold(&[3.0, 3.0]), Some(3.0));
    }
}
