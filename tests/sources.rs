//! `tuban sources` (issue 21): one synth scene as delivered and degraded (coarser pixels, a
//! shift, noise, a band subset), each detected and scored against the same truth; the table,
//! the measured shifts, the degraded images themselves, and the page in a real browser.
#![cfg(feature = "gdal")]

mod common;

use common::cli::{chromium, synth, tuban};
use std::process::Command;

fn read_band(path: &std::path::Path) -> (usize, usize, Vec<f64>) {
    let ds = gdal::Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    let b = ds
        .rasterband(1)
        .unwrap()
        .read_as::<f64>((0, 0), (w, h), (w, h), None)
        .unwrap();
    (w, h, b.data().to_vec())
}

#[test]
fn sources_are_compared_on_one_truth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(&d.join("scene"), 1024, 5);
    std::fs::write(
        d.join("bench.toml"),
        r#"truth = "scene/truth.tif"
ignore = "scene/clouds.tif"
min_area_mu = 1.0

[[source]]
name = "native"
before = "scene/before.tif"
after = "scene/after.tif"

[[source]]
name = "2 m"
like = "native"
resample_m = 2.0

[[source]]
name = "shift 3"
like = "native"
shift_px = [3.0, 0.0]

[[source]]
name = "noise"
like = "native"
noise = 0.02

[[source]]
name = "rgb"
like = "native"
bands = "R=3,G=2,B=1"

[[source]]
name = "shift 3, coregistered"
like = "native"
shift_px = [3.0, 0.0]
coregister = true
"#,
    )
    .unwrap();
    let out = d.join("out");
    let (code, stdout, e) = tuban(&[
        "sources",
        d.join("bench.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 0, "{e}");
    assert!(stdout.contains("sources.html"), "{stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sources.json")).unwrap()).unwrap();
    let s = r["sources"].as_array().unwrap();
    assert_eq!(s.len(), 6);
    let by = |name: &str| s.iter().find(|x| x["name"] == name).unwrap();
    for x in s {
        for k in ["f1", "precision", "recall"] {
            let v = x["pixel"][k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{x}");
        }
        assert_eq!(x["recall_by_size"].as_array().unwrap().len(), 5);
    }
    // The coarse source is coarse: 1024 x 0.8 m = 819.2 m at 2 m.
    assert_eq!(by("2 m")["pixel_size_m"].as_f64().unwrap(), 2.0);
    let (w, h, _) = read_band(&out.join("02-2_m/before.tif"));
    assert_eq!((w, h), (410, 410));
    // The shift put in is the shift measured, on top of the synth's own.
    let dx = |n: &str| by(n)["registration"]["dx_px"].as_f64().unwrap();
    let dy = |n: &str| by(n)["registration"]["dy_px"].as_f64().unwrap();
    assert!(
        (dx("shift 3") - dx("native") - 3.0).abs() < 0.3
            && (dy("shift 3") - dy("native")).abs() < 0.3,
        "{} {}",
        by("shift 3")["registration"],
        by("native")["registration"]
    );
    // Co-registered, the shift put in is taken out before detection.
    let c = &by("shift 3, coregistered")["coregistered_by"];
    assert!(
        (c["dx_px"].as_f64().unwrap() - dx("shift 3")).abs() < 0.01,
        "{c}"
    );
    // Noise of 2 % reflectance (200 on the 16-bit scale), independent between the dates.
    let (_, _, b0) = read_band(&d.join("scene/before.tif"));
    let (_, _, a0) = read_band(&d.join("scene/after.tif"));
    let (_, _, b1) = read_band(&out.join("04-noise/before.tif"));
    let (_, _, a1) = read_band(&out.join("04-noise/after.tif"));
    let nb: Vec<f64> = b1.iter().zip(&b0).map(|(x, y)| x - y).collect();
    let na: Vec<f64> = a1.iter().zip(&a0).map(|(x, y)| x - y).collect();
    let n = nb.len() as f64;
    let sd = (nb.iter().map(|v| v * v).sum::<f64>() / n).sqrt();
    let corr = nb.iter().zip(&na).map(|(x, y)| x * y).sum::<f64>() / n / (sd * sd);
    assert!(
        (sd - 200.0).abs() < 10.0 && corr.abs() < 0.02,
        "sd {sd}, corr {corr}"
    );
    // The band subset: red, green and blue without NIR, so the built-in RGB pixel trees.
    assert_eq!(by("rgb")["bands"], 3);
    assert_eq!(by("rgb")["evidence"], "model");
    let csv = std::fs::read_to_string(out.join("sources.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7, "{csv}");
    // The same leads from every source: real 256-px RGB chips; the first source's own lead
    // is among the polygons outlined in its chip.
    let rows = r["chips"].as_array().unwrap();
    assert!((2..=4).contains(&rows.len()), "{rows:?}");
    for row in rows {
        let chips = row["chips"].as_array().unwrap();
        assert_eq!(chips.len(), 6);
        assert!(row["polygons"][0].as_u64().unwrap() >= 1, "{row}");
        for c in chips {
            let ds = gdal::Dataset::open(out.join(c.as_str().unwrap())).unwrap();
            assert_eq!((ds.raster_size(), ds.raster_count()), ((256, 256), 3));
        }
    }
    // The page in a real browser: one row and one plotted line per source.
    let Some(browser) = chromium() else { return };
    let page = std::fs::canonicalize(out.join("sources.html")).unwrap();
    let dom = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .env("HOME", d)
        .output()
        .unwrap();
    let html = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(html.matches("<tr data-source=").count(), 6, "{html}");
    assert_eq!(html.matches("<g class=\"series\"").count(), 6, "{html}");
    assert!(html.contains("co-registered (moved"), "{html}");
    assert!(html.contains("bands R=3,G=2,B=1"), "{html}");
    assert_eq!(
        html.matches("<img class=\"chip\"").count(),
        6 * rows.len(),
        "{html}"
    );
}

/// A change-detection dataset's PNG pair (no georeference) compared at its own and a coarser
/// ground size: `pixel_m` places the images and the label on a metric grid.
#[test]
fn ungeoreferenced_pairs_are_placed_by_pixel_m() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let levir =
        std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/levir")).unwrap();
    let bench = d.join("bench.toml");
    let text = |pixel: &str| {
        format!(
            "truth = \"{0}/label.png\"\n{pixel}min_area_mu = 0.1\n\
             [[source]]\nname = \"native\"\nbefore = \"{0}/before.png\"\nafter = \"{0}/after.png\"\n\
             [[source]]\nname = \"1 m\"\nlike = \"native\"\nresample_m = 1.0\n",
            levir.display()
        )
    };
    let run = |out: &str| {
        tuban(&[
            "sources",
            bench.to_str().unwrap(),
            "--out",
            d.join(out).to_str().unwrap(),
            "--backend",
            "cpu",
        ])
    };
    // Without a ground size a resampled source cannot be made: the error says what to give.
    std::fs::write(&bench, text("")).unwrap();
    let (code, _, e) = run("o1");
    assert!(code != 0 && e.contains("pixel_m"), "{e}");
    std::fs::write(&bench, text("pixel_m = 0.5\n")).unwrap();
    let (code, _, e) = run("o2");
    assert_eq!(code, 0, "{e}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("o2/sources.json")).unwrap()).unwrap();
    let s = r["sources"].as_array().unwrap();
    assert_eq!(s[0]["pixel_size_m"].as_f64(), Some(0.5));
    assert_eq!(s[1]["pixel_size_m"].as_f64(), Some(1.0));
    // The building pair is scored: some of its new buildings are found at 0.5 m.
    assert!(s[0]["pixel"]["f1"].as_f64().unwrap() > 0.05, "{}", s[0]);
    let (w, h, _) = read_band(&d.join("o2/02-1_m/after.tif"));
    let (w0, h0, _) = read_band(&levir.join("after.png"));
    assert_eq!((w, h), (w0.div_ceil(2), h0.div_ceil(2)));
}

#[test]
fn a_bad_bench_is_refused_with_its_file_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bench = d.join("b.toml");
    let run = |text: &str| {
        std::fs::write(&bench, text).unwrap();
        let (code, _, e) = tuban(&[
            "sources",
            bench.to_str().unwrap(),
            "--out",
            d.join("o").to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{e}");
        assert!(e.contains("b.toml"), "{e}");
        assert!(!d.join("o").exists());
        e
    };
    std::fs::write(d.join("t.tif"), b"").unwrap();
    assert!(run("truth = \"nope.tif\"\n[[source]]\nname = \"a\"\nbefore = \"t.tif\"\nafter = \"t.tif\"\n").contains("nope.tif"));
    assert!(run("truth = \"t.tif\"\n").contains("source"));
    assert!(
        run("truth = \"t.tif\"\n[[source]]\nname = \"a\"\nlike = \"b\"\nnoise = 0.1\n")
            .contains("names no earlier source")
    );
    assert!(run("truth = \"t.tif\"\n[[source]]\nname = \"a\"\nbefore = \"t.tif\"\nafter = \"t.tif\"\n[[source]]\nname = \"b\"\nlike = \"a\"\nnoise = 5\n").contains("noise = 5"));
    assert!(run("truth = \"t.tif\"\n[[source]]\nname = \"a\"\nbefore = \"t.tif\"\nafter = \"t.tif\"\n[[source]]\nname = \"a\"\nlike = \"a\"\n").contains("distinct"));
    assert!(run("truth = \"t.tif\"\nresolution = 2\n").contains("resolution"));
}
