//! Rendering the scene, pixel by pixel, for both dates and the truth and survey rasters. Each
//! pixel depends only on the scene and its coordinates, so any tiling gives the same bytes.

use super::scene::{CountiesAlong, Dlbm, Field, FieldsAlong, Material, Meaning, Scene, When};
use super::world::{BucketRow, hash01};

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

/// The top feature at (x, y) on a date among the bucket candidates `entries` of (x, y):
/// material and role; None where only the field shows.
fn cover(
    s: &Scene,
    entries: impl Iterator<Item = u32>,
    x: f64,
    y: f64,
    after: bool,
) -> Option<(Material, Meaning)> {
    for entry in entries {
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

/// What rendering pixel column `x` of a row asks of the scene. [`Searched`] answers each
/// question from scratch (the reference); [`Along`] walks the row with cursors and the bucket
/// rows of its two lines (the after image's is shifted), the same answers in a fraction of
/// the time (test `rows_render_what_single_pixels_do`).
trait Lookup {
    /// The top feature at (x, y) before, at (x, y) after, and at the shifted place after.
    fn covers(&mut self, x: usize) -> [Option<(Material, Meaning)>; 3];
    /// The field under (x, y) before and under the shifted place after.
    fn fields(&mut self, x: usize) -> (Field, Field);
    fn near_river(&mut self, x: usize) -> bool;
    fn county(&mut self, x: usize) -> usize;
    /// The clouds whose bucket holds pixel x (their shapes still to be tested).
    fn clouds(&mut self, x: usize) -> impl Iterator<Item = u32>;
}

/// Pixel centre of column or row `v`.
fn centre(v: usize) -> f64 {
    v as f64 + 0.5
}

/// Single pixels, found by search.
struct Searched<'a> {
    s: &'a Scene,
    y: usize,
}

impl Lookup for Searched<'_> {
    fn covers(&mut self, x: usize) -> [Option<(Material, Meaning)>; 3] {
        let s = self.s;
        let at = |fx: f64, fy: f64, after: bool| {
            let (px, py) = (fx.max(0.0) as usize, fy.max(0.0) as usize);
            cover(s, s.buckets.candidates(px, py, fx, fy), fx, fy, after)
        };
        let (cx, cy) = (centre(x), centre(self.y));
        let (ax, ay) = (cx + s.shift.0, cy + s.shift.1);
        [at(cx, cy, false), at(cx, cy, true), at(ax, ay, true)]
    }

    fn fields(&mut self, x: usize) -> (Field, Field) {
        let s = self.s;
        let (cx, cy) = (centre(x), centre(self.y));
        (
            s.field(s.field_at(cx, cy)),
            s.field(s.field_at(cx + s.shift.0, cy + s.shift.1)),
        )
    }

    fn near_river(&mut self, x: usize) -> bool {
        self.s.near_river(centre(x), centre(self.y))
    }

    fn county(&mut self, x: usize) -> usize {
        self.s.county_at(centre(x), centre(self.y))
    }

    fn clouds(&mut self, x: usize) -> impl Iterator<Item = u32> {
        let s = self.s;
        let (px, py) = (x.min(s.width - 1), self.y.min(s.height - 1));
        s.cloud_buckets
            .candidates(px, py, centre(x), centre(self.y))
    }
}

/// A whole row, walked left to right.
struct Along<'a> {
    s: &'a Scene,
    /// The row's centre line.
    cy: f64,
    /// Bucket rows of the features on the row's line and on the after image's shifted line.
    line: BucketRow,
    shifted: BucketRow,
    corridor: BucketRow,
    clouds: BucketRow,
    fields: (FieldsAlong<'a>, FieldsAlong<'a>),
    /// The last field looked up on each line, with its place.
    last: [((usize, usize), Field); 2],
    counties: CountiesAlong<'a>,
}

impl<'a> Along<'a> {
    fn new(s: &'a Scene, y: usize) -> Self {
        let cy = centre(y);
        let ay = cy + s.shift.1;
        let key = |(r, c)| ((r, c), s.field((r, c)));
        Along {
            s,
            cy,
            line: s.buckets.along(cy.max(0.0) as usize, cy),
            shifted: s.buckets.along(ay.max(0.0) as usize, ay),
            corridor: s.corridor_buckets.along(cy.max(0.0) as usize, cy),
            clouds: s.cloud_buckets.along(y.min(s.height - 1), cy),
            fields: (s.fields_along(cy), s.fields_along(ay)),
            last: [key((0, 0)), key((0, 0))],
            counties: s.counties_along(cy),
        }
    }
}

impl Lookup for Along<'_> {
    fn covers(&mut self, x: usize) -> [Option<(Material, Meaning)>; 3] {
        let s = self.s;
        let cx = centre(x);
        let cy = self.cy;
        let ax = cx + s.shift.0;
        let ay = cy + s.shift.1;
        let px = cx.max(0.0) as usize;
        let apx = ax.max(0.0) as usize;
        [
            cover(s, self.line.candidates(px, cx), cx, cy, false),
            cover(s, self.line.candidates(px, cx), cx, cy, true),
            cover(s, self.shifted.candidates(apx, ax), ax, ay, true),
        ]
    }

    fn fields(&mut self, x: usize) -> (Field, Field) {
        let s = self.s;
        let cx = centre(x);
        let places = [self.fields.0.at(cx), self.fields.1.at(cx + s.shift.0)];
        for (last, place) in self.last.iter_mut().zip(places) {
            if last.0 != place {
                *last = (place, s.field(place));
            }
        }
        (self.last[0].1, self.last[1].1)
    }

    fn near_river(&mut self, x: usize) -> bool {
        let (cx, cy) = (centre(x), self.cy);
        self.s
            .near_river_of(self.corridor.candidates(cx.max(0.0) as usize, cx), cx, cy)
    }

    fn county(&mut self, x: usize) -> usize {
        self.counties.at(centre(x))
    }

    fn clouds(&mut self, x: usize) -> impl Iterator<Item = u32> {
        self.clouds.candidates(x.min(self.s.width - 1), centre(x))
    }
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

/// Render row `y` of the scene into `out` (one pixel per column), walking the row.
pub fn row(s: &Scene, y: usize, out: &mut [Pixel]) {
    let mut along = Along::new(s, y);
    for (x, p) in out.iter_mut().enumerate() {
        *p = pixel_in(s, (x, y), &mut along);
    }
}

/// Render pixel (x, y), searching for everything it needs.
pub fn pixel(s: &Scene, x: usize, y: usize) -> Pixel {
    pixel_in(s, (x, y), &mut Searched { s, y })
}

/// Pixel (x, y), asking `look` (which walks row y) about the scene.
fn pixel_in(s: &Scene, (x, y): (usize, usize), look: &mut impl Lookup) -> Pixel {
    let (cx, cy) = (centre(x), centre(y));
    let mut p = Pixel::default();
    let [top_b, truth, top_a] = look.covers(x);
    let (field, afield) = look.fields(x);
    // Before date, and the survey layers (which describe the before date).
    let role_b = top_b.map(|(_, r)| r);
    let (mb, var_b) = top_b.map_or((Material::Crop(field.crop, false), field.var), |(m, _)| {
        (m, 1.0)
    });
    let rb = radiance(s, mb, x, y, 0, var_b);
    p.before = rb.map(to_u16);
    let dlbm = match role_b {
        Some(Meaning::Land(d)) => d,
        Some(Meaning::Detail) => Dlbm::Homestead,
        _ => crop_dlbm(field.crop),
    };
    p.dlbm = dlbm.raster();
    p.pbf = role_b.is_none() && field.pbf;
    let in_forest = dlbm == Dlbm::Forest;
    p.redline = in_forest || look.near_river(x);
    p.county = look.county(x) as u8;
    // Truth: the change object at this place (world coordinates).
    if let Some((_, Meaning::Change(id))) = truth {
        p.truth = s.changes[id as usize].kind.code();
        p.object = id + 1;
    }
    // After date: sampled with the misregistration shift (the field under the shifted pixel
    // differs near field edges), then haze, clouds and noise.
    let role_a = top_a.map(|(_, r)| r);
    let (ma, var_a) = top_a.map_or((Material::Crop(afield.crop, true), afield.var), |(m, _)| {
        (m, 1.0)
    });
    let mut ra = radiance(s, ma, x, y, 1, var_a);
    if p.truth == 0 {
        if role_a.is_none() && role_b.is_none() && afield.crop <= 1 {
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
    for id in look.clouds(x) {
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
        // The row renderer walks the row with cursors and bucket rows; single pixels search
        // for everything. Four counties, so both borders are crossed.
        let mut s = Scene::generate(1200, 900, 0.8, 5);
        s.split_north_south();
        let mut out = vec![Pixel::default(); s.width];
        let (mut seen_pseudo, mut counties) = ([false; 5], [false; 4]);
        let (mut changed, mut red) = (0, 0);
        for y in (0..s.height).step_by(5) {
            row(&s, y, &mut out);
            for (x, p) in out.iter().enumerate() {
                assert_eq!(*p, pixel(&s, x, y), "pixel ({x}, {y})");
                seen_pseudo[p.pseudo as usize] = true;
                counties[p.county as usize] = true;
                changed += usize::from(p.truth > 0);
                red += usize::from(p.redline);
            }
        }
        // The rows crossed what the lookups find: changes, the red line, every county, crop
        // phenology, clouds and their shadows.
        assert!(
            changed > 0 && red > 0,
            "{changed} changed, {red} red-line px"
        );
        assert_eq!(counties, [true; 4]);
        assert!(
            seen_pseudo[1] && seen_pseudo[3] && seen_pseudo[4],
            "{seen_pseudo:?}"
        );
    }
}
