//! `tuban overlay`: flags + job file -> [`OverlayJob`], run, summary.

use super::Progress;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use tuban::job::{Date, Job};
use tuban::overlay::{OverlayJob, OverlaySummary, overlay};

/// Raw flags of `tuban overlay`.
#[derive(Debug, Args)]
pub struct OverlayArgs {
    /// Change polygons (any OGR source with a CRS, e.g. `tuban detect`'s changes.gpkg).
    #[arg(long)]
    pub changes: PathBuf,
    /// Layer of the change source (default: its only layer, or "changes").
    #[arg(long)]
    pub layer: Option<String>,
    /// Job file mapping the reference layers, rules and quarter.
    #[arg(long)]
    pub job: PathBuf,
    /// Output GeoPackage (layers `leads` and `excluded`); a .json summary is written beside it.
    #[arg(long)]
    pub out: PathBuf,
    /// Before-image date (QSX); default: imagery.before_date in the job.
    #[arg(long)]
    pub before_date: Option<String>,
    /// After-image date (HSX; approvals dated later do not count); default:
    /// imagery.after_date in the job.
    #[arg(long)]
    pub after_date: Option<String>,
}

fn date(flag: &str, v: &Option<String>) -> Result<Option<Date>> {
    v.as_deref()
        .map(|s| Date::parse(s).map_err(|e| anyhow::anyhow!("{flag}: {e}")))
        .transpose()
}

pub fn run(a: &OverlayArgs) -> Result<()> {
    let job = Job::load(&a.job)?;
    if a.out.extension().and_then(|e| e.to_str()) != Some("gpkg") {
        bail!(
            "--out {}: the overlay writes a GeoPackage (.gpkg)",
            a.out.display()
        );
    }
    if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        bail!(
            "--out {}: folder {} does not exist",
            a.out.display(),
            parent.display()
        );
    }
    // Dates not given default to the job's in the library.
    let ojob = OverlayJob {
        changes: a.changes.clone(),
        changes_layer: a.layer.clone(),
        job: &job,
        out: a.out.clone(),
        before_date: date("--before-date", &a.before_date)?,
        after_date: date("--after-date", &a.after_date)?,
    };
    let progress = Progress::new();
    let s = overlay(&ojob, &|st, d, t| progress.report(st, d, t));
    progress.finish();
    let s = s.with_context(|| format!("overlay of {}", a.changes.display()))?;
    print_summary(&s);
    Ok(())
}

/// Counts and mu per county and type, warnings, times.
pub fn print_summary(s: &OverlaySummary) {
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "{} changes -> {} pieces: {} leads ({:.2} mu), {} excluded; areas {} in {}",
        s.changes, s.pieces, s.leads, s.lead_mu, s.excluded, s.area_method, s.crs
    );
    for (code, c) in &s.counties {
        let types: Vec<String> = c
            .by_type
            .iter()
            .map(|(t, (n, mu))| format!("{t} {n} ({mu:.2} mu)"))
            .collect();
        println!(
            "  {code} {}: {} leads, {:.2} mu [{}], {} excluded",
            c.name.as_deref().unwrap_or(""),
            c.leads,
            c.lead_mu,
            types.join(", "),
            c.excluded
        );
    }
    let times: Vec<String> = s
        .seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.2} s"))
        .collect();
    println!("time: {}; wrote {}", times.join(", "), s.out.display());
}
