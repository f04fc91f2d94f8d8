//! One ONNX node as the engine runs it: the operator and its attributes, parsed once
//! ([`parse_op`], refusing what the engine cannot run), and its execution ([`run_op`]).

use super::onnx::{AttributeProto, NodeProto, TensorProto, data_type};
use super::ops::{self, Binary, ConvAttrs, CoordMode, PoolAttrs, ResizeAttrs, Unary};
use super::tensor::Tensor;
use std::collections::HashMap;

/// The operators the engine runs (ONNX domain `ai.onnx`, opsets 7 to 21).
pub const SUPPORTED: &[&str] = &[
    "Abs",
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "Conv",
    "ConvTranspose",
    "Div",
    "Dropout",
    "Exp",
    "Flatten",
    "Gather",
    "GlobalAveragePool",
    "Identity",
    "LeakyRelu",
    "Max",
    "MaxPool",
    "Min",
    "Mul",
    "Neg",
    "Pad",
    "Pow",
    "Relu",
    "Reshape",
    "Resize",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
    "Upsample",
];

#[derive(Clone, Debug)]
pub(super) enum Op {
    Conv(ConvAttrs),
    ConvTranspose(ConvAttrs),
    BatchNorm(f32),
    Unary(Unary),
    /// Clip with optional min and max inputs (opset 11 and later).
    ClipInputs,
    Binary(Binary),
    Concat(i64),
    Pool(PoolAttrs),
    GlobalAveragePool,
    Resize(ResizeAttrs),
    Pad {
        mode: String,
        pads: Option<Vec<i64>>,
        value: f32,
    },
    Softmax(i64),
    Constant(Tensor),
    Shape,
    Gather(i64),
    Unsqueeze(Option<Vec<i64>>),
    Squeeze(Option<Vec<i64>>),
    Reshape,
    Flatten(i64),
    Transpose(Option<Vec<usize>>),
    Slice(Option<[Vec<i64>; 3]>),
    Split {
        axis: i64,
        split: Option<Vec<i64>>,
    },
    /// Cast to an integer type rounds toward zero; to float it is the identity.
    Cast(bool),
}

/// A tensor of the file as f32.
pub(super) fn tensor_of(t: &TensorProto) -> std::result::Result<Tensor, String> {
    if t.data_location == 1 {
        return Err("weights stored in an external file are not supported; export with the weights inside the .onnx".into());
    }
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d}")))
        .collect::<std::result::Result<_, _>>()?;
    let n: usize = dims.iter().product();
    let raw = &t.raw_data;
    let data: Vec<f32> = match t.data_type {
        data_type::FLOAT if !raw.is_empty() => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        data_type::FLOAT => t.float_data.clone(),
        data_type::DOUBLE if !raw.is_empty() => raw
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        data_type::DOUBLE => t.double_data.iter().map(|&v| v as f32).collect(),
        data_type::INT64 => {
            let v: Vec<i64> = if raw.is_empty() {
                t.int64_data.clone()
            } else {
                raw.chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect()
            };
            if v.iter().any(|x| x.unsigned_abs() >= 1 << 24) {
                // Slice ends of i64::MAX mean "to the end": clamp, any extent is smaller.
                v.iter()
                    .map(|&x| x.clamp(-(1 << 24), 1 << 24) as f32)
                    .collect()
            } else {
                v.iter().map(|&x| x as f32).collect()
            }
        }
        data_type::INT32 if !raw.is_empty() => raw
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)
            .collect(),
        data_type::INT32 | data_type::UINT8 | data_type::INT8 | data_type::BOOL
            if raw.is_empty() =>
        {
            t.int32_data.iter().map(|&v| v as f32).collect()
        }
        data_type::UINT8 | data_type::BOOL => raw.iter().map(|&v| f32::from(v)).collect(),
        data_type::INT8 => raw.iter().map(|&v| f32::from(v as i8)).collect(),
        data_type::FLOAT16 => {
            return Err("float16 weights are not supported; export in float32".into());
        }
        other => return Err(format!("data type {other} is not supported")),
    };
    if data.len() != n {
        return Err(format!("{} values for dimensions {dims:?}", data.len()));
    }
    Ok(Tensor::new(dims, data))
}

struct Attrs<'a>(HashMap<&'a str, &'a AttributeProto>);

impl Attrs<'_> {
    fn int(&self, name: &str, default: i64) -> i64 {
        self.0.get(name).map_or(default, |a| a.i)
    }
    fn float(&self, name: &str, default: f32) -> f32 {
        self.0.get(name).map_or(default, |a| a.f)
    }
    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.0.get(name).map(|a| a.ints.clone())
    }
    fn string(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }
    fn pair(&self, name: &str, default: usize) -> std::result::Result<(usize, usize), String> {
        match self.ints(name).as_deref() {
            None => Ok((default, default)),
            Some([a, b]) if *a > 0 && *b > 0 => Ok((*a as usize, *b as usize)),
            Some(v) => Err(format!(
                "{name} {v:?}: only 2-d operators with positive values are supported"
            )),
        }
    }
    fn pads(&self) -> std::result::Result<[usize; 4], String> {
        match self.ints("pads").as_deref() {
            None => Ok([0; 4]),
            Some([t, l, b, r]) if [t, l, b, r].iter().all(|&&v| v >= 0) => {
                Ok([*t as usize, *l as usize, *b as usize, *r as usize])
            }
            Some(v) => Err(format!(
                "pads {v:?}: only 2-d, non-negative pads are supported"
            )),
        }
    }
    /// `auto_pad`: None for explicit pads, Some(lower) for SAME_*.
    fn same(&self) -> std::result::Result<Option<bool>, String> {
        match self.string("auto_pad").as_deref() {
            None | Some("NOTSET") | Some("") | Some("VALID") => Ok(None),
            Some("SAME_UPPER") => Ok(Some(false)),
            Some("SAME_LOWER") => Ok(Some(true)),
            Some(v) => Err(format!("auto_pad {v}")),
        }
    }
}

pub(super) fn parse_op(n: &NodeProto, opset: i64) -> std::result::Result<Op, String> {
    let a = Attrs(n.attribute.iter().map(|a| (a.name.as_str(), a)).collect());
    let conv = || -> std::result::Result<ConvAttrs, String> {
        if a.ints("kernel_shape").is_some_and(|k| k.len() != 2) {
            return Err("only 2-d convolutions are supported".into());
        }
        Ok(ConvAttrs {
            strides: a.pair("strides", 1)?,
            pads: a.pads()?,
            same: a.same()?,
            dilations: a.pair("dilations", 1)?,
            group: a.int("group", 1).max(1) as usize,
            output_padding: match a.ints("output_padding").as_deref() {
                None => (0, 0),
                Some([h, w]) => (*h as usize, *w as usize),
                Some(v) => return Err(format!("output_padding {v:?}")),
            },
        })
    };
    let resize = || -> std::result::Result<ResizeAttrs, String> {
        let mode = a.string("mode").unwrap_or_else(|| "nearest".into());
        let coord_default = if n.op_type == "Upsample" || opset < 11 {
            "asymmetric"
        } else {
            "half_pixel"
        };
        let coord = match a
            .string("coordinate_transformation_mode")
            .as_deref()
            .unwrap_or(coord_default)
        {
            "half_pixel" => CoordMode::HalfPixel,
            "pytorch_half_pixel" => CoordMode::PytorchHalfPixel,
            "align_corners" => CoordMode::AlignCorners,
            "asymmetric" => CoordMode::Asymmetric,
            m => {
                return Err(format!(
                    "coordinate_transformation_mode {m} is not supported"
                ));
            }
        };
        let nearest = a
            .string("nearest_mode")
            .unwrap_or_else(|| "round_prefer_floor".into());
        Ok(ResizeAttrs {
            linear: match mode.as_str() {
                "nearest" => false,
                "linear" | "bilinear" => true,
                m => return Err(format!("mode {m} is not supported (nearest, linear)")),
            },
            coord,
            nearest_floor: nearest == "floor",
            nearest_ceil: nearest == "ceil",
            nearest_prefer_floor: nearest == "round_prefer_floor",
        })
    };
    let pool = |max: bool| -> std::result::Result<Op, String> {
        if a.same()?.is_some() {
            return Err(
                "auto_pad SAME is not supported for pooling; export with explicit pads".into(),
            );
        }
        let kernel = a.pair("kernel_shape", 0)?;
        if kernel.0 == 0 {
            return Err("kernel_shape missing".into());
        }
        if a.pair("dilations", 1)? != (1, 1) {
            return Err("dilated pooling is not supported".into());
        }
        Ok(Op::Pool(PoolAttrs {
            max,
            kernel,
            strides: a.pair("strides", 1)?,
            pads: a.pads()?,
            ceil: a.int("ceil_mode", 0) != 0,
            count_include_pad: a.int("count_include_pad", 0) != 0,
        }))
    };
    Ok(match n.op_type.as_str() {
        "Conv" => Op::Conv(conv()?),
        "ConvTranspose" => {
            if a.ints("output_shape").is_some() {
                return Err("output_shape is not supported; export with pads".into());
            }
            Op::ConvTranspose(conv()?)
        }
        "BatchNormalization" => Op::BatchNorm(a.float("epsilon", 1e-5)),
        "Relu" => Op::Unary(Unary::Relu),
        "LeakyRelu" => Op::Unary(Unary::LeakyRelu(a.float("alpha", 0.01))),
        "Sigmoid" => Op::Unary(Unary::Sigmoid),
        "Tanh" => Op::Unary(Unary::Tanh),
        "Abs" => Op::Unary(Unary::Abs),
        "Neg" => Op::Unary(Unary::Neg),
        "Exp" => Op::Unary(Unary::Exp),
        "Sqrt" => Op::Unary(Unary::Sqrt),
        "Identity" | "Dropout" => Op::Unary(Unary::Identity),
        "Clip" if opset < 11 => Op::Unary(Unary::Clip(
            a.float("min", f32::MIN),
            a.float("max", f32::MAX),
        )),
        "Clip" => Op::ClipInputs,
        "Add" => Op::Binary(Binary::Add),
        "Sub" => Op::Binary(Binary::Sub),
        "Mul" => Op::Binary(Binary::Mul),
        "Div" => Op::Binary(Binary::Div),
        "Max" => Op::Binary(Binary::Max),
        "Min" => Op::Binary(Binary::Min),
        "Pow" => Op::Binary(Binary::Pow),
        "Concat" => Op::Concat(a.int("axis", 1)),
        "MaxPool" => pool(true)?,
        "AveragePool" => pool(false)?,
        "GlobalAveragePool" => Op::GlobalAveragePool,
        "Resize" | "Upsample" => Op::Resize(resize()?),
        "Pad" => Op::Pad {
            mode: a.string("mode").unwrap_or_else(|| "constant".into()),
            pads: a.ints("pads"),
            value: a.float("value", 0.0),
        },
        "Softmax" => Op::Softmax(a.int("axis", if opset < 13 { 1 } else { -1 })),
        "Constant" => {
            let t =
                a.0.get("value")
                    .and_then(|v| v.t.as_ref())
                    .ok_or("only tensor constants (`value`) are supported")?;
            Op::Constant(tensor_of(t)?)
        }
        "Shape" => Op::Shape,
        "Gather" => Op::Gather(a.int("axis", 0)),
        "Unsqueeze" => Op::Unsqueeze(a.ints("axes")),
        "Squeeze" => Op::Squeeze(a.ints("axes")),
        "Reshape" => Op::Reshape,
        "Flatten" => Op::Flatten(a.int("axis", 1)),
        "Transpose" => Op::Transpose(
            a.ints("perm")
                .map(|p| p.iter().map(|&v| v as usize).collect()),
        ),
        "Slice" if opset < 10 => {
            let starts = a.ints("starts").ok_or("starts missing")?;
            let ends = a.ints("ends").ok_or("ends missing")?;
            let axes = a
                .ints("axes")
                .unwrap_or_else(|| (0..starts.len() as i64).collect());
            Op::Slice(Some([starts, ends, axes]))
        }
        "Slice" => Op::Slice(None),
        "Split" => Op::Split {
            axis: a.int("axis", 0),
            split: a.ints("split"),
        },
        "Cast" => Op::Cast(!matches!(
            a.int("to", 1) as i32,
            data_type::FLOAT | data_type::DOUBLE | data_type::FLOAT16
        )),
        other => {
            return Err(format!(
                "operator {other} is not supported; tuban runs convolutional models made of {}",
                SUPPORTED.join(", ")
            ));
        }
    })
}

fn arg<'a>(args: &[Option<&'a Tensor>], i: usize) -> std::result::Result<&'a Tensor, String> {
    args.get(i)
        .copied()
        .flatten()
        .ok_or_else(|| format!("input {i} missing"))
}

pub(super) fn run_op(
    op: &Op,
    args: &[Option<&Tensor>],
    device: ops::ConvDevice,
) -> std::result::Result<Vec<Tensor>, String> {
    let x = || arg(args, 0);
    let opt = |i: usize| args.get(i).copied().flatten();
    let one = |t: Tensor| Ok(vec![t]);
    match op {
        Op::Conv(a) => one(ops::conv(x()?, arg(args, 1)?, opt(2), a, device)?),
        Op::ConvTranspose(a) => one(ops::conv_transpose(x()?, arg(args, 1)?, opt(2), a)?),
        Op::BatchNorm(eps) => one(ops::batch_norm(
            x()?.clone(),
            arg(args, 1)?,
            arg(args, 2)?,
            arg(args, 3)?,
            arg(args, 4)?,
            *eps,
        )?),
        Op::Unary(u) => one(ops::unary(*u, x()?.clone())),
        Op::ClipInputs => {
            let lo = opt(1)
                .and_then(|t| t.data.first().copied())
                .unwrap_or(f32::MIN);
            let hi = opt(2)
                .and_then(|t| t.data.first().copied())
                .unwrap_or(f32::MAX);
            one(ops::unary(Unary::Clip(lo, hi), x()?.clone()))
        }
        Op::Binary(b) => one(ops::binary(*b, x()?, arg(args, 1)?)?),
        Op::Concat(axis) => {
            let ins: Vec<&Tensor> = args.iter().flatten().copied().collect();
            one(ops::concat(&ins, *axis)?)
        }
        Op::Pool(a) => one(ops::pool(x()?, a)?),
        Op::GlobalAveragePool => one(ops::global_average_pool(x()?)?),
        Op::Resize(a) => {
            let t = x()?;
            let (_, _, h, w) = t.nchw().ok_or("input is not NCHW")?;
            // Resize: X, roi, scales, sizes; Upsample: X, scales.
            let scales = if args.len() == 2 { opt(1) } else { opt(2) }.filter(|s| !s.is_empty());
            let size = match (opt(3).filter(|s| !s.is_empty()), scales) {
                (Some(sizes), _) => {
                    let s = sizes.to_ints();
                    let [.., sh, sw] = s[..] else {
                        return Err("sizes must have 4 values".into());
                    };
                    (
                        (sh as usize, sw as usize),
                        (sh as f32 / h as f32, sw as f32 / w as f32),
                    )
                }
                (None, Some(sc)) => {
                    let [n, c, sh, sw] = sc.data[..] else {
                        return Err("scales must have 4 values".into());
                    };
                    if n != 1.0 || c != 1.0 {
                        return Err("only the two spatial axes can be resized".into());
                    }
                    (
                        (
                            (h as f32 * sh).floor() as usize,
                            (w as f32 * sw).floor() as usize,
                        ),
                        (sh, sw),
                    )
                }
                (None, None) => return Err("neither scales nor sizes given".into()),
            };
            one(ops::resize(t, size.0, size.1, a)?)
        }
        Op::Pad { mode, pads, value } => {
            let p = match (pads, opt(1)) {
                (Some(p), _) => p.clone(),
                (None, Some(t)) => t.to_ints(),
                (None, None) => return Err("pads missing".into()),
            };
            let v = opt(2)
                .and_then(|t| t.data.first().copied())
                .unwrap_or(*value);
            one(ops::pad(x()?, &p, mode, v)?)
        }
        Op::Softmax(axis) => one(ops::softmax(x()?.clone(), *axis)?),
        Op::Constant(t) => one(t.clone()),
        Op::Shape => one(Tensor::ints(
            &x()?.shape.iter().map(|&d| d as i64).collect::<Vec<_>>(),
        )),
        Op::Gather(axis) => one(ops::gather(x()?, arg(args, 1)?, *axis)?),
        Op::Unsqueeze(axes) | Op::Squeeze(axes) => {
            let t = x()?;
            let axes = axes.clone().or_else(|| opt(1).map(|a| a.to_ints()));
            let squeeze = matches!(op, Op::Squeeze(_));
            let mut shape = t.shape.clone();
            match (squeeze, axes) {
                (true, None) => shape.retain(|&d| d != 1),
                (true, Some(ax)) => {
                    let r = shape.len();
                    let mut ax: Vec<usize> = ax
                        .iter()
                        .map(|&a| ops::norm_axis(a, r))
                        .collect::<std::result::Result<_, _>>()?;
                    ax.sort_unstable();
                    for a in ax.into_iter().rev() {
                        shape.remove(a);
                    }
                }
                (false, None) => return Err("axes missing".into()),
                (false, Some(ax)) => {
                    let r = shape.len() + ax.len();
                    let mut ax: Vec<usize> = ax
                        .iter()
                        .map(|&a| ops::norm_axis(a, r))
                        .collect::<std::result::Result<_, _>>()?;
                    ax.sort_unstable();
                    for a in ax {
                        shape.insert(a, 1);
                    }
                }
            }
            one(Tensor::new(shape, t.data.clone()))
        }
        Op::Reshape => one(ops::reshape(x()?.clone(), &arg(args, 1)?.to_ints())?),
        Op::Flatten(axis) => {
            let t = x()?;
            let ax = if *axis < 0 {
                (*axis + t.rank() as i64).max(0) as usize
            } else {
                (*axis as usize).min(t.rank())
            };
            let lead: usize = t.shape[..ax].iter().product();
            one(Tensor::new(
                vec![lead, t.len() / lead.max(1)],
                t.data.clone(),
            ))
        }
        Op::Transpose(perm) => {
            let t = x()?;
            let perm = perm
                .clone()
                .unwrap_or_else(|| (0..t.rank()).rev().collect());
            one(ops::transpose(t, &perm)?)
        }
        Op::Slice(attrs) => {
            let t = x()?;
            let (starts, ends, axes, steps) = match attrs {
                Some([s, e, a]) => (s.clone(), e.clone(), a.clone(), vec![1; a.len()]),
                None => {
                    let s = arg(args, 1)?.to_ints();
                    let axes =
                        opt(3).map_or_else(|| (0..s.len() as i64).collect(), |a| a.to_ints());
                    let steps = opt(4).map_or_else(|| vec![1; s.len()], |a| a.to_ints());
                    (s, arg(args, 2)?.to_ints(), axes, steps)
                }
            };
            one(ops::slice(t, &starts, &ends, &axes, &steps)?)
        }
        Op::Split { axis, split } => {
            let t = x()?;
            let d = ops::norm_axis(*axis, t.rank())?;
            let parts = split.clone().or_else(|| opt(1).map(|s| s.to_ints()));
            let parts = match parts {
                Some(p) => p,
                None => return Err("Split without sizes: export with explicit split sizes".into()),
            };
            let mut at = 0i64;
            let mut outs = Vec::new();
            for p in parts {
                outs.push(ops::slice(t, &[at], &[at + p], &[d as i64], &[1])?);
                at += p;
            }
            Ok(outs)
        }
        Op::Cast(to_int) => {
            let mut t = x()?.clone();
            if *to_int {
                t.data.iter_mut().for_each(|v| *v = v.trunc());
            }
            one(t)
        }
    }
}
