//! `tuban sources`: run the same detection on several imagery sources (or degraded copies of
//! one) and compare what each finds (see `tuban::sources`).

use super::BackendArg;
use super::detect::on_backend;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use tuban::sources::{Bench, run as run_bench};

/// Raw flags of `tuban sources`.
#[derive(Debug, Args)]
pub struct SourcesArgs {
    /// The bench file (TOML): `truth`, optional `ignore`, `min_area_mu`, `cover`, `bands`, and
    /// `[[source]]` tables (`name` with `before` and `after`, or `like` = an earlier source
    /// with `resample_m`, `noise`, `shift_px`, `haze`).
    pub bench: PathBuf,
    /// Output folder: one folder per source, sources.csv, sources.json and sources.html.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
}

pub fn run(a: &SourcesArgs) -> Result<()> {
    let bench = Bench::read(&a.bench)?;
    let report = on_backend(a.backend, |b, p| run_bench(&bench, &a.out, b, p))?;
    println!(
        "{:<24} {:>7} {:>14} {:>8} {:>8} {:>8} {:>9} {:>10}",
        "source", "pixel m", "shift px", "pixel F1", "recall", "precis.", "object F1", "smallest"
    );
    for s in &report.sources {
        println!(
            "{:<24} {:>7} {:>14} {:>8.3} {:>8.3} {:>8.3} {:>9.3} {:>10}",
            s.name,
            s.pixel_size_m
                .map(|p| format!("{p:.2}"))
                .unwrap_or_default(),
            s.registration
                .map(|g| format!("{:+.2},{:+.2}", g.dx_px, g.dy_px))
                .unwrap_or_else(|| "-".into()),
            s.pixel.f1,
            s.objects.recall,
            s.objects.precision,
            s.objects.f1,
            s.smallest_reliable_mu
                .map(|m| format!("{m} mu"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    println!(
        "wrote {} (and sources.csv, sources.json) in {:.1} s",
        a.out.join("sources.html").display(),
        report.seconds
    );
    Ok(())
}
