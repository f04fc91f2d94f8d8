//! Lines of different directions that touch, told apart: a new road that crosses a new railway
//! is traced as one component with the railway, and typed as one thing. Here every pixel of a
//! linear component takes the direction of the longest straight run through it (16 directions,
//! every 11.25°); side-touching pixels whose directions differ by at most one step belong to
//! the same line, so a curving road stays whole while a crossing line, more than a step off,
//! does not. Pieces too small or too little line-like to stand alone rejoin the neighbour they
//! share the longest border with.
//!
//! Works on a component's own mask (a window around it); the caller bounds its size.

use crate::vectorize::label::find;
use rustc_hash::FxHashMap as HashMap;
use serde::Deserialize;

/// Directions of the runs, evenly over 180°.
pub const DIRECTIONS: usize = 16;
/// No direction: outside the mask.
const NONE: u8 = u8::MAX;
/// More pieces than this after the small ones rejoined: the labels are noise, not lines.
const MAX_PIECES: usize = 64;

/// When and how components are split (`[classify.split]`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitConf {
    /// Split at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Only components at least this linear (area / mean width², ~10 for a square) are tried.
    #[serde(default = "default_min_slender")]
    pub min_slender: f64,
    /// A piece smaller than this (m²) rejoins its neighbour.
    #[serde(default = "default_part_m2")]
    pub part_m2: f64,
    /// A piece less linear than this (length² / area along its own direction) rejoins its
    /// neighbour: a branch must itself be a line.
    #[serde(default = "default_part_slender")]
    pub part_slender: f64,
    /// Lines whose directions differ by more than this (degrees) are told apart.
    #[serde(default = "default_max_turn_deg")]
    pub max_turn_deg: f64,
}

fn yes() -> bool {
    true
}
fn default_min_slender() -> f64 {
    15.0
}
fn default_part_m2() -> f64 {
    1000.0
}
fn default_part_slender() -> f64 {
    8.0
}
fn default_max_turn_deg() -> f64 {
    20.0
}

impl Default for SplitConf {
    fn default() -> Self {
        SplitConf {
            enabled: true,
            min_slender: default_min_slender(),
            part_m2: default_part_m2(),
            part_slender: default_part_slender(),
            max_turn_deg: default_max_turn_deg(),
        }
    }
}

impl SplitConf {
    /// Check the values.
    ///
    /// # Errors
    /// A message naming the value.
    pub fn check(&self) -> Result<(), String> {
        for (name, v) in [
            ("min_slender", self.min_slender),
            ("part_m2", self.part_m2),
            ("part_slender", self.part_slender),
            ("max_turn_deg", self.max_turn_deg),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!(
                    "classify.split.{name} {v}: must be a non-negative number"
                ));
            }
        }
        if self.max_turn_deg > 90.0 {
            return Err(format!(
                "classify.split.max_turn_deg {}: at most 90 (directions are modulo 180 degrees)",
                self.max_turn_deg
            ));
        }
        Ok(())
    }
}

/// The digital line of direction `k` over `len` steps: whether it is x-major (one pixel along
/// x per step), the cross offsets `off[i]` (`off[i] - off[i - 1]` is 0 or ±1), the length of a
/// step, and whether the cross offset falls (an x-major line climbing towards smaller y).
fn line(k: usize, len: usize) -> (bool, Vec<i64>, f32, bool) {
    let a = k as f64 * std::f64::consts::PI / DIRECTIONS as f64;
    let (c, s) = (a.cos(), a.sin());
    let x_major = c.abs() >= s.abs();
    let t = if x_major { s / c } else { c / s };
    let off = (0..len).map(|i| (i as f64 * t).round() as i64).collect();
    (
        x_major,
        off,
        (1.0 + t * t).sqrt() as f32,
        x_major && t < 0.0,
    )
}

/// The next (`forward`) or previous pixel of `(x, y)` on its digital line (see [`line`]):
/// `(x ± 1, y ± dy)` for x-major lines, `(x ± dx, y ± 1)` for y-major ones; None outside the
/// `w` x `h` window.
fn neighbour(
    x_major: bool,
    off: &[i64],
    (w, h): (usize, usize),
    (x, y): (usize, usize),
    forward: bool,
) -> Option<usize> {
    let (along, across) = if x_major { (x, y) } else { (y, x) };
    let (a, d) = if forward {
        let a1 = along + 1;
        (a1 as i64, off.get(a1).map_or(0, |o| o - off[along]))
    } else {
        (along as i64 - 1, -(off[along] - off[along.max(1) - 1]))
    };
    let c = across as i64 + d;
    let (nx, ny) = if x_major { (a, c) } else { (c, a) };
    (nx >= 0 && ny >= 0 && (nx as usize) < w && (ny as usize) < h)
        .then(|| ny as usize * w + nx as usize)
}

/// For every mask pixel, the direction (0..[`DIRECTIONS`]) of the longest straight run of
/// mask pixels through it, and that run's length in pixels; [`NONE`] and 0 outside.
///
/// Each direction is two sweeps over the mask pixels (only those: a diagonal road's window is
/// mostly empty) in an order where a pixel's predecessor on its digital line is already done
/// (forward run lengths), then the reverse (backward ones). The directions run in parallel;
/// of equal runs the lowest direction wins, as in a sequential sweep.
pub fn directions(mask: &[u8], w: usize, h: usize) -> (Vec<u8>, Vec<f32>) {
    use rayon::prelude::*;
    let n = w * h;
    let pixels: Vec<u32> = (0..n as u32).filter(|&i| mask[i as usize] != 0).collect();
    // Where each row's pixels start in `pixels`.
    let mut row_start = vec![0usize; h + 1];
    for &i in &pixels {
        row_start[i as usize / w + 1] += 1;
    }
    for y in 0..h {
        row_start[y + 1] += row_start[y];
    }
    let m = pixels.len();
    let better = |(la, ka): (f32, u8), (lb, kb): (f32, u8)| lb > la || (lb == la && kb < ka);
    // One fold per thread: each holds run-length planes the size of the window.
    let per_thread = DIRECTIONS.div_ceil(rayon::current_num_threads().max(1));
    let (best, dir) = (0..DIRECTIONS)
        .into_par_iter()
        .with_min_len(per_thread)
        .fold(
            || (vec![0.0f32; m], vec![NONE; m], vec![0u32; n], vec![0u32; n]),
            |(mut best, mut dir, mut fwd, mut bwd), k| {
                let (x_major, off, step, climbing) = line(k, w.max(h) + 1);
                let pred = |x: usize, y: usize| neighbour(x_major, &off, (w, h), (x, y), false);
                // Lines that climb need the row below done first; within a row, left first.
                let rows: Vec<usize> = if climbing {
                    (0..h).rev().collect()
                } else {
                    (0..h).collect()
                };
                for &y in &rows {
                    for &i in &pixels[row_start[y]..row_start[y + 1]] {
                        let x = i as usize % w;
                        fwd[i as usize] = 1 + pred(x, y).map_or(0, |p| fwd[p]);
                    }
                }
                let succ = |x: usize, y: usize| neighbour(x_major, &off, (w, h), (x, y), true);
                for &y in rows.iter().rev() {
                    for j in (row_start[y]..row_start[y + 1]).rev() {
                        let i = pixels[j] as usize;
                        let b = 1 + succ(i % w, y).map_or(0, |s| bwd[s]);
                        bwd[i] = b;
                        let len = (fwd[i] + b - 1) as f32 * step;
                        if better((best[j], dir[j]), (len, k as u8)) {
                            best[j] = len;
                            dir[j] = k as u8;
                        }
                    }
                }
                (best, dir, fwd, bwd)
            },
        )
        .map(|(best, dir, _, _)| (best, dir))
        .reduce(
            || (vec![0.0f32; m], vec![NONE; m]),
            |(mut best, mut dir), (b2, d2)| {
                for j in 0..m {
                    if better((best[j], dir[j]), (b2[j], d2[j])) {
                        best[j] = b2[j];
                        dir[j] = d2[j];
                    }
                }
                (best, dir)
            },
        );
    let (mut full_dir, mut full_best) = (vec![NONE; n], vec![0.0f32; n]);
    for (j, &i) in pixels.iter().enumerate() {
        full_dir[i as usize] = dir[j];
        full_best[i as usize] = best[j];
    }
    (full_dir, full_best)
}

/// Pieces of a window: per pixel the piece (1..=n, 0 outside) and the count n.
#[derive(Clone, Debug, PartialEq)]
pub struct Pieces {
    pub labels: Vec<u32>,
    pub count: u32,
}

impl Pieces {
    /// Pairs of pieces that touch by a side, each once.
    pub fn touching(&self, w: usize) -> Vec<(u32, u32)> {
        let mut pairs: Vec<(u32, u32)> = borders(&self.labels, w).into_keys().collect();
        pairs.sort_unstable();
        pairs
    }
}

/// Shared border length of every pair of different labels (> 0) that touch: pixel sides, and
/// corners (pixels of an 8-connected component may touch only there), each counting one.
fn borders(labels: &[u32], w: usize) -> HashMap<(u32, u32), u32> {
    let mut b: HashMap<(u32, u32), u32> = HashMap::default();
    let mut add = |a: u32, c: u32| {
        if a != 0 && c != 0 && a != c {
            *b.entry((a.min(c), a.max(c))).or_default() += 1;
        }
    };
    for (i, &a) in labels.iter().enumerate() {
        let x = i % w;
        if x + 1 < w {
            add(a, labels[i + 1]);
        }
        if let Some(&c) = labels.get(i + w) {
            add(a, c);
        }
        if x + 1 < w
            && let Some(&c) = labels.get(i + w + 1)
        {
            add(a, c);
        }
        if x > 0
            && let Some(&c) = labels.get(i + w - 1)
        {
            add(a, c);
        }
    }
    b
}

/// Regions of a window as they are merged: label forwarding, pixel counts, the sum of each
/// region's doubled-angle direction vectors (a mean direction modulo 180°), and the shared
/// border lengths between live regions.
struct Regions {
    into: Vec<u32>,
    area: Vec<u64>,
    axis: Vec<(f64, f64)>,
    adj: Vec<HashMap<u32, u32>>,
    alive: usize,
}

impl Regions {
    fn resolve(&self, mut l: u32) -> u32 {
        while self.into[l as usize] != l {
            l = self.into[l as usize];
        }
        l
    }

    /// Merge region `a` into `b`.
    fn merge(&mut self, a: u32, b: u32) {
        let na = std::mem::take(&mut self.adj[a as usize]);
        for (m, c) in na {
            self.adj[m as usize].remove(&a);
            if m != b {
                *self.adj[m as usize].entry(b).or_default() += c;
                *self.adj[b as usize].entry(m).or_default() += c;
            }
        }
        self.area[b as usize] += self.area[a as usize];
        self.area[a as usize] = 0;
        let (ax, ay) = self.axis[a as usize];
        self.axis[b as usize].0 += ax;
        self.axis[b as usize].1 += ay;
        self.into[a as usize] = b;
        self.alive -= 1;
    }

    /// The neighbour `a` shares the longest border with (the lower label on a tie).
    fn closest(&self, a: u32) -> Option<u32> {
        self.adj[a as usize]
            .iter()
            .max_by_key(|(m, c)| (**c, std::cmp::Reverse(**m)))
            .map(|(m, _)| *m)
    }

    /// Angle between the mean directions of two regions, radians in [0, pi/2].
    fn turn(&self, a: u32, b: u32) -> f64 {
        let angle = |l: u32| {
            let (x, y) = self.axis[l as usize];
            y.atan2(x) / 2.0
        };
        let d = (angle(a) - angle(b)).abs() % std::f64::consts::PI;
        d.min(std::f64::consts::PI - d)
    }
}

/// Regions under this many pixels are noise of the direction field (a pixel or two where a
/// digital line happens to run longer): they join the neighbour they share the most border
/// with whatever its direction.
const NOISE_PX: u64 = 32;

/// Split a component's mask (`w` x `h`, 1 inside) into lines of different directions: None
/// when it stays one piece. Pixels of one direction form regions; touching regions merge,
/// longest shared border first, while their mean directions are at most `max_turn` (radians)
/// apart, so a line whose pixels alternate between two neighbouring directions is one, and a
/// line crossing it at a wider angle is another. Then pieces under `min_px` pixels join the
/// neighbour they share the most border with; touching pieces less linear than `part_slender`
/// (length² / area along their own direction) form one blob, which stands alone from
/// `min_px` up and joins its neighbour under it.
pub fn split(
    mask: &[u8],
    w: usize,
    h: usize,
    min_px: u64,
    part_slender: f64,
    max_turn: f64,
) -> Option<Pieces> {
    let (dir, _) = directions(mask, w, h);
    // Side-touching pixels of the same direction: one region.
    let n = w * h;
    let mut parent: Vec<u32> = (0..n as u32).collect();
    for i in 0..n {
        if dir[i] == NONE {
            continue;
        }
        for j in [i + 1, i + w] {
            let beside = if j == i + 1 { i % w + 1 < w } else { j < n };
            if beside && dir[j] == dir[i] {
                let (a, b) = (find(&mut parent, i as u32), find(&mut parent, j as u32));
                if a != b {
                    parent[a.max(b) as usize] = a.min(b);
                }
            }
        }
    }
    let mut id: HashMap<u32, u32> = HashMap::default();
    let mut labels = vec![0u32; n];
    for i in 0..n {
        if dir[i] != NONE {
            let root = find(&mut parent, i as u32);
            let next = id.len() as u32 + 1;
            labels[i] = *id.entry(root).or_insert(next);
        }
    }
    drop(parent);
    let count = id.len();
    if count < 2 {
        return None;
    }
    let mut r = Regions {
        into: (0..=count as u32).collect(),
        area: vec![0; count + 1],
        axis: vec![(0.0, 0.0); count + 1],
        adj: vec![HashMap::default(); count + 1],
        alive: count,
    };
    for (i, &l) in labels.iter().enumerate() {
        if l != 0 {
            let a = 2.0 * dir[i] as f64 * std::f64::consts::PI / DIRECTIONS as f64;
            r.area[l as usize] += 1;
            r.axis[l as usize].0 += a.cos();
            r.axis[l as usize].1 += a.sin();
        }
    }
    for ((a, b), c) in borders(&labels, w) {
        r.adj[a as usize].insert(b, c);
        r.adj[b as usize].insert(a, c);
    }
    // Noise first, smallest first.
    by_size(&mut r, NOISE_PX);
    // Then lines: the longest shared border first, while the directions agree.
    let mut heap: std::collections::BinaryHeap<(u32, std::cmp::Reverse<(u32, u32)>)> = r
        .adj
        .iter()
        .enumerate()
        .flat_map(|(a, m)| {
            m.iter()
                .filter(move |(b, _)| a < **b as usize)
                .map(move |(b, c)| (*c, std::cmp::Reverse((a as u32, *b))))
        })
        .collect();
    while let Some((c, std::cmp::Reverse((a, b)))) = heap.pop() {
        if r.resolve(a) != a || r.resolve(b) != b || r.adj[a as usize].get(&b) != Some(&c) {
            continue; // merged away, or its border grew since it was queued
        }
        if r.turn(a, b) > max_turn {
            continue;
        }
        let (small, big) = if r.area[a as usize] < r.area[b as usize] {
            (a, b)
        } else {
            (b, a)
        };
        r.merge(small, big);
        for (&m, &c) in &r.adj[big as usize] {
            heap.push((c, std::cmp::Reverse((big.min(m), big.max(m)))));
        }
    }
    by_size(&mut r, min_px);
    if r.alive > MAX_PIECES {
        return None;
    }
    // Pieces that are not lines: touching ones form one blob (the wedges of a yard or a
    // building beside a road); a blob of at least `min_px` stands alone, a smaller one (the
    // scrap where two lines cross) joins the neighbour it shares the most border with.
    loop {
        if r.alive < 2 {
            return None;
        }
        let s = slenderness(&labels, &dir, w, |l| r.resolve(l));
        let weak = |l: u32| s.get(&l).is_some_and(|v| *v < part_slender);
        let pair = s
            .keys()
            .filter(|&&l| weak(l))
            .flat_map(|&l| {
                r.adj[l as usize]
                    .iter()
                    .filter(|(m, _)| weak(**m))
                    .map(move |(m, c)| (*c, l.min(*m), l.max(*m)))
            })
            .max_by_key(|&(c, a, b)| (c, std::cmp::Reverse((a, b))));
        if let Some((_, a, b)) = pair {
            let (small, big) = if r.area[a as usize] < r.area[b as usize] {
                (a, b)
            } else {
                (b, a)
            };
            r.merge(small, big);
            continue;
        }
        let scrap = s
            .keys()
            .filter(|&&l| weak(l) && r.area[l as usize] < min_px)
            .min_by_key(|&&l| (r.area[l as usize], l));
        let Some(&l) = scrap else { break };
        let Some(b) = r.closest(l) else { break };
        r.merge(l, b);
    }
    // Dense labels 1..=alive.
    let mut dense: HashMap<u32, u32> = HashMap::default();
    for l in labels.iter_mut() {
        if *l != 0 {
            let root = r.resolve(*l);
            let next = dense.len() as u32 + 1;
            *l = *dense.entry(root).or_insert(next);
        }
    }
    let count = dense.len() as u32;
    (count >= 2).then_some(Pieces { labels, count })
}

/// Merge every region under `min_px` pixels into the neighbour it shares the longest border
/// with, smallest first.
fn by_size(r: &mut Regions, min_px: u64) {
    let mut heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u32)>> = (1..r.area.len())
        .filter(|&l| r.resolve(l as u32) == l as u32 && r.area[l] < min_px)
        .map(|l| std::cmp::Reverse((r.area[l], l as u32)))
        .collect();
    while let Some(std::cmp::Reverse((px, l))) = heap.pop() {
        if r.alive < 2 {
            break;
        }
        if r.resolve(l) != l || r.area[l as usize] != px {
            continue; // merged away, or grew since it was queued
        }
        let Some(b) = r.closest(l) else { continue };
        r.merge(l, b);
        if r.area[b as usize] < min_px {
            heap.push(std::cmp::Reverse((r.area[b as usize], b)));
        }
    }
}

/// Linearity of every live piece: its extent along its commonest direction, squared, over its
/// area (a strip of length L and width W: L / W).
fn slenderness(
    labels: &[u32],
    dir: &[u8],
    w: usize,
    piece: impl Fn(u32) -> u32,
) -> HashMap<u32, f64> {
    let mut hist: HashMap<u32, [u64; DIRECTIONS]> = HashMap::default();
    for (i, &l) in labels.iter().enumerate() {
        if l != 0 {
            hist.entry(piece(l)).or_insert([0; DIRECTIONS])[dir[i] as usize] += 1;
        }
    }
    let axis: HashMap<u32, (f64, f64)> = hist
        .iter()
        .map(|(&p, hst)| {
            let k = (0..DIRECTIONS).max_by_key(|&k| hst[k]).unwrap_or(0);
            let a = k as f64 * std::f64::consts::PI / DIRECTIONS as f64;
            (p, (a.cos(), a.sin()))
        })
        .collect();
    let mut span: HashMap<u32, (f64, f64, u64)> = HashMap::default();
    for (i, &l) in labels.iter().enumerate() {
        if l != 0 {
            let p = piece(l);
            let (c, s) = axis[&p];
            let t = (i % w) as f64 * c + (i / w) as f64 * s;
            let e = span
                .entry(p)
                .or_insert((f64::INFINITY, f64::NEG_INFINITY, 0));
            e.0 = e.0.min(t);
            e.1 = e.1.max(t);
            e.2 += 1;
        }
    }
    span.into_iter()
        .map(|(p, (lo, hi, n))| {
            let len = hi - lo + 1.0;
            (p, len * len / n as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The oracle: every mask pixel walks its line both ways in every direction.
    fn directions_walked(mask: &[u8], w: usize, h: usize) -> (Vec<u8>, Vec<f32>) {
        let (mut dir, mut best) = (vec![NONE; w * h], vec![0.0f32; w * h]);
        for k in 0..DIRECTIONS {
            let (x_major, off, step, _) = line(k, w.max(h) + 1);
            for i in (0..w * h).filter(|&i| mask[i] != 0) {
                let mut run = 1;
                for forward in [false, true] {
                    let mut at = i;
                    while let Some(j) = neighbour(x_major, &off, (w, h), (at % w, at / w), forward)
                    {
                        if mask[j] == 0 {
                            break;
                        }
                        run += 1;
                        at = j;
                    }
                }
                let len = run as f32 * step;
                if len > best[i] {
                    (best[i], dir[i]) = (len, k as u8);
                }
            }
        }
        (dir, best)
    }

    const TURN: f64 = 20.0 * std::f64::consts::PI / 180.0;

    /// A segment from one point to another and its half-width.
    type Segment = ((f64, f64), (f64, f64), f64);

    /// A mask with thick segments drawn (round caps).
    fn draw(w: usize, h: usize, lines: &[Segment]) -> Vec<u8> {
        let mut m = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                for &((x0, y0), (x1, y1), r) in lines {
                    let (dx, dy) = (x1 - x0, y1 - y0);
                    let t =
                        (((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
                    let (qx, qy) = (x0 + t * dx - px, y0 + t * dy - py);
                    if qx * qx + qy * qy <= r * r {
                        m[y * w + x] = 1;
                    }
                }
            }
        }
        m
    }

    #[test]
    fn sparse_parallel_directions_equal_the_walked_lines() {
        // Random blobs and lines of every slope, in windows of odd shapes: same bytes.
        let mut seed = 7u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (w, h) in [(1, 1), (1, 30), (30, 1), (37, 23), (64, 64), (101, 47)] {
            for density in [2u64, 5, 50] {
                let m: Vec<u8> = (0..w * h)
                    .map(|_| u8::from(rnd() % 100 < density))
                    .collect();
                assert_eq!(
                    directions(&m, w, h),
                    directions_walked(&m, w, h),
                    "{w}x{h} {density}%"
                );
            }
            let lines: Vec<_> = (0..4)
                .map(|_| {
                    let mut p = |m: usize| (rnd() % m as u64) as f64;
                    ((p(w), p(h)), (p(w), p(h)), 0.5 + p(3))
                })
                .collect();
            let m = draw(w, h, &lines);
            assert_eq!(
                directions(&m, w, h),
                directions_walked(&m, w, h),
                "{w}x{h} lines"
            );
        }
    }

    #[test]
    fn runs_follow_the_line() {
        // A horizontal bar 40 x 3: every pixel's longest run is the bar, direction 0.
        let (w, h) = (50, 9);
        let mut m = vec![0u8; w * h];
        for y in 3..6 {
            m[y * w + 5..y * w + 45].fill(1);
        }
        let (dir, len) = directions(&m, w, h);
        for i in 0..w * h {
            if m[i] == 1 {
                assert_eq!((dir[i], len[i]), (0, 40.0), "pixel {i}");
            } else {
                assert_eq!(dir[i], NONE);
            }
        }
        // A vertical bar: direction 8 (90°); a diagonal one: 4 (45°), runs of sqrt(2) per step.
        let m = draw(40, 40, &[((20.0, 2.0), (20.0, 38.0), 1.5)]);
        let (dir, _) = directions(&m, 40, 40);
        assert!(m.iter().zip(&dir).all(|(&v, &d)| v == 0 || d == 8));
        let m = draw(40, 40, &[((2.0, 2.0), (38.0, 38.0), 1.5)]);
        let (dir, len) = directions(&m, 40, 40);
        let mid = 20 * 40 + 20;
        assert_eq!(dir[mid], 4);
        assert!(len[mid] > 45.0, "{}", len[mid]);
        // Climbing lines (y decreasing with x) too: 135°.
        let m = draw(40, 40, &[((2.0, 38.0), (38.0, 2.0), 1.5)]);
        let (dir, len) = directions(&m, 40, 40);
        assert_eq!(dir[mid], 12);
        assert!(len[mid] > 45.0, "{}", len[mid]);
    }

    #[test]
    fn a_crossing_splits_and_a_curve_does_not() {
        // A long line with a branch leaving it at 60°: two pieces, the branch whole.
        let (w, h) = (400, 200);
        let rail = ((0.0, 100.0), (400.0, 100.0), 6.0);
        let road = ((200.0, 100.0), (290.0, 100.0 - 156.0), 3.0);
        let m = draw(w, h, &[rail, road]);
        let p = split(&m, w, h, 200, 6.0, TURN).expect("split");
        assert_eq!(p.count, 2);
        // The rail's far ends are one piece, the road's tip another.
        let (a, b, tip) = (
            p.labels[100 * w + 10],
            p.labels[100 * w + 390],
            p.labels[20 * w + 246],
        );
        assert!(a != 0 && a == b && tip != 0 && tip != a, "{a} {b} {tip}");
        assert_eq!(p.touching(w), vec![(1, 2)]);
        // A quarter circle of radius 300 px, 10 px wide.
        let (w, h) = (330, 330);
        let mut m = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f64 + 0.5, y as f64 + 0.5);
                let r = (dx * dx + dy * dy).sqrt();
                if (295.0..305.0).contains(&r) {
                    m[y * w + x] = 1;
                }
            }
        }
        // A gentle curve turns too far for one mean direction: it comes in a few long pieces
        // (the typing puts touching pieces of one type back together).
        let p = split(&m, w, h, 200, 6.0, TURN).map_or(1, |p| p.count);
        assert!(p <= 4, "{p} pieces");
        // A rectangle and a disc are one piece each.
        let m = draw(200, 200, &[((40.0, 100.0), (160.0, 100.0), 30.0)]);
        assert!(split(&m, 200, 200, 200, 6.0, TURN).is_none());
        let m = draw(200, 200, &[((100.0, 100.0), (100.0, 100.0), 80.0)]);
        assert!(split(&m, 200, 200, 200, 6.0, TURN).is_none());
    }

    #[test]
    fn small_branches_rejoin_and_a_yard_beside_a_line_stands_apart() {
        // A stub under the size floor stays with the rail.
        let (w, h) = (400, 140);
        let rail = ((0.0, 100.0), (400.0, 100.0), 6.0);
        let stub = ((200.0, 100.0), (215.0, 100.0 - 26.0), 3.0);
        let m = draw(w, h, &[rail, stub]);
        assert!(split(&m, w, h, 200, 6.0, TURN).is_none());
        // A 60 x 60 yard against the rail is no line: one piece of its own from the size
        // floor up, part of the rail under it.
        let mut m = draw(w, h, &[rail]);
        for y in 34..94 {
            m[y * w + 150..y * w + 210].fill(1);
        }
        let p = split(&m, w, h, 1000, 6.0, TURN).expect("split");
        assert_eq!(p.count, 2);
        let (yard, rail_px) = (p.labels[60 * w + 180], p.labels[100 * w + 20]);
        assert!(yard != rail_px && p.labels[100 * w + 390] == rail_px);
        assert!(split(&m, w, h, 4000, 6.0, TURN).is_none());
    }
}
