//! Polygon validity with geo's answers in near-linear time.
//!
//! geo 0.33's `Validation` tests every ring for self-intersection by comparing every segment
//! with every other one: a traced road polygon of 20,000 vertices is 4e8 robust segment tests,
//! and the overlay validates every change and reference polygon it reads (a quarter of a whole
//! `tuban run` went there). [`is_valid`] makes the same checks with the same predicates —
//! rings of at least four distinct points, finite coordinates, no two non-adjacent segments of a
//! ring meeting, holes inside their shell touching it and each other at points only, parts of a
//! multipolygon neither overlapping nor touching along a line — but compares only segments
//! whose extents overlap (a sweep along x) and relates only rings and parts whose boxes meet.

use geo::coordinate_position::CoordPos;
use geo::dimensions::Dimensions;
use geo::{
    BoundingRect, Coord, HasDimensions, Intersects, Line, LineString, MultiPolygon, Polygon,
    PreparedGeometry, Rect, Relate, RemoveRepeatedPoints,
};

/// Rings with fewer segments than this are compared pair by pair (the sweep's sort costs more).
const SWEEP_FROM: usize = 32;

/// Whether `g` is valid as geo's `Validation::is_valid` judges it (same result, faster).
pub fn is_valid(g: &MultiPolygon<f64>) -> bool {
    let boxes: Vec<Option<Rect<f64>>> = g.0.iter().map(BoundingRect::bounding_rect).collect();
    for (i, p) in g.0.iter().enumerate() {
        if !polygon_is_valid(p) {
            return false;
        }
        for (j, q) in g.0.iter().enumerate().skip(i + 1) {
            if !boxes_meet(boxes[i], boxes[j]) {
                continue;
            }
            let im = p.relate(q);
            if im.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional
                || im.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional
            {
                return false;
            }
        }
    }
    true
}

/// Boxes that touch or overlap (None: an empty geometry, related as geo does).
fn boxes_meet(a: Option<Rect<f64>>, b: Option<Rect<f64>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a.min().x <= b.max().x
                && b.min().x <= a.max().x
                && a.min().y <= b.max().y
                && b.min().y <= a.max().y
        }
        _ => true,
    }
}

fn polygon_is_valid(p: &Polygon<f64>) -> bool {
    if p.is_empty() {
        return true;
    }
    for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
        if ring.is_empty() {
            continue;
        }
        if ring.remove_repeated_points().0.len() < 4
            || ring.0.iter().any(|c| !c.x.is_finite() || !c.y.is_finite())
            || ring_self_intersects(ring)
        {
            return false;
        }
    }
    let holes: Vec<&LineString<f64>> = p.interiors().iter().filter(|r| !r.is_empty()).collect();
    if holes.is_empty() {
        return true;
    }
    let shell = Polygon::new(p.exterior().clone(), vec![]);
    let shell = PreparedGeometry::from(&shell);
    let hole_polys: Vec<Polygon<f64>> = holes
        .iter()
        .map(|r| Polygon::new((*r).clone(), vec![]))
        .collect();
    let hole_boxes: Vec<Option<Rect<f64>>> =
        hole_polys.iter().map(BoundingRect::bounding_rect).collect();
    for (i, h) in hole_polys.iter().enumerate() {
        let prepared = PreparedGeometry::from(h);
        let im = shell.relate(&prepared);
        if !im.is_contains()
            || im.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional
        {
            return false;
        }
        for (j, other) in hole_polys.iter().enumerate().skip(i + 1) {
            if !boxes_meet(hole_boxes[i], hole_boxes[j]) {
                continue;
            }
            let im = prepared.relate(other);
            if im.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional
                || im.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional
            {
                return false;
            }
        }
    }
    true
}

/// Two segments of a ring meet, other than at the point they share as neighbours (geo's rule:
/// a ring touching itself at a vertex is a self-intersection).
fn meet(a: &Line<f64>, b: &Line<f64>) -> bool {
    a.start != b.end && a.end != b.start && a.intersects(b)
}

fn ring_self_intersects(ring: &LineString<f64>) -> bool {
    let lines: Vec<Line<f64>> = ring.lines().collect();
    if lines.len() < SWEEP_FROM {
        return lines
            .iter()
            .enumerate()
            .any(|(i, a)| lines[i + 1..].iter().any(|b| meet(a, b)));
    }
    let lo = |l: &Line<f64>| Coord {
        x: l.start.x.min(l.end.x),
        y: l.start.y.min(l.end.y),
    };
    let hi = |l: &Line<f64>| Coord {
        x: l.start.x.max(l.end.x),
        y: l.start.y.max(l.end.y),
    };
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_unstable_by(|&a, &b| lo(&lines[a]).x.total_cmp(&lo(&lines[b]).x));
    // Segments whose x extent still reaches the sweep position.
    let mut active: Vec<usize> = Vec::new();
    for &i in &order {
        let (l, (a_lo, a_hi)) = (&lines[i], (lo(&lines[i]), hi(&lines[i])));
        active.retain(|&j| hi(&lines[j]).x >= a_lo.x);
        for &j in &active {
            let (b_lo, b_hi) = (lo(&lines[j]), hi(&lines[j]));
            if a_lo.y <= b_hi.y && b_lo.y <= a_hi.y && meet(l, &lines[j]) {
                return true;
            }
        }
        active.push(i);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Validation, wkt};
    use proptest::prelude::*;

    /// A staircase ring of `steps` steps (2 x steps + 2 vertices), valid.
    fn staircase(steps: usize) -> LineString<f64> {
        let mut c = vec![];
        for k in 0..steps {
            c.push(Coord {
                x: k as f64,
                y: k as f64,
            });
            c.push(Coord {
                x: k as f64 + 1.0,
                y: k as f64,
            });
        }
        c.push(Coord {
            x: steps as f64,
            y: steps as f64 + 5.0,
        });
        c.push(Coord { x: -5.0, y: 0.0 });
        c.push(c[0]);
        LineString::new(c)
    }

    #[test]
    fn agrees_with_geo_on_the_cases_of_its_rules() {
        let cases = [
            wkt!(MULTIPOLYGON(((0. 0.,4. 0.,4. 4.,0. 4.,0. 0.)))),
            // bow tie
            wkt!(MULTIPOLYGON(((0. 0.,4. 4.,4. 0.,0. 4.,0. 0.)))),
            // ring touching itself at a vertex
            wkt!(MULTIPOLYGON(((0. 0.,4. 0.,2. 2.,4. 4.,0. 4.,2. 2.,0. 0.)))),
            // hole inside, hole crossing the shell, hole touching the shell along a line
            wkt!(MULTIPOLYGON(((0. 0.,10. 0.,10. 10.,0. 10.,0. 0.),(2. 2.,4. 2.,4. 4.,2. 4.,2. 2.)))),
            wkt!(MULTIPOLYGON(((0. 0.,10. 0.,10. 10.,0. 10.,0. 0.),(8. 2.,12. 2.,12. 4.,8. 4.,8. 2.)))),
            wkt!(MULTIPOLYGON(((0. 0.,10. 0.,10. 10.,0. 10.,0. 0.),(0. 2.,4. 2.,4. 4.,0. 4.,0. 2.)))),
            // two holes overlapping; two holes touching at a point
            wkt!(MULTIPOLYGON(((0. 0.,10. 0.,10. 10.,0. 10.,0. 0.),(2. 2.,5. 2.,5. 5.,2. 5.,2. 2.),(4. 4.,7. 4.,7. 7.,4. 7.,4. 4.)))),
            wkt!(MULTIPOLYGON(((0. 0.,10. 0.,10. 10.,0. 10.,0. 0.),(2. 2.,4. 2.,4. 4.,2. 4.,2. 2.),(4. 4.,6. 4.,6. 6.,4. 6.,4. 4.)))),
            // parts overlapping, touching along a line, touching at a point, apart
            wkt!(MULTIPOLYGON(((0. 0.,4. 0.,4. 4.,0. 4.,0. 0.)),((2. 2.,6. 2.,6. 6.,2. 6.,2. 2.)))),
            wkt!(MULTIPOLYGON(((0. 0.,4. 0.,4. 4.,0. 4.,0. 0.)),((4. 0.,8. 0.,8. 4.,4. 4.,4. 0.)))),
            wkt!(MULTIPOLYGON(((0. 0.,4. 0.,4. 4.,0. 4.,0. 0.)),((4. 4.,8. 4.,8. 8.,4. 8.,4. 4.)))),
            wkt!(MULTIPOLYGON(((0. 0.,4. 0.,4. 4.,0. 4.,0. 0.)),((5. 5.,8. 5.,8. 8.,5. 8.,5. 5.)))),
            // too few points, a spike
            wkt!(MULTIPOLYGON(((0. 0.,4. 0.,0. 0.)))),
            wkt!(MULTIPOLYGON(((0. 0.,4. 0.,4. 4.,4. 8.,4. 4.,0. 4.,0. 0.)))),
        ];
        for g in cases {
            assert_eq!(is_valid(&g), g.is_valid(), "{g:?}");
        }
        // Long rings take the sweep: valid, then broken by one crossing vertex.
        let ring = staircase(500);
        let good = MultiPolygon::new(vec![Polygon::new(ring.clone(), vec![])]);
        assert!(is_valid(&good) && good.is_valid());
        let mut c = ring.0.clone();
        c[400] = Coord { x: -10.0, y: 300.0 };
        let bad = MultiPolygon::new(vec![Polygon::new(LineString::new(c), vec![])]);
        assert_eq!(is_valid(&bad), bad.is_valid());
        assert!(!is_valid(&bad));
    }

    proptest! {
        /// Random rings of 4-60 vertices on a small grid (many crossings, touches, repeats,
        /// collinear overlaps) and up to two random holes: the same answer as geo's.
        #[test]
        fn same_answer_as_geo(
            shell in prop::collection::vec((0i32..12, 0i32..12), 3..60),
            holes in prop::collection::vec(prop::collection::vec((0i32..12, 0i32..12), 3..8), 0..3),
        ) {
            let ring = |pts: &[(i32, i32)]| {
                let mut c: Vec<Coord<f64>> =
                    pts.iter().map(|&(x, y)| Coord { x: f64::from(x), y: f64::from(y) }).collect();
                c.push(c[0]);
                LineString::new(c)
            };
            let g = MultiPolygon::new(vec![Polygon::new(
                ring(&shell),
                holes.iter().map(|h| ring(h)).collect(),
            )]);
            prop_assert_eq!(is_valid(&g), g.is_valid());
        }

        /// Star-shaped rings of 32-300 vertices (valid, through the sweep) with one vertex moved
        /// anywhere (often a crossing): the same answer as geo's.
        #[test]
        fn same_answer_as_geo_on_long_rings(
            radii in prop::collection::vec(5.0f64..50.0, 32..300),
            moved in (0usize..300, -60.0f64..60.0, -60.0f64..60.0),
        ) {
            let n = radii.len();
            let mut c: Vec<Coord<f64>> = radii
                .iter()
                .enumerate()
                .map(|(k, r)| {
                    let a = k as f64 / n as f64 * std::f64::consts::TAU;
                    Coord { x: (r * a.cos()).round(), y: (r * a.sin()).round() }
                })
                .collect();
            let g0 = {
                let mut r = c.clone();
                r.push(r[0]);
                MultiPolygon::new(vec![Polygon::new(LineString::new(r), vec![])])
            };
            prop_assert_eq!(is_valid(&g0), g0.is_valid());
            let k = moved.0 % n;
            c[k] = Coord { x: moved.1.round(), y: moved.2.round() };
            c.push(c[0]);
            let g = MultiPolygon::new(vec![Polygon::new(LineString::new(c), vec![])]);
            prop_assert_eq!(is_valid(&g), g.is_valid());
        }
    }
}
