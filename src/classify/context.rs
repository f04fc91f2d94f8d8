//! Context from the land-use survey (DLTB): how far a change polygon lies from existing roads
//! and railways, and from villages. A new road usually leaves the network it joins; a new
//! house usually stands at the edge of a village. Which land classes count is configurable
//! (`[classify.context]`): code tables differ between survey generations.

use crate::geom::subdivide;
use geo::{BoundingRect, Contains, Distance, Euclidean, Line, MultiPolygon, Polygon, Rect};
use rstar::{AABB, RTree, RTreeObject, primitives::GeomWithData, primitives::Rectangle};
use serde::Deserialize;

/// Survey polygons are cut into pieces of at most this many vertices, so the distance to a
/// county-long road polygon costs a few small pieces.
const PIECE_VERTICES: usize = 256;

/// Which survey classes are context, and how far to look (`[classify.context]`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ContextConf {
    /// Land classes (DLBM) of existing roads and railways.
    #[serde(default = "default_road_codes")]
    pub road_codes: Vec<String>,
    /// Land classes of villages and rural homesteads.
    #[serde(default = "default_village_codes")]
    pub village_codes: Vec<String>,
    /// Distances are searched up to this far (m); farther reads as this value.
    #[serde(default = "default_search_m")]
    pub search_m: f64,
}

fn default_road_codes() -> Vec<String> {
    // Third survey: 1001 railway, 1002 rail transit, 1003 highway, 1004 urban road, 1006 rural
    // road; second survey: 101 railway, 102 highway, 104 rural road.
    ["1001", "1002", "1003", "1004", "1006", "101", "102", "104"]
        .map(String::from)
        .to_vec()
}

fn default_village_codes() -> Vec<String> {
    // Third survey: 0702 rural homestead; second survey: 203 village.
    ["0702", "203"].map(String::from).to_vec()
}

fn default_search_m() -> f64 {
    500.0
}

impl Default for ContextConf {
    fn default() -> Self {
        ContextConf {
            road_codes: default_road_codes(),
            village_codes: default_village_codes(),
            search_m: default_search_m(),
        }
    }
}

impl ContextConf {
    /// Check the values.
    ///
    /// # Errors
    /// A message naming the value.
    pub fn check(&self) -> Result<(), String> {
        if !(self.search_m.is_finite() && self.search_m > 0.0) {
            return Err(format!(
                "classify.context.search_m {}: must be a positive number of metres",
                self.search_m
            ));
        }
        Ok(())
    }

    /// The context kind of a land class, if any.
    pub fn kind(&self, code: &str) -> Option<Kind> {
        let code = code.trim();
        if self.road_codes.iter().any(|c| c == code) {
            Some(Kind::Road)
        } else if self.village_codes.iter().any(|c| c == code) {
            Some(Kind::Village)
        } else {
            None
        }
    }
}

/// What a context polygon is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Road,
    Village,
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// Polygons of one kind with an index of their extents.
#[derive(Default)]
struct Layer {
    pieces: Vec<Polygon<f64>>,
    tree: RTree<Entry>,
}

impl Layer {
    fn build(pieces: Vec<Polygon<f64>>) -> Self {
        let entries = pieces
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let b = p.bounding_rect()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]),
                    i,
                ))
            })
            .collect();
        Layer {
            pieces,
            tree: RTree::bulk_load(entries),
        }
    }

    /// Distance (CRS units) from `g` to the nearest piece within `reach` of its extent, at
    /// most `reach` (None: no piece within reach).
    fn nearest(&self, g: &Indexed, reach: f64) -> Option<f64> {
        let b = g.extent;
        let env = AABB::from_corners(
            [b.min().x - reach, b.min().y - reach],
            [b.max().x + reach, b.max().y + reach],
        );
        self.tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| g.distance(&self.pieces[e.data], reach))
            .min_by(f64::total_cmp)
    }
}

/// A change polygon with its segments indexed, measured against many survey pieces.
///
/// geo's polygon distance first tests every segment of one polygon against every segment of
/// the other for an intersection: a traced road of 20,000 vertices against a few hundred
/// pieces of 256 was a tenth of a whole `tuban run`. Here each piece's segments look up only
/// the polygon's segments near them; the distance is the same (0 where they cross or one lies
/// inside the other, else the shortest segment-to-segment distance), capped at the reach.
struct Indexed<'a> {
    g: &'a MultiPolygon<f64>,
    extent: Rect<f64>,
    segments: RTree<GeomWithData<Rectangle<[f64; 2]>, Line<f64>>>,
}

impl<'a> Indexed<'a> {
    fn new(g: &'a MultiPolygon<f64>) -> Option<Self> {
        let extent = g.bounding_rect()?;
        let segments =
            g.0.iter()
                .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                .flat_map(|r| r.lines())
                .map(|l| {
                    GeomWithData::new(
                        Rectangle::from_corners([l.start.x, l.start.y], [l.end.x, l.end.y]),
                        l,
                    )
                })
                .collect();
        Some(Indexed {
            g,
            extent,
            segments: RTree::bulk_load(segments),
        })
    }

    /// Distance to `piece`, at most `cap`.
    fn distance(&self, piece: &Polygon<f64>, cap: f64) -> f64 {
        let mut best = cap;
        for s in std::iter::once(piece.exterior())
            .chain(piece.interiors())
            .flat_map(|r| r.lines())
        {
            let e = Rectangle::from_corners([s.start.x, s.start.y], [s.end.x, s.end.y]).envelope();
            let near = AABB::from_corners(
                [e.lower()[0] - best, e.lower()[1] - best],
                [e.upper()[0] + best, e.upper()[1] + best],
            );
            for t in self.segments.locate_in_envelope_intersecting(&near) {
                best = best.min(Euclidean.distance(&s, &t.data));
                if best == 0.0 {
                    return 0.0;
                }
            }
        }
        // No boundary within reach of the other's: one may still lie inside the other.
        let piece_inside = piece
            .exterior()
            .0
            .first()
            .is_some_and(|c| self.g.contains(c));
        let g_inside = self
            .g
            .0
            .iter()
            .filter_map(|p| p.exterior().0.first())
            .any(|c| piece.contains(c));
        if piece_inside || g_inside { 0.0 } else { best }
    }
}

/// The survey's roads and villages around a scene, in the scene's CRS.
pub struct Context {
    roads: Layer,
    villages: Layer,
    /// `search_m` of the configuration.
    pub search_m: f64,
    /// How many survey polygons of each kind were kept (roads, villages).
    pub counts: (usize, usize),
}

impl Context {
    /// Index the polygons of each kind.
    pub fn new(features: Vec<(Kind, MultiPolygon<f64>)>, search_m: f64) -> Self {
        let (mut roads, mut villages) = (Vec::new(), Vec::new());
        let mut counts = (0, 0);
        for (kind, g) in features {
            let (dst, n) = match kind {
                Kind::Road => (&mut roads, &mut counts.0),
                Kind::Village => (&mut villages, &mut counts.1),
            };
            *n += 1;
            dst.extend(subdivide(g, PIECE_VERTICES).into_iter().flat_map(|m| m.0));
        }
        Context {
            roads: Layer::build(roads),
            villages: Layer::build(villages),
            search_m,
            counts,
        }
    }

    /// Distances in metres from `g` (CRS units of `m_per_unit` metres) to the nearest road and
    /// the nearest village, each at most `search_m`.
    pub fn distances(&self, g: &MultiPolygon<f64>, m_per_unit: f64) -> (f64, f64) {
        let reach = self.search_m / m_per_unit.max(f64::MIN_POSITIVE);
        let Some(indexed) = Indexed::new(g) else {
            return (self.search_m, self.search_m);
        };
        let d = |l: &Layer| {
            l.nearest(&indexed, reach)
                .map_or(self.search_m, |d| (d * m_per_unit).min(self.search_m))
        };
        (d(&self.roads), d(&self.villages))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Rect, coord};
    use proptest::prelude::*;

    /// A star-shaped polygon around (cx, cy) with these radii.
    fn star(cx: f64, cy: f64, radii: &[f64]) -> Polygon<f64> {
        let n = radii.len();
        let mut c: Vec<geo::Coord<f64>> = radii
            .iter()
            .enumerate()
            .map(|(k, r)| {
                let a = k as f64 / n as f64 * std::f64::consts::TAU;
                coord! { x: cx + r * a.cos(), y: cy + r * a.sin() }
            })
            .collect();
        c.push(c[0]);
        Polygon::new(geo::LineString::new(c), vec![])
    }

    proptest! {
        /// The indexed distance is geo's (capped at the reach): apart, crossing, one inside
        /// the other, inside the other's hole.
        #[test]
        fn indexed_distance_is_geos(
            a in prop::collection::vec(5.0f64..40.0, 3..80),
            b in prop::collection::vec(1.0f64..30.0, 3..40),
            at in (-90.0f64..90.0, -90.0f64..90.0),
            hole in any::<bool>(),
            cap in 1.0f64..200.0,
        ) {
            let mut outer = star(0.0, 0.0, &a);
            if hole {
                let r = a.iter().copied().fold(f64::INFINITY, f64::min) * 0.5;
                outer.interiors_push(star(0.0, 0.0, &[r; 12]).exterior().clone());
            }
            let g = MultiPolygon::new(vec![outer]);
            let piece = star(at.0, at.1, &b);
            let want = Euclidean.distance(&g, &piece).min(cap);
            let got = Indexed::new(&g).unwrap().distance(&piece, cap);
            prop_assert!((got - want).abs() <= 1e-9 * want.max(1.0), "{got} vs {want}");
        }
    }

    fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
        MultiPolygon::new(vec![
            Rect::new(coord! {x: x0, y: y0}, coord! {x: x1, y: y1}).to_polygon(),
        ])
    }

    #[test]
    fn distances_to_the_nearest_road_and_village_capped_at_the_search() {
        let conf = ContextConf::default();
        assert_eq!(conf.kind("1004 "), Some(Kind::Road));
        assert_eq!(conf.kind("0702"), Some(Kind::Village));
        assert_eq!(conf.kind("0101"), None);
        // A road strip along y = 0..10, a village 100 m east of the change.
        let ctx = Context::new(
            vec![
                (Kind::Road, rect(-1000.0, 0.0, 1000.0, 10.0)),
                (Kind::Village, rect(150.0, 20.0, 250.0, 80.0)),
            ],
            500.0,
        );
        assert_eq!(ctx.counts, (1, 1));
        let change = rect(0.0, 10.0, 50.0, 30.0);
        assert_eq!(ctx.distances(&change, 1.0), (0.0, 100.0));
        // In units of 2 m: the same geometry is twice as far.
        assert_eq!(ctx.distances(&change, 2.0), (0.0, 200.0));
        // Far from everything: the search distance.
        let far = rect(0.0, 2000.0, 10.0, 2010.0);
        assert_eq!(ctx.distances(&far, 1.0), (500.0, 500.0));
        // No survey polygons at all: the search distance too.
        assert_eq!(
            Context::new(vec![], 300.0).distances(&change, 1.0),
            (300.0, 300.0)
        );
    }
}
