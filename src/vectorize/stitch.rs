//! The streaming polygonizer: tiles go in row by row (each row traced in parallel), components
//! come out as soon as no later tile can touch them.
//!
//! Seams: local labels become global ids (tile index << 32 | label); 4- and 8-adjacency across
//! tile borders unite them in two union-finds; open chains are joined where one chain's next
//! edge is another chain's first. After each tile row, a component none of whose pixels lies
//! on the row's bottom edge is complete: its rings are assembled and it is handed out, and its
//! state is dropped. Memory is the tiles in flight plus the state of components crossing the
//! current seam.

use super::assemble::{PixelPolygon, TracedRing, Vertex, assemble};
use super::label::{EvidenceStats, LabelStats, Labels, label_tile};
use super::tile::MaskTile;
use super::trace::{Edge, trace_tile};
use rayon::prelude::*;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// Which pixels form one component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Connectivity {
    /// Pixels touching by a side or a corner (gdal_polygonize -8). Parts that touch only at a
    /// corner become separate polygons of one MultiPolygon.
    #[default]
    Eight,
    /// Pixels touching by a side.
    Four,
}

/// Options of the polygonizer.
#[derive(Clone, Copy, Debug, Default)]
pub struct PolygonizeOptions {
    pub connectivity: Connectivity,
    /// Components with fewer pixels are dropped (sieve).
    pub min_pixels: u64,
    /// Holes with fewer pixels are filled (0 keeps every hole).
    pub min_hole_px: i64,
}

/// One finished connected component.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    /// Simple polygons in pixel-corner coordinates (more than one when parts touch at corners).
    pub polygons: Vec<PixelPolygon>,
    pub pixels: u64,
    pub evidence: EvidenceStats,
    /// Smallest raster index of its pixels: a stable identity.
    pub first: u64,
}

impl PolygonizeOptions {
    /// Whether a component of these statistics is kept (it has pixels, at least `min_pixels`).
    fn keeps(&self, s: &LabelStats) -> bool {
        s.pixels > 0 && s.pixels >= self.min_pixels
    }
}

impl Component {
    /// The component of `rings` (each tagged with its 4-connected part) and `stats`.
    fn assembled(rings: Vec<(u64, TracedRing)>, stats: LabelStats, min_hole_px: i64) -> Self {
        Component {
            polygons: assemble(rings, min_hole_px),
            pixels: stats.pixels,
            evidence: stats.evidence,
            first: stats.first,
        }
    }
}

#[derive(Default)]
struct UnionFind {
    parent: HashMap<u64, u64>,
}

impl UnionFind {
    fn add(&mut self, a: u64) {
        self.parent.entry(a).or_insert(a);
    }
    fn find(&mut self, a: u64) -> u64 {
        let mut root = a;
        while let Some(&p) = self.parent.get(&root) {
            if p == root {
                break;
            }
            root = p;
        }
        let mut cur = a;
        while cur != root {
            let next = self.parent.insert(cur, root).unwrap_or(root);
            cur = next;
        }
        root
    }
    fn union(&mut self, a: u64, b: u64) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.parent.insert(hi, lo);
        }
    }
    fn remove(&mut self, a: u64) {
        self.parent.remove(&a);
    }
}

/// What one tile hands to the stitcher.
struct TileOut {
    id: u64,
    x0: usize,
    /// The labels that reach the core's border (by their tile component), with their stats.
    stats: Vec<(u32, LabelStats)>,
    /// The rings of those labels.
    rings: Vec<(u32, TracedRing)>,
    chains: Vec<super::trace::Chain>,
    top: Vec<u32>,
    bottom: Vec<u32>,
    left: Vec<u32>,
    right: Vec<u32>,
    /// Distinct local labels that touch only diagonally inside the tile (of those above).
    diagonal: Vec<(u32, u32)>,
    /// Components wholly inside the tile (no pixel on the core's border), finished here.
    complete: Vec<Component>,
}

/// Pairs of different labels that touch at a corner inside the tile (8- but not 4-adjacent).
/// Two foreground pixels touching at a corner carry different labels only when both pixels
/// of the other diagonal are background (either of them would join the two by sides), so
/// only pixels whose upper neighbour is background are looked at, from the flags.
fn diagonal_pairs(t: &MaskTile, labels: &Labels) -> Vec<(u32, u32)> {
    let (w, h) = (t.core.width, t.core.height);
    let (stride, fg) = (t.stride(), &t.fg);
    let mut pairs = Vec::new();
    for y in 1..h {
        // Flag index of the core pixel (0, y).
        let row = (y + 1) * stride + 1;
        let mut x = 0;
        while let Some(found) = super::tile::next_nonzero(&fg[row..row + w], x) {
            x = found;
            let i = row + x;
            if fg[i - stride] == 0 {
                let a = labels.at(x, y);
                if x > 0 && fg[i - stride - 1] == 1 && fg[i - 1] == 0 {
                    let b = labels.at(x - 1, y - 1);
                    pairs.push((a.min(b), a.max(b)));
                }
                if x + 1 < w && fg[i - stride + 1] == 1 && fg[i + 1] == 0 {
                    let b = labels.at(x + 1, y - 1);
                    pairs.push((a.min(b), a.max(b)));
                }
            }
            x += 1;
        }
    }
    pairs.retain(|(a, b)| a != b);
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

fn process_tile(t: &MaskTile, id: u64, scene_width: usize, opts: PolygonizeOptions) -> TileOut {
    let l = label_tile(t, scene_width);
    let traced = trace_tile(t, &l);
    let (w, h) = (t.core.width, t.core.height);
    let (top, bottom, left, right) = (l.row(0), l.row(h - 1), l.column(0), l.column(w - 1));
    let diagonal = diagonal_pairs(t, &l);
    // Each label's component inside the tile (its root label), and whether that component
    // reaches the core's border: only those can continue in another tile.
    let n = l.stats.len();
    let mut root: Vec<u32> = (0..=n as u32).collect();
    if opts.connectivity == Connectivity::Eight {
        let find = |root: &mut Vec<u32>, mut a: u32| {
            while root[a as usize] != a {
                let up = root[root[a as usize] as usize];
                root[a as usize] = up;
                a = up;
            }
            a
        };
        for &(a, b) in &diagonal {
            let (ra, rb) = (find(&mut root, a), find(&mut root, b));
            root[ra.max(rb) as usize] = ra.min(rb);
        }
        for a in 1..=n as u32 {
            root[a as usize] = find(&mut root, a);
        }
    }
    let mut border = vec![false; n + 1];
    for &a in top.iter().chain(&bottom).chain(&left).chain(&right) {
        border[root[a as usize] as usize] = true;
    }
    let open = |a: u32| border[root[a as usize] as usize];
    // Rings of components wholly inside the tile, by root, then label, in tracing order.
    let mut inside: Vec<(u32, u32, TracedRing)> = Vec::new();
    let mut rings = Vec::new();
    for (label, ring) in traced.rings {
        if open(label) {
            rings.push((label, ring));
        } else {
            inside.push((root[label as usize], label, ring));
        }
    }
    inside.sort_by_key(|&(c, label, _)| (c, label));
    let mut complete = Vec::new();
    let mut inside = inside.into_iter().peekable();
    while let Some(&(c, _, _)) = inside.peek() {
        let mut members = Vec::new();
        while let Some((_, label, ring)) = inside.next_if(|r| r.0 == c) {
            members.push((u64::from(label), ring));
        }
        // The labels of the component, in order (as the stitcher merges them).
        let mut stats = LabelStats::none();
        let mut last = 0;
        for &(label, _) in &members {
            if label != last {
                stats.merge(&l.stats[label as usize - 1]);
                last = label;
            }
        }
        if opts.keeps(&stats) {
            complete.push(Component::assembled(members, stats, opts.min_hole_px));
        }
    }
    TileOut {
        id,
        x0: t.core.x,
        rings,
        chains: traced.chains,
        top,
        bottom,
        left,
        right,
        // (With 8-connectivity both labels of a pair share a component; with 4, a pair with a
        // label finished here has nothing to unite.)
        diagonal: diagonal
            .into_iter()
            .filter(|&(a, b)| open(a) && open(b))
            .collect(),
        stats: (1..=n as u32)
            .filter(|&a| open(a))
            .map(|a| (a, l.stats[a as usize - 1]))
            .collect(),
        complete,
    }
}

struct OpenChain {
    start: Edge,
    then: Edge,
    label: u64,
    points: Vec<Vertex>,
    saddles: Vec<Vertex>,
}

#[derive(Default)]
struct Pending {
    stats: Option<LabelStats>,
    rings: Vec<TracedRing>,
}

/// The streaming polygonizer of a `width` x `height` mask cut into `tile_px` tiles.
pub struct Polygonizer {
    width: usize,
    tiles_per_row: usize,
    opts: PolygonizeOptions,
    row: usize,
    uf4: UnionFind,
    uf8: UnionFind,
    pending: HashMap<u64, Pending>,
    open: HashMap<Edge, OpenChain>,
    /// `then` edge of an open chain -> that chain's start edge.
    ends: HashMap<Edge, Edge>,
    /// Global labels of the last pixel row seen (0 = background), scene-wide.
    prev_bottom: Vec<u64>,
}

fn global(id: u64, local: u32) -> u64 {
    if local == 0 {
        0
    } else {
        (id << 32) | local as u64
    }
}

impl Polygonizer {
    /// A polygonizer for a mask `width` pixels wide, in tiles of `tile_px`.
    pub fn new(width: usize, tile_px: usize, opts: PolygonizeOptions) -> Self {
        Polygonizer {
            width,
            tiles_per_row: width.div_ceil(tile_px.max(1)),
            opts,
            row: 0,
            uf4: UnionFind::default(),
            uf8: UnionFind::default(),
            pending: HashMap::default(),
            open: HashMap::default(),
            ends: HashMap::default(),
            prev_bottom: vec![0; width],
        }
    }

    /// Feed one row of tiles (left to right, each with its one-pixel halo); returns the
    /// components that are complete. `last` marks the bottom row of the scene.
    pub fn push_row(&mut self, tiles: &[MaskTile], last: bool) -> Vec<Component> {
        let base = (self.row * self.tiles_per_row) as u64;
        let outs: Vec<TileOut> = tiles
            .par_iter()
            .enumerate()
            .map(|(c, t)| process_tile(t, base + c as u64, self.width, self.opts))
            .collect();
        let mut bottom = vec![0u64; self.width];
        let mut prev_right: Vec<u64> = Vec::new();
        for o in &outs {
            self.absorb(o, &prev_right);
            prev_right = o.right.iter().map(|&l| global(o.id, l)).collect();
            for (x, &l) in o.bottom.iter().enumerate() {
                bottom[o.x0 + x] = global(o.id, l);
            }
        }
        let mut complete = Vec::new();
        for mut o in outs {
            complete.append(&mut o.complete);
            self.add_chains(o);
        }
        self.prev_bottom = bottom;
        self.row += 1;
        let alive: HashSet<u64> = if last {
            HashSet::default()
        } else {
            let labels: Vec<u64> = self
                .prev_bottom
                .iter()
                .copied()
                .filter(|&l| l != 0)
                .collect();
            labels.into_iter().map(|l| self.root(l)).collect()
        };
        let mut out = self.emit(&alive);
        out.append(&mut complete);
        out.sort_by_key(|c| c.first);
        out
    }

    fn root(&mut self, l: u64) -> u64 {
        match self.opts.connectivity {
            Connectivity::Eight => self.uf8.find(l),
            Connectivity::Four => self.uf4.find(l),
        }
    }

    /// Register a tile's labels and unite them with the tiles above and to the left.
    fn absorb(&mut self, o: &TileOut, prev_right: &[u64]) {
        for &(l, s) in &o.stats {
            let g = global(o.id, l);
            self.uf4.add(g);
            self.uf8.add(g);
            self.pending.entry(g).or_default().stats = Some(s);
        }
        for &(a, b) in &o.diagonal {
            self.uf8.union(global(o.id, a), global(o.id, b));
        }
        let mut side = |a: u64, b: u64, diagonal: bool| {
            if a == 0 || b == 0 {
                return;
            }
            if !diagonal {
                self.uf4.union(a, b);
            }
            self.uf8.union(a, b);
        };
        for (x, &l) in o.top.iter().enumerate() {
            let g = global(o.id, l);
            let gx = o.x0 + x;
            side(g, self.prev_bottom[gx], false);
            if gx > 0 {
                side(g, self.prev_bottom[gx - 1], true);
            }
            if gx + 1 < self.width {
                side(g, self.prev_bottom[gx + 1], true);
            }
        }
        if !prev_right.is_empty() {
            for (y, &l) in o.left.iter().enumerate() {
                let g = global(o.id, l);
                side(g, prev_right[y], false);
                if y > 0 {
                    side(g, prev_right[y - 1], true);
                }
                if y + 1 < prev_right.len() {
                    side(g, prev_right[y + 1], true);
                }
            }
        }
    }

    fn add_chains(&mut self, o: TileOut) {
        for (l, ring) in o.rings {
            self.pending
                .entry(global(o.id, l))
                .or_default()
                .rings
                .push(ring);
        }
        for c in o.chains {
            let chain = OpenChain {
                start: c.start,
                then: c.then,
                label: global(o.id, c.label),
                points: c.points,
                saddles: c.saddles,
            };
            self.join(chain);
        }
    }

    /// Add a chain, joining it with open chains before and after it; closed rings go to their
    /// component.
    fn join(&mut self, mut cur: OpenChain) {
        // A chain that ends where this one starts takes it on.
        if let Some(prev_start) = self.ends.remove(&cur.start) {
            let mut prev = self.open.remove(&prev_start).expect("ends and open agree");
            prev.points.extend_from_slice(&cur.points[1..]);
            prev.saddles.extend_from_slice(&cur.saddles);
            prev.then = cur.then;
            cur = prev;
        }
        // Then follow on with chains that start where it ends, until it closes or stops.
        loop {
            if cur.then == cur.start {
                let mut points = cur.points;
                points.pop();
                self.pending
                    .entry(cur.label)
                    .or_default()
                    .rings
                    .push(TracedRing {
                        points,
                        saddles: cur.saddles,
                    });
                return;
            }
            match self.open.remove(&cur.then) {
                Some(next) => {
                    self.ends.remove(&next.then);
                    cur.points.extend_from_slice(&next.points[1..]);
                    cur.saddles.extend_from_slice(&next.saddles);
                    cur.then = next.then;
                }
                None => break,
            }
        }
        self.ends.insert(cur.then, cur.start);
        self.open.insert(cur.start, cur);
    }

    /// Hand out every component whose root is not in `alive`.
    fn emit(&mut self, alive: &HashSet<u64>) -> Vec<Component> {
        let labels: Vec<u64> = self.pending.keys().copied().collect();
        let mut groups: HashMap<u64, Vec<u64>> = HashMap::default();
        for l in labels {
            let r = self.root(l);
            if !alive.contains(&r) {
                groups.entry(r).or_default().push(l);
            }
        }
        // Collect each finished component's rings and statistics (sequential: union-find and
        // maps), then assemble the polygons in parallel.
        let mut finished = Vec::new();
        for (_, mut members) in groups {
            members.sort_unstable();
            let mut rings = Vec::new();
            let mut stats = LabelStats::none();
            for &l in &members {
                let p = self.pending.remove(&l).unwrap_or_default();
                if let Some(s) = p.stats {
                    stats.merge(&s);
                }
                let part = self.uf4.find(l);
                rings.extend(p.rings.into_iter().map(|r| (part, r)));
            }
            for &l in &members {
                self.uf4.remove(l);
                self.uf8.remove(l);
            }
            if self.opts.keeps(&stats) {
                finished.push((rings, stats));
            }
        }
        let min_hole_px = self.opts.min_hole_px;
        let mut out: Vec<Component> = finished
            .into_par_iter()
            .map(|(rings, stats)| Component::assembled(rings, stats, min_hole_px))
            .collect();
        out.sort_by_key(|c| c.first);
        out
    }
}

/// Polygonize an in-memory 0/1 mask (tests, small rasters) with `tile_px` tiles.
pub fn polygonize_mask(
    mask: &[u8],
    width: usize,
    height: usize,
    tile_px: usize,
    opts: PolygonizeOptions,
) -> Vec<Component> {
    let grid = crate::raster::grid::TileGrid::new(width, height, tile_px, 0);
    let (cols, rows) = grid.dims();
    let mut p = Polygonizer::new(width, tile_px, opts);
    let mut out = Vec::new();
    for r in 0..rows {
        let tiles: Vec<MaskTile> = (0..cols)
            .map(|c| MaskTile::from_mask(mask, width, height, grid.tile(c, r).core))
            .collect();
        out.extend(p.push_row(&tiles, r + 1 == rows));
    }
    out.sort_by_key(|c| c.first);
    out
}
