//! CPU twin of `shaders/normalize.wgsl`: applies the per-band linear radiometric model
//! `after' = after * gain + offset` that maps the after image onto the before image.

use super::Driver;
use crate::change::KernelParams;

/// The per-pixel kernel: normalise band `b` of pixel value `v`.
#[inline]
pub fn normalize_px(v: f32, gain: f32, offset: f32) -> f32 {
    // Written as a product then a sum (no fused multiply-add), like the shader.
    let scaled = v * gain;
    scaled + offset
}

/// Normalise `after` (band-sequential, `p.bands` planes of `p.width * p.height`) in place.
/// `coeffs` holds `[gain_0, offset_0, gain_1, offset_1, ..]`.
pub fn normalize(driver: Driver, p: &KernelParams, coeffs: &[f32], after: &mut [f32]) {
    let n = p.pixels();
    for (b, plane) in after.chunks_mut(n).enumerate().take(p.bands as usize) {
        let (gain, offset) = (coeffs[2 * b], coeffs[2 * b + 1]);
        driver.update(plane, |_, v| normalize_px(v, gain, offset));
    }
}
