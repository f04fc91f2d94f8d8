//! CPU twin of `shaders/threshold.wgsl`: evidence to a 0/1 change mask (255 where nodata), and a
//! count of pixels whose evidence lies so close to the threshold that float rounding on another
//! device could flip them. The count is reported, so a flip can never be silent.

use super::Driver;
use crate::change::{KernelParams, MASK_NODATA};

/// The per-pixel decision. `valid` is the pixel's validity in both dates.
#[inline]
pub fn threshold_px(ev: f32, valid: u32, t: f32) -> u32 {
    if valid == 0 {
        MASK_NODATA
    } else if ev > t {
        1
    } else {
        0
    }
}

/// True when `ev` is within the relative rounding band `near_rel` of the threshold `t`.
#[inline]
pub fn is_near_px(ev: f32, valid: u32, t: f32, near_rel: f32) -> bool {
    valid != 0 && (ev - t).abs() <= near_rel * t.abs().max(1e-30)
}

/// Threshold a whole evidence plane; returns the number of near-threshold pixels.
pub fn threshold(
    driver: Driver,
    p: &KernelParams,
    ev: &[f32],
    valid: &[u32],
    mask: &mut [u32],
) -> u64 {
    driver.fill(mask, p.width as usize, |i| {
        threshold_px(ev[i], valid[i], p.threshold)
    });
    ev.iter()
        .zip(valid)
        .filter(|(e, v)| is_near_px(**e, **v, p.threshold, p.near_rel))
        .count() as u64
}
