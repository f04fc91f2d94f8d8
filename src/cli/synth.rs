//! `tuban synth`: a synthetic scene with known truth.

use super::Progress;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use tuban::synth::{SynthOptions, synth};

/// Raw flags of `tuban synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Scene side in pixels (64 to 65536).
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Random seed: the same seed gives the same bytes on any machine.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Pixel size in metres.
    #[arg(long, default_value_t = 0.8)]
    pub gsd: f64,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Counties the scene spans: 2 (west and east of a wandering border) or 4 (each split
    /// again north and south; the imagery is the same).
    #[arg(long, default_value_t = 2)]
    pub counties: usize,
}

pub fn run(a: &SynthArgs) -> Result<()> {
    let progress = Progress::new();
    let s = synth(
        &SynthOptions {
            size: a.size,
            seed: a.seed,
            gsd_m: a.gsd,
            out_dir: a.out.clone(),
            counties: a.counties,
        },
        &|st, d, t| progress.report(st, d, t),
    );
    progress.finish();
    let s = s?;
    let leads = s.objects.iter().filter(|o| o.qualifies).count();
    println!(
        "{0}x{0} px at {1} m (EPSG:{2}), seed {3}; {4} changed px; {5:.1} s ({6:.1} Mpx/s); wrote {7}",
        s.size,
        s.gsd_m,
        s.epsg,
        s.seed,
        s.changed_px,
        s.seconds,
        (s.size * s.size) as f64 / 1e6 / s.seconds.max(1e-9),
        a.out.display()
    );
    println!(
        "{} change objects, {leads} of them leads by the rules (not approved, and >= 5 mu of basic farmland, >= 10 mu of arable land or in the red line); truth.gpkg: {} polygons, one per connected piece of an object ({} of lead objects); `tuban overlay` also cuts leads at county borders",
        s.objects.len(),
        s.truth.polygons,
        s.truth.lead_polygons
    );
    Ok(())
}
