//! Bad input through the `tuban` binary: one clear line naming the file and the problem, exit
//! code 1 (never a panic's 101), and no output that looks complete.
#![cfg(feature = "gdal")]

mod common;

use common::raster::{GT, Spec, write_tif};
use std::path::Path;

fn tuban(args: &[&str]) -> (i32, String) {
    let (code, _, err) = common::cli::tuban(args);
    (code, err)
}

fn detect(b: &Path, a: &Path, out: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "detect",
        "--before",
        b.to_str().unwrap(),
        "--after",
        a.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ];
    args.extend_from_slice(extra);
    tuban(&args)
}

fn pair(
    dir: &Path,
    bands_after: usize,
    epsg_after: u32,
    gt_after: [f64; 6],
) -> (std::path::PathBuf, std::path::PathBuf) {
    let s = common::scene(64, 64, 4, 1);
    let (b, a) = (dir.join("b.tif"), dir.join("a.tif"));
    write_tif::<u16>(&b, Spec::gk(64, 64, 4), &s.before, |v| v as u16);
    let spec = Spec {
        gt: Some(gt_after),
        epsg: Some(epsg_after),
        ..Spec::gk(64, 64, bands_after)
    };
    write_tif::<u16>(&a, spec, &s.after[..64 * 64 * bands_after], |v| v as u16);
    (b, a)
}

/// The error is one line that starts with "error:" and contains every `needle`.
fn assert_clear(code: i32, err: &str, needles: &[&str]) {
    assert_eq!(code, 1, "exit code {code}, stderr: {err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in {err:?}"));
    for n in needles {
        assert!(line.contains(n), "{n:?} missing from {line:?}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

fn assert_no_outputs(out: &Path) {
    for name in ["change.tif", "evidence.tif", "detect.json"] {
        assert!(!out.join(name).exists(), "{name} left behind");
    }
    if let Ok(rd) = std::fs::read_dir(out) {
        for e in rd {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.ends_with(".partial"), "{n} left behind");
        }
    }
}

#[test]
fn missing_file() {
    let d = tempfile::tempdir().unwrap();
    let (b, _) = pair(d.path(), 4, 4527, GT);
    let (code, err) = detect(&b, &d.path().join("nope.tif"), &d.path().join("o"), &[]);
    assert_clear(code, &err, &["nope.tif", "no such file"]);
    // Issue 17 item 14: the folder the failed run made is not left behind empty ...
    assert!(!d.path().join("o").exists());
    // ... but a folder that was there stays, with what it held.
    std::fs::create_dir(d.path().join("mine")).unwrap();
    std::fs::write(d.path().join("mine/notes.txt"), "keep").unwrap();
    let (code, _) = detect(&b, &d.path().join("nope.tif"), &d.path().join("mine"), &[]);
    assert_eq!(code, 1);
    assert!(d.path().join("mine/notes.txt").exists());
    // ... and with the automatic backend, the error comes first (no adapter line before it).
    let (code, err) = tuban(&[
        "detect",
        "--before",
        b.to_str().unwrap(),
        "--after",
        d.path().join("nope.tif").to_str().unwrap(),
        "--out",
        d.path().join("o").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error:") && err.contains("nope.tif"),
        "{err}"
    );
}

#[test]
fn issue_17_an_unknown_evidence_lists_auto_too() {
    let d = tempfile::tempdir().unwrap();
    let (b, a) = pair(d.path(), 4, 4527, GT);
    let (code, err) = detect(&b, &a, &d.path().join("o"), &["--evidence", "foo"]);
    assert_clear(
        code,
        &err,
        &["--evidence \"foo\"", "auto, brightness", "conversion"],
    );
}

#[test]
fn garbage_bytes_are_an_error_not_a_panic() {
    let d = tempfile::tempdir().unwrap();
    let (b, _) = pair(d.path(), 4, 4527, GT);
    let junk = d.path().join("junk.tif");
    std::fs::write(
        &junk,
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let (code, err) = detect(&b, &junk, &d.path().join("o"), &[]);
    assert_clear(code, &err, &["junk.tif", "cannot read raster"]);
    // Truncated GeoTIFF: a real header, no data.
    let trunc = d.path().join("trunc.tif");
    std::fs::write(&trunc, &std::fs::read(&b).unwrap()[..300]).unwrap();
    let (code, err) = detect(&b, &trunc, &d.path().join("o2"), &[]);
    assert_clear(code, &err, &["trunc.tif"]);
    assert_no_outputs(&d.path().join("o2"));
}

#[test]
fn crs_mismatch_names_both_files() {
    let d = tempfile::tempdir().unwrap();
    let (b, a) = pair(d.path(), 4, 4528, GT);
    let (code, err) = detect(&b, &a, &d.path().join("o"), &[]);
    assert_clear(
        code,
        &err,
        &[
            "b.tif",
            "a.tif",
            "coordinate reference systems differ",
            "--resample",
        ],
    );
}

#[test]
fn resolution_mismatch() {
    let d = tempfile::tempdir().unwrap();
    let (b, a) = pair(d.path(), 4, 4527, [GT[0], 0.5, 0.0, GT[3], 0.0, -0.5]);
    let (code, err) = detect(&b, &a, &d.path().join("o"), &[]);
    assert_clear(code, &err, &["b.tif", "a.tif", "pixel sizes differ"]);
}

#[test]
fn no_overlap() {
    let d = tempfile::tempdir().unwrap();
    let (b, a) = pair(
        d.path(),
        4,
        4527,
        [GT[0] + 1000.0, 0.8, 0.0, GT[3], 0.0, -0.8],
    );
    let (code, err) = detect(&b, &a, &d.path().join("o"), &[]);
    assert_clear(code, &err, &["b.tif", "a.tif", "do not overlap"]);
}

#[test]
fn too_few_bands() {
    let d = tempfile::tempdir().unwrap();
    let (b, a) = pair(d.path(), 3, 4527, GT);
    let (code, err) = detect(&b, &a, &d.path().join("o"), &[]);
    assert_clear(code, &err, &["a.tif", "3 bands, expected 4"]);
    let (code, err) = detect(&b, &b, &d.path().join("o"), &["--bands", "1,2,3,5"]);
    assert_clear(code, &err, &["b.tif", "band 5 does not exist"]);
    let (code, err) = detect(
        &b,
        &b,
        &d.path().join("o"),
        &["--bands", "1,2,3", "--evidence", "ndvi"],
    );
    assert_clear(code, &err, &["b.tif", "ndvi needs a NIR band"]);
}

#[test]
fn all_nodata() {
    let d = tempfile::tempdir().unwrap();
    let (b, a) = (d.path().join("b.tif"), d.path().join("a.tif"));
    let zeros = vec![0.0f32; 64 * 64 * 4];
    let spec = Spec {
        nodata: Some(0.0),
        ..Spec::gk(64, 64, 4)
    };
    write_tif::<u16>(&b, spec, &zeros, |v| v as u16);
    write_tif::<u16>(&a, spec, &zeros, |v| v as u16);
    let out = d.path().join("o");
    let (code, err) = detect(&b, &a, &out, &[]);
    assert_clear(code, &err, &["b.tif", "a.tif", "nodata"]);
    assert_no_outputs(&out);
}

#[test]
fn output_folder_is_a_file() {
    let d = tempfile::tempdir().unwrap();
    let (b, a) = pair(d.path(), 4, 4527, GT);
    let f = d.path().join("taken");
    std::fs::write(&f, "x").unwrap();
    let (code, err) = detect(&b, &a, &f, &[]);
    assert_clear(code, &err, &["taken", "not a folder"]);
}

#[test]
fn bad_flag_values() {
    let d = tempfile::tempdir().unwrap();
    let (b, a) = pair(d.path(), 4, 4527, GT);
    let (code, err) = detect(&b, &a, &d.path().join("o"), &["--evidence", "magic"]);
    assert_clear(code, &err, &["magic", "mbi"]);
    let (code, err) = detect(&b, &a, &d.path().join("o"), &["--threshold", "high"]);
    assert_clear(code, &err, &["--threshold", "high"]);
}

#[test]
fn issue_17_a_second_run_on_a_folder_in_use_is_refused() {
    // Two runs on one folder interleaved their tiles and checkpoints (wrong outputs that a
    // rerun then kept as done). Here the test holds the folder as a running detect would.
    let d = tempfile::tempdir().unwrap();
    let (b, a) = pair(d.path(), 4, 4527, GT);
    let out = d.path().join("o");
    std::fs::create_dir(&out).unwrap();
    let held = tuban::pipeline::lock::FolderLock::acquire(&out).unwrap();
    let (code, err) = detect(&b, &a, &out, &[]);
    assert_clear(
        code,
        &err,
        &["another tuban run", &format!("pid {}", std::process::id())],
    );
    assert_no_outputs(&out);
    // Once the holder is gone (a killed run's lock goes with it), the folder is free.
    drop(held);
    let (code, err) = detect(&b, &a, &out, &[]);
    assert_eq!(code, 0, "{err}");
}

/// Issue 17 item 5: an image whose only band is alpha gave "0 bands" and an all-zero result.
#[test]
fn issue_17_an_alpha_only_image_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let (_, a) = pair(d.path(), 4, 4527, GT);
    let alpha = d.path().join("alpha.tif");
    write_tif::<u8>(&alpha, Spec::gk(64, 64, 1), &vec![255.0; 64 * 64], |v| {
        v as u8
    });
    {
        let ds = common::open_update(&alpha);
        ds.rasterband(1)
            .unwrap()
            .set_color_interpretation(gdal::raster::ColorInterpretation::AlphaBand)
            .unwrap();
    }
    let out = d.path().join("o");
    let (code, err) = detect(&alpha, &a, &out, &[]);
    assert_clear(code, &err, &["alpha.tif", "alpha", "--bands"]);
    assert_no_outputs(&out);
}

/// Issue 17 item 13: two ungeoreferenced images of different sizes, or one georeferenced and
/// one not, no longer suggest --resample (which then failed): the message says what would help.
#[test]
fn issue_17_no_resample_hint_where_resampling_cannot_help() {
    let d = tempfile::tempdir().unwrap();
    let (b, _) = pair(d.path(), 4, 4527, GT);
    let plain = |name: &str, w: usize| {
        let p = d.path().join(name);
        let spec = Spec {
            gt: None,
            epsg: None,
            ..Spec::gk(w, 64, 4)
        };
        write_tif::<u16>(&p, spec, &vec![100.0; w * 64 * 4], |v| v as u16);
        p
    };
    let (p64, p60) = (plain("p64.tif", 64), plain("p60.tif", 60));
    for (x, y, what) in [
        (&p64, &p60, "pixel grids differ"),
        (&b, &p64, "georeferenced and the other is not"),
    ] {
        for extra in [&[][..], &["--resample"][..]] {
            let (code, err) = detect(x, y, &d.path().join("o"), extra);
            assert_clear(code, &err, &[what, "georeference them"]);
            assert!(!err.contains("pass --resample"), "{err}");
        }
    }
}

/// Issue 17 item 8 (part): eval of rasters on different grids pointed at --resample, which eval
/// does not have.
#[test]
fn issue_17_eval_grid_mismatch_names_a_way_out_it_has() {
    let d = tempfile::tempdir().unwrap();
    let (pred, truth) = (d.path().join("pred.tif"), d.path().join("truth.tif"));
    write_tif::<u8>(&pred, Spec::gk(64, 64, 1), &vec![1.0; 64 * 64], |v| v as u8);
    write_tif::<u8>(&truth, Spec::gk(60, 64, 1), &vec![1.0; 60 * 64], |v| {
        v as u8
    });
    let (code, err) = tuban(&[
        "eval",
        "--pred",
        pred.to_str().unwrap(),
        "--truth",
        truth.to_str().unwrap(),
    ]);
    assert_clear(code, &err, &["pred.tif", "truth.tif", "64x64", "gdalwarp"]);
    assert!(!err.contains("--resample"), "{err}");
}

/// Issue 17 item 8 (rest): inputs that eval used to score anyway — another CRS, no overlap, an
/// --ignore raster off the grid, a float or RGB prediction, a 4-band truth, polygons elsewhere —
/// are refused, naming both files and what is wrong.
#[test]
fn issue_17_eval_refuses_what_it_cannot_score() {
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n);
    let mask: Vec<f32> = (0..64 * 64).map(|i| f32::from(i % 7 == 0)).collect();
    write_tif::<u8>(&p("truth.tif"), Spec::gk(64, 64, 1), &mask, |v| v as u8);
    let utm = Spec {
        epsg: Some(32650),
        ..Spec::gk(64, 64, 1)
    };
    write_tif::<u8>(&p("utm.tif"), utm, &mask, |v| v as u8);
    let mut far_gt = GT;
    far_gt[0] += 120_000.0;
    let far = Spec {
        gt: Some(far_gt),
        ..Spec::gk(64, 64, 1)
    };
    write_tif::<u8>(&p("far.tif"), far, &mask, |v| v as u8);
    let prob: Vec<f32> = mask.iter().map(|v| v * 0.37).collect();
    write_tif::<f32>(&p("prob.tif"), Spec::gk(64, 64, 1), &prob, |v| v);
    let rgb: Vec<f32> = (0..3 * 64 * 64).map(|i| (i % 251) as f32).collect();
    write_tif::<u8>(&p("rgb.tif"), Spec::gk(64, 64, 3), &rgb, |v| v as u8);
    let four: Vec<f32> = (0..4 * 64 * 64).map(|i| (i % 5) as f32).collect();
    write_tif::<u8>(&p("four.tif"), Spec::gk(64, 64, 4), &four, |v| v as u8);
    // A grey label saved as three equal bands is still a mask.
    let grey: Vec<f32> = mask.iter().cycle().take(3 * 64 * 64).copied().collect();
    write_tif::<u8>(&p("grey3.tif"), Spec::gk(64, 64, 3), &grey, |v| v as u8);
    // Integer class codes stored as floats are codes.
    write_tif::<f32>(&p("codes.tif"), Spec::gk(64, 64, 1), &mask, |v| v);
    common::vector::write_layer(
        &p("far.gpkg"),
        "changes",
        &common::vector::wkt_of(4527),
        &["TBLX"],
        &[(common::vector::rect(0.0, 0.0, 50.0, 50.0), vec!["20"])],
    );
    let eval = |pred: &str, truth: &str, extra: &[&str]| {
        let (pred, truth) = (p(pred), p(truth));
        let mut args = vec![
            "eval",
            "--pred",
            pred.to_str().unwrap(),
            "--truth",
            truth.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        tuban(&args)
    };
    let (code, err) = eval("utm.tif", "truth.tif", &[]);
    assert_clear(
        code,
        &err,
        &["utm.tif", "truth.tif", "EPSG:32650", "EPSG:4527"],
    );
    let (code, err) = eval("far.tif", "truth.tif", &[]);
    assert_clear(code, &err, &["far.tif", "truth.tif", "do not overlap"]);
    let ignore = p("far.tif");
    let (code, err) = eval(
        "truth.tif",
        "truth.tif",
        &["--ignore", ignore.to_str().unwrap()],
    );
    assert_clear(code, &err, &["far.tif", "do not overlap"]);
    let (code, err) = eval("prob.tif", "truth.tif", &[]);
    assert_clear(
        code,
        &err,
        &["prob.tif", "float values such as 0.37", "threshold"],
    );
    let (code, err) = eval("rgb.tif", "truth.tif", &[]);
    assert_clear(
        code,
        &err,
        &["rgb.tif", "3 bands that differ", "gdal_translate -b"],
    );
    let (code, err) = eval("truth.tif", "four.tif", &[]);
    assert_clear(code, &err, &["four.tif", "bands that differ"]);
    let (code, err) = eval("far.gpkg", "truth.tif", &[]);
    assert_clear(
        code,
        &err,
        &["far.gpkg", "truth.tif", "none of the first's 1 polygons"],
    );
    for ok in ["grey3.tif", "codes.tif"] {
        let (code, err) = eval(ok, "truth.tif", &[]);
        assert_eq!(code, 0, "{ok}: {err}");
    }
}

/// Issue 17 item 11: a truncated GeoTIFF is named with the reason, and the refused run leaves
/// no folder, no partial raster and no hidden checkpoint behind.
#[test]
fn issue_17_a_truncated_image_is_named_with_the_reason_and_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    let s = common::scene(256, 256, 4, 3);
    let (b, a) = (d.path().join("b.tif"), d.path().join("a.tif"));
    write_tif::<u16>(&b, Spec::gk(256, 256, 4), &s.before, |v| v as u16);
    write_tif::<u16>(&a, Spec::gk(256, 256, 4), &s.after, |v| v as u16);
    let len = std::fs::metadata(&a).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&a)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let out = d.path().join("out");
    let (code, err) = detect(&b, &a, &out, &[]);
    assert_clear(code, &err, &["a.tif", "cannot read raster: "]);
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap();
    let reason = line.split("cannot read raster: ").nth(1).unwrap();
    assert!(
        reason.trim().len() > 10 && !reason.contains("msg: ''"),
        "no reason: {line}"
    );
    assert!(
        !out.exists(),
        "{:?}",
        std::fs::read_dir(&out).map(|r| r.count())
    );
}

/// Issue 17 item 11: a scene far larger than the disk (a 4,000,000² VRT) is announced with its
/// size, outputs and time, and refused before any work, naming the folder, the need and the
/// free space.
#[test]
fn issue_17_a_scene_that_cannot_fit_the_disk_is_refused_before_work() {
    let d = tempfile::tempdir().unwrap();
    let small = d.path().join("small.tif");
    write_tif::<u16>(&small, Spec::gk(64, 64, 1), &vec![100.0; 64 * 64], |v| {
        v as u16
    });
    let vrt = d.path().join("huge.vrt");
    std::fs::write(
        &vrt,
        "<VRTDataset rasterXSize=\"4000000\" rasterYSize=\"4000000\">\n<SRS>EPSG:4527</SRS>\n\
         <GeoTransform>39500000, 0.8, 0, 3400000, 0, -0.8</GeoTransform>\n\
         <VRTRasterBand dataType=\"UInt16\" band=\"1\"><SimpleSource>\
         <SourceFilename relativeToVRT=\"1\">small.tif</SourceFilename><SourceBand>1</SourceBand>\
         </SimpleSource></VRTRasterBand>\n</VRTDataset>\n",
    )
    .unwrap();
    let out = d.path().join("out");
    let t = std::time::Instant::now();
    let (code, err) = detect(&vrt, &vrt, &out, &[]);
    assert_clear(
        code,
        &err,
        &["out", "need about 56000.0 GB", "GB free", "--out"],
    );
    assert!(
        err.contains("note: 4000000x4000000 px (16000000 Mpx): outputs about 56000.0 GB; roughly"),
        "{err}"
    );
    assert!(
        t.elapsed().as_secs() < 20,
        "refused only after {:?}",
        t.elapsed()
    );
    assert!(!out.exists());
}
