//! Pixel trees: change evidence learned by gradient-boosted trees ([`crate::learn::gbdt`]) over
//! hand-made features of every pixel of both dates. Where labelled pairs are few (a province's
//! first quarters, the handful of real pairs a project may ship), trees over multi-scale
//! features generalise to pairs they never saw far better than a network trained from scratch:
//! cross-validated on the real pairs of shared/data/realcd, LEVIR-CD pixel F1 0.60 against the
//! network's 0.24 and the building index's 0.34 (README, "Learned evidence"). The built-in RGB
//! model ([`super::infer::BUILTIN_RGB`]) is one of these.
//!
//! The trees run on the CPU or as the WGSL kernel `shaders/trees.wgsl`. On the CPU, oblivious
//! trees (one question per level) are scored 64 pixels at a time by levels; free trees up to 5
//! deep (the built-in model's) as complete trees, 32 pixels answering every question of a tree
//! at once in AVX2 (`Complete`); deeper ones by 16 pixels walking each tree in lock step.
//! All sum the trees in one order, so they give the same bits.
//!
//! Features ([`FEATURES`], names in [`feature_names`]): each date's R, G, B, scaled by the
//! date's own scene mean and standard deviation, give three channels — brightness (the mean),
//! red − green and (red + green)/2 − blue — and for each channel its Gaussian means at σ 1, 2,
//! 4, 8 px and local standard deviations at σ 2 and 6; then the gradient magnitude of the
//! brightness (σ 1.5) and its mean at σ 4, white and black top-hats of the brightness with
//! squares of 9 and 21 px, and the building index of the brightest band (tuban's own MBI,
//! lines of 5 to 45 px) and its mean at σ 3. That is [`DATE_FEATURES`] per date; a pixel's row
//! is the before date's, the after date's, their difference and its magnitude.
//!
//! Features are computed in sub-tiles of [`SUB`] px with a [`HALO`] of context, so a detection
//! tile of any size costs bounded memory and, away from the scene edge, a pixel's features do
//! not depend on where the tiles fall (tested). Invalid pixels read as the scaled zero (the
//! scene mean) and get NaN evidence.

use super::train::TrainPair;
use crate::change::contract::TREE_LEAF;
use crate::change::cpu::Driver;
use crate::change::cpu::mbi::mbi_sum;
use crate::change::{KernelParams, TileInput};
use crate::learn::gbdt::{Booster, Tree};
use crate::raster::grid::{Tile, TileGrid};
use rayon::prelude::*;

/// Features of one date.
pub const DATE_FEATURES: usize = 26;
/// Features of a pixel: before, after, after − before, |after − before|.
pub const FEATURES: usize = 4 * DATE_FEATURES;
/// Context (px) a pixel's features read around it: the building index's longest line opened
/// (2 x 22 px) and then smoothed (3σ of 3 px), rounded up.
pub const HALO: usize = 56;
/// Core side (px) of a feature sub-tile.
pub const SUB: usize = 512;
/// The building index's line half-lengths (lines of 5 and 45 px, as detect's `mbi`).
const MBI_HALF: (u32, u32) = (2, 22);
/// Feature rows sent to the GPU at once (27 MB).
const GPU_ROWS: usize = 1 << 16;
/// Version of the feature set written into models: a model made for another set is refused.
pub const FEATURE_SET: &str = "rgb-v1";

/// The name of every feature, in row order.
pub fn feature_names() -> Vec<String> {
    let mut date = Vec::with_capacity(DATE_FEATURES);
    for c in ["bright", "red_green", "yellow_blue"] {
        for s in [1, 2, 4, 8] {
            date.push(format!("{c}_mean{s}"));
        }
        date.push(format!("{c}_std2"));
        date.push(format!("{c}_std6"));
    }
    date.extend(
        [
            "gradient",
            "gradient_mean4",
            "white_tophat9",
            "black_tophat9",
            "white_tophat21",
            "black_tophat21",
            "mbi",
            "mbi_mean3",
        ]
        .map(String::from),
    );
    let mut all = Vec::with_capacity(FEATURES);
    for prefix in ["before_", "after_", "diff_", "absdiff_"] {
        all.extend(date.iter().map(|n| format!("{prefix}{n}")));
    }
    all
}

/// The half-width `r` (3σ rounded up) and the `2r + 1` weights of a Gaussian, summing to 1.
fn gaussian_taps(sigma: f32) -> (i64, Vec<f32>) {
    let r = (3.0 * sigma).ceil() as i64;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    (r, k.iter().map(|v| v / sum).collect())
}

/// Gaussian smoothing with a kernel cut at 3σ, mirrored at the edges (`d c b | b c d`).
fn blur(src: &[f32], (w, h): (usize, usize), sigma: f32) -> Vec<f32> {
    let (r, k) = gaussian_taps(sigma);
    let mut tmp = vec![0.0f32; w * h];
    tmp.par_chunks_mut(w)
        .enumerate()
        .for_each_init(Vec::new, |padded, (y, row)| {
            // The row with `r` mirrored pixels each side: tap `j` of pixel `x` is
            // `padded[x + j]`.
            let s = &src[y * w..(y + 1) * w];
            padded.clear();
            padded.extend((-r..0).map(|i| s[mirror(i, w)]));
            padded.extend_from_slice(s);
            padded.extend((w as i64..w as i64 + r).map(|i| s[mirror(i, w)]));
            let taps: Vec<&[f32]> = (0..k.len()).map(|j| &padded[j..j + w]).collect();
            sum_taps(row, &k, &taps);
        });
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let taps: Vec<&[f32]> = (0..k.len() as i64)
            .map(|j| &tmp[mirror(y as i64 + j - r, h) * w..][..w])
            .collect();
        sum_taps(row, &k, &taps);
    });
    out
}

crate::change::cpu::avx2_twin! {
    /// `out[i] = k[0] · taps[0][i] + k[1] · taps[1][i] + ...`, summed in tap order from 0
    /// (a multiply, then an add: the same bits on every CPU).
    fn sum_taps => sum_taps_inner(out: &mut [f32], k: &[f32], taps: &[&[f32]])
}

/// Outputs [`sum_taps`] keeps in registers (four AVX2 vectors) while it runs through the taps:
/// the output is written once, not loaded and stored again for every tap.
const RUN: usize = 32;

#[inline(always)]
fn sum_taps_inner(out: &mut [f32], k: &[f32], taps: &[&[f32]]) {
    let n = out.len();
    if n < RUN {
        for (i, o) in out.iter_mut().enumerate() {
            let mut a = 0.0f32;
            for (&kv, t) in k.iter().zip(taps) {
                a += kv * t[i];
            }
            *o = a;
        }
        return;
    }
    // Runs from the start, the last one ending at the end (overlapping the one before it
    // recomputes a few outputs to the same bits, where a scalar tail took a third of the time).
    for at in (0..n - RUN).step_by(RUN).chain([n - RUN]) {
        let mut acc = [0.0f32; RUN];
        for (&kv, t) in k.iter().zip(taps) {
            let v: &[f32; RUN] = t[at..at + RUN].try_into().expect("a run");
            for (a, &x) in acc.iter_mut().zip(v) {
                *a += kv * x;
            }
        }
        out[at..at + RUN].copy_from_slice(&acc);
    }
}

/// Index `i` reflected into `0..len` (the edge pixel repeated once).
fn mirror(i: i64, len: usize) -> usize {
    let n = len as i64;
    if n == 1 {
        return 0;
    }
    let p = 2 * n;
    let m = i.rem_euclid(p);
    (if m < n { m } else { p - 1 - m }) as usize
}

/// Minimum (`erode`) or maximum of a `2 * half + 1` square around every pixel, the square cut
/// at the edges.
fn square_extreme(src: &[f32], dims: (usize, usize), half: usize, erode: bool) -> Vec<f32> {
    // One instance per operation, so each sweep compiles to plain vector min or max.
    if erode {
        square_extreme_by(src, dims, half, |a, b| if b < a { b } else { a })
    } else {
        square_extreme_by(src, dims, half, |a, b| if b > a { b } else { a })
    }
}

fn square_extreme_by(
    src: &[f32],
    (w, h): (usize, usize),
    half: usize,
    pick: impl Fn(f32, f32) -> f32 + Sync,
) -> Vec<f32> {
    let mut tmp = vec![0.0f32; w * h];
    tmp.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        // Shifted whole-row sweeps (they vectorise): pixel x meets x ± d where that is inside.
        let s = &src[y * w..(y + 1) * w];
        row.copy_from_slice(s);
        for d in 1..=half.min(w - 1) {
            for (o, &v) in row[..w - d].iter_mut().zip(&s[d..]) {
                *o = pick(*o, v);
            }
            for (o, &v) in row[d..].iter_mut().zip(&s[..w - d]) {
                *o = pick(*o, v);
            }
        }
    });
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let (a, b) = (y.saturating_sub(half), (y + half).min(h - 1));
        row.copy_from_slice(&tmp[a * w..(a + 1) * w]);
        for yy in a + 1..=b {
            for (o, &v) in row.iter_mut().zip(&tmp[yy * w..(yy + 1) * w]) {
                *o = pick(*o, v);
            }
        }
    });
    out
}

/// The [`DATE_FEATURES`] planes of one date of a patch: `rgb` holds the scaled red, green and
/// blue planes (w x h each).
fn date_features(rgb: &[f32], valid: &[u32], dims: (usize, usize)) -> Vec<Vec<f32>> {
    let n = dims.0 * dims.1;
    let (r, g, b) = (&rgb[..n], &rgb[n..2 * n], &rgb[2 * n..3 * n]);
    let bright: Vec<f32> = (0..n).map(|i| (r[i] + g[i] + b[i]) / 3.0).collect();
    let red_green: Vec<f32> = (0..n).map(|i| r[i] - g[i]).collect();
    let yellow_blue: Vec<f32> = (0..n).map(|i| 0.5 * (r[i] + g[i]) - b[i]).collect();
    let mut out = Vec::with_capacity(DATE_FEATURES);
    for c in [&bright, &red_green, &yellow_blue] {
        let means: Vec<Vec<f32>> = [1.0, 2.0, 4.0, 8.0]
            .iter()
            .map(|&s| blur(c, dims, s))
            .collect();
        let sq: Vec<f32> = c.iter().map(|v| v * v).collect();
        let std = |m: &[f32], s: f32| -> Vec<f32> {
            m.iter()
                .zip(&blur(&sq, dims, s))
                .map(|(m, m2)| (m2 - m * m).max(0.0).sqrt())
                .collect()
        };
        let (std2, std6) = (std(&means[1], 2.0), std(&blur(c, dims, 6.0), 6.0));
        out.extend(means);
        out.push(std2);
        out.push(std6);
    }
    let (w, h) = dims;
    let smooth = blur(&bright, dims, 1.5);
    let gradient: Vec<f32> = (0..n)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let gx = smooth[y * w + (x + 1).min(w - 1)] - smooth[y * w + x.saturating_sub(1)];
            let gy = smooth[(y + 1).min(h - 1) * w + x] - smooth[y.saturating_sub(1) * w + x];
            0.5 * (gx * gx + gy * gy).sqrt()
        })
        .collect();
    out.push(blur(&gradient, dims, 4.0));
    out.insert(out.len() - 1, gradient);
    for half in [4, 10] {
        let opened = square_extreme(
            &square_extreme(&bright, dims, half, true),
            dims,
            half,
            false,
        );
        let closed = square_extreme(
            &square_extreme(&bright, dims, half, false),
            dims,
            half,
            true,
        );
        out.push(bright.iter().zip(&opened).map(|(v, o)| v - o).collect());
        out.push(closed.iter().zip(&bright).map(|(c, v)| c - v).collect());
    }
    let brightest: Vec<f32> = (0..n).map(|i| r[i].max(g[i]).max(b[i])).collect();
    let p = KernelParams {
        width: w as u32,
        height: h as u32,
        bands: 1,
        ..KernelParams::default()
    };
    let mbi: Vec<f32> = mbi_sum(Driver::Rayon, &p, &brightest, valid, MBI_HALF)
        .iter()
        .map(|v| 0.25 * v)
        .collect();
    out.push(blur(&mbi, dims, 3.0));
    out.insert(out.len() - 1, mbi);
    debug_assert_eq!(out.len(), DATE_FEATURES);
    out
}

/// One pixel's feature row from the two dates' planes.
#[inline]
fn row(before: &[Vec<f32>], after: &[Vec<f32>], i: usize, out: &mut [f32; FEATURES]) {
    for k in 0..DATE_FEATURES {
        let (a, b) = (before[k][i], after[k][i]);
        out[k] = a;
        out[DATE_FEATURES + k] = b;
        out[2 * DATE_FEATURES + k] = b - a;
        out[3 * DATE_FEATURES + k] = (b - a).abs();
    }
}

/// The feature columns of the pixels at plane indices `idx` (feature `k` of pixel `j` at
/// `cols[k * n + j]`, in [`row`]'s order).
fn columns_at(before: &[Vec<f32>], after: &[Vec<f32>], idx: &[usize], cols: &mut [f32]) {
    let n = idx.len();
    debug_assert_eq!(cols.len(), FEATURES * n);
    let (dates, changes) = cols.split_at_mut(2 * DATE_FEATURES * n);
    let (b_cols, a_cols) = dates.split_at_mut(DATE_FEATURES * n);
    let (d_cols, m_cols) = changes.split_at_mut(DATE_FEATURES * n);
    for k in 0..DATE_FEATURES {
        let (pa, pb) = (&before[k], &after[k]);
        let at = k * n..(k + 1) * n;
        for ((((bc, ac), d), m), &i) in b_cols[at.clone()]
            .iter_mut()
            .zip(&mut a_cols[at.clone()])
            .zip(&mut d_cols[at.clone()])
            .zip(&mut m_cols[at])
            .zip(idx)
        {
            let (a, b) = (pa[i], pb[i]);
            *bc = a;
            *ac = b;
            *d = b - a;
            *m = (b - a).abs();
        }
    }
}

/// A patch of a scaled pair: 3 planes per date (R, G, B after scaling; 0 where not valid).
pub struct Patch<'a> {
    pub width: usize,
    pub height: usize,
    pub before: &'a [f32],
    pub after: &'a [f32],
    pub valid: &'a [u32],
    /// The scene coordinates of the patch's first pixel.
    pub origin: (usize, usize),
}

/// Call `f(sub-tile, before features, after features)` for every sub-tile of `patch` (the
/// tiles of a [`TileGrid`] of `side` px, at least 16, with a [`HALO`]: features are computed
/// on the tile's `read` window and answer for its `core`), one after the other (each
/// computes on every core).
fn for_each_sub(patch: &Patch, side: usize, mut f: impl FnMut(&Tile, &[Vec<f32>], &[Vec<f32>])) {
    let (w, h) = (patch.width, patch.height);
    for s in TileGrid::new(w, h, side.max(16), HALO).tiles() {
        let [cx, cy, cw, ch]: [usize; 4] = s.read.into();
        let cut = |src: &[f32], planes: usize| -> Vec<f32> {
            let mut out = Vec::with_capacity(planes * cw * ch);
            for p in 0..planes {
                for y in cy..cy + ch {
                    out.extend_from_slice(&src[p * w * h + y * w + cx..][..cw]);
                }
            }
            out
        };
        let valid: Vec<u32> = (cy..cy + ch)
            .flat_map(|y| patch.valid[y * w + cx..][..cw].iter().copied())
            .collect();
        let (fa, fb) = rayon::join(
            || date_features(&cut(patch.before, 3), &valid, (cw, ch)),
            || date_features(&cut(patch.after, 3), &valid, (cw, ch)),
        );
        f(&s, &fa, &fb);
    }
}

/// The lattice of one axis of a patch: the patch-local positions `first, first + stride, ...`
/// below `len` whose scene coordinate (`origin` + position) is a multiple of `stride`.
#[derive(Clone, Copy, Debug)]
struct Lattice {
    first: usize,
    stride: usize,
    count: usize,
}

impl Lattice {
    fn new(origin: usize, len: usize, stride: usize) -> Lattice {
        let first = (stride - origin % stride) % stride;
        let count = if first < len {
            (len - first).div_ceil(stride)
        } else {
            0
        };
        Lattice {
            first,
            stride,
            count,
        }
    }

    /// The lattice points (index, weight) a position is interpolated from: the two around it,
    /// or the one nearest where it lies outside the first or last.
    fn around(&self, p: usize) -> [(usize, f32); 2] {
        if self.count == 0 {
            return [(0, 0.0), (0, 0.0)];
        }
        if p <= self.first {
            return [(0, 1.0), (0, 0.0)];
        }
        let k = (p - self.first) / self.stride;
        if k + 1 >= self.count {
            return [(self.count - 1, 1.0), (0, 0.0)];
        }
        let f = ((p - self.first) % self.stride) as f32 / self.stride as f32;
        [(k, 1.0 - f), (k + 1, f)]
    }

    /// The lattice indices of the positions in `lo..hi`.
    fn within(&self, lo: usize, hi: usize) -> std::ops::Range<usize> {
        let at = |p: usize| {
            if p <= self.first {
                0
            } else {
                (p - self.first).div_ceil(self.stride).min(self.count)
            }
        };
        at(lo)..at(hi)
    }

    fn pos(&self, k: usize) -> usize {
        self.first + k * self.stride
    }
}

/// One node of a compiled tree: a split on `feature` at `split` (f32, rounded down from the
/// trained cut so that `v <= split` decides every f32 value as the cut did), or a leaf
/// (`feature == TREE_LEAF`, value in `split`).
#[derive(Clone, Copy, Debug)]
struct TreeNode {
    feature: u32,
    split: f32,
    left: u32,
    right: u32,
}

/// A trained pixel model ready to run.
#[derive(Clone, Debug)]
pub struct PixelTrees {
    pub booster: Booster,
    roots: Vec<u32>,
    base: f32,
    /// The nodes as the WGSL kernel reads them: `[feature, split bits, left, right]`.
    packed: Vec<[u32; 4]>,
    /// The nodes for the CPU's lock-step walk: a leaf splits on feature 0 at +inf and points
    /// to itself, so every walk takes exactly its tree's depth in steps, without branches;
    /// the leaf's value is in `leaf_value` (0 for a split).
    walk: Vec<TreeNode>,
    leaf_value: Vec<f32>,
    /// Each tree's depth (steps from its root to its deepest leaf).
    depth: Vec<u32>,
    /// The trees as levels when every tree is oblivious (`tuban train --trees oblivious`):
    /// scored a block of pixels at a time without walking.
    levels: Option<Levels>,
    /// The free trees padded to complete trees, when none is deeper than [`MAX_COMPLETE`].
    complete: Option<Complete>,
}

/// Oblivious trees: tree `t` asks `depth[t]` questions (feature, split: right when
/// `v > split`, as a walk goes for the finite values features always are), one per level,
/// whose answers are the bits of its leaf index, the first question the highest bit; its
/// leaves follow the previous tree's in `leaves`.
#[derive(Clone, Debug, Default)]
struct Levels {
    depth: Vec<u32>,
    feature: Vec<u32>,
    split: Vec<f32>,
    leaves: Vec<f32>,
}

/// Deepest oblivious tree scored by levels (its leaf table has 2^depth values).
const MAX_LEVELS: u32 = 12;

impl Levels {
    /// The levels of compiled trees (`nodes`, trees starting at `roots`) when every tree is
    /// oblivious: all nodes of a level split on one feature at one f32 value, all leaves at
    /// one depth.
    fn of(nodes: &[TreeNode], roots: &[u32]) -> Option<Levels> {
        let mut lv = Levels::default();
        for &root in roots {
            let mut level = vec![root as usize];
            let mut depth = 0;
            loop {
                let first = nodes[level[0]];
                if first.feature == TREE_LEAF {
                    if level.iter().any(|&i| nodes[i].feature != TREE_LEAF) {
                        return None;
                    }
                    lv.leaves.extend(level.iter().map(|&i| nodes[i].split));
                    break;
                }
                let same = |n: &TreeNode| {
                    n.feature == first.feature && n.split.to_bits() == first.split.to_bits()
                };
                if depth == MAX_LEVELS || !level.iter().all(|&i| same(&nodes[i])) {
                    return None;
                }
                lv.feature.push(first.feature);
                lv.split.push(first.split);
                level = level
                    .iter()
                    .flat_map(|&i| [nodes[i].left as usize, nodes[i].right as usize])
                    .collect();
                depth += 1;
            }
            lv.depth.push(depth);
        }
        Some(lv)
    }

    /// Add every tree's leaf to `s`, for the pixels of `cols` (feature `f` of pixel `i` at
    /// `cols[f * n + i]`) from `at`, `s.len()` of them (at most [`BLOCK`]).
    #[inline]
    fn add(&self, cols: &[f32], n: usize, at: usize, s: &mut [f32]) {
        let m = s.len();
        let (mut q, mut leaf) = (0, 0);
        for &d in &self.depth {
            let mut idx = [0u32; BLOCK];
            for l in q..q + d as usize {
                let col = &cols[self.feature[l] as usize * n + at..][..m];
                let t = self.split[l];
                for (i, &v) in idx.iter_mut().zip(col) {
                    *i = (*i << 1) | u32::from(v > t);
                }
            }
            let leaves = &self.leaves[leaf..leaf + (1 << d)];
            for (o, &i) in s.iter_mut().zip(&idx) {
                *o += leaves[i as usize];
            }
            q += d as usize;
            leaf += 1 << d;
        }
    }
}

/// Free trees, each padded to a complete tree of its depth in heap order (node `k`'s children
/// at `2k + 1` and `2k + 2`): a leaf above the last level becomes questions that always go
/// left (feature 0 at +inf, as the walk's leaves) down to copies of its value. A block of
/// pixels then answers every question of a tree as whole-column comparisons, each answer one
/// bit of a word per pixel (node `k` bit `k`), and finds its leaf by shifting through that
/// word: no walk from node to node and no feature gathered per pixel, so the loops run eight
/// lanes wide ([`score_complete`]). Tree `t`'s `2^depth - 1` questions follow the previous
/// tree's in `feature` / `split`, its `2^depth` leaves in `leaves`.
#[derive(Clone, Debug, Default)]
struct Complete {
    depth: Vec<u32>,
    feature: Vec<u32>,
    split: Vec<f32>,
    leaves: Vec<f32>,
}

/// Deepest free tree scored as a complete tree (its questions are the bits of a `u32`).
const MAX_COMPLETE: u32 = 5;

impl Complete {
    /// The complete trees of compiled trees (`nodes`, tree `t` from `roots[t]`, `depth[t]`
    /// steps deep), when none is deeper than [`MAX_COMPLETE`].
    fn of(nodes: &[TreeNode], roots: &[u32], depth: &[u32]) -> Option<Complete> {
        if depth.iter().any(|&d| d > MAX_COMPLETE) {
            return None;
        }
        let mut c = Complete::default();
        for (&root, &d) in roots.iter().zip(depth) {
            let inner = (1usize << d) - 1;
            let (q, l) = (c.feature.len(), c.leaves.len());
            c.feature.resize(q + inner, 0);
            c.split.resize(q + inner, f32::INFINITY);
            c.leaves.resize(l + inner + 1, 0.0);
            c.depth.push(d);
            // (compiled node, heap position)
            let mut todo = vec![(root as usize, 0usize)];
            while let Some((i, k)) = todo.pop() {
                let n = nodes[i];
                let is_leaf = n.feature == TREE_LEAF;
                if k >= inner {
                    // A tree's depth is its deepest leaf's: only leaves reach the last level.
                    debug_assert!(is_leaf);
                    c.leaves[l + k - inner] = n.split;
                } else if is_leaf {
                    todo.extend([(i, 2 * k + 1), (i, 2 * k + 2)]);
                } else {
                    c.feature[q + k] = n.feature;
                    c.split[q + k] = n.split;
                    todo.extend([(n.left as usize, 2 * k + 1), (n.right as usize, 2 * k + 2)]);
                }
            }
        }
        Some(c)
    }
}

/// Raw scores of `out.len()` pixels (features as columns, [`PixelTrees::score_columns`]) by
/// complete trees: base first, then tree by tree, the walk's sums. With AVX2, eight pixels
/// per instruction ([`score_complete_avx2`]); else the portable loops, the same bits.
fn score_complete(c: &Complete, base: f32, cols: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just now).
        return unsafe { score_complete_avx2(c, base, cols, out) };
    }
    score_complete_portable(c, base, cols, out);
}

/// Pixels scored together as complete trees: their features (13 KB) stay in L1.
const COMPLETE_BLOCK: usize = 32;

/// The block of `COMPLETE_BLOCK` pixels from `at` (`m` of them) of `cols` (`n` pixels a
/// column) copied into `block`, feature by feature: the trees' thousands of questions then
/// read one small buffer, not a hundred columns a page or more apart. Lanes past `m` keep
/// what they held (they are scored, never used).
fn gather_block(cols: &[f32], n: usize, (at, m): (usize, usize), block: &mut [f32]) {
    for (dst, col) in block
        .chunks_exact_mut(COMPLETE_BLOCK)
        .zip(cols.chunks_exact(n))
    {
        dst[..m].copy_from_slice(&col[at..at + m]);
    }
}

/// [`score_complete`] in AVX2 intrinsics: a block's 32 answer words and 32 sums stay in
/// registers through a tree; the leaves are gathered.
///
/// # Safety
/// Only on a CPU with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn score_complete_avx2(c: &Complete, base: f32, cols: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    const G: usize = COMPLETE_BLOCK / 8;
    let n = out.len();
    let mut block = [0.0f32; FEATURES * COMPLETE_BLOCK];
    let one = _mm256_set1_epi32(1);
    for (b, s) in out.chunks_mut(COMPLETE_BLOCK).enumerate() {
        let m = s.len();
        gather_block(cols, n, (b * COMPLETE_BLOCK, m), &mut block);
        let mut sum = [_mm256_set1_ps(base); G];
        let (mut q, mut l) = (0, 0);
        for &d in &c.depth {
            let inner = (1usize << d) - 1;
            let mut answers = [_mm256_setzero_si256(); G];
            for (k, (&f, &t)) in c.feature[q..q + inner]
                .iter()
                .zip(&c.split[q..q + inner])
                .enumerate()
            {
                let col = &block[f as usize * COMPLETE_BLOCK..][..COMPLETE_BLOCK];
                let (t, bit) = (_mm256_set1_ps(t), _mm256_set1_epi32(1 << k));
                for (g, a) in answers.iter_mut().enumerate() {
                    // SAFETY: `col` holds COMPLETE_BLOCK = 8 * G floats.
                    let v = unsafe { _mm256_loadu_ps(col.as_ptr().add(8 * g)) };
                    // Right when `v > t`: ordered, so NaN goes left, as `v > t` does.
                    let right = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(v, t));
                    *a = _mm256_or_si256(*a, _mm256_and_si256(right, bit));
                }
            }
            let leaves = &c.leaves[l..=l + inner];
            let first = _mm256_set1_epi32(inner as i32);
            for (a, sm) in answers.iter().zip(&mut sum) {
                let mut p = _mm256_setzero_si256();
                for _ in 0..d {
                    let go = _mm256_and_si256(_mm256_srlv_epi32(*a, p), one);
                    p = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(p, p), one), go);
                }
                // SAFETY: after `d` levels every lane's node is a leaf, `inner..=2 * inner`,
                // so the index is within the tree's `inner + 1` leaves.
                let leaf = unsafe {
                    _mm256_i32gather_ps::<4>(leaves.as_ptr(), _mm256_sub_epi32(p, first))
                };
                *sm = _mm256_add_ps(*sm, leaf);
            }
            q += inner;
            l += inner + 1;
        }
        let mut lanes = [0.0f32; COMPLETE_BLOCK];
        for (g, sm) in sum.iter().enumerate() {
            // SAFETY: `lanes` holds 8 * G floats.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr().add(8 * g), *sm) };
        }
        s.copy_from_slice(&lanes[..m]);
    }
}

fn score_complete_portable(c: &Complete, base: f32, cols: &[f32], out: &mut [f32]) {
    let n = out.len();
    let mut block = [0.0f32; FEATURES * COMPLETE_BLOCK];
    for (b, s) in out.chunks_mut(COMPLETE_BLOCK).enumerate() {
        let m = s.len();
        gather_block(cols, n, (b * COMPLETE_BLOCK, m), &mut block);
        s.fill(base);
        let (mut q, mut l) = (0, 0);
        for &d in &c.depth {
            let inner = (1usize << d) - 1;
            // Bit k of a pixel's word: its answer to question k (right when `v > split`, as
            // the walk goes for the finite values features always are).
            let mut answers = [0u32; COMPLETE_BLOCK];
            for (k, (&f, &t)) in c.feature[q..q + inner]
                .iter()
                .zip(&c.split[q..q + inner])
                .enumerate()
            {
                let col: &[f32; COMPLETE_BLOCK] = block[f as usize * COMPLETE_BLOCK..]
                    [..COMPLETE_BLOCK]
                    .try_into()
                    .expect("a block's column");
                let bit = 1u32 << k;
                for j in 0..COMPLETE_BLOCK {
                    answers[j] |= u32::from(col[j] > t) * bit;
                }
            }
            let mut at_node = [0u32; COMPLETE_BLOCK];
            for _ in 0..d {
                for (p, &a) in at_node.iter_mut().zip(&answers) {
                    *p = 2 * *p + 1 + ((a >> *p) & 1);
                }
            }
            let leaves = &c.leaves[l..=l + inner];
            for (o, &p) in s.iter_mut().zip(&at_node[..m]) {
                *o += leaves[p as usize - inner];
            }
            q += inner;
            l += inner + 1;
        }
    }
}

/// Pixels scored together by the levels (their leaf indices stay in L1).
const BLOCK: usize = 64;

/// Pixels walked through a tree together (their loads overlap in the core).
const LANES: usize = 16;

/// The largest f32 not above `v`.
fn f32_down(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) <= v || f.is_nan() {
        return f;
    }
    // The f32 just below `f` (f32::next_down is newer than the crate's rust-version).
    if f == 0.0 {
        -f32::from_bits(1)
    } else if f > 0.0 {
        f32::from_bits(f.to_bits() - 1)
    } else {
        f32::from_bits(f.to_bits() + 1)
    }
}

impl PixelTrees {
    /// Compile `booster` (one logistic output over [`FEATURES`]).
    ///
    /// # Errors
    /// Why the trees cannot be used (wrong output count, a feature out of range).
    pub fn new(booster: Booster) -> Result<PixelTrees, String> {
        if booster.base.len() != 1 {
            return Err(format!(
                "a pixel model has one output; this one has {}",
                booster.base.len()
            ));
        }
        booster.check(FEATURES)?;
        let mut nodes = Vec::new();
        let mut roots = Vec::with_capacity(booster.trees.len());
        for t in &booster.trees {
            let off = nodes.len() as u32;
            roots.push(off);
            nodes.extend((0..t.feature.len()).map(|i| {
                if t.feature[i] < 0 {
                    TreeNode {
                        feature: TREE_LEAF,
                        split: t.value[i] as f32,
                        left: 0,
                        right: 0,
                    }
                } else {
                    TreeNode {
                        feature: t.feature[i] as u32,
                        split: f32_down(t.split[i]),
                        left: off + t.left[i],
                        right: off + t.right[i],
                    }
                }
            }));
        }
        let packed = nodes
            .iter()
            .map(|n| [n.feature, n.split.to_bits(), n.left, n.right])
            .collect();
        let leaf = |n: &TreeNode| n.feature == TREE_LEAF;
        let walk = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if leaf(n) {
                    TreeNode {
                        feature: 0,
                        split: f32::INFINITY,
                        left: i as u32,
                        right: i as u32,
                    }
                } else {
                    *n
                }
            })
            .collect();
        let leaf_value = nodes
            .iter()
            .map(|n| if leaf(n) { n.split } else { 0.0 })
            .collect();
        // Children come after their parent: one backward pass gives every node's height.
        let mut height = vec![0u32; nodes.len()];
        for i in (0..nodes.len()).rev() {
            let n = nodes[i];
            if !leaf(&n) {
                height[i] = 1 + height[n.left as usize].max(height[n.right as usize]);
            }
        }
        let depth: Vec<u32> = roots.iter().map(|&r| height[r as usize]).collect();
        let levels = Levels::of(&nodes, &roots);
        let complete = Complete::of(&nodes, &roots, &depth);
        Ok(PixelTrees {
            base: booster.base[0] as f32,
            booster,
            roots,
            packed,
            walk,
            leaf_value,
            depth,
            levels,
            complete,
        })
    }

    /// Raw scores (log-odds) of `out.len()` pixels whose features are columns (feature `f`
    /// of pixel `i` at `cols[f * out.len() + i]`): by levels when the trees are oblivious, as
    /// complete trees when they are free and at most [`MAX_COMPLETE`] deep (the built-in
    /// model's are 5), else by the lock-step walk ([`PixelTrees::walk_columns`]). Every way
    /// base first, then tree by tree, as the WGSL kernel sums: the same bits.
    fn score_columns(&self, cols: &[f32], out: &mut [f32]) {
        debug_assert_eq!(cols.len(), FEATURES * out.len());
        match (&self.levels, &self.complete) {
            (Some(lv), _) => {
                let n = out.len();
                for (b, o) in out.chunks_mut(BLOCK).enumerate() {
                    o.fill(self.base);
                    lv.add(cols, n, b * BLOCK, o);
                }
            }
            (None, Some(c)) => score_complete(c, self.base, cols, out),
            (None, None) => self.walk_columns(cols, out),
        }
    }

    /// [`PixelTrees::score_columns`] by walking: [`LANES`] pixels walk each tree in lock
    /// step, their features first gathered into rows (a walk jumps between features, and 16
    /// rows stay in L1 where 104 columns do not). Features are always finite, so a node's
    /// missing-value side is never needed.
    fn walk_columns(&self, cols: &[f32], out: &mut [f32]) {
        let n = out.len();
        let mut xs = [[0.0f32; FEATURES]; LANES];
        for (b, o) in out.chunks_mut(LANES).enumerate() {
            let (m, at) = (o.len(), b * LANES);
            for (f, col) in cols.chunks_exact(n).enumerate() {
                for (x, &v) in xs.iter_mut().zip(&col[at..at + m]) {
                    x[f] = v;
                }
            }
            let mut s = [self.base; LANES];
            for (&root, &depth) in self.roots.iter().zip(&self.depth) {
                let mut idx = [root; LANES];
                for _ in 0..depth {
                    for (i, x) in idx[..m].iter_mut().zip(&xs) {
                        let node = &self.walk[*i as usize];
                        *i = if x[node.feature as usize] <= node.split {
                            node.left
                        } else {
                            node.right
                        };
                    }
                }
                for (sk, &i) in s.iter_mut().zip(&idx[..m]) {
                    *sk += self.leaf_value[i as usize];
                }
            }
            o.copy_from_slice(&s[..m]);
        }
    }

    /// The change probability of every pixel of `patch` (NaN where not valid), features in
    /// sub-tiles of `side` px, the trees on `device` (None: every CPU core). The trees score
    /// every `stride`-th pixel of every `stride`-th row of the scene (a lattice anchored at the
    /// scene's origin, so that tiles agree; every pixel at stride 1), and a pixel between
    /// takes the bilinear mean of the raw scores of the valid lattice points around it; a
    /// valid pixel that no valid lattice point reaches (beside nodata) is scored itself. The
    /// GPU returns the raw scores and the CPU applies the sigmoid, so both give the same bits.
    ///
    /// # Errors
    /// [`Error::Gpu`](crate::Error::Gpu) when the device fails.
    pub fn probability(
        &self,
        patch: &Patch,
        (side, stride): (usize, usize),
        device: super::ops::ConvDevice,
    ) -> crate::Result<Vec<f32>> {
        let (w, h) = (patch.width, patch.height);
        let lx = Lattice::new(patch.origin.0, w, stride);
        let ly = Lattice::new(patch.origin.1, h, stride);
        let valid = |x: usize, y: usize| patch.valid[y * w + x] != 0;
        // The lattice weights of (x, y) whose point is valid.
        let weights = |x: usize, y: usize| -> [(usize, f32); 4] {
            let (ax, ay) = (lx.around(x), ly.around(y));
            let mut out = [(0, 0.0); 4];
            for (o, ((i, wi), (j, wj))) in out
                .iter_mut()
                .zip(ay.iter().flat_map(|&b| ax.iter().map(move |&a| (a, b))))
            {
                if wi * wj > 0.0 && valid(lx.pos(i), ly.pos(j)) {
                    *o = (j * lx.count + i, wi * wj);
                }
            }
            out
        };
        let lonely =
            |x: usize, y: usize| valid(x, y) && weights(x, y).iter().all(|&(_, wt)| wt == 0.0);
        let every_valid = patch.valid.iter().all(|&v| v != 0) && lx.count > 0 && ly.count > 0;
        let mut lattice = vec![f32::NAN; lx.count * ly.count];
        let mut out = vec![f32::NAN; w * h];
        let mut failed = None;
        for_each_sub(patch, side, |s, fa, fb| {
            if failed.is_some() {
                return;
            }
            let [x0, y0, sw, sh]: [usize; 4] = s.core.into();
            let [cx, cy, cw, _]: [usize; 4] = s.read.into();
            let local = |x: usize, y: usize| (y - cy) * cw + x - cx;
            // Per core row: the lattice points, then the lonely pixels.
            let points: Vec<(usize, Vec<usize>, usize)> = (y0..y0 + sh)
                .into_par_iter()
                .map(|y| {
                    let mut xs: Vec<usize> = Vec::new();
                    let on = ly.within(y, y + 1);
                    if !on.is_empty() {
                        xs.extend(lx.within(x0, x0 + sw).map(|i| lx.pos(i)));
                    }
                    let on_lattice = xs.len();
                    if !every_valid {
                        xs.retain(|&x| valid(x, y));
                        let kept = xs.len();
                        xs.extend((x0..x0 + sw).filter(|&x| lonely(x, y)));
                        return (y, xs, kept);
                    }
                    (y, xs, on_lattice)
                })
                .filter(|(_, xs, _)| !xs.is_empty())
                .collect();
            let scores: Vec<Vec<f32>> = if let Some(gpu) = device {
                let all: Vec<usize> = points
                    .iter()
                    .flat_map(|(y, xs, _)| xs.iter().map(|&x| local(x, *y)))
                    .collect();
                let mut flat = Vec::with_capacity(all.len());
                for chunk in all.chunks(GPU_ROWS) {
                    let mut rows = vec![0.0f32; chunk.len() * FEATURES];
                    rows.par_chunks_mut(FEATURES)
                        .zip(chunk.par_iter())
                        .for_each(|(r, &i)| row(fa, fb, i, r.try_into().expect("a row")));
                    match gpu.tree_scores(&rows, FEATURES, &self.packed, &self.roots, self.base) {
                        Ok(z) => flat.extend(z),
                        Err(e) => {
                            failed = Some(e);
                            return;
                        }
                    }
                }
                let mut rest = flat.as_slice();
                points
                    .iter()
                    .map(|(_, xs, _)| {
                        let (now, later) = rest.split_at(xs.len());
                        rest = later;
                        now.to_vec()
                    })
                    .collect()
            } else {
                points
                    .par_iter()
                    .map(|(y, xs, _)| {
                        let idx: Vec<usize> = xs.iter().map(|&x| local(x, *y)).collect();
                        let mut cols = vec![0.0f32; FEATURES * idx.len()];
                        columns_at(fa, fb, &idx, &mut cols);
                        let mut z = vec![0.0f32; idx.len()];
                        self.score_columns(&cols, &mut z);
                        z
                    })
                    .collect()
            };
            for ((y, xs, on_lattice), z) in points.iter().zip(scores) {
                for (k, (&x, z)) in xs.iter().zip(z).enumerate() {
                    if k < *on_lattice {
                        let (i, j) = ((x - lx.first) / stride, (y - ly.first) / stride);
                        lattice[j * lx.count + i] = z;
                    } else {
                        out[y * w + x] = crate::model::net::sigmoid(z);
                    }
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        out.par_chunks_mut(w).enumerate().for_each(|(y, line)| {
            for (x, o) in line.iter_mut().enumerate() {
                // Not valid: NaN as `out` began.
                if !valid(x, y) {
                    continue;
                }
                let (mut sum, mut total) = (0.0f32, 0.0f32);
                for (k, wt) in weights(x, y) {
                    if wt > 0.0 {
                        sum += wt * lattice[k];
                        total += wt;
                    }
                }
                if total > 0.0 {
                    *o = crate::model::net::sigmoid(sum / total);
                }
            }
        });
        Ok(out)
    }

    /// [`PixelTrees::probability`] over a detection tile whose first pixel lies at `origin`
    /// in the scene: the model bands `bands` of both dates scaled by `scaling` (`(offset,
    /// factor)` per date and band).
    pub fn evidence(
        &self,
        input: &TileInput,
        origin: (usize, usize),
        bands: &[usize],
        scaling: &super::infer::Scaling,
        sizes: (usize, usize),
        device: super::ops::ConvDevice,
    ) -> crate::Result<Vec<f32>> {
        let plane = input.width * input.height;
        let scaled = |d: usize, src: &[f32]| -> Vec<f32> {
            let mut out = Vec::with_capacity(3 * plane);
            for (k, &b) in bands.iter().enumerate() {
                let (off, f) = scaling[d][k];
                out.extend(
                    src[b * plane..(b + 1) * plane]
                        .iter()
                        .zip(&input.valid)
                        .map(|(&v, &ok)| {
                            if ok != 0 && v.is_finite() {
                                (v - off) * f
                            } else {
                                0.0
                            }
                        }),
                );
            }
            out
        };
        let (before, after) = (scaled(0, &input.before), scaled(1, &input.after));
        self.probability(
            &Patch {
                width: input.width,
                height: input.height,
                before: &before,
                after: &after,
                valid: &input.valid,
                origin,
            },
            sizes,
            device,
        )
    }
}

/// Feature rows and labels drawn from labelled pairs for training.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    pub rows: Vec<Vec<f64>>,
    pub labels: Vec<usize>,
}

/// Draw up to `per_pair` scored pixels of `pair` (uniformly, deterministic for `seed`) with
/// their feature rows, computed exactly as detection computes them.
pub fn sample_pair(pair: &TrainPair, per_pair: usize, seed: u64) -> Samples {
    assert_eq!(pair.bands, 3, "pixel trees read three bands (R, G, B)");
    let valid: Vec<u32> = pair
        .label
        .iter()
        .map(|&l| u32::from(l != super::train::IGNORE))
        .collect();
    let scored = valid.iter().filter(|&&v| v != 0).count();
    let keep = (per_pair as f64 / scored.max(1) as f64).min(1.0);
    let mut rng = super::net::Rng::new(seed);
    let mut out = Samples::default();
    let patch = Patch {
        width: pair.width,
        height: pair.height,
        before: &pair.before,
        after: &pair.after,
        valid: &valid,
        origin: (0, 0),
    };
    let w = pair.width;
    for_each_sub(&patch, SUB, |s, fa, fb| {
        let [x0, y0, sw, sh]: [usize; 4] = s.core.into();
        let [cx, cy, cw, _]: [usize; 4] = s.read.into();
        let mut x = [0.0f32; FEATURES];
        for y in y0..y0 + sh {
            for xx in x0..x0 + sw {
                let i = y * w + xx;
                if valid[i] == 0 || rng.unit() >= keep {
                    continue;
                }
                row(fa, fb, (y - cy) * cw + xx - cx, &mut x);
                out.rows.push(x.iter().map(|&v| f64::from(v)).collect());
                out.labels.push(usize::from(pair.label[i]));
            }
        }
    });
    out
}

/// Probability of every row (for validation).
pub fn predict_rows(trees: &PixelTrees, rows: &[Vec<f64>]) -> Vec<f32> {
    let mut out = vec![0.0f32; rows.len()];
    out.par_chunks_mut(256)
        .zip(rows.par_chunks(256))
        .for_each(|(o, r)| {
            let n = r.len();
            let mut cols = vec![0.0f32; FEATURES * n];
            for (i, r) in r.iter().enumerate() {
                for (k, &v) in r.iter().enumerate() {
                    cols[k * n + i] = v as f32;
                }
            }
            trees.score_columns(&cols, o);
            o.iter_mut()
                .for_each(|z| *z = crate::model::net::sigmoid(*z));
        });
    out
}

/// Keep the first `rounds` trees of a logistic booster.
pub fn truncate(booster: &Booster, rounds: usize) -> Booster {
    Booster {
        base: booster.base.clone(),
        trees: booster
            .trees
            .iter()
            .take(rounds)
            .cloned()
            .collect::<Vec<Tree>>(),
    }
}

/// How pixel trees are trained.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TreesOptions {
    pub rounds: usize,
    pub depth: usize,
    /// Oblivious trees ([`crate::learn::gbdt::Params::oblivious`]).
    pub oblivious: bool,
    pub learning_rate: f64,
    /// Pixels drawn from each pair (all its scored pixels when it has fewer).
    pub per_pair: usize,
    /// Share of the pairs held out to pick the number of trees and the threshold.
    pub validation: f32,
    pub seed: u64,
    /// Each training pair is also seen resampled by these factors (scale augmentation: the
    /// same buildings at other pixel sizes, since a model meets imagery of 0.3 to 2 m).
    pub scales: Vec<f32>,
}

impl Default for TreesOptions {
    fn default() -> Self {
        TreesOptions {
            rounds: 250,
            depth: 5,
            oblivious: false,
            learning_rate: 0.08,
            per_pair: 20_000,
            validation: 0.2,
            seed: 1,
            scales: vec![0.5, 2.0],
        }
    }
}

/// `pair` resampled by `factor` (2: every pixel becomes 2 x 2, bilinear; 0.5: 2 x 2 pixels
/// become one, their mean, change where at least two were, not scored where any was not).
pub fn resample_pair(pair: &TrainPair, factor: f32) -> TrainPair {
    let (w, h) = (pair.width, pair.height);
    let plane = w * h;
    let bands = pair.bands;
    let ignore = super::train::IGNORE;
    let (nw, nh, before, after, label) = if factor > 1.0 {
        let (nw, nh) = (2 * w, 2 * h);
        // Output pixel centres at (x + 0.5) / 2 - 0.5 in source pixels, edges clamped.
        let coord = |o: usize, len: usize| -> (usize, usize, f32) {
            let c = ((o as f32 + 0.5) / 2.0 - 0.5).max(0.0);
            let i = (c.floor() as usize).min(len - 1);
            (i, (i + 1).min(len - 1), c - i as f32)
        };
        let up = |src: &[f32]| -> Vec<f32> {
            let mut out = Vec::with_capacity(bands * nw * nh);
            for b in 0..bands {
                let p = &src[b * plane..(b + 1) * plane];
                for oy in 0..nh {
                    let (y0, y1, fy) = coord(oy, h);
                    for ox in 0..nw {
                        let (x0, x1, fx) = coord(ox, w);
                        let top = p[y0 * w + x0] * (1.0 - fx) + p[y0 * w + x1] * fx;
                        let bot = p[y1 * w + x0] * (1.0 - fx) + p[y1 * w + x1] * fx;
                        out.push(top * (1.0 - fy) + bot * fy);
                    }
                }
            }
            out
        };
        let label = (0..nw * nh)
            .map(|i| pair.label[(i / nw / 2) * w + (i % nw) / 2])
            .collect();
        (nw, nh, up(&pair.before), up(&pair.after), label)
    } else {
        let (nw, nh) = ((w / 2).max(1), (h / 2).max(1));
        let cells = |x: usize, y: usize| {
            [(0, 0), (1, 0), (0, 1), (1, 1)]
                .map(|(dx, dy)| ((2 * y + dy).min(h - 1)) * w + (2 * x + dx).min(w - 1))
        };
        let down = |src: &[f32]| -> Vec<f32> {
            let mut out = Vec::with_capacity(bands * nw * nh);
            for b in 0..bands {
                let p = &src[b * plane..(b + 1) * plane];
                for y in 0..nh {
                    for x in 0..nw {
                        out.push(cells(x, y).iter().map(|&i| p[i]).sum::<f32>() * 0.25);
                    }
                }
            }
            out
        };
        let label = (0..nw * nh)
            .map(|i| {
                let c = cells(i % nw, i / nw).map(|k| pair.label[k]);
                if c.contains(&ignore) {
                    ignore
                } else {
                    u8::from(c.iter().filter(|&&l| l == 1).count() >= 2)
                }
            })
            .collect();
        (nw, nh, down(&pair.before), down(&pair.after), label)
    };
    TrainPair {
        name: format!("{}@{factor}", pair.name),
        source: pair.source.clone(),
        width: nw,
        height: nh,
        bands,
        before,
        after,
        label,
    }
}

/// The trained trees and how they got there.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainedTrees {
    #[serde(skip)]
    pub booster: Booster,
    pub training_pairs: Vec<String>,
    pub validation_pairs: Vec<String>,
    pub training_rows: usize,
    pub validation_rows: usize,
    /// Mean log-loss after each round on the training rows, and on the validation rows.
    pub loss: Vec<f64>,
    pub validation_loss: Vec<f64>,
    /// Trees kept: the round of the lowest validation loss (all without validation).
    pub kept_rounds: usize,
    /// The probability that gave the best pooled F1 on the validation rows, and that F1.
    pub best_threshold: Option<f32>,
    pub validation_scores: Option<super::train::ValidationScores>,
    /// The features with most split gain, most first.
    pub importance: Vec<(String, f64)>,
    pub options: TreesOptions,
}

/// Pixel scores of probabilities `p` against labels `y` at `threshold`.
fn scores_at(p: &[f32], y: &[usize], threshold: f32) -> super::train::ValidationScores {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (&p, &y) in p.iter().zip(y) {
        match (p >= threshold, y == 1) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    super::train::ValidationScores::from_counts(tp, fp, fn_)
}

/// Train pixel trees on `pairs` (three bands each, scaled as [`super::data::load_pair`]
/// scales them). `progress(what, done, total)` is called per pair sampled and per round.
///
/// # Panics
/// When `pairs` is empty or a pair has other than three bands (the caller checks both).
pub fn train_trees(
    pairs: &[TrainPair],
    opts: &TreesOptions,
    progress: &(dyn Fn(&str, u64, u64) + Sync),
) -> TrainedTrees {
    assert!(!pairs.is_empty(), "no training pair");
    let mut rng = super::net::Rng::from_state(opts.seed);
    let (val_idx, train_idx) = super::train::split_pairs(pairs.len(), opts.validation, &mut rng);
    let draw = |idx: &[usize], scales: &[f32], what: &str| -> Samples {
        let mut all = Samples::default();
        for (k, &i) in idx.iter().enumerate() {
            let seed = opts.seed.wrapping_add(i as u64);
            let mut add = |p: &TrainPair, seed: u64| {
                let s = sample_pair(p, opts.per_pair, seed);
                all.rows.extend(s.rows);
                all.labels.extend(s.labels);
            };
            add(&pairs[i], seed);
            for (j, &f) in scales.iter().enumerate() {
                add(&resample_pair(&pairs[i], f), seed ^ ((j as u64 + 1) << 32));
            }
            progress(what, k as u64 + 1, idx.len() as u64);
        }
        all
    };
    let train = draw(&train_idx, &opts.scales, "features of the training pairs");
    // Validation judges the pairs as they are.
    let val = draw(&val_idx, &[], "features of the validation pairs");
    let params = crate::learn::gbdt::Params {
        rounds: opts.rounds,
        depth: opts.depth,
        learning_rate: opts.learning_rate,
        lambda: 1.0,
        // About 20 pixels of an uncertain class, more of a confident one.
        min_child_hess: 5.0,
        oblivious: opts.oblivious,
    };
    let eval = (!val.rows.is_empty()).then_some((&val.rows[..], &val.labels[..]));
    let (fit, validation_loss) = crate::learn::gbdt::train_with_progress(
        &train.rows,
        &train.labels,
        2,
        &params,
        eval,
        &|done| progress("growing trees", done as u64, opts.rounds as u64),
    );
    let kept_rounds = validation_loss
        .iter()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map_or(opts.rounds, |(i, _)| i + 1);
    let booster = truncate(&fit.booster, kept_rounds);
    let (best_threshold, validation_scores) = if val.rows.is_empty() {
        (None, None)
    } else {
        let trees = PixelTrees::new(booster.clone()).expect("trees just grown are valid");
        let p = predict_rows(&trees, &val.rows);
        let best = (1..20)
            .map(|k| k as f32 * 0.05)
            .map(|t| (t, scores_at(&p, &val.labels, t)))
            .fold(
                None::<(f32, super::train::ValidationScores)>,
                |b, (t, s)| match b {
                    Some((_, bs)) if bs.f1 >= s.f1 => b,
                    _ => Some((t, s)),
                },
            )
            .expect("thresholds are tried");
        (Some(best.0), Some(best.1))
    };
    let names = feature_names();
    let mut importance: Vec<(String, f64)> = names
        .into_iter()
        .zip(fit.importance.iter().copied())
        .collect();
    importance.sort_by(|a, b| b.1.total_cmp(&a.1));
    importance.truncate(12);
    let name = |i: &usize| format!("{}/{}", pairs[*i].source, pairs[*i].name);
    TrainedTrees {
        booster,
        training_pairs: train_idx.iter().map(name).collect(),
        validation_pairs: val_idx.iter().map(name).collect(),
        training_rows: train.rows.len(),
        validation_rows: val.rows.len(),
        loss: fit.loss,
        validation_loss,
        kept_rounds,
        best_threshold,
        validation_scores,
        importance,
        options: opts.clone(),
    }
}

/// A pixel-trees model file (TOML): the configuration of any model ([`super::config`]), the
/// feature set it was trained on, and the trees.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreesFile {
    /// Always `"pixel-trees"`.
    pub kind: String,
    /// [`FEATURE_SET`] of the tuban that trained it.
    pub features: String,
    pub input: super::config::InputConf,
    pub tile: super::config::TileConf,
    pub output: super::config::OutputConf,
    pub booster: Booster,
}

/// Why `config` cannot drive pixel trees (the file's own, or one given with
/// `--model-config`), if it cannot.
///
/// # Errors
/// Other than three bands, or a scaling other than the scene's statistics.
pub fn check_config(config: &super::config::ModelConfig) -> Result<(), String> {
    if config.input.bands.len() != 3 {
        return Err(format!(
            "input.bands names {} bands; pixel trees read three (R, G, B)",
            config.input.bands.len()
        ));
    }
    if config.input.scale != super::config::Scale::Scene {
        return Err(
            "pixel trees scale each date by its scene statistics: scale = \"scene\"".into(),
        );
    }
    Ok(())
}

/// The `kind` of a pixel-trees model file.
pub const KIND: &str = "pixel-trees";

impl TreesFile {
    /// Read a model file's text.
    ///
    /// # Errors
    /// Why it is not a pixel-trees model this tuban can run.
    pub fn parse(text: &str) -> Result<(super::config::ModelConfig, PixelTrees), String> {
        let f: TreesFile = toml::from_str(text).map_err(|e| e.to_string())?;
        if f.kind != KIND {
            return Err(format!("kind = {:?}; expected {KIND:?}", f.kind));
        }
        if f.features != FEATURE_SET {
            return Err(format!(
                "made for the feature set {:?}; this tuban computes {FEATURE_SET:?}",
                f.features
            ));
        }
        let trees = PixelTrees::new(f.booster)?;
        let config = super::config::ModelConfig {
            input: f.input,
            tile: f.tile,
            output: f.output,
        };
        config.check()?;
        check_config(&config)?;
        Ok((config, trees))
    }

    /// The file's text, with a comment head saying what it is.
    pub fn to_toml(&self, head: &str) -> String {
        head.lines().map(|l| format!("# {l}\n")).collect::<String>()
            + &toml::to_string(self).expect("a trees model serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texture(w: usize, h: usize, seed: u64) -> Vec<f32> {
        let mut rng = super::super::net::Rng::new(seed);
        let raw: Vec<f32> = (0..3 * w * h).map(|_| rng.unit() as f32).collect();
        // Some structure: a bright square in every plane.
        let mut v = raw;
        for p in 0..3 {
            for y in h / 3..h / 2 {
                for x in w / 4..w / 2 {
                    v[p * w * h + y * w + x] += 2.0;
                }
            }
        }
        v
    }

    #[test]
    fn resampling_keeps_values_labels_and_unscored_pixels() {
        let (w, h) = (6, 4);
        let plane: Vec<f32> = (0..w * h).map(|i| i as f32).collect();
        let mut label = vec![0u8; w * h];
        label[0] = 1;
        label[1] = 1;
        label[w + 5] = super::super::train::IGNORE;
        let pair = TrainPair {
            name: "p".into(),
            source: "s".into(),
            width: w,
            height: h,
            bands: 1,
            before: plane.clone(),
            after: plane,
            label,
        };
        let up = resample_pair(&pair, 2.0);
        assert_eq!((up.width, up.height, up.before.len()), (12, 8, 96));
        // Pixel centres of the source land between output pixels: (0,0) keeps the corner
        // value, and the output row 2 pixel 3 sits a quarter past source (1, 1) towards
        // (1, 0) and (2, 1) ... bilinear of 0..23 is itself linear.
        assert_eq!(up.before[0], 0.0);
        let want = |ox: usize, oy: usize| {
            let c =
                |o: usize, len: usize| ((o as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (len - 1) as f32);
            c(oy, h) * w as f32 + c(ox, w)
        };
        for (oy, ox) in [(2, 3), (5, 7), (7, 11)] {
            assert!((up.before[oy * 12 + ox] - want(ox, oy)).abs() < 1e-4);
        }
        assert_eq!(
            (up.label[0], up.label[13], up.label[2 * 12 + 11]),
            (1, 1, 255)
        );
        let down = resample_pair(&pair, 0.5);
        assert_eq!((down.width, down.height), (3, 2));
        assert_eq!(down.before[0], (0.0 + 1.0 + 6.0 + 7.0) / 4.0);
        // Two of four changed: change; a cell with an unscored pixel: unscored.
        assert_eq!((down.label[0], down.label[2]), (1, 255));
    }

    #[test]
    fn cuts_round_down_to_the_f32_that_decides_alike() {
        for v in [
            0.1f64,
            -0.1,
            1e-40,
            -1e-40,
            0.0,
            3.0,
            -2.5e7 + 0.3,
            1.0 / 3.0,
        ] {
            let f = f32_down(v);
            assert!(f64::from(f) <= v, "{v}");
            // The next f32 up is above the cut: every f32 compares alike.
            let up = if f >= 0.0 {
                f32::from_bits(f.to_bits() + 1)
            } else if f == -f32::from_bits(1) {
                0.0
            } else {
                f32::from_bits(f.to_bits() - 1)
            };
            assert!(f64::from(up) > v || f64::from(f) == v, "{v}: {f} {up}");
        }
    }

    #[test]
    fn mirror_reflects_with_the_edge_repeated() {
        let got: Vec<usize> = (-3..8).map(|i| mirror(i, 5)).collect();
        assert_eq!(got, vec![2, 1, 0, 0, 1, 2, 3, 4, 4, 3, 2]);
        assert_eq!(mirror(-5, 1), 0);
    }

    #[test]
    fn blur_keeps_a_constant_and_the_mean() {
        let dims = (23, 17);
        let c = vec![3.5f32; 23 * 17];
        assert!(blur(&c, dims, 2.0).iter().all(|v| (v - 3.5).abs() < 1e-5));
        let mut spike = vec![0.0f32; 23 * 17];
        spike[8 * 23 + 11] = 1.0;
        let s: f32 = blur(&spike, dims, 1.0).iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "{s}");
    }

    #[test]
    fn blur_sums_every_pixels_taps_in_order() {
        // The two passes against a direct sum per pixel, tap by tap in the same order: the same
        // bits (features must not move, or the trained cuts would decide otherwise), for widths
        // below, at and past a register run and sigmas whose taps reach past the edge.
        for (w, h, sigma) in [(7, 5, 2.0f32), (32, 9, 1.0), (77, 41, 8.0), (100, 3, 1.5)] {
            let src = texture(w, h, 5)[..w * h].to_vec();
            let (r, k) = gaussian_taps(sigma);
            let along = |get: &dyn Fn(i64) -> f32| {
                let mut a = 0.0f32;
                for (j, &kv) in k.iter().enumerate() {
                    a += kv * get(j as i64 - r);
                }
                a
            };
            let mut tmp = vec![0.0f32; w * h];
            for y in 0..h {
                for x in 0..w {
                    tmp[y * w + x] = along(&|d| src[y * w + mirror(x as i64 + d, w)]);
                }
            }
            let got = blur(&src, (w, h), sigma);
            for y in 0..h {
                for x in 0..w {
                    let want = along(&|d| tmp[mirror(y as i64 + d, h) * w + x]);
                    assert_eq!(
                        want.to_bits(),
                        got[y * w + x].to_bits(),
                        "{w}x{h} ({x}, {y})"
                    );
                }
            }
        }
    }

    #[test]
    fn square_extremes_match_a_direct_search() {
        let (w, h) = (19, 13);
        let v = texture(w, h, 3)[..w * h].to_vec();
        let e = square_extreme(&v, (w, h), 2, true);
        for y in 0..h {
            for x in 0..w {
                let mut m = f32::INFINITY;
                for yy in y.saturating_sub(2)..=(y + 2).min(h - 1) {
                    for xx in x.saturating_sub(2)..=(x + 2).min(w - 1) {
                        m = m.min(v[yy * w + xx]);
                    }
                }
                assert_eq!(e[y * w + x], m);
            }
        }
    }

    #[test]
    fn names_cover_every_feature() {
        let n = feature_names();
        assert_eq!(n.len(), FEATURES);
        let uniq: std::collections::HashSet<_> = n.iter().collect();
        assert_eq!(uniq.len(), FEATURES);
    }

    #[test]
    fn features_do_not_depend_on_where_sub_tiles_fall() {
        // A pixel's row computed in small sub-tiles equals the one computed in one large
        // sub-tile, once it is HALO px from the patch edge.
        let (w, h) = (300, 260);
        let (b, a) = (texture(w, h, 1), texture(w, h, 2));
        let valid = vec![1u32; w * h];
        let patch = Patch {
            width: w,
            height: h,
            before: &b,
            after: &a,
            valid: &valid,
            origin: (0, 0),
        };
        let collect = |side: usize| {
            let mut all = vec![[0.0f32; FEATURES]; w * h];
            for_each_sub(&patch, side, |s, fa, fb| {
                let [x0, y0, sw, sh]: [usize; 4] = s.core.into();
                let [cx, cy, cw, _]: [usize; 4] = s.read.into();
                for y in y0..y0 + sh {
                    for x in x0..x0 + sw {
                        row(fa, fb, (y - cy) * cw + x - cx, &mut all[y * w + x]);
                    }
                }
            });
            all
        };
        let (small, large) = (collect(64), collect(512));
        let mut worst = 0.0f32;
        for y in HALO..h - HALO {
            for x in HALO..w - HALO {
                for k in 0..FEATURES {
                    worst = worst.max((small[y * w + x][k] - large[y * w + x][k]).abs());
                }
            }
        }
        assert!(worst < 1e-4, "largest difference {worst}");
    }

    #[test]
    fn lattice_points_score_as_every_pixel_and_the_rest_lie_between() {
        let (_, trees) = TreesFile::parse(crate::model::infer::BUILTIN_RGB).expect("built-in");
        let (w, h) = (150, 130);
        let (b, a) = (texture(w, h, 1), texture(w, h, 2));
        // A nodata block holding one valid pixel off the lattice whose four lattice
        // neighbours are all nodata: it is scored itself.
        let mut valid = vec![1u32; w * h];
        for y in 40..60 {
            for x in 70..90 {
                valid[y * w + x] = 0;
            }
        }
        let lonely = 51 * w + 80;
        valid[lonely] = 1;
        // The patch starts at scene column 1: the lattice's columns are the odd ones.
        let patch = |origin| Patch {
            width: w,
            height: h,
            before: &b,
            after: &a,
            valid: &valid,
            origin,
        };
        let every = trees.probability(&patch((1, 0)), (64, 1), None).unwrap();
        let lattice = trees.probability(&patch((1, 0)), (64, 2), None).unwrap();
        let on = |x: usize, y: usize| x % 2 == 1 && y % 2 == 0;
        let mut between = 0;
        for y in 0..h {
            for x in 0..w {
                let (e, l) = (every[y * w + x], lattice[y * w + x]);
                if valid[y * w + x] == 0 {
                    assert!(e.is_nan() && l.is_nan());
                } else if on(x, y) || y * w + x == lonely {
                    assert_eq!(e.to_bits(), l.to_bits(), "({x}, {y})");
                } else {
                    // Bilinear in log-odds, so between the valid lattice points around.
                    let near: Vec<f32> = [x.saturating_sub(1), x, (x + 1).min(w - 1)]
                        .iter()
                        .flat_map(|&i| [y.saturating_sub(1), y, (y + 1).min(h - 1)].map(|j| (i, j)))
                        .filter(|&(i, j)| on(i, j) && valid[j * w + i] != 0)
                        .map(|(i, j)| every[j * w + i])
                        .collect();
                    let lo = near.iter().copied().fold(f32::INFINITY, f32::min);
                    let hi = near.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    assert!(
                        l >= lo - 1e-6 && l <= hi + 1e-6,
                        "({x}, {y}): {l} not in {lo}..{hi}"
                    );
                    between += usize::from(hi - lo > 1e-3);
                }
            }
        }
        assert!(
            between > 1000,
            "only {between} pixels between distinct scores"
        );
        // The lattice is the scene's: a window of the patch starting at an odd place gives the
        // same values away from its edge.
        let (x0, y0, cw, ch) = (37, 23, 101, 97);
        let cut = |src: &[f32]| -> Vec<f32> {
            (0..3)
                .flat_map(|p| {
                    (y0..y0 + ch)
                        .flat_map(move |y| src[p * w * h + y * w + x0..][..cw].iter().copied())
                })
                .collect()
        };
        let (cb, ca) = (cut(&b), cut(&a));
        let cv: Vec<u32> = (y0..y0 + ch)
            .flat_map(|y| valid[y * w + x0..][..cw].iter().copied())
            .collect();
        let part = Patch {
            width: cw,
            height: ch,
            before: &cb,
            after: &ca,
            valid: &cv,
            origin: (1 + x0, y0),
        };
        let inner = trees.probability(&part, (40, 2), None).unwrap();
        let reach = HALO + 1;
        for y in reach..ch - reach {
            for x in reach..cw - reach {
                let (p, q) = (inner[y * cw + x], lattice[(y0 + y) * w + x0 + x]);
                assert!(
                    (p.is_nan() && q.is_nan()) || (p - q).abs() < 1e-5,
                    "({x}, {y}): {p} against {q}"
                );
            }
        }
    }

    /// Feature rows laid out as columns.
    fn to_columns(rows: &[[f32; FEATURES]]) -> Vec<f32> {
        let n = rows.len();
        let mut cols = vec![0.0f32; FEATURES * n];
        for (i, r) in rows.iter().enumerate() {
            for (k, &v) in r.iter().enumerate() {
                cols[k * n + i] = v;
            }
        }
        cols
    }

    /// One row through the trees in the WGSL kernel's node format, one node at a time.
    fn single_walk(trees: &PixelTrees, x: &[f32; FEATURES]) -> f32 {
        let mut s = trees.base;
        for &root in &trees.roots {
            let mut n = trees.packed[root as usize];
            while n[0] != TREE_LEAF {
                let split = f32::from_bits(n[1]);
                n = trees.packed[if x[n[0] as usize] <= split {
                    n[2]
                } else {
                    n[3]
                } as usize];
            }
            s += f32::from_bits(n[1]);
        }
        s
    }

    #[test]
    fn compiled_trees_decide_as_the_booster() {
        // A booster trained on a toy rule over two features; the compiled f32 trees give the
        // booster's own score on every row, including rows that sit exactly on a cut.
        let rows: Vec<Vec<f64>> = (0..400)
            .map(|i| {
                let mut r = vec![0.0f64; FEATURES];
                r[3] = f64::from((i % 20) as f32 * 0.1);
                r[60] = f64::from((i / 20) as f32 * 0.37);
                r
            })
            .collect();
        let y: Vec<usize> = rows
            .iter()
            .map(|r| usize::from(r[3] > 0.95 && r[60] < 3.0))
            .collect();
        let p = crate::learn::gbdt::Params {
            rounds: 20,
            depth: 3,
            ..Default::default()
        };
        let (fit, _) = crate::learn::gbdt::train(&rows, &y, 2, &p, None);
        let trees = PixelTrees::new(fit.booster.clone()).expect("valid trees");
        let got = predict_rows(&trees, &rows);
        for (r, g) in rows.iter().zip(&got) {
            let want = fit.booster.proba(r)[0] as f32;
            assert!((want - g).abs() < 1e-5, "{want} {g}");
        }
        // The lock-step walk gives the bits of one row walking the kernel's node format at a
        // time (as shaders/trees.wgsl does), for any number of rows.
        let feats: Vec<[f32; FEATURES]> = rows
            .iter()
            .take(37)
            .map(|r| std::array::from_fn(|k| r[k] as f32))
            .collect();
        let mut walked = vec![0.0f32; feats.len()];
        trees.walk_columns(&to_columns(&feats), &mut walked);
        for (f, z) in feats.iter().zip(&walked) {
            assert_eq!(single_walk(&trees, f).to_bits(), z.to_bits());
        }
        let correct = got
            .iter()
            .zip(&y)
            .filter(|(p, y)| (**p > 0.5) == (**y == 1))
            .count();
        assert_eq!(correct, rows.len());
    }

    /// `n` rows of features drawn uniformly in -2..2 (seed `seed`), as f32 rows and as the
    /// booster's f64 rows, labelled 1 where `rule` holds.
    fn noisy_rows(
        seed: u64,
        n: usize,
        rule: impl Fn(&[f32; FEATURES]) -> bool,
    ) -> (Vec<[f32; FEATURES]>, Vec<Vec<f64>>, Vec<usize>) {
        let mut rng = crate::synth::world::Rng::new(seed);
        let rows: Vec<[f32; FEATURES]> = (0..n)
            .map(|_| std::array::from_fn(|_| rng.unit_f32() * 4.0 - 2.0))
            .collect();
        let y = rows.iter().map(|r| usize::from(rule(r))).collect();
        let x = rows
            .iter()
            .map(|r| r.iter().map(|&v| f64::from(v)).collect())
            .collect();
        (rows, x, y)
    }

    #[test]
    fn free_trees_score_as_complete_trees_with_the_walks_bits() {
        // Free trees of depth 5 grown on noisy rows, a large minimum leaf weight leaving many
        // leaves above the last level (padded with always-left questions): scored as complete
        // trees, every pixel has the bits of the lock-step walk and of one row walking the
        // kernel's node format, for a count of pixels that is not a multiple of the block.
        let (rows, x, y) = noisy_rows(4, 301, |r| r[7] * r[40] > 0.2 || r[101] > 1.2 - 0.3 * r[2]);
        let grow = |depth, min_child_hess| {
            let p = crate::learn::gbdt::Params {
                rounds: 25,
                depth,
                min_child_hess,
                ..Default::default()
            };
            let (fit, _) = crate::learn::gbdt::train(&x, &y, 2, &p, None);
            PixelTrees::new(fit.booster).expect("valid trees")
        };
        let trees = grow(5, 4.0);
        let c = trees
            .complete
            .as_ref()
            .expect("free trees of depth 5 are completed");
        assert!(trees.levels.is_none());
        assert!(c.depth.contains(&5), "{:?}", c.depth);
        // Some leaf sits above the last level: padding was needed.
        let padded = c.split.iter().filter(|t| t.is_infinite()).count();
        assert!(padded > 0);
        let n = rows.len();
        let cols = to_columns(&rows);
        let mut complete = vec![0.0f32; n];
        trees.score_columns(&cols, &mut complete);
        let mut walked = vec![0.0f32; n];
        trees.walk_columns(&cols, &mut walked);
        // The portable loops (what a CPU without AVX2 runs) too.
        let mut portable = vec![0.0f32; n];
        score_complete_portable(c, trees.base, &cols, &mut portable);
        for (((r, a), b), p) in rows.iter().zip(&complete).zip(&walked).zip(&portable) {
            assert_eq!(a.to_bits(), b.to_bits());
            assert_eq!(a.to_bits(), p.to_bits());
            assert_eq!(single_walk(&trees, r).to_bits(), a.to_bits());
        }
        // Deeper trees are walked.
        assert!(grow(6, 0.5).complete.is_none());
    }

    #[test]
    fn oblivious_trees_score_by_levels_with_the_walks_bits() {
        // Oblivious trees grown on noisy rows score by levels; every pixel's score has the
        // bits of the lock-step walk and of one row walking the kernel's node format (what
        // the GPU runs), for a count of pixels that is not a multiple of the block.
        let (rows, x, y) = noisy_rows(9, 203, |r| r[5] + 0.5 * r[70] > 0.3 || r[99] > 1.5);
        let p = crate::learn::gbdt::Params {
            rounds: 30,
            depth: 4,
            oblivious: true,
            min_child_hess: 0.5,
            ..Default::default()
        };
        let (fit, _) = crate::learn::gbdt::train(&x, &y, 2, &p, None);
        let trees = PixelTrees::new(fit.booster.clone()).expect("valid trees");
        let lv = trees
            .levels
            .as_ref()
            .expect("oblivious trees are scored by levels");
        assert!(lv.depth.contains(&4), "{:?}", lv.depth);
        let n = rows.len();
        let cols = to_columns(&rows);
        let mut by_levels = vec![0.0f32; n];
        trees.score_columns(&cols, &mut by_levels);
        let mut walked = vec![0.0f32; n];
        trees.walk_columns(&cols, &mut walked);
        for ((r, a), b) in rows.iter().zip(&by_levels).zip(&walked) {
            assert_eq!(a.to_bits(), b.to_bits());
            assert_eq!(single_walk(&trees, r).to_bits(), a.to_bits());
        }
        // The booster in f64 agrees, and it learned the rule.
        let right = x
            .iter()
            .zip(&y)
            .zip(&by_levels)
            .filter(|&((r, y), z)| {
                assert!((fit.booster.raw(r)[0] as f32 - z).abs() < 1e-4);
                (*z > 0.0) == (*y == 1)
            })
            .count();
        assert!(right as f64 > 0.95 * n as f64, "{right} of {n}");
        // Free trees are walked.
        let free = crate::learn::gbdt::Params {
            oblivious: false,
            ..p
        };
        let (fit, _) = crate::learn::gbdt::train(&x, &y, 2, &free, None);
        assert!(
            PixelTrees::new(fit.booster)
                .expect("valid")
                .levels
                .is_none()
        );
    }
}
