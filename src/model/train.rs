//! Training tuban's Siamese network ([`super::net::Net`]) on labelled pairs: random patches with
//! augmentation (flips, quarter turns, per-date radiometric jitter and noise, date swap), Adam,
//! a validation split of whole pairs, and the weights of the epoch that scored best on it.
//! Deterministic for a seed (patch draws and weights come from one generator; the parallel
//! sums are reduced in a fixed order).

use super::net::{Grads, Net, Rng, Sample, sigmoid};
use serde::Serialize;

/// Label of a pixel that is not scored (nodata, cloud).
pub const IGNORE: u8 = 255;

/// One pair in memory: `bands` x height x width per date (already scaled), labels 0 / 1 /
/// [`super::data::IGNORE`]-like 255.
#[derive(Clone, Debug)]
pub struct TrainPair {
    pub name: String,
    /// The dataset folder it came from (for reports).
    pub source: String,
    pub width: usize,
    pub height: usize,
    pub bands: usize,
    pub before: Vec<f32>,
    pub after: Vec<f32>,
    pub label: Vec<u8>,
}

/// How to train.
#[derive(Clone, Debug, Serialize)]
pub struct TrainOptions {
    pub epochs: usize,
    /// Patches per step.
    pub batch: usize,
    /// Patch side (px, a multiple of 4).
    pub patch_px: usize,
    pub widths: [usize; 3],
    pub learning_rate: f32,
    pub weight_decay: f32,
    /// Weight of the soft Dice term beside the cross-entropy.
    pub dice: f32,
    /// Share of the pairs held out for validation (at least one pair stays for training).
    pub validation: f32,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 12,
            batch: 8,
            patch_px: 96,
            widths: [16, 32, 48],
            learning_rate: 2e-3,
            weight_decay: 1e-4,
            dice: 0.5,
            validation: 0.2,
            seed: 1,
        }
    }
}

/// Pixel scores of a validation pass at probability 0.5.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct ValidationScores {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl ValidationScores {
    pub fn from_counts(tp: u64, fp: u64, fn_: u64) -> Self {
        let p = tp as f64 / (tp + fp).max(1) as f64;
        let r = tp as f64 / (tp + fn_).max(1) as f64;
        ValidationScores {
            tp,
            fp,
            fn_,
            precision: p,
            recall: r,
            f1: if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            },
        }
    }
}

/// One epoch's record.
#[derive(Clone, Debug, Serialize)]
pub struct Epoch {
    pub epoch: usize,
    pub steps: usize,
    pub train_loss: f32,
    pub validation: Option<ValidationScores>,
    pub seconds: f64,
}

/// The trained network and how it got there.
#[derive(Clone, Debug, Serialize)]
pub struct Trained {
    #[serde(skip)]
    pub net: Net,
    pub parameters: usize,
    pub training_pairs: Vec<String>,
    pub validation_pairs: Vec<String>,
    pub epochs: Vec<Epoch>,
    /// The epoch whose weights were kept (best validation F1; the last without validation).
    pub kept_epoch: usize,
    pub options: TrainOptions,
}

/// Train on `pairs`. `progress(what, done, total)` is called after every step.
///
/// # Panics
/// When `pairs` is empty or the pairs have different band counts (the caller checks both).
pub fn train(
    pairs: &[TrainPair],
    opts: &TrainOptions,
    progress: &(dyn Fn(&str, u64, u64) + Sync),
) -> Trained {
    assert!(!pairs.is_empty(), "no training pair");
    let bands = pairs[0].bands;
    let mut rng = Rng::from_state(opts.seed);
    let (val_idx, train_idx) = split_pairs(pairs.len(), opts.validation, &mut rng);
    let train_set: Vec<&TrainPair> = train_idx.iter().map(|&i| &pairs[i]).collect();
    let val_set: Vec<&TrainPair> = val_idx.iter().map(|&i| &pairs[i]).collect();
    let mut net = Net::new(bands, opts.widths, &mut rng);
    let mut adam = Adam::new(&net);
    let p = opts.patch_px.max(8) / 4 * 4;
    let train_px: usize = train_set.iter().map(|t| t.width * t.height).sum();
    let steps = (train_px / (opts.batch * p * p)).max(8);
    let total = (steps * opts.epochs) as u64;
    let mut best: Option<(f64, usize, Net)> = None;
    let mut epochs = Vec::new();
    for epoch in 1..=opts.epochs {
        let clock = std::time::Instant::now();
        let mut loss_sum = 0.0;
        // Cosine decay of the learning rate over the run.
        for s in 0..steps {
            let t = ((epoch - 1) * steps + s) as f32 / total as f32;
            let lr = opts.learning_rate * 0.5 * (1.0 + (std::f32::consts::PI * t).cos()).max(0.02);
            let batch: Vec<Sample> = (0..opts.batch)
                .map(|_| patch(&train_set, p, train_px, &mut rng))
                .collect();
            let (loss, grads) = net.loss_and_grads(&batch, opts.dice);
            adam.step(&mut net, &grads, lr, opts.weight_decay);
            loss_sum += loss;
            progress("training", ((epoch - 1) * steps + s + 1) as u64, total);
        }
        let validation = (!val_set.is_empty()).then(|| validate(&net, &val_set));
        if let Some(v) = validation
            && best.as_ref().is_none_or(|(f1, _, _)| v.f1 > *f1)
        {
            best = Some((v.f1, epoch, net.clone()));
        }
        epochs.push(Epoch {
            epoch,
            steps,
            train_loss: loss_sum / steps as f32,
            validation,
            seconds: clock.elapsed().as_secs_f64(),
        });
    }
    let (kept_epoch, net) = match best {
        Some((_, e, n)) => (e, n),
        None => (opts.epochs, net),
    };
    Trained {
        parameters: net.parameters(),
        net,
        training_pairs: train_set
            .iter()
            .map(|t| format!("{}/{}", t.source, t.name))
            .collect(),
        validation_pairs: val_set
            .iter()
            .map(|t| format!("{}/{}", t.source, t.name))
            .collect(),
        epochs,
        kept_epoch,
        options: opts.clone(),
    }
}

/// Validation: whole pairs, drawn by `rng`, a `share` of them but never all; returns the
/// validation and the training indices.
pub fn split_pairs(n: usize, share: f32, rng: &mut Rng) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.index(i + 1));
    }
    let n_val = ((n as f32 * share).round() as usize).min(n.saturating_sub(1));
    let train = order.split_off(n_val);
    (order, train)
}

/// A random augmented patch from a pair drawn in proportion to its area.
fn patch(set: &[&TrainPair], p: usize, total_px: usize, rng: &mut Rng) -> Sample {
    let mut k = rng.index(total_px);
    let pair = set
        .iter()
        .find(|t| {
            let a = t.width * t.height;
            if k < a {
                true
            } else {
                k -= a;
                false
            }
        })
        .expect("k is below the total area");
    let (w, h, n) = (pair.width, pair.height, pair.bands);
    // Scale jitter (log-uniform 0.6x to 1.6x): the pairs come at 0.3 to 2 m, and a building
    // must look like a building at any of them.
    let scale = (rng.unit_f32() * (1.6f32 / 0.6).ln()).exp() * 0.6;
    let span = ((p as f32 * scale).ceil() as usize).min(w.min(h));
    let scale = span as f32 / p as f32;
    let x0 = rng.index(w - span + 1);
    let y0 = rng.index(h - span + 1);
    let (flip_x, flip_y, turn, swap) = (
        rng.index(2) == 1,
        rng.index(2) == 1,
        rng.index(2) == 1,
        rng.index(2) == 1,
    );
    // Source position of patch pixel (px, py): flips and a transpose give all 8 symmetries.
    let src = |px: usize, py: usize| -> (f32, f32) {
        let (mut sx, mut sy) = if turn { (py, px) } else { (px, py) };
        if flip_x {
            sx = p - 1 - sx;
        }
        if flip_y {
            sy = p - 1 - sy;
        }
        let at = |v: usize| ((v as f32 + 0.5) * scale - 0.5).clamp(0.0, span as f32 - 1.0);
        (x0 as f32 + at(sx), y0 as f32 + at(sy))
    };
    let plane = w * h;
    let jitter = |rng: &mut Rng| -> Vec<(f32, f32)> {
        let global = (1.0 + 0.15 * rng.normal_f32(), 0.2 * rng.normal_f32());
        (0..n)
            .map(|_| {
                (
                    global.0 * (1.0 + 0.05 * rng.normal_f32()),
                    global.1 + 0.05 * rng.normal_f32(),
                )
            })
            .collect()
    };
    let (jb, ja) = (jitter(rng), jitter(rng));
    let noise = 0.03 * rng.unit_f32();
    let mut out = Sample {
        h: p,
        w: p,
        before: vec![0.0; n * p * p],
        after: vec![0.0; n * p * p],
        label: vec![0.0; p * p],
        weight: vec![0.0; p * p],
    };
    for py in 0..p {
        for px in 0..p {
            let o = py * p + px;
            let (fx, fy) = src(px, py);
            // Labels by nearest pixel, images bilinear.
            let l =
                pair.label[(fy.round() as usize).min(h - 1) * w + (fx.round() as usize).min(w - 1)];
            if l <= 1 {
                out.label[o] = f32::from(l);
                out.weight[o] = 1.0;
            }
            let (xa, ya) = (fx.floor() as usize, fy.floor() as usize);
            let (xb, yb) = ((xa + 1).min(w - 1), (ya + 1).min(h - 1));
            let (tx, ty) = (fx - xa as f32, fy - ya as f32);
            let taps = [
                (ya * w + xa, (1.0 - tx) * (1.0 - ty)),
                (ya * w + xb, tx * (1.0 - ty)),
                (yb * w + xa, (1.0 - tx) * ty),
                (yb * w + xb, tx * ty),
            ];
            let sample = |img: &[f32], b: usize| -> f32 {
                taps.iter().map(|&(i, wt)| img[b * plane + i] * wt).sum()
            };
            for b in 0..n {
                let (gb, ob) = jb[b];
                let (ga, oa) = ja[b];
                out.before[b * p * p + o] =
                    sample(&pair.before, b) * gb + ob + noise * rng.normal_f32();
                out.after[b * p * p + o] =
                    sample(&pair.after, b) * ga + oa + noise * rng.normal_f32();
            }
        }
    }
    if swap {
        std::mem::swap(&mut out.before, &mut out.after);
    }
    out
}

/// Pixel precision, recall and F1 at probability 0.5 over whole validation pairs (cropped to
/// a multiple of 4).
pub fn validate(net: &Net, set: &[&TrainPair]) -> ValidationScores {
    let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
    for t in set {
        let (w4, h4) = (t.width / 4 * 4, t.height / 4 * 4);
        let crop = |src: &[f32]| -> Vec<f32> {
            let mut out = Vec::with_capacity(t.bands * w4 * h4);
            for b in 0..t.bands {
                for y in 0..h4 {
                    let row = (b * t.height + y) * t.width;
                    out.extend_from_slice(&src[row..row + w4]);
                }
            }
            out
        };
        let z = net.forward(&crop(&t.before), &crop(&t.after), h4, w4);
        for y in 0..h4 {
            for x in 0..w4 {
                let l = t.label[y * t.width + x];
                let pred = sigmoid(z[y * w4 + x]) > 0.5;
                match (pred, l) {
                    (true, 1) => tp += 1,
                    (true, 0) => fp += 1,
                    (false, 1) => fn_ += 1,
                    _ => {}
                }
            }
        }
    }
    ValidationScores::from_counts(tp, fp, fn_)
}

/// Adam's state for every parameter of a network.
pub struct Adam {
    m: Vec<(Vec<f32>, Vec<f32>)>,
    v: Vec<(Vec<f32>, Vec<f32>)>,
    t: i32,
}

impl Adam {
    pub fn new(net: &Net) -> Adam {
        let zeros = || {
            net.layers
                .iter()
                .map(|l| (vec![0.0; l.w.len()], vec![0.0; l.b.len()]))
                .collect()
        };
        Adam {
            m: zeros(),
            v: zeros(),
            t: 0,
        }
    }

    /// One step of Adam (β 0.9, 0.999) with decoupled weight decay on the weights.
    pub fn step(&mut self, net: &mut Net, grads: &Grads, lr: f32, decay: f32) {
        self.t += 1;
        let (b1, b2) = (0.9f32, 0.999f32);
        let c1 = 1.0 - b1.powi(self.t);
        let c2 = 1.0 - b2.powi(self.t);
        for (l, layer) in net.layers.iter_mut().enumerate() {
            let upd = |p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], wd: f32| {
                for i in 0..p.len() {
                    m[i] = b1 * m[i] + (1.0 - b1) * g[i];
                    v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
                    p[i] -= lr * ((m[i] / c1) / ((v[i] / c2).sqrt() + 1e-8) + wd * p[i]);
                }
            };
            let (mw, mb) = &mut self.m[l];
            let (vw, vb) = &mut self.v[l];
            upd(&mut layer.w, &grads[l].0, mw, vw, decay);
            upd(&mut layer.b, &grads[l].1, mb, vb, 0.0);
        }
    }
}
