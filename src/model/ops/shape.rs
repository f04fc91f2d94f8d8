//! Shape operators: padding, transposition, slicing, gathering, reshaping.

use super::{OpResult, norm_axis};
use crate::model::tensor::Tensor;

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
