//! `tuban eval` on rasters and vector layers, in every combination, with unlabelled pixels.
#![cfg(feature = "gdal")]

mod common;

use common::cli::tuban;
use common::raster::{Spec, write_tif};
use std::path::Path;

/// Truth with class codes 1 (two 4x4 objects) and 3 (one 6x2 object); prediction finds the
/// first class-1 object exactly, half of the class-3 one, misses the other, adds a false alarm.
fn rasters(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (w, h) = (30, 20);
    let mut truth = vec![0.0f32; w * h];
    let mut pred = vec![0.0f32; w * h];
    for y in 2..6 {
        for x in 2..6 {
            truth[y * w + x] = 1.0;
            pred[y * w + x] = 1.0;
        }
        for x in 20..24 {
            truth[y * w + x] = 1.0;
        }
    }
    for y in 12..14 {
        for x in 5..11 {
            truth[y * w + x] = 3.0;
        }
        for x in 5..8 {
            pred[y * w + x] = 1.0;
        }
    }
    pred[18 * w + 27] = 1.0;
    let (t, p) = (dir.join("truth.tif"), dir.join("pred.tif"));
    write_tif::<u8>(&t, Spec::gk(w, h, 1), &truth, |v| v as u8);
    write_tif::<u8>(&p, Spec::gk(w, h, 1), &pred, |v| v as u8);
    (t, p)
}

/// `tuban eval --pred PRED --truth TRUTH --json EXTRA..` as parsed JSON.
fn eval_json(pred: &Path, truth: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "eval",
        "--pred",
        pred.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    json(&args)
}

fn json(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = tuban(args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn raster_against_raster() {
    let d = tempfile::tempdir().unwrap();
    let (t, p) = rasters(d.path());
    let r = eval_json(&p, &t, &[]);
    assert_eq!(r["pixel_counts"]["tp"], 16 + 6);
    assert_eq!(r["pixel_counts"]["fn"], 16 + 6);
    assert_eq!(r["pixel_counts"]["fp"], 1);
    assert_eq!(r["objects"]["truth_objects"], 3);
    assert_eq!(r["objects"]["found"], 2);
    assert_eq!(r["objects"]["false_alarms"], 1);
    assert_eq!(r["per_type"]["3"]["found"], 1);
    assert_eq!(r["per_type"]["1"]["truth_objects"], 2);
    // 0.8 m pixels: 16 px = 10.24 m², 0.0154 mu; only objects >= 0.015 mu count.
    let r = eval_json(&p, &t, &["--min-area-mu", "0.015"]);
    assert_eq!(r["objects_above_threshold"]["truth_objects"], 2);
    let (code, out, _) = tuban(&[
        "eval",
        "--pred",
        p.to_str().unwrap(),
        "--truth",
        t.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        out.contains("pixels") && out.contains("objects") && out.contains("per type"),
        "{out}"
    );
}

#[test]
fn polygons_against_raster_and_polygons() {
    let d = tempfile::tempdir().unwrap();
    let (t, p) = rasters(d.path());
    let pg = d.path().join("pred.gpkg");
    let tg = d.path().join("truth.gpkg");
    for (src, dst) in [(&p, &pg), (&t, &tg)] {
        let (code, _, err) = tuban(&[
            "polygonize",
            "--mask",
            src.to_str().unwrap(),
            "--out",
            dst.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let base = eval_json(&p, &t, &[]);
    let a = eval_json(&pg, &t, &[]);
    assert_eq!(a["pixel_counts"], base["pixel_counts"]);
    assert_eq!(a["objects"]["found"], base["objects"]["found"]);
    let b = eval_json(&pg, &tg, &["--pixel-size", "0.8"]);
    assert_eq!(b["pixel_counts"]["tp"], base["pixel_counts"]["tp"]);
    let (code, _, err) = tuban(&[
        "eval",
        "--pred",
        pg.to_str().unwrap(),
        "--truth",
        tg.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("--pixel-size"), "{err}");
}

#[test]
fn unlabelled_pixels_are_not_scored() {
    let d = tempfile::tempdir().unwrap();
    let (t, p) = rasters(d.path());
    let mut ignore = vec![0.0f32; 600];
    ignore[18 * 30 + 27] = 1.0; // the false alarm lies in unlabelled ground
    let ig = d.path().join("ignore.tif");
    write_tif::<u8>(&ig, Spec::gk(30, 20, 1), &ignore, |v| v as u8);
    let r = eval_json(&p, &t, &["--ignore", ig.to_str().unwrap()]);
    assert_eq!(r["pixel_counts"]["fp"], 0);
    assert_eq!(r["objects"]["false_alarms"], 0);
    assert_eq!(r["pixel"]["scored_px"], 599);
}

#[test]
fn masks_on_a_larger_aligned_grid_are_read_at_the_right_place() {
    let d = tempfile::tempdir().unwrap();
    let (t, p) = rasters(d.path());
    // The same ignore mask, on a grid one pixel wider to the west and one taller to the north.
    let mut ignore = vec![0.0f32; 31 * 21];
    ignore[(18 + 1) * 31 + 27 + 1] = 1.0;
    let ig = d.path().join("ignore_big.tif");
    let gt = [
        common::raster::GT[0] - 0.8,
        0.8,
        0.0,
        common::raster::GT[3] + 0.8,
        0.0,
        -0.8,
    ];
    write_tif::<u8>(
        &ig,
        Spec {
            gt: Some(gt),
            ..Spec::gk(31, 21, 1)
        },
        &ignore,
        |v| v as u8,
    );
    let r = eval_json(&p, &t, &["--ignore", ig.to_str().unwrap()]);
    assert_eq!(r["pixel_counts"]["fp"], 0);
    // A mask at another resolution is refused, not misread.
    let half = d.path().join("ignore_half.tif");
    let gt2 = [
        common::raster::GT[0],
        1.6,
        0.0,
        common::raster::GT[3],
        0.0,
        -1.6,
    ];
    write_tif::<u8>(
        &half,
        Spec {
            gt: Some(gt2),
            ..Spec::gk(15, 10, 1)
        },
        &vec![0.0; 150],
        |v| v as u8,
    );
    let (code, _, err) = tuban(&[
        "eval",
        "--pred",
        p.to_str().unwrap(),
        "--truth",
        t.to_str().unwrap(),
        "--ignore",
        half.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("ignore_half.tif") && err.contains("evaluation grid"),
        "{err}"
    );
}
