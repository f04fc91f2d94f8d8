//! `tuban sources`: which imagery finds the changes. The same area and dates from several
//! sources, or one source degraded on purpose (coarser pixels, sensor noise, a band subset, a
//! misregistration, haze), each run through the same detection and scored against the same
//! reference changes on the reference grid.
//!
//! Per source: pixel and object scores, object recall and precision per change type (above a
//! mu threshold when given), recall by object size and the smallest size found reliably, the
//! shift measured between its dates ([`crate::raster::registration`]), its cloud, shadow and
//! nodata shares, its pixel size and the detection's seconds per km². Written as
//! `sources.csv`, `sources.json` and an offline `sources.html` with a plot of recall against
//! object size.

mod degrade;
mod page;

use crate::error::{Error, Result};
use crate::eval::io::{grid_for, load, scored_pixels};
use crate::eval::metrics::{ObjectScores, PixelScores};
use crate::eval::{EvalOptions, SizeRecall, TypeScores, evaluate};
use crate::pipeline::detect::{DetectOptions, detect};
use crate::raster::pair::PairOptions;
use crate::raster::registration::Registration;
use crate::stream::ProgressFn;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use degrade::Degradation;

/// The bench file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BenchFile {
    /// Reference changes: a raster of change codes or 0/1 (e.g. synth's truth.tif), or polygons.
    truth: String,
    /// Pixels not to score (nonzero), e.g. synth's clouds.tif.
    ignore: Option<String>,
    /// Object scores per type also above this area (mu); 0 = all objects only.
    min_area_mu: Option<f64>,
    /// Coverage fraction for "found" (default 0.5, as `tuban eval`).
    cover: Option<f64>,
    /// Band roles for every source (as `detect --bands`), unless a source says otherwise.
    bands: Option<String>,
    /// Ground size (m) of a pixel of the images without a georeference (the truth and the
    /// sources, e.g. the PNG pairs of change-detection datasets): they are placed on a metric
    /// grid so that they can be resampled to a ground size and measured in mu.
    pixel_m: Option<f64>,
    #[serde(rename = "source")]
    sources: Vec<SourceFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    name: String,
    before: Option<String>,
    after: Option<String>,
    /// Degrade this (earlier) source instead of reading files of its own.
    like: Option<String>,
    bands: Option<String>,
    resample_m: Option<f64>,
    noise: Option<f64>,
    shift_px: Option<[f64; 2]>,
    haze: Option<f64>,
    /// Detect with `--coregister`.
    coregister: Option<bool>,
}

/// One source: its images (or the source it degrades, and how).
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub before: PathBuf,
    pub after: PathBuf,
    pub bands: Option<String>,
    pub degradation: Option<Degradation>,
    /// Detected with `--coregister`.
    pub coregister: bool,
}

/// A parsed and checked bench.
#[derive(Clone, Debug)]
pub struct Bench {
    pub path: PathBuf,
    pub truth: PathBuf,
    pub ignore: Option<PathBuf>,
    pub min_area_mu: f64,
    pub cover: f64,
    /// Ground size of a pixel of ungeoreferenced images (`pixel_m`).
    pub pixel_m: Option<f64>,
    pub sources: Vec<Source>,
}

fn bench_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Job {
        path: path.into(),
        line: 0,
        reason: reason.into(),
    }
}

impl Bench {
    /// Read and check a bench file: every file exists, every `like` names an earlier source
    /// with images, every degradation is in range.
    ///
    /// # Errors
    /// [`Error::Job`] naming the file and the problem.
    pub fn read(path: &Path) -> Result<Bench> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::open(path, e))?;
        let file: BenchFile =
            toml::from_str(&text).map_err(|e| bench_err(path, e.to_string().trim().to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| base.join(p);
        let exists = |what: &str, p: PathBuf| -> Result<PathBuf> {
            if p.exists() {
                Ok(p)
            } else {
                Err(bench_err(path, format!("{what} {} not found", p.display())))
            }
        };
        let truth = exists("truth", resolve(&file.truth))?;
        let ignore = file
            .ignore
            .as_deref()
            .map(|p| exists("ignore", resolve(p)))
            .transpose()?;
        let cover = file.cover.unwrap_or(0.5);
        if !(cover > 0.0 && cover <= 1.0) {
            return Err(bench_err(path, format!("cover = {cover}: expected (0, 1]")));
        }
        let min_area_mu = file.min_area_mu.unwrap_or(0.0);
        if !(min_area_mu.is_finite() && min_area_mu >= 0.0) {
            return Err(bench_err(
                path,
                format!("min_area_mu = {min_area_mu}: expected a number >= 0"),
            ));
        }
        if let Some(m) = file.pixel_m.filter(|m| !(m.is_finite() && *m > 0.0)) {
            return Err(bench_err(
                path,
                format!("pixel_m = {m}: expected a ground size in metres > 0"),
            ));
        }
        if file.sources.is_empty() {
            return Err(bench_err(path, "no [[source]]: nothing to compare"));
        }
        let mut sources: Vec<Source> = vec![];
        for s in file.sources {
            if s.name.trim().is_empty() || sources.iter().any(|o| o.name == s.name) {
                return Err(bench_err(
                    path,
                    format!("source name {:?}: names must be given and distinct", s.name),
                ));
            }
            let d = Degradation {
                resample_m: s.resample_m,
                noise: s.noise,
                shift_px: s.shift_px,
                haze: s.haze,
            };
            d.check()
                .map_err(|r| bench_err(path, format!("source {:?}: {r}", s.name)))?;
            let bands = s.bands.or_else(|| file.bands.clone());
            let source = match (&s.like, &s.before, &s.after) {
                (None, Some(b), Some(a)) if d.is_none() => Source {
                    name: s.name.clone(),
                    before: exists("before", resolve(b))?,
                    after: exists("after", resolve(a))?,
                    bands,
                    degradation: None,
                    coregister: s.coregister.unwrap_or(false),
                },
                (Some(like), None, None) => {
                    let Some(base) = sources.iter().find(|o| &o.name == like) else {
                        return Err(bench_err(
                            path,
                            format!(
                                "source {:?}: like = {like:?} names no earlier source",
                                s.name
                            ),
                        ));
                    };
                    if base.degradation.is_some() {
                        return Err(bench_err(
                            path,
                            format!(
                                "source {:?}: like = {like:?} is itself degraded; degrade a source with images of its own",
                                s.name
                            ),
                        ));
                    }
                    Source {
                        name: s.name.clone(),
                        before: base.before.clone(),
                        after: base.after.clone(),
                        bands,
                        degradation: Some(d),
                        coregister: s.coregister.unwrap_or(false),
                    }
                }
                _ => {
                    return Err(bench_err(
                        path,
                        format!(
                            "source {:?}: give before and after (a source of its own, no degradation) or like = SOURCE with the degradations",
                            s.name
                        ),
                    ));
                }
            };
            sources.push(source);
        }
        Ok(Bench {
            path: path.into(),
            truth,
            ignore,
            min_area_mu,
            cover,
            pixel_m: file.pixel_m,
            sources,
        })
    }
}

/// What one source found.
#[derive(Clone, Debug, Serialize)]
pub struct SourceResult {
    pub name: String,
    pub degradation: Option<Degradation>,
    /// The band roles it was read with (`detect --bands`), when given.
    pub band_spec: Option<String>,
    pub before: PathBuf,
    pub after: PathBuf,
    pub pixel_size_m: Option<f64>,
    pub resolution: &'static str,
    pub bands: usize,
    pub evidence: &'static str,
    pub registration: Option<Registration>,
    /// With `coregister`: the shift removed before detection (`registration` is what remained).
    pub coregistered_by: Option<Registration>,
    /// Shares of the grid: cloud in either image, shadow in the after image, nodata in either.
    pub cloud_share: f64,
    pub shadow_share: f64,
    pub nodata_share: f64,
    pub area_km2: f64,
    pub seconds: f64,
    pub seconds_per_km2: f64,
    pub pixel: PixelScores,
    pub objects: ObjectScores,
    pub objects_above_threshold: Option<ObjectScores>,
    /// Per type, over objects of at least the bench's `min_area_mu`.
    pub per_type: BTreeMap<String, TypeScores>,
    pub recall_by_size: Vec<SizeRecall>,
    /// The smallest size found reliably ([`smallest_reliable`]), mu.
    pub smallest_reliable_mu: Option<f64>,
    pub changes: PathBuf,
}

/// Recall a size class must reach to count as found reliably.
pub const RELIABLE_RECALL: f64 = 0.8;
/// Objects a size class needs to be judged.
pub const RELIABLE_MIN_OBJECTS: u64 = 3;

/// The smallest size found reliably: the lowest class edge `e` such that the truth objects of
/// at least `e` (at least [`RELIABLE_MIN_OBJECTS`] of them) are found at [`RELIABLE_RECALL`]
/// or more, pooled (one class of three objects is too few to judge on its own).
pub fn smallest_reliable(bins: &[SizeRecall]) -> Option<f64> {
    (0..bins.len()).find_map(|k| {
        let (t, f) = bins[k..]
            .iter()
            .fold((0u64, 0u64), |(t, f), b| (t + b.truth_objects, f + b.found));
        (t >= RELIABLE_MIN_OBJECTS && f as f64 >= RELIABLE_RECALL * t as f64)
            .then_some(bins[k].min_mu)
    })
}

/// The comparison of every source.
#[derive(Clone, Debug, Serialize)]
pub struct SourcesReport {
    pub bench: PathBuf,
    pub truth: PathBuf,
    pub min_area_mu: f64,
    pub cover: f64,
    pub sources: Vec<SourceResult>,
    /// The same leads seen by every source ([`chip_table`]).
    pub chips: Vec<ChipRow>,
    pub seconds: f64,
}

/// One lead of the first source, as every source saw it.
#[derive(Clone, Debug, Serialize)]
pub struct ChipRow {
    /// The lead: its type and area in the first source.
    pub tblx: String,
    pub area_mu: f64,
    /// Per source (in the bench's order): the chip of its after image around the lead, with
    /// that source's own polygons there outlined (`chips/...png`, relative to the output
    /// folder); None where the source could not be drawn (another CRS).
    pub chips: Vec<Option<String>>,
    /// Per source: its polygons there.
    pub polygons: Vec<usize>,
}

/// Leads shown side by side.
const CHIP_LEADS: usize = 4;

/// The change polygons of a detection: geometry, type and area in mu.
fn change_polygons(changes: &Path) -> Result<Vec<(geo::MultiPolygon<f64>, String, f64)>> {
    use crate::overlay::layer::{FieldSpec, Fields, read_layer};
    let src = crate::job::LayerSource {
        path: changes.display().to_string(),
        layer: Some("changes".into()),
        crs: None,
        encoding: None,
        filter: None,
        line: 0,
    };
    let fields = [
        FieldSpec::mapped("type", &None, "TBLX"),
        FieldSpec::mapped("area", &None, "area_mu"),
    ];
    let mut out = vec![];
    read_layer(
        &src,
        "changes",
        Fields::Named(&fields),
        None,
        None,
        &|_, _| {},
        |batch| {
            for f in batch {
                let tblx = f.attrs[0].clone().unwrap_or_default();
                let mu = f.attrs[1]
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0);
                out.push((f.geom, tblx, mu));
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// The chips of the same leads from every source, side by side: [`CHIP_LEADS`] leads of the
/// first source of at least `min_mu` spread over its sizes (the largest, then at each quarter
/// of the ranking down), each drawn from every source's after image over the same ground (the
/// first source's chip of the lead) with that source's own polygons at the lead outlined, into
/// `out/chips/`.
///
/// # Errors
/// [`Error::Open`] when a detection's polygons or an image cannot be read, [`Error::Write`].
pub fn chip_table(out: &Path, results: &[SourceResult], min_mu: f64) -> Result<Vec<ChipRow>> {
    use crate::output::chips::ChipSource;
    use geo::{BoundingRect, Intersects};
    let Some(first) = results.first() else {
        return Ok(vec![]);
    };
    let mut leads = change_polygons(&first.changes)?;
    // Leads the bench scores (at least its `min_area_mu`), largest first.
    leads.retain(|l| l.2 >= min_mu);
    leads.sort_by(|a, b| b.2.total_cmp(&a.2));
    let n = leads.len();
    let mut picked: Vec<usize> = (0..CHIP_LEADS).map(|k| k * n / CHIP_LEADS).collect();
    picked.dedup();
    picked.retain(|&i| i < n);
    if picked.is_empty() {
        return Ok(vec![]);
    }
    let dir = out.join("chips");
    std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
    let projection = |p: &Path| crate::raster::open_dataset(p).map(|d| d.projection());
    let crs0 = projection(&first.after)?;
    let mut rows: Vec<ChipRow> = picked
        .iter()
        .map(|&i| ChipRow {
            tblx: leads[i].1.clone(),
            area_mu: leads[i].2,
            chips: vec![],
            polygons: vec![],
        })
        .collect();
    // Every source shows the same ground: the first source's chip of the lead.
    let areas: Vec<Option<geo::Rect<f64>>> = {
        let img = ChipSource::open(&first.after, first.band_spec.as_deref())?;
        picked
            .iter()
            .map(|&i| leads[i].0.bounding_rect().map(|b| img.chip_area(b)))
            .collect()
    };
    for (k, s) in results.iter().enumerate() {
        let same_crs = projection(&s.after)? == crs0;
        let img = ChipSource::open(&s.after, s.band_spec.as_deref())?;
        let own = if same_crs {
            change_polygons(&s.changes)?
        } else {
            vec![]
        };
        for ((row, &i), area) in rows.iter_mut().zip(&picked).zip(&areas) {
            let Some((extent, area)) = leads[i].0.bounding_rect().zip(*area).filter(|_| same_crs)
            else {
                row.chips.push(None);
                row.polygons.push(0);
                continue;
            };
            // The polygons of this source at the lead.
            let there: Vec<geo::MultiPolygon<f64>> = own
                .iter()
                .filter(|(g, _, _)| g.intersects(&extent))
                .map(|(g, _, _)| g.clone())
                .collect();
            let rel = format!("chips/lead{}_{}.png", i + 1, folder_name(k, &s.name));
            img.write_area(area, &there, &out.join(&rel))?;
            row.chips.push(Some(rel));
            row.polygons.push(there.len());
        }
    }
    Ok(rows)
}

/// Run every source of `bench` into `out` (`out/NAME/`: its images when degraded, its
/// detection) and write `sources.csv`, `sources.json` and `sources.html`.
///
/// # Errors
/// Any error of degrading, detecting or scoring a source, naming the source's files.
pub fn run(
    bench: &Bench,
    out: &Path,
    backend: &crate::engine::Backend,
    progress: ProgressFn,
) -> Result<SourcesReport> {
    let t0 = Instant::now();
    crate::output::prepare_out_dir(out)?;
    let placed;
    let bench = match bench.pixel_m {
        Some(m) => {
            placed = georeferenced(bench, m, &out.join("georef"))?;
            &placed
        }
        None => bench,
    };
    let mut results = vec![];
    for (k, s) in bench.sources.iter().enumerate() {
        let dir = out.join(folder_name(k, &s.name));
        std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
        let (before, after) = match s.degradation.filter(|d| !d.is_none()) {
            Some(d) => {
                let b = dir.join("before.tif");
                let a = dir.join("after.tif");
                degrade::degrade(&s.before, &b, &d, false, k as u64)?;
                degrade::degrade(&s.after, &a, &d, true, k as u64)?;
                (b, a)
            }
            None => (s.before.clone(), s.after.clone()),
        };
        let ddir = dir.join("detect");
        let _ = std::fs::remove_dir_all(&ddir);
        let clock = Instant::now();
        let summary = detect(
            &DetectOptions {
                pair: PairOptions {
                    bands_before: s.bands.clone(),
                    coregister: s.coregister,
                    ..Default::default()
                },
                ..DetectOptions::new(&before, &after, &ddir)
            },
            backend,
            progress,
        )?;
        let seconds = clock.elapsed().as_secs_f64();
        let changes = ddir.join("changes.gpkg");
        let report = score(bench, &changes)?;
        let px_m = summary.pixel_size_m;
        let grid_px = (summary.width * summary.height).max(1) as f64;
        let area_km2 = px_m.map_or(0.0, |p| grid_px * p * p / 1e6);
        let recall_by_size = report.recall_by_size.clone();
        results.push(SourceResult {
            name: s.name.clone(),
            degradation: s.degradation,
            band_spec: s.bands.clone(),
            before,
            after,
            pixel_size_m: px_m,
            resolution: crate::coverage::resolution_class(px_m),
            bands: summary.bands,
            evidence: summary.evidence,
            registration: summary.registration,
            coregistered_by: summary.coregistered_by,
            cloud_share: summary.cloud_px as f64 / grid_px,
            shadow_share: summary.shadow_px as f64 / grid_px,
            nodata_share: 1.0 - summary.valid_px as f64 / grid_px,
            area_km2,
            seconds,
            seconds_per_km2: if area_km2 > 0.0 {
                seconds / area_km2
            } else {
                0.0
            },
            pixel: report.pixel,
            objects: report.objects,
            objects_above_threshold: report.objects_above_threshold,
            per_type: report.per_type_above_threshold.unwrap_or(report.per_type),
            smallest_reliable_mu: smallest_reliable(&recall_by_size),
            recall_by_size,
            changes,
        });
        progress("sources", k as u64 + 1, bench.sources.len() as u64);
    }
    let chips = chip_table(out, &results, bench.min_area_mu)?;
    let report = SourcesReport {
        bench: bench.path.clone(),
        truth: bench.truth.clone(),
        min_area_mu: bench.min_area_mu,
        cover: bench.cover,
        sources: results,
        chips,
        seconds: t0.elapsed().as_secs_f64(),
    };
    crate::output::write_json(&out.join("sources.json"), &report)?;
    crate::output::write_text(&out.join("sources.csv"), &csv(&report))?;
    crate::output::write_text(&out.join("sources.html"), &page::html(&report))?;
    Ok(report)
}

/// The bench with every image that has no georeference (truth, ignore mask, sources) replaced
/// by a VRT in `dir` that places it on a metric grid of `pixel_m` (origin 0, 0 of Web Mercator,
/// where its scale is 1: ground metres).
fn georeferenced(bench: &Bench, pixel_m: f64, dir: &Path) -> Result<Bench> {
    use std::collections::HashMap;
    let mut done: HashMap<PathBuf, PathBuf> = HashMap::new();
    let mut place = |p: &Path| -> Result<PathBuf> {
        if let Some(v) = done.get(p) {
            return Ok(v.clone());
        }
        let ds = crate::raster::open_dataset(p)?;
        let placed = if ds.geo_transform().is_ok() {
            p.to_path_buf()
        } else {
            std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
            let stem = p
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
            let vrt = dir.join(format!("{:02}-{stem}.vrt", done.len()));
            let err = |e: gdal::errors::GdalError| Error::write(&vrt, e);
            let driver = gdal::DriverManager::get_driver_by_name("VRT").map_err(err)?;
            let mut copy = ds
                .create_copy(&driver, &vrt, &Default::default())
                .map_err(err)?;
            copy.set_geo_transform(&[0.0, pixel_m, 0.0, 0.0, 0.0, -pixel_m])
                .map_err(err)?;
            let srs = gdal::spatial_ref::SpatialRef::from_epsg(3857).map_err(err)?;
            copy.set_spatial_ref(&srs).map_err(err)?;
            vrt
        };
        done.insert(p.to_path_buf(), placed.clone());
        Ok(placed)
    };
    let mut b = bench.clone();
    b.truth = place(&bench.truth)?;
    b.ignore = bench.ignore.as_deref().map(&mut place).transpose()?;
    for s in &mut b.sources {
        s.before = place(&s.before)?;
        s.after = place(&s.after)?;
    }
    Ok(b)
}

/// `out/NN-name/`: the source's order and its name with anything but letters, digits, `-`
/// and `.` replaced.
fn folder_name(k: usize, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{:02}-{clean}", k + 1)
}

/// Score a source's change polygons against the bench's truth, on the truth's grid.
fn score(bench: &Bench, changes: &Path) -> Result<crate::eval::Report> {
    let grid = grid_for(changes, &bench.truth, None)?;
    let truth = load(&bench.truth, &grid)?;
    let pred = load(changes, &grid)?;
    let ignore = bench.ignore.as_ref().map(|p| load(p, &grid)).transpose()?;
    let masks: Vec<(&_, bool)> = ignore.iter().map(|m| (m, false)).collect();
    let scored = scored_pixels(&truth, &pred, &masks);
    Ok(evaluate(
        &truth.layer,
        &pred.layer,
        Some(&scored),
        grid.pixel_area_m2(),
        EvalOptions {
            cover: bench.cover,
            min_area_mu: bench.min_area_mu,
        },
    ))
}

/// One row per source, UTF-8 with a BOM.
fn csv(r: &SourcesReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::from(
        "\u{feff}source,pixel_m,bands,evidence,shift_dx_px,shift_dy_px,cloud_share,shadow_share,nodata_share,s_per_km2,pixel_p,pixel_r,pixel_f1,objects,found,recall,precision,object_f1,smallest_reliable_mu",
    );
    let bins: Vec<String> = crate::eval::SIZE_BINS_MU
        .iter()
        .enumerate()
        .map(|(k, lo)| match crate::eval::SIZE_BINS_MU.get(k + 1) {
            Some(hi) => format!("recall_{lo}-{hi}mu"),
            None => format!("recall_{lo}+mu"),
        })
        .collect();
    for b in &bins {
        let _ = write!(s, ",{b}");
    }
    s.push('\n');
    let opt = |v: Option<f64>, p: usize| v.map(|x| format!("{x:.p$}")).unwrap_or_default();
    for x in &r.sources {
        let _ = write!(
            s,
            "{},{},{},{},{},{},{:.4},{:.4},{:.4},{:.3},{:.4},{:.4},{:.4},{},{},{:.4},{:.4},{:.4},{}",
            crate::output::package::csv_field(&x.name),
            opt(x.pixel_size_m, 3),
            x.bands,
            x.evidence,
            opt(x.registration.map(|g| g.dx_px), 2),
            opt(x.registration.map(|g| g.dy_px), 2),
            x.cloud_share,
            x.shadow_share,
            x.nodata_share,
            x.seconds_per_km2,
            x.pixel.precision,
            x.pixel.recall,
            x.pixel.f1,
            x.objects.truth_objects,
            x.objects.found,
            x.objects.recall,
            x.objects.precision,
            x.objects.f1,
            opt(x.smallest_reliable_mu, 0),
        );
        for b in &x.recall_by_size {
            if b.truth_objects > 0 {
                let _ = write!(s, ",{:.4}", b.recall);
            } else {
                s.push(',');
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(min_mu: f64, truth_objects: u64, found: u64) -> SizeRecall {
        SizeRecall {
            min_mu,
            max_mu: None,
            truth_objects,
            found,
            recall: found as f64 / truth_objects.max(1) as f64,
        }
    }

    #[test]
    fn the_smallest_reliable_size_is_where_pooled_recall_stays_high() {
        // Under 1 mu: 3 of 10; from 1 mu on: 12 of 14 (0.86).
        let bins = [
            bin(0.0, 10, 3),
            bin(1.0, 8, 7),
            bin(5.0, 1, 0),
            bin(10.0, 5, 5),
        ];
        assert_eq!(smallest_reliable(&bins), Some(1.0));
        assert_eq!(smallest_reliable(&[bin(0.0, 5, 5)]), Some(0.0));
        // Too few objects to judge, or too few found.
        assert_eq!(smallest_reliable(&[bin(0.0, 2, 2)]), None);
        assert_eq!(smallest_reliable(&[bin(0.0, 5, 1), bin(1.0, 4, 2)]), None);
    }

    #[test]
    fn folder_names_are_ordered_and_plain() {
        assert_eq!(folder_name(0, "GF-2 0.8 m"), "01-GF-2_0.8_m");
        assert_eq!(folder_name(11, "a/b"), "12-a_b");
    }
}
