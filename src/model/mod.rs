//! Learned change evidence: a small ONNX engine (convolutional change models, loaded at run
//! time), tiled inference with blended overlaps, and training of tuban's own Siamese network.
//!
//! - [`graph`] loads an ONNX file into typed operators ([`ops`], convolutions in [`conv`]) and
//!   runs it on [`tensor::Tensor`]s.
//! - [`onnx`] declares the protobuf messages (read and write).

pub mod config;
pub mod conv;
#[cfg(feature = "gdal")]
pub mod data;
pub mod graph;
pub mod infer;
pub mod net;
pub mod onnx;
pub mod ops;
pub mod tensor;
pub mod train;
