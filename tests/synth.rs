//! `tuban synth`: deterministic scenes whose truth the detector and the scorer can use.
#![cfg(feature = "gdal")]

mod common;

use common::cli::tuban;
use std::path::Path;

fn pixels(path: &Path) -> Vec<u16> {
    let ds = gdal::Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    (1..=ds.raster_count())
        .flat_map(|b| {
            ds.rasterband(b)
                .unwrap()
                .read_as::<u16>((0, 0), (w, h), (w, h), None)
                .unwrap()
                .data()
                .to_vec()
        })
        .collect()
}

#[test]
fn same_seed_same_scene_and_truth_is_consistent() {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    for out in [&a, &b] {
        let (code, stdout, err) = tuban(&[
            "synth",
            "--size",
            "512",
            "--seed",
            "7",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(stdout.contains("change objects"), "{stdout}");
    }
    for f in [
        "before.tif",
        "after.tif",
        "truth.tif",
        "pseudo.tif",
        "clouds.tif",
    ] {
        assert!(
            pixels(&a.join(f)) == pixels(&b.join(f)),
            "{f} differs between runs"
        );
    }
    let ja: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("synth.json")).unwrap()).unwrap();
    let jb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("synth.json")).unwrap()).unwrap();
    assert_eq!(ja["objects"], jb["objects"]);
    // The truth raster holds exactly the objects' pixels.
    let truth = pixels(&a.join("truth.tif"));
    let changed = truth.iter().filter(|&&v| v != 0).count() as u64;
    assert_eq!(changed, ja["changed_px"].as_u64().unwrap());
    let obj_px: u64 = ja["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["pixels"].as_u64().unwrap())
        .sum();
    assert_eq!(obj_px, changed);
    // A different seed gives a different scene.
    let c = d.path().join("c");
    assert_eq!(
        tuban(&[
            "synth",
            "--size",
            "512",
            "--seed",
            "8",
            "--out",
            c.to_str().unwrap()
        ])
        .0,
        0
    );
    assert!(pixels(&a.join("truth.tif")) != pixels(&c.join("truth.tif")));
}

#[test]
fn detect_and_eval_run_on_a_synthetic_scene() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("s");
    assert_eq!(
        tuban(&[
            "synth",
            "--size",
            "768",
            "--seed",
            "2",
            "--out",
            s.to_str().unwrap()
        ])
        .0,
        0
    );
    let o = d.path().join("o");
    let (code, _, err) = tuban(&[
        "detect",
        "--before",
        s.join("before.tif").to_str().unwrap(),
        "--after",
        s.join("after.tif").to_str().unwrap(),
        "--out",
        o.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = tuban(&[
        "eval",
        "--pred",
        o.join("change.tif").to_str().unwrap(),
        "--truth",
        s.join("truth.tif").to_str().unwrap(),
        "--ignore",
        s.join("clouds.tif").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    // Detection quality on synthetic scenes is measured (tools/eval_table.py), not asserted
    // here: this checks that the products fit together.
    assert!(r["objects"]["truth_objects"].as_u64().unwrap() > 3);
    assert!(r["pixel"]["scored_px"].as_u64().unwrap() > 0);
    // Types come from the truth raster's CLASS_ metadata.
    assert!(
        r["per_type"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k == "20" || k == "DL1" || k == "GEF"),
        "{}",
        r["per_type"]
    );
}
