//! Training pairs from folders: a change-detection dataset (`A/`, `B/`, `label/` with matching
//! file names, the layout of LEVIR-CD, WHU-CD, DSIFN-CD) or a tuban job/synth folder
//! (`before.tif`, `after.tif`, `truth.tif`, optional `clouds.tif` whose pixels are not scored).
//! Images are read through the same [`ScenePair`] as `detect` (band roles, nodata, value scale),
//! so a model sees at training what it will see at detection.

use super::config::{
    BlendConf, InputConf, Layout, METADATA_KEY, ModelConfig, OutputConf, OutputKind, Scale,
    TileConf,
};
use super::pixel::{TrainedTrees, TreesOptions};
use super::train::{TrainOptions, TrainPair, Trained, train};
use crate::raster::grid::Window;
use crate::raster::pair::{PairOptions, ScenePair};
use crate::{Error, Result};
use gdal::Dataset;
use std::path::{Path, PathBuf};

/// Label value of a pixel that is not scored.
pub use super::train::IGNORE;

/// The files of one training pair.
#[derive(Clone, Debug, PartialEq)]
pub struct PairFiles {
    pub name: String,
    pub before: PathBuf,
    pub after: PathBuf,
    pub label: PathBuf,
    /// Pixels > 0 here are not scored (clouds of a synth scene).
    pub not_scored: Option<PathBuf>,
    /// How the labels read: class codes (> 0 is change: `truth.tif`), 0/255 or 0/1 images,
    /// or polygons of verified change rasterised onto the image grid.
    pub labels: LabelKind,
}

/// The form of a pair's labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelKind {
    /// A raster of class codes: any code > 0 is change.
    Codes,
    /// A 0/255 or 0/1 image.
    Binary,
    /// A vector layer (GeoPackage, Shapefile, GeoJSON): every polygon is verified change, the
    /// rest of the image is not.
    Polygons,
}

/// Vector label files a job folder may hold instead of `truth.tif`, in this order.
const POLYGON_LABELS: [&str; 3] = ["labels.gpkg", "labels.shp", "labels.geojson"];

/// The pairs of one folder.
///
/// # Errors
/// [`Error::Param`] naming the folder when it has neither layout or a file has no match.
pub fn list_pairs(dir: &Path) -> Result<Vec<PairFiles>> {
    let bad = |reason: String| Error::Param {
        name: "--pairs",
        reason: format!("{}: {reason}", dir.display()),
    };
    if dir.join("before.tif").exists() {
        let polygons = POLYGON_LABELS
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.exists());
        let (truth, labels) = match (dir.join("truth.tif"), polygons) {
            (t, _) if t.exists() => (t, LabelKind::Codes),
            (_, Some(p)) => (p, LabelKind::Polygons),
            _ => {
                return Err(bad(format!(
                    "has before.tif but no labels: truth.tif (class codes) or {} (polygons of verified change)",
                    POLYGON_LABELS.join(", ")
                )));
            }
        };
        let clouds = Some(dir.join("clouds.tif")).filter(|p| p.exists());
        let name = dir
            .file_name()
            .map_or("pair".into(), |n| n.to_string_lossy().into_owned());
        return Ok(vec![PairFiles {
            name,
            before: dir.join("before.tif"),
            after: dir.join("after.tif"),
            label: truth,
            not_scored: clouds,
            labels,
        }]);
    }
    let (a, b, l) = (dir.join("A"), dir.join("B"), dir.join("label"));
    if !(a.is_dir() && b.is_dir() && l.is_dir()) {
        return Err(bad("expected A/, B/ and label/ (a change-detection dataset) or before.tif, after.tif and truth.tif".into()));
    }
    let mut names: Vec<String> = std::fs::read_dir(&a)
        .map_err(|e| bad(e.to_string()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.ends_with(".aux.xml"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for n in names {
        let (pb, pl) = (b.join(&n), l.join(&n));
        if !pb.exists() || !pl.exists() {
            return Err(bad(format!("A/{n} has no matching B/{n} and label/{n}")));
        }
        out.push(PairFiles {
            name: n.clone(),
            before: a.join(&n),
            after: pb,
            label: pl,
            not_scored: None,
            labels: LabelKind::Binary,
        });
    }
    if out.is_empty() {
        return Err(bad("A/ holds no image".into()));
    }
    Ok(out)
}

/// Read one pair: the model bands of both dates (scaled by each date's own mean and standard
/// deviation, as `scale = "scene"` does at detection) and the labels (0, 1, [`IGNORE`]).
///
/// # Errors
/// The reader's errors naming the file (unreadable, grids that differ, labels of another size).
pub fn load_pair(files: &PairFiles, pair_opts: &PairOptions, spec: &[String]) -> Result<TrainPair> {
    let PairFiles {
        name,
        before,
        after,
        label,
        not_scored,
        labels: kind,
    } = files;
    let pair = ScenePair::open(before, after, pair_opts)?;
    let (w, h) = (pair.width, pair.height);
    let bands = super::config::resolve_bands(spec, &pair.roles, pair.bands(), before).map_err(
        |reason| Error::Param {
            name: "--bands",
            reason,
        },
    )?;
    let input = pair.read(Window {
        x: 0,
        y: 0,
        width: w,
        height: h,
    })?;
    let labels = match kind {
        LabelKind::Polygons => {
            let grid = crate::eval::io::Grid {
                width: w,
                height: h,
                // Without georeference, polygons are in pixel units (GDAL's default transform).
                geo_transform: pair.geo_transform.unwrap_or([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
                projection: pair.projection.clone(),
                source: files.before.clone(),
            };
            let loaded = crate::eval::io::load(label, &grid)?;
            // A ledger export carries leads verified false too: their ground is no change.
            let not_real = false_verdicts(label)?;
            let real: Vec<bool> = loaded.fids.iter().map(|f| !not_real.contains(f)).collect();
            loaded
                .layer
                .ids
                .iter()
                .map(|&i| {
                    let change = i > 0 && real.get(i as usize - 1).copied().unwrap_or(true);
                    if change { 1.0 } else { 0.0 }
                })
                .collect()
        }
        LabelKind::Codes | LabelKind::Binary => read_band(label, (w, h))?,
    };
    let not_scored = not_scored
        .as_ref()
        .map(|c| read_band(c, (w, h)))
        .transpose()?;
    // Class codes and polygons: any is change. Label images: 0/255 (255 is change) or 0/1.
    let max = labels.iter().copied().fold(0.0f32, f32::max);
    let cut = match kind {
        LabelKind::Codes | LabelKind::Polygons => 0.0,
        LabelKind::Binary if max > 1.0 => 127.0,
        LabelKind::Binary => 0.5,
    };
    let mut lab: Vec<u8> = labels
        .iter()
        .zip(&input.valid)
        .map(|(&v, &ok)| if ok == 0 { IGNORE } else { u8::from(v > cut) })
        .collect();
    if let Some(nc) = not_scored {
        for (l, &c) in lab.iter_mut().zip(&nc) {
            if c > 0.0 {
                *l = IGNORE;
            }
        }
    }
    let plane = w * h;
    let scale = |src: &[f32]| -> Vec<f32> {
        let mut out = Vec::with_capacity(bands.len() * plane);
        for &b in &bands {
            let p = &src[b * plane..(b + 1) * plane];
            let mut moments = super::infer::Moments::default();
            moments.add(p, &input.valid);
            let (m, s) = moments.mean_std();
            out.extend(p.iter().zip(&input.valid).map(|(&v, &ok)| {
                if ok != 0 && v.is_finite() {
                    ((f64::from(v) - m) / s) as f32
                } else {
                    0.0
                }
            }));
        }
        out
    };
    Ok(TrainPair {
        name: name.clone(),
        source: before
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new(""))
            .display()
            .to_string(),
        width: w,
        height: h,
        bands: bands.len(),
        before: scale(&input.before),
        after: scale(&input.after),
        label: lab,
    })
}

/// The first band of a label raster on the image grid.
fn read_band(path: &Path, (w, h): (usize, usize)) -> Result<Vec<f32>> {
    let open = |e: gdal::errors::GdalError| Error::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let ds = Dataset::open(path).map_err(open)?;
    let (lw, lh) = ds.raster_size();
    if (lw, lh) != (w, h) {
        return Err(Error::Open {
            path: path.to_path_buf(),
            reason: format!("labels are {lw} x {lh}, the images {w} x {h}"),
        });
    }
    let band = ds.rasterband(1).map_err(open)?;
    let buf = band
        .read_as::<f32>((0, 0), (w, h), (w, h), None)
        .map_err(open)?;
    Ok(buf.data().to_vec())
}

/// What every kind of model learns from: folders of pairs read with the model's bands.
#[derive(Clone, Debug)]
pub struct TrainData {
    /// Folders of pairs ([`list_pairs`]).
    pub pairs: Vec<PathBuf>,
    /// Model bands by role or number (default R, G, B).
    pub bands: Vec<String>,
    pub pair: PairOptions,
}

/// What `tuban train` does.
#[derive(Clone, Debug)]
pub struct TrainJob {
    pub data: TrainData,
    /// The model file to write (ONNX, configuration inside).
    pub out: PathBuf,
    pub options: TrainOptions,
    /// Probability from which detection calls a pixel change (stored in the model).
    pub threshold: f32,
    /// The model's `[output.blend]` (`--blend`).
    pub blend: Option<BlendConf>,
}

/// What `tuban train` does for pixel trees ([`super::pixel`]).
#[derive(Clone, Debug)]
pub struct TreesJob {
    /// Three model bands (R, G, B or any three).
    pub data: TrainData,
    /// The model file to write (TOML).
    pub out: PathBuf,
    pub options: TreesOptions,
    /// Probability from which detection calls a pixel change; None: the one that scored best
    /// on the validation pairs (0.3 without validation).
    pub threshold: Option<f32>,
    /// The model's `[output.blend]` (`--blend`).
    pub blend: Option<BlendConf>,
    /// Detection scores every `stride`-th pixel and row (`tile.stride`).
    pub stride: usize,
}

/// What `tuban train` did for pixel trees; also written beside the model as `MODEL.json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TreesReport {
    pub model: PathBuf,
    pub config: ModelConfig,
    pub trained: TrainedTrees,
    pub seconds: f64,
}

/// Every pair of the folders, read with the model bands.
fn load_all(data: &TrainData, progress: crate::stream::ProgressFn) -> Result<Vec<TrainPair>> {
    let mut files = Vec::new();
    for dir in &data.pairs {
        files.extend(list_pairs(dir)?);
    }
    let mut pairs = Vec::with_capacity(files.len());
    for (k, f) in files.iter().enumerate() {
        pairs.push(load_pair(f, &data.pair, &data.bands)?);
        progress("reading pairs", k as u64 + 1, files.len() as u64);
    }
    if pairs.iter().all(|p| p.label.iter().all(|&l| l != 1)) {
        return Err(Error::Param {
            name: "--pairs",
            reason: "no pair has a single change pixel to learn from".into(),
        });
    }
    Ok(pairs)
}

/// The configuration of a model tuban trained: `bands` scaled by scene statistics, one
/// probability out.
fn own_config(
    bands: &[String],
    tile: TileConf,
    threshold: f32,
    blend: Option<BlendConf>,
) -> ModelConfig {
    ModelConfig {
        input: InputConf {
            layout: Layout::Pair,
            bands: bands.to_vec(),
            scale: Scale::Scene,
            mean: Vec::new(),
            std: Vec::new(),
            min: Vec::new(),
            max: Vec::new(),
        },
        tile,
        output: OutputConf {
            kind: OutputKind::Probability,
            channel: 0,
            threshold,
            classes: Vec::new(),
            blend,
        },
    }
}

/// Load every pair, train pixel trees, write the model (temp file, then rename) and its report.
///
/// # Errors
/// A folder or file that cannot be read (named), other than three model bands, an output that
/// cannot be written.
pub fn train_trees_job(job: &TreesJob, progress: crate::stream::ProgressFn) -> Result<TreesReport> {
    let clock = std::time::Instant::now();
    if job.data.bands.len() != 3 {
        return Err(Error::Param {
            name: "--model-bands",
            reason: format!(
                "pixel trees read three bands (R, G, B or any three); {} given",
                job.data.bands.len()
            ),
        });
    }
    let pairs = load_all(&job.data, progress)?;
    let trained = super::pixel::train_trees(&pairs, &job.options, progress);
    let threshold = job.threshold.or(trained.best_threshold).unwrap_or(0.3);
    let tile = TileConf {
        size: super::pixel::SUB,
        overlap: super::pixel::HALO,
        multiple: 1,
        stride: job.stride,
    };
    let config = own_config(&job.data.bands, tile, threshold, job.blend.clone());
    let file = super::pixel::TreesFile {
        kind: super::pixel::KIND.to_string(),
        features: super::pixel::FEATURE_SET.to_string(),
        input: config.input.clone(),
        tile: config.tile.clone(),
        output: config.output.clone(),
        booster: trained.booster.clone(),
    };
    let report = TreesReport {
        model: job.out.clone(),
        config,
        trained,
        seconds: clock.elapsed().as_secs_f64(),
    };
    let t = &report.trained;
    let head = format!(
        "tuban pixel-trees change model: {} trees of depth {}, trained by `tuban train` on {} pairs ({} pixels drawn){}.\nRun it with `tuban detect --model THIS.toml`; the report is in the .json beside it.",
        t.kept_rounds,
        t.options.depth,
        t.training_pairs.len(),
        t.training_rows,
        t.validation_scores.map_or(String::new(), |v| format!(
            "; validation pixel F1 {:.3} at {threshold}",
            v.f1
        )),
    );
    crate::output::write_atomic(&job.out, file.to_toml(&head).as_bytes())?;
    crate::output::write_json(&job.out.with_extension("json"), &report)?;
    Ok(report)
}

/// What `tuban train` did; also written beside the model as `MODEL.json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainReport {
    pub model: PathBuf,
    pub config: ModelConfig,
    pub trained: Trained,
    pub seconds: f64,
}

/// Load every pair, train, write the model (temp file, then rename) and its report.
///
/// # Errors
/// A folder or file that cannot be read (named), pairs with different band counts, an output
/// that cannot be written.
pub fn train_job(job: &TrainJob, progress: crate::stream::ProgressFn) -> Result<TrainReport> {
    let clock = std::time::Instant::now();
    let pairs = load_all(&job.data, progress)?;
    let trained = train(&pairs, &job.options, progress);
    let tile = TileConf {
        size: 256,
        overlap: 48,
        multiple: 4,
        stride: 1,
    };
    let config = own_config(&job.data.bands, tile, job.threshold, job.blend.clone());
    let report = TrainReport {
        model: job.out.clone(),
        config: config.clone(),
        trained,
        seconds: clock.elapsed().as_secs_f64(),
    };
    let summary = serde_json::to_string(&report).expect("a report serialises");
    let proto = report.trained.net.to_onnx(&[
        (METADATA_KEY.to_string(), config.to_toml()),
        ("tuban.training".to_string(), summary),
    ]);
    crate::output::write_atomic(&job.out, &super::onnx::encode(&proto))?;
    crate::output::write_json(&job.out.with_extension("json"), &report)?;
    Ok(report)
}

/// Feature ids of a polygon label layer whose `verdict` field says the change is not real (a
/// `tuban ledger export`); empty when the layer has no such field.
fn false_verdicts(path: &Path) -> Result<std::collections::HashSet<u64>> {
    use gdal::vector::LayerAccess;
    let ds = crate::raster::open_dataset(path)?;
    let err = |e: gdal::errors::GdalError| Error::Open {
        path: path.into(),
        reason: e.to_string(),
    };
    let mut layer = ds.layer(0).map_err(err)?;
    let Some(at) = layer
        .defn()
        .fields()
        .position(|f| f.name().eq_ignore_ascii_case("verdict"))
    else {
        return Ok(Default::default());
    };
    Ok(layer
        .features()
        .filter(|f| {
            f.field_as_string(at)
                .ok()
                .flatten()
                .is_some_and(|v| crate::learn::verdicts::parse_real(&v) == Some(false))
        })
        .filter_map(|f| f.fid())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::false_verdicts;
    use crate::output::gpkg::{Column, GpkgWriter};
    use geo::{MultiPolygon, Rect, coord};
    use rusqlite::types::Value as Sql;

    #[test]
    fn leads_verified_false_are_not_change_labels() {
        let dir = tempfile::tempdir().unwrap();
        let sq = |x: f64| {
            MultiPolygon::new(vec![
                Rect::new(coord! { x: x, y: 0.0 }, coord! { x: x + 5.0, y: 5.0 }).to_polygon(),
            ])
        };
        let labels = dir.path().join("labels.gpkg");
        let mut w = GpkgWriter::create(&labels, "leads", "", &[("verdict", Column::Text)]).unwrap();
        for (x, v) in [(0.0, "real"), (10.0, "false"), (20.0, "否"), (30.0, "是")] {
            w.push(&sq(x), vec![Sql::Text(v.into())]).unwrap();
        }
        w.finish().unwrap();
        let mut ids: Vec<u64> = false_verdicts(&labels).unwrap().into_iter().collect();
        ids.sort_unstable();
        assert_eq!(ids, [2, 3]);
        // A plain label layer (no verdict field): every polygon is change.
        let plain = dir.path().join("plain.gpkg");
        let mut w = GpkgWriter::create(&plain, "labels", "", &[("note", Column::Text)]).unwrap();
        w.push(&sq(0.0), vec![Sql::Null]).unwrap();
        w.finish().unwrap();
        assert!(false_verdicts(&plain).unwrap().is_empty());
    }
}
