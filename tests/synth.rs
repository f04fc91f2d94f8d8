//! `tuban synth`: deterministic scenes whose truth the detector and the scorer can use.
#![cfg(feature = "gdal")]

mod common;

use common::cli::{synth, tuban};
use gdal::vector::LayerAccess;
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
        let stdout = synth(out, 512, 7);
        // Issue 17 item 16: the printed counts say what they count, and match truth.gpkg.
        let ds = gdal::Dataset::open(out.join("truth.gpkg")).unwrap();
        let polygons = ds.layer(0).unwrap().feature_count();
        assert!(
            stdout.contains(&format!(
                "truth.gpkg: {polygons} polygons, one per connected piece"
            )),
            "{stdout}"
        );
        assert!(stdout.contains("leads by the rules"), "{stdout}");
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
    // Reference layers: every layer there, DLTB tiling the whole scene, two counties.
    let refs = gdal::Dataset::open(a.join("refs.gpkg")).unwrap();
    for layer in ["DLTB", "YJJBNTTB", "STBHHX", "PZYD", "XZQ"] {
        assert!(refs.layer_by_name(layer).is_ok(), "refs.gpkg lacks {layer}");
    }
    let sum = |sql: &str| common::raster::sql_f64(&refs, sql).unwrap_or(0.0);
    let scene_m2 = 512.0 * 512.0 * 0.64;
    assert!((sum("SELECT SUM(TBMJ) FROM DLTB") - scene_m2).abs() < 1e-6 * scene_m2);
    assert!((sum("SELECT SUM(ST_Area(geom)) FROM DLTB") - scene_m2).abs() < 1e-3);
    assert_eq!(sum("SELECT COUNT(DISTINCT XZQDM) FROM XZQ"), 2.0);
    assert_eq!(
        sum("SELECT COUNT(*) - SUM(ST_IsValid(geom)) FROM DLTB"),
        0.0
    );
    // Truth polygons carry the rule measures; their pixels are the truth raster's.
    let truth_v = gdal::Dataset::open(a.join("truth.gpkg")).unwrap();
    let px = common::raster::sql_f64(&truth_v, "SELECT SUM(pixels) FROM truth").unwrap_or(0.0);
    assert_eq!(px as u64, changed);
    let job = std::fs::read_to_string(a.join("job.toml")).unwrap();
    assert!(
        job.contains("quarter = \"2024Q2\"") && job.contains("layer = \"DLTB\""),
        "{job}"
    );
    // A different seed gives a different scene.
    let c = d.path().join("c");
    synth(&c, 512, 8);
    assert!(pixels(&a.join("truth.tif")) != pixels(&c.join("truth.tif")));
}

#[test]
fn detect_and_eval_run_on_a_synthetic_scene() {
    let d = tempfile::tempdir().unwrap();
    let s = d.path().join("s");
    synth(&s, 768, 2);
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
