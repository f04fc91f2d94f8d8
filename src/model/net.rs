//! tuban's own change network: a small Siamese U-Net (FC-Siam-diff in shape) with its forward
//! and backward passes written out, so that `tuban train` needs no deep-learning framework, and
//! its export to ONNX, so that `tuban detect --model` runs it through the same engine as a
//! user's model.
//!
//! ```text
//! date x (bands, H, W) ── encoder (shared weights) ── f1 (c1, H)  f2 (c2, H/2)  f3 (c3, H/4)
//! d_k = |f_k(before) - f_k(after)|
//! up(d3) ++ d2 ── conv ── y2 (c2, H/2);  up(y2) ++ d1 ── conv ── y1 (c1, H);  1x1 ── logit
//! ```
//! Every convolution is 3x3 'same' followed by ReLU except the last (1x1, no activation). H and
//! W must be multiples of 4 (the two 2x2 max-pools); inference pads tiles to that.

use super::conv::{ConvGeom, conv_backward, conv_forward};
pub use super::layers::sigmoid;
use super::layers::{downsample2_sum, maxpool2, relu_back, unpool2, upsample2};
use super::onnx::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, ValueInfoProto,
};
use rayon::prelude::*;

/// One convolution's parameters: `w` is `cout` x `cin·k·k` (ONNX's OIHW flattened).
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub cin: usize,
    pub cout: usize,
    pub k: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

/// Layer indices.
const E: [usize; 6] = [0, 1, 2, 3, 4, 5];
const D0: usize = 6;
const D1: usize = 7;
const HEAD: usize = 8;

/// The network: its widths and the nine layers' parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Net {
    pub bands: usize,
    pub widths: [usize; 3],
    pub layers: Vec<Layer>,
}

/// Per layer, the gradient of its weights and of its biases.
pub type Grads = Vec<(Vec<f32>, Vec<f32>)>;

/// What a forward pass keeps for the backward pass (one sample).
struct Cache {
    /// Encoder activations per date: a0..a5 (after ReLU), the pooled p1, p2, pool argmaxes.
    enc: [Encoded; 2],
    cat1: Vec<f32>,
    y2: Vec<f32>,
    cat2: Vec<f32>,
    y1: Vec<f32>,
}

struct Encoded {
    x: Vec<f32>,
    a: [Vec<f32>; 6],
    p: [Vec<f32>; 2],
    arg: [Vec<u32>; 2],
}

pub use crate::synth::world::Rng;

impl Net {
    /// A network with He-initialised weights.
    pub fn new(bands: usize, widths: [usize; 3], rng: &mut Rng) -> Net {
        let [c1, c2, c3] = widths;
        let shapes = [
            (bands, c1, 3),
            (c1, c1, 3),
            (c1, c2, 3),
            (c2, c2, 3),
            (c2, c3, 3),
            (c3, c3, 3),
            (c3 + c2, c2, 3),
            (c2 + c1, c1, 3),
            (c1, 1, 1),
        ];
        let layers = shapes
            .iter()
            .map(|&(cin, cout, k)| {
                let fan_in = (cin * k * k) as f32;
                let sd = (2.0 / fan_in).sqrt();
                Layer {
                    cin,
                    cout,
                    k,
                    w: (0..cout * cin * k * k)
                        .map(|_| rng.normal_f32() * sd)
                        .collect(),
                    b: vec![0.0; cout],
                }
            })
            .collect();
        Net {
            bands,
            widths,
            layers,
        }
    }

    /// Number of parameters.
    pub fn parameters(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }

    fn conv(&self, l: usize, x: &[f32], h: usize, w: usize, relu: bool) -> Vec<f32> {
        let layer = &self.layers[l];
        let g = ConvGeom::same(layer.cin, h, w, layer.k);
        let mut out = vec![0.0; layer.cout * h * w];
        conv_forward(&g, layer.cout, x, &layer.w, &layer.b, &mut out);
        if relu {
            out.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        out
    }

    fn encode(&self, x: &[f32], h: usize, w: usize) -> Encoded {
        let [c1, c2, _] = self.widths;
        let a0 = self.conv(E[0], x, h, w, true);
        let a1 = self.conv(E[1], &a0, h, w, true);
        let (p1, arg1) = maxpool2(&a1, c1, h, w);
        let a2 = self.conv(E[2], &p1, h / 2, w / 2, true);
        let a3 = self.conv(E[3], &a2, h / 2, w / 2, true);
        let (p2, arg2) = maxpool2(&a3, c2, h / 2, w / 2);
        let a4 = self.conv(E[4], &p2, h / 4, w / 4, true);
        let a5 = self.conv(E[5], &a4, h / 4, w / 4, true);
        Encoded {
            x: x.to_vec(),
            a: [a0, a1, a2, a3, a4, a5],
            p: [p1, p2],
            arg: [arg1, arg2],
        }
    }

    /// Logits (H x W) of one pair (`bands` x H x W each, H and W multiples of 4).
    pub fn forward(&self, before: &[f32], after: &[f32], h: usize, w: usize) -> Vec<f32> {
        self.forward_cached(before, after, h, w).0
    }

    fn forward_cached(
        &self,
        before: &[f32],
        after: &[f32],
        h: usize,
        w: usize,
    ) -> (Vec<f32>, Cache) {
        let [_, c2, c3] = self.widths;
        let (ea, eb) = rayon::join(|| self.encode(before, h, w), || self.encode(after, h, w));
        let absdiff = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .collect::<Vec<f32>>()
        };
        let d: [Vec<f32>; 3] = [1, 3, 5].map(|k| absdiff(&ea.a[k], &eb.a[k]));
        let mut cat1 = upsample2(&d[2], c3, h / 4, w / 4);
        cat1.extend_from_slice(&d[1]);
        let y2 = self.conv(D0, &cat1, h / 2, w / 2, true);
        let mut cat2 = upsample2(&y2, c2, h / 2, w / 2);
        cat2.extend_from_slice(&d[0]);
        let y1 = self.conv(D1, &cat2, h, w, true);
        let logit = self.conv(HEAD, &y1, h, w, false);
        (
            logit,
            Cache {
                enc: [ea, eb],
                cat1,
                y2,
                cat2,
                y1,
            },
        )
    }

    /// Gradients of one sample given dLoss/dlogit; returns per-layer (dW, db). (Always Some:
    /// every step but the first layer's asks for its input gradient.)
    fn backward(&self, c: &Cache, dlogit: &[f32], h: usize, w: usize) -> Option<Grads> {
        let [c1, c2, c3] = self.widths;
        let mut grads: Grads = self
            .layers
            .iter()
            .map(|l| (vec![0.0; l.w.len()], vec![0.0; l.b.len()]))
            .collect();
        let g = &mut grads;
        let full = (h, w);
        let dy1 = self.conv_back(HEAD, &c.y1, dlogit, None, full, g, true);
        let dcat2 = self.conv_back(D1, &c.cat2, &dy1?, Some(&c.y1), full, g, true)?;
        let (du2, dd1) = dcat2.split_at(c2 * h * w);
        let dy2 = downsample2_sum(du2, c2, h / 2, w / 2);
        let dcat1 = self.conv_back(D0, &c.cat1, &dy2, Some(&c.y2), (h / 2, w / 2), g, true)?;
        let (du1, dd2) = dcat1.split_at(c3 * (h / 2) * (w / 2));
        let dd3 = downsample2_sum(du1, c3, h / 4, w / 4);
        // Through |a - b| to each date's features, then each date's encoder (shared weights).
        for date in 0..2 {
            let e = &c.enc[date];
            let o = &c.enc[1 - date];
            let through = |dd: &[f32], mine: &[f32], other: &[f32]| -> Vec<f32> {
                dd.iter()
                    .zip(mine.iter().zip(other))
                    .map(|(d, (a, b))| if a == b { 0.0 } else { d * (a - b).signum() })
                    .collect()
            };
            let df3 = through(&dd3, &e.a[5], &o.a[5]);
            let dp2 =
                self.level_back(E[4], &e.p[1], [&e.a[4], &e.a[5]], &df3, (h / 4, w / 4), g)?;
            let mut da3 = unpool2(&dp2, &e.arg[1], c2 * (h / 2) * (w / 2));
            da3.iter_mut()
                .zip(through(dd2, &e.a[3], &o.a[3]))
                .for_each(|(a, b)| *a += b);
            let dp1 =
                self.level_back(E[2], &e.p[0], [&e.a[2], &e.a[3]], &da3, (h / 2, w / 2), g)?;
            let mut da1 = unpool2(&dp1, &e.arg[0], c1 * h * w);
            da1.iter_mut()
                .zip(through(dd1, &e.a[1], &o.a[1]))
                .for_each(|(a, b)| *a += b);
            // The input needs no gradient.
            let d_a0 = self.conv_back(E[1], &e.a[0], &da1, Some(&e.a[1]), full, g, true)?;
            self.conv_back(E[0], &e.x, &d_a0, Some(&e.a[0]), full, g, false);
        }
        Some(grads)
    }

    /// Backward of layer `l` (input `x`) given the gradient at its output, or at its ReLU's
    /// output `relu_out`; adds to `grads` and returns the gradient at `x` when asked.
    #[expect(clippy::too_many_arguments, reason = "one layer's backward step")]
    fn conv_back(
        &self,
        l: usize,
        x: &[f32],
        dout: &[f32],
        relu_out: Option<&[f32]>,
        (h, w): (usize, usize),
        grads: &mut Grads,
        want_dx: bool,
    ) -> Option<Vec<f32>> {
        let layer = &self.layers[l];
        let g = ConvGeom::same(layer.cin, h, w, layer.k);
        let d = relu_out.map_or_else(|| dout.to_vec(), |y| relu_back(dout, y));
        let (dw, db) = &mut grads[l];
        conv_backward(&g, layer.cout, x, &layer.w, &d, (dw, db), want_dx)
    }

    /// Backward through one encoder level, `hi = relu(conv_{l+1}(lo))` after
    /// `lo = relu(conv_l(x))`, from the gradient at `hi`; returns the gradient at `x`.
    fn level_back(
        &self,
        l: usize,
        x: &[f32],
        [lo, hi]: [&[f32]; 2],
        d_hi: &[f32],
        hw: (usize, usize),
        grads: &mut Grads,
    ) -> Option<Vec<f32>> {
        let d_lo = self.conv_back(l + 1, lo, d_hi, Some(hi), hw, grads, true)?;
        self.conv_back(l, x, &d_lo, Some(lo), hw, grads, true)
    }

    /// Loss and gradients of a batch: weighted binary cross-entropy plus soft Dice over the
    /// scored pixels (`weight` 0 = not scored). Samples run in parallel.
    pub fn loss_and_grads(&self, batch: &[Sample], dice: f32) -> (f32, Grads) {
        let outs: Vec<(Vec<f32>, Cache)> = batch
            .par_iter()
            .map(|s| self.forward_cached(&s.before, &s.after, s.h, s.w))
            .collect();
        let scored: f32 = batch
            .iter()
            .map(|s| s.weight.iter().sum::<f32>())
            .sum::<f32>()
            .max(1.0);
        // Dice sums over the batch: I = Σ p·y, S = Σ p + Σ y (scored pixels).
        let (mut inter, mut total, mut bce) = (0.0f64, 0.0f64, 0.0f64);
        for (s, (z, _)) in batch.iter().zip(&outs) {
            for ((&zi, &y), &wt) in z.iter().zip(&s.label).zip(&s.weight) {
                if wt == 0.0 {
                    continue;
                }
                let p = sigmoid(zi);
                inter += f64::from(p * y * wt);
                total += f64::from((p + y) * wt);
                // log(1 + e^-|z|) + max(z, 0) - z·y, stable.
                bce += f64::from(wt * ((-zi.abs()).exp().ln_1p() + zi.max(0.0) - zi * y));
            }
        }
        let eps = 1.0f64;
        let dice_loss = 1.0 - (2.0 * inter + eps) / (total + eps);
        let loss = (bce / f64::from(scored)) as f32 + dice * dice_loss as f32;
        let grads = batch
            .par_iter()
            .zip(outs.par_iter())
            .map(|(s, (z, cache))| {
                let dz: Vec<f32> = z
                    .iter()
                    .zip(&s.label)
                    .zip(&s.weight)
                    .map(|((&zi, &y), &wt)| {
                        if wt == 0.0 {
                            return 0.0;
                        }
                        let p = sigmoid(zi);
                        let d_bce = (p - y) * wt / scored;
                        let d_dice = -((2.0 * f64::from(y) * (total + eps) - (2.0 * inter + eps))
                            / (total + eps).powi(2)) as f32;
                        d_bce + dice * d_dice * wt * p * (1.0 - p)
                    })
                    .collect();
                self.backward(cache, &dz, s.h, s.w)
                    .expect("every inner layer returns its input gradient")
            })
            .collect::<Vec<_>>()
            .into_iter()
            // Summed in sample order: the same bits whatever thread ran which sample.
            .reduce(|mut a, b| {
                for ((aw, ab), (bw, bb)) in a.iter_mut().zip(b) {
                    aw.iter_mut().zip(bw).for_each(|(x, y)| *x += y);
                    ab.iter_mut().zip(bb).for_each(|(x, y)| *x += y);
                }
                a
            })
            .unwrap_or_default();
        (loss, grads)
    }

    /// The network as an ONNX model: inputs `before` and `after` (1 x bands x H x W, free H
    /// and W), output `change` (1 x 1 x H x W, probability). `metadata` goes to the file's
    /// `metadata_props`.
    pub fn to_onnx(&self, metadata: &[(String, String)]) -> ModelProto {
        let mut nodes = Vec::new();
        let mut init = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            init.push(TensorProto::floats(
                &format!("w{i}"),
                &[l.cout, l.cin, l.k, l.k],
                &l.w,
            ));
            init.push(TensorProto::floats(&format!("b{i}"), &[l.cout], &l.b));
        }
        init.push(TensorProto::floats(
            "up_scales",
            &[4],
            &[1.0, 1.0, 2.0, 2.0],
        ));
        let node =
            |op: &str, name: String, inputs: &[&str], attrs: Vec<AttributeProto>| NodeProto {
                input: inputs.iter().map(|s| s.to_string()).collect(),
                output: vec![name.clone()],
                name,
                op_type: op.into(),
                attribute: attrs,
                ..Default::default()
            };
        let conv = |nodes: &mut Vec<NodeProto>, l: usize, x: &str, out: &str, relu: bool| {
            let k = self.layers[l].k as i64;
            let p = k / 2;
            let c = if relu {
                format!("{out}_conv")
            } else {
                out.to_string()
            };
            nodes.push(node(
                "Conv",
                c.clone(),
                &[x, &format!("w{l}"), &format!("b{l}")],
                vec![
                    AttributeProto::ints("kernel_shape", &[k, k]),
                    AttributeProto::ints("pads", &[p, p, p, p]),
                ],
            ));
            if relu {
                nodes.push(node("Relu", out.into(), &[&c], vec![]));
            }
        };
        let pool = |nodes: &mut Vec<NodeProto>, x: &str, out: &str| {
            nodes.push(node(
                "MaxPool",
                out.into(),
                &[x],
                vec![
                    AttributeProto::ints("kernel_shape", &[2, 2]),
                    AttributeProto::ints("strides", &[2, 2]),
                ],
            ));
        };
        for date in ["before", "after"] {
            let n = |s: &str| format!("{date}_{s}");
            conv(&mut nodes, E[0], date, &n("a0"), true);
            conv(&mut nodes, E[1], &n("a0"), &n("a1"), true);
            pool(&mut nodes, &n("a1"), &n("p1"));
            conv(&mut nodes, E[2], &n("p1"), &n("a2"), true);
            conv(&mut nodes, E[3], &n("a2"), &n("a3"), true);
            pool(&mut nodes, &n("a3"), &n("p2"));
            conv(&mut nodes, E[4], &n("p2"), &n("a4"), true);
            conv(&mut nodes, E[5], &n("a4"), &n("a5"), true);
        }
        for (k, a) in [(1, "a1"), (2, "a3"), (3, "a5")] {
            nodes.push(node(
                "Sub",
                format!("s{k}"),
                &[&format!("before_{a}"), &format!("after_{a}")],
                vec![],
            ));
            nodes.push(node("Abs", format!("d{k}"), &[&format!("s{k}")], vec![]));
        }
        let up = |nodes: &mut Vec<NodeProto>, x: &str, out: &str| {
            nodes.push(node(
                "Resize",
                out.into(),
                &[x, "", "up_scales"],
                vec![
                    AttributeProto::string("mode", "nearest"),
                    AttributeProto::string("coordinate_transformation_mode", "asymmetric"),
                    AttributeProto::string("nearest_mode", "floor"),
                ],
            ));
        };
        up(&mut nodes, "d3", "u1");
        nodes.push(node(
            "Concat",
            "cat1".into(),
            &["u1", "d2"],
            vec![AttributeProto::int("axis", 1)],
        ));
        conv(&mut nodes, D0, "cat1", "y2", true);
        up(&mut nodes, "y2", "u2");
        nodes.push(node(
            "Concat",
            "cat2".into(),
            &["u2", "d1"],
            vec![AttributeProto::int("axis", 1)],
        ));
        conv(&mut nodes, D1, "cat2", "y1", true);
        conv(&mut nodes, HEAD, "y1", "logit", false);
        nodes.push(node("Sigmoid", "change".into(), &["logit"], vec![]));
        let io =
            |name: &str, c: usize| ValueInfoProto::tensor(name, &[Some(1), Some(c), None, None]);
        ModelProto {
            ir_version: 8,
            producer_name: "tuban".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(GraphProto {
                node: nodes,
                name: "tuban_siamese_unet".into(),
                initializer: init,
                input: vec![io("before", self.bands), io("after", self.bands)],
                output: vec![io("change", 1)],
            }),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            metadata_props: metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// One training sample: both dates (`bands` x h x w, normalised), label 0/1 and weight per pixel.
#[derive(Clone, Debug)]
pub struct Sample {
    pub h: usize,
    pub w: usize,
    pub before: Vec<f32>,
    pub after: Vec<f32>,
    pub label: Vec<f32>,
    pub weight: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::graph::Graph;
    use crate::model::tensor::Tensor;
    use crate::model::train::Adam;

    fn sample(rng: &mut Rng, bands: usize, h: usize, w: usize) -> Sample {
        let before: Vec<f32> = (0..bands * h * w).map(|_| rng.normal_f32()).collect();
        let mut after = before.clone();
        let mut label = vec![0.0; h * w];
        for y in h / 4..h / 2 {
            for x in w / 4..w / 2 {
                label[y * w + x] = 1.0;
                for b in 0..bands {
                    after[(b * h + y) * w + x] += 2.0;
                }
            }
        }
        Sample {
            h,
            w,
            before,
            after,
            label,
            weight: vec![1.0; h * w],
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Rng::from_state(7);
        let net = Net::new(2, [3, 4, 5], &mut rng);
        let batch = vec![sample(&mut rng, 2, 8, 8)];
        let (_, grads) = net.loss_and_grads(&batch, 0.5);
        // f32 activations and ReLU/max-pool kinks: a small step and a loose absolute bound.
        let eps = 2e-3;
        for (l, i) in [
            (0, 3),
            (0, 5),
            (0, 30),
            (1, 3),
            (1, 50),
            (2, 10),
            (5, 7),
            (6, 20),
            (7, 5),
            (8, 1),
        ] {
            let mut p = net.clone();
            p.layers[l].w[i] += eps;
            let mut m = net.clone();
            m.layers[l].w[i] -= eps;
            let num =
                (p.loss_and_grads(&batch, 0.5).0 - m.loss_and_grads(&batch, 0.5).0) / (2.0 * eps);
            let got = grads[l].0[i];
            assert!(
                (num - got).abs() < 4e-4 + 0.05 * got.abs(),
                "layer {l} w[{i}]: numeric {num}, analytic {got}"
            );
        }
    }

    #[test]
    fn exported_onnx_runs_to_the_same_probabilities() {
        let mut rng = Rng::from_state(3);
        let net = Net::new(3, [4, 6, 8], &mut rng);
        let s = sample(&mut rng, 3, 12, 16);
        let z = net.forward(&s.before, &s.after, 12, 16);
        let bytes = crate::model::onnx::encode(&net.to_onnx(&[]));
        let model = crate::model::onnx::decode(&bytes).unwrap();
        let g = Graph::from_proto(&model, std::path::Path::new("net.onnx")).unwrap();
        let t = |v: &[f32]| Tensor::new(vec![1, 3, 12, 16], v.to_vec());
        let out = g.run(vec![t(&s.before), t(&s.after)]).unwrap();
        assert_eq!(out[0].shape, vec![1, 1, 12, 16]);
        for (a, b) in out[0].data.iter().zip(&z) {
            assert!((a - sigmoid(*b)).abs() < 1e-5);
        }
    }

    #[test]
    fn training_learns_a_bright_square() {
        let mut rng = Rng::from_state(11);
        let mut net = Net::new(2, [4, 8, 8], &mut rng);
        let mut adam = Adam::new(&net);
        let batch: Vec<Sample> = (0..2).map(|_| sample(&mut rng, 2, 16, 16)).collect();
        let first = net.loss_and_grads(&batch, 0.5).0;
        for _ in 0..60 {
            let (_, g) = net.loss_and_grads(&batch, 0.5);
            adam.step(&mut net, &g, 1e-2, 0.0);
        }
        let last = net.loss_and_grads(&batch, 0.5).0;
        assert!(last < 0.3 * first, "loss {first} -> {last}");
    }
}
