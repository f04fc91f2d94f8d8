//! `tuban detect`: flags -> [`DetectOptions`], backend choice, run, summary.

use super::{BackendArg, Progress};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use tuban::change::cpu::Driver;
use tuban::change::{EvidenceKind, PipelineConfig, Threshold};
use tuban::classify::ClassifyConf;
use tuban::engine::Backend;
use tuban::gpu::{AdapterChoice, GpuContext};
use tuban::pipeline::detect::{ContextSource, DetectOptions, DetectSummary, detect};
use tuban::raster::pair::PairOptions;

/// Largest `--open` / `--close` radius (px): an opening of 100 px removes every change
/// narrower than 201 px, far past any use.
const MAX_MORPHOLOGY_PX: u32 = 100;

/// Raw flags of `tuban detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// The earlier image (any GDAL raster: GeoTIFF/COG, ENVI, PNG, JPEG, ...).
    #[arg(long)]
    pub before: PathBuf,
    /// The later image, on the same grid (or see --resample).
    #[arg(long)]
    pub after: PathBuf,
    /// Output folder: evidence.tif, change.tif, changes.gpkg (typed polygons), rejected.gpkg
    /// (pseudo-changes), detect.json.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Tile side in pixels (the halo is added on top).
    #[arg(long, default_value_t = tuban::pipeline::detect::DEFAULT_TILE_PX)]
    pub tile: usize,
    /// Bands of the before image, 1-based, optionally with roles: "3,2,1" or "R=3,G=2,B=1,NIR=4".
    #[arg(long)]
    pub bands: Option<String>,
    /// Bands of the after image (default: the same as --bands).
    #[arg(long)]
    pub after_bands: Option<String>,
    /// Warp the after image onto the before grid when CRS, pixel size or alignment differ.
    #[arg(long)]
    pub resample: bool,
    /// Measure the shift between the dates (phase correlation) and read the after image moved
    /// back by it (bilinear).
    #[arg(long)]
    pub coregister: bool,
    /// Read pixels that are 0 in every band as imagery even in blocks of 16² or more, in an
    /// image that declares no nodata (by default such blocks are unimaged fill: nodata).
    #[arg(long)]
    pub zero_is_data: bool,
    /// Evidence: auto, conversion, mbi, msi, cva, sam, brightness, ndvi, ndbi, logratio. auto =
    /// below 5 m pixels (or without georeference) conversion when red and NIR are mapped, else
    /// mbi; cva at 5 m and coarser.
    #[arg(long, default_value = "auto")]
    pub evidence: String,
    /// "auto" (the evidence's rule threshold, 1.0 for conversion, else Otsu), "otsu"
    /// (scene-wide, on a sample) or a fixed evidence value.
    #[arg(long, default_value = "auto")]
    pub threshold: String,
    /// Longest gap in metres joined between collinear fragments of linear change (roads,
    /// railways); 0 = no joining. Default: 50 below 5 m pixels, 0 at 5 m and coarser.
    #[arg(long)]
    pub join: Option<f64>,
    /// Opening radius in pixels (0 = none, at most 100). Default: 1 below 5 m pixels, 0 at 5 m and coarser.
    #[arg(long)]
    pub open: Option<u32>,
    /// Closing radius in pixels (0 = none, at most 100).
    #[arg(long, default_value_t = 1)]
    pub close: u32,
    /// Shortest and longest line of the building index, in pixels (odd): "5,45".
    #[arg(long, default_value = "5,45")]
    pub mbi_lines: String,
    /// Skip the radiometric normalisation of the after image (the ratio kinds conversion, ndvi
    /// and ndbi are never normalised).
    #[arg(long)]
    pub no_normalize: bool,
    /// Do not polygonize the mask into DIR/changes.gpkg.
    #[arg(long)]
    pub no_polygons: bool,
    /// Typing rules: a TOML file with a [classify] table (default: the built-in rules,
    /// src/classify/default_rules.toml).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// A class-code or probability raster on the image grid (from a model) that types the
    /// polygons instead of the rules.
    #[arg(long)]
    pub classes: Option<PathBuf>,
    /// Leave the polygons untyped (no TBLX, no rejected.gpkg).
    #[arg(long, conflicts_with_all = ["rules", "classes", "context"])]
    pub no_classify: bool,
    /// The land-use survey (DLTB, any OGR source): its roads and villages give each polygon
    /// the context features road_m and village_m (classes in the rules' [classify.context]).
    #[arg(long)]
    pub context: Option<String>,
    /// Layer of --context (default: the source's only layer, or DLTB).
    #[arg(long, requires = "context")]
    pub context_layer: Option<String>,
    /// Land-class field of --context (default: DLBM).
    #[arg(long, requires = "context")]
    pub context_field: Option<String>,
    /// Leave polygons smaller than this many mu (1 mu = 666.67 m²) out of changes.gpkg.
    #[arg(long, default_value_t = 0.0)]
    pub min_area_mu: f64,
    /// A change model: ONNX (tuban's own from `tuban train`, or an exported network whose
    /// bands, scaling, tile and output a --model-config file describes) or pixel trees
    /// (MODEL.toml from `tuban train --out MODEL.toml`). Its change probability is the
    /// evidence; --evidence is then ignored.
    #[arg(long, conflicts_with = "evidence")]
    pub model: Option<PathBuf>,
    /// The model's configuration (TOML; default: inside the model, or MODEL.toml beside it).
    #[arg(long, requires = "model")]
    pub model_config: Option<PathBuf>,
    /// Model tile side in pixels (default: the model configuration's).
    #[arg(long, requires = "model")]
    pub model_tile: Option<usize>,
    /// Pixel trees (a .toml model, or the built-in one `--evidence auto` runs on RGB imagery):
    /// score every N-th pixel of every N-th row and take the others bilinear between them
    /// (1: every pixel, 1 to 4; default: the model configuration's, 2 for the built-in model).
    #[arg(long, value_name = "N")]
    pub model_stride: Option<usize>,
    /// A lead model from `tuban learn`: polygons it judges unlikely to be real change go to
    /// rejected.gpkg with the reason; the others get its type (where it learned types) and
    /// p(real) as the confidence.
    #[arg(long, conflicts_with = "no_classify")]
    pub lead_model: Option<PathBuf>,
}

/// The `[classify]` table of a rules file.
fn load_rules(path: &std::path::Path) -> Result<ClassifyConf> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--rules {}: cannot read", path.display()))?;
    ClassifyConf::parse(&text).map_err(|e| anyhow::anyhow!("--rules {}: {e}", path.display()))
}

/// Validated `DetectArgs`.
fn options(a: &DetectArgs) -> Result<DetectOptions> {
    // Before any backend is opened (its report line would come before the error): a missing
    // plain file is named now. GDAL's virtual paths and connection strings go to GDAL.
    for p in [
        Some(&a.before),
        Some(&a.after),
        a.model.as_ref(),
        a.model_config.as_ref(),
        a.lead_model.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        let text = p.to_string_lossy();
        if !tuban::job::is_connection(&text) && !p.exists() {
            bail!("{}: cannot read: no such file", p.display());
        }
    }
    if a.tile < 16 {
        bail!("--tile {}: must be at least 16 pixels", a.tile);
    }
    if !(a.min_area_mu.is_finite() && a.min_area_mu >= 0.0) {
        bail!(
            "--min-area-mu {}: must be a non-negative number",
            a.min_area_mu
        );
    }
    if let Some(t) = a.model_tile
        && !(16..=8192).contains(&t)
    {
        bail!("--model-tile {t}: from 16 to 8192 pixels");
    }
    let evidence = match a.evidence.as_str() {
        "auto" => None,
        s => Some(EvidenceKind::parse(s).map_err(|_| {
            anyhow::anyhow!(
                "--evidence {s:?}: not one of auto, {}",
                EvidenceKind::ALL.map(|k| k.name()).join(", ")
            )
        })?),
    };
    if let Some(j) = a.join
        && !(j.is_finite() && (0.0..=1000.0).contains(&j))
    {
        bail!("--join {j}: expected a gap in metres from 0 to 1000");
    }
    // Each pixel of radius widens every tile's halo by two: --open 100000 read the whole
    // scene around every tile (a 200225-px halo), and removed every change.
    for (name, r) in [("--open", a.open.unwrap_or(0)), ("--close", a.close)] {
        if r > MAX_MORPHOLOGY_PX {
            bail!("{name} {r}: expected a radius in pixels from 0 to {MAX_MORPHOLOGY_PX}");
        }
    }
    let threshold = match a.threshold.as_str() {
        "auto" => Threshold::Auto,
        "otsu" => Threshold::Otsu,
        s => Threshold::Value(
            s.parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .with_context(|| {
                    format!("--threshold {s:?}: expected \"auto\", \"otsu\" or a number")
                })?,
        ),
    };
    let lines: Vec<u32> = a
        .mbi_lines
        .split(',')
        .map(|s| s.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .ok()
        .filter(|v: &Vec<u32>| v.len() == 2 && v[0] >= 1 && v[0] < v[1] && v[1] <= 401)
        .with_context(|| {
            format!(
                "--mbi-lines {:?}: expected two lengths like 5,45 (short < long <= 401)",
                a.mbi_lines
            )
        })?;
    // Read once: the typing rules, and the model raster a rules file may name.
    let rules = a.rules.as_deref().map(load_rules).transpose()?;
    let config = PipelineConfig {
        evidence: evidence.unwrap_or(EvidenceKind::Mbi),
        normalize: !a.no_normalize,
        threshold,
        open_px: a.open.unwrap_or(1),
        close_px: a.close,
        mbi_half_px: ((lines[0] - 1) / 2, (lines[1] - 1) / 2),
        ..PipelineConfig::default()
    };
    Ok(DetectOptions {
        before: a.before.clone(),
        after: a.after.clone(),
        out_dir: a.out.clone(),
        pair: PairOptions {
            bands_before: a.bands.clone(),
            bands_after: a.after_bands.clone(),
            resample: a.resample,
            scratch_dir: None,
            coregister: a.coregister,
            shift_after: None,
            window: None,
            zero_is_data: a.zero_is_data,
        },
        tile_px: a.tile,
        evidence,
        open_px: a.open,
        join_m: a.join,
        classes: match (&a.classes, &a.rules, &rules) {
            (Some(c), _, _) => Some(c.clone()),
            // A rules file may name the model raster, relative to itself.
            (None, Some(r), Some(conf)) => conf
                .classes
                .as_ref()
                .map(|c| r.parent().unwrap_or(std::path::Path::new(".")).join(c)),
            _ => None,
        },
        classify: if a.no_classify {
            None
        } else {
            Some(rules.unwrap_or_default())
        },
        context: a.context.as_ref().map(|path| ContextSource {
            source: tuban::job::LayerSource {
                path: path.clone(),
                layer: a.context_layer.clone(),
                crs: None,
                encoding: None,
                filter: None,
                line: 0,
            },
            class_field: a.context_field.clone(),
        }),
        vectorize: !a.no_polygons,
        min_area_m2: a.min_area_mu * tuban::MU_M2,
        config,
        model: a
            .model
            .as_ref()
            .map(|path| tuban::pipeline::detect::ModelSource {
                path: path.clone(),
                config: a.model_config.clone(),
                tile_px: a.model_tile,
            }),
        model_stride: a.model_stride,
        lead_model: a
            .lead_model
            .as_deref()
            .map(tuban::learn::LeadModelFile::open)
            .transpose()?,
        scene: None,
    })
}

/// Open the GPU the flag asks for; None means the CPU.
pub fn choose_gpu(arg: BackendArg) -> Result<Option<GpuContext>> {
    match arg {
        BackendArg::Cpu => Ok(None),
        BackendArg::Gpu => Ok(Some(
            GpuContext::new(AdapterChoice::Any).context("--backend gpu")?,
        )),
        BackendArg::Auto => match GpuContext::new(AdapterChoice::HardwareOnly) {
            Ok(g) => {
                eprintln!("backend: GPU {}", g.adapter_name());
                Ok(Some(g))
            }
            Err(e) => {
                eprintln!(
                    "backend: CPU ({} threads); {e}",
                    rayon::current_num_threads()
                );
                Ok(None)
            }
        },
    }
}

/// Run `f` with a progress bar on the backend `arg` chooses (see [`choose_gpu`]); in `auto`
/// mode a GPU failure reruns it on the CPU with a warning.
///
/// # Errors
/// Choosing the GPU, or what `f` returns (a GPU error only when the GPU was asked for).
pub fn on_backend<T>(
    arg: BackendArg,
    f: impl Fn(&Backend, tuban::stream::ProgressFn) -> tuban::Result<T>,
) -> Result<T> {
    let gpu = choose_gpu(arg)?;
    let progress = Progress::new();
    let report = |s: &str, d, t| progress.report(s, d, t);
    let f = |b: &Backend| f(b, &report);
    let r = match &gpu {
        Some(g) => match f(&Backend::Gpu(g)) {
            Err(tuban::Error::Gpu(e)) if arg == BackendArg::Auto => {
                eprintln!("warning: GPU failed ({e}); running on the CPU");
                f(&Backend::Cpu(Driver::Rayon))
            }
            r => r,
        },
        None => f(&Backend::Cpu(Driver::Rayon)),
    };
    progress.finish();
    Ok(r?)
}

/// A rough duration in the unit that reads best.
fn duration(s: f64) -> String {
    match s {
        s if s < 90.0 * 60.0 => format!("{:.0} min", s / 60.0),
        s if s < 48.0 * 3600.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

/// Before a long run: the scene's size, its outputs on disk and a rough time.
fn announce(opts: &tuban::pipeline::detect::DetectOptions) {
    let Ok(ds) = gdal::Dataset::open(&opts.before) else {
        return;
    };
    let size = ds.raster_size();
    // `auto` on three colour bands runs the built-in RGB model (the pair's roles decide for
    // certain; three non-alpha bands is what they come to in practice).
    let colour_bands = (1..=ds.raster_count())
        .filter(|&b| {
            ds.rasterband(b).is_ok_and(|band| {
                band.color_interpretation() != gdal::raster::ColorInterpretation::AlphaBand
            })
        })
        .count();
    let model = opts.model.is_some()
        || (opts.evidence.is_none() && opts.pair.bands_before.is_none() && colour_bands == 3);
    let threads = rayon::current_num_threads();
    let e = tuban::pipeline::detect::estimate(size, 0, model, threads);
    if e.cpu_seconds < 60.0 {
        return;
    }
    eprintln!(
        "note: {}x{} px ({:.0} Mpx): outputs about {:.1} GB; roughly {} on {threads} CPU threads at the reference speed ({}; a GPU is faster)",
        size.0,
        size.1,
        e.pixels as f64 / 1e6,
        e.output_bytes / 1e9,
        duration(e.cpu_seconds),
        if model {
            "0.12 Mpx/s a thread with a model"
        } else {
            "3 Mpx/s a thread"
        }
    );
}

pub fn run(a: &DetectArgs) -> Result<()> {
    let opts = options(a)?;
    announce(&opts);
    let summary = on_backend(a.backend, |b, report| detect(&opts, b, report))?;
    print_summary(&summary);
    Ok(())
}

fn print_summary(s: &DetectSummary) {
    for n in &s.notes {
        eprintln!("note: {n}");
    }
    let pct = |x: u64| 100.0 * x as f64 / s.valid_px.max(1) as f64;
    println!(
        "{}x{} px, {} bands, evidence {}, threshold {:.6} ({}), backend {}",
        s.width,
        s.height,
        s.bands,
        match &s.model {
            Some(m) => format!("model {}", m.display()),
            None => s.evidence.to_string(),
        },
        s.threshold,
        s.threshold_method,
        s.backend
    );
    println!(
        "changed {} of {} valid px ({:.2} %); {} near the threshold; {} tiles of {} px (+{} halo)",
        s.changed_px,
        s.valid_px,
        pct(s.changed_px),
        s.near_threshold_px,
        s.tiles,
        s.tile_px,
        s.halo_px
    );
    println!(
        "time: statistics {:.2} s, detect {:.2} s, polygons {:.2} s ({:.1} Mpx/s)",
        s.seconds_statistics, s.seconds_main, s.seconds_vectorize, s.mpx_per_s
    );
    let busy: Vec<String> = s
        .stages
        .iter()
        .map(|t| format!("{} {:.2}", t.stage, t.seconds))
        .collect();
    println!("busy seconds per stage: {}", busy.join(", "));
    println!(
        "wrote {} and {}",
        s.evidence_path.display(),
        s.change_path.display()
    );
    if let (Some(p), Some(n)) = (&s.changes_path, s.polygons) {
        println!("wrote {} ({n} polygons)", p.display());
    }
}
