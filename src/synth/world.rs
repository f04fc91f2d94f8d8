//! The synthetic county: a seeded, deterministic world of features in pixel coordinates, and a
//! bucket index to find the features near a pixel.
//!
//! Only integer arithmetic and IEEE +, -, *, / on f64 are used (no libm transcendental
//! functions), so the same seed gives the same bytes on any machine.

/// SplitMix64: small, fast, and the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    /// A generator whose state is `state` as given (the model's training draws).
    pub fn from_state(state: u64) -> Self {
        Rng(state)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    /// Uniform in [0, 1) with f32's 24 bits.
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Standard normal (Box-Muller), f32.
    pub fn normal_f32(&mut self) -> f32 {
        let u = self.unit_f32().max(1e-7);
        let v = self.unit_f32();
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
    /// Uniform index in [0, n).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

/// A stateless hash of integers to [0, 1): per-pixel noise that does not depend on tiling.
#[inline]
pub fn hash01(a: u64, b: u64, c: u64) -> f64 {
    let mut z = a.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ c.wrapping_mul(0x1656_67B1_9E37_79F9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Shapes, in pixel coordinates.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// Axis-aligned rectangle [x0, x1) x [y0, y1).
    Rect { x0: f64, y0: f64, x1: f64, y1: f64 },
    /// Axis-aligned ellipse.
    Ellipse { cx: f64, cy: f64, rx: f64, ry: f64 },
    /// A polyline with a width (pixels).
    Line { points: Vec<(f64, f64)>, width: f64 },
}

impl Shape {
    /// Bounding box (x0, y0, x1, y1).
    pub fn bbox(&self) -> (f64, f64, f64, f64) {
        match self {
            Shape::Rect { x0, y0, x1, y1 } => (*x0, *y0, *x1, *y1),
            Shape::Ellipse { cx, cy, rx, ry } => (cx - rx, cy - ry, cx + rx, cy + ry),
            Shape::Line { points, width } => {
                let h = width / 2.0 + 1.0;
                let (mut a, mut b, mut c, mut d) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
                for &(x, y) in points {
                    a = a.min(x - h);
                    b = b.min(y - h);
                    c = c.max(x + h);
                    d = d.max(y + h);
                }
                (a, b, c, d)
            }
        }
    }

    /// Does the shape cover point (x, y)?
    #[inline]
    pub fn contains(&self, x: f64, y: f64) -> bool {
        match self {
            Shape::Rect { x0, y0, x1, y1 } => x >= *x0 && x < *x1 && y >= *y0 && y < *y1,
            Shape::Ellipse { cx, cy, rx, ry } => {
                let (u, v) = ((x - cx) / rx, (y - cy) / ry);
                u * u + v * v <= 1.0
            }
            Shape::Line { points, width } => {
                let h = width / 2.0;
                let h2 = h * h;
                points.windows(2).any(|s| {
                    // Cheap reject on the segment's box grown by the half width.
                    let (a, b) = (s[0], s[1]);
                    x >= a.0.min(b.0) - h
                        && x <= a.0.max(b.0) + h
                        && y >= a.1.min(b.1) - h
                        && y <= a.1.max(b.1) + h
                        && dist2_segment(x, y, a, b) <= h2
                })
            }
        }
    }

    /// Does segment `k` of a line (or the whole shape, for other shapes) cover (x, y)?
    #[inline]
    pub fn contains_part(&self, part: usize, x: f64, y: f64) -> bool {
        match self {
            Shape::Line { points, width } if part > 0 => {
                let (a, b) = (points[part - 1], points[part]);
                let h = width / 2.0;
                x >= a.0.min(b.0) - h
                    && x <= a.0.max(b.0) + h
                    && y >= a.1.min(b.1) - h
                    && y <= a.1.max(b.1) + h
                    && dist2_segment(x, y, a, b) <= h * h
            }
            _ => self.contains(x, y),
        }
    }

    /// The parts registered in the bucket index: each segment of a line (1-based), or the
    /// whole shape (0), with its bounding box.
    pub fn parts(&self) -> Vec<(usize, (f64, f64, f64, f64))> {
        match self {
            Shape::Line { points, width } if points.len() > 1 => {
                let h = width / 2.0 + 1.0;
                points
                    .windows(2)
                    .enumerate()
                    .map(|(k, s)| {
                        (
                            k + 1,
                            (
                                s[0].0.min(s[1].0) - h,
                                s[0].1.min(s[1].1) - h,
                                s[0].0.max(s[1].0) + h,
                                s[0].1.max(s[1].1) + h,
                            ),
                        )
                    })
                    .collect()
            }
            _ => vec![(0, self.bbox())],
        }
    }

    /// Area in square pixels (lines: length x width).
    pub fn area_px(&self) -> f64 {
        match self {
            Shape::Rect { x0, y0, x1, y1 } => (x1 - x0) * (y1 - y0),
            Shape::Ellipse { rx, ry, .. } => std::f64::consts::PI * rx * ry,
            Shape::Line { points, width } => {
                points
                    .windows(2)
                    .map(|s| ((s[1].0 - s[0].0).powi(2) + (s[1].1 - s[0].1).powi(2)).sqrt())
                    .sum::<f64>()
                    * width
            }
        }
    }
}

/// Squared distance from (x, y) to the segment a-b.
#[inline]
pub fn dist2_segment(x: f64, y: f64, a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((x - a.0) * dx + (y - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (px, py) = (a.0 + t * dx - x, a.1 + t * dy - y);
    px * px + py * py
}

/// A curving path: `steps` segments of `step` pixels from `start`, first along `heading`,
/// turning by up to `turn` (radians, small) at each step.
#[derive(Clone, Copy, Debug)]
pub struct Walk {
    pub start: (f64, f64),
    pub heading: (f64, f64),
    pub steps: usize,
    pub step: f64,
    pub turn: f64,
}

/// The points of a [`Walk`].
pub fn wander(rng: &mut Rng, walk: Walk) -> Vec<(f64, f64)> {
    let Walk {
        start: (mut x, mut y),
        heading,
        steps,
        step,
        turn,
    } = walk;
    let n = (heading.0 * heading.0 + heading.1 * heading.1)
        .sqrt()
        .max(1e-9);
    let (mut hx, mut hy) = (heading.0 / n, heading.1 / n);
    let mut pts = vec![(x, y)];
    for _ in 0..steps {
        // Rotate the heading by a small angle using the first-order rotation, then renormalise
        // (no trigonometry: deterministic everywhere).
        let a = rng.range(-turn, turn);
        let (nx, ny) = (hx - a * hy, hy + a * hx);
        let n = (nx * nx + ny * ny).sqrt();
        hx = nx / n;
        hy = ny / n;
        x += hx * step;
        y += hy * step;
        pts.push((x, y));
    }
    pts
}

/// A bucket index: features by 32-px cells.
#[derive(Clone, Debug, Default)]
pub struct Buckets {
    cols: usize,
    rows: usize,
    /// Per cell: (entry, bounding box) — the box lets most candidates be rejected without
    /// touching their shape.
    cells: Vec<Vec<(u32, [f32; 4])>>,
}

/// Cell side of the bucket index, pixels.
pub const CELL: usize = 32;

impl Buckets {
    pub fn new(width: usize, height: usize) -> Self {
        let (cols, rows) = (width.div_ceil(CELL).max(1), height.div_ceil(CELL).max(1));
        Buckets {
            cols,
            rows,
            cells: vec![Vec::new(); cols * rows],
        }
    }

    /// Register feature `id` with bounding box `b`.
    pub fn insert(&mut self, id: u32, b: (f64, f64, f64, f64)) {
        let c0 = (b.0.max(0.0) as usize / CELL).min(self.cols - 1);
        let r0 = (b.1.max(0.0) as usize / CELL).min(self.rows - 1);
        let c1 = (b.2.max(0.0) as usize / CELL).min(self.cols - 1);
        let r1 = (b.3.max(0.0) as usize / CELL).min(self.rows - 1);
        if b.2 < 0.0 || b.3 < 0.0 {
            return;
        }
        for r in r0..=r1 {
            for c in c0..=c1 {
                self.cells[r * self.cols + c].push((
                    id,
                    [
                        b.0 as f32 - 1.0,
                        b.1 as f32 - 1.0,
                        b.2 as f32 + 1.0,
                        b.3 as f32 + 1.0,
                    ],
                ));
            }
        }
    }

    /// Entries registered in the cell of pixel (x, y) whose box holds the point (fx, fy), in
    /// insertion order. The boxes are grown by a pixel, so f32 rounding cannot drop a hit.
    #[inline]
    pub fn candidates(
        &self,
        x: usize,
        y: usize,
        fx: f64,
        fy: f64,
    ) -> impl Iterator<Item = u32> + '_ {
        let (c, r) = ((x / CELL).min(self.cols - 1), (y / CELL).min(self.rows - 1));
        let (fx, fy) = (fx as f32, fy as f32);
        self.cells[r * self.cols + c]
            .iter()
            .filter(move |(_, b)| fx >= b[0] && fy >= b[1] && fx <= b[2] && fy <= b[3])
            .map(|(id, _)| *id)
    }

    /// The entries of the cell row of pixel row `py` whose boxes span `fy`, column by column:
    /// [`Buckets::candidates`] along a line of pixels, with the y test done once per row.
    pub fn along(&self, py: usize, fy: f64) -> BucketRow {
        let r = (py / CELL).min(self.rows - 1);
        let fy = fy as f32;
        let mut starts = Vec::with_capacity(self.cols + 1);
        let mut entries = Vec::new();
        starts.push(0);
        for cell in &self.cells[r * self.cols..(r + 1) * self.cols] {
            entries.extend(
                cell.iter()
                    .filter(|(_, b)| fy >= b[1] && fy <= b[3])
                    .map(|&(id, b)| (id, b[0], b[2])),
            );
            starts.push(entries.len());
        }
        BucketRow { starts, entries }
    }
}

/// One row of a [`Buckets`] index at a fixed y (see [`Buckets::along`]).
pub struct BucketRow {
    /// Where each cell column's entries start in `entries` (one more than the columns).
    starts: Vec<usize>,
    /// (entry, box x0, box x1).
    entries: Vec<(u32, f32, f32)>,
}

impl BucketRow {
    /// What [`Buckets::candidates`] yields for pixel column `x` and point x `fx` on this row.
    #[inline]
    pub fn candidates(&self, x: usize, fx: f64) -> impl Iterator<Item = u32> + '_ {
        let c = (x / CELL).min(self.starts.len() - 2);
        let fx = fx as f32;
        self.entries[self.starts[c]..self.starts[c + 1]]
            .iter()
            .filter(move |(_, x0, x1)| fx >= *x0 && fx <= *x1)
            .map(|e| e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_contain_what_they_should() {
        let r = Shape::Rect {
            x0: 0.0,
            y0: 0.0,
            x1: 2.0,
            y1: 1.0,
        };
        assert!(r.contains(1.5, 0.5) && !r.contains(2.0, 0.5));
        let e = Shape::Ellipse {
            cx: 0.0,
            cy: 0.0,
            rx: 2.0,
            ry: 1.0,
        };
        assert!(e.contains(1.9, 0.0) && !e.contains(0.0, 1.1));
        let l = Shape::Line {
            points: vec![(0.0, 0.0), (10.0, 0.0)],
            width: 2.0,
        };
        assert!(l.contains(5.0, 0.9) && !l.contains(5.0, 1.1));
        assert_eq!(l.area_px(), 20.0);
    }

    #[test]
    fn rng_is_reproducible() {
        let (mut a, mut b) = (Rng::new(3), Rng::new(3));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        assert_eq!(hash01(1, 2, 3), hash01(1, 2, 3));
    }
}
