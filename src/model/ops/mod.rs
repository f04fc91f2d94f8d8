//! The operators of the engine on [`Tensor`]s (inference only): each takes its inputs and the
//! attributes [`super::node`] parsed, and returns its output or a message that the graph turns
//! into an error naming the model and the node. Element-wise and channel operators here;
//! convolutions, pooling and resizing in [`spatial`]; shape operators in [`shape`].

use super::tensor::Tensor;

mod shape;
mod spatial;
use rayon::prelude::*;
pub use shape::{gather, pad, reshape, slice, transpose};
pub use spatial::{
    ConvAttrs, ConvDevice, CoordMode, PoolAttrs, ResizeAttrs, batch_norm, conv, conv_transpose,
    global_average_pool, pool, resize,
};

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
            Unary::Sigmoid => super::layers::sigmoid(v),
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
