//! `tuban train`: tuban's Siamese change network from labelled pairs.

use super::Progress;
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use tuban::model::data::{TrainJob, train_job};
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
    /// The model file to write (ONNX; its configuration inside). A report goes to MODEL.json.
    #[arg(long)]
    pub out: PathBuf,
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
    /// Peak learning rate (Adam, cosine decay).
    #[arg(long, default_value_t = 2e-3)]
    pub learning_rate: f32,
    /// Share of the pairs held out to pick the best epoch (0 to 0.5).
    #[arg(long, default_value_t = 0.2)]
    pub validation: f32,
    /// The model's bands, by role or 1-based number, in order.
    #[arg(long, default_value = "R,G,B", value_delimiter = ',')]
    pub model_bands: Vec<String>,
    /// Probability from which `detect --model` calls a pixel change (kept in the model;
    /// `detect --threshold` overrides it).
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f32,
    /// `--bands` mapping of the images (as for detect).
    #[arg(long)]
    pub bands: Option<String>,
}

pub fn run(a: &TrainArgs) -> Result<()> {
    let widths: [usize; 3] = match a.widths[..] {
        [x, y, z] if [x, y, z].iter().all(|&v| (1..=256).contains(&v)) => [x, y, z],
        _ => bail!("--widths: three channel counts from 1 to 256, e.g. 16,32,48"),
    };
    if a.patch % 4 != 0 || !(16..=512).contains(&a.patch) {
        bail!("--patch {}: a multiple of 4 from 16 to 512", a.patch);
    }
    if !(0.0..=0.5).contains(&a.validation) {
        bail!("--validation {}: a share from 0 to 0.5", a.validation);
    }
    if !(a.threshold > 0.0 && a.threshold < 1.0) {
        bail!("--threshold {}: a probability between 0 and 1", a.threshold);
    }
    if a.epochs == 0 || a.batch == 0 {
        bail!("--epochs and --batch must be at least 1");
    }
    let job = TrainJob {
        pairs: a.pairs.clone(),
        out: a.out.clone(),
        bands: a.model_bands.clone(),
        pair: PairOptions {
            bands_before: a.bands.clone(),
            ..Default::default()
        },
        options: TrainOptions {
            epochs: a.epochs,
            batch: a.batch,
            patch_px: a.patch,
            widths,
            learning_rate: a.learning_rate,
            validation: a.validation,
            seed: a.seed,
            ..Default::default()
        },
        threshold: a.threshold,
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
