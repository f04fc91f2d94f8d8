//! `tuban run`: job file -> [`RunJob`], detect + overlay + county packages, summary.

use super::BackendArg;
use super::detect::on_backend;
use anyhow::{Result, bail};
use clap::Args;
use std::path::PathBuf;
use tuban::job::Job;
use tuban::pipeline::plan::{PlanOptions, SlurmOptions, plan as make_plan, run_task};
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
    /// Run one task of the plan in this folder (`tuban plan`): one county, its package in
    /// PLAN/CODE/. The task is --task, or SLURM_ARRAY_TASK_ID in a Slurm job array.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// The task's index in PLAN/tasks.json (default: $SLURM_ARRAY_TASK_ID).
    #[arg(long, requires = "plan")]
    pub task: Option<usize>,
}

/// Raw flags of `tuban plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The job file.
    pub job: PathBuf,
    /// The plan's folder: tasks.json, task.sbatch, merge.sbatch, submit.sh; the tasks' work
    /// and county packages go there too.
    #[arg(long)]
    pub out: PathBuf,
    /// Split by county (one task per county of the job's county layer).
    #[arg(long, value_enum, default_value_t = SplitBy::County)]
    pub by: SplitBy,
    /// CPUs per task.
    #[arg(long, default_value_t = 2)]
    pub cpus: usize,
    /// Ask Slurm for a GPU per task (--gres=gpu:1) and run the kernels there.
    #[arg(long)]
    pub gpu: bool,
    /// Slurm partition (default: the cluster's default).
    #[arg(long)]
    pub partition: Option<String>,
    /// Tile side in pixels for detection.
    #[arg(long, default_value_t = tuban::pipeline::detect::DEFAULT_TILE_PX)]
    pub tile: usize,
    /// Where the statistics pass runs.
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    pub backend: BackendArg,
    /// The tuban binary the Slurm scripts run on the compute nodes (default: this one, which
    /// must then be on a path the nodes see).
    #[arg(long)]
    pub tuban: Option<PathBuf>,
}

/// How a plan splits a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitBy {
    County,
}

/// Raw flags of `tuban merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The plan's folder.
    pub dir: PathBuf,
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
    if let Some(dir) = &a.plan {
        let index = match a.task {
            Some(t) => t,
            None => match std::env::var("SLURM_ARRAY_TASK_ID") {
                Ok(v) => v.trim().parse().map_err(|_| {
                    anyhow::anyhow!("SLURM_ARRAY_TASK_ID={v:?} is not a task index")
                })?,
                Err(_) => bail!("--plan needs --task N (or SLURM_ARRAY_TASK_ID in a job array)"),
            },
        };
        let (record, summary) = on_backend(a.backend, |b, report| {
            run_task(&job, dir, index, encoding, b, report)
        })?;
        print_summary(&summary);
        println!(
            "task {index}: county {} done in {:.1} s, window {:?}",
            record.code, record.seconds, record.window
        );
        return Ok(());
    }
    let rj = RunJob {
        job: &job,
        out: a.out.clone().unwrap_or_else(|| job.out.clone()),
        tile_px: a.tile,
        shp_encoding: encoding.into(),
        task: None,
    };
    let summary = on_backend(a.backend, |b, report| run_job(&rj, b, report))?;
    print_summary(&summary);
    Ok(())
}

pub fn plan(a: &PlanArgs) -> Result<()> {
    let job = Job::load(&a.job)?;
    if a.tile < 16 {
        bail!("--tile {}: must be at least 16 pixels", a.tile);
    }
    if a.cpus == 0 {
        bail!("--cpus 0: a task needs at least one CPU");
    }
    let SplitBy::County = a.by;
    let tuban = match &a.tuban {
        Some(t) => t.clone(),
        None => std::env::current_exe()?,
    };
    let opts = PlanOptions {
        out: a.out.clone(),
        tile_px: a.tile,
        slurm: SlurmOptions {
            cpus: a.cpus,
            gpu: a.gpu,
            partition: a.partition.clone(),
            tuban,
        },
    };
    let p = on_backend(a.backend, |b, report| make_plan(&job, &opts, b, report))?;
    let px: u64 = p.tasks.iter().map(|t| t.pixels).sum();
    println!(
        "plan: {} county tasks over a {}x{} px scene ({:.1} Mpx in their windows), threshold {:.4}",
        p.tasks.len(),
        p.width,
        p.height,
        px as f64 / 1e6,
        p.stats.threshold
    );
    for t in &p.tasks {
        println!(
            "  task {}: county {} {}, window {:?}, {} MB, {} min",
            t.index,
            t.code,
            t.name.as_deref().unwrap_or(""),
            t.window,
            t.mem_mb,
            t.time_min
        );
    }
    if !p.outside.is_empty() {
        println!(
            "{} counties of the layer lie outside the imagery (no task): {}",
            p.outside.len(),
            p.outside.join(", ")
        );
    }
    println!(
        "submit with {} (Slurm), or run each task: tuban run {} --plan {} --task N",
        a.out.join("submit.sh").display(),
        a.job.display(),
        a.out.display()
    );
    Ok(())
}

pub fn merge(a: &MergeArgs) -> Result<()> {
    let m = tuban::pipeline::plan::merge(&a.dir)?;
    println!(
        "merged {} counties: {} leads ({:.2} mu) into {}; per county in {}",
        m.counties,
        m.leads,
        m.lead_mu,
        m.out.display(),
        a.dir.join("summary.csv").display()
    );
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
