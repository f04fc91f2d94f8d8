//! CPU twin of `shaders/morphology.wgsl`: binary erosion and dilation of the change mask with a
//! square structuring element of radius `p.half`. Nodata pixels (255) are skipped inside every
//! window and stay nodata, so opening and closing never grow change into nodata or across a
//! tile edge differently from the scene edge.

use super::Driver;
use crate::change::{KernelParams, MASK_NODATA};

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
pub fn binary(driver: Driver, p: &KernelParams, src: &[u32], out: &mut [u32], erode: bool) {
    driver.fill(out, p.width as usize, |i| binary_px(p, src, i, erode));
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
    fn closing_fills_one_pixel_gap_and_nodata_stays() {
        let mut m = vec![1u32; 25];
        m[12] = 0;
        m[0] = MASK_NODATA;
        open_close(Driver::Rayon, &p(5, 5), &mut m, 0, 1);
        assert_eq!(m[12], 1);
        assert_eq!(m[0], MASK_NODATA);
    }
}
