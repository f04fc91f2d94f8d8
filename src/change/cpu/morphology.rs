//! CPU twin of `shaders/morphology.wgsl`: binary erosion and dilation of the change mask with a
//! square structuring element of radius `p.half`. Nodata pixels (255) are skipped inside every
//! window and stay nodata, so opening and closing never grow change into nodata or across a
//! tile edge differently from the scene edge.

use super::Driver;
use crate::change::{KernelParams, MASK_NODATA};
use rayon::prelude::*;

/// Erosion (`erode = true`: 1 only when every valid neighbour is 1) or dilation (1 when any
/// valid neighbour is 1) at pixel `i`.
pub fn binary_px(p: &KernelParams, src: &[u32], i: usize, erode: bool) -> u32 {
    let centre = src[i];
    if centre == MASK_NODATA {
        return MASK_NODATA;
    }
    let (w, h) = (p.width as i64, p.height as i64);
    let (x, y) = ((i as i64) % w, (i as i64) / w);
    let r = p.half as i64;
    for yy in (y - r).max(0)..=(y + r).min(h - 1) {
        for xx in (x - r).max(0)..=(x + r).min(w - 1) {
            let v = src[(yy * w + xx) as usize];
            if v == MASK_NODATA {
                continue;
            }
            if erode && v == 0 {
                return 0;
            }
            if !erode && v == 1 {
                return 1;
            }
        }
    }
    if erode { 1 } else { 0 }
}

/// Erode or dilate a whole mask.
///
/// The sequential driver runs the per-pixel kernel (the shader's mirror); the rayon driver runs
/// the square as two 1-D passes (rows, then columns) with nodata mapped to the neutral value,
/// which takes the same min/max over the same pixels, so both agree exactly (tested).
pub fn binary(driver: Driver, p: &KernelParams, src: &[u32], out: &mut [u32], erode: bool) {
    match driver {
        Driver::Sequential => driver.fill(out, p.width as usize, |i| binary_px(p, src, i, erode)),
        Driver::Rayon => binary_separable(p, src, out, erode),
    }
}

/// Separable erosion/dilation: a row pass into a scratch plane, then a column pass.
fn binary_separable(p: &KernelParams, src: &[u32], out: &mut [u32], erode: bool) {
    let (w, h, r) = (p.width as usize, p.height as usize, p.half as usize);
    // Nodata must not decide anything: 1 is neutral for erosion (min), 0 for dilation (max).
    let neutral = u32::from(erode);
    let pick = |a: u32, b: u32| if erode { a.min(b) } else { a.max(b) };
    let mut rows = vec![0u32; w * h];
    rows.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let line = &src[y * w..(y + 1) * w];
        for (x, o) in row.iter_mut().enumerate() {
            let lo = x.saturating_sub(r);
            let hi = (x + r).min(w - 1);
            *o = line[lo..=hi]
                .iter()
                .map(|&v| if v == MASK_NODATA { neutral } else { v })
                .fold(neutral, pick);
        }
    });
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let lo = y.saturating_sub(r);
        let hi = (y + r).min(h - 1);
        for (x, o) in row.iter_mut().enumerate() {
            *o = if src[y * w + x] == MASK_NODATA {
                MASK_NODATA
            } else {
                (lo..=hi).map(|yy| rows[yy * w + x]).fold(neutral, pick)
            };
        }
    });
}

/// Opening (erode, dilate) with radius `open_r`, then closing (dilate, erode) with `close_r`,
/// in place. A radius of 0 skips that step.
pub fn open_close(driver: Driver, p: &KernelParams, mask: &mut [u32], open_r: u32, close_r: u32) {
    let mut tmp = vec![0u32; mask.len()];
    let steps = [
        (open_r, true),
        (open_r, false),
        (close_r, false),
        (close_r, true),
    ];
    for (r, erode) in steps {
        if r == 0 {
            continue;
        }
        let pr = KernelParams { half: r, ..*p };
        binary(driver, &pr, mask, &mut tmp, erode);
        mask.copy_from_slice(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(w: u32, h: u32) -> KernelParams {
        KernelParams {
            width: w,
            height: h,
            ..KernelParams::default()
        }
    }

    #[test]
    fn opening_removes_isolated_pixel_keeps_block() {
        let mut m = vec![0u32; 64];
        m[9] = 1; // isolated
        for y in 4..7 {
            for x in 4..7 {
                m[y * 8 + x] = 1;
            }
        }
        open_close(Driver::Sequential, &p(8, 8), &mut m, 1, 0);
        assert_eq!(m[9], 0);
        assert_eq!(m.iter().filter(|&&v| v == 1).count(), 9);
    }

    #[test]
    fn separable_matches_per_pixel_kernel() {
        let (w, h) = (29u32, 17u32);
        let mask: Vec<u32> = (0..w * h)
            .map(|i| match (i.wrapping_mul(2_654_435_761) >> 7) % 9 {
                0 => MASK_NODATA,
                1..=4 => 1,
                _ => 0,
            })
            .collect();
        for r in [1, 2, 5] {
            for erode in [true, false] {
                let pr = KernelParams { half: r, ..p(w, h) };
                let (mut a, mut b) = (vec![0; mask.len()], vec![0; mask.len()]);
                binary(Driver::Sequential, &pr, &mask, &mut a, erode);
                binary(Driver::Rayon, &pr, &mask, &mut b, erode);
                assert_eq!(a, b, "radius {r} erode {erode}");
            }
        }
    }

    #[test]
    fn closing_fills_one_pixel_gap_and_nodata_stays() {
        let mut m = vec![1u32; 25];
        m[12] = 0;
        m[0] = MASK_NODATA;
        open_close(Driver::Rayon, &p(5, 5), &mut m, 0, 1);
        assert_eq!(m[12], 1);
        assert_eq!(m[0], MASK_NODATA);
    }
}
