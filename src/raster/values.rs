//! What a date's band values are: reflectance (x 10000 for integers, as is for floats), 8-bit
//! display values, 10-bit digital numbers or a 16-bit stretch. The data type says which at
//! first ([`value_scale`]); the values seen over windows spread over the scene
//! ([`ValueTally`], [`ValueRange`]) may say otherwise ([`settled_scale`]).
//!
//! The cloud and shadow screens compare reflectance ([`is_reflectance`]). Read as reflectance,
//! a UInt16 file of 0-255 values fell wholly under the shadow value and a Float32 file of
//! reflectance x 10000 wholly over the cloud value: no change at all, with exit 0.

/// The scale of an image read as 10-bit digital numbers.
pub const DN10_MAX: f64 = 1023.0;

/// The scale of an image read as a 16-bit stretch.
pub const STRETCH16_MAX: f64 = 65_535.0;

/// The share of an image's values above twice reflectance 1 from which they are not
/// reflectance.
pub const NOT_REFLECTANCE_SHARE: f32 = 0.01;

/// The value of reflectance 1.0 for a data type: 255 for 8-bit products (display-stretched),
/// 1 for floating point (reflectance as is), 10000 for 16/32-bit integers.
#[cfg(feature = "gdal")]
pub fn value_scale(t: gdal::raster::GdalDataType) -> f64 {
    use gdal::raster::GdalDataType as T;
    match t {
        T::UInt8 => 255.0,
        T::Float32 | T::Float64 => 1.0,
        _ => 10_000.0,
    }
}

/// Whether band values on `scale` are reflectance (x 10000 for integers, as is for floats),
/// which the cloud and shadow screens' thresholds are: not display values or digital numbers.
pub fn is_reflectance(scale: f64) -> bool {
    scale == 1.0 || scale == 10_000.0
}

/// The convention a scale stands for, in words.
pub fn scale_name(scale: f64) -> &'static str {
    match scale {
        255.0 => "8-bit (display values)",
        DN10_MAX => "10-bit digital numbers",
        STRETCH16_MAX => "16-bit display values or digital numbers",
        1.0 => "floating-point reflectance",
        _ => "reflectance x 10000",
    }
}

/// What one date's values look like over windows spread over the scene.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ValueRange {
    /// The largest valid value in any band.
    pub max: f32,
    /// The share of the valid values (every band) above twice the value of reflectance 1 on
    /// the date's scale, which reflectance never is.
    pub above_two: f32,
}

impl ValueRange {
    /// Two dates' ranges as one (the larger maximum, the mean share).
    pub fn joined(self, other: ValueRange) -> ValueRange {
        ValueRange {
            max: self.max.max(other.max),
            above_two: 0.5 * (self.above_two + other.above_two),
        }
    }
}

/// A [`ValueRange`] counted window by window.
#[derive(Clone, Copy, Debug)]
pub struct ValueTally {
    /// Twice the value of reflectance 1.
    two: f32,
    max: f32,
    above_two: u64,
    seen: u64,
}

impl ValueTally {
    /// A tally for a date whose reflectance 1 is `scale`.
    pub fn new(scale: f64) -> Self {
        ValueTally {
            two: (2.0 * scale) as f32,
            max: f32::NEG_INFINITY,
            above_two: 0,
            seen: 0,
        }
    }

    /// Count the `valid` pixels of `data` (band-sequential planes of `valid.len()` pixels).
    pub fn add(&mut self, data: &[f32], valid: &[u32]) {
        for plane in data.chunks_exact(valid.len().max(1)) {
            for (&v, &ok) in plane.iter().zip(valid) {
                if ok != 0 {
                    self.max = self.max.max(v);
                    self.above_two += u64::from(v > self.two);
                    self.seen += 1;
                }
            }
        }
    }

    /// The range counted (a max of -inf when no pixel was valid).
    pub fn range(&self) -> ValueRange {
        ValueRange {
            max: self.max,
            above_two: self.above_two as f32 / self.seen.max(1) as f32,
        }
    }
}

/// The scale a date's values show, and why, where its data type said reflectance (`scale` 1
/// or 10000) and the bands have no scale of their own; None where they are reflectance:
/// - an integer image whose values never pass 255 holds 8-bit display values, and one with a
///   near-infrared band (`nir`) whose values never pass [`DN10_MAX`] 10-bit digital numbers
///   (GF-1/2 and ZY-3 products before radiometric calibration): reflectance of at most 0.1 in
///   every band, near infrared included, is no scene of land. A blue or green band alone, or
///   R, G, B of a dark scene, may stay under 0.1 (a blue band of the synth county: 0.086).
/// - an image with [`NOT_REFLECTANCE_SHARE`] or more of its values above twice reflectance 1
///   (a float image past 2, an integer one past 20000: reflectance never is) holds display
///   values (up to 255), 10-bit numbers (up to 1023), reflectance x 10000 (up to 20000) or a
///   16-bit stretch.
pub fn settled_scale(scale: f64, nir: bool, range: ValueRange) -> Option<(f64, String)> {
    let ValueRange { max, above_two } = range;
    if !max.is_finite() {
        return None;
    }
    let max64 = f64::from(max);
    let past_two = above_two >= NOT_REFLECTANCE_SHARE;
    let small = max <= 255.0 || (max64 <= DN10_MAX && nir);
    let not_reflectance = match scale {
        10_000.0 => small || past_two,
        1.0 => past_two,
        _ => false,
    };
    if !not_reflectance {
        return None;
    }
    let settled = match max64 {
        m if m <= 255.0 => 255.0,
        m if m <= DN10_MAX => DN10_MAX,
        m if m <= 20_000.0 => 10_000.0,
        _ => STRETCH16_MAX,
    };
    let why = if past_two {
        format!(
            "{:.1} % of its values in the windows sampled are above twice reflectance 1 (the largest is {max})",
            100.0 * above_two
        )
    } else {
        format!("no value in the windows sampled passes {settled} (the largest is {max})")
    };
    Some((settled, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(max: f32, above_two: f32) -> ValueRange {
        ValueRange { max, above_two }
    }

    #[test]
    fn integer_images_of_small_values_are_not_reflectance() {
        let s = |max, nir| settled_scale(10_000.0, nir, range(max, 0.0)).map(|(s, _)| s);
        assert_eq!(s(200.0, false), Some(255.0));
        assert_eq!(s(255.0, true), Some(255.0));
        assert_eq!(s(900.0, true), Some(DN10_MAX));
        // A visible band may stay under reflectance 0.1.
        assert_eq!(s(900.0, false), None);
        assert_eq!(s(3000.0, true), None);
        // No valid pixel seen: nothing to say.
        assert_eq!(s(f32::NEG_INFINITY, true), None);
    }

    #[test]
    fn values_past_twice_reflectance_1_are_not_reflectance() {
        let s = |scale, max, share| settled_scale(scale, false, range(max, share)).map(|(s, _)| s);
        assert_eq!(s(1.0, 1.4, 0.0), None);
        // A few hot pixels are not a scale.
        assert_eq!(s(1.0, 250.0, 0.001), None);
        assert_eq!(s(1.0, 250.0, 0.9), Some(255.0));
        assert_eq!(s(1.0, 900.0, 0.9), Some(DN10_MAX));
        assert_eq!(s(1.0, 4000.0, 0.9), Some(10_000.0));
        assert_eq!(s(10_000.0, 60_000.0, 0.3), Some(STRETCH16_MAX));
        assert_eq!(s(10_000.0, 25_000.0, 0.001), None);
        // 8-bit images are display values already.
        assert_eq!(s(255.0, 200.0, 0.9), None);
        let (_, why) = settled_scale(1.0, false, range(4000.0, 0.5)).unwrap();
        assert!(why.contains("50.0 %") && why.contains("4000"), "{why}");
    }

    #[test]
    fn a_tally_counts_valid_pixels_of_every_band() {
        let mut t = ValueTally::new(1.0);
        // Two bands of three pixels; the middle pixel is not valid.
        t.add(&[0.5, 9.0, 3.0, 0.2, 99.0, 0.1], &[1, 0, 1]);
        let r = t.range();
        assert_eq!(r.max, 3.0);
        assert_eq!(r.above_two, 0.25);
        assert_eq!(ValueTally::new(1.0).range().max, f32::NEG_INFINITY);
        assert_eq!(r.joined(range(5.0, 0.75)), range(5.0, 0.5));
    }
}
