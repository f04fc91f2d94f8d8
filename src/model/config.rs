//! A change model's sidecar configuration (TOML): which bands in which order, how values are
//! scaled, the model tile and overlap, and what the output means. tuban's own models carry it
//! inside the ONNX file (metadata key [`METADATA_KEY`]); a user's model has it in
//! `--model-config FILE.toml` or `MODEL.toml` beside `MODEL.onnx`.
//!
//! ```toml
//! [input]
//! layout = "pair"          # two inputs (before, after) or "stacked" (one input, before bands then after)
//! bands = ["R", "G", "B"]  # roles (R, G, B, NIR, SWIR) or 1-based numbers of the scene's selected bands
//! scale = "meanstd"        # "scene" (each date by its own mean and std), "meanstd", "minmax" or "none"
//! mean = [123.7, 116.3, 103.5]
//! std = [58.4, 57.1, 57.4]
//! [tile]
//! size = 256               # model tile (px); the model sees size x size
//! overlap = 32             # px shared by neighbouring tiles, blended
//! multiple = 32            # model input sides must be a multiple of this (tiles are padded)
//! # stride = 2             # pixel trees only: score every 2nd pixel of every 2nd row, bilinear between
//! [output]
//! kind = "probability"     # "probability", "logit" or "softmax" (per-class scores)
//! channel = 1              # the change channel of a multi-channel output
//! threshold = 0.5          # probability from which a pixel is change
//! ```

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The largest `tile.stride` (px between scored pixels of pixel trees).
pub const MAX_STRIDE: usize = 4;

/// A pixel-trees stride is 1 to [`MAX_STRIDE`]; the message starts "stride N:" for the caller
/// to name where it came from.
///
/// # Errors
/// The message for a stride out of range.
pub fn check_stride(stride: usize) -> std::result::Result<(), String> {
    if (1..=MAX_STRIDE).contains(&stride) {
        Ok(())
    } else {
        Err(format!(
            "stride {stride}: from 1 (every pixel) to {MAX_STRIDE}"
        ))
    }
}

/// Metadata key of the configuration inside tuban's own ONNX files.
pub const METADATA_KEY: &str = "tuban.model_config";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub input: InputConf,
    #[serde(default)]
    pub tile: TileConf,
    #[serde(default)]
    pub output: OutputConf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Pair,
    Stacked,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// Each date by its own per-band mean and standard deviation over the scene.
    Scene,
    MeanStd,
    MinMax,
    None,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConf {
    #[serde(default = "pair")]
    pub layout: Layout,
    /// Roles or 1-based band numbers, as strings (`"R"`, `"3"`).
    pub bands: Vec<String>,
    #[serde(default = "scene")]
    pub scale: Scale,
    #[serde(default)]
    pub mean: Vec<f32>,
    #[serde(default)]
    pub std: Vec<f32>,
    #[serde(default)]
    pub min: Vec<f32>,
    #[serde(default)]
    pub max: Vec<f32>,
}

fn pair() -> Layout {
    Layout::Pair
}
fn scene() -> Scale {
    Scale::Scene
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TileConf {
    pub size: usize,
    pub overlap: usize,
    pub multiple: usize,
    /// Pixel trees only: score every `stride`-th pixel of every `stride`-th row and take the
    /// others bilinear between them (1: every pixel; see [`super::pixel`]).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub stride: usize,
}

fn one() -> usize {
    1
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_one(v: &usize) -> bool {
    *v == 1
}

impl Default for TileConf {
    fn default() -> Self {
        TileConf {
            size: 256,
            overlap: 32,
            multiple: 1,
            stride: 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    Probability,
    Logit,
    Softmax,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConf {
    pub kind: OutputKind,
    pub channel: usize,
    pub threshold: f32,
    /// Per-class scores (`kind = "softmax"`): the TBLX of each output channel, `"none"` for
    /// the no-change channel. The change probability is then 1 - p(none), and the classes
    /// type the polygons (their mean probabilities, as `--classes` does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// `[output.blend]`: the change probability averaged with a classical evidence kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blend: Option<BlendConf>,
}

/// A model's change probability averaged with a classical evidence kind of the same pair, each
/// in units of its own threshold: `weight * p / output.threshold + (1 - weight) * x / t`, where
/// `t` is the kind's scene threshold (Otsu, as `--evidence KIND` alone would take), and change
/// where that reaches `threshold` (1: both at their own thresholds on average). A model that
/// knows the look of its training sources leans on a label-free index where it sees imagery
/// unlike them (README, "Learned evidence").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlendConf {
    /// The classical kind (`mbi`, `cva`, ...; `--evidence` names).
    pub evidence: String,
    /// Weight of the model's probability, 0-1; the kind has the rest.
    pub weight: f32,
    /// Threshold of the blended evidence.
    pub threshold: f32,
}

impl BlendConf {
    /// The classical kind blended in.
    ///
    /// # Errors
    /// A message when `evidence` names no classical kind.
    pub fn kind(&self) -> std::result::Result<crate::change::EvidenceKind, String> {
        use crate::change::EvidenceKind;
        EvidenceKind::parse(&self.evidence).map_err(|_| {
            format!(
                "output.blend.evidence {:?} is not one of {}",
                self.evidence,
                EvidenceKind::ALL.map(|k| k.name()).join(", ")
            )
        })
    }

    /// Why the blend cannot be run, if it cannot: an unknown kind, a weight out of 0-1, a
    /// threshold that is not a positive number.
    ///
    /// # Errors
    /// The problem, in words.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.kind()?;
        if !(0.0..=1.0).contains(&self.weight) {
            return Err(format!("output.blend.weight {} is not in 0-1", self.weight));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(format!(
                "output.blend.threshold {} must be a positive number",
                self.threshold
            ));
        }
        Ok(())
    }

    /// [`Self::validate`], and a model output it can blend: a probability with a positive
    /// threshold (its unit).
    fn check(&self, output: &OutputConf) -> std::result::Result<(), String> {
        self.validate()?;
        if output.kind == OutputKind::Logit {
            return Err(
                "output.blend needs a probability (kind = \"probability\" or \"softmax\"), not a logit"
                    .into(),
            );
        }
        if output.threshold.is_nan() || output.threshold <= 0.0 {
            return Err("output.blend needs output.threshold above 0 (its unit)".into());
        }
        Ok(())
    }
}

/// The name of the no-change channel in [`OutputConf::classes`].
pub const NO_CHANGE: &str = "none";

impl Default for OutputConf {
    fn default() -> Self {
        OutputConf {
            kind: OutputKind::Probability,
            channel: 0,
            threshold: 0.5,
            classes: Vec::new(),
            blend: None,
        }
    }
}

impl ModelConfig {
    /// Parse and check a configuration; `path` names it in errors.
    ///
    /// # Errors
    /// [`Error::Model`] naming `path` and the line or the problem.
    pub fn parse(text: &str, path: &Path) -> Result<ModelConfig> {
        let conf: ModelConfig = toml::from_str(text).map_err(|e| Error::Model {
            path: path.to_path_buf(),
            reason: format!("model configuration: {e}"),
        })?;
        conf.check().map_err(|reason| Error::Model {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(conf)
    }

    /// Why the configuration cannot be run, if it cannot.
    ///
    /// # Errors
    /// The problem, in words.
    pub fn check(&self) -> std::result::Result<(), String> {
        let n = self.input.bands.len();
        if n == 0 {
            return Err("input.bands is empty".into());
        }
        let fits = |v: &[f32], name: &str| {
            if v.len() == n || v.len() == 2 * n && self.input.layout == Layout::Stacked {
                Ok(())
            } else {
                Err(format!("input.{name} has {} values for {n} bands", v.len()))
            }
        };
        match self.input.scale {
            Scale::MeanStd => {
                fits(&self.input.mean, "mean")?;
                fits(&self.input.std, "std")?;
                if self.input.std.iter().any(|&s| s <= 0.0) {
                    return Err("input.std must be positive".into());
                }
            }
            Scale::MinMax => {
                fits(&self.input.min, "min")?;
                fits(&self.input.max, "max")?;
            }
            Scale::Scene | Scale::None => {}
        }
        let t = &self.tile;
        if t.size < 8 || t.multiple == 0 || t.size % t.multiple != 0 || 2 * t.overlap >= t.size {
            return Err(format!(
                "tile: size {} must be >= 8, a multiple of `multiple` ({}), and more than twice the overlap ({})",
                t.size, t.multiple, t.overlap
            ));
        }
        check_stride(t.stride).map_err(|e| format!("tile.{e}"))?;
        let o = &self.output;
        if !o.classes.is_empty() {
            let none = o
                .classes
                .iter()
                .filter(|c| c.trim().eq_ignore_ascii_case(NO_CHANGE))
                .count();
            if o.kind != OutputKind::Softmax || none != 1 || o.classes.len() < 2 {
                return Err(format!(
                    "output.classes needs kind = \"softmax\", one TBLX per output channel and exactly one \"{NO_CHANGE}\" (the no-change channel); given kind {:?}, {:?}",
                    o.kind, o.classes
                ));
            }
            if o.classes.iter().any(|c| c.trim().is_empty()) {
                return Err("output.classes: an empty class name".into());
            }
        }
        if !(0.0..=1.0).contains(&self.output.threshold) && self.output.kind != OutputKind::Logit {
            return Err(format!(
                "output.threshold {} is not a probability",
                self.output.threshold
            ));
        }
        if let Some(b) = &self.output.blend {
            b.check(&self.output)?;
        }
        Ok(())
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a model configuration serialises")
    }
}

/// The scene's band (0-based, into its selected bands) of each model band named by role or
/// 1-based number.
///
/// # Errors
/// A message naming `scene` when a role is unknown for it or a number is out of range.
pub fn resolve_bands(
    spec: &[String],
    roles: &crate::change::BandRoles,
    bands: usize,
    scene: &Path,
) -> std::result::Result<Vec<usize>, String> {
    spec.iter()
        .map(|b| {
            // The role names of `--bands`.
            let role = crate::raster::bands::Role::parse(b).map(|r| roles.of(r));
            match role {
                Some(Some(i)) => Ok(i),
                Some(None) => Err(format!(
                    "the model needs band {b}, and {} has no band with that role: name it with --bands (e.g. R=3,G=2,B=1)",
                    scene.display()
                )),
                None => match b.trim().parse::<usize>() {
                    Ok(n) if n >= 1 && n <= bands => Ok(n - 1),
                    _ => Err(format!(
                        "model band {b:?} is neither a role (R, G, B, NIR, SWIR) nor a band number of the {bands} selected bands of {}",
                        scene.display()
                    )),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "[input]\nbands = [\"R\", \"G\", \"B\"]\n[output]\nkind = \"probability\"\nchannel = 0\nthreshold = 0.2\n";

    #[test]
    fn a_blend_round_trips_and_is_checked() {
        let text =
            format!("{HEAD}[output.blend]\nevidence = \"mbi\"\nweight = 0.5\nthreshold = 0.8\n");
        let conf = ModelConfig::parse(&text, Path::new("m.toml")).unwrap();
        let blend = conf.output.blend.clone().unwrap();
        assert_eq!(blend.kind().unwrap(), crate::change::EvidenceKind::Mbi);
        assert_eq!(
            ModelConfig::parse(&conf.to_toml(), Path::new("m.toml")).unwrap(),
            conf
        );
        for (bad, says) in [
            (
                "evidence = \"model\"\nweight = 0.5\nthreshold = 1",
                "output.blend.evidence",
            ),
            ("evidence = \"mbi\"\nweight = 1.5\nthreshold = 1", "weight"),
            (
                "evidence = \"mbi\"\nweight = 0.5\nthreshold = 0",
                "threshold",
            ),
            (
                "evidence = \"mbi\"\nweight = 0.5\nthreshold = nan",
                "threshold",
            ),
        ] {
            let text = format!("{HEAD}[output.blend]\n{bad}\n");
            let e = ModelConfig::parse(&text, Path::new("m.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("m.toml") && e.contains(says), "{e}");
        }
        let logit = HEAD.replace("probability", "logit");
        let text =
            format!("{logit}[output.blend]\nevidence = \"mbi\"\nweight = 0.5\nthreshold = 1\n");
        let e = ModelConfig::parse(&text, Path::new("m.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("logit"), "{e}");
    }
}
