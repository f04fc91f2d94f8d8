//! `tuban run`: job file -> [`RunJob`], detect + overlay + county packages, summary.

use super::BackendArg;
use super::detect::on_backend;
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use tuban::job::Job;
use tuban::pipeline::run::{RunJob, RunSummary, run as run_job};

/// Raw flags of `tuban run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job file (imagery, reference layers and their fields, rules, quarter).
    pub job: PathBuf,
    /// Output folder (default: the job's `out`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Where the detection kernels run.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Tile side in pixels for detection.
    #[arg(long, default_value_t = tuban::pipeline::detect::DEFAULT_TILE_PX)]
    pub tile: usize,
    /// Attribute encoding of the county Shapefiles: GBK (default, what most county GIS
    /// installations expect) or UTF-8.
    #[arg(long, default_value = "GBK")]
    pub shp_encoding: String,
}

pub fn run(a: &RunArgs) -> Result<()> {
    let job = Job::load(&a.job)?;
    if a.tile < 16 {
        bail!("--tile {}: must be at least 16 pixels", a.tile);
    }
    let encoding = match a.shp_encoding.to_ascii_uppercase().as_str() {
        "GBK" | "CP936" => "GBK",
        "UTF-8" | "UTF8" => "UTF-8",
        other => bail!("--shp-encoding {other:?}: use GBK or UTF-8"),
    };
    let rj = RunJob {
        job: &job,
        out: a.out.clone().unwrap_or_else(|| job.out.clone()),
        tile_px: a.tile,
        shp_encoding: encoding.into(),
    };
    let summary = on_backend(a.backend, |b, report| run_job(&rj, b, report))?;
    print_summary(&summary);
    Ok(())
}

fn print_summary(s: &RunSummary) {
    super::overlay::print_summary(&s.overlay);
    if !s.skipped.is_empty() {
        println!("resumed: skipped {} (already done)", s.skipped.join(", "));
    }
    let times: Vec<String> = s
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.2} s"))
        .collect();
    println!("backend {}; stages: {}", s.backend, times.join(", "));
    for c in &s.counties {
        let seen = c
            .clear_share
            .map(|v| format!(", {:.1} % seen clear", 100.0 * v))
            .unwrap_or_default();
        println!(
            "county {}: {} leads ({:.2} mu){seen}, report: {}",
            c.code,
            c.leads,
            c.lead_mu,
            c.dir.join("report.html").display()
        );
    }
    let cov = &s.coverage;
    for w in &cov.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "coverage: {} (pixels {}, {}); per county in {}",
        s.out.join("coverage/coverage.gpkg").display(),
        cov.resolution,
        cov.area_method,
        s.out.join("coverage/coverage.csv").display()
    );
}
