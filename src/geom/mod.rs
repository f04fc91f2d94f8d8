//! Polygon geometry shared by the overlay, typing, coverage and the ledger: ground area
//! (planar or geodesic), exact clipping to a rectangle, subdivision of large reference
//! polygons, union of clipped parts and repair of invalid input.
//!
//! Invariants: `clip_to_rect` and `subdivide` keep area exactly (up to float rounding) and may
//! leave zero-width edges along the cut lines; they only feed boolean operations (i_overlay
//! via geo), whose even-odd fill removes such edges. Cut coordinates are written exactly, so
//! the pieces of one polygon tile it without gaps.

pub mod boolean;

use boolean::{Op, boolean_with};
use geo::algorithm::bool_ops::FillRule;
use geo::orient::{Direction, Orient};
use geo::{Area, BoundingRect, Coord, GeodesicArea, LineString, MultiPolygon, Polygon, Rect};

/// How ground area is measured in the working CRS.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AreaMethod {
    /// Projected CRS: planar area times the square of the unit's length in metres.
    Planar { metres_per_unit: f64 },
    /// Geographic CRS: geodesic area on the WGS84 ellipsoid (Karney's algorithm,
    /// geographiclib); CGCS2000's ellipsoid differs from it by 0.1 mm in the semi-minor axis.
    Geodesic,
}

impl AreaMethod {
    /// Ground area in m².
    pub fn area_m2(&self, g: &MultiPolygon<f64>) -> f64 {
        match self {
            AreaMethod::Planar { metres_per_unit } => {
                g.unsigned_area() * metres_per_unit * metres_per_unit
            }
            AreaMethod::Geodesic => densify(g, GEODESIC_STEP_DEG).geodesic_area_unsigned(),
        }
    }

    /// The method as written into outputs.
    pub fn describe(&self) -> &'static str {
        match self {
            AreaMethod::Planar { .. } => "planar (projected CRS)",
            AreaMethod::Geodesic => {
                "geodesic (WGS84 ellipsoid, Karney/geographiclib; edges densified to 0.0005 deg)"
            }
        }
    }
}

/// Longest edge, in degrees, of a geometry whose geodesic area is taken. Intersections are
/// computed in longitude/latitude, where an edge is a straight line, and they drop collinear
/// vertices; the geodesic area reads an edge as a geodesic. On a 3 km edge the two lines part
/// by ~0.2 m, so the pieces of a polygon split along a long edge would not add up to it (1e-5
/// of its area, measured on US county borders). Measured on edges densified to 0.0005° (~50 m)
/// the two readings agree to ~1e-9: the area is that of the polygon whose edges are straight
/// in longitude/latitude, as GIS software draws it, on the ellipsoid.
pub const GEODESIC_STEP_DEG: f64 = 0.0005;

/// Insert vertices so that no edge is longer than `step` (in CRS units).
pub fn densify(g: &MultiPolygon<f64>, step: f64) -> MultiPolygon<f64> {
    let ring = |r: &LineString<f64>| {
        let mut out = Vec::with_capacity(r.0.len());
        for w in r.0.windows(2) {
            let (a, b) = (w[0], w[1]);
            let n = ((b.x - a.x).hypot(b.y - a.y) / step).ceil().max(1.0) as usize;
            out.extend((0..n).map(|k| {
                let t = k as f64 / n as f64;
                Coord {
                    x: a.x + t * (b.x - a.x),
                    y: a.y + t * (b.y - a.y),
                }
            }));
        }
        out.extend(r.0.last().copied());
        LineString::new(out)
    };
    MultiPolygon::new(
        g.0.iter()
            .map(|p| Polygon::new(ring(p.exterior()), p.interiors().iter().map(ring).collect()))
            .collect(),
    )
}

/// Which side of an axis-aligned cut line to keep.
#[derive(Clone, Copy)]
enum Side {
    XAtLeast(f64),
    XAtMost(f64),
    YAtLeast(f64),
    YAtMost(f64),
}

impl Side {
    fn inside(&self, c: Coord<f64>) -> bool {
        match *self {
            Side::XAtLeast(v) => c.x >= v,
            Side::XAtMost(v) => c.x <= v,
            Side::YAtLeast(v) => c.y >= v,
            Side::YAtMost(v) => c.y <= v,
        }
    }

    /// The crossing of segment a-b with the cut line, the cut coordinate written exactly.
    fn cross(&self, a: Coord<f64>, b: Coord<f64>) -> Coord<f64> {
        match *self {
            Side::XAtLeast(v) | Side::XAtMost(v) => {
                let t = (v - a.x) / (b.x - a.x);
                Coord {
                    x: v,
                    y: a.y + t * (b.y - a.y),
                }
            }
            Side::YAtLeast(v) | Side::YAtMost(v) => {
                let t = (v - a.y) / (b.y - a.y);
                Coord {
                    x: a.x + t * (b.x - a.x),
                    y: v,
                }
            }
        }
    }
}

/// Sutherland–Hodgman of one closed ring against a half-plane. Exact in area for any simple or
/// non-simple ring; the result may run along the cut line and back.
fn clip_ring(ring: &[Coord<f64>], side: Side) -> Vec<Coord<f64>> {
    let n = ring.len().saturating_sub(1);
    let mut out = Vec::with_capacity(n + 4);
    for i in 0..n {
        let (a, b) = (ring[i], ring[i + 1]);
        let (ia, ib) = (side.inside(a), side.inside(b));
        if ia {
            out.push(a);
        }
        if ia != ib {
            out.push(side.cross(a, b));
        }
    }
    if let Some(&first) = out.first() {
        out.push(first);
    }
    out
}

fn clip_polygon(p: &Polygon<f64>, sides: &[Side]) -> Option<Polygon<f64>> {
    let clip = |r: &LineString<f64>| {
        let mut c = r.0.clone();
        for &s in sides {
            if c.len() < 4 {
                break;
            }
            c = clip_ring(&c, s);
        }
        (c.len() >= 4).then(|| LineString::new(c))
    };
    let exterior = clip(p.exterior())?;
    let interiors = p.interiors().iter().filter_map(clip).collect();
    Some(Polygon::new(exterior, interiors))
}

/// The part of `g` inside `r`, exact in area; an operand for boolean operations.
pub fn clip_to_rect(g: &MultiPolygon<f64>, r: &Rect<f64>) -> MultiPolygon<f64> {
    let sides = [
        Side::XAtLeast(r.min().x),
        Side::XAtMost(r.max().x),
        Side::YAtLeast(r.min().y),
        Side::YAtMost(r.max().y),
    ];
    MultiPolygon::new(
        g.0.iter()
            .filter(|p| {
                p.bounding_rect()
                    .is_some_and(|b| geo::Intersects::intersects(&b, r))
            })
            .filter_map(|p| clip_polygon(p, &sides))
            .collect(),
    )
}

fn vertex_count(g: &MultiPolygon<f64>) -> usize {
    g.0.iter()
        .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
        .sum()
}

/// Cut `g` along the longer side of its extent, recursively, until every piece has at most
/// `max_vertices` vertices (like PostGIS ST_Subdivide). The pieces tile `g`.
pub fn subdivide(g: MultiPolygon<f64>, max_vertices: usize) -> Vec<MultiPolygon<f64>> {
    let mut out = Vec::new();
    let mut stack = vec![(g, 0u32)];
    while let Some((g, depth)) = stack.pop() {
        let Some(b) = g.bounding_rect() else { continue };
        // Depth cap: a piece made only of cut-line vertices cannot shrink further.
        if vertex_count(&g) <= max_vertices || depth >= 24 {
            out.push(g);
            continue;
        }
        let (lo, hi) = if b.width() >= b.height() {
            let m = b.min().x + b.width() / 2.0;
            let lo = Rect::new(b.min(), Coord { x: m, y: b.max().y });
            let hi = Rect::new(Coord { x: m, y: b.min().y }, b.max());
            (lo, hi)
        } else {
            let m = b.min().y + b.height() / 2.0;
            let lo = Rect::new(b.min(), Coord { x: b.max().x, y: m });
            let hi = Rect::new(Coord { x: b.min().x, y: m }, b.max());
            (lo, hi)
        };
        for r in [lo, hi] {
            let piece = clip_to_rect(&g, &r);
            if !piece.0.is_empty() {
                stack.push((piece, depth + 1));
            }
        }
    }
    out
}

/// `g` if valid, else its repair: rings oriented (shells counter-clockwise, holes clockwise)
/// and resolved under the non-zero rule, so overlapping parts are unioned and self-crossing
/// rings split into their lobes (what GEOS MakeValid keeps for polygons). Returns whether a
/// repair was needed.
pub fn repair(g: MultiPolygon<f64>) -> (MultiPolygon<f64>, bool) {
    if crate::vectorize::valid::is_valid(&g) {
        return (g, false);
    }
    let oriented = g.orient(Direction::Default);
    let empty = MultiPolygon::<f64>::new(vec![]);
    // If even the guarded repair fails, the input goes on as it is: the even-odd operations
    // downstream still measure it, as the parity of its rings defines it.
    match boolean_with(&oriented, &empty, Op::Union, FillRule::NonZero) {
        Ok(fixed) => (fixed, true),
        Err(_) => (oriented, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{BooleanOps, GeodesicArea, wkt};

    fn planar(g: &MultiPolygon<f64>) -> f64 {
        AreaMethod::Planar {
            metres_per_unit: 1.0,
        }
        .area_m2(g)
    }

    #[test]
    fn rect_clip_is_exact_for_concave_rings_with_holes() {
        // A U shape with a hole in its base, clipped across both arms.
        let u = MultiPolygon::new(vec![wkt!(POLYGON(
            (0. 0., 10. 0., 10. 10., 7. 10., 7. 3., 3. 3., 3. 10., 0. 10., 0. 0.),
            (4. 1., 6. 1., 6. 2., 4. 2., 4. 1.)
        ))]);
        let r = Rect::new(Coord { x: -1.0, y: 5.0 }, Coord { x: 11.0, y: 20.0 });
        let c = clip_to_rect(&u, &r);
        // Two arms of 3 x 5 each; the zero-width link along y = 5 has no area.
        let exact = c.intersection(&MultiPolygon::new(vec![r.to_polygon()]));
        assert!((planar(&exact) - 30.0).abs() < 1e-9);
        assert_eq!(exact.0.len(), 2);
    }

    #[test]
    fn subdivided_pieces_tile_the_polygon() {
        let n = 400;
        let ring: Vec<Coord<f64>> = (0..=n)
            .map(|i| {
                let t = i as f64 / n as f64 * std::f64::consts::TAU;
                let r = 100.0 + 30.0 * (7.0 * t).sin();
                Coord {
                    x: 5e5 + r * t.cos(),
                    y: 3.4e6 + r * t.sin(),
                }
            })
            .collect();
        let g = MultiPolygon::new(vec![Polygon::new(LineString::new(ring), vec![])]);
        let pieces = subdivide(g.clone(), 64);
        assert!(pieces.len() >= 8, "{}", pieces.len());
        assert!(pieces.iter().all(|p| vertex_count(p) <= 64 + 16));
        // Area of each piece intersected with a probe sums to the probe's intersection.
        let probe = MultiPolygon::new(vec![
            Rect::new(
                Coord {
                    x: 5e5 - 50.0,
                    y: 3.4e6 - 80.0,
                },
                Coord {
                    x: 5e5 + 120.0,
                    y: 3.4e6 + 20.0,
                },
            )
            .to_polygon(),
        ]);
        let whole = planar(&probe.intersection(&g));
        let sum: f64 = pieces.iter().map(|p| planar(&probe.intersection(p))).sum();
        assert!((whole - sum).abs() < 1e-6 * whole, "{whole} {sum}");
    }

    #[test]
    fn pieces_of_a_geodesic_polygon_sum_to_it() {
        // A 0.1° square split along its diagonal, the lower triangle carrying an extra vertex
        // on the diagonal (as a clipped piece can): read as geodesics, the two versions of the
        // diagonal enclose different areas; measured on densified edges they agree.
        let sq = MultiPolygon::new(vec![
            wkt!(POLYGON((116. 39., 116.1 39., 116.1 39.1, 116. 39.1, 116. 39.))),
        ]);
        let lower = MultiPolygon::new(vec![
            wkt!(POLYGON((116. 39., 116.1 39., 116.1 39.1, 116.05 39.05, 116. 39.))),
        ]);
        let upper = MultiPolygon::new(vec![
            wkt!(POLYGON((116. 39., 116.1 39.1, 116. 39.1, 116. 39.))),
        ]);
        let g = AreaMethod::Geodesic;
        let whole = g.area_m2(&sq);
        assert!((g.area_m2(&lower) + g.area_m2(&upper) - whole).abs() < 1e-8 * whole);
        let sparse = lower.geodesic_area_unsigned() + upper.geodesic_area_unsigned()
            - sq.geodesic_area_unsigned();
        assert!(
            sparse.abs() > 1e-6 * whole,
            "the test must show the effect: {sparse}"
        );
        assert_eq!(densify(&sq, 1.0), sq);
    }

    #[test]
    fn repair_unions_overlaps_and_splits_bow_ties() {
        let bow = MultiPolygon::new(vec![wkt!(POLYGON((0. 0., 2. 2., 2. 0., 0. 2., 0. 0.)))]);
        let (fixed, repaired) = repair(bow);
        assert!(repaired && crate::vectorize::valid::is_valid(&fixed));
        assert!((planar(&fixed) - 2.0).abs() < 1e-9);
        let overlap = MultiPolygon::new(vec![
            wkt!(POLYGON((0. 0., 4. 0., 4. 4., 0. 4., 0. 0.))),
            wkt!(POLYGON((2. 2., 6. 2., 6. 6., 2. 6., 2. 2.))),
        ]);
        let (fixed, repaired) = repair(overlap);
        assert!(repaired && crate::vectorize::valid::is_valid(&fixed));
        assert!((planar(&fixed) - 28.0).abs() < 1e-9);
        let ok = MultiPolygon::new(vec![wkt!(POLYGON((0. 0., 1. 0., 1. 1., 0. 0.)))]);
        assert!(!repair(ok).1);
    }

    #[test]
    fn geodesic_area_of_a_degree_cell_at_the_equator() {
        let cell = MultiPolygon::new(vec![wkt!(POLYGON((0. 0., 1. 0., 1. 1., 0. 1., 0. 0.)))]);
        // Closed form for the cell bounded by the equator and the parallel at 1° N on the WGS84
        // ellipsoid: 12,308,463,894 m². Its northern edge is a geodesic here, which bows
        // poleward by a few metres: the areas differ by well under 1e-4.
        let a = AreaMethod::Geodesic.area_m2(&cell);
        assert!((a / 12_308_463_893.98 - 1.0).abs() < 1e-4, "{a}");
    }
}
