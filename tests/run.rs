//! `tuban run` on a synthetic county job: per-county packages (GeoPackage, GBK Shapefile, CSV),
//! resuming after a finished run, identical results, and a bad job refused before any work.
#![cfg(feature = "gdal")]

mod common;

use common::cli::{chromium, synth, tuban};
use common::vector::rows;
use gdal::vector::LayerAccess;
use std::path::Path;
use std::process::Command;

#[test]
fn a_synth_job_gives_one_package_per_county_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d, 1024, 5);
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
        // Every lead is typed, with a confidence and the reasons, and measured against the
        // job's land-use survey (distances to existing roads and villages).
        for r in &leads {
            let conf: f64 = r["confidence"].parse().unwrap();
            assert!(
                !r["TBLX"].is_empty() && (0.0..=1.0).contains(&conf) && !r["LXYJ"].is_empty(),
                "{r:?}"
            );
            for k in ["road_m", "village_m"] {
                let d: f64 = r[k].parse().unwrap();
                assert!((0.0..=500.0).contains(&d), "{k} {r:?}");
            }
        }
        // The Shapefile holds the same leads, its text read back through the .cpg.
        let shp = rows(&c.join("tuban.shp"), "tuban");
        assert_eq!(shp.len(), leads.len());
        for (a, b) in shp.iter().zip(&leads) {
            assert_eq!((&a["JCBH"], &a["XMC"]), (&b["JCBH"], &b["XMC"]));
        }
        // Issue 17 item 15: measures written to what their unit means, not float noise; the
        // Shapefile's numbers to six decimals; the summary's total row sums every column.
        for r in &leads {
            for (k, places) in [
                ("perim_m", 2),
                ("length_m", 2),
                ("area_m2", 2),
                ("elong", 4),
            ] {
                let v: f64 = r[k].parse().unwrap();
                let f = 10f64.powi(places);
                assert_eq!((v * f).round() / f, v, "{k} {}", r[k]);
            }
        }
        // A lead in the red line names it (the layer's HXMC, without a mapping).
        for r in leads.iter().filter(|r| r["SFHX"] == "是") {
            assert!(r.get("STHXMC").is_some_and(|n| !n.is_empty()), "{r:?}");
        }
        let ds = gdal::Dataset::open(c.join("tuban.shp")).unwrap();
        let lyr = ds.layer(0).unwrap();
        let jcmj = lyr.defn().fields().find(|f| f.name() == "JCMJ").unwrap();
        assert_eq!(jcmj.precision(), 6);
        let summary = std::fs::read_to_string(c.join("summary.csv")).unwrap();
        let cells: Vec<Vec<f64>> = summary
            .lines()
            .skip(1)
            .map(|l| l.split(',').skip(1).map(|v| v.parse().unwrap()).collect())
            .collect();
        let (sums, types) = cells.split_last().unwrap();
        for col in 0..4 {
            let sum: f64 = types.iter().map(|r| r[col]).sum();
            assert!((sum - sums[col]).abs() < 1e-3, "column {col}: {summary}");
        }
        let csv = std::fs::read_to_string(c.join("leads.csv")).unwrap();
        assert_eq!(csv.lines().count(), leads.len() + 1);
        assert!(csv.lines().next().unwrap().contains("TBLX,confidence,"));
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
    assert_eq!(html.matches("<tr id=\"lead-").count(), leads, "{html}");
    // Issue 17 item 17: every map mark links to its row; the totals name the types.
    assert_eq!(html.matches("<a href=\"#lead-").count(), leads, "{html}");
    assert!(html.contains("<th>type</th>"), "{html}");
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
    synth(d, 1024, 5);
    let text = std::fs::read_to_string(d.join("job.toml")).unwrap();
    let out = d.join("never");
    // Run a job `name` holding `job`: it must fail before any output folder exists; its stderr.
    let refused = |name: &str, job: String| -> String {
        std::fs::write(d.join(name), job).unwrap();
        let (code, _, e) = tuban(&[
            "run",
            d.join(name).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{e}");
        assert!(!out.exists(), "nothing was started");
        e
    };
    let e = refused(
        "bad.toml",
        text.replace("class_field = \"DLBM\"", "class_field = \"DLBMM\""),
    );
    assert!(e.contains("DLBMM") && e.contains("DLBM, DLMC"), "{e}");
    let e = refused(
        "crs.toml",
        text.replace(
            "layer = \"STBHHX\"",
            "layer = \"STBHHX\"\ncrs = \"EPSG:99999\"",
        ),
    );
    assert!(e.contains("crs.toml:") && e.contains("EPSG:99999"), "{e}");
    let e = refused("q.toml", text.replace("2024Q2", "2024Q7"));
    assert!(e.contains("q.toml:2") && e.contains("2024Q7"), "{e}");
}

/// `gdal_translate -srcwin` of `src` into `dst`, in `d`.
fn crop(d: &Path, src: &str, dst: &str, win: [&str; 4]) {
    let st = Command::new("gdal_translate")
        .args(["-q", "-srcwin", win[0], win[1], win[2], win[3], src, dst])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(st.success());
}

/// The synth job of `d` with its single images replaced by the `[[imagery.*_scenes]]` of
/// `scenes`, written to `d/NAME`.
fn scenes_job(d: &Path, name: &str, scenes: &str) {
    let text = std::fs::read_to_string(d.join("job.toml")).unwrap();
    let multi = text
        .replace("before = \"before.tif\"\n", "")
        .replace("after = \"after.tif\"\n", "")
        .replace("before_date = \"2024-03-20\"\n", "")
        .replace("after_date = \"2024-06-25\"\n", "");
    let at = multi.find("[layers.dltb]").unwrap();
    let multi = format!("{}{}\n{}", &multi[..at], scenes, &multi[at..]);
    std::fs::write(d.join(name), multi).unwrap();
}

/// `tuban run d/JOB --out d/OUT` on the CPU, which must succeed.
fn run_job(d: &Path, job: &str, out: &str) {
    let (code, _, e) = tuban(&[
        "run",
        d.join(job).to_str().unwrap(),
        "--out",
        d.join(out).to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 0, "{e}");
}

#[test]
fn scenes_of_different_footprints_and_dates_are_mosaicked_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d, 1024, 5);
    // The before date as two overlapping strips, the after date as two halves, each with its
    // own date: the mosaics reproduce the single images, so the leads must be the same.
    crop(d, "before.tif", "b_west.tif", ["0", "0", "600", "1024"]);
    crop(d, "before.tif", "b_east.tif", ["450", "0", "574", "1024"]);
    crop(d, "after.tif", "a_north.tif", ["0", "0", "1024", "512"]);
    crop(d, "after.tif", "a_south.tif", ["0", "512", "1024", "512"]);
    let scenes = "[[imagery.before_scenes]]\npath = \"b_west.tif\"\ndate = \"2024-03-10\"\n\
        [[imagery.before_scenes]]\npath = \"b_east.tif\"\ndate = \"2024-03-25\"\n\
        [[imagery.after_scenes]]\npath = \"a_north.tif\"\ndate = \"2024-06-20\"\n\
        [[imagery.after_scenes]]\npath = \"a_south.tif\"\ndate = \"2024-06-28\"\n";
    scenes_job(d, "scenes.toml", scenes);
    let run = |job: &str, out: &str| run_job(d, job, out);
    run("job.toml", "one");
    run("scenes.toml", "many");
    assert!(d.join("many/mosaic/before.vrt").is_file());
    let one = rows(&d.join("one/overlay/leads.gpkg"), "leads");
    let many = rows(&d.join("many/overlay/leads.gpkg"), "leads");
    assert!(!many.is_empty());
    assert_eq!(one.len(), many.len());
    let ds = gdal::Dataset::open(d.join("after.tif")).unwrap();
    let gt = ds.geo_transform().unwrap();
    let split_y = gt[3] + 512.0 * gt[5];
    for (a, b) in one.iter().zip(&many) {
        assert_eq!(
            (&a["JCBH"], &a["JCMJ"], &a["GDMJ"]),
            (&b["JCBH"], &b["JCMJ"], &b["GDMJ"])
        );
        assert!(
            ["2024-03-10", "2024-03-25"].contains(&b["QSX"].as_str()),
            "{b:?}"
        );
        assert!(b["HS_SCENES"].contains("a_north.tif") || b["HS_SCENES"].contains("a_south.tif"));
        // The after scene holding the centre of the lead's extent (the south half is listed
        // last, so it is on top) dates it.
        let cy = (b["ymin"].parse::<f64>().unwrap() + b["ymax"].parse::<f64>().unwrap()) / 2.0;
        let want = if cy < split_y {
            "2024-06-28"
        } else {
            "2024-06-20"
        };
        assert_eq!(b["HSX"], want, "{b:?}");
    }
}

/// Issue 21: one date mosaicked from a 0.8 m and a 2 m scene. The mosaic's grid is the finest
/// (the 2 m scene is not resampled to the coarsest, nor the 0.8 m one); the coverage splits the
/// clear area by the resolution each place was seen at, and each lead records the pixel size
/// of the scenes that supplied it.
#[test]
fn scenes_of_two_resolutions_are_counted_and_recorded_apart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d, 1024, 5);
    crop(d, "after.tif", "a_north.tif", ["0", "0", "1024", "512"]);
    crop(d, "after.tif", "a_south.tif", ["0", "512", "1024", "512"]);
    let st = Command::new("gdalwarp")
        .args([
            "-q",
            "-tr",
            "2",
            "2",
            "-r",
            "average",
            "a_south.tif",
            "a_south_2m.tif",
        ])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(st.success());
    let scenes = "before = \"before.tif\"\nbefore_date = \"2024-03-20\"\n\
        [[imagery.after_scenes]]\npath = \"a_north.tif\"\ndate = \"2024-06-20\"\n\
        [[imagery.after_scenes]]\npath = \"a_south_2m.tif\"\ndate = \"2024-06-28\"\n";
    scenes_job(d, "mixed.toml", scenes);
    run_job(d, "mixed.toml", "mixed");
    // The detection grid is the finest scene's.
    let change = gdal::Dataset::open(d.join("mixed/detect/change.tif")).unwrap();
    assert!((change.geo_transform().unwrap()[1] - 0.8).abs() < 1e-9);
    let csv = std::fs::read_to_string(d.join("mixed/coverage/coverage.csv")).unwrap();
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |row: &[&str], name: &str| -> String {
        row[head.iter().position(|h| *h == name).unwrap()].to_string()
    };
    let mut fine_total = 0.0;
    let mut coarse_total = 0.0;
    for line in lines {
        let row: Vec<&str> = line.split(',').collect();
        assert_eq!(col(&row, "resolution"), "mixed: <= 1 m + 1-2 m", "{csv}");
        let num = |n: &str| col(&row, n).parse::<f64>().unwrap();
        let (fine, coarse, clear) = (
            num("clear_le_1m_km2"),
            num("clear_1_2m_km2"),
            num("clear_km2"),
        );
        assert!(
            (fine + coarse - clear).abs() < 1e-4 * clear.max(1e-3),
            "{csv}"
        );
        assert_eq!(num("clear_gt_2m_km2"), 0.0);
        fine_total += fine;
        coarse_total += coarse;
    }
    // Each half of the 819.2 m square scene is 0.3355 km²; clouds and shadow take some (this
    // seed's clouds, 0.10 km², all lie in the south half).
    for (what, km2) in [("0.8 m", fine_total), ("2 m", coarse_total)] {
        assert!((0.2..=0.337).contains(&km2), "{what}: {km2} km² ({csv})");
    }
    let leads = rows(&d.join("mixed/overlay/leads.gpkg"), "leads");
    assert!(!leads.is_empty());
    let gt = gdal::Dataset::open(d.join("after.tif"))
        .unwrap()
        .geo_transform()
        .unwrap();
    let split_y = gt[3] + 512.0 * gt[5];
    for l in &leads {
        let cy = (l["ymin"].parse::<f64>().unwrap() + l["ymax"].parse::<f64>().unwrap()) / 2.0;
        let want = if cy < split_y { 2.0 } else { 0.8 };
        assert_eq!(l["HS_RES_M"].parse::<f64>().unwrap(), want, "{l:?}");
        assert_eq!(l["QS_RES_M"].parse::<f64>().unwrap(), 0.8, "{l:?}");
    }
    // The county report says it.
    let county = std::fs::read_dir(d.join("mixed"))
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("3205"))
        .unwrap()
        .path();
    let html = std::fs::read_to_string(county.join("report.html")).unwrap();
    assert!(
        html.contains("Seen clear at") && html.contains("1-2 m"),
        "no resolution line"
    );
}

#[test]
fn a_killed_detection_resumes_from_its_last_written_tile() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d, 2048, 4);
    let args = |out: &Path| -> Vec<String> {
        [
            "detect",
            "--before",
            "before.tif",
            "--after",
            "after.tif",
            "--bands",
            "B=1,G=2,R=3,NIR=4",
            "--tile",
            "256",
            "--backend",
            "cpu",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.to_str().unwrap().to_string()])
        .collect()
    };
    // Uninterrupted.
    let whole = d.join("whole");
    let st = Command::new(env!("CARGO_BIN_EXE_tuban"))
        .args(args(&whole))
        .current_dir(d)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    // Killed (SIGKILL: no cleanup runs) once a few tiles are on disk, then run again.
    let cut = d.join("cut");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tuban"))
        .args(args(&cut))
        .current_dir(d)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let log = cut.join(".detect.checkpoint");
    let t0 = std::time::Instant::now();
    loop {
        let lines = std::fs::read_to_string(&log)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if lines > 6 || t0.elapsed().as_secs() > 120 {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            panic!("detection ended before it could be interrupted");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !cut.join("change.tif").exists(),
        "no complete-looking output after a kill"
    );
    assert!(
        cut.join(".tuban-near.bin").exists(),
        "the killed run's scratch store"
    );
    let st = Command::new(env!("CARGO_BIN_EXE_tuban"))
        .args(args(&cut))
        .current_dir(d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&st.stderr);
    assert!(st.status.success(), "{stderr}");
    assert!(stderr.contains("resumed an interrupted run"), "{stderr}");
    assert!(!log.exists());
    for f in ["change.tif", "evidence.tif"] {
        let a = gdal::Dataset::open(whole.join(f)).unwrap();
        let b = gdal::Dataset::open(cut.join(f)).unwrap();
        let (w, h) = a.raster_size();
        let ra: Vec<f64> = a
            .rasterband(1)
            .unwrap()
            .read_as::<f64>((0, 0), (w, h), (w, h), None)
            .unwrap()
            .data()
            .to_vec();
        let rb: Vec<f64> = b
            .rasterband(1)
            .unwrap()
            .read_as::<f64>((0, 0), (w, h), (w, h), None)
            .unwrap()
            .data()
            .to_vec();
        let same = ra
            .iter()
            .zip(&rb)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
        assert!(same, "{f} differs after resuming");
    }
    let a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(whole.join("detect.json")).unwrap()).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(cut.join("detect.json")).unwrap()).unwrap();
    for k in ["valid_px", "changed_px", "near_threshold_px", "polygons"] {
        assert_eq!(a[k], b[k], "{k}");
    }
    // The uninterrupted run typed from the pixels it kept near changes, the resumed one (which
    // did not see every tile) from the images: the same types and measures. The killed run's
    // scratch store is gone.
    assert!(!cut.join(".tuban-near.bin").exists());
    assert!(!whole.join(".tuban-near.bin").exists());
    for layer in ["changes.gpkg", "rejected.gpkg"] {
        let (a, b) = (features(&whole.join(layer)), features(&cut.join(layer)));
        assert!(!a.is_empty() || layer == "rejected.gpkg");
        assert_eq!(a, b, "{layer}");
    }
}

/// Every feature of a vector file as its field values and geometry (WKT), sorted.
fn features(path: &Path) -> Vec<String> {
    use gdal::vector::LayerAccess;
    let ds = gdal::Dataset::open(path).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let mut rows: Vec<String> = layer
        .features()
        .map(|f| {
            let fields: Vec<String> = f.fields().map(|(k, v)| format!("{k}={v:?}")).collect();
            let wkt = f.geometry().map(|g| g.wkt().unwrap()).unwrap_or_default();
            format!("{} {wkt}", fields.join(" "))
        })
        .collect();
    rows.sort();
    rows
}

/// Issue 21: every county's area splits into seen clear, cloud, nodata and no image; the parts
/// add up, each matches what was done to the imagery, and the not-seen parts are polygons in
/// the run's coverage layer and in each county's package and report.
#[test]
fn coverage_adds_up_and_names_what_was_not_seen() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d, 1024, 5);
    // The after image stops at row 900 (the rest of both counties: no image), with a
    // 200 x 100 px hole of nodata (0) inside.
    let st = Command::new("gdal_translate")
        .args(["-q", "-a_nodata", "0", "-srcwin", "0", "0", "1024", "900"])
        .args(["after.tif", "a_cut.tif"])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(st.success());
    {
        let ds = common::open_update(d.join("a_cut.tif"));
        for b in 1..=4 {
            let mut buf = gdal::raster::Buffer::new((200, 100), vec![0u16; 200 * 100]);
            ds.rasterband(b)
                .unwrap()
                .write((100, 100), (200, 100), &mut buf)
                .unwrap();
        }
    }
    let text = std::fs::read_to_string(d.join("job.toml"))
        .unwrap()
        .replace("after = \"after.tif\"", "after = \"a_cut.tif\"")
        .replace("[rules]\n", "[rules]\nmin_clear_share = 0.99\n");
    std::fs::write(d.join("cut.toml"), text).unwrap();
    let out = d.join("out");
    let (code, stdout, e) = tuban(&[
        "run",
        d.join("cut.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 0, "{e}");
    assert!(stdout.contains("% seen clear"), "{stdout}");
    // Both counties are under the 99 % asked for: each is named with its shares.
    for c in ["320581", "320582"] {
        assert!(
            e.lines()
                .any(|l| l.starts_with(&format!("warning: county {c}")) && l.contains("seen clear")),
            "{e}"
        );
    }
    let px_km2 = 0.8 * 0.8 / 1e6;
    // What was done, counted on the synth's own rasters: the truth's clouds in the rows the
    // after image still has, outside the hole.
    let (w, _, pseudo) = common::raster::read_u8(&d.join("pseudo.tif"));
    let cloud_px = pseudo
        .iter()
        .enumerate()
        .filter(|(i, p)| {
            let (x, y) = (i % w, i / w);
            **p == 3 && y < 900 && !((100..300).contains(&x) && (100..200).contains(&y))
        })
        .count();
    assert!(cloud_px > 1000, "{cloud_px}");
    let csv = std::fs::read_to_string(out.join("coverage/coverage.csv")).unwrap();
    let rows_csv: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert_eq!(rows_csv.len(), 2, "{csv}");
    // Columns: area, clear, cloud, shadow, nodata, no image.
    let mut total = [0.0f64; 6];
    for r in &rows_csv {
        let v: Vec<f64> = r[2..8].iter().map(|x| x.parse().unwrap()).collect();
        let parts: f64 = v[1..].iter().sum();
        assert!((parts - v[0]).abs() < 1e-5, "{r:?}");
        for k in 0..6 {
            total[k] += v[k];
        }
    }
    // The two counties tile the scene.
    assert!(
        (total[0] - 1024.0 * 1024.0 * px_km2).abs() < 1e-5,
        "{total:?}"
    );
    assert!(
        (total[5] - 1024.0 * 124.0 * px_km2).abs() < 1e-5,
        "{total:?}"
    );
    assert!(
        (total[4] - 200.0 * 100.0 * px_km2).abs() < 1e-5,
        "{total:?}"
    );
    // Shadow: the dark screen's pixels (cloud shadows among them), counted apart.
    assert!(total[3] > 0.0, "{total:?}");
    assert!(
        (total[2] - cloud_px as f64 * px_km2).abs() < 0.01 * cloud_px as f64 * px_km2,
        "{total:?} vs {cloud_px} cloud px"
    );
    // The layer: valid polygons whose areas, with the clear area, make each county.
    let ds = gdal::Dataset::open(out.join("coverage/coverage.gpkg")).unwrap();
    let mut layer = ds.layer_by_name("not_seen").unwrap();
    let mut by_county = std::collections::BTreeMap::<String, f64>::new();
    let mut reasons = std::collections::BTreeSet::new();
    for f in layer.features() {
        let g = f.geometry().unwrap();
        assert!(g.is_valid());
        let county = common::vector::text_field(&f, "XZQDM");
        reasons.insert(common::vector::text_field(&f, "reason"));
        *by_county.entry(county).or_default() += g.area() / 1e6;
    }
    assert_eq!(
        reasons.into_iter().collect::<Vec<_>>(),
        ["cloud", "no image", "nodata", "shadow"]
    );
    for r in &rows_csv {
        let (area, clear): (f64, f64) = (r[2].parse().unwrap(), r[3].parse().unwrap());
        assert!((by_county[&r[0]] + clear - area).abs() < 1e-5, "{r:?}");
        // Each package holds its county's parts and the report shows them.
        let pkg = out.join(&r[0]);
        let parts = rows(&pkg.join("tuban.gpkg"), "coverage");
        assert!(!parts.is_empty() && parts.iter().all(|p| p["XZQDM"] == r[0]));
        let html = std::fs::read_to_string(pkg.join("report.html")).unwrap();
        assert!(html.contains("id=\"coverage\"") && html.contains("class=\"noimage\""));
    }
}

#[test]
fn clouds_in_the_before_image_are_cloud_and_hold_no_change() {
    // The synth's clouds lie in its after image; with the dates swapped they are the before
    // image's. Under a cloud then, nothing tells what stood there before the quarter.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d, 1024, 5);
    let out = d.join("swapped");
    let (code, _, e) = tuban(&[
        "detect",
        "--before",
        d.join("after.tif").to_str().unwrap(),
        "--after",
        d.join("before.tif").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 0, "{e}");
    assert!(e.contains("cloud in the after or the before image"), "{e}");
    let (w, _, pseudo) = common::raster::read_u8(&d.join("pseudo.tif"));
    let evidence = common::raster::read_f32(&out.join("evidence.tif"));
    let (_, _, change) = common::raster::read_u8(&out.join("change.tif"));
    let clouds: Vec<usize> = (0..pseudo.len()).filter(|&i| pseudo[i] == 3).collect();
    assert!(clouds.len() > 1000, "{}", clouds.len());
    let screened = clouds
        .iter()
        .filter(|&&i| evidence[i] == tuban::change::CLOUD_EVIDENCE)
        .count();
    assert!(
        screened as f64 >= 0.99 * clouds.len() as f64,
        "{screened} of {} cloud px screened (w {w})",
        clouds.len()
    );
    let changed = clouds
        .iter()
        .filter(|&&i| tuban::change::is_change(u32::from(change[i])))
        .count();
    assert!(
        changed as f64 <= 0.01 * clouds.len() as f64,
        "{changed} of {} cloud px changed",
        clouds.len()
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("detect.json")).unwrap()).unwrap();
    let cloud_px = summary["cloud_px"].as_u64().unwrap() as usize;
    assert!(cloud_px >= screened, "{cloud_px} vs {screened}");
}
