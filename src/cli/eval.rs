//! `tuban eval`: score a prediction against truth (rasters or vector layers, any mix).

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use tuban::eval::io::{EvalFiles, evaluate_files, parse_merge};
use tuban::eval::{EvalOptions, render};
use tuban::learn::verdicts;

/// Raw flags of `tuban eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Prediction: a mask or class raster (tuban's change.tif) or a polygon layer.
    #[arg(long)]
    pub pred: PathBuf,
    /// Truth: a mask or class-code raster, or a polygon layer (type from a TBLX field).
    #[arg(long)]
    pub truth: PathBuf,
    /// Also score only objects of at least this many mu (1 mu = 666.67 m²).
    #[arg(long, default_value_t = 0.0)]
    pub min_area_mu: f64,
    /// Coverage rule: a truth object is found when at least this fraction of it is predicted;
    /// a prediction is a false alarm when less than this fraction of it is truth.
    #[arg(long, default_value_t = 0.5)]
    pub cover: f64,
    /// Raster on the same grid whose non-zero pixels are not scored (unlabelled).
    #[arg(long)]
    pub ignore: Option<PathBuf>,
    /// Raster on the same grid whose non-zero pixels are the only ones scored.
    #[arg(long, conflicts_with = "ignore")]
    pub scored: Option<PathBuf>,
    /// Pixel size (CRS units) of the grid when both inputs are vector layers.
    #[arg(long)]
    pub pixel_size: Option<f64>,
    /// Score some types as one: "DL1,DL2=DL" (repeatable); applied to both sides.
    #[arg(long = "merge", value_name = "TYPES=NAME")]
    pub merge: Vec<String>,
    /// Print the report as JSON (keys documented in the README).
    #[arg(long)]
    pub json: bool,
    /// Also write the verdict a field check would give each predicted polygon (CSV
    /// fid,verdict,TBLX: real when truth covers --cover of it, the truth type over most of
    /// it), for `tuban learn`. The prediction must be a polygon layer.
    #[arg(long)]
    pub verdicts: Option<PathBuf>,
}

pub fn run(a: &EvalArgs) -> Result<()> {
    let mut merge = std::collections::HashMap::new();
    for m in &a.merge {
        parse_merge(m, &mut merge)?;
    }
    let job = EvalFiles {
        pred: a.pred.clone(),
        truth: a.truth.clone(),
        ignore: a.ignore.clone(),
        scored: a.scored.clone(),
        pixel_size: a.pixel_size,
        merge,
        options: EvalOptions {
            cover: a.cover,
            min_area_mu: a.min_area_mu,
        },
        verdicts: a.verdicts.is_some(),
    };
    let (report, rows) = evaluate_files(&job)?;
    if let (Some(out), Some(rows)) = (&a.verdicts, rows) {
        tuban::output::write_text(out, &verdicts::to_csv(verdicts::FID, &rows))
            .with_context(|| format!("--verdicts {}", out.display()))?;
        eprintln!(
            "wrote {} ({} verdicts, {} real)",
            out.display(),
            rows.len(),
            rows.iter().filter(|r| r.real).count()
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}
