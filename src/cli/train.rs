//! `tuban train`: tuban's Siamese change network (`--out MODEL.onnx`) or pixel trees (`--out
//! MODEL.toml`) from labelled pairs.

use super::Progress;
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use tuban::model::config::BlendConf;
use tuban::model::data::{TrainData, TrainJob, TreesJob, train_job, train_trees_job};
use tuban::model::pixel::TreesOptions;
use tuban::model::train::TrainOptions;
use tuban::raster::pair::PairOptions;

/// Raw flags of `tuban train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// A folder of pairs: `A/`, `B/`, `label/` with matching names, or a synth/job folder with
    /// before.tif, after.tif and truth.tif (class codes) or labels.gpkg/.shp/.geojson
    /// (polygons of verified change). Repeat for several.
    #[arg(long = "pairs", required = true)]
    pub pairs: Vec<PathBuf>,
    /// The model file to write: `.onnx` trains the network (its configuration inside),
    /// `.toml` pixel trees (see --kind). A report goes to MODEL.json.
    #[arg(long)]
    pub out: PathBuf,
    /// What to train: `net` (tuban's Siamese U-Net, ONNX) or `trees` (gradient-boosted trees
    /// over per-pixel features, TOML; generalises better from few pairs). Default: from the
    /// extension of --out.
    #[arg(long, value_parser = ["net", "trees"])]
    pub kind: Option<String>,
    /// Trees: boosting rounds (the round of the lowest validation loss is kept).
    #[arg(long, default_value_t = 250)]
    pub rounds: usize,
    /// Trees: depth of each tree.
    #[arg(long, default_value_t = 5)]
    pub depth: usize,
    /// Trees: `free` (each node its own question) or `oblivious` (every node of a level asks
    /// the same question: scored a block of pixels at a time, about 5x faster to score, but
    /// less accurate on held-out pairs; README, "Learned evidence").
    #[arg(long, default_value = "free", value_parser = ["oblivious", "free"])]
    pub trees: String,
    /// Trees: detection scores every N-th pixel of every N-th row and takes the others
    /// bilinear between them (1: every pixel; kept in the model, `detect --model-stride`
    /// overrides it). 2 scored as every pixel did on held-out pairs at a quarter of the
    /// trees' time (README, "Learned evidence").
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub stride: usize,
    /// Trees: pixels drawn from each pair.
    #[arg(long, default_value_t = 20_000)]
    pub per_pair: usize,
    /// Trees: each training pair is also seen resampled by these factors (0.5 or 2; empty
    /// with `--scales ""`): the same objects at other pixel sizes.
    #[arg(long, default_value = "0.5,2", value_delimiter = ',')]
    pub scales: Vec<String>,
    /// Passes over the training pixels.
    #[arg(long, default_value_t = 12)]
    pub epochs: usize,
    /// Random seed: the same seed and data give the same model.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Patches per step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Patch side in pixels (a multiple of 4, 16 to 512).
    #[arg(long, default_value_t = 96)]
    pub patch: usize,
    /// Channels of the three encoder levels.
    #[arg(long, default_value = "16,32,48", value_delimiter = ',')]
    pub widths: Vec<usize>,
    /// Peak learning rate (net: Adam, cosine decay, default 0.002; trees: shrinkage, default
    /// 0.08).
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// Share of the pairs held out to pick the best epoch (0 to 0.5).
    #[arg(long, default_value_t = 0.2)]
    pub validation: f32,
    /// The model's bands, by role or 1-based number, in order.
    #[arg(long, default_value = "R,G,B", value_delimiter = ',')]
    pub model_bands: Vec<String>,
    /// Probability from which `detect --model` calls a pixel change (kept in the model;
    /// `detect --threshold` overrides it). Default: net 0.5; trees the probability of the best
    /// F1 on the validation pairs (0.3 without validation).
    #[arg(long)]
    pub threshold: Option<f32>,
    /// `--bands` mapping of the images (as for detect).
    #[arg(long)]
    pub bands: Option<String>,
    /// Average the model's probability with a classical evidence kind at detection,
    /// `KIND:WEIGHT:THRESHOLD` (the model's `[output.blend]`; e.g. `mbi:0.5:1`, the built-in
    /// model's: the mean of the two, each over its own threshold, from 1 is change).
    #[arg(long)]
    pub blend: Option<String>,
}

/// `--blend KIND:WEIGHT:THRESHOLD`.
fn parse_blend(text: &str) -> Result<BlendConf> {
    let parts: Vec<&str> = text.split(':').map(str::trim).collect();
    let number = |s: &str| s.parse::<f32>().ok();
    let [kind, weight, threshold] = parts[..] else {
        bail!("--blend {text}: KIND:WEIGHT:THRESHOLD, e.g. mbi:0.5:1");
    };
    let (Some(weight), Some(threshold)) = (number(weight), number(threshold)) else {
        bail!("--blend {text}: WEIGHT and THRESHOLD are numbers, e.g. mbi:0.5:1");
    };
    let blend = BlendConf {
        evidence: kind.to_string(),
        weight,
        threshold,
    };
    blend
        .validate()
        .map_err(|e| anyhow::anyhow!("--blend {text}: {e}"))?;
    Ok(blend)
}

/// The pairs and bands every kind of model reads.
fn train_data(a: &TrainArgs) -> TrainData {
    TrainData {
        pairs: a.pairs.clone(),
        bands: a.model_bands.clone(),
        pair: PairOptions {
            bands_before: a.bands.clone(),
            ..Default::default()
        },
    }
}

pub fn run(a: &TrainArgs) -> Result<()> {
    let by_extension = a
        .out
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let kind = match (a.kind.as_deref(), by_extension.as_deref()) {
        (Some("trees"), Some("toml")) | (None, Some("toml")) => "trees",
        (Some("net"), Some("onnx")) | (None, Some("onnx")) => "net",
        (Some(k), _) => bail!(
            "--kind {k} writes {}: give --out with that extension",
            if k == "trees" {
                "MODEL.toml"
            } else {
                "MODEL.onnx"
            }
        ),
        (None, _) => bail!(
            "--out {}: MODEL.onnx (the network) or MODEL.toml (pixel trees)",
            a.out.display()
        ),
    };
    if !(0.0..=0.5).contains(&a.validation) {
        bail!("--validation {}: a share from 0 to 0.5", a.validation);
    }
    if let Some(t) = a.threshold
        && !(t > 0.0 && t < 1.0)
    {
        bail!("--threshold {t}: a probability between 0 and 1");
    }
    if kind == "trees" {
        return run_trees(a);
    }
    let widths: [usize; 3] = match a.widths[..] {
        [x, y, z] if [x, y, z].iter().all(|&v| (1..=256).contains(&v)) => [x, y, z],
        _ => bail!("--widths: three channel counts from 1 to 256, e.g. 16,32,48"),
    };
    if a.patch % 4 != 0 || !(16..=512).contains(&a.patch) {
        bail!("--patch {}: a multiple of 4 from 16 to 512", a.patch);
    }
    if a.epochs == 0 || a.batch == 0 {
        bail!("--epochs and --batch must be at least 1");
    }
    let job = TrainJob {
        data: train_data(a),
        out: a.out.clone(),
        options: TrainOptions {
            epochs: a.epochs,
            batch: a.batch,
            patch_px: a.patch,
            widths,
            learning_rate: a.learning_rate.unwrap_or(2e-3),
            validation: a.validation,
            seed: a.seed,
            ..Default::default()
        },
        threshold: a.threshold.unwrap_or(0.5),
        blend: a.blend.as_deref().map(parse_blend).transpose()?,
    };
    let progress = Progress::new();
    let r = train_job(&job, &|st, d, t| progress.report(st, d, t));
    progress.finish();
    let r = r?;
    let t = &r.trained;
    for e in &t.epochs {
        let v = e.validation.map_or(String::from("-"), |v| {
            format!("P {:.3} R {:.3} F1 {:.3}", v.precision, v.recall, v.f1)
        });
        println!(
            "epoch {:>3}: {} steps, loss {:.4}, validation {v}, {:.1} s",
            e.epoch, e.steps, e.train_loss, e.seconds
        );
    }
    println!(
        "{} parameters, trained on {} pairs, validated on {}; kept epoch {}; {:.1} s; wrote {}",
        t.parameters,
        t.training_pairs.len(),
        t.validation_pairs.len(),
        t.kept_epoch,
        r.seconds,
        a.out.display()
    );
    Ok(())
}

fn run_trees(a: &TrainArgs) -> Result<()> {
    if a.rounds == 0 || !(1..=12).contains(&a.depth) || a.per_pair < 100 {
        bail!("--rounds at least 1, --depth 1 to 12, --per-pair at least 100");
    }
    let mut scales = Vec::new();
    for v in a.scales.iter().filter(|v| !v.trim().is_empty()) {
        match v.trim().parse::<f32>() {
            Ok(f) if f == 0.5 || f == 2.0 => scales.push(f),
            _ => bail!("--scales {v}: the factors are 0.5 and 2"),
        }
    }
    tuban::model::config::check_stride(a.stride).map_err(|e| anyhow::anyhow!("--{e}"))?;
    let lr = a.learning_rate.unwrap_or(0.08);
    if !(lr > 0.0 && lr <= 1.0) {
        bail!("--learning-rate {lr}: trees shrink each round by a factor in (0, 1]");
    }
    let job = TreesJob {
        data: train_data(a),
        out: a.out.clone(),
        options: TreesOptions {
            rounds: a.rounds,
            depth: a.depth,
            oblivious: a.trees == "oblivious",
            learning_rate: f64::from(lr),
            per_pair: a.per_pair,
            validation: a.validation,
            seed: a.seed,
            scales,
        },
        threshold: a.threshold,
        blend: a.blend.as_deref().map(parse_blend).transpose()?,
        stride: a.stride,
    };
    let progress = Progress::new();
    let r = train_trees_job(&job, &|st, d, t| progress.report(st, d, t));
    progress.finish();
    let r = r?;
    let t = &r.trained;
    let val = t
        .validation_scores
        .map_or(String::from("no validation pairs"), |v| {
            format!(
                "validation pixel P {:.3} R {:.3} F1 {:.3}",
                v.precision, v.recall, v.f1
            )
        });
    println!(
        "{} trees kept of {}; {} training pixels from {} pairs, {} validation pixels from {}; {val}; threshold {}",
        t.kept_rounds,
        t.options.rounds,
        t.training_rows,
        t.training_pairs.len(),
        t.validation_rows,
        t.validation_pairs.len(),
        r.config.output.threshold
    );
    let top: Vec<String> = t
        .importance
        .iter()
        .take(6)
        .map(|(n, g)| format!("{n} {g:.0}"))
        .collect();
    println!("features with most gain: {}", top.join(", "));
    println!("{:.1} s; wrote {}", r.seconds, a.out.display());
    Ok(())
}
