//! CPU twin of `shaders/mbi.wgsl`: the morphological building index (Huang & Zhang 2011) built
//! from openings with line structuring elements in four directions.
//!
//! The MBI averages the differential morphological profile of white top-hats over scales and
//! directions. Summed over consecutive scales the profile telescopes, so for each direction it
//! equals `opening(smallest line) - opening(largest line)`; that is what we compute. Min and max
//! are exact in f32, so the GPU and this twin agree bit for bit. Nodata and out-of-window pixels
//! are skipped inside every window (never padded), which keeps results independent of tiling.

use super::{BIG, Driver};
use crate::change::KernelParams;

/// Unit step (dx, dy) of line direction `dir`: 0 horizontal, 1 vertical, 2 and 3 diagonals.
#[inline]
pub fn direction(dir: u32) -> (i64, i64) {
    match dir {
        0 => (1, 0),
        1 => (0, 1),
        2 => (1, 1),
        _ => (1, -1),
    }
}

/// Min (`erode`) or max (dilate) of `src` over the valid pixels of the line of `2 * half + 1`
/// pixels centred on pixel `i`, along direction `dir`.
pub fn line_extreme_px(p: &KernelParams, src: &[f32], valid: &[u32], i: usize, erode: bool) -> f32 {
    let (w, h) = (p.width as i64, p.height as i64);
    let (x, y) = ((i as i64) % w, (i as i64) / w);
    let (dx, dy) = direction(p.dir);
    let half = p.half as i64;
    let mut m = if erode { BIG } else { -BIG };
    for k in -half..=half {
        let (xx, yy) = (x + k * dx, y + k * dy);
        if xx < 0 || yy < 0 || xx >= w || yy >= h {
            continue;
        }
        let j = (yy * w + xx) as usize;
        if valid[j] == 0 {
            continue;
        }
        m = if erode { m.min(src[j]) } else { m.max(src[j]) };
    }
    m
}

/// Line erosion (`erode = true`) or dilation of a whole plane. The sequential driver runs the
/// per-pixel kernel (the shader's exact mirror); the rayon driver runs the van Herk/Gil-Werman
/// algorithm along each line, three comparisons per pixel whatever the line length. Both take
/// the min (max) of the same values, so they agree bit for bit (tested).
pub fn line_extreme(
    driver: Driver,
    p: &KernelParams,
    src: &[f32],
    valid: &[u32],
    out: &mut [f32],
    erode: bool,
) {
    match driver {
        Driver::Sequential => driver.fill(out, p.width as usize, |i| {
            line_extreme_px(p, src, valid, i, erode)
        }),
        Driver::Rayon => super::vhgw::line_extreme(p, src, valid, out, erode),
    }
}

/// `acc += small - large`: one direction's telescoped top-hat profile.
pub fn accumulate(driver: Driver, small: &[f32], large: &[f32], acc: &mut [f32]) {
    driver.update(acc, |i, a| a + (small[i] - large[i]));
}

/// Evidence from the two dates' building-index sums: `|mbi_after - mbi_before|`, where each
/// index is the mean over the four directions. NaN where either date is nodata.
pub fn mbi_change_px(valid: &[u32], acc_before: &[f32], acc_after: &[f32], i: usize) -> f32 {
    if valid[i] == 0 {
        return f32::NAN;
    }
    ((acc_after[i] - acc_before[i]) * 0.25).abs()
}

/// The line opening of `base` along one direction: erosion into `tmp`, dilation into `out`.
pub fn line_opening(
    driver: Driver,
    p: &KernelParams,
    base: &[f32],
    valid: &[u32],
    tmp: &mut [f32],
    out: &mut [f32],
) {
    line_extreme(driver, p, base, valid, tmp, true);
    line_extreme(driver, p, tmp, valid, out, false);
}

/// The building index sum (4 x MBI) of one date's brightness plane.
pub fn mbi_sum(
    driver: Driver,
    p: &KernelParams,
    base: &[f32],
    valid: &[u32],
    scales: (u32, u32),
) -> Vec<f32> {
    let n = p.pixels();
    let (mut tmp, mut small, mut large) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let mut acc = vec![0.0f32; n];
    for dir in 0..4 {
        let ps = KernelParams {
            dir,
            half: scales.0,
            ..*p
        };
        line_opening(driver, &ps, base, valid, &mut tmp, &mut small);
        let pl = KernelParams {
            dir,
            half: scales.1,
            ..*p
        };
        line_opening(driver, &pl, base, valid, &mut tmp, &mut large);
        accumulate(driver, &small, &large, &mut acc);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(w: u32, h: u32) -> KernelParams {
        KernelParams {
            width: w,
            height: h,
            bands: 1,
            ..KernelParams::default()
        }
    }

    #[test]
    fn opening_removes_features_shorter_than_the_line() {
        // A 3-pixel bright bar survives a 3-pixel horizontal opening but not a 5-pixel one.
        let mut img = vec![0.0f32; 9 * 3];
        for x in 3..6 {
            img[9 + x] = 10.0;
        }
        let valid = vec![1u32; 27];
        let (mut tmp, mut out) = (vec![0.0; 27], vec![0.0; 27]);
        let p = KernelParams {
            dir: 0,
            half: 1,
            ..params(9, 3)
        };
        line_opening(Driver::Sequential, &p, &img, &valid, &mut tmp, &mut out);
        assert_eq!(out, img);
        let p = KernelParams {
            dir: 0,
            half: 2,
            ..params(9, 3)
        };
        line_opening(Driver::Sequential, &p, &img, &valid, &mut tmp, &mut out);
        assert!(out.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn bright_square_has_positive_index_and_flat_ground_none() {
        let (w, h) = (40u32, 40u32);
        let mut img = vec![5.0f32; 1600];
        for y in 15..23 {
            for x in 15..23 {
                img[y * 40 + x] = 50.0;
            }
        }
        let valid = vec![1u32; 1600];
        let acc = mbi_sum(Driver::Rayon, &params(w, h), &img, &valid, (1, 10));
        assert!(acc[19 * 40 + 19] > 100.0);
        assert_eq!(acc[2 * 40 + 2], 0.0);
        let seq = mbi_sum(Driver::Sequential, &params(w, h), &img, &valid, (1, 10));
        assert_eq!(acc, seq);
    }

    #[test]
    fn nodata_is_skipped_not_padded() {
        let img = vec![7.0f32; 25];
        let mut valid = vec![1u32; 25];
        valid[12] = 0;
        let (mut tmp, mut out) = (vec![0.0; 25], vec![0.0; 25]);
        let p = KernelParams {
            dir: 2,
            half: 3,
            ..params(5, 5)
        };
        line_opening(Driver::Sequential, &p, &img, &valid, &mut tmp, &mut out);
        for (i, v) in out.iter().enumerate() {
            if i != 12 {
                assert_eq!(*v, 7.0);
            }
        }
    }
}
