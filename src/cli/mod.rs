//! The command line: clap `Args` per subcommand, validated into library configs, and the
//! progress display. No algorithm lives here.

pub mod detect;
pub mod eval;
pub mod learn;
pub mod ledger;
pub mod overlay;
pub mod polygonize;
pub mod run;
pub mod serve;
pub mod sources;
pub mod synth;
pub mod train;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

/// tuban: change polygons (图斑) from two dates of satellite imagery.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Worker threads for the CPU kernels (default: all cores).
    #[arg(long, global = true)]
    pub threads: Option<usize>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Change evidence, a change mask and change polygons from two co-registered images.
    Detect(Box<detect::DetectArgs>),
    /// Polygons from any single-band mask (seamless across tiles, valid OGC geometry).
    Polygonize(polygonize::PolygonizeArgs),
    /// Score a prediction against truth: pixel and object metrics, per change type.
    Eval(eval::EvalArgs),
    /// Judge change polygons against survey layers, red line and approvals: leads per county.
    Overlay(overlay::OverlayArgs),
    /// A whole job: detect, overlay and one dispatch package per county.
    Run(run::RunArgs),
    /// Split a job into one task per county for a cluster: scene statistics, windows,
    /// tasks.json and Slurm scripts (a job array and a merge that waits for it).
    Plan(run::PlanArgs),
    /// Merge a plan's finished counties into one GeoPackage and summary (refuses while any is
    /// missing, failed or stale).
    Merge(run::MergeArgs),
    /// A synthetic bi-temporal scene with known changes, pseudo-changes and truth.
    Synth(synth::SynthArgs),
    /// Train tuban's Siamese change network on labelled pairs (an ONNX model for --model).
    Train(train::TrainArgs),
    /// Learn from field verdicts which leads are real and what they are (a model for
    /// --lead-model).
    Learn(learn::LearnArgs),
    /// The case ledger across quarters: dispatch, links to earlier leads, field results,
    /// corrections and rejudgement, escalation, reports, training labels.
    Ledger(ledger::LedgerArgs),
    /// Compare imagery sources (or degraded copies of one) on the same area and dates: what
    /// each finds, by change type and object size, at what cost.
    Sources(sources::SourcesArgs),
    /// The review web app: each lead on the two dates' imagery, verdicts with photos into
    /// the ledger, per-county sign-in.
    Serve(serve::ServeArgs),
}

/// Where kernels run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// A hardware GPU when wgpu finds one, else the CPU (with a notice).
    Auto,
    /// Any wgpu adapter, software Vulkan included; an error when there is none.
    Gpu,
    /// The rayon CPU kernels.
    Cpu,
}

/// A progress bar that follows the library's `(stage, done, total)` reports. Hidden when stderr
/// is not a terminal.
pub struct Progress {
    bar: ProgressBar,
    stage: Mutex<String>,
}

impl Progress {
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
                .expect("static template")
                .progress_chars("=> "),
        );
        Progress {
            bar,
            stage: Mutex::new(String::new()),
        }
    }

    pub fn report(&self, stage: &str, done: u64, total: u64) {
        let mut cur = self.stage.lock().expect("progress lock");
        if *cur != stage {
            *cur = stage.to_string();
            self.bar.reset();
            self.bar.set_message(stage.to_string());
            self.bar.set_length(total);
        }
        self.bar.set_position(done);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
