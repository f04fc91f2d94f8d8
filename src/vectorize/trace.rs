//! Boundary tracing inside one tile.
//!
//! A boundary edge is a pixel side between a foreground pixel (its owner) and a background
//! pixel or the scene edge, directed so that the owner lies on its right (in raster
//! coordinates, y down): outer rings run clockwise on screen and have positive shoelace area,
//! holes negative. The successor of an edge at its end vertex is the first that exists of: turn
//! right, straight on, turn left. At a saddle vertex (two foreground pixels touching only at a
//! corner) this turns right, around the same pixel, so a ring never crosses itself; diagonal
//! neighbours end up in separate rings that touch at that corner (valid parts of one
//! MultiPolygon), and a ring may touch itself there (split later into a shell and a hole).
//!
//! Each edge belongs to the tile that owns its owner pixel. A tile returns its closed rings and
//! its open chains: runs of edges whose successor (or predecessor) is owned by another tile.

use super::assemble::TracedRing;
use super::label::Labels;
use super::tile::MaskTile;

/// Unit step of direction `d`: 0 right (+x), 1 down (+y), 2 left, 3 up.
#[inline]
pub fn step(d: u8) -> (i64, i64) {
    match d & 3 {
        0 => (1, 0),
        1 => (0, 1),
        2 => (-1, 0),
        _ => (0, -1),
    }
}

/// A directed boundary edge: its start vertex (pixel-corner coordinates) and direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Edge {
    pub x: i64,
    pub y: i64,
    pub d: u8,
}

impl Edge {
    /// The pixel on the edge's right.
    #[inline]
    pub fn owner(self) -> (i64, i64) {
        match self.d & 3 {
            0 => (self.x, self.y),
            1 => (self.x - 1, self.y),
            2 => (self.x - 1, self.y - 1),
            _ => (self.x, self.y - 1),
        }
    }

    /// The edge of pixel (`px`, `py`) on side `d` (0 top, 1 right, 2 bottom, 3 left).
    #[inline]
    pub fn of_pixel(px: i64, py: i64, d: u8) -> Edge {
        let (x, y) = match d & 3 {
            0 => (px, py),
            1 => (px + 1, py),
            2 => (px + 1, py + 1),
            _ => (px, py + 1),
        };
        Edge { x, y, d }
    }

    /// The vertex the edge ends at.
    #[inline]
    pub fn end(self) -> (i64, i64) {
        let (dx, dy) = step(self.d);
        (self.x + dx, self.y + dy)
    }
}

/// The pixel across side `d` of the owner (the one that must be background).
#[inline]
fn outer(e: Edge) -> (i64, i64) {
    let (px, py) = e.owner();
    let (dx, dy) = step(e.d + 3);
    (px + dx, py + dy)
}

/// Does edge `e` exist? Its owner and outer pixel lie in the 2x2 block around its start
/// vertex, so a tile with a one-pixel halo can answer for every vertex of its core.
#[inline]
fn exists(t: &MaskTile, e: Edge) -> bool {
    let (ox, oy) = e.owner();
    let (bx, by) = outer(e);
    t.is_fg(ox, oy) && !t.is_fg(bx, by)
}

/// The successor of `e`: turn right, straight, or left, whichever edge exists first.
#[inline]
pub fn next(t: &MaskTile, e: Edge) -> Edge {
    let (x, y) = e.end();
    for d in [(e.d + 1) & 3, e.d, (e.d + 3) & 3] {
        let n = Edge { x, y, d };
        if exists(t, n) {
            return n;
        }
    }
    unreachable!("a boundary edge always has a successor")
}

/// [`next`] from the 2x2 block of flags around the end vertex, four lookups in all; and
/// whether that vertex is a saddle (foreground on one diagonal only), the only kind of vertex
/// a boundary can pass twice.
#[inline(always)]
fn next_fast(t: &MaskTile, e: Edge) -> (Edge, bool) {
    let (x, y) = e.end();
    let stride = t.stride();
    // Flag index of pixel (x - 1, y - 1), the north-west one of the block.
    let nw = (y - t.core.y as i64) as usize * stride + (x - t.core.x as i64) as usize;
    let (pnw, pne) = (t.fg[nw] == 1, t.fg[nw + 1] == 1);
    let (psw, pse) = (t.fg[nw + stride] == 1, t.fg[nw + stride + 1] == 1);
    let exists = [pse && !pne, psw && !pse, pnw && !psw, pne && !pnw];
    let saddle = pnw == pse && pne == psw && pnw != pne;
    for d in [(e.d + 1) & 3, e.d, (e.d + 3) & 3] {
        if exists[d as usize] {
            return (Edge { x, y, d }, saddle);
        }
    }
    unreachable!("a boundary edge always has a successor")
}

/// A run of edges that leaves the tile: it starts at `start` (whose predecessor is owned
/// elsewhere, unless the tile owns the whole ring) and its last edge is followed by `then`.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    pub start: Edge,
    pub then: Edge,
    /// Local label of the owner pixels.
    pub label: u32,
    /// Start vertex, every vertex where the direction changes, and the end vertex.
    pub points: Vec<(i64, i64)>,
    /// The saddle vertices it passes (see [`TracedRing::saddles`]).
    pub saddles: Vec<(i64, i64)>,
}

/// What a tile contributes.
#[derive(Clone, Debug, Default)]
pub struct Traced {
    /// The rings closed inside the tile, each with the local label of its owner pixels.
    pub rings: Vec<(u32, TracedRing)>,
    pub chains: Vec<Chain>,
}

/// Trace every boundary edge owned by the tile's core. `labels` are the core's local labels.
///
/// One byte per core pixel holds the sides that still have an untraced boundary edge: the
/// walks clear them as they go, so no edge list, successor table or visited flags are built.
/// Chains start at the edges whose predecessor the tile does not own (only pixels of the
/// core's border rows and columns can have one) and are listed in raster order of their first
/// edge (pixel, then side); the rings left are then found in the same order.
pub fn trace_tile(t: &MaskTile, labels: &Labels) -> Traced {
    thread_local! {
        /// Each thread's side masks, all zero between tiles: the walks clear every bit they
        /// set, so no tile pays for zeroing (or mapping) a buffer of its size.
        static SIDES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    /// Zeroes the buffer should a walk panic half-way, so the next tile on the thread does not
    /// inherit its bits.
    struct Clean<'a>(&'a mut [u8]);
    impl Drop for Clean<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.fill(0);
            }
        }
    }
    let n = t.core.width * t.core.height;
    SIDES.with_borrow_mut(|buf| {
        if buf.len() < n {
            buf.resize(n, 0);
        }
        let sides = Clean(&mut buf[..n]);
        let out = trace_with(t, labels, sides.0);
        debug_assert!(sides.0.iter().all(|&b| b == 0), "every edge traced");
        out
    })
}

/// [`trace_tile`] with `sides`, one zero byte per core pixel, left zero.
fn trace_with(t: &MaskTile, labels: &Labels, sides: &mut [u8]) -> Traced {
    let (w, h) = (t.core.width, t.core.height);
    let (x0, y0) = (t.core.x as i64, t.core.y as i64);
    let stride = t.stride();
    let fg = &t.fg;
    // A pixel has an edge on each side whose neighbour is background (halo included, so the
    // tile edge is handled like any other). Whole rows, branch-free, background included (it
    // gets 0): byte arithmetic the compiler turns into vector code.
    for py in 0..h {
        let row = (py + 1) * stride + 1;
        let (up, mid, down) = (
            &fg[row - stride..row - stride + w],
            &fg[row - 1..row + w + 1],
            &fg[row + stride..row + stride + w],
        );
        let out = &mut sides[py * w..(py + 1) * w];
        for (x, s) in out.iter_mut().enumerate() {
            let (left, me, right) = (mid[x], mid[x + 1], mid[x + 2]);
            *s = me.wrapping_neg()
                & ((up[x] ^ 1) | (right ^ 1) << 1 | (down[x] ^ 1) << 2 | (left ^ 1) << 3);
        }
    }
    // The core index of an edge's owner pixel, None when the tile does not own it.
    let slot = |e: Edge| -> Option<usize> {
        let (px, py) = e.owner();
        t.owns(px, py)
            .then(|| (py - y0) as usize * w + (px - x0) as usize)
    };
    let mut out = Traced::default();
    // The walks record into these (grown once per tile); each ring or chain is copied out at
    // its exact length, one allocation instead of a doubling series.
    let (mut points, mut saddles) = (Vec::new(), Vec::new());
    // Open chains, from the edges of border pixels whose predecessor lies outside the core.
    for py in 0..h {
        let whole_row = py == 0 || py + 1 == h || w <= 2;
        for px in (0..w).step_by(if whole_row { 1 } else { w - 1 }) {
            let i = py * w + px;
            for d in 0..4u8 {
                if sides[i] & (1 << d) == 0 {
                    continue;
                }
                let start = Edge::of_pixel(x0 + px as i64, y0 + py as i64, d);
                if slot(prev(t, start)).is_some() {
                    continue;
                }
                points.clear();
                saddles.clear();
                points.push((start.x, start.y));
                let then = walk(t, sides, &slot, (start, i), &mut points, &mut saddles)
                    .expect("a chain starting at the core's edge leaves it");
                out.chains.push(Chain {
                    start,
                    then,
                    label: labels.at(px, py),
                    points: points.clone(),
                    saddles: saddles.clone(),
                });
            }
        }
    }
    // Closed rings: what is left forms cycles.
    for py in 0..h {
        let mut px = 0;
        while let Some(found) = super::tile::next_nonzero(&sides[py * w..(py + 1) * w], px) {
            px = found;
            let i = py * w + px;
            while sides[i] != 0 {
                let d = sides[i].trailing_zeros() as u8;
                let start = Edge::of_pixel(x0 + px as i64, y0 + py as i64, d);
                points.clear();
                saddles.clear();
                let left = walk(t, sides, &slot, (start, i), &mut points, &mut saddles);
                assert!(left.is_none(), "a ring the tile owns stays in its core");
                out.rings.push((
                    labels.at(px, py),
                    TracedRing {
                        points: points.clone(),
                        saddles: saddles.clone(),
                    },
                ));
            }
            px += 1;
        }
    }
    out
}

/// Follow the boundary from `start` (an owned edge, its owner at core index `at`), clearing
/// each edge's bit in `sides` and recording in `points` the end of every edge after which the
/// direction changes or the boundary leaves the core, and in `saddles` every saddle vertex
/// passed. Returns the first edge the core does not own (the walk was a chain), or None when
/// the boundary came back to `start` (a ring).
fn walk(
    t: &MaskTile,
    sides: &mut [u8],
    slot: &impl Fn(Edge) -> Option<usize>,
    (start, mut at): (Edge, usize),
    points: &mut Vec<(i64, i64)>,
    saddles: &mut Vec<(i64, i64)>,
) -> Option<Edge> {
    let mut e = start;
    loop {
        sides[at] &= !(1 << e.d);
        let (n, at_saddle) = next_fast(t, e);
        if at_saddle {
            saddles.push(e.end());
        }
        let next_at = slot(n);
        if n.d != e.d || next_at.is_none() {
            points.push(e.end());
        }
        if n == start {
            return None;
        }
        match next_at {
            Some(j) => (e, at) = (n, j),
            None => return Some(n),
        }
    }
}

/// The predecessor of boundary edge `e`: the edge ending at its start vertex whose successor
/// ([`next`]) is `e`.
fn prev(t: &MaskTile, e: Edge) -> Edge {
    (0..4u8)
        .map(|d| {
            let (dx, dy) = step(d);
            Edge {
                x: e.x - dx,
                y: e.y - dy,
                d,
            }
        })
        .find(|&p| exists(t, p) && next(t, p) == e)
        .expect("a boundary edge always has a predecessor")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::grid::Window;

    fn whole(m: &[u8], w: usize, h: usize) -> MaskTile {
        MaskTile::from_mask(
            m,
            w,
            h,
            Window {
                x: 0,
                y: 0,
                width: w,
                height: h,
            },
        )
    }

    fn labels(t: &MaskTile) -> Labels {
        super::super::label::label_tile(t, t.core.width)
    }

    #[test]
    fn single_pixel_is_one_clockwise_square() {
        let t = whole(&[0, 0, 0, 0, 1, 0, 0, 0, 0], 3, 3);
        let r = trace_tile(&t, &labels(&t));
        assert!(r.chains.is_empty());
        assert_eq!(r.rings.len(), 1);
        let mut p = r.rings[0].1.points.clone();
        p.sort();
        assert_eq!(p, vec![(1, 1), (1, 2), (2, 1), (2, 2)]);
    }

    #[test]
    fn diagonal_pixels_give_two_rings_touching_at_a_corner() {
        let t = whole(&[1, 0, 0, 1], 2, 2);
        let r = trace_tile(&t, &labels(&t));
        assert_eq!(r.rings.len(), 2);
        assert!(
            r.rings
                .iter()
                .all(|(_, g)| g.points.len() == 4 && g.points.contains(&(1, 1)))
        );
    }

    #[test]
    fn split_tile_gives_chains() {
        let m = [1u8; 16];
        let t = MaskTile::from_mask(
            &m,
            4,
            4,
            Window {
                x: 0,
                y: 0,
                width: 2,
                height: 4,
            },
        );
        let r = trace_tile(&t, &labels(&t));
        assert!(r.rings.is_empty());
        assert_eq!(r.chains.len(), 1);
        let c = &r.chains[0];
        assert_eq!(c.points.first(), Some(&(2, 4)));
        assert_eq!(c.points.last(), Some(&(2, 0)));
    }
}
