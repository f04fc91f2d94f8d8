//! Shape descriptors of a change polygon, the geometric half of telling a road from a house:
//! elongation and mean width from the minimum rotated rectangle, compactness, convexity.
//!
//! All are taken in the polygon's own CRS units and are scale-free except `length` and
//! `width`, which the caller converts to metres. Raster-derived outlines are staircases: their
//! perimeter is longer than the smooth shape's (a pixel disc has compactness ~0.8, not 1), so
//! compare compactness between polygons of one source, not against theory.

use geo::{Area, Coord, Euclidean, Length, MultiPolygon};

/// Shape descriptors of one polygon.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShapeMeasures {
    /// Long side / short side of the minimum rotated rectangle (>= 1).
    pub elongation: f64,
    /// Long side of the minimum rotated rectangle (CRS units).
    pub length: f64,
    /// Mean width along the long axis: area / length (CRS units).
    pub width: f64,
    /// 4 pi area / perimeter^2: 1 for a disc, near 0 for a line.
    pub compactness: f64,
    /// Area / convex hull area: 1 for convex shapes, low for L, U and ring shapes.
    pub convexity: f64,
}

fn ring_length(g: &MultiPolygon<f64>) -> f64 {
    g.0.iter()
        .map(|p| {
            Euclidean.length(p.exterior())
                + p.interiors()
                    .iter()
                    .map(|r| Euclidean.length(r))
                    .sum::<f64>()
        })
        .sum()
}

/// The descriptors of `g`; None for an empty or zero-area geometry.
pub fn shape(g: &MultiPolygon<f64>) -> Option<ShapeMeasures> {
    let area = g.unsigned_area();
    if area <= 0.0 || !area.is_finite() {
        return None;
    }
    // Holes lie inside their exterior: the hull is the exteriors' (one per polygon, reused
    // for the rectangle; these run once per change polygon, so no allocation beyond it).
    let mut points: Vec<Coord<f64>> =
        g.0.iter()
            .flat_map(|p| p.exterior().0.iter().copied())
            .collect();
    let hull = convex_hull(&mut points);
    let (long, short) = min_rect_sides(&hull)?;
    let perimeter = ring_length(g);
    let hull_area = shoelace(&hull).abs();
    Some(ShapeMeasures {
        elongation: if short > 0.0 {
            long / short
        } else {
            f64::INFINITY
        },
        length: long,
        width: area / long,
        compactness: 4.0 * std::f64::consts::PI * area / (perimeter * perimeter),
        convexity: if hull_area > 0.0 {
            (area / hull_area).min(1.0)
        } else {
            1.0
        },
    })
}

/// The convex hull of `points` (reordered in place), counter-clockwise, without collinear
/// points or a repeated first point (Andrew's monotone chain).
fn convex_hull(points: &mut [Coord<f64>]) -> Vec<Coord<f64>> {
    points.sort_unstable_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    let mut hull = Vec::with_capacity(points.len() + 1);
    half_hull(&mut hull, points.iter());
    half_hull(&mut hull, points.iter().rev());
    hull
}

/// Append the lower chain of sorted `points` (the upper one when they come in reverse) to
/// `hull`, less its last point, which starts the other chain.
fn half_hull<'a>(hull: &mut Vec<Coord<f64>>, points: impl Iterator<Item = &'a Coord<f64>>) {
    let cross = |o: Coord<f64>, a: Coord<f64>, b: Coord<f64>| {
        (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
    };
    let floor = hull.len();
    for &p in points {
        while hull.len() >= floor + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
        {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
}

/// The signed area of a closed ring given without its closing point, taken relative to its
/// first point (products of Gauss-Kruger coordinates, ~1e14, would leave a few hundredths of
/// a square metre of rounding).
fn shoelace(ring: &[Coord<f64>]) -> f64 {
    let Some(&o) = ring.first() else {
        return 0.0;
    };
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i] - o, ring[(i + 1) % n] - o);
            a.x * b.y - b.x * a.y
        })
        .sum::<f64>()
        / 2.0
}

/// Long and short side of the minimum-area rectangle around a convex hull: one side lies on
/// a hull edge, so every edge's direction is tried (as geo's `MinimumRotatedRect` does,
/// coordinates taken relative to the first hull point for precision). None without an edge.
fn min_rect_sides(hull: &[Coord<f64>]) -> Option<(f64, f64)> {
    let origin = *hull.first()?;
    let mut best: Option<(f64, f64, f64)> = None;
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let norm = dx.hypot(dy);
        if norm == 0.0 {
            continue;
        }
        let (ux, uy) = (dx / norm, dy / norm);
        let (mut lo_x, mut hi_x, mut lo_y, mut hi_y) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for p in hull {
            let (tx, ty) = (p.x - origin.x, p.y - origin.y);
            let (x, y) = (tx * ux + ty * uy, -tx * uy + ty * ux);
            (lo_x, hi_x) = (lo_x.min(x), hi_x.max(x));
            (lo_y, hi_y) = (lo_y.min(y), hi_y.max(y));
        }
        let (sx, sy) = (hi_x - lo_x, hi_y - lo_y);
        if best.is_none_or(|(area, _, _)| sx * sy < area) {
            best = Some((sx * sy, sx, sy));
        }
    }
    best.map(|(_, sx, sy)| (sx.max(sy), sx.min(sy)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::wkt;

    #[test]
    fn a_strip_an_l_and_a_square() {
        // A 100 x 10 strip, rotated 30 degrees: elongation and width do not depend on angle.
        let (s, c) = (30f64.to_radians().sin(), 30f64.to_radians().cos());
        let pts: Vec<(f64, f64)> = [
            (0.0, 0.0),
            (100.0, 0.0),
            (100.0, 10.0),
            (0.0, 10.0),
            (0.0, 0.0),
        ]
        .iter()
        .map(|&(x, y)| (x * c - y * s, x * s + y * c))
        .collect();
        let strip = MultiPolygon::new(vec![geo::Polygon::new(pts.into(), vec![])]);
        let sh = shape(&strip).unwrap();
        assert!((sh.elongation - 10.0).abs() < 1e-6, "{sh:?}");
        assert!((sh.length - 100.0).abs() < 1e-6 && (sh.width - 10.0).abs() < 1e-6);
        assert!(
            (sh.compactness - 4.0 * std::f64::consts::PI * 1000.0 / 220.0_f64.powi(2)).abs() < 1e-9
        );
        assert!((sh.convexity - 1.0).abs() < 1e-9);
        // An L of two 10 x 2 arms: area 36 in a hull of 100 - 32 (the corner triangle).
        let l = MultiPolygon::new(vec![
            wkt!(POLYGON((0. 0., 10. 0., 10. 2., 2. 2., 2. 10., 0. 10., 0. 0.))),
        ]);
        let sh = shape(&l).unwrap();
        assert!((sh.convexity - 36.0 / 68.0).abs() < 1e-9, "{sh:?}");
        let sq = MultiPolygon::new(vec![wkt!(POLYGON((0. 0., 4. 0., 4. 4., 0. 4., 0. 0.)))]);
        let sh = shape(&sq).unwrap();
        assert!(
            (sh.elongation - 1.0).abs() < 1e-9
                && (sh.compactness - std::f64::consts::PI / 4.0).abs() < 1e-9
        );
        assert!(shape(&MultiPolygon::new(vec![])).is_none());
    }

    #[test]
    fn hull_and_rectangle_agree_with_geo() {
        use geo::{ConvexHull, MinimumRotatedRect};
        // Staircase pixel shapes of every kind (blobs, diagonal strips, rings, parts touching
        // at corners) at world coordinates of a Gauss-Kruger grid: the hand-written hull and
        // rectangle give geo's areas and sides.
        let mut seed = 7u64;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for case in 0..200 {
            let (w, h) = (3 + rnd(30) as usize, 3 + rnd(30) as usize);
            let mut mask = vec![0u8; w * h];
            for _ in 0..1 + rnd(6) {
                let (cx, cy, r) = (
                    rnd(w as u64) as i64,
                    rnd(h as u64) as i64,
                    1 + rnd(8) as i64,
                );
                let slope = rnd(5) as i64 - 2;
                for y in 0..h as i64 {
                    for x in 0..w as i64 {
                        let along = (x - cx) - slope * (y - cy);
                        if along.abs() <= r && (y - cy).abs() <= 2 * r {
                            mask[y as usize * w + x as usize] = 1;
                        }
                    }
                }
            }
            let gt = crate::vectorize::geometry::GeoTransform([
                39_500_000.0 + case as f64,
                0.8,
                0.0,
                3_400_000.0,
                0.0,
                -0.8,
            ]);
            let comps =
                crate::vectorize::stitch::polygonize_mask(&mask, w, h, 16, Default::default());
            for c in comps {
                let g = crate::vectorize::geometry::to_world(&c.polygons, &gt);
                let ours = shape(&g).expect("a pixel component has area");
                let hull = g.convex_hull();
                let rect = hull.minimum_rotated_rect().expect("a rectangle");
                let r = &rect.exterior().0;
                let side = |i: usize| (r[i + 1].x - r[i].x).hypot(r[i + 1].y - r[i].y);
                let (long, short) = (side(0).max(side(1)), side(0).min(side(1)));
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
                assert!(
                    close(ours.length, long),
                    "{case}: {ours:?} vs {long} x {short}"
                );
                assert!(
                    close(ours.length / ours.elongation, short),
                    "{case}: {ours:?}"
                );
                assert!(
                    close(
                        ours.convexity,
                        (g.unsigned_area() / hull.unsigned_area()).min(1.0)
                    ),
                    "{case}: {ours:?} vs hull {:?} of {g:?}",
                    hull
                );
            }
        }
    }
}
