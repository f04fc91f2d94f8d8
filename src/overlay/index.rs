//! The change polygons being judged ("targets"), indexed by an R-tree of their extents, and the
//! exact intersection of streamed reference features with them.
//!
//! Reference layers are never held whole: a batch of features arrives, each feature is repaired
//! if invalid, cut into pieces of at most [`MAX_PIECE_VERTICES`] vertices when large (so a
//! 100,000-vertex red-line polygon costs each small change a small operation), and intersected
//! with the targets its extent touches. Memory is bounded by the targets and one batch.

use crate::geom::boolean::{Op, OpFailed, boolean};
use crate::geom::{clip_to_rect, repair, subdivide};
use geo::{BoundingRect, MultiPolygon, Rect};
use rayon::prelude::*;
use rstar::{AABB, RTree, primitives::GeomWithData, primitives::Rectangle};

/// Reference polygons above this many vertices are subdivided before intersection.
pub const MAX_PIECE_VERTICES: usize = 256;

/// One reference feature: its geometry in the working CRS and the mapped attribute values.
#[derive(Clone, Debug)]
pub struct RefFeature {
    /// The feature's id in its source (OGR FID).
    pub fid: u64,
    pub geom: MultiPolygon<f64>,
    pub attrs: Vec<Option<String>>,
}

/// What a hit carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// The exact intersection of feature and target (for layers that partition space, whose
    /// parts are measured one by one).
    Parts,
    /// The feature's pieces over the target, not intersected (for layers whose features may
    /// overlap: they are merged against the target in one non-zero operation later, which is
    /// fast; merging intersection parts, which all share the target's edges, is not).
    Operands,
}

/// A non-empty intersection of a reference feature with a target.
#[derive(Debug)]
pub struct Hit {
    pub target: usize,
    /// Index of the feature in its batch.
    pub feature: usize,
    /// The intersection, or the failure of the boolean operation on this pair.
    pub part: Result<MultiPolygon<f64>, OpFailed>,
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, usize>;

/// Polygons to be measured, with a spatial index.
pub struct Targets {
    geoms: Vec<MultiPolygon<f64>>,
    tree: RTree<Entry>,
}

fn aabb(r: &Rect<f64>) -> AABB<[f64; 2]> {
    AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y])
}

impl Targets {
    /// Index `geoms`; empty geometries are kept (so indices stay) but never hit.
    pub fn new(geoms: Vec<MultiPolygon<f64>>) -> Self {
        let entries = geoms
            .iter()
            .enumerate()
            .filter_map(|(i, g)| {
                g.bounding_rect()
                    .map(|r| GeomWithData::new(Rectangle::from_aabb(aabb(&r)), i))
            })
            .collect();
        Targets {
            geoms,
            tree: RTree::bulk_load(entries),
        }
    }

    pub fn len(&self) -> usize {
        self.geoms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.geoms.is_empty()
    }

    pub fn geom(&self, i: usize) -> &MultiPolygon<f64> {
        &self.geoms[i]
    }

    /// The extent of every target together.
    pub fn extent(&self) -> Option<Rect<f64>> {
        let e = self.tree.root().envelope();
        (self.tree.size() > 0).then(|| {
            Rect::new(
                geo::Coord {
                    x: e.lower()[0],
                    y: e.lower()[1],
                },
                geo::Coord {
                    x: e.upper()[0],
                    y: e.upper()[1],
                },
            )
        })
    }

    /// Targets whose extent meets `r`.
    pub fn candidates(&self, r: &Rect<f64>) -> impl Iterator<Item = usize> + '_ {
        self.tree
            .locate_in_envelope_intersecting(&aabb(r))
            .map(|e| e.data)
    }

    /// Exact intersections of one valid reference geometry, given as the pieces that tile it,
    /// with the targets: one part per target touched. The pieces over a target are clipped to
    /// the target's extent and passed together as one even-odd operand, where their shared cut
    /// lines cancel, so no union is ever built.
    fn intersect(
        &self,
        pieces: &[MultiPolygon<f64>],
        feature: usize,
        want: Want,
        out: &mut Vec<Hit>,
    ) {
        let mut over: Vec<(usize, usize)> = vec![];
        for (k, piece) in pieces.iter().enumerate() {
            if let Some(r) = piece.bounding_rect() {
                over.extend(self.candidates(&r).map(|t| (t, k)));
            }
        }
        over.sort_unstable();
        for group in over.chunk_by(|a, b| a.0 == b.0) {
            let t = group[0].0;
            let target = &self.geoms[t];
            let Some(tr) = target.bounding_rect() else {
                continue;
            };
            if want == Want::Operands {
                out.push(Hit {
                    target: t,
                    feature,
                    part: Ok(MultiPolygon::new(
                        group
                            .iter()
                            .flat_map(|&(_, k)| pieces[k].0.clone())
                            .collect(),
                    )),
                });
                continue;
            }
            let operand = MultiPolygon::new(
                group
                    .iter()
                    .flat_map(|&(_, k)| clip_to_rect(&pieces[k], &tr).0)
                    .collect(),
            );
            if operand.0.is_empty() {
                continue;
            }
            match boolean(target, &operand, Op::Intersection) {
                Ok(part) if part.0.is_empty() => {}
                Ok(part) => out.push(Hit {
                    target: t,
                    feature,
                    part: Ok(part),
                }),
                Err(e) => out.push(Hit {
                    target: t,
                    feature,
                    part: Err(e),
                }),
            }
        }
    }

    /// Intersect a batch of reference features with the targets, in parallel. Returns the hits
    /// (ordered by feature, then target, whatever the thread count) and how many features were
    /// repaired.
    pub fn hits(&self, batch: &mut [RefFeature], want: Want) -> (Vec<Hit>, u64) {
        let per_feature: Vec<(Vec<Hit>, bool)> = batch
            .par_iter_mut()
            .enumerate()
            .map(|(i, f)| {
                let mut out = Vec::new();
                let Some(r) = f.geom.bounding_rect() else {
                    return (out, false);
                };
                if self.candidates(&r).next().is_none() {
                    return (out, false);
                }
                let (g, repaired) =
                    repair(std::mem::replace(&mut f.geom, MultiPolygon::new(vec![])));
                self.intersect(&subdivide(g, MAX_PIECE_VERTICES), i, want, &mut out);
                (out, repaired)
            })
            .collect();
        let repaired = per_feature.iter().filter(|(_, r)| *r).count() as u64;
        (
            per_feature.into_iter().flat_map(|(h, _)| h).collect(),
            repaired,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Area, BooleanOps, wkt};

    fn square(x: f64, y: f64, s: f64) -> MultiPolygon<f64> {
        MultiPolygon::new(vec![
            Rect::new(geo::Coord { x, y }, geo::Coord { x: x + s, y: y + s }).to_polygon(),
        ])
    }

    #[test]
    fn hits_are_exact_and_skip_far_features() {
        let targets = Targets::new(vec![square(0.0, 0.0, 10.0), square(100.0, 0.0, 10.0)]);
        let mut batch = vec![
            RefFeature {
                fid: 0,
                geom: square(5.0, 5.0, 10.0),
                attrs: vec![],
            },
            RefFeature {
                fid: 0,
                geom: square(500.0, 500.0, 1.0),
                attrs: vec![],
            },
            RefFeature {
                fid: 2,
                // A bow-tie over both targets' gap: repaired, touches neither.
                geom: MultiPolygon::new(vec![
                    wkt!(POLYGON((20. 0., 30. 10., 30. 0., 20. 10., 20. 0.))),
                ]),
                attrs: vec![],
            },
        ];
        let (hits, repaired) = targets.hits(&mut batch, Want::Parts);
        assert_eq!(hits.len(), 1);
        assert_eq!((hits[0].target, hits[0].feature), (0, 0));
        assert!((hits[0].part.as_ref().unwrap().unsigned_area() - 25.0).abs() < 1e-9);
        assert_eq!(
            repaired, 0,
            "the bow-tie has no candidate, so it is not even validated"
        );
        let e = targets.extent().unwrap();
        assert_eq!((e.min().x, e.max().x), (0.0, 110.0));
    }

    #[test]
    fn a_large_reference_polygon_is_cut_but_measures_the_same() {
        // A 2,000-vertex comb over many small targets.
        let mut ring = vec![];
        for i in 0..1000 {
            let x = i as f64;
            ring.push(geo::Coord { x, y: 0.0 });
            ring.push(geo::Coord {
                x: x + 0.5,
                y: 50.0,
            });
        }
        ring.push(geo::Coord {
            x: 1000.0,
            y: -10.0,
        });
        ring.push(geo::Coord { x: 0.0, y: -10.0 });
        ring.push(geo::Coord { x: 0.0, y: 0.0 });
        let comb = MultiPolygon::new(vec![geo::Polygon::new(geo::LineString::new(ring), vec![])]);
        let targets = Targets::new(
            (0..50)
                .map(|k| square(k as f64 * 20.0, -5.0, 30.0))
                .collect(),
        );
        let mut batch = vec![RefFeature {
            fid: 0,
            geom: comb.clone(),
            attrs: vec![],
        }];
        let (hits, _) = targets.hits(&mut batch, Want::Parts);
        let mut per_target = vec![0.0; 50];
        for h in &hits {
            per_target[h.target] += h.part.as_ref().unwrap().unsigned_area();
        }
        // One part per target touched, however many pieces the comb was cut into.
        assert_eq!(hits.len(), 50);
        for (k, got) in per_target.iter().enumerate() {
            let want = targets.geom(k).intersection(&comb).unsigned_area();
            assert!(
                (got - want).abs() < 1e-6 * want.max(1.0),
                "{k}: {got} vs {want}"
            );
        }
    }
}
