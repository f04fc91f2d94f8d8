//! The operators of the engine on [`Tensor`]s (inference only): each takes its inputs and the
//! attributes [`super::graph`] parsed, and returns its output or a message that the graph turns
//! into an error naming the model and the node.

use super::conv::{ConvGeom, col2im, conv_forward, gemm};
use super::tensor::Tensor;
use rayon::prelude::*;

pub type OpResult = std::result::Result<Tensor, String>;

/// Element-wise functions of one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unary {
    Relu,
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    Abs,
    Neg,
    Exp,
    Sqrt,
    Clip(f32, f32),
    Identity,
}

impl Unary {
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Unary::Relu => v.max(0.0),
            Unary::LeakyRelu(a) => {
                if v < 0.0 {
                    a * v
                } else {
                    v
                }
            }
            Unary::Sigmoid => 1.0 / (1.0 + (-v).exp()),
            Unary::Tanh => v.tanh(),
            Unary::Abs => v.abs(),
            Unary::Neg => -v,
            Unary::Exp => v.exp(),
            Unary::Sqrt => v.sqrt(),
            Unary::Clip(lo, hi) => v.clamp(lo, hi),
            Unary::Identity => v,
        }
    }
}

pub fn unary(op: Unary, mut x: Tensor) -> Tensor {
    x.data.par_iter_mut().for_each(|v| *v = op.apply(*v));
    x
}

/// Element-wise functions of two tensors, with numpy broadcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
    Max,
    Min,
    Pow,
}

impl Binary {
    fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::Max => a.max(b),
            Binary::Min => a.min(b),
            Binary::Pow => a.powf(b),
        }
    }
}

/// The broadcast shape of two shapes, or None when they do not broadcast.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let da = if i + a.len() >= r {
                a[i + a.len() - r]
            } else {
                1
            };
            let db = if i + b.len() >= r {
                b[i + b.len() - r]
            } else {
                1
            };
            match (da, db) {
                _ if da == db => Some(da),
                (1, d) | (d, 1) => Some(d),
                _ => None,
            }
        })
        .collect()
}

/// Strides of `shape` seen through the broadcast `out` shape (0 along broadcast axes).
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let own = Tensor::strides(shape);
    let lead = out.len() - shape.len();
    (0..out.len())
        .map(|i| {
            if i < lead || shape[i - lead] == 1 {
                0
            } else {
                own[i - lead]
            }
        })
        .collect()
}

pub fn binary(op: Binary, a: &Tensor, b: &Tensor) -> OpResult {
    if a.shape == b.shape {
        let data = a
            .data
            .par_iter()
            .zip(&b.data)
            .map(|(&x, &y)| op.apply(x, y))
            .collect();
        return Ok(Tensor::new(a.shape.clone(), data));
    }
    let shape = broadcast_shape(&a.shape, &b.shape)
        .ok_or_else(|| format!("shapes {:?} and {:?} do not broadcast", a.shape, b.shape))?;
    let (sa, sb) = (
        broadcast_strides(&a.shape, &shape),
        broadcast_strides(&b.shape, &shape),
    );
    let out_strides = Tensor::strides(&shape);
    let n: usize = shape.iter().product();
    let data = (0..n)
        .into_par_iter()
        .map(|i| {
            let (mut ia, mut ib, mut rem) = (0, 0, i);
            for d in 0..shape.len() {
                let q = rem / out_strides[d];
                rem %= out_strides[d];
                ia += q * sa[d];
                ib += q * sb[d];
            }
            op.apply(a.data[ia], b.data[ib])
        })
        .collect();
    Ok(Tensor::new(shape, data))
}

/// Convolution attributes (2-d).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvAttrs {
    pub strides: (usize, usize),
    /// `[top, left, bottom, right]`; None: `auto_pad = SAME_UPPER / SAME_LOWER` (true: lower).
    pub pads: [usize; 4],
    pub same: Option<bool>,
    pub dilations: (usize, usize),
    pub group: usize,
    pub output_padding: (usize, usize),
}

fn same_pads(size: usize, k: usize, s: usize, d: usize, lower: bool) -> (usize, usize) {
    let out = size.div_ceil(s);
    let need = ((out - 1) * s + d * (k - 1) + 1).saturating_sub(size);
    if lower {
        (need.div_ceil(2), need / 2)
    } else {
        (need / 2, need.div_ceil(2))
    }
}

/// Where convolutions run: the CPU (sgemm) or a GPU (`shaders/conv.wgsl`).
pub type ConvDevice<'a> = Option<&'a crate::gpu::GpuContext>;

pub fn conv(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    a: &ConvAttrs,
    device: ConvDevice,
) -> OpResult {
    let (n, c, h, wd) = x
        .nchw()
        .ok_or_else(|| format!("input of shape {:?} is not NCHW", x.shape))?;
    let [o, cg, kh, kw] = w.shape[..] else {
        return Err(format!("weight of shape {:?} is not 4-d", w.shape));
    };
    let g = a.group.max(1);
    if cg * g != c || o % g != 0 {
        return Err(format!(
            "input has {c} channels; the weight {:?} with group {g} expects {}",
            w.shape,
            cg * g
        ));
    }
    let pads = match a.same {
        None => a.pads,
        Some(lower) => {
            let (t, b) = same_pads(h, kh, a.strides.0, a.dilations.0, lower);
            let (l, r) = same_pads(wd, kw, a.strides.1, a.dilations.1, lower);
            [t, l, b, r]
        }
    };
    let geom = ConvGeom::new((cg, h, wd), (kh, kw), a.strides, pads, a.dilations)
        .ok_or_else(|| format!("a {kh}x{kw} kernel does not fit a {h}x{wd} input"))?;
    let bias = bias.map_or(&[][..], |b| &b.data[..]);
    if !bias.is_empty() && bias.len() != o {
        return Err(format!(
            "bias of {} values for {o} output channels",
            bias.len()
        ));
    }
    let (og, plane) = (o / g, geom.oh * geom.ow);
    let mut out = Tensor::zeros(vec![n, o, geom.oh, geom.ow]);
    if let Some(gpu) = device {
        let full = ConvGeom { c, ..geom };
        for (img, dst) in out.data.chunks_mut(o * plane).enumerate() {
            let r = gpu.conv2d(
                &full,
                (o, g),
                &x.data[img * c * h * wd..(img + 1) * c * h * wd],
                &w.data,
                bias,
            );
            dst.copy_from_slice(&r.map_err(|e| e.to_string())?);
        }
        return Ok(out);
    }
    for (img, dst) in out.data.chunks_mut(o * plane).enumerate() {
        for gi in 0..g {
            let src = &x.data[(img * c + gi * cg) * h * wd..][..cg * h * wd];
            let wg = &w.data[gi * og * geom.k()..][..og * geom.k()];
            let bg = if bias.is_empty() {
                &[][..]
            } else {
                &bias[gi * og..(gi + 1) * og]
            };
            conv_forward(
                &geom,
                og,
                src,
                wg,
                bg,
                &mut dst[gi * og * plane..(gi + 1) * og * plane],
            );
        }
    }
    Ok(out)
}

pub fn conv_transpose(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, a: &ConvAttrs) -> OpResult {
    let (n, c, h, wd) = x
        .nchw()
        .ok_or_else(|| format!("input of shape {:?} is not NCHW", x.shape))?;
    let [ci, og, kh, kw] = w.shape[..] else {
        return Err(format!("weight of shape {:?} is not 4-d", w.shape));
    };
    let g = a.group.max(1);
    if ci != c || c % g != 0 {
        return Err(format!(
            "input has {c} channels, the weight {:?} expects {ci}",
            w.shape
        ));
    }
    let (s, d, p) = (a.strides, a.dilations, a.pads);
    let full_h = (h - 1) * s.0 + d.0 * (kh - 1) + 1 + a.output_padding.0;
    let full_w = (wd - 1) * s.1 + d.1 * (kw - 1) + 1 + a.output_padding.1;
    let (oh, ow) = (
        full_h
            .checked_sub(p[0] + p[2])
            .ok_or("pads larger than the output")?,
        full_w
            .checked_sub(p[1] + p[3])
            .ok_or("pads larger than the output")?,
    );
    // The transpose of a convolution from the output (og x oh x ow) to the input grid.
    let geom = ConvGeom {
        c: og,
        h: oh,
        w: ow,
        kh,
        kw,
        stride: s,
        pad: (p[0], p[1]),
        dilation: d,
        oh: h,
        ow: wd,
    };
    let cg = c / g;
    let o = og * g;
    let mut out = Tensor::zeros(vec![n, o, oh, ow]);
    let plane_in = h * wd;
    for (img, dst) in out.data.chunks_mut(o * oh * ow).enumerate() {
        for gi in 0..g {
            let src = &x.data[(img * c + gi * cg) * plane_in..][..cg * plane_in];
            let wg = &w.data[gi * cg * og * kh * kw..][..cg * og * kh * kw];
            // col[k x n_in] = Wᵀ[k x cg] · x[cg x n_in]
            let k = og * kh * kw;
            let mut col = vec![0.0; k * plane_in];
            gemm(
                (k, cg, plane_in),
                wg,
                (1, k),
                src,
                (plane_in, 1),
                &mut col,
                plane_in,
                false,
            );
            col2im(
                &geom,
                &col,
                &mut dst[gi * og * oh * ow..(gi + 1) * og * oh * ow],
            );
        }
        if let Some(b) = bias {
            for (oc, plane) in dst.chunks_mut(oh * ow).enumerate() {
                let v = b.data.get(oc).copied().unwrap_or(0.0);
                plane.iter_mut().for_each(|p| *p += v);
            }
        }
    }
    Ok(out)
}

/// `BatchNormalization` in inference mode.
pub fn batch_norm(
    x: Tensor,
    scale: &Tensor,
    b: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    eps: f32,
) -> OpResult {
    let c = *x.shape.get(1).ok_or("input has no channel axis")?;
    if [scale, b, mean, var].iter().any(|t| t.len() != c) {
        return Err(format!("statistics do not have {c} channels"));
    }
    let inner: usize = x.shape[2..].iter().product();
    let mut x = x;
    x.data
        .par_chunks_mut(inner.max(1))
        .enumerate()
        .for_each(|(i, plane)| {
            let ch = i % c;
            let k = scale.data[ch] / (var.data[ch] + eps).sqrt();
            let off = b.data[ch] - mean.data[ch] * k;
            plane.iter_mut().for_each(|v| *v = *v * k + off);
        });
    Ok(x)
}

/// Pooling attributes (2-d).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolAttrs {
    pub max: bool,
    pub kernel: (usize, usize),
    pub strides: (usize, usize),
    pub pads: [usize; 4],
    pub ceil: bool,
    pub count_include_pad: bool,
}

pub fn pool(x: &Tensor, a: &PoolAttrs) -> OpResult {
    let (n, c, h, w) = x
        .nchw()
        .ok_or_else(|| format!("input of shape {:?} is not NCHW", x.shape))?;
    let (kh, kw) = a.kernel;
    let (sh, sw) = a.strides;
    let span = |size: usize, pa: usize, pb: usize, k: usize, s: usize| -> Option<usize> {
        let padded = (size + pa + pb).checked_sub(k)?;
        Some(
            if a.ceil {
                padded.div_ceil(s)
            } else {
                padded / s
            } + 1,
        )
    };
    let oh = span(h, a.pads[0], a.pads[2], kh, sh).ok_or("pooling window larger than the input")?;
    let ow = span(w, a.pads[1], a.pads[3], kw, sw).ok_or("pooling window larger than the input")?;
    let mut out = Tensor::zeros(vec![n, c, oh, ow]);
    out.data
        .par_chunks_mut(oh * ow)
        .enumerate()
        .for_each(|(p, dst)| {
            let src = &x.data[p * h * w..(p + 1) * h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    let (y0, x0) = (
                        (oy * sh) as isize - a.pads[0] as isize,
                        (ox * sw) as isize - a.pads[1] as isize,
                    );
                    let (mut acc, mut count) =
                        (if a.max { f32::NEG_INFINITY } else { 0.0 }, 0usize);
                    for y in y0..y0 + kh as isize {
                        for xx in x0..x0 + kw as isize {
                            if y < 0 || xx < 0 || y >= h as isize || xx >= w as isize {
                                continue;
                            }
                            let v = src[y as usize * w + xx as usize];
                            acc = if a.max { acc.max(v) } else { acc + v };
                            count += 1;
                        }
                    }
                    dst[oy * ow + ox] = if a.max {
                        acc
                    } else {
                        acc / if a.count_include_pad {
                            kh * kw
                        } else {
                            count.max(1)
                        } as f32
                    };
                }
            }
        });
    Ok(out)
}

pub fn global_average_pool(x: &Tensor) -> OpResult {
    let (n, c, h, w) = x
        .nchw()
        .ok_or_else(|| format!("input of shape {:?} is not NCHW", x.shape))?;
    let data = x
        .data
        .chunks(h * w)
        .map(|p| p.iter().sum::<f32>() / (h * w) as f32)
        .collect();
    Ok(Tensor::new(vec![n, c, 1, 1], data))
}

pub fn concat(inputs: &[&Tensor], axis: i64) -> OpResult {
    let first = inputs.first().ok_or("no input")?;
    let r = first.rank();
    let ax = norm_axis(axis, r)?;
    for t in inputs {
        if t.rank() != r || (0..r).any(|d| d != ax && t.shape[d] != first.shape[d]) {
            return Err(format!(
                "cannot concatenate {:?} with {:?} on axis {ax}",
                first.shape, t.shape
            ));
        }
    }
    let outer: usize = first.shape[..ax].iter().product();
    let mut shape = first.shape.clone();
    shape[ax] = inputs.iter().map(|t| t.shape[ax]).sum();
    let mut data = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        for t in inputs {
            let chunk: usize = t.shape[ax..].iter().product();
            data.extend_from_slice(&t.data[o * chunk..(o + 1) * chunk]);
        }
    }
    Ok(Tensor::new(shape, data))
}

pub fn norm_axis(axis: i64, rank: usize) -> std::result::Result<usize, String> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a as usize >= rank.max(1) {
        return Err(format!("axis {axis} out of range for rank {rank}"));
    }
    Ok(a as usize)
}

pub fn softmax(mut x: Tensor, axis: i64) -> OpResult {
    let ax = norm_axis(axis, x.rank())?;
    let len = x.shape[ax];
    let inner: usize = x.shape[ax + 1..].iter().product();
    let outer: usize = x.shape[..ax].iter().product();
    for o in 0..outer {
        for i in 0..inner {
            let at = |k: usize| (o * len + k) * inner + i;
            let m = (0..len)
                .map(|k| x.data[at(k)])
                .fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for k in 0..len {
                let e = (x.data[at(k)] - m).exp();
                x.data[at(k)] = e;
                sum += e;
            }
            for k in 0..len {
                x.data[at(k)] /= sum;
            }
        }
    }
    Ok(x)
}

/// How `Resize` maps an output coordinate to the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordMode {
    HalfPixel,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
}

/// `Resize` / `Upsample` of the two spatial axes of an NCHW tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResizeAttrs {
    pub linear: bool,
    pub coord: CoordMode,
    /// Nearest mode: round half down (`round_prefer_floor`), floor, ceil, or half up (default).
    pub nearest_floor: bool,
    pub nearest_ceil: bool,
    pub nearest_prefer_floor: bool,
}

pub fn resize(
    x: &Tensor,
    (oh, ow): (usize, usize),
    (sy, sx): (f32, f32),
    a: &ResizeAttrs,
) -> OpResult {
    let (n, c, h, w) = x
        .nchw()
        .ok_or_else(|| format!("input of shape {:?} is not NCHW", x.shape))?;
    if oh == 0 || ow == 0 {
        return Err("empty output size".into());
    }
    let src = |o: usize, out: usize, inp: usize, scale: f32| -> f32 {
        let o = o as f32;
        match a.coord {
            CoordMode::HalfPixel => (o + 0.5) / scale - 0.5,
            CoordMode::PytorchHalfPixel if out > 1 => (o + 0.5) / scale - 0.5,
            CoordMode::PytorchHalfPixel => 0.0,
            CoordMode::AlignCorners if out > 1 => o * (inp - 1) as f32 / (out - 1) as f32,
            CoordMode::AlignCorners => 0.0,
            CoordMode::Asymmetric => o / scale,
        }
    };
    let nearest = |v: f32, size: usize| -> usize {
        let r = if a.nearest_floor {
            v.floor()
        } else if a.nearest_ceil {
            v.ceil()
        } else if a.nearest_prefer_floor && v.fract() == 0.5 {
            v.floor()
        } else {
            (v + 0.5).floor()
        };
        r.clamp(0.0, (size - 1) as f32) as usize
    };
    // Per output row/column: (low index, high index, weight of high).
    let taps = |out: usize, inp: usize, scale: f32| -> Vec<(usize, usize, f32)> {
        (0..out)
            .map(|o| {
                let s = src(o, out, inp, scale);
                if a.linear {
                    let s = s.clamp(0.0, (inp - 1) as f32);
                    let lo = s.floor() as usize;
                    (lo, (lo + 1).min(inp - 1), s - lo as f32)
                } else {
                    let i = nearest(s, inp);
                    (i, i, 0.0)
                }
            })
            .collect()
    };
    let (ty, tx) = (taps(oh, h, sy), taps(ow, w, sx));
    let mut out = Tensor::zeros(vec![n, c, oh, ow]);
    out.data
        .par_chunks_mut(oh * ow)
        .enumerate()
        .for_each(|(p, dst)| {
            let s = &x.data[p * h * w..(p + 1) * h * w];
            for (oy, &(y0, y1, fy)) in ty.iter().enumerate() {
                for (ox, &(x0, x1, fx)) in tx.iter().enumerate() {
                    let top = s[y0 * w + x0] * (1.0 - fx) + s[y0 * w + x1] * fx;
                    let bottom = s[y1 * w + x0] * (1.0 - fx) + s[y1 * w + x1] * fx;
                    dst[oy * ow + ox] = top * (1.0 - fy) + bottom * fy;
                }
            }
        });
    Ok(out)
}

/// `Pad` of the two spatial axes or any axes: `pads` is ONNX's `[begin.., end..]`.
pub fn pad(x: &Tensor, pads: &[i64], mode: &str, value: f32) -> OpResult {
    let r = x.rank();
    if pads.len() != 2 * r || pads.iter().any(|&p| p < 0) {
        return Err(format!(
            "pads {pads:?} for a rank-{r} input (negative pads are not supported)"
        ));
    }
    let shape: Vec<usize> = (0..r)
        .map(|d| x.shape[d] + (pads[d] + pads[d + r]) as usize)
        .collect();
    let in_strides = Tensor::strides(&x.shape);
    let out_strides = Tensor::strides(&shape);
    let n: usize = shape.iter().product();
    let mut data = vec![value; n];
    for (i, v) in data.iter_mut().enumerate() {
        let mut src = 0usize;
        let mut inside = true;
        for d in 0..r {
            let o = (i / out_strides[d]) % shape[d];
            let mut s = o as i64 - pads[d];
            let len = x.shape[d] as i64;
            if s < 0 || s >= len {
                match mode {
                    "reflect" if len > 1 => {
                        let period = 2 * (len - 1);
                        s = s.rem_euclid(period);
                        if s >= len {
                            s = period - s;
                        }
                    }
                    "edge" | "reflect" => s = s.clamp(0, len - 1),
                    _ => {
                        inside = false;
                        break;
                    }
                }
            }
            src += s as usize * in_strides[d];
        }
        if inside {
            *v = x.data[src];
        }
    }
    Ok(Tensor::new(shape, data))
}

pub fn transpose(x: &Tensor, perm: &[usize]) -> OpResult {
    let r = x.rank();
    if perm.len() != r || (0..r).any(|d| !perm.contains(&d)) {
        return Err(format!("perm {perm:?} for a rank-{r} input"));
    }
    let shape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let in_strides = Tensor::strides(&x.shape);
    let out_strides = Tensor::strides(&shape);
    let data = (0..x.len())
        .map(|i| {
            let src: usize = (0..r)
                .map(|d| ((i / out_strides[d]) % shape[d]) * in_strides[perm[d]])
                .sum();
            x.data[src]
        })
        .collect();
    Ok(Tensor::new(shape, data))
}

/// `Slice` with constant starts, ends, axes and steps (steps > 0).
pub fn slice(x: &Tensor, starts: &[i64], ends: &[i64], axes: &[i64], steps: &[i64]) -> OpResult {
    let r = x.rank();
    let (mut lo, mut hi, mut st) = (vec![0usize; r], x.shape.clone(), vec![1usize; r]);
    for (k, &axis) in axes.iter().enumerate() {
        let d = norm_axis(axis, r)?;
        let len = x.shape[d] as i64;
        let step = steps.get(k).copied().unwrap_or(1);
        if step <= 0 {
            return Err(format!(
                "slice step {step} (only positive steps are supported)"
            ));
        }
        let clampi = |v: i64| if v < 0 { (v + len).max(0) } else { v.min(len) };
        lo[d] = clampi(starts[k]) as usize;
        hi[d] = clampi(ends[k]).max(lo[d] as i64) as usize;
        st[d] = step as usize;
    }
    let shape: Vec<usize> = (0..r).map(|d| (hi[d] - lo[d]).div_ceil(st[d])).collect();
    let in_strides = Tensor::strides(&x.shape);
    let out_strides = Tensor::strides(&shape);
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| {
            let src: usize = (0..r)
                .map(|d| (lo[d] + ((i / out_strides[d]) % shape[d]) * st[d]) * in_strides[d])
                .sum();
            x.data[src]
        })
        .collect();
    Ok(Tensor::new(shape, data))
}

/// `Gather` along `axis` with integer indices.
pub fn gather(x: &Tensor, idx: &Tensor, axis: i64) -> OpResult {
    let d = norm_axis(axis, x.rank())?;
    let len = x.shape[d] as i64;
    let outer: usize = x.shape[..d].iter().product();
    let inner: usize = x.shape[d + 1..].iter().product();
    let mut shape = x.shape[..d].to_vec();
    shape.extend(&idx.shape);
    shape.extend(&x.shape[d + 1..]);
    let mut data = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        for &i in &idx.to_ints() {
            let i = if i < 0 { i + len } else { i };
            if i < 0 || i >= len {
                return Err(format!("index {i} out of range for axis of {len}"));
            }
            let at = (o * len as usize + i as usize) * inner;
            data.extend_from_slice(&x.data[at..at + inner]);
        }
    }
    Ok(Tensor::new(shape, data))
}

/// `Reshape` with ONNX's 0 (copy) and -1 (infer) conventions.
pub fn reshape(x: Tensor, spec: &[i64]) -> OpResult {
    let mut shape = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            0 => shape.push(*x.shape.get(i).ok_or("0 in reshape beyond the input rank")?),
            -1 if infer.is_none() => {
                infer = Some(i);
                shape.push(1);
            }
            s if s > 0 => shape.push(s as usize),
            _ => return Err(format!("reshape to {spec:?}")),
        }
    }
    let known: usize = shape.iter().product();
    if let Some(i) = infer {
        if known == 0 || x.len() % known != 0 {
            return Err(format!("cannot reshape {:?} to {spec:?}", x.shape));
        }
        shape[i] = x.len() / known;
    }
    if shape.iter().product::<usize>() != x.len() {
        return Err(format!("cannot reshape {:?} to {spec:?}", x.shape));
    }
    Ok(Tensor::new(shape, x.data))
}
