//! Convolutions, normalisation, pooling and resizing of NCHW tensors.

use super::OpResult;
use crate::model::conv::{ConvGeom, col2im, conv_forward, gemm};
use crate::model::tensor::Tensor;
use rayon::prelude::*;

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
