//! Gradient-boosted decision trees for small tabular data (a county's verified leads: hundreds
//! to tens of thousands of rows, a few dozen features): logistic loss for one class, softmax
//! for several; histogram splits over at most [`MAX_BINS`] quantile cuts per feature; a
//! missing value (NaN: a feature the imagery cannot give, NDVI without NIR) goes down the side
//! that gained most when the tree was grown. Deterministic: no sampling, ties keep the first
//! feature and cut. The trees serialise as plain arrays (see [`Tree`]), so a model file can be
//! read and checked by hand.

use serde::{Deserialize, Serialize};

/// Most cuts per feature (the bins are the cuts plus one, plus one for missing values).
pub const MAX_BINS: usize = 64;

/// How trees are grown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    pub rounds: usize,
    pub depth: usize,
    pub learning_rate: f64,
    /// L2 penalty on leaf values (the λ of XGBoost).
    pub lambda: f64,
    /// Smallest sum of hessians in a child (about "rows" once the model is confident).
    pub min_child_hess: f64,
    /// Grow oblivious trees (every node of a level splits on the same feature and cut, as
    /// CatBoost's): a leaf is then the bits of `depth` comparisons, which scores many rows
    /// at once without walking (the pixel trees do, `model::pixel`).
    pub oblivious: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            rounds: 200,
            depth: 3,
            learning_rate: 0.1,
            lambda: 1.0,
            min_child_hess: 1.0,
            oblivious: false,
        }
    }
}

/// One tree as parallel arrays: node `i` is a leaf when `feature[i] < 0` (its value in
/// `value[i]`), else it sends `x[feature] <= split[i]` to `left[i]`, greater to `right[i]`, and
/// a missing value to the left when `missing_left[i]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub feature: Vec<i32>,
    pub split: Vec<f64>,
    pub missing_left: Vec<bool>,
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    pub value: Vec<f64>,
}

impl Tree {
    fn push_leaf(&mut self, value: f64) -> u32 {
        self.feature.push(-1);
        self.split.push(0.0);
        self.missing_left.push(false);
        self.left.push(0);
        self.right.push(0);
        self.value.push(value);
        (self.feature.len() - 1) as u32
    }

    /// Make leaf `n` a split at `s`.
    fn set_split(&mut self, n: usize, data: &Binned, s: &Split) {
        self.feature[n] = s.feature as i32;
        self.split[n] = data.cuts[s.feature][s.cut];
        self.missing_left[n] = s.missing_left;
    }

    /// The leaf value for one row.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut i = 0usize;
        // A node's children come after it, so a tree read from a file cannot loop; the guard
        // bounds a corrupt one.
        for _ in 0..self.feature.len() {
            let f = self.feature[i];
            if f < 0 {
                return self.value[i];
            }
            let v = x.get(f as usize).copied().unwrap_or(f64::NAN);
            let left = if v.is_nan() {
                self.missing_left[i]
            } else {
                v <= self.split[i]
            };
            i = if left { self.left[i] } else { self.right[i] } as usize;
        }
        0.0
    }

    /// Why a tree read from a file cannot be used, if it cannot.
    fn check(&self, features: usize) -> Result<(), String> {
        let n = self.feature.len();
        if n == 0
            || [
                self.split.len(),
                self.missing_left.len(),
                self.left.len(),
                self.right.len(),
                self.value.len(),
            ]
            .iter()
            .any(|&l| l != n)
        {
            return Err("a tree's arrays are empty or of different lengths".into());
        }
        for i in 0..n {
            let f = self.feature[i];
            if f >= 0 {
                if f as usize >= features {
                    return Err(format!("a tree splits on feature {f} of {features}"));
                }
                let (l, r) = (self.left[i] as usize, self.right[i] as usize);
                if l <= i || r <= i || l >= n || r >= n {
                    return Err(format!("a tree's node {i} points outside or backwards"));
                }
            }
        }
        Ok(())
    }
}

/// A boosted ensemble: one output (logistic) or `classes` outputs (softmax), trees in rounds
/// (round r, class k at `trees[r * outputs + k]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Booster {
    /// Raw score before any tree, per output.
    pub base: Vec<f64>,
    pub trees: Vec<Tree>,
}

impl Booster {
    /// Raw scores (log-odds, or softmax logits) of one row.
    pub fn raw(&self, x: &[f64]) -> Vec<f64> {
        let k = self.base.len().max(1);
        let mut s = self.base.clone();
        for (i, t) in self.trees.iter().enumerate() {
            s[i % k] += t.predict(x);
        }
        s
    }

    /// Probabilities of one row: `[p]` for a logistic model, one per class for softmax.
    pub fn proba(&self, x: &[f64]) -> Vec<f64> {
        let r = self.raw(x);
        if r.len() == 1 {
            vec![sigmoid(r[0])]
        } else {
            softmax(&r)
        }
    }

    /// Probability of each class: `[1 - p, p]` for a logistic model.
    pub fn class_proba(&self, x: &[f64]) -> Vec<f64> {
        let p = self.proba(x);
        if p.len() == 1 {
            vec![1.0 - p[0], p[0]]
        } else {
            p
        }
    }

    /// Why a model read from a file cannot be used with `features` inputs, if it cannot.
    ///
    /// # Errors
    /// The first problem found.
    pub fn check(&self, features: usize) -> Result<(), String> {
        if self.base.is_empty() || self.base.iter().any(|b| !b.is_finite()) {
            return Err("base scores are missing or not finite".into());
        }
        if self.trees.len() % self.base.len() != 0 {
            return Err("the tree count is not a multiple of the outputs".into());
        }
        self.trees.iter().try_for_each(|t| t.check(features))
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn softmax(r: &[f64]) -> Vec<f64> {
    let m = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = r.iter().map(|v| (v - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// Rows binned once for every tree: `bins[f][row]`, the missing bin is `cuts[f].len() + 1`.
struct Binned {
    cuts: Vec<Vec<f64>>,
    bins: Vec<Vec<u8>>,
}

impl Binned {
    fn new(x: &[Vec<f64>], features: usize) -> Self {
        let mut cuts = Vec::with_capacity(features);
        let mut bins = Vec::with_capacity(features);
        for f in 0..features {
            let mut v: Vec<f64> = x.iter().map(|r| r[f]).filter(|v| v.is_finite()).collect();
            v.sort_by(f64::total_cmp);
            v.dedup();
            let c: Vec<f64> = if v.len() <= MAX_BINS + 1 {
                v.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect()
            } else {
                let mut c: Vec<f64> = (1..=MAX_BINS)
                    .map(|q| {
                        let i = q * (v.len() - 1) / (MAX_BINS + 1);
                        0.5 * (v[i] + v[i + 1])
                    })
                    .collect();
                c.dedup();
                c
            };
            let missing = (c.len() + 1) as u8;
            bins.push(
                x.iter()
                    .map(|r| {
                        let v = r[f];
                        if v.is_nan() {
                            missing
                        } else {
                            c.partition_point(|&cut| cut < v) as u8
                        }
                    })
                    .collect(),
            );
            cuts.push(c);
        }
        Binned { cuts, bins }
    }
}

/// The best split of one node.
struct Split {
    gain: f64,
    feature: usize,
    cut: usize,
    missing_left: bool,
}

fn score(g: f64, h: f64, lambda: f64) -> f64 {
    g * g / (h + lambda)
}

/// Grow one tree on gradients `g`, hessians `h` of the rows in `rows`; adds each feature's
/// split gains to `importance`.
fn grow(
    data: &Binned,
    g: &[f64],
    h: &[f64],
    rows: Vec<u32>,
    p: &Params,
    importance: &mut [f64],
) -> Tree {
    let mut tree = Tree::default();
    // (node index, its rows, depth)
    let mut open = vec![(tree.push_leaf(0.0), rows, 0usize)];
    while let Some((node, rows, depth)) = open.pop() {
        let (gs, hs) = rows.iter().fold((0.0, 0.0), |(a, b), &r| {
            (a + g[r as usize], b + h[r as usize])
        });
        tree.value[node as usize] = leaf_value(gs, hs, p);
        if depth >= p.depth || hs < 2.0 * p.min_child_hess {
            continue;
        }
        let Some(s) = best_split(data, g, h, &rows, gs, hs, p) else {
            continue;
        };
        importance[s.feature] += s.gain;
        let (l, r): (Vec<u32>, Vec<u32>) =
            rows.iter().partition(|&&i| goes_left(data, &s, i as usize));
        let n = node as usize;
        tree.set_split(n, data, &s);
        let li = tree.push_leaf(0.0);
        let ri = tree.push_leaf(0.0);
        tree.left[n] = li;
        tree.right[n] = ri;
        // Children are numbered after their parent: all that `predict` and `check` rely on.
        open.push((ri, r, depth + 1));
        open.push((li, l, depth + 1));
    }
    tree
}

fn best_split(
    data: &Binned,
    g: &[f64],
    h: &[f64],
    rows: &[u32],
    gs: f64,
    hs: f64,
    p: &Params,
) -> Option<Split> {
    let parent = score(gs, hs, p.lambda);
    best_feature(data.cuts.len(), rows.len(), |f| {
        feature_split(data, f, g, h, rows, (gs, hs, parent), p)
    })
}

/// The best of every feature's split (`one(f)`), the first feature of the highest gain. Large
/// searches (pixel samples: `rows` x features) run on every core; the reduction is the same
/// either way, so a tree does not depend on threads.
fn best_feature(
    features: usize,
    rows: usize,
    one: impl Fn(usize) -> Option<Split> + Sync + Send,
) -> Option<Split> {
    let found: Vec<Option<Split>> = if rows * features >= 1 << 18 {
        use rayon::prelude::*;
        (0..features).into_par_iter().map(one).collect()
    } else {
        (0..features).map(one).collect()
    };
    let mut best: Option<Split> = None;
    for s in found.into_iter().flatten() {
        if best.as_ref().is_none_or(|b| s.gain > b.gain) {
            best = Some(s);
        }
    }
    best
}

/// The gain of splitting a node (sums `node`, score `parent`) with `left` on the left of the
/// cut and the missing values' sums `missing` on the side `missing_left` says; None when a
/// child would hold less than `min_child_hess`.
fn split_gain(
    (left, missing, node): ((f64, f64), (f64, f64), (f64, f64)),
    parent: f64,
    missing_left: bool,
    p: &Params,
) -> Option<f64> {
    let (gl, hl) = if missing_left {
        (left.0 + missing.0, left.1 + missing.1)
    } else {
        left
    };
    let (gr, hr) = (node.0 - gl, node.1 - hl);
    if hl < p.min_child_hess || hr < p.min_child_hess {
        return None;
    }
    Some(score(gl, hl, p.lambda) + score(gr, hr, p.lambda) - parent)
}

/// Keep `candidate` in `best` when it gains, and more than `best` (so ties keep the first).
fn keep_better(best: &mut Option<Split>, candidate: Split) {
    if candidate.gain > 1e-9 && best.as_ref().is_none_or(|b| candidate.gain > b.gain) {
        *best = Some(candidate);
    }
}

/// A leaf's value for gradient and hessian sums.
fn leaf_value(gs: f64, hs: f64, p: &Params) -> f64 {
    -gs / (hs + p.lambda) * p.learning_rate
}

/// Whether row `r` goes left at split `s`.
fn goes_left(data: &Binned, s: &Split, r: usize) -> bool {
    let b = data.bins[s.feature][r];
    if usize::from(b) == data.cuts[s.feature].len() + 1 {
        s.missing_left
    } else {
        b as usize <= s.cut
    }
}

/// The best cut of feature `f` for a node (its sums and score in `node`), if any gains.
fn feature_split(
    data: &Binned,
    f: usize,
    g: &[f64],
    h: &[f64],
    rows: &[u32],
    (gs, hs, parent): (f64, f64, f64),
    p: &Params,
) -> Option<Split> {
    let cuts = &data.cuts[f];
    if cuts.is_empty() {
        return None;
    }
    let nb = cuts.len() + 2;
    let mut hist = [(0.0f64, 0.0f64); MAX_BINS + 2];
    let bins = &data.bins[f];
    for &r in rows {
        let e = &mut hist[bins[r as usize] as usize];
        e.0 += g[r as usize];
        e.1 += h[r as usize];
    }
    let (gm, hm) = hist[nb - 1];
    let (mut gl, mut hl) = (0.0, 0.0);
    let mut best: Option<Split> = None;
    for (cut, &(gb, hb)) in hist[..cuts.len()].iter().enumerate() {
        gl += gb;
        hl += hb;
        for missing_left in [false, true] {
            let Some(gain) = split_gain(((gl, hl), (gm, hm), (gs, hs)), parent, missing_left, p)
            else {
                continue;
            };
            keep_better(
                &mut best,
                Split {
                    gain,
                    feature: f,
                    cut,
                    missing_left,
                },
            );
        }
    }
    best
}

/// Grow one oblivious tree: level by level, the one feature and cut (and missing side) of the
/// highest gain summed over the level's nodes; a node too small to split on it contributes
/// no gain but splits all the same (its children's values are shrunk by λ). Stops early when
/// no split gains. Nodes are numbered depth first, so children come after their parent.
fn grow_oblivious(data: &Binned, g: &[f64], h: &[f64], p: &Params, importance: &mut [f64]) -> Tree {
    let n = g.len();
    // Each row's node within the current level (first level's side is the top bit).
    let mut node = vec![0u32; n];
    let mut levels: Vec<Split> = Vec::new();
    for depth in 0..p.depth {
        let sums = node_sums(&node, 1 << depth, g, h);
        if sums.iter().all(|s| s.1 < 2.0 * p.min_child_hess) {
            break;
        }
        let Some(s) = best_feature(data.cuts.len(), n, |f| {
            level_split(data, f, g, h, &node, &sums, p)
        }) else {
            break;
        };
        importance[s.feature] += s.gain;
        let (bins, missing) = (
            &data.bins[s.feature],
            (data.cuts[s.feature].len() + 1) as u8,
        );
        for (r, k) in node.iter_mut().enumerate() {
            let b = bins[r];
            let left = if b == missing {
                s.missing_left
            } else {
                b as usize <= s.cut
            };
            *k = 2 * *k + u32::from(!left);
        }
        levels.push(s);
    }
    let leaves: Vec<f64> = node_sums(&node, 1 << levels.len(), g, h)
        .iter()
        .map(|&(gs, hs)| leaf_value(gs, hs, p))
        .collect();
    let mut tree = Tree::default();
    emit_oblivious(&mut tree, data, &levels, &leaves, 0, 0);
    tree
}

/// Gradient and hessian sums of each of `width` nodes (row `r` in node `node[r]`).
fn node_sums(node: &[u32], width: usize, g: &[f64], h: &[f64]) -> Vec<(f64, f64)> {
    let mut sums = vec![(0.0f64, 0.0f64); width];
    for ((&k, &g), &h) in node.iter().zip(g).zip(h) {
        let e = &mut sums[k as usize];
        e.0 += g;
        e.1 += h;
    }
    sums
}

/// Append the subtree of level `level` whose path so far is `prefix`; returns its index.
fn emit_oblivious(
    tree: &mut Tree,
    data: &Binned,
    levels: &[Split],
    leaves: &[f64],
    level: usize,
    prefix: usize,
) -> u32 {
    if level == levels.len() {
        return tree.push_leaf(leaves[prefix]);
    }
    let i = tree.push_leaf(0.0);
    let n = i as usize;
    tree.set_split(n, data, &levels[level]);
    let l = emit_oblivious(tree, data, levels, leaves, level + 1, 2 * prefix);
    let r = emit_oblivious(tree, data, levels, leaves, level + 1, 2 * prefix + 1);
    tree.left[n] = l;
    tree.right[n] = r;
    i
}

/// The best cut of feature `f` for a whole level (rows' nodes in `node`, the nodes' sums in
/// `sums`): the highest gain summed over the nodes, if any gains.
fn level_split(
    data: &Binned,
    f: usize,
    g: &[f64],
    h: &[f64],
    node: &[u32],
    sums: &[(f64, f64)],
    p: &Params,
) -> Option<Split> {
    let cuts = &data.cuts[f];
    if cuts.is_empty() {
        return None;
    }
    const NB: usize = MAX_BINS + 2;
    let nb = cuts.len() + 2;
    let mut hist = vec![(0.0f64, 0.0f64); sums.len() * NB];
    let bins = &data.bins[f];
    for (r, &k) in node.iter().enumerate() {
        let e = &mut hist[k as usize * NB + bins[r] as usize];
        e.0 += g[r];
        e.1 += h[r];
    }
    // Running left sums per node as the cut moves right.
    let mut left = vec![(0.0f64, 0.0f64); sums.len()];
    let parent: Vec<f64> = sums
        .iter()
        .map(|&(gs, hs)| score(gs, hs, p.lambda))
        .collect();
    let mut best: Option<Split> = None;
    for cut in 0..cuts.len() {
        for (k, l) in left.iter_mut().enumerate() {
            let e = hist[k * NB + cut];
            l.0 += e.0;
            l.1 += e.1;
        }
        for missing_left in [false, true] {
            let mut gain = 0.0;
            for (k, &l) in left.iter().enumerate() {
                let sides = (l, hist[k * NB + nb - 1], sums[k]);
                gain += split_gain(sides, parent[k], missing_left, p).unwrap_or(0.0);
            }
            keep_better(
                &mut best,
                Split {
                    gain,
                    feature: f,
                    cut,
                    missing_left,
                },
            );
        }
    }
    best
}

/// What training gives besides the model.
#[derive(Clone, Debug)]
pub struct Fit {
    pub booster: Booster,
    /// Total split gain per feature.
    pub importance: Vec<f64>,
    /// Mean training loss after each round.
    pub loss: Vec<f64>,
}

/// Train on rows `x` (NaN = missing) with labels `y` in `0..classes`; `classes == 2` grows one
/// logistic output, more grow one softmax output per class. `eval` (rows and labels) gets its
/// mean loss after each round in the returned vector's second part.
///
/// # Panics
/// Never on data: rows must have `features` values (the callers build them so).
pub fn train(
    x: &[Vec<f64>],
    y: &[usize],
    classes: usize,
    p: &Params,
    eval: Option<(&[Vec<f64>], &[usize])>,
) -> (Fit, Vec<f64>) {
    train_with_progress(x, y, classes, p, eval, &|_| {})
}

/// [`train`], calling `progress(rounds done)` after every round.
pub fn train_with_progress(
    x: &[Vec<f64>],
    y: &[usize],
    classes: usize,
    p: &Params,
    eval: Option<(&[Vec<f64>], &[usize])>,
    progress: &dyn Fn(usize),
) -> (Fit, Vec<f64>) {
    let features = x.first().map_or(0, Vec::len);
    let outputs = if classes <= 2 { 1 } else { classes };
    let n = x.len();
    let data = Binned::new(x, features);
    // Base scores from the class shares (smoothed so that an absent class stays finite).
    let share = |k: usize| (y.iter().filter(|&&c| c == k).count() as f64 + 0.5) / (n as f64 + 1.0);
    let base: Vec<f64> = if outputs == 1 {
        let s = share(1);
        vec![(s / (1.0 - s)).ln()]
    } else {
        (0..classes).map(|k| share(k).ln()).collect()
    };
    let mut raw: Vec<Vec<f64>> = vec![base.clone(); n];
    let mut eval_raw: Vec<Vec<f64>> =
        eval.map_or(Vec::new(), |(ex, _)| vec![base.clone(); ex.len()]);
    let mut booster = Booster {
        base,
        trees: Vec::new(),
    };
    let mut importance = vec![0.0; features];
    let (mut loss, mut eval_loss) = (Vec::new(), Vec::new());
    let (mut g, mut h) = (vec![0.0; n], vec![0.0; n]);
    for _ in 0..p.rounds {
        let probs: Vec<Vec<f64>> = {
            use rayon::prelude::*;
            raw.par_iter().map(|r| to_proba(r)).collect()
        };
        for k in 0..outputs {
            for i in 0..n {
                let target = if outputs == 1 {
                    f64::from(u8::from(y[i] == 1))
                } else {
                    f64::from(u8::from(y[i] == k))
                };
                let pk = probs[i][k];
                g[i] = pk - target;
                h[i] = (pk * (1.0 - pk)).max(1e-6);
            }
            let t = if p.oblivious {
                grow_oblivious(&data, &g, &h, p, &mut importance)
            } else {
                grow(&data, &g, &h, (0..n as u32).collect(), p, &mut importance)
            };
            {
                use rayon::prelude::*;
                raw.par_iter_mut()
                    .zip(x.par_iter())
                    .for_each(|(r, xi)| r[k] += t.predict(xi));
            }
            if let Some((ex, _)) = eval {
                for (r, xi) in eval_raw.iter_mut().zip(ex) {
                    r[k] += t.predict(xi);
                }
            }
            booster.trees.push(t);
        }
        loss.push(mean_loss(&raw, y));
        if let Some((_, ey)) = eval {
            eval_loss.push(mean_loss(&eval_raw, ey));
        }
        progress(loss.len());
    }
    (
        Fit {
            booster,
            importance,
            loss,
        },
        eval_loss,
    )
}

fn to_proba(raw: &[f64]) -> Vec<f64> {
    if raw.len() == 1 {
        vec![sigmoid(raw[0])]
    } else {
        softmax(raw)
    }
}

/// Mean cross-entropy of raw scores against labels.
fn mean_loss(raw: &[Vec<f64>], y: &[usize]) -> f64 {
    let n = raw.len().max(1) as f64;
    raw.iter()
        .zip(y)
        .map(|(r, &c)| {
            let p = to_proba(r);
            let pc = if p.len() == 1 {
                if c == 1 { p[0] } else { 1.0 - p[0] }
            } else {
                p[c]
            };
            -pc.clamp(1e-12, 1.0).ln()
        })
        .sum::<f64>()
        / n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (the tests must not depend on a crate's stream).
    fn lcg(state: &mut u64) -> f64 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn learns_an_interaction_no_single_split_separates() {
        // XOR of two features plus a noise feature: a depth-2 structure.
        let mut s = 7u64;
        let x: Vec<Vec<f64>> = (0..400)
            .map(|_| vec![lcg(&mut s), lcg(&mut s), lcg(&mut s)])
            .collect();
        let y: Vec<usize> = x
            .iter()
            .map(|r| usize::from((r[0] > 0.5) != (r[1] > 0.5)))
            .collect();
        let (fit, _) = train(&x, &y, 2, &Params::default(), None);
        let right = x
            .iter()
            .zip(&y)
            .filter(|(r, c)| (fit.booster.proba(r)[0] > 0.5) == (**c == 1))
            .count();
        assert!(right >= 390, "{right} of 400");
        assert!(fit.loss.last().unwrap() < &0.1, "{:?}", fit.loss.last());
        // The noise feature earns little of the gain.
        assert!(fit.importance[2] < 0.05 * (fit.importance[0] + fit.importance[1]));
        assert!(fit.booster.check(3).is_ok());
    }

    #[test]
    fn oblivious_trees_share_one_question_per_level_and_learn_an_interaction() {
        let mut s = 7u64;
        let x: Vec<Vec<f64>> = (0..400)
            .map(|_| vec![lcg(&mut s), lcg(&mut s), lcg(&mut s)])
            .collect();
        let y: Vec<usize> = x
            .iter()
            .map(|r| usize::from((r[0] > 0.5) != (r[1] > 0.5)))
            .collect();
        let p = Params {
            oblivious: true,
            ..Params::default()
        };
        let (fit, _) = train(&x, &y, 2, &p, None);
        let right = x
            .iter()
            .zip(&y)
            .filter(|(r, c)| (fit.booster.proba(r)[0] > 0.5) == (**c == 1))
            .count();
        assert!(right >= 390, "{right} of 400");
        assert!(fit.booster.check(3).is_ok());
        for t in &fit.booster.trees {
            // Level by level: every node asks the level's question; leaves all at one depth.
            let mut level = vec![0usize];
            loop {
                let f = t.feature[level[0]];
                assert!(level.iter().all(|&i| t.feature[i] == f));
                if f < 0 {
                    break;
                }
                assert!(level.iter().all(|&i| t.split[i] == t.split[level[0]]));
                level = level
                    .iter()
                    .flat_map(|&i| [t.left[i] as usize, t.right[i] as usize])
                    .collect();
            }
            assert!(level.len() <= 1 << p.depth);
        }
        // Deterministic: the same data gives the same trees.
        assert_eq!(train(&x, &y, 2, &p, None).0.booster, fit.booster);
    }

    #[test]
    fn missing_values_go_where_their_rows_belong() {
        // Class 1 rows have the feature missing half of the time; class 0 never: a missing
        // value is evidence for class 1, whichever side of the cut that is.
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..200 {
            let v = i as f64 / 200.0;
            x.push(vec![if i % 4 == 1 { f64::NAN } else { v }]);
            y.push(usize::from(v < 0.3 || i % 4 == 1));
        }
        let (fit, _) = train(&x, &y, 2, &Params::default(), None);
        assert!(fit.booster.proba(&[f64::NAN])[0] > 0.8);
        assert!(fit.booster.proba(&[0.1])[0] > 0.8);
        assert!(fit.booster.proba(&[0.9])[0] < 0.2);
    }

    #[test]
    fn softmax_separates_three_classes_and_held_out_loss_is_tracked() {
        let mut s = 3u64;
        let row = |s: &mut u64| vec![lcg(s) * 3.0, lcg(s)];
        let x: Vec<Vec<f64>> = (0..300).map(|_| row(&mut s)).collect();
        let y: Vec<usize> = x.iter().map(|r| (r[0] as usize).min(2)).collect();
        let ex: Vec<Vec<f64>> = (0..100).map(|_| row(&mut s)).collect();
        let ey: Vec<usize> = ex.iter().map(|r| (r[0] as usize).min(2)).collect();
        let p = Params {
            rounds: 50,
            ..Params::default()
        };
        let (fit, eval) = train(&x, &y, 3, &p, Some((&ex, &ey)));
        assert_eq!(fit.booster.trees.len(), 150);
        assert_eq!(eval.len(), 50);
        assert!(eval[49] < eval[0] && eval[49] < 0.2, "{eval:?}");
        let pr = fit.booster.proba(&[2.5, 0.5]);
        assert!(pr[2] > 0.9 && (pr.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // Same data, same trees.
        let (again, _) = train(&x, &y, 3, &p, None);
        assert_eq!(again.booster, fit.booster);
    }

    #[test]
    fn a_corrupt_tree_is_refused() {
        let mut t = Tree::default();
        t.push_leaf(0.0);
        t.feature[0] = 0;
        t.left[0] = 0; // points at itself
        let b = Booster {
            base: vec![0.0],
            trees: vec![t],
        };
        assert!(b.check(1).unwrap_err().contains("backwards"));
        let wide = Booster {
            base: vec![0.0],
            trees: vec![Tree {
                feature: vec![5, -1, -1],
                split: vec![0.0; 3],
                missing_left: vec![false; 3],
                left: vec![1, 0, 0],
                right: vec![2, 0, 0],
                value: vec![0.0; 3],
            }],
        };
        assert!(wide.check(2).unwrap_err().contains("feature 5 of 2"));
    }
}
