//! `detect`: two co-registered images in, `evidence.tif` (float32, NaN = nodata) and
//! `change.tif` (uint8 0/1, 255 = nodata) out, streaming tile by tile.
//!
//! Two passes. The statistics pass reads a fixed set of sample cells spread over the scene
//! (independent of `--tile`) to fit the radiometric model and the Otsu threshold. The main pass
//! reads, computes and writes in a bounded pipeline (reader thread -> kernels -> writer thread,
//! two tiles queued per hand-over), so memory is bounded by the tile size, not the scene size.

mod blend;
mod estimate;
mod statistics;
mod tiles;

use blend::Blend;
use estimate::check_disk;
pub use estimate::{Estimate, estimate};
use statistics::{
    band_stats, blend_statistics, coregister, fit_radiometry, measure_registration, sample_cells,
    scene_threshold,
};
pub use tiles::{Counts, crop};
use tiles::{Streamed, class_raster, stream};

use crate::change::profile::{auto_profile, join_px};
use crate::change::{
    CLOUD_REFLECTANCE, DARK_REFLECTANCE, EvidenceKind, MASK_CLASSES, PipelineConfig, Plan,
    Threshold,
};
use crate::classify::ClassifyConf;
use crate::classify::classifier::{Classifier, EvidenceRaster};
use crate::classify::context::{Context, ContextConf};
use crate::classify::external::External;
use crate::classify::features::Measurer;
use crate::classify::near::NearStore;
use crate::engine::Backend;
use crate::error::{Error, Result};
use crate::overlay::layer::{FieldSpec, Fields, WorkCrs, read_layer};
use crate::pipeline::checkpoint;
use crate::pipeline::polygonize::{PolygonizeJob, polygonize};
use crate::raster::grid::TileGrid;
use crate::raster::pair::{DateReaders, PairOptions, ScenePair};
use crate::raster::registration::Registration;
use crate::raster::values::ValueRange;
use crate::raster::writer::{Georef, OutputRaster};
use crate::stream::ProgressFn;
use crate::vectorize::geometry::GeoTransform;
use crate::vectorize::source::Foreground;
use crate::vectorize::stitch::PolygonizeOptions;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The scratch file of the pixels near changes (`classify::near`), in the output folder while
/// a detection runs.
const NEAR_STORE: &str = ".tuban-near.bin";

/// What `detect` needs.
#[derive(Clone, Debug)]
pub struct DetectOptions {
    pub before: PathBuf,
    pub after: PathBuf,
    pub out_dir: PathBuf,
    pub pair: PairOptions,
    pub tile_px: usize,
    /// None: choose from the pixel size (building index below 5 m, change vector above).
    pub evidence: Option<EvidenceKind>,
    /// Also polygonize the mask into `DIR/changes.gpkg` (layer `changes`).
    pub vectorize: bool,
    /// Polygons smaller than this ground area (m²) are left out of `changes.gpkg` (the mask
    /// keeps them); 0 keeps all.
    pub min_area_m2: f64,
    /// None: choose from the pixel size (1 below 5 m; 0 at 5 m and coarser, where one pixel is
    /// already a field-sized object and an opening would erase real change).
    pub open_px: Option<u32>,
    /// Longest gap (m) joined between collinear fragments of linear change; None: the automatic
    /// profile ([`JOIN_GAP_M`] below 5 m pixels, none above); 0: no joining.
    pub join_m: Option<f64>,
    pub config: PipelineConfig,
    /// Type the polygons with these rules (None: untyped polygons).
    pub classify: Option<ClassifyConf>,
    /// A class or probability raster on the image grid that types the polygons instead of the
    /// rules ([`crate::classify::external`]).
    pub classes: Option<PathBuf>,
    /// The land-use survey (DLTB) around the scene: context features for the typing.
    pub context: Option<ContextSource>,
    /// A learned model whose change probability is the evidence ([`crate::model`]).
    pub model: Option<ModelSource>,
    /// Pixel trees (the user's or the built-in model) scored on every n-th pixel and row,
    /// bilinear between (`--model-stride`); None: the model configuration's.
    pub model_stride: Option<usize>,
    /// What field verdicts taught ([`crate::learn`]): judges every typed polygon.
    pub lead_model: Option<crate::learn::LeadModelFile>,
    /// The scene's statistics measured before over a larger scene (a plan's task detects a
    /// window of it): used instead of measuring them on this pair.
    pub scene: Option<SceneStats>,
}

impl DetectOptions {
    /// A detection of `before` and `after` into `out_dir` with the defaults of `tuban detect`:
    /// the automatic profile (evidence, opening, joining from the pixel size), typed polygons
    /// of every size, tiles of [`DEFAULT_TILE_PX`], no model, no context, statistics measured
    /// on the pair. Change what differs with struct update syntax:
    /// `DetectOptions { tile_px: 512, ..DetectOptions::new(b, a, out) }`.
    pub fn new(
        before: impl Into<PathBuf>,
        after: impl Into<PathBuf>,
        out_dir: impl Into<PathBuf>,
    ) -> Self {
        DetectOptions {
            before: before.into(),
            after: after.into(),
            out_dir: out_dir.into(),
            pair: PairOptions::default(),
            tile_px: DEFAULT_TILE_PX,
            evidence: None,
            vectorize: true,
            min_area_m2: 0.0,
            open_px: None,
            join_m: None,
            config: PipelineConfig::default(),
            classify: Some(ClassifyConf::default()),
            classes: None,
            context: None,
            model: None,
            model_stride: None,
            lead_model: None,
            scene: None,
        }
    }
}

/// The scene-wide statistics of a detection: what `detect` measures on samples of the whole
/// pair before the main pass. A plan measures them once over the whole scene and gives them to
/// each task, so that a county's window is judged exactly as the whole scene would be.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct SceneStats {
    /// `[gain, offset]` per band mapping the after image onto the before image.
    pub radiometry: Vec<[f32; 2]>,
    pub threshold: f32,
    /// Per date and band (mean, standard deviation): a model scaled by the scene's statistics.
    pub band_stats: Option<[Vec<(f64, f64)>; 2]>,
    /// The scene threshold of the classical kind a model's `[output.blend]` averages in.
    #[serde(default)]
    pub index_threshold: Option<f32>,
    /// Its radiometry (`[gain, offset]` per band; empty without a blend).
    #[serde(default)]
    pub index_radiometry: Vec<[f32; 2]>,
    /// The after image's shift against the before image.
    pub registration: Option<Registration>,
    /// The shift removed by `--coregister` (the tasks read the after image moved back by it).
    pub coregistered_by: Option<Registration>,
    /// Per date, what its values look like over the registration windows
    /// ([`ScenePair::settle_scales`]).
    #[serde(default)]
    pub value_range: Option<[ValueRange; 2]>,
}

/// A change model to run (`--model`, `--model-config`, `--model-tile`).
#[derive(Clone, Debug)]
pub struct ModelSource {
    pub path: PathBuf,
    /// The sidecar configuration (None: inside the model, or `MODEL.toml` beside it).
    pub config: Option<PathBuf>,
    /// Model tile side (None: the configuration's).
    pub tile_px: Option<usize>,
}

/// A model ready for the tiles: its bands in the scene and each date's scaling.
struct ModelRun {
    model: crate::model::infer::ChangeModel,
    bands: Vec<usize>,
    scaling: crate::model::infer::Scaling,
    tile_px: Option<usize>,
    /// The classical kind averaged in, its threshold measured.
    blend: Option<Blend>,
}

/// A land-use survey layer whose roads and villages give the typing its context
/// ([`crate::classify::context`]).
#[derive(Clone, Debug)]
pub struct ContextSource {
    pub source: crate::job::LayerSource,
    /// Land-class code field; None: `DLBM` (then optional: without it no polygon is context).
    pub class_field: Option<String>,
}

/// What `detect` did, also written to `DIR/detect.json`.
#[derive(Clone, Debug, Serialize)]
pub struct DetectSummary {
    pub before: PathBuf,
    pub after: PathBuf,
    pub width: usize,
    pub height: usize,
    pub pixel_size_m: Option<f64>,
    pub bands: usize,
    pub evidence: &'static str,
    /// The model file behind `evidence = "model"`.
    pub model: Option<PathBuf>,
    /// Pixel trees: scored on every n-th pixel of every n-th row (1: every pixel).
    pub model_stride: Option<usize>,
    /// The lead model that judged the polygons (`--lead-model`).
    pub lead_model: Option<PathBuf>,
    pub backend: String,
    pub tile_px: usize,
    pub halo_px: usize,
    pub tiles: usize,
    /// `[gain, offset]` per band mapping the after image onto the before image.
    pub radiometry: Vec<[f32; 2]>,
    pub threshold: f32,
    pub threshold_method: &'static str,
    pub valid_px: u64,
    pub changed_px: u64,
    /// Pixels whose evidence was within GPU rounding of the threshold.
    pub near_threshold_px: u64,
    /// Valid pixels the cloud test took out (never change; see [`crate::change::CLOUD_REFLECTANCE`]).
    pub cloud_px: u64,
    /// Valid pixels the shadow test took out (never change; see
    /// [`crate::change::DARK_REFLECTANCE`]).
    pub shadow_px: u64,
    /// The after image's shift against the before image, measured by phase correlation (None
    /// when no window was fully valid and textured enough).
    pub registration: Option<Registration>,
    /// With `--coregister`: the shift measured on the input and removed (the after image was
    /// read moved back by it); `registration` is then what remained.
    pub coregistered_by: Option<Registration>,
    pub notes: Vec<String>,
    pub seconds_statistics: f64,
    pub seconds_main: f64,
    pub evidence_path: PathBuf,
    pub change_path: PathBuf,
    /// `DIR/changes.gpkg` and its polygon count, when vectorized.
    pub changes_path: Option<PathBuf>,
    pub polygons: Option<u64>,
    pub seconds_vectorize: f64,
    /// Busy seconds and megapixels (of the scene) per second of every stage: the statistics,
    /// the main pass's reading, kernel steps and writing (which overlap in time), and the
    /// polygons.
    pub stages: Vec<crate::timing::StageTime>,
    /// Scene megapixels per second of the whole run.
    pub mpx_per_s: f64,
}

/// The default detection tile side (pixels; the halo comes on top). The halo of the 0.8 m
/// defaults is 220 px, so 1024-px tiles computed 2.04 times their pixels, 1536-px tiles 1.66
/// times: on a 16384² county 44.2 s -> 37.3 s, peak memory 1.10 -> 1.30 GB (2048 px: 1.81 GB).
pub const DEFAULT_TILE_PX: usize = 1536;

/// Run detection.
///
/// # Errors
/// Any [`Error`] from opening, checking, reading or writing, each naming its file;
/// [`Error::AllNodata`] when no pixel of the overlap is valid in both dates.
///
/// # Examples
/// ```no_run
/// use tuban::change::cpu::Driver;
/// use tuban::engine::Backend;
/// use tuban::pipeline::detect::{DetectOptions, detect};
/// let opts = DetectOptions {
///     tile_px: 1024,
///     ..DetectOptions::new("before.tif", "after.tif", "out")
/// };
/// let summary = detect(&opts, &Backend::Cpu(Driver::Rayon), &|_, _, _| {})?;
/// println!("{} changed pixels", summary.changed_px);
/// # Ok::<(), tuban::Error>(())
/// ```
pub fn detect(
    opts: &DetectOptions,
    backend: &Backend,
    progress: ProgressFn,
) -> Result<DetectSummary> {
    let existed = opts.out_dir.exists();
    let result = detect_into(opts, backend, progress, false).and_then(|(_, summary)| {
        summary.ok_or_else(|| Error::Job {
            path: opts.out_dir.clone(),
            line: 0,
            reason: "detection stopped after its statistics".into(),
        })
    });
    if result.is_err() && !existed {
        // A folder this run made and left empty but for its lock (a missing input, say) is no
        // output: remove it. `remove_dir` fails on a folder that holds anything else.
        let _ = std::fs::remove_file(opts.out_dir.join(super::lock::LOCK_FILE));
        let _ = std::fs::remove_dir(&opts.out_dir);
    }
    result
}

/// Measure a pair's scene-wide statistics only ([`SceneStats`]): what [`detect`] would use,
/// for windows of the pair detected later (`opts.out_dir` is only a work folder).
///
/// # Errors
/// As [`detect`] before its main pass.
pub fn scene_statistics(
    opts: &DetectOptions,
    backend: &Backend,
    progress: ProgressFn,
) -> Result<SceneStats> {
    detect_into(opts, backend, progress, true).map(|(stats, _)| stats)
}

fn detect_into(
    opts: &DetectOptions,
    backend: &Backend,
    progress: ProgressFn,
    statistics_only: bool,
) -> Result<(SceneStats, Option<DetectSummary>)> {
    crate::output::prepare_out_dir(&opts.out_dir)?;
    let _lock = super::lock::FolderLock::acquire(&opts.out_dir)?;
    // The readers keep the halo rows a tile row shares with the next in the cache.
    crate::raster::tune_gdal(256);
    let pair_opts = PairOptions {
        scratch_dir: Some(opts.out_dir.clone()),
        ..opts.pair.clone()
    };
    let pair = ScenePair::open(&opts.before, &opts.after, &pair_opts)?;
    let (mut pair, coregistered_by, coregister_note) = if pair_opts.coregister {
        coregister(pair, opts, &pair_opts)?
    } else {
        (pair, None, None)
    };
    let pixel_size_m = pair.pixel_size_m();
    let Planned {
        mut plan,
        model,
        blend,
        mut notes,
        ring_px,
        grid,
    } = plan_detection(opts, &pair)?;
    let classes = model.as_ref().map_or(0, |(m, _)| m.class_names().len());
    if !statistics_only && !opts.out_dir.join(checkpoint::NAME).exists() {
        check_disk(&opts.out_dir, (pair.width, pair.height), classes)?;
    }

    let t0 = Instant::now();
    let model_path = model.as_ref().map(|(m, _)| m.path.clone());
    let model_stride = model
        .as_ref()
        .filter(|(m, _)| m.graph().is_none())
        .map(|(m, _)| m.config.tile.stride);
    let model_scale = model.as_ref().map(|(m, _)| m.config.input.scale);
    // The statistics pass reads through the two date readers the detection stream then uses.
    let mut readers = DateReaders::open(&pair)?;
    let (stats, model, rule) = measure_scene(
        opts,
        (&mut pair, &mut readers, &grid),
        (&mut plan, &mut notes),
        (model, blend),
        coregistered_by,
        (backend, progress),
    )?;
    if pair.after_value_scale() != pair.value_scale() {
        notes.push(mixed_scales_note(&pair, &plan, model_scale));
    }
    let (registration, coregistered_by) = (stats.registration, stats.coregistered_by);
    let seconds_statistics = t0.elapsed().as_secs_f64();
    if statistics_only {
        return Ok((stats, None));
    }

    let t1 = Instant::now();
    let georef = Georef {
        geo_transform: pair.geo_transform,
        projection: pair.projection.clone(),
    };
    let evidence_path = opts.out_dir.join("evidence.tif");
    let change_path = opts.out_dir.join("change.tif");
    // A per-class model types the polygons through its class probabilities (as --classes does).
    let class_names = model
        .as_ref()
        .map(|m| m.model.class_names())
        .unwrap_or_default();
    let class_path = (!class_names.is_empty()
        && opts.vectorize
        && opts.classify.is_some()
        && opts.classes.is_none())
    .then(|| opts.out_dir.join("classes.tif"));
    let key = checkpoint::key(opts, (pair.width, pair.height), &grid, &plan);
    let log = opts.out_dir.join(checkpoint::NAME);
    // GeoTIFF tiles that divide the detection tiles: every GeoTIFF tile is then written once,
    // whole, by one detection tile, so a kill can never leave a torn one behind (libtiff
    // rewrites a re-encoded tile in place). Other tile sizes run without a checkpoint.
    let block = [512, 256, 128, 64, 32, 16]
        .into_iter()
        .find(|b| grid.tile_px % b == 0);
    let resumable = block.is_some();
    let block = block.unwrap_or(512);
    let (width, height, bands) = (pair.width, pair.height, pair.bands());
    // A run killed while it wrote the polygons left whole rasters: only the polygons again.
    let finished = checkpoint::finished(&log, &key).filter(|_| {
        resumable
            && evidence_path.exists()
            && change_path.exists()
            && class_path.as_ref().is_none_or(|p| p.exists())
    });
    let mut near: Option<(NearStore, usize)> = None;
    let Streamed {
        counts,
        classes,
        timings: stages,
        fill,
    } = match finished {
        Some((counts, classes)) => {
            notes.push(
                "resumed an interrupted run: detection had finished; only the polygons are made again"
                    .into(),
            );
            Streamed {
                counts,
                classes,
                timings: Default::default(),
                fill: Default::default(),
            }
        }
        None => {
            let resumed =
                checkpoint::load(&log, &key)
                    .filter(|_| resumable)
                    .and_then(|(done, counts)| {
                        let ev = OutputRaster::resume(&evidence_path)?;
                        let mask = OutputRaster::resume(&change_path)?;
                        let cls = match &class_path {
                            Some(p) => Some(OutputRaster::resume(p)?),
                            None => None,
                        };
                        Some(((ev, mask, cls), done, counts))
                    });
            let ((ev_out, mask_out, cls_out), done, start) = match resumed {
                Some(r) => r,
                None => {
                    let size = (pair.width, pair.height);
                    let ev = OutputRaster::create_tiled::<f32>(
                        &evidence_path,
                        size,
                        &georef,
                        f64::NAN,
                        // No predictor: the floating-point predictor saved 3 % of the file and tripled
                        // the time to decode it (268 Mpx: 4.2 s against 1.4 s).
                        "PREDICTOR=1",
                        block,
                    )?;
                    let mut mask = OutputRaster::create_tiled::<u8>(
                        &change_path,
                        size,
                        &georef,
                        255.0,
                        "PREDICTOR=1",
                        block,
                    )?;
                    let classes: Vec<String> = MASK_CLASSES
                        .iter()
                        .map(|(v, what)| format!("{v}: {what}"))
                        .collect();
                    mask.set_band_metadata(crate::change::CHANGE_CLASSES_KEY, &classes.join("; "))?;
                    let cls = match &class_path {
                        Some(p) => Some(class_raster(p, size, &georef, &class_names, block)?),
                        None => None,
                    };
                    if resumable {
                        checkpoint::start(&log, &key)?;
                    } else {
                        let _ = std::fs::remove_file(&log);
                    }
                    ((ev, mask, cls), Default::default(), Counts::default())
                }
            };
            if !done.is_empty() {
                notes.push(format!(
                    "resumed an interrupted run: {} of {} tiles were already written",
                    done.len(),
                    grid.len()
                ));
            }
            let resume = checkpoint::Resume {
                done,
                counts: start,
                log: resumable.then(|| log.clone()),
            };
            // A resumed run did not see the tiles written before: typing then reads the images (and
            // the store a killed run left behind goes).
            let near_path = opts.out_dir.join(NEAR_STORE);
            let _ = std::fs::remove_file(&near_path);
            near = match ring_px {
                Some(r) if resume.done.is_empty() => {
                    let store = NearStore::create(&near_path, pair.bands())?
                        .with_min_component_px(never_typed_px(opts.min_area_m2, &pair));
                    Some((store, r))
                }
                _ => None,
            };
            let streamed = stream(
                (&pair, readers),
                &grid,
                &plan,
                (backend, model.as_ref()),
                (ev_out, mask_out, cls_out),
                (resume, near.as_mut().map(|(s, r)| (s, *r))),
                progress,
            )
            .inspect_err(|_| checkpoint::discard_if_empty(&log))?;
            if resumable {
                checkpoint::finish(&log, streamed.classes)?;
            }
            streamed
        }
    };
    // After the main pass: a model's classes.tif is whole only now.
    let classifier = typing(
        opts,
        &pair,
        class_path.as_deref(),
        &evidence_path,
        near.take(),
        &mut notes,
        progress,
    )?;
    let (before_path, after_path) = pair.paths();
    notes.extend(
        [before_path, after_path]
            .into_iter()
            .zip(&fill)
            .filter_map(|(path, zero)| zero.note(path)),
    );
    notes.extend(coregister_note);
    notes.extend(scene_notes(&pair, registration, coregistered_by, &counts));
    let seconds_main = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let vectors = if opts.vectorize {
        let tile_px = polygon_tile_px(opts.tile_px, width);
        Some(polygons(
            opts,
            (&change_path, &evidence_path),
            (classes, tile_px, never_typed_px(opts.min_area_m2, &pair)),
            classifier,
            &mut notes,
            progress,
        )?)
    } else {
        None
    };
    let seconds_vectorize = t2.elapsed().as_secs_f64();
    let mut timings = crate::timing::Timings::default();
    timings.add("statistics", seconds_statistics);
    timings.merge(&stages);
    if opts.vectorize {
        timings.add("polygons", seconds_vectorize);
    }
    let scene_px = (width * height) as u64;
    let seconds_total = seconds_statistics + seconds_main + seconds_vectorize;

    let summary = DetectSummary {
        before: opts.before.clone(),
        after: opts.after.clone(),
        width,
        height,
        pixel_size_m,
        bands,
        evidence: plan.config.evidence.name(),
        model: model_path,
        model_stride,
        lead_model: opts.lead_model.as_ref().map(|l| l.path.clone()),
        backend: backend.name(),
        tile_px: grid.tile_px,
        halo_px: grid.halo_px,
        tiles: grid.len(),
        radiometry: stats.radiometry.clone(),
        threshold: stats.threshold,
        threshold_method: match (plan.config.threshold, rule) {
            (Threshold::Value(_), _) => "user",
            (Threshold::Auto, Some(_)) => "rule",
            (Threshold::Auto | Threshold::Otsu, _) if opts.scene.is_some() => "scene",
            (Threshold::Auto | Threshold::Otsu, _) => "otsu",
        },
        valid_px: counts.valid,
        changed_px: counts.changed,
        near_threshold_px: counts.near,
        cloud_px: counts.cloud,
        shadow_px: counts.shadow,
        registration,
        coregistered_by,
        notes,
        seconds_statistics,
        seconds_main,
        evidence_path,
        change_path,
        changes_path: vectors.as_ref().map(|v| v.path.clone()),
        polygons: vectors.as_ref().map(|v| v.polygons),
        seconds_vectorize,
        stages: timings.report(scene_px),
        mpx_per_s: scene_px as f64 / seconds_total.max(1e-9) / 1e6,
    };
    crate::output::write_json(&opts.out_dir.join("detect.json"), &summary)?;
    let _ = std::fs::remove_file(&log);
    Ok((stats, Some(summary)))
}

/// What detection does with dates of different value conventions (an 8-bit display product and
/// 16-bit or float reflectance).
/// What detection runs with: the kernels' plan (the automatic profile and the options
/// resolved on this pair), the model and its bands, the notes so far, the reach typing needs
/// around changes, and the tile grid whose halo covers every step.
struct Planned {
    plan: Plan,
    model: Option<(crate::model::infer::ChangeModel, Vec<usize>)>,
    /// The classical kind the model's `[output.blend]` averages in.
    blend: Option<Blend>,
    notes: Vec<String>,
    ring_px: Option<usize>,
    grid: TileGrid,
}

/// The plan for `pair`: the automatic profile for its pixel size and bands, overridden by the
/// options; a user's or the built-in model; the screens on reflectance products; the tiles.
fn plan_detection(opts: &DetectOptions, pair: &ScenePair) -> Result<Planned> {
    let pixel_size_m = pair.pixel_size_m();
    let mut config = opts.config.clone();
    let auto = auto_profile(pixel_size_m, &pair.roles);
    config.evidence = opts.evidence.unwrap_or(auto.evidence);
    let mut model = match &opts.model {
        Some(m) => {
            let model = crate::model::infer::ChangeModel::load(&m.path, m.config.as_deref())?;
            let bands = model.band_indices(&pair.roles, pair.bands(), &opts.before)?;
            Some((model, bands))
        }
        // `auto` on imagery with red, green and blue but no NIR, finer than 5 m: the built-in
        // pixel trees (imagery whose R, G, B cannot be told keeps the building index).
        None if opts.evidence.is_none() && config.evidence == EvidenceKind::Mbi => {
            let model = crate::model::infer::ChangeModel::builtin_rgb();
            model
                .band_indices(&pair.roles, pair.bands(), &opts.before)
                .ok()
                .map(|bands| (model, bands))
        }
        None => None,
    };
    let mut notes = pair.notes.clone();
    match (&mut model, opts.model_stride) {
        (Some((m, _)), Some(stride)) => m.set_stride(stride)?,
        (None, Some(stride)) => notes.push(format!(
            "--model-stride {stride} ignored: no model runs (the evidence is {})",
            config.evidence.name()
        )),
        _ => {}
    }
    if let Some((m, _)) = &model {
        config.evidence = EvidenceKind::Model;
        config.model_reach_px = m.reach_px();
    }
    // A model's `[output.blend]`: the classical kind runs on the same tiles, whose halo covers
    // the farther reach of the two.
    let blend = match &model {
        Some((m, _)) => match &m.config.output.blend {
            Some(b) => {
                let blend = Blend::new(
                    b,
                    m.config.output.threshold,
                    &config,
                    pair.bands(),
                    pair.roles,
                )
                .map_err(|reason| Error::Model {
                    path: m.path.clone(),
                    reason,
                })?;
                blend.plan.check_roles(&opts.before)?;
                config.model_reach_px = config.model_reach_px.max(blend.reach_px() as u32);
                Some(blend)
            }
            None => None,
        },
        None => None,
    };
    config.open_px = opts.open_px.unwrap_or(auto.open_px);
    (config.join_half_px, config.join_wide_px) = match opts.join_m {
        None => (auto.join_half_px, auto.join_wide_px),
        Some(m) if m > 0.0 => join_px(m, pixel_size_m),
        Some(_) => (0, 0),
    };
    if config.evidence == EvidenceKind::Conversion {
        config.rows_half_px = auto.rows_half_px;
    }
    let mut plan = Plan::new(config, pair.bands(), pair.roles);
    plan.check_roles(&opts.before)?;
    // A model the user did not name is the built-in one `auto` chose above.
    if opts.model.is_none() && model.is_some() {
        notes.push(BUILTIN_RGB_NOTE.to_string());
    }
    set_value_thresholds(&mut plan, pair);
    // Typing measures each polygon over the shadow ring around it: the main pass keeps the
    // pixels within that reach of a change (its halo must see that far past the core).
    let ring_px = match (&opts.classify, opts.vectorize) {
        (Some(conf), true) => Some(ring_px(conf, pair)),
        _ => None,
    };
    let halo = plan.halo_px().max(ring_px.unwrap_or(0));
    let grid = TileGrid::new(pair.width, pair.height, opts.tile_px, halo);
    Ok(Planned {
        plan,
        model,
        blend,
        notes,
        ring_px,
        grid,
    })
}

/// The screens' and the bright arm's values in the pair's band units.
fn set_value_thresholds(plan: &mut Plan, pair: &ScenePair) {
    // Reflectance products only (16-bit x 10000 or float): 8-bit images are display-stretched.
    // The screens read the after image, on its own scale (with a 16-bit before image and an
    // 8-bit after one, every after pixel was under the shadow value: no change at all).
    let scale = pair.after_value_scale();
    let conversion = plan.config.evidence == EvidenceKind::Conversion;
    let reflectance = conversion && crate::raster::values::is_reflectance(scale);
    plan.cloud_value = if reflectance {
        (CLOUD_REFLECTANCE * scale) as f32
    } else {
        0.0
    };
    plan.dark_value = if reflectance {
        (DARK_REFLECTANCE * scale) as f32
    } else {
        0.0
    };
    // The bright arm compares the two dates' brightness directly (the conversion evidence is
    // not normalised): only for dates on one scale.
    plan.bright_value = if conversion && scale == pair.value_scale() {
        (crate::change::conversion::BRIGHT_RISE * scale) as f32
    } else {
        0.0
    };
}

/// Said when `--evidence auto` runs the built-in RGB model: it knows the sources it was
/// trained on and falls below the building index on others (README, "Across datasets").
pub const BUILTIN_RGB_NOTE: &str = "evidence: the built-in RGB model, pixel trees trained on LEVIR-CD, WHU-CD and DSIFN-CD (Google Earth and aerial RGB, 0.3-2 m) averaged with the building index; on imagery of another source it scores below the building index alone (held-out-dataset pixel F1 0.20-0.29 against 0.33-0.45): there, run --evidence mbi or a model trained on that source's verified leads";

/// What the run must tell about the scene: a co-registration done, a shift left between the
/// dates, the shares of shadow and cloud.
fn scene_notes(
    pair: &ScenePair,
    registration: Option<Registration>,
    coregistered_by: Option<Registration>,
    counts: &Counts,
) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(c) = coregistered_by {
        let remains = registration.map_or_else(
            || "the remaining shift could not be measured".to_string(),
            |r| format!("what remains: ({:+.2}, {:+.2}) px", r.dx_px, r.dy_px),
        );
        notes.push(format!(
            "co-registered: the after image was read moved by ({:+.2}, {:+.2}) px (bilinear), the shift measured between the dates; {remains}",
            -c.dx_px, -c.dy_px
        ));
    }
    if let Some(r) = registration.filter(|r| r.length_px() >= crate::raster::registration::WARN_PX)
    {
        let metres = pair
            .pixel_size_m()
            .map(|g| format!(" ({:.2} m)", r.length_px() * g))
            .unwrap_or_default();
        notes.push(format!(
            "the after image is shifted by ({:+.2}, {:+.2}) px{metres} against the before image (phase correlation of {} windows, spread {:.2} px): every edge shows as change; co-register the dates first (--coregister, or warp the after image to ground control)",
            r.dx_px, r.dy_px, r.used, r.spread_px
        ));
    }
    if counts.shadow * 100 >= counts.valid.max(1) {
        notes.push(format!(
            "{:.1} % of the valid pixels are in shadow in the after image (visible reflectance < {}): never change there; what lies under them cannot be seen",
            100.0 * counts.shadow as f64 / counts.valid.max(1) as f64,
            DARK_REFLECTANCE
        ));
    }
    if counts.cloud * 100 >= counts.valid.max(1) {
        // Nearly every pixel bright: an overcast pair, or values that are not reflectance (a
        // product with an offset, Landsat Collection 2's reflectance 0 at 7273, read as x 10000).
        let hint = if counts.cloud * 100 >= counts.valid.max(1) * 99 {
            "; if the images are not overcast, their values are not reflectance: a product whose numbers carry an offset (Landsat Collection 2 keeps reflectance 0 at 7273: scale 0.0000275, offset -0.2) needs its bands' scale and offset set (gdal_edit.py -scale 0.0000275 -offset -0.2 FILE) or reflectance given"
        } else {
            ""
        };
        notes.push(format!(
            "{:.1} % of the valid pixels are cloud in the after or the before image (visible reflectance >= {}): never change there; what lies under them, or lay under them before, cannot be seen{hint}",
            100.0 * counts.cloud as f64 / counts.valid.max(1) as f64,
            CLOUD_REFLECTANCE
        ));
    }
    notes
}

/// The classifier that types polygons as they are written, when they are typed: the rules or
/// a class raster, the context layer, the pixels the main pass kept near changes (when the
/// store is complete), the lead model.
fn typing(
    opts: &DetectOptions,
    pair: &ScenePair,
    class_path: Option<&Path>,
    evidence_path: &Path,
    near: Option<(NearStore, usize)>,
    notes: &mut Vec<String>,
    progress: ProgressFn,
) -> Result<Option<std::sync::Arc<Classifier>>> {
    Ok(match (&opts.classify, opts.vectorize) {
        (Some(conf), true) => {
            let context = match &opts.context {
                Some(c) => {
                    let ctx = read_context(c, &conf.context, pair, progress)?;
                    notes.push(format!(
                        "context from {}: {} road and {} village polygons within {} m of the scene",
                        c.source.path, ctx.counts.0, ctx.counts.1, conf.context.search_m
                    ));
                    Some(ctx)
                }
                None => None,
            };
            let mut c = classifier(
                conf,
                opts.classes.as_deref().or(class_path),
                pair,
                &opts.out_dir,
                evidence_path,
                context,
            )?;
            if let Some((store, _)) = near.filter(|(s, _)| s.complete()) {
                c.measurer.read_from(Box::new(store));
            }
            c.leads = opts.lead_model.as_ref().map(|l| l.model.clone());
            Some(std::sync::Arc::new(c))
        }
        _ => None,
    })
}

/// The typed polygons of the mask, written to `changes.gpkg` (pseudo-changes to
/// `rejected.gpkg`), one pass per mask class that occurs.
fn polygons(
    opts: &DetectOptions,
    (change_path, evidence_path): (&Path, &Path),
    (classes, tile_px, min_pixels): (u32, usize, u64),
    classifier: Option<std::sync::Arc<Classifier>>,
    notes: &mut Vec<String>,
    progress: ProgressFn,
) -> Result<crate::pipeline::polygonize::PolygonizeSummary> {
    let job = PolygonizeJob {
        mask: change_path.to_path_buf(),
        out: opts.out_dir.join("changes.gpkg"),
        evidence: Some(evidence_path.to_path_buf()),
        // Only the classes that occur: each is a pass over the mask.
        foreground: Foreground::Classes(classes),
        tile_px,
        // Components too small to reach the minimum area are dropped as they are found, not
        // assembled, measured and then dropped (holes are not filled here, so a component's
        // area is its pixels').
        options: PolygonizeOptions {
            min_pixels,
            ..PolygonizeOptions::default()
        },
        min_area_m2: opts.min_area_m2,
        fill_holes_m2: 0.0,
        simplify_m2: 0.0,
        layer: "changes".into(),
        classify: classifier.clone(),
    };
    let done = polygonize(&job, progress)?;
    if let (Some(c), Some(l)) = (&classifier, &opts.lead_model) {
        use std::sync::atomic::Ordering::Relaxed;
        notes.push(format!(
            "lead model {}: {} of {} typed polygons set aside to rejected.gpkg (p(real) under {:.3})",
            l.path.display(),
            c.set_aside.load(Relaxed),
            c.judged.load(Relaxed),
            l.model.threshold
        ));
    }
    Ok(done)
}

/// The statistics pass, or the statistics given (a cluster task uses the plan's): samples,
/// registration, the radiometric fit, a model's scene scaling and the threshold, set on `plan`;
/// the scale `pair`'s values show ([`ScenePair::settle_scales`], with its notes). Returns them with the model ready to run and the rule threshold of the evidence, if any.
fn measure_scene(
    opts: &DetectOptions,
    (pair, readers, grid): (&mut ScenePair, &mut DateReaders, &TileGrid),
    (plan, notes): (&mut Plan, &mut Vec<String>),
    (model, blend): (
        Option<(crate::model::infer::ChangeModel, Vec<usize>)>,
        Option<Blend>,
    ),
    coregistered_by: Option<Registration>,
    (backend, progress): (&Backend, ProgressFn),
) -> Result<(SceneStats, Option<ModelRun>, Option<f32>)> {
    let given = opts.scene.as_ref();
    // The most pixels the main pass reads at once: statistics may compute as many.
    let window_px = (grid.tile_px + 2 * grid.halo_px).pow(2);
    // A given scene needs no samples of this window.
    let samples = match given {
        Some(_) => Vec::new(),
        None => sample_cells(readers, grid)?,
    };
    let (registration, value_range) = match given {
        Some(g) => (g.registration, g.value_range),
        None => {
            let (r, range) = measure_registration(readers, grid)?;
            (r, Some(range))
        }
    };
    // The values may show an image is not reflectance: settled before anything reads the
    // plan's screens (an Otsu threshold of the conversion evidence over the sample cells).
    if let Some(ranges) = value_range {
        let settled = pair.settle_scales(ranges);
        if !settled.is_empty() {
            set_value_thresholds(plan, pair);
            notes.extend(settled);
        }
    }
    let coregistered_by = match given {
        Some(g) => g.coregistered_by.or(coregistered_by),
        None => coregistered_by,
    };
    if let Some(g) = given {
        if g.radiometry.len() != plan.bands {
            return Err(Error::Job {
                path: opts.before.clone(),
                line: 0,
                reason: format!(
                    "the scene statistics given are for {} bands, the pair has {}",
                    g.radiometry.len(),
                    plan.bands
                ),
            });
        }
        plan.set_radiometry(&g.radiometry);
    } else if plan.config.normalize && !plan.config.evidence.is_ratio_index() {
        plan.coeffs = fit_radiometry(readers, &samples)?;
    }
    // The band statistics a model scaled by the scene's used, given or measured.
    let mut scene_band_stats = None;
    let model = match model {
        Some((model, bands)) => {
            // Only `scale = "scene"` reads the scene's statistics: the others skip the pass.
            let stats = match (model.config.input.scale, given) {
                (crate::model::config::Scale::Scene, given) => {
                    let s = match given {
                        Some(g) => g.band_stats.clone().unwrap_or_default(),
                        None => band_stats(readers, &samples)?,
                    };
                    scene_band_stats = Some(s.clone());
                    s
                }
                _ => Default::default(),
            };
            let scaling = model.scaling(&bands, &stats);
            let tile_px = opts.model.as_ref().and_then(|m| m.tile_px);
            let blend = blend
                .map(|b| {
                    blend_statistics(
                        b,
                        given,
                        (readers, &samples),
                        (backend, window_px, progress),
                        &opts.before,
                    )
                })
                .transpose()?;
            Some(ModelRun {
                model,
                bands,
                scaling,
                tile_px,
                blend,
            })
        }
        None => None,
    };
    let rule = match &model {
        Some(ModelRun { blend: Some(b), .. }) => Some(b.threshold),
        Some(m) => Some(m.model.config.output.threshold),
        None => plan.config.evidence.rule_threshold(),
    };
    plan.threshold = match (plan.config.threshold, rule, given) {
        (Threshold::Value(t), _, _) => t,
        (Threshold::Auto, Some(t), _) => t,
        (_, _, Some(g)) => g.threshold,
        (Threshold::Auto | Threshold::Otsu, _, None) => {
            scene_threshold(readers, plan, (backend, window_px), &samples, progress)?
        }
    };
    let index = model.as_ref().and_then(|m| m.blend.as_ref());
    let stats = SceneStats {
        radiometry: plan.radiometry(),
        threshold: plan.threshold,
        band_stats: scene_band_stats,
        index_threshold: index.map(|b| b.plan.threshold),
        index_radiometry: index.map(|b| b.plan.radiometry()).unwrap_or_default(),
        registration,
        coregistered_by,
        value_range,
    };
    Ok((stats, model, rule))
}

/// Change components of fewer pixels can never become a polygon of `min_area_m2`: the
/// threshold in pixels of the scene's nominal pixel size, with a fifth to spare for the
/// geodesic area of geographic grids and the pixel size's variation over a scene. 0 (keep
/// everything) without a ground pixel size.
fn never_typed_px(min_area_m2: f64, pair: &ScenePair) -> u64 {
    match pair.pixel_size_m() {
        Some(g) if g > 0.0 && min_area_m2 > 0.0 => (0.8 * min_area_m2 / (g * g)).floor() as u64,
        _ => 0,
    }
}

fn mixed_scales_note(
    pair: &ScenePair,
    plan: &Plan,
    model_scale: Option<crate::model::config::Scale>,
) -> String {
    use crate::model::config::Scale;
    let (b, a) = pair.paths();
    let how = if let Some(scale) = model_scale {
        if scale == Scale::Scene {
            "the model scales each date by its own mean and deviation, so the scales do not matter, but a display stretch changes the look: check the result"
        } else {
            "the model reads both dates with one fixed scaling (its configuration's), so one of them is off its scale: bring both to one (gdal_translate -scale) or expect wrong evidence"
        }
    } else if plan.config.evidence.is_ratio_index() {
        "the evidence compares band ratios (NDVI), which do not depend on the scale, but a display stretch moves them: check the result"
    } else if plan.config.normalize {
        "the radiometric normalisation fits the after image onto the before one"
    } else {
        "without normalisation (--no-normalize) the evidence compares values on different scales: expect change everywhere or nowhere"
    };
    format!(
        "{} is {} and {} is {}: {how}; the cloud and shadow screens and the typing read each date on its own scale",
        b.display(),
        ScenePair::scale_name(pair.value_scale()),
        a.display(),
        ScenePair::scale_name(pair.after_value_scale())
    )
}

/// The polygon pass's tile side: the detection tile, but short enough on wide scenes that a
/// row of tiles (flags per class, labels, the evidence: about 16 bytes per pixel) stays under
/// 512 MB (a 40000-px-wide scene with 1536-px rows peaked at 3 GB), in multiples of the
/// GeoTIFF block (512) from 512 up.
fn polygon_tile_px(tile_px: usize, width: usize) -> usize {
    let fit = (512usize << 20) / (16 * width.max(1));
    let fit = if fit >= 512 {
        fit / 512 * 512
    } else {
        fit.max(256)
    };
    tile_px.max(256).min(fit)
}

/// The radius of the shadow ring typing measures around a polygon, pixels.
fn ring_px(conf: &ClassifyConf, pair: &ScenePair) -> usize {
    let pixel_m = pair.pixel_size_m().filter(|g| *g > 0.0).unwrap_or(1.0);
    (conf.shadow_ring_m / pixel_m).ceil().max(1.0) as usize
}

/// The classifier of a pair: the rules, the shadow ring in pixels, and the external raster
/// (opened and checked against the grid now, before any work).
fn classifier(
    conf: &ClassifyConf,
    classes: Option<&Path>,
    pair: &ScenePair,
    out_dir: &Path,
    evidence: &Path,
    context: Option<Context>,
) -> Result<Classifier> {
    let pixel_m = pair.pixel_size_m().filter(|g| *g > 0.0).unwrap_or(1.0);
    let external = classes
        .map(|p| External::open(p, pair.geo_transform, pair.width, pair.height))
        .transpose()?;
    Ok(Classifier {
        conf: conf.clone(),
        measurer: Measurer::new(pair.try_clone()?, conf.scale, ring_px(conf, pair)),
        external,
        pixel_m,
        rejected: out_dir.join("rejected.gpkg"),
        evidence: Some(EvidenceRaster::new(evidence)),
        scene_width: pair.width,
        context,
        leads: None,
        judged: Default::default(),
        set_aside: Default::default(),
    })
}

/// The roads and villages of the land-use survey around the scene (its extent grown by the
/// search distance), reprojected into the scene's CRS.
///
/// # Errors
/// [`Error::Param`] for imagery without georeference; the layer's errors naming the source.
fn read_context(
    c: &ContextSource,
    conf: &ContextConf,
    pair: &ScenePair,
    progress: ProgressFn,
) -> Result<Context> {
    let (Some(gt), Some(pixel_m)) = (pair.geo_transform, pair.pixel_size_m()) else {
        return Err(Error::Param {
            name: "context",
            reason: format!(
                "{}: the imagery has no georeference, so the land-use survey cannot be placed on it",
                pair.paths().0.display()
            ),
        });
    };
    let work = WorkCrs::from_wkt(&pair.projection, &pair.paths().0.display().to_string())?;
    // The scene's extent in its CRS, grown by the search distance.
    let units = conf.search_m / pixel_m * gt[1].abs().max(gt[5].abs());
    let scene = GeoTransform(gt).extent(pair.width, pair.height);
    let extent = geo::Rect::new(
        geo::coord! { x: scene.min().x - units, y: scene.min().y - units },
        geo::coord! { x: scene.max().x + units, y: scene.max().y + units },
    );
    let field = [FieldSpec::mapped("class", &c.class_field, "DLBM")];
    let mut kept = Vec::new();
    read_layer(
        &c.source,
        "DLTB",
        Fields::Named(&field),
        Some(&work),
        Some(extent),
        &|d, t| progress("context", d, t),
        |batch| {
            for f in batch {
                if let Some(kind) = f.attrs[0].as_deref().and_then(|code| conf.kind(code)) {
                    kept.push((kind, f.geom));
                }
            }
            Ok(())
        },
    )?;
    Ok(Context::new(kept, conf.search_m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygon_tiles_shrink_on_wide_scenes_only() {
        assert_eq!(polygon_tile_px(1536, 4096), 1536);
        assert_eq!(polygon_tile_px(1536, 16384), 1536);
        assert_eq!(polygon_tile_px(1536, 40000), 512);
        assert_eq!(polygon_tile_px(100, 1000), 256);
        assert_eq!(polygon_tile_px(1536, 1_000_000), 256);
        for w in [1usize, 5000, 30000, 70000, 400_000] {
            let t = polygon_tile_px(1536, w);
            assert!(
                (256..=1536).contains(&t) && (t <= 512 || t % 512 == 0),
                "{w}: {t}"
            );
        }
    }
}
