//! `tuban run` on a synthetic county job: per-county packages (GeoPackage, GBK Shapefile, CSV),
//! resuming after a finished run, identical results, and a bad job refused before any work.
#![cfg(feature = "gdal")]

mod common;

use common::cli::tuban;
use common::vector::rows;
use std::path::Path;

fn synth(dir: &Path) {
    let (code, _, e) = tuban(&[
        "synth",
        "--size",
        "1024",
        "--seed",
        "5",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{e}");
}

#[test]
fn a_synth_job_gives_one_package_per_county_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d);
    let job = d.join("job.toml");
    let out = d.join("pkg");
    let args = [
        "run",
        job.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ];
    let (code, stdout, e) = tuban(&args);
    assert_eq!(code, 0, "{e}");
    assert!(
        stdout.contains("county 320581") && stdout.contains("county 320582"),
        "{stdout}"
    );
    let overlay_leads = rows(&out.join("overlay/leads.gpkg"), "leads");
    let mut total = 0;
    for code in ["320581", "320582"] {
        let c = out.join(code);
        for f in [
            "tuban.gpkg",
            "tuban.shp",
            "tuban.dbf",
            "tuban.cpg",
            "leads.csv",
            "summary.csv",
        ] {
            assert!(c.join(f).is_file(), "{code}/{f}");
        }
        assert_eq!(
            std::fs::read_to_string(c.join("tuban.cpg")).unwrap().trim(),
            "GBK"
        );
        let leads = rows(&c.join("tuban.gpkg"), "leads");
        assert!(
            leads
                .iter()
                .all(|r| r["XZQDM"] == code && r["JCBH"].starts_with(code))
        );
        // The Shapefile holds the same leads, its text read back through the .cpg.
        let shp = rows(&c.join("tuban.shp"), "tuban");
        assert_eq!(shp.len(), leads.len());
        for (a, b) in shp.iter().zip(&leads) {
            assert_eq!((&a["JCBH"], &a["XMC"]), (&b["JCBH"], &b["XMC"]));
        }
        let csv = std::fs::read_to_string(c.join("leads.csv")).unwrap();
        assert_eq!(csv.lines().count(), leads.len() + 1);
        total += leads.len();
    }
    assert_eq!(total, overlay_leads.len());
    assert!(!std::fs::read_dir(&out).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".partial")
    }));

    // A second run skips detection and the finished counties and writes the same leads.
    let before = rows(&out.join("320582/tuban.gpkg"), "leads");
    let (code, stdout, e) = tuban(&args);
    assert_eq!(code, 0, "{e}");
    assert!(
        stdout.contains("skipped detect, county 320581, county 320582"),
        "{stdout}"
    );
    assert_eq!(rows(&out.join("320582/tuban.gpkg"), "leads"), before);
    // A county folder removed (as if the run had been killed before it) is made again, the same.
    std::fs::remove_dir_all(out.join("320582")).unwrap();
    let (code, stdout, e) = tuban(&args);
    assert_eq!(code, 0, "{e}");
    assert!(
        stdout.contains("skipped detect, county 320581 ("),
        "{stdout}"
    );
    assert_eq!(rows(&out.join("320582/tuban.gpkg"), "leads"), before);
}

#[test]
fn a_bad_job_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d);
    let text = std::fs::read_to_string(d.join("job.toml")).unwrap();
    std::fs::write(
        d.join("bad.toml"),
        text.replace("class_field = \"DLBM\"", "class_field = \"DLBMM\""),
    )
    .unwrap();
    let out = d.join("never");
    let (code, _, e) = tuban(&[
        "run",
        d.join("bad.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(e.contains("DLBMM") && e.contains("DLBM, DLMC"), "{e}");
    assert!(!out.exists(), "nothing was started");
    std::fs::write(d.join("q.toml"), text.replace("2024Q2", "2024Q7")).unwrap();
    let (code, _, e) = tuban(&["run", d.join("q.toml").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(e.contains("q.toml:2") && e.contains("2024Q7"), "{e}");
}
