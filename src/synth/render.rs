//! Rendering the scene, pixel by pixel, for both dates and the truth and survey rasters. Each
//! pixel depends only on the scene and its coordinates, so any tiling gives the same bytes.

use super::scene::{Dlbm, Material, Meaning, Scene, When};
use super::world::hash01;

/// Everything one pixel contributes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pixel {
    pub before: [u16; 4],
    pub after: [u16; 4],
    /// Truth change code (0: none).
    pub truth: u8,
    /// Pseudo-change: 0 none, 1 crop phenology, 2 water level, 3 cloud, 4 cloud shadow.
    pub pseudo: u8,
    /// Survey raster code of the land class (before date), see `Dlbm::raster`.
    pub dlbm: u8,
    pub pbf: bool,
    pub redline: bool,
    /// County index (0 or 1).
    pub county: u8,
    /// Index + 1 of the truth change object (0: none).
    pub object: u32,
}

/// The top feature at (x, y) on a date: material and role; None where only the field shows.
fn cover(s: &Scene, x: f64, y: f64, after: bool) -> Option<(Material, Meaning)> {
    let (px, py) = (x.max(0.0) as usize, y.max(0.0) as usize);
    for entry in s.buckets.candidates(px, py, x, y) {
        let f = &s.features[(entry >> 8) as usize];
        let live = match f.when {
            When::Both => true,
            When::BeforeOnly => !after,
            When::AfterOnly => after,
        };
        if live && f.shape.contains_part((entry & 0xFF) as usize, x, y) {
            let mut m = f.material;
            if f.stripes > 0 && (x as i64 / f.stripes as i64) % 2 == 1 {
                m = Material::Turf;
            }
            return Some((m, f.role));
        }
    }
    None
}

fn crop_dlbm(crop: u8) -> Dlbm {
    match crop {
        0 => Dlbm::DryLand,
        1 => Dlbm::Paddy,
        2 => Dlbm::Irrigated,
        _ => Dlbm::Orchard,
    }
}

/// Reflectance to a uint16 value with per-field/feature brightness and sensor noise.
fn radiance(s: &Scene, m: Material, x: usize, y: usize, date: u64, var: f64) -> [f64; 4] {
    let r = m.reflectance();
    let mut out = [0.0; 4];
    for (b, o) in out.iter_mut().enumerate() {
        let noise =
            (hash01(s.seed ^ (date << 32), (y * s.width + x) as u64, b as u64) - 0.5) * 120.0;
        *o = r[b] * var + noise;
    }
    out
}

fn to_u16(v: f64) -> u16 {
    // Round half up (values are positive after the clamp); cheaper than f64::round.
    (v.clamp(1.0, 65535.0) + 0.5) as u16
}

/// Render row `y` of the scene into `out` (one pixel per column), stepping through the fields
/// the row crosses in each date.
pub fn row(s: &Scene, y: usize, out: &mut [Pixel]) {
    let cy = y as f64 + 0.5;
    let mut before = s.fields_along(cy);
    let mut after = s.fields_along(cy + s.shift.1);
    for (x, p) in out.iter_mut().enumerate() {
        let cx = x as f64 + 0.5;
        *p = pixel_in(s, (x, y), before.at(cx), after.at(cx + s.shift.0));
    }
}

/// Render pixel (x, y), finding its fields by search.
pub fn pixel(s: &Scene, x: usize, y: usize) -> Pixel {
    let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
    let after = s.field_at(cx + s.shift.0, cy + s.shift.1);
    pixel_in(s, (x, y), s.field_at(cx, cy), after)
}

/// Pixel (x, y), in the field (row, column) `(fr, fc)` of the before image and `(afr, afc)`
/// under its shifted place in the after image.
fn pixel_in(
    s: &Scene,
    (x, y): (usize, usize),
    (fr, fc): (usize, usize),
    (afr, afc): (usize, usize),
) -> Pixel {
    let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
    let mut p = Pixel::default();
    // Before date, and the survey layers (which describe the before date).
    let (crop, pbf_field) = s.field_kind(fr, fc);
    let field_var = 0.9 + 0.2 * hash01(s.seed ^ 0xB, fr as u64, fc as u64);
    let top_b = cover(s, cx, cy, false);
    let role_b = top_b.map(|(_, r)| r);
    let (mb, var_b) = top_b.map_or((Material::Crop(crop, false), field_var), |(m, _)| (m, 1.0));
    let rb = radiance(s, mb, x, y, 0, var_b);
    p.before = rb.map(to_u16);
    let dlbm = match role_b {
        Some(Meaning::Land(d)) => d,
        Some(Meaning::Detail) => Dlbm::Homestead,
        _ => crop_dlbm(crop),
    };
    p.dlbm = dlbm.raster();
    p.pbf = role_b.is_none() && pbf_field;
    let in_forest = dlbm == Dlbm::Forest;
    p.redline = in_forest || s.near_river(cx, cy);
    p.county = s.county_at(cx, cy) as u8;
    // Truth: the change object at this place (world coordinates).
    if let Some((_, Meaning::Change(id))) = cover(s, cx, cy, true) {
        p.truth = s.changes[id as usize].kind.code();
        p.object = id + 1;
    }
    // After date: sampled with the misregistration shift, then haze, clouds and noise.
    let (ax, ay) = (cx + s.shift.0, cy + s.shift.1);
    let top_a = cover(s, ax, ay, true);
    let role_a = top_a.map(|(_, r)| r);
    // The field under the shifted after pixel (it differs near field edges).
    let (acrop, _) = s.field_kind(afr, afc);
    let (ma, var_a) = top_a.map_or_else(
        || {
            (
                Material::Crop(acrop, true),
                0.9 + 0.2 * hash01(s.seed ^ 0xB, afr as u64, afc as u64),
            )
        },
        |(m, _)| (m, 1.0),
    );
    let mut ra = radiance(s, ma, x, y, 1, var_a);
    if p.truth == 0 {
        if role_a.is_none() && role_b.is_none() && acrop <= 1 {
            p.pseudo = 1;
        }
        if matches!(role_a, Some(Meaning::WaterLevel))
            != matches!(role_b, Some(Meaning::Land(Dlbm::Pond)))
        {
            p.pseudo = 2;
        }
    }
    let (gain, offset, grad) = s.haze;
    let haze = offset + grad * cx / 1000.0;
    for v in ra.iter_mut() {
        *v = *v * gain + haze;
    }
    let (px, py) = (x.min(s.width - 1), y.min(s.height - 1));
    for id in s.cloud_buckets.candidates(px, py, cx, cy) {
        let c = &s.clouds[id as usize];
        if c.shape.contains(cx, cy) {
            ra = radiance(s, Material::Sand, x, y, 1, 2.5);
            p.pseudo = 3;
            break;
        }
        // Overlapping shadows darken once.
        if p.pseudo < 3 && c.shape.contains(cx - c.shadow.0, cy - c.shadow.1) {
            ra = ra.map(|v| v * 0.45);
            p.pseudo = 4;
        }
    }
    p.after = ra.map(to_u16);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_render_what_single_pixels_do() {
        // The row renderer steps through the fields; single pixels search for theirs.
        let s = Scene::generate(600, 400, 0.8, 5);
        let mut out = vec![Pixel::default(); s.width];
        for y in (0..s.height).step_by(7) {
            row(&s, y, &mut out);
            for (x, p) in out.iter().enumerate() {
                assert_eq!(*p, pixel(&s, x, y), "pixel ({x}, {y})");
            }
        }
    }
}
