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

/// [`next`] from the 2x2 block of flags around the end vertex, four lookups in all.
#[inline]
fn next_fast(t: &MaskTile, e: Edge) -> Edge {
    let (x, y) = e.end();
    let stride = t.stride();
    // Flag index of pixel (x - 1, y - 1), the north-west one of the block.
    let nw = (y - t.core.y as i64) as usize * stride + (x - t.core.x as i64) as usize;
    let (pnw, pne) = (t.fg[nw] == 1, t.fg[nw + 1] == 1);
    let (psw, pse) = (t.fg[nw + stride] == 1, t.fg[nw + stride + 1] == 1);
    let exists = [pse && !pne, psw && !pse, pnw && !psw, pne && !pnw];
    for d in [(e.d + 1) & 3, e.d, (e.d + 3) & 3] {
        if exists[d as usize] {
            return Edge { x, y, d };
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
}

/// A ring closed inside the tile.
#[derive(Clone, Debug, PartialEq)]
pub struct Ring {
    pub label: u32,
    /// The vertices where the direction changes, in order (not repeated at the end).
    pub points: Vec<(i64, i64)>,
}

/// What a tile contributes.
#[derive(Clone, Debug, Default)]
pub struct Traced {
    pub rings: Vec<Ring>,
    pub chains: Vec<Chain>,
}

/// Trace every boundary edge owned by the tile's core. `labels` are the core's local labels.
///
/// Edges are kept sparse, listed in raster order; a pixel's first edge index and side mask find
/// any edge again in constant time.
pub fn trace_tile(t: &MaskTile, labels: &[u32]) -> Traced {
    let (w, h) = (t.core.width, t.core.height);
    let (x0, y0) = (t.core.x as i64, t.core.y as i64);
    let key_of = |e: Edge| -> Option<u32> {
        let (px, py) = e.owner();
        t.owns(px, py)
            .then(|| ((((py - y0) as usize * w) + (px - x0) as usize) * 4 + e.d as usize) as u32)
    };
    let mut keys: Vec<u32> = Vec::new();
    let mut edges: Vec<Edge> = Vec::new();
    // Per core pixel: the index of its first edge and the bit mask of its edge sides, so an
    // edge is found again in O(1) (a byte and a word per pixel, far less than one slot per side).
    let mut first = vec![0u32; w * h];
    let mut sides = vec![0u8; w * h];
    let stride = t.stride();
    let fg = &t.fg;
    // Direct scan of the flag raster: a pixel has an edge on each side whose neighbour is
    // background (halo included, so the tile edge is handled like any other).
    for py in 0..h {
        let row = (py + 1) * stride;
        // The core of this row, in flag indices; jump over runs of background.
        let core_row = &fg[row + 1..row + 1 + w];
        let mut px = 0;
        while let Some(found) = super::tile::next_nonzero(core_row, px) {
            px = found;
            let i = row + px + 1;
            let bg = [
                fg[i - stride] == 0,
                fg[i + 1] == 0,
                fg[i + stride] == 0,
                fg[i - 1] == 0,
            ];
            if bg[0] || bg[1] || bg[2] || bg[3] {
                let (gx, gy) = (x0 + px as i64, y0 + py as i64);
                first[py * w + px] = keys.len() as u32;
                sides[py * w + px] = bg
                    .iter()
                    .enumerate()
                    .fold(0u8, |m, (d, &b)| m | (u8::from(b) << d));
                for d in 0..4u8 {
                    if bg[d as usize] {
                        keys.push(((py * w + px) * 4) as u32 + d as u32);
                        edges.push(Edge::of_pixel(gx, gy, d));
                    }
                }
            }
            px += 1;
        }
    }
    const END: u32 = u32::MAX;
    let n = edges.len();
    let mut succ = vec![END; n];
    let mut has_pred = vec![false; n];
    for i in 0..n {
        if let Some(k) = key_of(next_fast(t, edges[i])) {
            let (p, d) = (k as usize / 4, k % 4);
            debug_assert!(
                sides[p] & (1 << d) != 0,
                "a successor inside the tile is a listed edge"
            );
            let j = first[p] as usize + (sides[p] & ((1u8 << d) - 1)).count_ones() as usize;
            succ[i] = j as u32;
            has_pred[j] = true;
        }
    }
    let label_of = |i: usize| labels[keys[i] as usize / 4];
    let mut visited = vec![false; n];
    let mut out = Traced::default();
    // Open chains: from each edge whose predecessor is owned by another tile.
    for i in 0..n {
        if has_pred[i] {
            continue;
        }
        let start = edges[i];
        let mut points = vec![(start.x, start.y)];
        let mut cur = i;
        loop {
            visited[cur] = true;
            let e = edges[cur];
            let j = succ[cur];
            if j == END {
                points.push(e.end());
                out.chains.push(Chain {
                    start,
                    then: next(t, e),
                    label: label_of(i),
                    points,
                });
                break;
            }
            if edges[j as usize].d != e.d {
                points.push(e.end());
            }
            cur = j as usize;
        }
    }
    // Closed rings: what is left forms cycles.
    for i in 0..n {
        if visited[i] {
            continue;
        }
        let mut points = Vec::new();
        let mut cur = i;
        loop {
            visited[cur] = true;
            let e = edges[cur];
            let j = succ[cur] as usize;
            if edges[j].d != e.d {
                points.push(e.end());
            }
            cur = j;
            if cur == i {
                break;
            }
        }
        out.rings.push(Ring {
            label: label_of(i),
            points,
        });
    }
    out
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

    fn labels(t: &MaskTile) -> Vec<u32> {
        super::super::label::label_tile(t, t.core.width).labels
    }

    #[test]
    fn single_pixel_is_one_clockwise_square() {
        let t = whole(&[0, 0, 0, 0, 1, 0, 0, 0, 0], 3, 3);
        let r = trace_tile(&t, &labels(&t));
        assert!(r.chains.is_empty());
        assert_eq!(r.rings.len(), 1);
        let mut p = r.rings[0].points.clone();
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
                .all(|g| g.points.len() == 4 && g.points.contains(&(1, 1)))
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
