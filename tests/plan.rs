//! `tuban plan`, `tuban run --task`, `tuban merge` on a synthetic four-county job: the merged
//! leads are a single run's (change polygons that cross county borders, counties cut by the
//! scene's edge), merge refuses while counties are missing and names them, a task run again
//! writes the same bytes, merge twice gives the same file, a stale plan is refused.
#![cfg(feature = "gdal")]

mod common;

use common::cli::tuban;
use common::vector::rows;
use gdal::vector::{Geometry, LayerAccess};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Ids that point into the detection that made a lead (its window's own numbering), and the
/// chip paths (the package's own folder): everything else must be a single run's.
const PROVENANCE: [&str; 4] = ["SRC_ID", "comp_id", "QSIMG", "HSIMG"];

/// Every lead of a layer by JCBH: its fields (without the provenance) and its area.
fn leads(path: &Path) -> BTreeMap<String, (BTreeMap<String, String>, f64)> {
    let ds = gdal::Dataset::open(path).unwrap();
    let mut l = ds.layer_by_name("leads").unwrap();
    let areas: Vec<f64> = l
        .features()
        .map(|f| f.geometry().map_or(0.0, Geometry::area))
        .collect();
    rows(path, "leads")
        .into_iter()
        .zip(areas)
        .map(|(mut r, a)| {
            for p in PROVENANCE {
                r.remove(p);
            }
            (r["JCBH"].clone(), (r, a))
        })
        .collect()
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = tuban(args);
    assert_eq!(code, 0, "tuban {args:?}: {err}");
    out
}

/// `tuban run JOB --plan DIR --task I --backend cpu`, which must succeed.
fn run_task(job: &str, plan: &Path, i: usize) {
    let (plan, i) = (plan.to_str().unwrap(), i.to_string());
    ok(&["run", job, "--plan", plan, "--task", &i, "--backend", "cpu"]);
}

#[test]
fn county_tasks_merge_to_the_single_runs_leads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let synth = d.join("synth");
    ok(&[
        "synth",
        "--size",
        "1024",
        "--seed",
        "5",
        "--counties",
        "4",
        "--out",
        &s(&synth),
    ]);
    let job = s(&synth.join("job.toml"));
    let full = d.join("full");
    ok(&["run", &job, "--out", &s(&full), "--backend", "cpu"]);
    let plan_dir = d.join("plan");
    let out = ok(&[
        "plan",
        &job,
        "--out",
        &s(&plan_dir),
        "--cpus",
        "1",
        "--tuban",
        "/opt/tuban/bin/tuban",
    ]);
    assert!(out.contains("plan: 4 county tasks"), "{out}");

    // The plan: four tasks, each window holding its county's extent; the Slurm scripts: a job
    // array per size class, the merge after all of them.
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(plan_dir.join("tasks.json")).unwrap())
            .unwrap();
    let tasks = plan["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 4);
    for t in tasks {
        let (c, w) = (&t["county_px"], &t["window"]);
        let v = |x: &serde_json::Value, i| x[i].as_u64().unwrap();
        assert!(v(w, 0) <= v(c, 0) && v(w, 1) <= v(c, 1), "{t}");
        assert!(v(w, 0) + v(w, 2) >= v(c, 0) + v(c, 2), "{t}");
        assert!(v(w, 1) + v(w, 3) >= v(c, 1) + v(c, 3), "{t}");
        assert!(t["mem_mb"].as_u64().unwrap() >= 1024, "{t}");
    }
    let submit = std::fs::read_to_string(plan_dir.join("submit.sh")).unwrap();
    assert!(
        submit.contains("--array=") && submit.contains("--dependency=afterok:"),
        "{submit}"
    );
    let task_script = std::fs::read_to_string(plan_dir.join("task.sbatch")).unwrap();
    assert!(task_script.contains("--task \"$SLURM_ARRAY_TASK_ID\""));
    assert!(
        task_script.contains("exec '/opt/tuban/bin/tuban' run"),
        "{task_script}"
    );

    // Nothing run yet: merge names every county.
    let (code, _, err) = tuban(&["merge", &s(&plan_dir)]);
    assert_ne!(code, 0);
    assert!(
        err.contains("4 of 4 counties are not finished")
            && err.contains("320585 (task 3: not run)"),
        "{err}"
    );
    for i in 0..3 {
        run_task(&job, &plan_dir, i);
    }
    let (code, _, err) = tuban(&["merge", &s(&plan_dir)]);
    assert!(
        code != 0 && err.contains("1 of 4") && err.contains("320585"),
        "{err}"
    );
    // The last one as a Slurm array task would run it.
    let last = Command::new(env!("CARGO_BIN_EXE_tuban"))
        .args(["run", &job, "--plan", &s(&plan_dir), "--backend", "cpu"])
        .env("SLURM_ARRAY_TASK_ID", "3")
        .output()
        .unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    ok(&["merge", &s(&plan_dir)]);

    let single = leads(&full.join("overlay/leads.gpkg"));
    let merged = leads(&plan_dir.join("merged.gpkg"));
    assert!(single.len() >= 4, "{} leads", single.len());
    assert_eq!(
        single.keys().collect::<Vec<_>>(),
        merged.keys().collect::<Vec<_>>()
    );
    for (k, (fields, area)) in &single {
        let (m_fields, m_area) = &merged[k];
        assert_eq!(fields, m_fields, "{k}");
        assert!((area - m_area).abs() <= 1e-6 * area.max(1.0), "{k}");
    }
    // Counties whose leads come from polygons that cross a county border.
    let counties: std::collections::BTreeSet<&str> = single.keys().map(|k| &k[..6]).collect::<_>();
    assert!(counties.len() >= 2, "{counties:?}");

    // A task run again from nothing writes the same package; merge again the same file.
    let package = |code: &str| std::fs::read(plan_dir.join(code).join("tuban.gpkg")).unwrap();
    let code1 = tasks[1]["code"].as_str().unwrap();
    let before = package(code1);
    let merged_before = std::fs::read(plan_dir.join("merged.gpkg")).unwrap();
    std::fs::remove_dir_all(plan_dir.join("tasks").join(code1)).unwrap();
    std::fs::remove_dir_all(plan_dir.join(code1)).unwrap();
    run_task(&job, &plan_dir, 1);
    assert!(package(code1) == before, "task 1 wrote other bytes");
    ok(&["merge", &s(&plan_dir)]);
    assert!(std::fs::read(plan_dir.join("merged.gpkg")).unwrap() == merged_before);

    // The merged plan goes into the case ledger as the single run does: the same leads.
    let (ledger_plan, ledger_run) = (d.join("plan-ledger.gpkg"), d.join("run-ledger.gpkg"));
    for (ledger, from) in [(&ledger_plan, &plan_dir), (&ledger_run, &full)] {
        ok(&["ledger", "init", &s(ledger)]);
        let out = ok(&["ledger", "dispatch", &s(ledger), &s(from)]);
        assert!(
            out.contains(&format!("{} ministry leads of 2024Q2 added", single.len())),
            "{out}"
        );
    }
    let jcbh = |l: &Path| -> Vec<String> {
        let mut v: Vec<String> = rows(l, "leads")
            .into_iter()
            .map(|r| r["JCBH"].clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(jcbh(&ledger_plan), jcbh(&ledger_run));

    // The job changed after the plan: tasks refuse to run under it.
    let mut text = std::fs::read_to_string(&job).unwrap();
    text.push_str("\n# edited\n");
    std::fs::write(&job, text).unwrap();
    let (code, _, err) = tuban(&["run", &job, "--plan", &s(&plan_dir), "--task", "0"]);
    assert!(code != 0 && err.contains("plan again"), "{err}");
}

/// A county whose extent meets the imagery but whose area does not (an L around the scene's
/// corner) gets its task and its package (no image reached it), and merge takes it.
#[test]
fn a_county_beside_the_imagery_gets_its_package() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let synth = d.join("synth");
    ok(&["synth", "--size", "512", "--seed", "2", "--out", &s(&synth)]);
    let ds = gdal::Dataset::open(synth.join("after.tif")).unwrap();
    let gt = ds.geo_transform().unwrap();
    let (w, _) = ds.raster_size();
    let (x1, y1) = (gt[0] + w as f64 * gt[1], gt[3]);
    let dd = 100.0;
    let l = format!(
        r#"{{"type": "FeatureCollection", "crs": {{"type": "name", "properties": {{"name": "EPSG:4527"}}}},
        "features": [{{"type": "Feature", "properties": {{"XZQDM": "320599", "XZQMC": "L"}},
        "geometry": {{"type": "Polygon", "coordinates": [[[{a}, {b}], [{c}, {b}], [{c}, {e}], [{f}, {e}], [{f}, {g}], [{a}, {g}], [{a}, {b}]]]}}}}]}}"#,
        a = x1 - dd,
        b = y1 + 10.0,
        c = x1 + dd,
        e = y1 - dd,
        f = x1 + 10.0,
        g = y1 + dd,
    );
    std::fs::write(d.join("l.geojson"), l).unwrap();
    let counties = d.join("counties.gpkg");
    for args in [
        vec![
            "-f".to_string(),
            "GPKG".into(),
            s(&counties),
            s(&synth.join("refs.gpkg")),
            "XZQ".into(),
        ],
        vec![
            "-append".into(),
            "-nln".into(),
            "XZQ".into(),
            s(&counties),
            s(&d.join("l.geojson")),
        ],
    ] {
        let st = Command::new("ogr2ogr").args(&args).status().unwrap();
        assert!(st.success(), "ogr2ogr {args:?}");
    }
    let job = synth.join("job.toml");
    let text = std::fs::read_to_string(&job).unwrap();
    let at = text.find("[layers.counties]").unwrap();
    let rest = &text[at + 1..];
    let end = rest.find("\n[").map_or(text.len(), |k| at + 1 + k);
    let text = format!(
        "{}[layers.counties]\npath = \"{}\"\nlayer = \"XZQ\"\ncode_field = \"XZQDM\"\nname_field = \"XZQMC\"\n{}",
        &text[..at],
        s(&counties),
        &text[end..]
    );
    std::fs::write(&job, text).unwrap();
    let job = s(&job);
    let plan_dir = d.join("plan");
    let out = ok(&["plan", &job, "--out", &s(&plan_dir)]);
    assert!(
        out.contains("plan: 3 county tasks") && out.contains("320599"),
        "{out}"
    );
    for i in 0..3 {
        run_task(&job, &plan_dir, i);
    }
    ok(&["merge", &s(&plan_dir)]);
    let summary = std::fs::read_to_string(plan_dir.join("summary.csv")).unwrap();
    assert!(summary.contains("320599,L,0,0.0000,0.0000"), "{summary}");
    assert!(plan_dir.join("320599/report.html").is_file());
}
