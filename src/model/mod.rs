//! Learned change evidence: a small ONNX engine (convolutional change models, loaded at run
//! time), tiled inference with blended overlaps, training of tuban's own Siamese network, and
//! pixel trees (gradient-boosted trees over per-pixel features: the built-in RGB model).
//!
//! - [`graph`] loads an ONNX file into typed operators ([`ops`], convolutions in [`conv`]) and
//!   runs it on [`tensor::Tensor`]s.
//! - [`onnx`] declares the protobuf messages (read and write).
//! - [`config`] is a model's sidecar TOML (bands, scaling, tiles, output); [`infer`] runs a
//!   model over a detection tile (model tiles overlap and are blended).
//! - [`net`] is tuban's Siamese U-Net with its backward pass and ONNX export; [`train`] trains
//!   it on pairs in memory, [`data`] reads them from dataset folders (GDAL) and writes the model.
//! - [`pixel`] computes the per-pixel features, trains pixel trees and runs them (CPU or WGSL).
//!
//! Invariants: tensors are f32 row-major NCHW; a model is parsed once and refused at load time
//! when it holds an operator outside [`graph::SUPPORTED`]; training is deterministic for a seed.

pub mod config;
pub mod conv;
#[cfg(feature = "gdal")]
pub mod data;
pub mod graph;
pub mod infer;
mod layers;
pub mod net;
mod node;
pub mod onnx;
pub mod ops;
pub mod pixel;
pub mod tensor;
pub mod train;
