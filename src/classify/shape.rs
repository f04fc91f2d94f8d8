//! Shape descriptors of a change polygon, the geometric half of telling a road from a house:
//! elongation and mean width from the minimum rotated rectangle, compactness, convexity.
//!
//! All are taken in the polygon's own CRS units and are scale-free except `length` and
//! `width`, which the caller converts to metres. Raster-derived outlines are staircases: their
//! perimeter is longer than the smooth shape's (a pixel disc has compactness ~0.8, not 1), so
//! compare compactness between polygons of one source, not against theory.

use geo::{Area, ConvexHull, Euclidean, Length, MinimumRotatedRect, MultiPolygon};

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
    // The rectangle is found on the hull (geo takes the hull first anyway): one hull per
    // polygon, not two.
    let hull = g.convex_hull();
    let rect = hull.minimum_rotated_rect()?;
    let c = &rect.exterior().0;
    let side = |i: usize| (c[i + 1].x - c[i].x).hypot(c[i + 1].y - c[i].y);
    let (a, b) = (side(0), side(1));
    let (long, short) = (a.max(b), a.min(b));
    let perimeter = ring_length(g);
    let hull = hull.unsigned_area();
    Some(ShapeMeasures {
        elongation: if short > 0.0 {
            long / short
        } else {
            f64::INFINITY
        },
        length: long,
        width: area / long,
        compactness: 4.0 * std::f64::consts::PI * area / (perimeter * perimeter),
        convexity: if hull > 0.0 {
            (area / hull).min(1.0)
        } else {
            1.0
        },
    })
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
}
