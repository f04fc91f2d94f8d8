//! An ONNX graph loaded for the engine: operators parsed once (an unsupported operator or
//! attribute is refused at load time, naming the node), values numbered, and a run that frees
//! each intermediate tensor after its last use.

pub use super::node::SUPPORTED;
use super::node::{Op, parse_op, run_op, tensor_of};
use super::onnx::{self, ModelProto};
use super::ops;
use super::tensor::Tensor;
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
struct Node {
    name: String,
    op_type: String,
    op: Op,
    inputs: Vec<Option<usize>>,
    outputs: Vec<usize>,
}

/// A graph input: its value id and declared dimensions (None: free).
#[derive(Clone, Debug, PartialEq)]
pub struct GraphInput {
    pub name: String,
    pub dims: Vec<Option<usize>>,
    id: usize,
}

/// A loaded model.
#[derive(Clone, Debug)]
pub struct Graph {
    pub path: PathBuf,
    pub inputs: Vec<GraphInput>,
    pub outputs: Vec<String>,
    /// `metadata_props` of the file (tuban's own models keep their configuration here).
    pub metadata: HashMap<String, String>,
    nodes: Vec<Node>,
    output_ids: Vec<usize>,
    constants: Vec<Option<Tensor>>,
    /// Index of the last node reading each value (usize::MAX: a graph output or never read).
    last_use: Vec<usize>,
}

impl Graph {
    /// Load an ONNX file.
    ///
    /// # Errors
    /// [`Error::Model`] naming the file and the problem (not an ONNX model, external weights,
    /// an unsupported operator or attribute, a value no node produces).
    pub fn load(path: &Path) -> Result<Graph> {
        let bytes =
            std::fs::read(path).map_err(|e| model_err(path, format!("cannot read: {e}")))?;
        Graph::from_bytes(&bytes, path)
    }

    /// Load a model from its bytes; `path` names it in errors.
    ///
    /// # Errors
    /// As [`Graph::load`].
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Graph> {
        let proto =
            onnx::decode(bytes).map_err(|e| model_err(path, format!("not an ONNX model ({e})")))?;
        Graph::from_proto(&proto, path)
    }

    /// Build from a decoded model; `path` names it in errors.
    ///
    /// # Errors
    /// As [`Graph::load`].
    pub fn from_proto(model: &ModelProto, path: &Path) -> Result<Graph> {
        let err = |m: String| model_err(path, m);
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| err("the file holds no graph".into()))?;
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(13, |o| o.version);
        let mut ids: HashMap<String, usize> = HashMap::new();
        let mut constants: Vec<Option<Tensor>> = Vec::new();
        for t in &graph.initializer {
            let v = tensor_of(t).map_err(|m| err(format!("initializer {:?}: {m}", t.name)))?;
            ids.insert(t.name.clone(), constants.len());
            constants.push(Some(v));
        }
        let mut inputs = Vec::new();
        for i in &graph.input {
            if ids.contains_key(&i.name) {
                continue; // an initializer also listed as an input (IR < 4)
            }
            ids.insert(i.name.clone(), constants.len());
            inputs.push(GraphInput {
                name: i.name.clone(),
                dims: i.dims(),
                id: constants.len(),
            });
            constants.push(None);
        }
        let mut nodes = Vec::with_capacity(graph.node.len());
        for n in &graph.node {
            let what = format!("node {:?} ({})", n.name, n.op_type);
            if !(n.domain.is_empty() || n.domain == "ai.onnx") {
                return Err(err(format!(
                    "{what}: operator domain {:?} is not supported",
                    n.domain
                )));
            }
            let op = parse_op(n, opset).map_err(|m| err(format!("{what}: {m}")))?;
            let node_inputs = n
                .input
                .iter()
                .map(|name| {
                    if name.is_empty() {
                        return Ok(None);
                    }
                    ids.get(name).copied().map(Some).ok_or_else(|| {
                        err(format!(
                            "{what}: input {name:?} is produced by no earlier node"
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let outputs = n
                .output
                .iter()
                .map(|name| {
                    ids.insert(name.clone(), constants.len());
                    constants.push(None);
                    constants.len() - 1
                })
                .collect();
            nodes.push(Node {
                name: n.name.clone(),
                op_type: n.op_type.clone(),
                op,
                inputs: node_inputs,
                outputs,
            });
        }
        let output_ids = graph
            .output
            .iter()
            .map(|o| {
                ids.get(&o.name)
                    .copied()
                    .ok_or_else(|| err(format!("output {:?} is produced by no node", o.name)))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut last_use = vec![usize::MAX; constants.len()];
        for (k, node) in nodes.iter().enumerate() {
            for id in node.inputs.iter().flatten() {
                last_use[*id] = k;
            }
        }
        for &id in &output_ids {
            last_use[id] = usize::MAX;
        }
        Ok(Graph {
            path: path.to_path_buf(),
            inputs,
            outputs: graph.output.iter().map(|o| o.name.clone()).collect(),
            metadata: model
                .metadata_props
                .iter()
                .map(|e| (e.key.clone(), e.value.clone()))
                .collect(),
            nodes,
            output_ids,
            constants,
            last_use,
        })
    }

    /// Run the graph on its inputs (in the order of [`Graph::inputs`]); returns its outputs.
    ///
    /// # Errors
    /// [`Error::Model`] naming the node whose operator refused its inputs (a wrong shape).
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>> {
        self.run_on(inputs, None)
    }

    /// [`Graph::run`] with the convolutions on `device` (a GPU), the other operators on the
    /// CPU.
    ///
    /// # Errors
    /// As [`Graph::run`]; a GPU failure names the node.
    pub fn run_on(&self, inputs: Vec<Tensor>, device: ops::ConvDevice) -> Result<Vec<Tensor>> {
        if inputs.len() != self.inputs.len() {
            return Err(model_err(
                &self.path,
                format!(
                    "the model takes {} inputs, given {}",
                    self.inputs.len(),
                    inputs.len()
                ),
            ));
        }
        let mut values: Vec<Option<Tensor>> = vec![None; self.constants.len()];
        for (decl, t) in self.inputs.iter().zip(inputs) {
            check_dims(decl, &t.shape).map_err(|m| model_err(&self.path, m))?;
            values[decl.id] = Some(t);
        }
        for (k, node) in self.nodes.iter().enumerate() {
            let args: Vec<Option<&Tensor>> = node
                .inputs
                .iter()
                .map(|id| id.and_then(|i| self.constants[i].as_ref().or(values[i].as_ref())))
                .collect();
            let out = run_op(&node.op, &args, device).map_err(|m| {
                model_err(
                    &self.path,
                    format!("node {:?} ({}): {m}", node.name, node.op_type),
                )
            })?;
            if out.len() < node.outputs.len() {
                return Err(model_err(
                    &self.path,
                    format!("node {:?} gave too few outputs", node.name),
                ));
            }
            for (&id, t) in node.outputs.iter().zip(out) {
                values[id] = Some(t);
            }
            for id in node.inputs.iter().flatten() {
                if self.last_use[*id] == k {
                    values[*id] = None;
                }
            }
        }
        self.output_ids
            .iter()
            .map(|&id| {
                self.constants[id]
                    .clone()
                    .or_else(|| values[id].take())
                    .ok_or_else(|| model_err(&self.path, "an output was never computed".into()))
            })
            .collect()
    }
}

fn model_err(path: &Path, reason: String) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        reason,
    }
}

fn check_dims(decl: &GraphInput, shape: &[usize]) -> std::result::Result<(), String> {
    let ok = decl.dims.is_empty()
        || (decl.dims.len() == shape.len()
            && decl
                .dims
                .iter()
                .zip(shape)
                .all(|(d, s)| d.is_none_or(|d| d == *s)));
    if ok {
        Ok(())
    } else {
        let want: Vec<String> = decl
            .dims
            .iter()
            .map(|d| d.map_or("?".into(), |v| v.to_string()))
            .collect();
        Err(format!(
            "input {:?} expects shape [{}], given {shape:?}",
            decl.name,
            want.join(", ")
        ))
    }
}
