//! Pixel polygons to world geometry (geo types), areas and lengths on the ground.
//!
//! Ground area: on a projected CRS, the pixel count times the pixel area (exact for a
//! north-up grid); on a geographic CRS, the geodesic (ellipsoidal, WGS84/CGCS2000 ellipsoid
//! through geographiclib) area of each polygon.

use super::assemble::{PixelPolygon, Vertex};
use geo::{Coord, LineString, MultiPolygon, Polygon, Rect};

/// Affine pixel-to-world transform (GDAL geotransform order).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoTransform(pub [f64; 6]);

impl GeoTransform {
    /// Pixel-corner coordinates to world coordinates.
    pub fn apply(&self, v: Vertex) -> Coord<f64> {
        let g = &self.0;
        let (x, y) = (v.0 as f64, v.1 as f64);
        Coord {
            x: g[0] + x * g[1] + y * g[2],
            y: g[3] + x * g[4] + y * g[5],
        }
    }

    /// Fractional pixel coordinates to world coordinates.
    pub fn apply_f64(&self, x: f64, y: f64) -> Coord<f64> {
        let g = &self.0;
        Coord {
            x: g[0] + x * g[1] + y * g[2],
            y: g[3] + x * g[4] + y * g[5],
        }
    }

    /// The world extent of a `width` x `height` pixel grid (all four corners, so a rotated grid
    /// is covered too).
    pub fn extent(&self, width: usize, height: usize) -> Rect<f64> {
        let (w, h) = (width as f64, height as f64);
        let corners = [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)].map(|(x, y)| self.apply_f64(x, y));
        let (mut lo, mut hi) = (corners[0], corners[0]);
        for c in &corners[1..] {
            (lo.x, lo.y) = (lo.x.min(c.x), lo.y.min(c.y));
            (hi.x, hi.y) = (hi.x.max(c.x), hi.y.max(c.y));
        }
        Rect::new(lo, hi)
    }

    /// Area of one pixel in squared CRS units.
    pub fn pixel_area(&self) -> f64 {
        let g = &self.0;
        (g[1] * g[5] - g[2] * g[4]).abs()
    }

    /// True when the transform mirrors the plane (negative determinant, as a north-up grid's
    /// does): rings then turn the other way on the ground than in pixel coordinates.
    pub fn flips(&self) -> bool {
        let g = &self.0;
        g[1] * g[5] - g[2] * g[4] < 0.0
    }

    /// The identity (pixel coordinates), for rasters without georeference.
    pub const IDENTITY: GeoTransform = GeoTransform([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
}

/// World ring of a pixel ring, closed. Exteriors come out counter-clockwise and holes
/// clockwise (OGC / GeoJSON convention) without measuring them: a pixel exterior has positive
/// shoelace area and a hole negative (see `trace`), and the transform multiplies that area by
/// its determinant, so both are reversed exactly when the determinant is negative (a north-up
/// grid).
fn ring(gt: &GeoTransform, r: &[Vertex]) -> LineString<f64> {
    let mut pts: Vec<Coord<f64>> = Vec::with_capacity(r.len() + 1);
    pts.extend(r.iter().map(|&v| gt.apply(v)));
    if let Some(&first) = pts.first() {
        pts.push(first);
    }
    if gt.flips() {
        pts.reverse();
    }
    LineString::new(pts)
}

/// World MultiPolygon of pixel polygons.
pub fn to_world(polys: &[PixelPolygon], gt: &GeoTransform) -> MultiPolygon<f64> {
    MultiPolygon::new(
        polys
            .iter()
            .map(|p| {
                Polygon::new(
                    ring(gt, &p.exterior),
                    p.holes.iter().map(|h| ring(gt, h)).collect(),
                )
            })
            .collect(),
    )
}

/// Like [`to_world`], with topology-preserving Visvalingam-Whyatt simplification applied in
/// pixel space: vertices whose triangle is under `min_triangle_px2` square pixels are removed
/// (the area-change tolerance per removed vertex). The result is checked: if a part would become
/// invalid (geo's validation: self-intersection, a hole leaving its shell, parts overlapping)
/// the exact pixel boundary is kept instead, so simplification never costs validity.
pub fn to_world_simplified(
    polys: &[PixelPolygon],
    gt: &GeoTransform,
    min_triangle_px2: f64,
) -> MultiPolygon<f64> {
    use geo::{MapCoords, SimplifyVwPreserve};
    if min_triangle_px2 <= 0.0 {
        return to_world(polys, gt);
    }
    let exact = to_world(polys, &GeoTransform::IDENTITY);
    let simplified = exact.simplify_vw_preserve(min_triangle_px2);
    let keep = simplified.0.len() == exact.0.len()
        && simplified.0.iter().all(|p| p.exterior().0.len() >= 4)
        && super::valid::is_valid(&simplified);
    let chosen = if keep { simplified } else { exact };
    let mut world = chosen.map_coords(|c| gt.apply_f64(c.x, c.y));
    // Simplification keeps each ring's direction; the transform reverses them all when it
    // flips (see `ring`).
    if gt.flips() {
        for p in &mut world.0 {
            p.exterior_mut(|r| r.0.reverse());
            p.interiors_mut(|hs| hs.iter_mut().for_each(|h| h.0.reverse()));
        }
    }
    world
}

/// Perimeter in pixel units (every ring, holes included).
pub fn perimeter_px(polys: &[PixelPolygon]) -> f64 {
    let len = |r: &[Vertex]| -> f64 {
        (0..r.len())
            .map(|i| {
                let (a, b) = (r[i], r[(i + 1) % r.len()]);
                ((b.0 - a.0).abs() + (b.1 - a.1).abs()) as f64
            })
            .sum()
    };
    polys
        .iter()
        .map(|p| len(&p.exterior) + p.holes.iter().map(|h| len(h)).sum::<f64>())
        .sum()
}

/// Pixel area of pixel polygons (exteriors minus holes).
pub fn area_px(polys: &[PixelPolygon]) -> i64 {
    use super::assemble::area2;
    polys
        .iter()
        .map(|p| area2(&p.exterior) - p.holes.iter().map(|h| -area2(h)).sum::<i64>())
        .sum::<i64>()
        / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exteriors_turn_counter_clockwise_and_holes_clockwise_on_the_ground() {
        use geo::Winding;
        use geo::winding_order::WindingOrder;
        // A 4 x 4 square with a 1-pixel hole, as the tracer gives it: exterior of positive
        // shoelace area in pixel coordinates, hole negative.
        let square = PixelPolygon {
            exterior: vec![(0, 0), (4, 0), (4, 4), (0, 4)],
            holes: vec![vec![(1, 1), (1, 2), (2, 2), (2, 1)]],
        };
        let north_up = GeoTransform([100.0, 2.0, 0.0, 500.0, 0.0, -2.0]);
        let south_up = GeoTransform([100.0, 2.0, 0.0, 500.0, 0.0, 2.0]);
        for gt in [north_up, south_up, GeoTransform::IDENTITY] {
            for mp in [
                to_world(std::slice::from_ref(&square), &gt),
                to_world_simplified(std::slice::from_ref(&square), &gt, 0.25),
            ] {
                let p = &mp.0[0];
                assert_eq!(
                    p.exterior().winding_order(),
                    Some(WindingOrder::CounterClockwise)
                );
                assert_eq!(
                    p.interiors()[0].winding_order(),
                    Some(WindingOrder::Clockwise)
                );
            }
        }
    }

    #[test]
    fn the_extent_covers_every_corner_of_a_rotated_grid() {
        // North-up, 2 m pixels, y down.
        let north_up = GeoTransform([100.0, 2.0, 0.0, 500.0, 0.0, -2.0]);
        let e = north_up.extent(10, 5);
        assert_eq!(
            (e.min(), e.max()),
            ((100.0, 490.0).into(), (120.0, 500.0).into())
        );
        // Rotated: the x extent comes from the bottom-left and top-right corners.
        let rotated = GeoTransform([0.0, 1.0, -1.0, 0.0, 1.0, 1.0]);
        let e = rotated.extent(4, 2);
        assert_eq!((e.min(), e.max()), ((-2.0, 0.0).into(), (4.0, 6.0).into()));
    }
}
