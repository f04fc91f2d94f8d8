//! `tuban run`: a whole job, from the two images to one dispatch package per county.
//!
//! Stages, each in its own folder under the output folder: `detect/` (evidence, mask, change
//! polygons), `coverage/` (what the imagery saw clear in each county: `seen.tif`,
//! `coverage.gpkg`, `coverage.csv`; see [`crate::coverage`]), `overlay/` (leads.gpkg +
//! leads.json for all counties), then `CODE/` per county (see [`crate::output::package`]) for
//! every county with leads or touched by the imagery. Detection and every county folder record a fingerprint of
//! what they were made from (the job text, the imagery and layer files' sizes and times,
//! tuban's version); a rerun skips those whose fingerprint matches and whose outputs are whole,
//! so a run killed mid-way resumes at the stage (not the tile) where it stopped and ends with
//! the same result. The overlay, seconds long and deterministic, always reruns.

use super::detect::{ContextSource, DetectOptions, DetectSummary, ModelSource, SceneStats, detect};
use super::scenes::{annotate, footprints, mosaic};
use crate::coverage::{Coverage, CoverageJob, MIN_CLEAR_SHARE, NotSeen, coverage};
use crate::engine::Backend;
use crate::error::{Error, Result};
use crate::job::{CountiesConf, Job, LayerSource};
use crate::output::chips::ChipSource;
use crate::output::package::{CountyPackage, PackageContext, write_county};
use crate::overlay::layer::{Fields, WorkCrs, read_layer};
use crate::overlay::{OverlayJob, OverlaySummary, overlay, preflight};
use crate::raster::grid::Window;
use crate::raster::pair::PairOptions;
use crate::stream::ProgressFn;
use geo::MultiPolygon;
use serde::Serialize;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Inputs of a run.
pub struct RunJob<'a> {
    pub job: &'a Job,
    /// Output folder (the job's `out` unless overridden).
    pub out: PathBuf,
    /// Tile side for detection, pixels.
    pub tile_px: usize,
    /// Attribute encoding of the county Shapefiles ("GBK" or "UTF-8").
    pub shp_encoding: String,
    /// One task of a plan (`tuban run --task`): one county's window of the scene.
    pub task: Option<TaskScope>,
}

/// What a plan's task restricts a run to ([`super::plan`]).
#[derive(Clone, Debug)]
pub struct TaskScope {
    /// The county (XZQDM) whose package the task makes.
    pub code: String,
    /// The window of the scene detected first; grown when a change polygon that meets the
    /// county reaches its edge ([`super::plan::grown_window`]).
    pub window: Window,
    /// The county's extent on the scene grid, pixels.
    pub county_px: Window,
    /// The scene grid's size (width, height), pixels.
    pub scene_px: (usize, usize),
    /// The whole scene's statistics, measured by the plan.
    pub stats: SceneStats,
    /// The after image's shift removed by co-registration (the plan measured it).
    pub shift_after: Option<(f64, f64)>,
    /// Where the county folder goes (the plan's folder).
    pub packages: PathBuf,
}

/// The detection a run makes of a job's imagery (the window and statistics of a task, when one).
pub(crate) fn detect_options(
    j: &Job,
    before: &Path,
    after: &Path,
    out_dir: &Path,
    tile_px: usize,
    task: Option<(&TaskScope, Window)>,
) -> Result<DetectOptions> {
    let Some(im) = &j.imagery else {
        return Err(no_imagery(j));
    };
    Ok(DetectOptions {
        pair: PairOptions {
            bands_before: im.bands.clone(),
            // A task reads the after image moved by the shift the plan measured.
            coregister: im.coregister && task.is_none(),
            shift_after: task.and_then(|(t, _)| t.shift_after),
            window: task.map(|(_, w)| w),
            zero_is_data: im.zero_is_data,
            ..Default::default()
        },
        tile_px,
        classify: Some(j.classify.clone()),
        classes: j.classes.clone(),
        // The survey's roads and villages give the typing its context.
        context: j.dltb.as_ref().map(|(src, conf)| ContextSource {
            source: src.clone(),
            class_field: conf.class_field.clone(),
        }),
        model: im.model.as_ref().map(|path| ModelSource {
            path: path.clone(),
            config: im.model_config.clone(),
            tile_px: None,
        }),
        lead_model: j.lead_model.clone(),
        scene: task.map(|(t, _)| t.stats.clone()),
        ..DetectOptions::new(before, after, out_dir)
    })
}

fn no_imagery(j: &Job) -> Error {
    Error::Job {
        path: j.path.clone(),
        line: 0,
        reason: "no [imagery] table: tuban run needs before and after images".into(),
    }
}

/// The county layer's source filtered to county `code` (on top of any filter of its own).
fn county_source(src: &LayerSource, conf: &CountiesConf, code: &str) -> LayerSource {
    let field = conf.code_field.as_deref().unwrap_or("XZQDM");
    let own = format!("\"{field}\" = '{}'", code.replace('\'', "''"));
    LayerSource {
        filter: Some(match &src.filter {
            Some(f) => format!("({f}) AND {own}"),
            None => own,
        }),
        ..src.clone()
    }
}

/// The job with its county layer filtered to one county (a task's coverage).
fn county_job(j: &Job, code: &str) -> Job {
    let mut j = j.clone();
    if let Some((src, conf)) = &mut j.counties {
        *src = county_source(src, conf, code);
    }
    j
}

/// What a run did.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// The job file (absolute), so that a later step (the ledger's rejudgement) can reopen the
    /// layers the leads were judged with.
    pub job: PathBuf,
    /// The monitoring quarter the leads are numbered under.
    pub quarter: String,
    pub out: PathBuf,
    pub backend: String,
    /// Stages skipped because their outputs were already whole and current.
    pub skipped: Vec<String>,
    pub detect: Option<DetectSummary>,
    pub overlay: OverlaySummary,
    pub coverage: Coverage,
    pub counties: Vec<CountyPackage>,
    pub seconds: BTreeMap<String, f64>,
    /// A task's window as finally detected `[x, y, width, height]`.
    pub task_window: Option<[usize; 4]>,
}

/// What the outputs depend on: the job text, every input file's size and modification time,
/// and the version of tuban.
pub(crate) fn fingerprint(job: &Job, extra: &str) -> Result<String> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(&job.path)
        .map_err(|e| Error::write(&job.path, e))?
        .hash(&mut h);
    let mut files: Vec<PathBuf> = vec![];
    if let Some(im) = &job.imagery {
        files.extend(im.before.iter().chain(&im.after).map(|s| s.path.clone()));
        // Another model (or configuration) is another detection.
        files.extend(im.model.iter().chain(&im.model_config).cloned());
    }
    files.extend(job.classes.clone());
    files.extend(job.lead_model.as_ref().map(|l| l.path.clone()));
    for src in [
        job.dltb.as_ref().map(|x| &x.0),
        job.basic_farmland.as_ref().map(|x| &x.0),
        job.red_line.as_ref().map(|x| &x.0),
        job.urban_boundary.as_ref().map(|x| &x.0),
        job.approvals.as_ref().map(|x| &x.0),
        job.counties.as_ref().map(|x| &x.0),
    ]
    .into_iter()
    .flatten()
    {
        files.push(PathBuf::from(&src.path));
    }
    for f in files {
        super::checkpoint::hash_file(&f, &mut h);
    }
    env!("CARGO_PKG_VERSION").hash(&mut h);
    extra.hash(&mut h);
    Ok(format!("{:016x}", h.finish()))
}

const STAMP: &str = ".tuban-stage";

fn is_current(dir: &Path, stamp: &str, outputs: &[&str]) -> bool {
    std::fs::read_to_string(dir.join(STAMP)).is_ok_and(|s| s.trim() == stamp)
        && outputs.iter().all(|o| dir.join(o).is_file())
}

fn stamp(dir: &Path, fp: &str) -> Result<()> {
    crate::output::write_text(&dir.join(STAMP), fp)
}

/// The boundary of county `code` from the job's county layer, in the imagery's CRS (None when
/// there is no county layer or it cannot be read: the map then goes without it).
fn county_outline(j: &Job, code: &str, projection: &str) -> Option<Vec<MultiPolygon<f64>>> {
    let (src, conf) = j.counties.as_ref()?;
    let src = county_source(src, conf, code);
    let work = WorkCrs::from_wkt(projection, "imagery").ok()?;
    let mut out = vec![];
    read_layer(
        &src,
        "XZQ",
        Fields::Named(&[]),
        Some(&work),
        None,
        &|_, _| {},
        |b| {
            out.extend(b.into_iter().map(|f| f.geom));
            Ok(())
        },
    )
    .ok()?;
    Some(out)
}

/// Write the run's coverage: `coverage.gpkg` (layer `not_seen`: every part of every county the
/// imagery did not see clear, with its reason) and `coverage.csv` (one row per county, km² and
/// shares, with a BOM for spreadsheet software).
fn write_coverage(dir: &Path, cov: &Coverage) -> Result<()> {
    use crate::output::gpkg::GpkgWriter;
    use crate::output::package::{COVERAGE_FIELDS, coverage_values};
    let gpkg = dir.join("coverage.gpkg");
    let partial = crate::output::partial_path(&gpkg);
    let _ = std::fs::remove_file(&partial);
    let mut w = GpkgWriter::create(&partial, "not_seen", &cov.projection, &COVERAGE_FIELDS)?;
    for p in &cov.not_seen {
        w.push(&p.geom, coverage_values(&cov.counties[p.county].code, p))?;
    }
    w.finish()?;
    std::fs::rename(&partial, &gpkg).map_err(|e| Error::write(&gpkg, e))?;
    let mut csv = String::from(
        "\u{feff}XZQDM,XZQMC,area_km2,clear_km2,cloud_km2,shadow_km2,nodata_km2,no_image_km2,clear_share,resolution,clear_le_1m_km2,clear_1_2m_km2,clear_gt_2m_km2\n",
    );
    for c in &cov.counties {
        let by = |class: &str| c.clear_km2_by_resolution.get(class).copied().unwrap_or(0.0);
        csv.push_str(&format!(
            "{},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6},{:.4},{},{:.6},{:.6},{:.6}\n",
            c.code,
            c.name.as_deref().unwrap_or(""),
            c.area_km2,
            c.clear_km2,
            c.cloud_km2,
            c.shadow_km2,
            c.nodata_km2,
            c.no_image_km2,
            c.clear_share,
            cov.resolution,
            by("<= 1 m"),
            by("1-2 m"),
            by("> 2 m"),
        ));
    }
    crate::output::write_text(&dir.join("coverage.csv"), &csv)
}

/// Run the job.
///
/// # Errors
/// [`Error::Job`] when the job lacks imagery; anything the stages report (naming files);
/// layer problems are found by [`preflight`] before any work starts.
pub fn run(job: &RunJob, backend: &Backend, progress: ProgressFn) -> Result<RunSummary> {
    let j = job.job;
    // A task's coverage is its own county's; the overlay cuts polygons by every county, as a
    // single run does (a polygon across three counties is judged as one across three).
    let scoped = job.task.as_ref().map(|t| county_job(j, &t.code));
    let Some(im) = &j.imagery else {
        return Err(no_imagery(j));
    };
    preflight(j)?;
    std::fs::create_dir_all(&job.out).map_err(|e| Error::write(&job.out, e))?;
    let _lock = super::lock::FolderLock::acquire(&job.out)?;
    let mut seconds = BTreeMap::new();
    let mut skipped = vec![];
    let fp = fingerprint(j, &format!("tile {}", job.tile_px))?;
    // One image per date: the file, or a VRT mosaic of the date's scenes.
    let mdir = job.out.join("mosaic");
    let before = mosaic(&im.before, &mdir, "before")?;
    let after = mosaic(&im.after, &mdir, "after")?;

    let ddir = job.out.join("detect");
    let t = Instant::now();
    let mut window = job.task.as_ref().map(|t| t.window);
    let detect_summary = loop {
        let scope = job.task.as_ref().zip(window);
        // A task's window is part of what its detection depends on.
        let dfp = match window {
            Some(w) => format!("{fp}/window {} {} {} {}", w.x, w.y, w.width, w.height),
            None => fp.clone(),
        };
        let summary = if is_current(&ddir, &dfp, &["changes.gpkg", "change.tif", "detect.json"]) {
            skipped.push("detect".to_string());
            None
        } else {
            let opts = detect_options(j, &before, &after, &ddir, job.tile_px, scope)?;
            let s = detect(&opts, backend, progress)?;
            stamp(&ddir, &dfp)?;
            Some(s)
        };
        // A change polygon that meets the county and reaches the window's edge may go on
        // outside it: detect again over a window that holds it whole.
        match scope {
            Some((task, w)) => match super::plan::grown_window(&ddir, task, w)? {
                Some(grown) => window = Some(grown),
                None => break summary,
            },
            None => break summary,
        }
    };
    seconds.insert("detect".to_string(), t.elapsed().as_secs_f64());

    // Mosaics: every scene's extent, date and pixel size (coverage by resolution class, each
    // polygon's provenance).
    let mosaicked = im.before.len() > 1 || im.after.len() > 1;
    let prints = if mosaicked {
        Some((footprints(&im.before)?, footprints(&im.after)?))
    } else {
        None
    };
    let sources = prints.as_ref().map(|(b, a)| {
        (
            b.iter()
                .map(super::scenes::Footprint::source)
                .collect::<Vec<_>>(),
            a.iter()
                .map(super::scenes::Footprint::source)
                .collect::<Vec<_>>(),
        )
    });

    // What the imagery saw: always redone (a pass over change.tif and evidence.tif).
    let t = Instant::now();
    let cdir = job.out.join("coverage");
    let cov = coverage(
        &CoverageJob {
            detect_dir: &ddir,
            out_dir: &cdir,
            counties: scoped.as_ref().unwrap_or(j).counties.as_ref(),
            whole_name: "scene",
            min_clear_share: j.rules.min_clear_share.unwrap_or(MIN_CLEAR_SHARE),
            scenes: sources.as_ref().map(|(b, a)| (b.as_slice(), a.as_slice())),
        },
        progress,
    )?;
    write_coverage(&cdir, &cov)?;
    seconds.insert("coverage".to_string(), t.elapsed().as_secs_f64());

    let odir = job.out.join("overlay");
    std::fs::create_dir_all(&odir).map_err(|e| Error::write(&odir, e))?;
    let t = Instant::now();
    let leads = odir.join("leads.gpkg");
    let projection = crate::raster::open_dataset(&before)
        .ok()
        .map(|d| d.projection())
        .unwrap_or_default();
    // With scenes, every polygon records the scenes it lies in and their dates (QSX/HSX).
    let changes = if let Some((b, a)) = &prints {
        let dated = odir.join("changes_scenes.gpkg");
        annotate(&ddir.join("changes.gpkg"), &dated, &projection, b, a)?;
        dated
    } else {
        ddir.join("changes.gpkg")
    };
    // The overlay is rerun every time (seconds, deterministic): its summary feeds the county
    // stage, whose finished folders are skipped.
    let overlay_summary = overlay(
        &OverlayJob {
            changes,
            changes_layer: Some("changes".into()),
            job: j,
            out: leads.clone(),
            before_date: im.before_date,
            after_date: im.after_date,
        },
        progress,
    )?;
    seconds.insert("overlay".to_string(), t.elapsed().as_secs_f64());

    let t = Instant::now();
    let before_chips = ChipSource::open(&before, im.bands.as_deref())?;
    let after_chips = ChipSource::open(&after, im.bands.as_deref())?;
    let ctx = PackageContext {
        projection: &projection,
        shp_encoding: &job.shp_encoding,
        quarter: j.quarter,
        chips: Some((&before_chips, &after_chips)),
    };
    let mut counties = vec![];
    // Every county with leads, and every county the imagery reached (a county under cloud has
    // no leads, and its package says why).
    let mut codes: Vec<&String> = overlay_summary.counties.keys().collect();
    for c in &cov.counties {
        if c.area_km2 - c.no_image_km2 > 0.0 && !codes.contains(&&c.code) {
            codes.push(&c.code);
        }
    }
    codes.sort();
    // A task makes its own county's package only, and always (a county whose extent meets
    // the grid but whose area does not still gets its package, saying no image reached it).
    if let Some(task) = &job.task {
        codes.retain(|c| **c == task.code);
        if codes.is_empty() {
            codes.push(&task.code);
        }
    }
    let packages = job.task.as_ref().map_or(&job.out, |t| &t.packages);
    // Each county's not-seen parts, grouped once.
    let mut parts_of: Vec<Vec<&NotSeen>> = vec![Vec::new(); cov.counties.len()];
    for p in &cov.not_seen {
        parts_of[p.county].push(p);
    }
    for (k, code) in codes.iter().enumerate() {
        let row = cov.counties.iter().position(|c| &c.code == *code);
        let county_cov = row.map(|r| (&cov.counties[r], parts_of[r].as_slice()));
        let dir = packages.join(code);
        let cfp = format!("{fp}/{code}/{}", job.shp_encoding);
        if is_current(
            &dir,
            &cfp,
            &[
                "tuban.gpkg",
                "tuban.shp",
                "leads.csv",
                "summary.csv",
                "report.html",
            ],
        ) {
            skipped.push(format!("county {code}"));
            let c = overlay_summary.counties.get(*code);
            counties.push(CountyPackage {
                code: (*code).clone(),
                dir,
                leads: c.map_or(0, |c| c.leads),
                excluded: c.map_or(0, |c| c.excluded),
                lead_mu: c.map_or(0.0, |c| c.lead_mu),
                clear_share: county_cov.map(|(r, _)| r.clear_share),
            });
            continue;
        }
        let outline = county_outline(j, code, &projection).unwrap_or_default();
        let pkg = write_county(&leads, code, &dir, &ctx, &outline, county_cov)?;
        stamp(&dir, &cfp)?;
        counties.push(pkg);
        progress("counties", k as u64 + 1, codes.len() as u64);
    }
    seconds.insert("package".to_string(), t.elapsed().as_secs_f64());
    let summary = RunSummary {
        job: std::path::absolute(&job.job.path).unwrap_or_else(|_| job.job.path.clone()),
        quarter: job.job.quarter.to_string(),
        out: job.out.clone(),
        backend: detect_summary
            .as_ref()
            .map_or_else(|| "(detect skipped)".into(), |d| d.backend.clone()),
        skipped,
        detect: detect_summary,
        overlay: overlay_summary,
        coverage: cov,
        counties,
        seconds,
        task_window: window.map(Into::into),
    };
    crate::output::write_json(&job.out.join("run.json"), &summary)?;
    Ok(summary)
}
