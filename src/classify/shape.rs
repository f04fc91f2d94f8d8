//! Shape descriptors of a change polygon, the geometric half of telling a road from a house:
//! elongation and mean width from the minimum rotated rectangle, compactness, convexity.
//!
//! All are taken in the polygon's own CRS units and are scale-free except `length` and
//! `width`, which the caller converts to metres. Raster-derived outlines are staircases: their
//! perimeter is longer than the smooth shape's (a pixel disc has compactness ~0.8, not 1), so
//! compare compactness between polygons of one source, not against theory.

use crate::vectorize::assemble::{PixelPolygon, Vertex, area2};
use crate::vectorize::geometry::GeoTransform;
use geo::Coord;

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

/// The descriptors of the pixel polygons `polys` placed by `gt`, given the world geometry's
/// planar `area` and the length of all its rings (`perimeter`), in CRS units; None for a
/// zero-area geometry.
///
/// The convex hull is found on the pixel corners, in exact integer arithmetic (an affine
/// transform maps a hull onto the hull of the transformed points, and scales every area by the
/// same factor); the rectangle is then fitted on the ground.
pub fn shape(
    polys: &[PixelPolygon],
    gt: &GeoTransform,
    area: f64,
    perimeter: f64,
) -> Option<ShapeMeasures> {
    if area <= 0.0 || !area.is_finite() {
        return None;
    }
    let hull = pixel_hull(polys);
    let world: Vec<Coord<f64>> = hull.iter().map(|&v| gt.apply(v)).collect();
    let (long, short) = min_rect_sides(&world)?;
    let hull_area = area2(&hull).unsigned_abs() as f64 / 2.0 * gt.pixel_area();
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

/// The convex hull of the polygons' exterior corners, without collinear corners (Andrew's
/// monotone chain, the corners ordered by row then column through one integer sort key).
fn pixel_hull(polys: &[PixelPolygon]) -> Vec<Vertex> {
    let corners = || polys.iter().flat_map(|p| p.exterior.iter().copied());
    let (x0, y0) = corners().fold((i64::MAX, i64::MAX), |(x0, y0), (x, y)| {
        (x0.min(x), y0.min(y))
    });
    let mut keys: Vec<u64> = corners()
        .map(|(x, y)| ((y - y0) as u64) << 32 | (x - x0) as u64)
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let points: Vec<Vertex> = keys
        .iter()
        .map(|&k| ((k & 0xffff_ffff) as i64 + x0, (k >> 32) as i64 + y0))
        .collect();
    let mut hull = Vec::with_capacity(points.len() + 1);
    half_hull(&mut hull, points.iter());
    half_hull(&mut hull, points.iter().rev());
    hull
}

/// Append one chain of the ordered `points` (the other one when they come in reverse) to
/// `hull`, less its last point, which starts the other chain.
fn half_hull<'a>(hull: &mut Vec<Vertex>, points: impl Iterator<Item = &'a Vertex>) {
    let cross =
        |o: Vertex, a: Vertex, b: Vertex| (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0);
    let floor = hull.len();
    for &p in points {
        while hull.len() >= floor + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
}

/// Long and short side of the minimum-area rectangle around a convex hull: one side lies on
/// a hull edge, so every edge's direction is tried (as geo's `MinimumRotatedRect` does,
/// coordinates taken relative to the first hull point for precision). Pixel shapes often
/// have two rectangles of the same area (a staircase fits one along the steps and one across
/// them): the one of the shorter perimeter is taken, so the answer does not depend on where
/// the hull starts. None without an edge.
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
        let better = best.is_none_or(|(area, bx, by)| {
            let tie = (sx * sy - area).abs() <= 1e-9 * area;
            if tie {
                sx + sy < bx + by
            } else {
                sx * sy < area
            }
        });
        if better {
            best = Some((sx * sy, sx, sy));
        }
    }
    best.map(|(_, sx, sy)| (sx.max(sy), sx.min(sy)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use geo::{Area, Euclidean, Length, MultiPolygon};

    /// [`shape`] of pixel polygons, with the planar area and ring length taken from the world
    /// geometry as the callers do.
    fn measured(polys: &[PixelPolygon], gt: &GeoTransform) -> Option<ShapeMeasures> {
        let g: MultiPolygon<f64> = crate::vectorize::geometry::to_world(polys, gt);
        let perimeter =
            g.0.iter()
                .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                .map(|r| Euclidean.length(r))
                .sum();
        shape(polys, gt, g.unsigned_area(), perimeter)
    }

    fn polygon(exterior: &[Vertex]) -> PixelPolygon {
        PixelPolygon {
            exterior: exterior.to_vec(),
            holes: Vec::new(),
        }
    }

    #[test]
    fn a_strip_an_l_and_a_square() {
        // A 100 x 10 strip on a grid rotated 30 degrees: elongation and width do not depend on
        // the angle.
        let (s, c) = (30f64.to_radians().sin(), 30f64.to_radians().cos());
        let rotated = GeoTransform([0.0, c, -s, 0.0, s, c]);
        let strip = [polygon(&[(0, 0), (100, 0), (100, 10), (0, 10)])];
        let sh = measured(&strip, &rotated).unwrap();
        assert!((sh.elongation - 10.0).abs() < 1e-6, "{sh:?}");
        assert!((sh.length - 100.0).abs() < 1e-6 && (sh.width - 10.0).abs() < 1e-6);
        assert!(
            (sh.compactness - 4.0 * std::f64::consts::PI * 1000.0 / 220.0_f64.powi(2)).abs() < 1e-9
        );
        assert!((sh.convexity - 1.0).abs() < 1e-9);
        // An L of two 10 x 2 arms: area 36 in a hull of 100 - 32 (the corner triangle).
        let l = [polygon(&[
            (0, 0),
            (10, 0),
            (10, 2),
            (2, 2),
            (2, 10),
            (0, 10),
        ])];
        let sh = measured(&l, &GeoTransform::IDENTITY).unwrap();
        assert!((sh.convexity - 36.0 / 68.0).abs() < 1e-9, "{sh:?}");
        let sq = [polygon(&[(0, 0), (4, 0), (4, 4), (0, 4)])];
        let sh = measured(&sq, &GeoTransform::IDENTITY).unwrap();
        assert!(
            (sh.elongation - 1.0).abs() < 1e-9
                && (sh.compactness - std::f64::consts::PI / 4.0).abs() < 1e-9
        );
        assert!(measured(&[], &GeoTransform::IDENTITY).is_none());
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
        for case in 0..400 {
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
                let ours = measured(&c.polygons, &gt).expect("a pixel component has area");
                let hull = g.convex_hull();
                let rect = hull.minimum_rotated_rect().expect("a rectangle");
                let r = &rect.exterior().0;
                let side = |i: usize| (r[i + 1].x - r[i].x).hypot(r[i + 1].y - r[i].y);
                let (long, short) = (side(0).max(side(1)), side(0).min(side(1)));
                let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
                // The same rectangle area; where two rectangles tie, ours is the one of the
                // shorter perimeter (geo takes the first it meets).
                let ours_short = ours.length / ours.elongation;
                assert!(
                    close(ours.length * ours_short, long * short),
                    "{case}: {ours:?} vs {long} x {short}"
                );
                assert!(
                    ours.length + ours_short <= (long + short) * (1.0 + 1e-9),
                    "{case}: {ours:?} vs {long} x {short}"
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
