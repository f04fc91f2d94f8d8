//! The small layers of tuban's network that are not convolutions, forward and backward: the
//! sigmoid, ReLU's gradient, 2x2 max-pooling with its argmax, nearest 2x upsampling and its
//! transpose.

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

pub(super) fn relu_back(dout: &[f32], y: &[f32]) -> Vec<f32> {
    dout.iter()
        .zip(y)
        .map(|(g, &v)| if v > 0.0 { *g } else { 0.0 })
        .collect()
}

/// 2x2 max-pool with stride 2 (h, w even); returns the values and the argmax index of each.
pub(super) fn maxpool2(x: &[f32], c: usize, h: usize, w: usize) -> (Vec<f32>, Vec<u32>) {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = vec![0.0; c * oh * ow];
    let mut arg = vec![0u32; c * oh * ow];
    for ch in 0..c {
        for y in 0..oh {
            for xx in 0..ow {
                let mut best = (f32::NEG_INFINITY, 0usize);
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let i = (ch * h + 2 * y + dy) * w + 2 * xx + dx;
                    if x[i] > best.0 {
                        best = (x[i], i);
                    }
                }
                let o = (ch * oh + y) * ow + xx;
                out[o] = best.0;
                arg[o] = best.1 as u32;
            }
        }
    }
    (out, arg)
}

pub(super) fn unpool2(d: &[f32], arg: &[u32], n: usize) -> Vec<f32> {
    let mut out = vec![0.0; n];
    for (g, &i) in d.iter().zip(arg) {
        out[i as usize] += g;
    }
    out
}

/// Nearest-neighbour 2x upsampling of `c` planes of h x w.
pub(super) fn upsample2(x: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let (oh, ow) = (2 * h, 2 * w);
    let mut out = vec![0.0; c * oh * ow];
    for ch in 0..c {
        for y in 0..oh {
            for xx in 0..ow {
                out[(ch * oh + y) * ow + xx] = x[(ch * h + y / 2) * w + xx / 2];
            }
        }
    }
    out
}

/// The transpose of [`upsample2`]: sums each 2x2 block of the (2h x 2w) gradient.
pub(super) fn downsample2_sum(d: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let (ih, iw) = (2 * h, 2 * w);
    let mut out = vec![0.0; c * h * w];
    for ch in 0..c {
        for y in 0..ih {
            for xx in 0..iw {
                out[(ch * h + y / 2) * w + xx / 2] += d[(ch * ih + y) * iw + xx];
            }
        }
    }
    out
}
