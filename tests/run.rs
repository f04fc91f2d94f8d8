//! `tuban run` on a synthetic county job: per-county packages (GeoPackage, GBK Shapefile, CSV),
//! resuming after a finished run, identical results, and a bad job refused before any work.
#![cfg(feature = "gdal")]

mod common;

use common::cli::tuban;
use common::vector::rows;
use std::path::Path;
use std::process::Command;

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
    let busiest = ["320581", "320582"]
        .into_iter()
        .max_by_key(|c| rows(&out.join(c).join("tuban.gpkg"), "leads").len())
        .unwrap();
    check_report_in_chromium(&out.join(busiest), d);
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

/// The browser, or None (then the check is skipped, unless REQUIRE_BROWSER=1 as in CI).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("REQUIRE_BROWSER").is_none(),
            "REQUIRE_BROWSER=1 but no Chromium"
        );
        eprintln!("skipped: no headless Chromium");
    }
    found
}

/// Open the county report in headless Chromium: it loads, scripts run without errors, one
/// row per lead, every chip image loads; a screenshot is kept beside the test's output.
fn check_report_in_chromium(county: &Path, scratch: &Path) {
    let Some(browser) = chromium() else { return };
    let report = std::fs::canonicalize(county.join("report.html")).unwrap();
    let url = format!("file://{}", report.display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let dom = Command::new(browser)
        .args(common)
        .args(["--virtual-time-budget=5000", "--dump-dom", &url])
        .env("HOME", scratch)
        .output()
        .unwrap();
    let html = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(!log.contains("Uncaught"), "script error: {log}");
    let leads = rows(&county.join("tuban.gpkg"), "leads").len();
    assert!(leads > 0);
    assert_eq!(html.matches("<tr data-jcbh=").count(), leads, "{html}");
    let loaded = format!(
        "data-chips-loaded=\"{}\" data-chips-failed=\"0\"",
        2 * leads
    );
    assert!(
        html.contains(&loaded),
        "chips did not all load: {}",
        &html[..html.len().min(400)]
    );
    let shot = scratch.join("report.png");
    let st = Command::new(browser)
        .args(common)
        .args([
            "--window-size=1400,1400",
            &format!("--screenshot={}", shot.display()),
            &url,
        ])
        .env("HOME", scratch)
        .output()
        .unwrap();
    assert!(st.status.success());
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 20_000,
        "a blank screenshot"
    );
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
    let crs = text.replace(
        "layer = \"STBHHX\"",
        "layer = \"STBHHX\"\ncrs = \"EPSG:99999\"",
    );
    std::fs::write(d.join("crs.toml"), crs).unwrap();
    let (code, _, e) = tuban(&[
        "run",
        d.join("crs.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(e.contains("crs.toml:") && e.contains("EPSG:99999"), "{e}");
    assert!(!out.exists(), "nothing was started");
    std::fs::write(d.join("q.toml"), text.replace("2024Q2", "2024Q7")).unwrap();
    let (code, _, e) = tuban(&["run", d.join("q.toml").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(e.contains("q.toml:2") && e.contains("2024Q7"), "{e}");
}
