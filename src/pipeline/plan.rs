//! `tuban plan`, `tuban run --task`, `tuban merge`: a job split into one task per county for a
//! cluster (a Slurm job array), each task the same code as a local [`run`], and the finished
//! counties merged into one GeoPackage.
//!
//! The plan measures the scene-wide statistics once (the radiometric fit, the threshold, the
//! registration: [`SceneStats`]) and gives each task its county's window of the scene grid. A
//! task detects that window with the whole scene's statistics, so every pixel further than the
//! detection halo from the window's edge is what a run over the whole scene makes of it; a
//! change polygon that meets the county and comes within reach of the edge makes the task grow
//! its window and detect again ([`grown_window`]), so the county's leads are those of a single
//! run, whole polygons included (tested: `tests/plan.rs`). Each task records what it did in
//! `DIR/tasks/CODE/task.json` (the plan's fingerprint, `done` or `failed` with the error);
//! `merge` refuses, naming them, while any county is missing, failed or made from another plan.

use super::detect::{SceneStats, estimate, scene_statistics};
use super::run::{RunJob, RunSummary, TaskScope, fingerprint, run};
use crate::engine::Backend;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::overlay::layer::{Fields, WorkCrs, read_layer};
use crate::raster::grid::Window;
use crate::raster::pair::ScenePair;
use crate::stream::ProgressFn;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The plan's file in its folder.
pub const PLAN_FILE: &str = "tasks.json";
/// A task's record in `DIR/tasks/CODE/`.
pub const TASK_FILE: &str = "task.json";
/// Format version of `tasks.json`.
const PLAN_VERSION: u32 = 1;
/// Pixels added around a polygon that makes a window grow, beyond twice the detection halo.
const MARGIN_PX: usize = 256;
/// Pixels around a county's extent in its first window: twice the default profile's halo at
/// 0.8 m (220 px) and the margin; a window too small for another profile only grows.
const FIRST_MARGIN_PX: usize = 2 * 220 + MARGIN_PX;
/// Peak memory of a detection (MB): a fixed part and a part per scene megapixel, measured on
/// the 2-core reference machine (4096² county 0.88 GB, 16384² 1.47 GB, 40000² 1.97 GB; the
/// polygon pass shortens its tiles on wide scenes, so memory levels off).
const MEM_BASE_MB: f64 = 850.0;
const MEM_PER_MPX_MB: f64 = 2.35;
const MEM_CAP_MB: f64 = 2000.0;
/// Slurm's limits are hard: what a task is given over the estimate.
const HEADROOM: f64 = 1.3;
/// Time per task beyond the detection estimate: opening layers, overlay, package, minutes.
const FIXED_MINUTES: f64 = 5.0;

/// How the Slurm scripts ask for resources.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SlurmOptions {
    /// CPUs per task (`--cpus-per-task`).
    pub cpus: usize,
    /// Ask for one GPU per task (`--gres=gpu:1`) and run the kernels there.
    pub gpu: bool,
    /// `--partition`, when not the cluster's default.
    pub partition: Option<String>,
    /// The tuban binary the scripts run.
    pub tuban: PathBuf,
}

/// One county's task.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PlannedTask {
    /// Array index (`SLURM_ARRAY_TASK_ID`).
    pub index: usize,
    /// County code (XZQDM) and name.
    pub code: String,
    pub name: Option<String>,
    /// The county's extent on the scene grid `[x, y, width, height]`, pixels.
    pub county_px: [usize; 4],
    /// The first window detected `[x, y, width, height]`: the extent grown by the margin.
    pub window: [usize; 4],
    pub pixels: u64,
    /// What the scripts ask Slurm for.
    pub mem_mb: u64,
    pub time_min: u64,
}

/// `DIR/tasks.json`: everything a task needs besides the job.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TaskPlan {
    pub tuban_plan: u32,
    pub job: PathBuf,
    /// The job's fingerprint (its text, its input files' sizes and times, tuban's version):
    /// a task refuses to run, and merge to merge, once it differs.
    pub fingerprint: String,
    pub tile_px: usize,
    /// When the plan was made (UTC): the timestamp inside every GeoPackage its tasks and merge
    /// write (GDAL's `OGR_CURRENT_DATE`), so that a task run again writes the same bytes.
    pub created: String,
    /// The scene grid (the overlap of the two dates' mosaics), pixels.
    pub width: usize,
    pub height: usize,
    pub stats: SceneStats,
    /// The shift the after image is read moved back by (`coregister = true`).
    pub shift_after: Option<(f64, f64)>,
    pub slurm: SlurmOptions,
    pub tasks: Vec<PlannedTask>,
    /// Counties of the layer that the imagery does not reach (no task).
    pub outside: Vec<String>,
}

/// What `plan` needs besides the job.
pub struct PlanOptions {
    pub out: PathBuf,
    pub tile_px: usize,
    pub slurm: SlurmOptions,
}

/// What a task did: `DIR/tasks/CODE/task.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TaskRecord {
    pub code: String,
    pub index: usize,
    /// The plan's fingerprint the task ran under.
    pub fingerprint: String,
    /// "done" or "failed".
    pub status: String,
    pub error: Option<String>,
    /// The window finally detected `[x, y, width, height]` (grown from the plan's when a
    /// polygon reached its edge).
    pub window: [usize; 4],
    pub leads: usize,
    pub lead_mu: f64,
    pub clear_share: Option<f64>,
    pub seconds: f64,
}

/// Memory (MB) and time (minutes) to ask for a task of `pixels` on `cpus` threads.
pub fn task_resources(pixels: u64, cpus: usize, model: bool) -> (u64, u64) {
    let mpx = pixels as f64 / 1e6;
    let mem = HEADROOM * (MEM_BASE_MB + MEM_PER_MPX_MB * mpx).min(MEM_CAP_MB);
    let mem = (mem / 256.0).ceil() as u64 * 256;
    let side = (pixels as f64).sqrt() as usize;
    let secs = estimate((side, side), 0, model, cpus).cpu_seconds;
    let minutes = (3.0 * secs / 60.0 + FIXED_MINUTES).ceil() as u64;
    (mem, minutes)
}

/// Split a job into county tasks: measure the scene's statistics, find each county's window,
/// write `DIR/tasks.json` and the Slurm scripts (`task.sbatch`, `merge.sbatch`, `submit.sh`).
///
/// # Errors
/// [`Error::Job`] when the job has no imagery or no county layer, or its imagery is not
/// north-up; anything the layers or the statistics pass report.
pub fn plan(
    job: &Job,
    o: &PlanOptions,
    backend: &Backend,
    progress: ProgressFn,
) -> Result<TaskPlan> {
    let job_err = |reason: String| Error::Job {
        path: job.path.clone(),
        line: 0,
        reason,
    };
    let Some(im) = &job.imagery else {
        return Err(job_err(
            "no [imagery] table: tuban plan needs before and after images".into(),
        ));
    };
    let Some((counties, conf)) = &job.counties else {
        return Err(job_err(
            "no county layer ([layers.counties]): tuban plan makes one task per county".into(),
        ));
    };
    crate::overlay::preflight(job)?;
    std::fs::create_dir_all(&o.out).map_err(|e| Error::write(&o.out, e))?;
    let _lock = super::lock::FolderLock::acquire(&o.out)?;
    let fp = fingerprint(job, &format!("tile {}", o.tile_px))?;
    let mdir = o.out.join("mosaic");
    let before = super::scenes::mosaic(&im.before, &mdir, "before")?;
    let after = super::scenes::mosaic(&im.after, &mdir, "after")?;

    // The whole scene's statistics, as a run over it would measure them.
    let work = o.out.join(".plan-statistics");
    let opts = super::run::detect_options(job, &before, &after, &work, o.tile_px, None)?;
    let stats = scene_statistics(&opts, backend, progress);
    let _ = std::fs::remove_dir_all(&work);
    let stats = stats?;
    let pair = ScenePair::open(&before, &after, &opts.pair)?;
    let Some(gt) = pair.geo_transform.filter(|g| g[2] == 0.0 && g[4] == 0.0) else {
        return Err(job_err(format!(
            "{}: tuban plan places counties on the image grid: the imagery needs a north-up georeference",
            before.display()
        )));
    };
    let size = (pair.width, pair.height);
    let work_crs = WorkCrs::from_wkt(&pair.projection, &before.display().to_string())?;
    drop(pair);

    // Every county's extent on the grid (a county of several features: all of them).
    let fields = crate::overlay::county_fields(conf);
    let mut extents: BTreeMap<String, (Option<String>, geo::Rect<f64>)> = BTreeMap::new();
    read_layer(
        counties,
        "XZQ",
        Fields::Named(&fields),
        Some(&work_crs),
        None,
        &|d, t| progress("counties", d, t),
        |batch| {
            use geo::BoundingRect;
            for f in batch {
                let code = f.attrs[0].clone().unwrap_or_default().trim().to_string();
                let Some(r) = f.geom.bounding_rect() else {
                    continue;
                };
                extents
                    .entry(code)
                    .and_modify(|(_, e)| {
                        *e = geo::Rect::new(
                            geo::coord! { x: e.min().x.min(r.min().x), y: e.min().y.min(r.min().y) },
                            geo::coord! { x: e.max().x.max(r.max().x), y: e.max().y.max(r.max().y) },
                        );
                    })
                    .or_insert((f.attrs[1].clone(), r));
            }
            Ok(())
        },
    )?;
    let mut tasks = vec![];
    let mut outside = vec![];
    for (code, (name, r)) in extents {
        let px = |x: f64| (x - gt[0]) / gt[1];
        let py = |y: f64| (y - gt[3]) / gt[5];
        let (x0, x1) = (
            px(r.min().x).min(px(r.max().x)),
            px(r.min().x).max(px(r.max().x)),
        );
        let (y0, y1) = (
            py(r.min().y).min(py(r.max().y)),
            py(r.min().y).max(py(r.max().y)),
        );
        let clamp = |v: f64, hi: usize| v.clamp(0.0, hi as f64);
        let (x0, x1) = (clamp(x0.floor(), size.0), clamp(x1.ceil(), size.0));
        let (y0, y1) = (clamp(y0.floor(), size.1), clamp(y1.ceil(), size.1));
        if x1 <= x0 || y1 <= y0 {
            outside.push(code);
            continue;
        }
        let county = Window {
            x: x0 as usize,
            y: y0 as usize,
            width: (x1 - x0) as usize,
            height: (y1 - y0) as usize,
        };
        let window = county.grown(FIRST_MARGIN_PX, size);
        let pixels = window.pixels() as u64;
        // A learned model runs where the job names one and where `auto` chose the built-in
        // RGB one (it measured the scene's band statistics for it): tasks then take far longer.
        let model = im.model.is_some() || stats.band_stats.is_some();
        let (mem_mb, time_min) = task_resources(pixels, o.slurm.cpus.max(1), model);
        tasks.push(PlannedTask {
            index: tasks.len(),
            code,
            name,
            county_px: county.into(),
            window: window.into(),
            pixels,
            mem_mb,
            time_min,
        });
    }
    if tasks.is_empty() {
        return Err(job_err(format!(
            "none of the {} counties of the county layer lies on the imagery",
            outside.len()
        )));
    }
    let plan = TaskPlan {
        tuban_plan: PLAN_VERSION,
        job: std::path::absolute(&job.path).unwrap_or_else(|_| job.path.clone()),
        fingerprint: fp,
        tile_px: o.tile_px,
        created: utc_now(),
        width: size.0,
        height: size.1,
        shift_after: stats.coregistered_by.map(|r| (r.dx_px, r.dy_px)),
        stats,
        slurm: o.slurm.clone(),
        tasks,
        outside,
    };
    crate::output::write_json(&o.out.join(PLAN_FILE), &plan)?;
    write_scripts(&o.out, &plan)?;
    Ok(plan)
}

/// The current time, UTC, as GeoPackage writes it (`2026-12-04T01:02:03.000Z`).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Fix the GeoPackage timestamp to the plan's (unless the user fixed one).
fn fix_timestamp(plan: &TaskPlan) {
    let set = gdal::config::get_config_option("OGR_CURRENT_DATE", "").is_ok_and(|d| !d.is_empty());
    if !set {
        let _ = gdal::config::set_config_option("OGR_CURRENT_DATE", &plan.created);
    }
}

/// Read `DIR/tasks.json`.
///
/// # Errors
/// [`Error::Job`] naming the file when it is missing, unreadable or of another version.
pub fn load(dir: &Path) -> Result<TaskPlan> {
    let path = dir.join(PLAN_FILE);
    let err = |reason: String| Error::Job {
        path: path.clone(),
        line: 0,
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        err(format!(
            "{e} (make it with `tuban plan JOB.toml --out DIR`)"
        ))
    })?;
    let plan: TaskPlan = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if plan.tuban_plan != PLAN_VERSION {
        return Err(err(format!(
            "plan format {} (this tuban reads {PLAN_VERSION}): plan again",
            plan.tuban_plan
        )));
    }
    Ok(plan)
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// `task.sbatch` (one county, the array index as the task), `merge.sbatch` and `submit.sh`,
/// which submits the tasks as job arrays grouped by their memory and time, and the merge to run
/// once every array has finished well (`--dependency=afterok`).
fn write_scripts(dir: &Path, plan: &TaskPlan) -> Result<()> {
    let dir = std::path::absolute(dir).map_err(|e| Error::write(dir, e))?;
    let s = &plan.slurm;
    let tuban = quote(&s.tuban);
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| Error::write(&logs, e))?;
    let backend = if s.gpu { "gpu" } else { "cpu" };
    let mut common = format!("#SBATCH --cpus-per-task={}\n", s.cpus.max(1));
    if let Some(p) = &s.partition {
        common.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    let task = format!(
        "#!/bin/bash\n\
         # One county of the plan in {dir}: the array index is the task (tasks.json).\n\
         #SBATCH --job-name=tuban-task\n\
         #SBATCH --output={logs}/task-%A_%a.log\n\
         {common}{gres}\
         set -euo pipefail\n\
         export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-{cpus}}}\"\n\
         exec {tuban} run {job} --plan {dirq} --task \"$SLURM_ARRAY_TASK_ID\" --backend {backend} --tile {tile}\n",
        dir = dir.display(),
        logs = logs.display(),
        gres = if s.gpu { "#SBATCH --gres=gpu:1\n" } else { "" },
        cpus = s.cpus.max(1),
        job = quote(&plan.job),
        dirq = quote(&dir),
        tile = plan.tile_px,
    );
    let merge = format!(
        "#!/bin/bash\n\
         # Merge the finished counties of the plan in {dir}.\n\
         #SBATCH --job-name=tuban-merge\n\
         #SBATCH --output={logs}/merge-%j.log\n\
         #SBATCH --cpus-per-task=1\n\
         #SBATCH --mem=1G\n\
         #SBATCH --time=60\n\
         {partition}\
         set -euo pipefail\n\
         exec {tuban} merge {dirq}\n",
        dir = dir.display(),
        logs = logs.display(),
        partition = s
            .partition
            .as_ref()
            .map(|p| format!("#SBATCH --partition={p}\n"))
            .unwrap_or_default(),
        dirq = quote(&dir),
    );
    // Tasks of the same size class share one array (Slurm gives one array one request).
    let mut groups: BTreeMap<(u64, u64), Vec<usize>> = BTreeMap::new();
    for t in &plan.tasks {
        groups
            .entry((t.mem_mb, t.time_min))
            .or_default()
            .push(t.index);
    }
    let mut submit = format!(
        "#!/bin/bash\n\
         # Submit the plan in {dir}: {n} county tasks as job arrays (grouped by memory and time),\n\
         # then the merge, which runs when every task has finished well. Prints the job ids.\n\
         # A failed or cancelled task: `sbatch --array=INDEX --mem=.. --time=.. task.sbatch`,\n\
         # then `sbatch merge.sbatch` (or run `tuban merge` by hand).\n\
         set -euo pipefail\n\
         cd {dirq}\n\
         ids=()\n",
        dir = dir.display(),
        n = plan.tasks.len(),
        dirq = quote(&dir),
    );
    for ((mem, time), idx) in &groups {
        let list: Vec<String> = idx.iter().map(usize::to_string).collect();
        submit.push_str(&format!(
            "id=$(sbatch --parsable --array={} --mem={mem}M --time={time} task.sbatch); ids+=(\"${{id%%;*}}\"); echo \"tasks ${{id%%;*}}: {} counties, {mem} MB, {time} min\"\n",
            list.join(","),
            idx.len()
        ));
    }
    submit.push_str(
        "deps=$(IFS=:; echo \"${ids[*]}\")\n\
         id=$(sbatch --parsable --dependency=afterok:\"$deps\" merge.sbatch); echo \"merge ${id%%;*}\"\n",
    );
    for (name, text) in [
        ("task.sbatch", task),
        ("merge.sbatch", merge),
        ("submit.sh", submit),
    ] {
        let path = dir.join(name);
        crate::output::write_text(&path, &text)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::write(&path, e))?;
    }
    Ok(())
}

/// After a task's detection of `window`: None when every change polygon that meets the county
/// lies further than twice the detection halo from each edge of the window that is not the
/// scene's edge (then it is what a whole-scene run makes of it), or else the window grown to
/// hold those polygons with that reach around them.
///
/// # Errors
/// [`Error::Open`] when the detection's outputs cannot be read.
pub fn grown_window(ddir: &Path, task: &TaskScope, window: Window) -> Result<Option<Window>> {
    let detect_json = ddir.join("detect.json");
    let halo = std::fs::read_to_string(&detect_json)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["halo_px"].as_u64())
        .ok_or_else(|| Error::Open {
            path: detect_json.clone(),
            reason: "no halo_px".into(),
        })? as usize;
    let reach = 2 * halo + 1;
    let change = ddir.join("change.tif");
    let gt = crate::raster::open_dataset(&change)?
        .geo_transform()
        .map_err(|e| Error::open(&change, e))?;
    let changes = ddir.join("changes.gpkg");
    let ds = crate::raster::open_dataset(&changes)?;
    let mut layer = ds.layer(0).map_err(|e| Error::open(&changes, e))?;
    let (w, h) = task.scene_px;
    let mut grown = window;
    use gdal::vector::LayerAccess;
    for f in layer.features() {
        let Some(g) = f.geometry() else { continue };
        let e = g.envelope();
        let xs = [(e.MinX - gt[0]) / gt[1], (e.MaxX - gt[0]) / gt[1]];
        let ys = [(e.MinY - gt[3]) / gt[5], (e.MaxY - gt[3]) / gt[5]];
        let x0 = window.x + xs[0].min(xs[1]).round().max(0.0) as usize;
        let x1 = window.x + xs[0].max(xs[1]).round().max(0.0) as usize;
        let y0 = window.y + ys[0].min(ys[1]).round().max(0.0) as usize;
        let y1 = window.y + ys[0].max(ys[1]).round().max(0.0) as usize;
        let poly = Window {
            x: x0,
            y: y0,
            width: (x1 - x0).max(1),
            height: (y1 - y0).max(1),
        };
        if !poly.meets(task.county_px) {
            continue;
        }
        let near_edge = (window.x > 0 && x0 < window.x + reach)
            || (window.y > 0 && y0 < window.y + reach)
            || (window.x + window.width < w && x1 + reach > window.x + window.width)
            || (window.y + window.height < h && y1 + reach > window.y + window.height);
        if near_edge {
            grown = grown.union(poly.grown(reach + MARGIN_PX, (w, h)));
        }
    }
    Ok((grown != window).then_some(grown))
}

/// Run task `index` of the plan in `dir`: the county's package in `DIR/CODE/`, its work in
/// `DIR/tasks/CODE/`, its record in `DIR/tasks/CODE/task.json` (also when it fails).
///
/// # Errors
/// [`Error::Job`] when the plan is stale (the job or an input changed since) or has no such
/// task; anything the run reports (also recorded as the task's failure).
pub fn run_task(
    job: &Job,
    dir: &Path,
    index: usize,
    shp_encoding: &str,
    backend: &Backend,
    progress: ProgressFn,
) -> Result<(TaskRecord, RunSummary)> {
    let plan = load(dir)?;
    let stale = |reason: String| Error::Job {
        path: dir.join(PLAN_FILE),
        line: 0,
        reason,
    };
    if fingerprint(job, &format!("tile {}", plan.tile_px))? != plan.fingerprint {
        return Err(stale(format!(
            "{} or one of its input files changed after the plan was made: plan again",
            job.path.display()
        )));
    }
    let Some(t) = plan.tasks.get(index) else {
        return Err(stale(format!(
            "task {index}: the plan has tasks 0 to {}",
            plan.tasks.len().saturating_sub(1)
        )));
    };
    let out = dir.join("tasks").join(&t.code);
    fix_timestamp(&plan);
    let clock = std::time::Instant::now();
    let scope = TaskScope {
        code: t.code.clone(),
        window: t.window.into(),
        county_px: t.county_px.into(),
        scene_px: (plan.width, plan.height),
        stats: plan.stats.clone(),
        shift_after: plan.shift_after,
        packages: dir.to_path_buf(),
    };
    let rj = RunJob {
        job,
        out: out.clone(),
        tile_px: plan.tile_px,
        shp_encoding: shp_encoding.into(),
        task: Some(scope),
    };
    let mut record = TaskRecord {
        code: t.code.clone(),
        index,
        fingerprint: plan.fingerprint.clone(),
        status: "failed".into(),
        error: None,
        window: t.window,
        leads: 0,
        lead_mu: 0.0,
        clear_share: None,
        seconds: 0.0,
    };
    std::fs::create_dir_all(&out).map_err(|e| Error::write(&out, e))?;
    let result = run(&rj, backend, progress);
    record.seconds = clock.elapsed().as_secs_f64();
    match result {
        Ok(summary) => {
            let pkg = summary.counties.iter().find(|c| c.code == t.code);
            record.status = "done".into();
            record.window = summary.task_window.unwrap_or(t.window);
            record.leads = pkg.map_or(0, |p| p.leads);
            record.lead_mu = pkg.map_or(0.0, |p| p.lead_mu);
            record.clear_share = pkg.and_then(|p| p.clear_share);
            crate::output::write_json(&out.join(TASK_FILE), &record)?;
            Ok((record, summary))
        }
        Err(e) => {
            record.error = Some(e.to_string());
            crate::output::write_json(&out.join(TASK_FILE), &record)?;
            Err(e)
        }
    }
}

/// What `merge` made.
#[derive(Clone, Debug, Serialize)]
pub struct MergeSummary {
    pub out: PathBuf,
    pub counties: usize,
    pub leads: usize,
    pub lead_mu: f64,
    pub outside: Vec<String>,
    pub records: Vec<TaskRecord>,
}

/// Merge the finished counties of the plan in `dir`: `DIR/merged.gpkg` (layers `leads`,
/// `excluded`, `coverage`: every county's, in code order), `DIR/summary.csv` (one row per
/// county) and `DIR/merge.json`.
///
/// # Errors
/// [`Error::Job`] naming every county that is missing, failed or made under another plan;
/// [`Error::Write`] when an output cannot be written.
pub fn merge(dir: &Path) -> Result<MergeSummary> {
    let plan = load(dir)?;
    let mut records = vec![];
    let mut problems = vec![];
    for t in &plan.tasks {
        let path = dir.join("tasks").join(&t.code).join(TASK_FILE);
        let record = std::fs::read_to_string(&path)
            .ok()
            .and_then(|s| serde_json::from_str::<TaskRecord>(&s).ok());
        match record {
            None => problems.push(format!("{} (task {}: not run)", t.code, t.index)),
            Some(r) if r.fingerprint != plan.fingerprint => problems.push(format!(
                "{} (task {}: made under another plan)",
                t.code, t.index
            )),
            Some(r) if r.status != "done" => problems.push(format!(
                "{} (task {}: failed: {})",
                t.code,
                t.index,
                r.error.as_deref().unwrap_or("no reason recorded")
            )),
            Some(_) if !dir.join(&t.code).join("tuban.gpkg").is_file() => {
                problems.push(format!("{} (task {}: no package)", t.code, t.index))
            }
            Some(r) => records.push(r),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Job {
            path: dir.join(PLAN_FILE),
            line: 0,
            reason: format!(
                "{} of {} counties are not finished: {}",
                problems.len(),
                plan.tasks.len(),
                problems.join("; ")
            ),
        });
    }
    fix_timestamp(&plan);
    let out = dir.join("merged.gpkg");
    // Built in a hidden `.merged.gpkg.partial/` folder (GDAL wants the .gpkg extension) and
    // moved into place whole, as the vector writer does.
    let staging = crate::output::partial_path(&out);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| Error::write(&staging, e))?;
    let partial = staging.join("merged.gpkg");
    let sources: Vec<PathBuf> = plan
        .tasks
        .iter()
        .map(|t| dir.join(&t.code).join("tuban.gpkg"))
        .collect();
    for layer in ["leads", "excluded", "coverage"] {
        crate::output::vector::append_layers(&sources, layer, &partial)?;
    }
    std::fs::rename(&partial, &out).map_err(|e| Error::write(&out, e))?;
    let _ = std::fs::remove_dir_all(&staging);
    let mut csv = String::from("\u{feff}XZQDM,XZQMC,leads,lead_mu,clear_share,task,window\n");
    for (t, r) in plan.tasks.iter().zip(&records) {
        csv.push_str(&format!(
            "{},{},{},{:.4},{},{},{} {} {} {}\n",
            t.code,
            t.name.as_deref().unwrap_or(""),
            r.leads,
            r.lead_mu,
            r.clear_share.map(|v| format!("{v:.4}")).unwrap_or_default(),
            t.index,
            r.window[0],
            r.window[1],
            r.window[2],
            r.window[3]
        ));
    }
    crate::output::write_text(&dir.join("summary.csv"), &csv)?;
    let summary = MergeSummary {
        out,
        counties: records.len(),
        leads: records.iter().map(|r| r.leads).sum(),
        lead_mu: records.iter().fold(0.0, |s, r| s + r.lead_mu),
        outside: plan.outside.clone(),
        records,
    };
    crate::output::write_json(&dir.join("merge.json"), &summary)?;
    Ok(summary)
}
