//! Learning from verification end to end: `tuban eval --verdicts` stands in for the field check
//! on synth scenes, `tuban learn` fits a lead model on two scenes, and `tuban detect
//! --lead-model` sets aside false leads of a scene the model never saw.
#![cfg(feature = "gdal")]

mod common;

use common::cli::{synth, tuban};
use gdal::vector::LayerAccess;
use std::path::Path;

/// RGB only: the building index, whose leads are mostly false (as on real RGB imagery).
const RGB: [&str; 2] = ["--bands", "R=3,G=2,B=1"];

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn detect(scene: &Path, out: &str, extra: &[&str]) -> String {
    let (b, a, o) = (
        scene.join("before.tif"),
        scene.join("after.tif"),
        scene.join(out),
    );
    let mut args = vec![
        "detect",
        "--before",
        s(&b),
        "--after",
        s(&a),
        "--out",
        s(&o),
        "--backend",
        "cpu",
    ];
    args.extend_from_slice(&RGB);
    args.extend_from_slice(extra);
    let (code, _, stderr) = tuban(&args);
    assert_eq!(code, 0, "{stderr}");
    stderr
}

/// `tuban eval` of a polygon layer against the scene's truth (clouds not scored); with
/// `verdicts`, also the verdicts CSV. Returns the JSON report.
fn eval(scene: &Path, layer: &Path, verdicts: Option<&Path>) -> serde_json::Value {
    let (truth, clouds) = (scene.join("truth.tif"), scene.join("clouds.tif"));
    let mut args = vec![
        "eval",
        "--pred",
        s(layer),
        "--truth",
        s(&truth),
        "--ignore",
        s(&clouds),
        "--json",
    ];
    if let Some(v) = verdicts {
        args.extend_from_slice(&["--verdicts", s(v)]);
    }
    let (code, stdout, stderr) = tuban(&args);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn features(path: &Path, layer: &str) -> Vec<String> {
    let Ok(ds) = gdal::Dataset::open(path) else {
        return Vec::new();
    };
    let mut l = ds.layer_by_name(layer).unwrap();
    l.features()
        .map(|f| {
            f.field_as_string(f.field_index("LXYJ").unwrap())
                .unwrap()
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn a_model_learned_from_verdicts_sets_aside_false_leads_of_an_unseen_scene() {
    let dir = tempfile::tempdir().unwrap();
    let scenes: Vec<_> = [2u64, 3, 7]
        .iter()
        .map(|&seed| {
            let d = dir.path().join(format!("s{seed}"));
            synth(&d, 1024, seed);
            detect(&d, "det", &[]);
            d
        })
        .collect();
    let mut learn: Vec<String> = vec!["learn".into()];
    for d in &scenes[..2] {
        let (leads, v) = (d.join("det/changes.gpkg"), d.join("verdicts.csv"));
        eval(d, &leads, Some(&v));
        let text = std::fs::read_to_string(&v).unwrap();
        let rows = text.lines().count() - 1;
        assert!(text.starts_with("fid,verdict,TBLX\n"), "{text}");
        // Polygons wholly under clouds (not scored) get none.
        let polygons = features(&leads, "changes").len();
        assert!(
            rows <= polygons && 2 * rows >= polygons,
            "{rows} of {polygons}"
        );
        learn.extend([
            "--leads".into(),
            s(&leads).into(),
            "--verdicts".into(),
            s(&v).into(),
        ]);
    }
    let model = dir.path().join("leads.toml");
    learn.extend([
        "--out".into(),
        s(&model).into(),
        "--folds".into(),
        "3".into(),
    ]);
    let args: Vec<&str> = learn.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = tuban(&args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("held out: AUC"), "{stdout}");
    let text = std::fs::read_to_string(&model).unwrap();
    assert!(text.starts_with("# tuban lead model"));

    // The unseen scene, before and after.
    let test = &scenes[2];
    let stderr = detect(test, "lead", &["--lead-model", s(&model)]);
    assert!(stderr.contains("note: lead model"), "{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(test.join("lead/detect.json")).unwrap())
            .unwrap();
    assert_eq!(json["lead_model"].as_str(), Some(s(&model)));
    let set_aside: Vec<String> = features(&test.join("lead/rejected.gpkg"), "rejected")
        .into_iter()
        .filter(|r| r.starts_with("pseudo-change lead model: p(real)"))
        .collect();
    assert!(!set_aside.is_empty(), "{stderr}");
    let kept = features(&test.join("lead/changes.gpkg"), "changes");
    assert!(kept.iter().all(|r| r.contains("p(real)")), "{kept:?}");
    let before = eval(test, &test.join("det/changes.gpkg"), None);
    let after = eval(test, &test.join("lead/changes.gpkg"), None);
    let (b, a) = (&before["objects"], &after["objects"]);
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap();
    // Fewer false leads, nearly every real one kept, higher precision.
    assert!(n(a, "false_alarms") < n(b, "false_alarms"), "{b}\n{a}");
    assert!(n(a, "found") + 2 >= n(b, "found"), "{b}\n{a}");
    assert!(
        a["precision"].as_f64().unwrap() > b["precision"].as_f64().unwrap(),
        "{b}\n{a}"
    );
}

#[test]
fn learn_refuses_what_does_not_fit_together() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("s");
    synth(&d, 512, 4);
    detect(&d, "det", &[]);
    let leads = d.join("det/changes.gpkg");
    let csv = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let out = dir.path().join("m.toml");
    let learn = |v: &Path| {
        let (code, _, err) = tuban(&[
            "learn",
            "--leads",
            s(&leads),
            "--verdicts",
            s(v),
            "--out",
            s(&out),
        ]);
        (code, err)
    };
    let stranger = csv("stranger.csv", "fid,verdict\n1,real\n99999,false\n");
    let (code, err) = learn(&stranger);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("stranger.csv:3: fid 99999 is not a lead in"),
        "{err}"
    );
    let by_field = csv("jcbh.csv", "JCBH,verdict\nA-1,real\n");
    let (code, err) = learn(&by_field);
    assert_eq!(code, 1);
    assert!(
        err.contains("no field \"JCBH\" (for the verdicts' key)"),
        "{err}"
    );
    let few = csv("few.csv", "fid,verdict\n1,real\n2,false\n");
    let (code, err) = learn(&few);
    assert_eq!(code, 1);
    assert!(err.contains("1 real and 1 false leads"), "{err}");
    assert!(!out.exists(), "no model from a refused run");
    // One verdicts file for two leads files.
    let (code, _, err) = tuban(&[
        "learn",
        "--leads",
        s(&leads),
        "--leads",
        s(&leads),
        "--verdicts",
        s(&few),
        "--out",
        s(&out),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("2 --leads and 1 --verdicts"), "{err}");
    // A file that is not a lead model, given to detect: tests/hostile.rs.
}
