//! Running a change model over a tile of the scene: the selected bands of both dates scaled as
//! the model's configuration says, cut into model tiles that overlap, each run through the
//! graph, and blended back with weights that fall off linearly across the overlap (1 at a
//! scene-side edge), so that no seam shows where model tiles meet. Nodata pixels read as the
//! scaled zero (the band mean under scene scaling) and come out as NaN evidence.

use super::config::{Layout, ModelConfig, OutputKind, Scale};
use super::graph::Graph;
use super::pixel::{PixelTrees, TreesFile};
use super::tensor::Tensor;
use crate::change::{BandRoles, TileInput};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// What a model says about a tile: the change probability (NaN where not valid) and, for a
/// per-class model, one probability plane per class ([`ChangeModel::class_names`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelEvidence {
    pub change: Vec<f32>,
    pub classes: Vec<Vec<f32>>,
}

/// Half-side (px) of the window [`still_where_identical`] compares.
pub const STILL_REACH_PX: usize = 1;

/// Set `change` to 0 at valid pixels where both dates hold the same values in every one of
/// the model's `bands` over the 3 x 3 window around (clipped to the tile): nothing changed
/// there, whatever the model makes of the pixel's look. A model that reads each date's
/// appearance (the built-in pixel trees read both dates' features beside their difference)
/// otherwise marks change on identical dates: 61 pixels, 3 polygons on a LEVIR-CD tile given
/// as both dates; and mosaics fill the areas a quarter did not image with the old imagery.
/// Two different acquisitions agree on 27 values of a 3 x 3 window only where both clip (pure
/// black or white), where no change shows either.
pub fn still_where_identical(input: &TileInput, bands: &[usize], change: &mut [f32]) {
    let (w, h) = (input.width, input.height);
    let n = w * h;
    let same: Vec<u8> = (0..n)
        .map(|i| {
            u8::from(
                bands
                    .iter()
                    .all(|&b| input.before[b * n + i] == input.after[b * n + i]),
            )
        })
        .collect();
    if !same.contains(&1) {
        return;
    }
    let mut still = vec![0u8; n];
    crate::change::cpu::chains::square_par((w, h), STILL_REACH_PX as u32, true, &same, &mut still);
    for ((c, &s), &v) in change.iter_mut().zip(&still).zip(&input.valid) {
        if s != 0 && v != 0 {
            *c = 0.0;
        }
    }
}

/// What computes a model's probabilities.
#[derive(Clone, Debug)]
pub enum Engine {
    /// A network (ONNX), run by [`Graph`].
    Graph(Graph),
    /// Gradient-boosted trees over per-pixel features ([`super::pixel`]; a TOML file).
    Trees(PixelTrees),
}

/// tuban's own RGB change model, built into the binary: pixel trees trained by
/// `tools/train_default.sh` on the real pairs of shared/data/realcd (attribution in
/// models/README.md). `--evidence auto` runs it on RGB imagery finer than 5 m.
pub const BUILTIN_RGB: &str = include_str!("../../models/tuban-rgb-trees.toml");
/// How detect.json and the notes name the built-in model.
pub const BUILTIN_RGB_NAME: &str = "built-in:models/tuban-rgb-trees.toml";

/// A loaded change model and its configuration.
#[derive(Clone, Debug)]
pub struct ChangeModel {
    pub engine: Engine,
    pub config: ModelConfig,
    pub path: PathBuf,
}

/// Count, sum and sum of squares of the valid, finite values of a band: the statistics of
/// `scale = "scene"`, gathered the same way at training ([`super::data`]) and at detection.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    n: f64,
    sum: f64,
    sum2: f64,
}

impl Moments {
    /// Add the values of `plane` where `valid` is non-zero and the value finite.
    pub fn add(&mut self, plane: &[f32], valid: &[u32]) {
        for (&v, &ok) in plane.iter().zip(valid) {
            if ok != 0 && v.is_finite() {
                let v = f64::from(v);
                self.n += 1.0;
                self.sum += v;
                self.sum2 += v * v;
            }
        }
    }

    /// Mean and standard deviation (at least 1e-6, so that scaling by it stays finite).
    pub fn mean_std(&self) -> (f64, f64) {
        let m = self.sum / self.n.max(1.0);
        let var = self.sum2 / self.n.max(1.0) - m * m;
        (m, var.max(0.0).sqrt().max(1e-6))
    }
}

/// Per date, per selected model band: `(offset, factor)` with `scaled = (v - offset) · factor`.
pub type Scaling = [Vec<(f32, f32)>; 2];

impl ChangeModel {
    /// Load `path` with the configuration from `config` (a TOML file), else from the model's
    /// own metadata, else from `path` with the extension `.toml`.
    ///
    /// # Errors
    /// [`Error::Model`] naming the file: unreadable, not ONNX, an unsupported operator, no or a
    /// bad configuration, inputs that do not fit the layout.
    /// A file ending in `.toml` is a pixel-trees model ([`super::pixel`]), anything else ONNX.
    pub fn load(path: &Path, config: Option<&Path>) -> Result<ChangeModel> {
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        if !is_toml {
            return ChangeModel::with_graph(Graph::load(path)?, path, config);
        }
        let bad = |reason: String| Error::Model {
            path: path.to_path_buf(),
            reason,
        };
        let (own, trees) = TreesFile::parse(&read(path)?).map_err(bad)?;
        let config = match config {
            Some(c) => {
                let given = ModelConfig::parse(&read(c)?, c)?;
                super::pixel::check_config(&given).map_err(|reason| Error::Model {
                    path: c.to_path_buf(),
                    reason,
                })?;
                given
            }
            None => own,
        };
        Ok(ChangeModel {
            engine: Engine::Trees(trees),
            config,
            path: path.to_path_buf(),
        })
    }

    /// The built-in RGB model ([`BUILTIN_RGB`]).
    pub fn builtin_rgb() -> ChangeModel {
        let (config, trees) =
            TreesFile::parse(BUILTIN_RGB).expect("the built-in model parses (tested)");
        ChangeModel {
            engine: Engine::Trees(trees),
            config,
            path: PathBuf::from(BUILTIN_RGB_NAME),
        }
    }

    /// The network of an ONNX model; None for pixel trees.
    pub fn graph(&self) -> Option<&Graph> {
        match &self.engine {
            Engine::Graph(g) => Some(g),
            Engine::Trees(_) => None,
        }
    }

    fn with_graph(graph: Graph, path: &Path, config: Option<&Path>) -> Result<ChangeModel> {
        let beside = path.with_extension("toml");
        let config = match (config, graph.metadata.get(super::config::METADATA_KEY)) {
            (Some(c), _) => ModelConfig::parse(&read(c)?, c)?,
            (None, Some(text)) => ModelConfig::parse(text, path)?,
            (None, None) if beside.exists() => ModelConfig::parse(&read(&beside)?, &beside)?,
            (None, None) => {
                return Err(Error::Model {
                    path: path.to_path_buf(),
                    reason: format!(
                        "no model configuration: give --model-config FILE.toml or put {} beside the model",
                        beside.display()
                    ),
                });
            }
        };
        let mut model = ChangeModel {
            engine: Engine::Graph(graph),
            config,
            path: path.to_path_buf(),
        };
        model.check_inputs(model.graph().expect("a network"))?;
        model.set_stride(model.config.tile.stride)?;
        Ok(model)
    }

    /// Score pixel trees on every `stride`-th pixel of every `stride`-th row (1: every
    /// pixel), as `--model-stride` asks.
    ///
    /// # Errors
    /// [`Error::Model`] for a stride out of range, or above 1 on a network (which computes
    /// every pixel of its tiles anyway).
    pub fn set_stride(&mut self, stride: usize) -> Result<()> {
        super::config::check_stride(stride).map_err(|e| self.err(e))?;
        if stride > 1 && self.graph().is_some() {
            return Err(self.err(format!(
                "stride {stride}: only pixel trees (a .toml model) can skip pixels; a network computes every pixel of its tiles"
            )));
        }
        self.config.tile.stride = stride;
        Ok(())
    }

    fn err(&self, reason: String) -> Error {
        Error::Model {
            path: self.path.clone(),
            reason,
        }
    }

    fn check_inputs(&self, graph: &Graph) -> Result<()> {
        let want = match self.config.input.layout {
            Layout::Pair => 2,
            Layout::Stacked => 1,
        };
        let n = self.config.input.bands.len();
        if graph.inputs.len() != want {
            return Err(self.err(format!(
                "the configuration's layout {:?} needs {want} model input(s), the model has {} ({})",
                self.config.input.layout,
                graph.inputs.len(),
                graph.inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        let channels = n * if want == 1 { 2 } else { 1 };
        for i in &graph.inputs {
            if i.dims.len() != 4 && !i.dims.is_empty() {
                return Err(self.err(format!(
                    "input {:?} has {} dimensions; an NCHW image input has 4",
                    i.name,
                    i.dims.len()
                )));
            }
            if let Some(Some(c)) = i.dims.get(1)
                && *c != channels
            {
                return Err(self.err(format!(
                    "input {:?} takes {c} channels; the configuration gives {channels} ({} bands{})",
                    i.name,
                    n,
                    if want == 1 { " of each date, stacked" } else { "" }
                )));
            }
            for d in i.dims.iter().skip(2).flatten() {
                if *d != self.config.tile.size {
                    return Err(self.err(format!(
                        "input {:?} is fixed at {d} px; set tile.size = {d}",
                        i.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// The scene's band (0-based, into the selected bands) of each model band.
    ///
    /// # Errors
    /// [`Error::Model`] when a role is not known for the scene or a number is out of range.
    pub fn band_indices(
        &self,
        roles: &BandRoles,
        bands: usize,
        scene: &Path,
    ) -> Result<Vec<usize>> {
        super::config::resolve_bands(&self.config.input.bands, roles, bands, scene)
            .map_err(|m| self.err(m))
    }

    /// The scaling of each date's model bands; `scene_stats` gives per date and selected band
    /// `(mean, std)` (used by `scale = "scene"`).
    pub fn scaling(&self, bands: &[usize], scene_stats: &[Vec<(f64, f64)>; 2]) -> Scaling {
        let c = &self.config.input;
        let n = bands.len();
        let pick =
            |v: &[f32], date: usize, k: usize| v[if v.len() == 2 * n { date * n + k } else { k }];
        std::array::from_fn(|date| {
            (0..n)
                .map(|k| match c.scale {
                    Scale::Scene => {
                        let (m, s) = scene_stats[date]
                            .get(bands[k])
                            .copied()
                            .unwrap_or((0.0, 1.0));
                        (m as f32, 1.0 / (s as f32).max(1e-6))
                    }
                    Scale::MeanStd => (pick(&c.mean, date, k), 1.0 / pick(&c.std, date, k)),
                    Scale::MinMax => {
                        let (lo, hi) = (pick(&c.min, date, k), pick(&c.max, date, k));
                        (lo, 1.0 / (hi - lo).max(1e-6))
                    }
                    Scale::None => (0.0, 1.0),
                })
                .collect()
        })
    }

    /// How far (px) a pixel's evidence reaches: the model tiles' overlap, the window
    /// [`still_where_identical`] looks at, and for pixel trees on a lattice `stride - 1` px
    /// more (a pixel between lattice points takes theirs).
    pub fn reach_px(&self) -> u32 {
        (self.config.tile.overlap + STILL_REACH_PX + self.config.tile.stride - 1) as u32
    }

    /// The change probability of every pixel of `input` (NaN where not valid; its first pixel
    /// at `origin` in the scene), with model tiles of `tile` px (None: the configuration's),
    /// convolutions on `device` (None: CPU).
    /// The caller holds it at 0 where the dates are identical around the pixel
    /// ([`still_where_identical`]), once, after anything it combines it with (detection's
    /// blend).
    ///
    /// # Errors
    /// [`Error::Model`] when the graph refuses the tile (a wrong shape).
    pub fn evidence(
        &self,
        input: &TileInput,
        origin: (usize, usize),
        bands: &[usize],
        scaling: &Scaling,
        tile: Option<usize>,
        device: super::ops::ConvDevice,
    ) -> Result<ModelEvidence> {
        let size = tile.unwrap_or(self.config.tile.size);
        match &self.engine {
            Engine::Trees(t) => Ok(ModelEvidence {
                change: t.evidence(
                    input,
                    origin,
                    bands,
                    scaling,
                    (size, self.config.tile.stride),
                    device,
                )?,
                classes: Vec::new(),
            }),
            Engine::Graph(g) => self.graph_evidence(g, input, bands, scaling, size, device),
        }
    }

    /// [`Self::evidence`] of a network, as it gives it: model tiles of `size` px that overlap,
    /// blended.
    fn graph_evidence(
        &self,
        graph: &Graph,
        input: &TileInput,
        bands: &[usize],
        scaling: &Scaling,
        size: usize,
        device: super::ops::ConvDevice,
    ) -> Result<ModelEvidence> {
        let (w, h) = (input.width, input.height);
        let conf = &self.config.tile;
        let multiple = conf.multiple.max(1);
        let fixed = graph
            .inputs
            .iter()
            .any(|i| i.dims.iter().skip(2).any(Option::is_some));
        // A scene side shorter than the tile runs as one tile of that side rounded up to the
        // model's multiple (a fixed-size model is padded to its size).
        let side = |len: usize| {
            if fixed {
                size
            } else {
                size.min(len.div_ceil(multiple) * multiple)
            }
        };
        let (th, tw) = (side(h), side(w));
        let ys = starts(h, th, conf.overlap);
        let xs = starts(w, tw, conf.overlap);
        let mut acc = vec![vec![0.0f32; w * h]; 1 + self.class_names().len()];
        let mut weight = vec![0.0f32; w * h];
        for &y0 in &ys {
            for &x0 in &xs {
                let planes =
                    self.run_tile(graph, input, bands, scaling, (x0, y0), (tw, th), device)?;
                let ramp_y = ramp(th, conf.overlap, y0 == 0, y0 + th >= h);
                let ramp_x = ramp(tw, conf.overlap, x0 == 0, x0 + tw >= w);
                for ty in 0..th.min(h - y0) {
                    for tx in 0..tw.min(w - x0) {
                        let wt = ramp_y[ty] * ramp_x[tx];
                        let i = (y0 + ty) * w + x0 + tx;
                        for (a, p) in acc.iter_mut().zip(&planes) {
                            a[i] += wt * p[ty * tw + tx];
                        }
                        weight[i] += wt;
                    }
                }
            }
        }
        let mut planes = acc.into_iter().map(|a| {
            a.iter()
                .zip(&weight)
                .zip(&input.valid)
                .map(|((a, wt), &v)| {
                    if v != 0 && *wt > 0.0 {
                        a / wt
                    } else {
                        f32::NAN
                    }
                })
                .collect()
        });
        let change = planes.next().expect("the change plane is always there");
        Ok(ModelEvidence {
            change,
            classes: planes.collect(),
        })
    }

    /// The class of each output channel of a per-class model (TBLX, and
    /// [`super::config::NO_CHANGE`] for the no-change one), in channel order; empty for a
    /// change-probability model.
    pub fn class_names(&self) -> Vec<String> {
        let classes = &self.config.output.classes;
        classes.iter().map(|c| c.trim().to_string()).collect()
    }

    /// One model tile at `(x0, y0)` of `(tw, th)` px, padded past the input's edge by
    /// mirroring; returns the change probability (th x tw) and, for a per-class model, each
    /// change class's probability after it.
    #[allow(clippy::too_many_arguments)]
    fn run_tile(
        &self,
        graph: &Graph,
        input: &TileInput,
        bands: &[usize],
        scaling: &Scaling,
        (x0, y0): (usize, usize),
        (tw, th): (usize, usize),
        device: super::ops::ConvDevice,
    ) -> Result<Vec<Vec<f32>>> {
        let (w, h) = (input.width, input.height);
        let n = bands.len();
        let plane = w * h;
        let mirror = |v: usize, len: usize| -> usize {
            if v < len {
                v
            } else {
                (2 * len).saturating_sub(v + 2).min(len - 1)
            }
        };
        let date = |d: usize, src: &[f32]| -> Vec<f32> {
            let mut out = vec![0.0f32; n * th * tw];
            for (k, &b) in bands.iter().enumerate() {
                let (off, f) = scaling[d][k];
                for ty in 0..th {
                    let y = mirror(y0 + ty, h);
                    for tx in 0..tw {
                        let i = y * w + mirror(x0 + tx, w);
                        let v = src[b * plane + i];
                        out[(k * th + ty) * tw + tx] = if input.valid[i] != 0 && v.is_finite() {
                            (v - off) * f
                        } else {
                            0.0
                        };
                    }
                }
            }
            out
        };
        let (before, after) = (date(0, &input.before), date(1, &input.after));
        let inputs = match self.config.input.layout {
            Layout::Pair => vec![
                Tensor::new(vec![1, n, th, tw], before),
                Tensor::new(vec![1, n, th, tw], after),
            ],
            Layout::Stacked => {
                let mut both = before;
                both.extend(after);
                vec![Tensor::new(vec![1, 2 * n, th, tw], both)]
            }
        };
        let out = graph.run_on(inputs, device)?;
        let t = &out[0];
        let o = &self.config.output;
        let (c, oh, ow) = match t.shape[..] {
            [1, c, oh, ow] => (c, oh, ow),
            [1, oh, ow] => (1, oh, ow),
            _ => {
                return Err(self.err(format!(
                    "output {:?} has shape {:?}; expected 1 x C x H x W",
                    graph.outputs[0], t.shape
                )));
            }
        };
        if (oh, ow) != (th, tw) || o.channel >= c {
            return Err(self.err(format!(
                "output {:?} is {c} x {oh} x {ow} for a {th} x {tw} input; expected the input size and a channel {}",
                graph.outputs[0], o.channel
            )));
        }
        let px = th * tw;
        let ch = |k: usize| &t.data[k * px..(k + 1) * px];
        // Per-class scores: the softmax over the channels, every channel at once.
        let scores = || -> Result<Vec<f32>> {
            let all = Tensor::new(vec![1, c, th, tw], t.data.clone());
            Ok(super::ops::softmax(all, 1).map_err(|m| self.err(m))?.data)
        };
        if !o.classes.is_empty() {
            if o.classes.len() != c {
                return Err(self.err(format!(
                    "output.classes names {} classes; the model gives {c} channels",
                    o.classes.len()
                )));
            }
            let none = o
                .classes
                .iter()
                .position(|n| n.trim().eq_ignore_ascii_case(super::config::NO_CHANGE))
                .expect("checked when the configuration was read");
            let all = scores()?;
            let scores: Vec<&[f32]> = all.chunks(px).collect();
            let mut planes = vec![scores[none].iter().map(|p| 1.0 - p).collect()];
            planes.extend(scores.iter().map(|p| p.to_vec()));
            return Ok(planes);
        }
        Ok(vec![match o.kind {
            OutputKind::Probability => ch(o.channel).to_vec(),
            OutputKind::Logit => ch(o.channel)
                .iter()
                .map(|&z| super::net::sigmoid(z))
                .collect(),
            OutputKind::Softmax => scores()?[o.channel * px..(o.channel + 1) * px].to_vec(),
        }])
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })
}

/// Tile starts along an axis of `len` with tiles of `size` overlapping by `overlap`: the last
/// tile ends at the edge.
fn starts(len: usize, size: usize, overlap: usize) -> Vec<usize> {
    if len <= size {
        return vec![0];
    }
    let step = (size - overlap).max(1);
    let mut v: Vec<usize> = (0..)
        .map(|k| k * step)
        .take_while(|&s| s + size < len)
        .collect();
    v.push(len - size);
    v
}

/// Blend weights across a tile: rising linearly over `overlap` px from an inner edge, 1 at a
/// scene edge (nothing to blend with there).
fn ramp(size: usize, overlap: usize, first: bool, last: bool) -> Vec<f32> {
    (0..size)
        .map(|i| {
            let up = if first || overlap == 0 {
                1.0
            } else {
                ((i as f32 + 0.5) / overlap as f32).min(1.0)
            };
            let down = if last || overlap == 0 {
                1.0
            } else {
                ((size - i) as f32 - 0.5) / overlap as f32
            };
            up.min(down.min(1.0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_windows_are_still() {
        // 9 x 7, two bands; the after date differs at (4, 3) in band 1 only, and band 0
        // differs at (0, 0), which the model does not read (bands = [1]).
        let (w, h) = (9, 7);
        let n = w * h;
        let before: Vec<f32> = (0..2 * n).map(|i| (i % 13) as f32).collect();
        let mut after = before.clone();
        after[n + 3 * w + 4] += 1.0;
        after[0] += 5.0;
        let mut valid = vec![1u32; n];
        valid[w * h - 1] = 0;
        let input = TileInput {
            width: w,
            height: h,
            bands: 2,
            before,
            after,
            valid,
        };
        let mut change = vec![0.7f32; n];
        change[n - 1] = f32::NAN;
        still_where_identical(&input, &[1], &mut change);
        for y in 0..h {
            for x in 0..w {
                let c = change[y * w + x];
                if y * w + x == n - 1 {
                    assert!(c.is_nan(), "nodata stays nodata");
                } else if x.abs_diff(4) <= 1 && y.abs_diff(3) <= 1 {
                    assert_eq!(c, 0.7, "({x}, {y}) sees the changed pixel");
                } else {
                    assert_eq!(c, 0.0, "({x}, {y}) is still");
                }
            }
        }
        // Every band read: band 0's difference at (0, 0) keeps its window.
        let mut change = vec![0.7f32; n];
        still_where_identical(&input, &[0, 1], &mut change);
        assert_eq!(
            (change[0], change[w + 1], change[2 * w + 2]),
            (0.7, 0.7, 0.0)
        );
    }

    #[test]
    fn tiles_cover_the_axis_and_weights_never_vanish() {
        for (len, size, ov) in [
            (100, 32, 8),
            (64, 64, 8),
            (65, 64, 8),
            (10, 32, 4),
            (1000, 256, 32),
        ] {
            let s = starts(len, size, ov);
            let mut w = vec![0.0f32; len];
            for (k, &x0) in s.iter().enumerate() {
                let r = ramp(size, ov, k == 0, k + 1 == s.len());
                for i in 0..size.min(len - x0) {
                    w[x0 + i] += r[i];
                }
            }
            assert!(w.iter().all(|&v| v > 0.0), "{len} {size} {ov}");
        }
    }
}
