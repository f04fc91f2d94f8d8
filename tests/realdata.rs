//! Regression tests on real imagery: the bundled LEVIR-CD pair (PNG, no georeference) and, when
//! the shared data folder is present, the Landsat-Taizhou ENVI pair. Thresholds sit below the
//! measured scores (README, "Accuracy") and above the brightness-difference baseline.
#![cfg(feature = "gdal")]

mod common;

use std::path::{Path, PathBuf};
use tuban::change::cpu::Driver;
use tuban::change::{EvidenceKind, PipelineConfig, Threshold};
use tuban::engine::Backend;
use tuban::pipeline::detect::{DetectOptions, detect};

/// Run detect and return the mask. `evidence` and `open_px` None mean the automatic profile.
fn run(
    before: &Path,
    after: &Path,
    out: &Path,
    evidence: Option<EvidenceKind>,
    open_px: Option<u32>,
    config: PipelineConfig,
) -> Vec<u8> {
    let opts = DetectOptions {
        tile_px: 128,
        evidence,
        open_px,
        classify: None,
        vectorize: false,
        config,
        ..DetectOptions::new(before, after, out)
    };
    detect(&opts, &Backend::Cpu(Driver::Rayon), &|_, _, _| {}).unwrap();
    common::raster::read_u8(&out.join("change.tif")).2
}

/// F1 of `pred` (1 = change) against `truth`, over the pixels where `scored` is true.
fn f1(pred: &[u8], truth: &[bool], scored: &[bool]) -> f64 {
    let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
    for i in 0..pred.len() {
        if !scored[i] || pred[i] == 255 {
            continue;
        }
        match (pred[i] == 1, truth[i]) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            _ => {}
        }
    }
    2.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64
}

fn label(path: &Path) -> Vec<bool> {
    common::raster::read_u8(path)
        .2
        .into_iter()
        .map(|v| v > 127)
        .collect()
}

#[test]
fn levir_pair_beats_brightness_baseline() {
    let t = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/levir");
    let d = tempfile::tempdir().unwrap();
    let truth = label(&t.join("label.png"));
    let all = vec![true; truth.len()];
    let (b, a) = (t.join("before.png"), t.join("after.png"));
    let default = run(
        &b,
        &a,
        &d.path().join("a"),
        None,
        None,
        PipelineConfig::default(),
    );
    // Plain brightness differencing with an Otsu threshold: no normalisation, no morphology.
    let plain = PipelineConfig {
        normalize: false,
        close_px: 0,
        threshold: Threshold::Otsu,
        ..PipelineConfig::default()
    };
    let baseline = run(
        &b,
        &a,
        &d.path().join("b"),
        Some(EvidenceKind::Brightness),
        Some(0),
        plain,
    );
    let (fd, fb) = (f1(&default, &truth, &all), f1(&baseline, &truth, &all));
    eprintln!("LEVIR test_2_0000_0000: default F1 {fd:.3}, brightness baseline F1 {fb:.3}");
    assert!(
        fd > fb + 0.05,
        "default {fd:.3} does not beat the baseline {fb:.3}"
    );
    assert!(fd > 0.3, "default F1 {fd:.3} regressed");
}

#[test]
fn landsat_envi_pair_when_shared_data_is_present() {
    let root: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/realcd/Landsat-Taizhou");
    if !root.exists() {
        eprintln!("skipped: {} not present", root.display());
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let pred = run(
        &root.join("A/2000TM"),
        &root.join("B/2003TM"),
        d.path(),
        None,
        None,
        PipelineConfig::default(),
    );
    let change = label(&root.join("label/change.bmp"));
    let unchanged = label(&root.join("label/unchanged.bmp"));
    let scored: Vec<bool> = change
        .iter()
        .zip(&unchanged)
        .map(|(c, u)| *c || *u)
        .collect();
    let f = f1(&pred, &change, &scored);
    eprintln!("Landsat-Taizhou (ENVI, 30 m, auto -> cva): F1 {f:.3}");
    assert!(f > 0.9, "F1 {f:.3}");
}
