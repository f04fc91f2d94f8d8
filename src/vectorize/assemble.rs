//! From the closed rings of one connected component to simple polygons.
//!
//! Rings arrive in pixel-corner coordinates with positive shoelace area for outer boundaries
//! and negative for holes (see `trace`). A ring that touches itself at a corner is split there
//! into simple rings; holes are attached to the outer ring of the same 4-connected part (or,
//! should a part have several, to the one that contains them). The result is a set of
//! polygons whose rings are simple and meet only at single points: valid OGC geometry.

/// A vertex in pixel-corner coordinates.
pub type Vertex = (i64, i64);

/// A polygon in pixel-corner coordinates: a simple exterior (positive area) and simple holes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PixelPolygon {
    pub exterior: Vec<Vertex>,
    pub holes: Vec<Vec<Vertex>>,
}

/// A closed ring from the tracer, or joined from its chains by the stitcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracedRing {
    /// The vertices where the direction changes, in order (not repeated at the end).
    pub points: Vec<Vertex>,
    /// The saddle vertices it passes, once per pass: only these can it visit twice (and need
    /// splitting there into simple rings). Empty for most rings.
    pub saddles: Vec<Vertex>,
}

/// Twice the signed area (shoelace) of a closed ring given without its closing vertex.
pub fn area2(ring: &[Vertex]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum()
}

/// Drop vertices where the ring goes straight on (left over where chains were joined). One pass
/// in place: on a rectilinear ring, removing a straight-through vertex never makes another one
/// straight.
pub fn drop_collinear(ring: &mut Vec<Vertex>) {
    let n = ring.len();
    if n <= 4 {
        return;
    }
    let straight = |a: Vertex, b: Vertex, c: Vertex| {
        (b.0 - a.0) * (c.1 - b.1) - (b.1 - a.1) * (c.0 - b.0) == 0
    };
    // Kept vertices are written over the ring's front (never ahead of the one being judged);
    // the first is judged against the original last one and the last against the original
    // first, both saved before they can be overwritten.
    let (first, last) = (ring[0], ring[n - 1]);
    let mut k = 0;
    for i in 0..n {
        let b = ring[i];
        let c = if i + 1 < n { ring[i + 1] } else { first };
        let a = if k > 0 { ring[k - 1] } else { last };
        if !straight(a, b, c) {
            ring[k] = b;
            k += 1;
        }
    }
    ring.truncate(k);
    // The first vertex was judged against the original last one, which may have been dropped.
    while ring.len() > 4 {
        let k = ring.len();
        if straight(ring[k - 1], ring[0], ring[1]) {
            ring.remove(0);
        } else if straight(ring[k - 2], ring[k - 1], ring[0]) {
            ring.pop();
        } else {
            break;
        }
    }
}

/// Split a ring at every vertex it visits twice, into simple rings, handing each (of 4
/// vertices or more) to `piece`. Only the `saddles` the ring passed can be visited twice (the
/// tracer lists every pass): those passed twice are the cut points, and a ring without any
/// goes through whole.
pub fn split_simple(ring: Vec<Vertex>, saddles: &[Vertex], mut piece: impl FnMut(Vec<Vertex>)) {
    let mut twice: Vec<Vertex> = Vec::new();
    if saddles.len() >= 2 {
        let mut sorted = saddles.to_vec();
        sorted.sort_unstable();
        twice = sorted
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        twice.dedup();
    }
    if twice.is_empty() {
        if ring.len() >= 4 {
            piece(ring);
        }
        return;
    }
    let mut stack: Vec<Vertex> = Vec::with_capacity(ring.len());
    // Where each cut point sits on the stack, while it is there.
    let mut seen: Vec<(Vertex, usize)> = Vec::with_capacity(twice.len());
    for v in ring {
        if twice.binary_search(&v).is_ok() {
            if let Some(k) = seen.iter().position(|(u, _)| *u == v) {
                // Close the loop from the earlier visit of v to here.
                let at = seen[k].1;
                let closed: Vec<Vertex> = stack.drain(at..).collect();
                seen.retain(|&(_, p)| p < at);
                if closed.len() >= 4 {
                    piece(closed);
                }
            }
            seen.push((v, stack.len()));
        }
        stack.push(v);
    }
    if stack.len() >= 4 {
        piece(stack);
    }
}

/// Even-odd test of a point against a ring.
pub fn contains(ring: &[Vertex], px: f64, py: f64) -> bool {
    let n = ring.len();
    let mut inside = false;
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        let (ax, ay, bx, by) = (a.0 as f64, a.1 as f64, b.0 as f64, b.1 as f64);
        if (ay > py) != (by > py) && px < ax + (py - ay) / (by - ay) * (bx - ax) {
            inside = !inside;
        }
    }
    inside
}

/// A point strictly inside the background region a hole ring encloses: the centre of the
/// pixel left of its first edge.
fn inside_hole(hole: &[Vertex]) -> (f64, f64) {
    let (a, b) = (hole[0], hole[1 % hole.len()]);
    let (dx, dy) = ((b.0 - a.0).signum(), (b.1 - a.1).signum());
    // Left of the direction (dx, dy) in y-down coordinates is (dy, -dx).
    let (mx, my) = (a.0 as f64 + 0.5 * dx as f64, a.1 as f64 + 0.5 * dy as f64);
    (mx + 0.5 * dy as f64, my - 0.5 * dx as f64)
}

/// Build the polygons of one component from its rings, each tagged with the 4-connected part
/// it bounds. Holes smaller than `min_hole_px` pixels are dropped (0 keeps all).
pub fn assemble(mut rings: Vec<(u64, TracedRing)>, min_hole_px: i64) -> Vec<PixelPolygon> {
    // Rings of a part together (stable: a part's rings keep their order). Most components
    // are one part, already in order.
    if rings.windows(2).any(|w| w[0].0 > w[1].0) {
        rings.sort_by_key(|r| r.0);
    }
    let mut out = Vec::new();
    // One part's outer rings and holes.
    let (mut shells, mut holes): (Vec<Vec<Vertex>>, Vec<Vec<Vertex>>) = (Vec::new(), Vec::new());
    let mut rings = rings.into_iter().peekable();
    while let Some((part, first)) = rings.next() {
        let mut ring = Some(first);
        while let Some(TracedRing {
            mut points,
            saddles,
        }) = ring.take()
        {
            drop_collinear(&mut points);
            split_simple(points, &saddles, |r| {
                let a = area2(&r);
                if a > 0 {
                    shells.push(r);
                } else if a < 0 && -a >= 2 * min_hole_px {
                    holes.push(r);
                }
            });
            ring = rings.next_if(|r| r.0 == part).map(|r| r.1);
        }
        attach_holes(&mut shells, &mut holes, &mut out);
    }
    for p in &mut out {
        canonical(&mut p.exterior);
        p.holes.iter_mut().for_each(|h| canonical(h));
        p.holes.sort();
    }
    out.sort_by(|a, b| a.exterior.cmp(&b.exterior));
    out
}

/// The polygons of one part: each of its `holes` goes to the smallest of its `shells` that
/// contains it (a hole no shell contains is dropped); both lists are left empty.
fn attach_holes(
    shells: &mut Vec<Vec<Vertex>>,
    holes: &mut Vec<Vec<Vertex>>,
    out: &mut Vec<PixelPolygon>,
) {
    if shells.len() == 1 {
        out.push(PixelPolygon {
            exterior: shells.pop().unwrap_or_default(),
            holes: std::mem::take(holes),
        });
        return;
    }
    let first = out.len();
    out.extend(shells.drain(..).map(|exterior| PixelPolygon {
        exterior,
        holes: Vec::new(),
    }));
    let polys = &mut out[first..];
    for h in holes.drain(..) {
        let (px, py) = inside_hole(&h);
        // The smallest shell that contains the hole's interior.
        let target = polys
            .iter()
            .enumerate()
            .filter(|(_, p)| contains(&p.exterior, px, py))
            .min_by_key(|(_, p)| area2(&p.exterior))
            .map(|(i, _)| i);
        if let Some(i) = target {
            polys[i].holes.push(h);
        }
    }
}

/// Rotate a ring to start at its smallest vertex (row-major), for deterministic output.
fn canonical(ring: &mut [Vertex]) {
    if let Some(i) = (0..ring.len()).min_by_key(|&i| (ring[i].1, ring[i].0)) {
        ring.rotate_left(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_ring_pinched_at_a_corner() {
        // Two unit squares meeting at (1, 1), as one walk through (1, 1) twice.
        let ring = vec![
            (0, 0),
            (1, 0),
            (1, 1),
            (2, 1),
            (2, 2),
            (1, 2),
            (1, 1),
            (0, 1),
        ];
        let split = |saddles: &[Vertex]| {
            let mut parts = Vec::new();
            split_simple(ring.clone(), saddles, |p| parts.push(p));
            parts
        };
        // Passed once only (or not at all): no cut.
        assert_eq!(split(&[(1, 1)]), vec![ring.clone()]);
        let parts = split(&[(1, 1), (1, 1)]);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.len() == 4 && area2(p) == 2));
    }

    #[test]
    fn hole_goes_to_its_shell() {
        let shell = vec![(0, 0), (3, 0), (3, 3), (0, 3)];
        let hole = vec![(1, 1), (1, 2), (2, 2), (2, 1)];
        assert_eq!(area2(&hole), -2);
        let traced = |points: Vec<Vertex>| TracedRing {
            points,
            saddles: Vec::new(),
        };
        let p = assemble(vec![(7, traced(shell)), (7, traced(hole.clone()))], 0);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].holes.len(), 1);
        assert!(
            assemble(
                vec![
                    (7, traced(vec![(0, 0), (3, 0), (3, 3), (0, 3)])),
                    (7, traced(hole))
                ],
                2
            )[0]
            .holes
            .is_empty()
        );
    }

    #[test]
    fn collinear_vertices_go() {
        let mut r = vec![(0, 0), (1, 0), (2, 0), (2, 1), (0, 1)];
        drop_collinear(&mut r);
        assert_eq!(r, vec![(0, 0), (2, 0), (2, 1), (0, 1)]);
    }
}
