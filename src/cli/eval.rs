//! `tuban eval`: score a prediction against truth (rasters or vector layers, any mix).

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use tuban::eval::io::{grid_for, load, scored_pixels};
use tuban::eval::{EvalOptions, evaluate, render};
use tuban::learn::verdicts::{self, Verdict};

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
    if !(a.cover > 0.0 && a.cover <= 1.0) {
        bail!("--cover {}: must be in (0, 1]", a.cover);
    }
    if !(a.min_area_mu.is_finite() && a.min_area_mu >= 0.0) {
        bail!(
            "--min-area-mu {}: must be a non-negative number",
            a.min_area_mu
        );
    }
    let mut rename = std::collections::HashMap::new();
    for m in &a.merge {
        let (from, to) = m
            .split_once('=')
            .filter(|(f, t)| !f.trim().is_empty() && !t.trim().is_empty())
            .with_context(|| format!("--merge {m:?}: expected TYPES=NAME, e.g. DL1,DL2=DL"))?;
        for f in from.split(',') {
            rename.insert(f.trim().to_string(), to.trim().to_string());
        }
    }
    let grid = grid_for(&a.pred, &a.truth, a.pixel_size)?;
    let mut truth = load(&a.truth, &grid)?;
    let mut pred = load(&a.pred, &grid)?;
    for layer in [&mut truth.layer, &mut pred.layer] {
        for k in layer.kinds.iter_mut() {
            if let Some(to) = rename.get(k.as_str()) {
                *k = to.clone();
            }
        }
    }
    let mut masks = vec![];
    for (path, keep_nonzero) in [(&a.ignore, false), (&a.scored, true)] {
        if let Some(p) = path {
            let m = load(p, &grid).with_context(|| format!("reading {}", p.display()))?;
            masks.push((m, keep_nonzero));
        }
    }
    let masks: Vec<(&_, bool)> = masks.iter().map(|(m, k)| (m, *k)).collect();
    let scored = scored_pixels(&truth, &pred, &masks);
    let opts = EvalOptions {
        cover: a.cover,
        min_area_mu: a.min_area_mu,
    };
    let report = evaluate(
        &truth.layer,
        &pred.layer,
        Some(&scored),
        grid.pixel_area_m2(),
        opts,
    );
    if let Some(out) = &a.verdicts {
        if pred.fids.is_empty() && !pred.layer.kinds.is_empty() {
            bail!(
                "--verdicts: {} is a raster; verdicts are per polygon of a layer (changes.gpkg)",
                a.pred.display()
            );
        }
        let judged = tuban::eval::objects::verdicts(&truth.layer, &pred.layer, &scored, a.cover);
        let rows: Vec<Verdict> = judged
            .into_iter()
            .zip(&pred.fids)
            .filter_map(|(v, fid)| {
                v.map(|(real, kind)| Verdict {
                    key: fid.to_string(),
                    real,
                    kind,
                    line: 0,
                })
            })
            .collect();
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
