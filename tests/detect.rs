//! `detect` end to end through GDAL: tile-size invariance, nodata, data types, GPU = CPU on
//! whole scenes, co-registration handling.
#![cfg(feature = "gdal")]

mod common;

use common::open_update;
use common::raster::{GT, Spec, read_f32, read_u8, write_tif};
use std::path::{Path, PathBuf};
use tuban::change::EvidenceKind;
use tuban::change::cpu::Driver;
use tuban::engine::Backend;
use tuban::pipeline::detect::{DetectOptions, DetectSummary, detect};

/// A 4-band uint16 pair (B, G, R, NIR) with new buildings, written to `dir`.
fn write_pair(dir: &Path, w: usize, h: usize, seed: u64) -> (PathBuf, PathBuf) {
    let s = common::scene(w, h, 4, seed);
    let (b, a) = (dir.join("before.tif"), dir.join("after.tif"));
    // Nodata 0: mark the scene's invalid pixels as 0 in the before date.
    let mut before = s.before.clone();
    let n = w * h;
    for i in 0..n {
        if s.valid[i] == 0 {
            for k in 0..4 {
                before[k * n + i] = 0.0;
            }
        }
    }
    let spec = Spec {
        nodata: Some(0.0),
        ..Spec::gk(w, h, 4)
    };
    write_tif::<u16>(&b, spec, &before, |v| v as u16);
    write_tif::<u16>(&a, spec, &s.after, |v| v.max(1.0) as u16);
    (b, a)
}

fn opts(
    b: &Path,
    a: &Path,
    out: &Path,
    tile: usize,
    evidence: Option<EvidenceKind>,
) -> DetectOptions {
    DetectOptions {
        tile_px: tile,
        evidence,
        ..DetectOptions::new(b, a, out)
    }
}

/// `tuban detect` on the CPU without polygons, from files in `dir` into `dir/out`, which must
/// succeed; its detect.json.
fn detect_cli(
    dir: &Path,
    (before, after): (&str, &str),
    out: &str,
    extra: &[&str],
) -> serde_json::Value {
    let paths = [before, after, out].map(|f| dir.join(f).to_string_lossy().into_owned());
    let mut args = vec![
        "detect",
        "--before",
        &paths[0],
        "--after",
        &paths[1],
        "--out",
        &paths[2],
        "--backend",
        "cpu",
        "--no-polygons",
    ];
    args.extend(extra);
    let (code, _, e) = common::cli::tuban(&args);
    assert_eq!(code, 0, "{e}");
    serde_json::from_str(&std::fs::read_to_string(dir.join(out).join("detect.json")).unwrap())
        .unwrap()
}

fn run(o: &DetectOptions, backend: &Backend) -> DetectSummary {
    detect(o, backend, &|_, _, _| {}).unwrap()
}

#[test]
fn mask_does_not_depend_on_tile_size() {
    let dir = tempfile::tempdir().unwrap();
    let (b, a) = write_pair(dir.path(), 700, 530, 11);
    let cpu = Backend::Cpu(Driver::Rayon);
    let mut masks = Vec::new();
    for tile in [256, 1024, 100_000] {
        let out = dir.path().join(format!("t{tile}"));
        let s = run(&opts(&b, &a, &out, tile, None), &cpu);
        assert_eq!(s.evidence, "conversion");
        assert!(s.changed_px > 1000, "tile {tile}: {} changed", s.changed_px);
        masks.push((
            read_u8(&out.join("change.tif")).2,
            read_f32(&out.join("evidence.tif")),
        ));
    }
    for m in &masks[1..] {
        assert!(m.0 == masks[0].0, "masks differ between tile sizes");
        let same =
            m.1.iter()
                .zip(&masks[0].1)
                .all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "evidence differs between tile sizes");
    }
}

/// One CRS written two ways (the after image's as the PROJ string of the before image's
/// EPSG:4527, its datum name lost) is one grid: the same mask as the pair written alike, with a
/// note; it was refused as "coordinate reference systems differ" (warping onto the same grid
/// resamples every pixel). A CRS that is another one is still refused, naming both.
#[test]
fn one_crs_written_two_ways_is_one_grid() {
    let dir = tempfile::tempdir().unwrap();
    let (b, a) = write_pair(dir.path(), 300, 200, 5);
    let cpu = Backend::Cpu(Driver::Rayon);
    let reference = run(&opts(&b, &a, &dir.path().join("ref"), 1536, None), &cpu);
    let set_crs = |def: &str| {
        let srs = gdal::spatial_ref::SpatialRef::from_definition(def).unwrap();
        open_update(&a).set_spatial_ref(&srs).unwrap();
    };
    set_crs(
        "+proj=tmerc +lat_0=0 +lon_0=117 +k=1 +x_0=39500000 +y_0=0 +ellps=GRS80 +units=m +no_defs",
    );
    let s = run(&opts(&b, &a, &dir.path().join("proj"), 1536, None), &cpu);
    assert_eq!(s.changed_px, reference.changed_px);
    let mask = |out: &str| read_u8(&dir.path().join(out).join("change.tif")).2;
    assert!(mask("proj") == mask("ref"), "the mask differs");
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("coordinate reference systems are written differently")),
        "{:?}",
        s.notes
    );
    // The next zone's central meridian is another CRS.
    set_crs(
        "+proj=tmerc +lat_0=0 +lon_0=120 +k=1 +x_0=39500000 +y_0=0 +ellps=GRS80 +units=m +no_defs",
    );
    let e = detect(
        &opts(&b, &a, &dir.path().join("other"), 1536, None),
        &cpu,
        &|_, _, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(
            "coordinate reference systems differ (CGCS2000 / 3-degree Gauss-Kruger zone 39 and"
        ),
        "{e}"
    );
}

#[test]
fn an_otsu_threshold_does_not_depend_on_tile_size() {
    // The building index's Otsu threshold over the sample cells: computed cell by cell with
    // 100-px tiles (the main pass's windows hold fewer pixels than the scene), over the whole
    // scene at once, cells cut from it, with 1024-px tiles. The same bits, the same mask.
    let dir = tempfile::tempdir().unwrap();
    let (b, a) = write_pair(dir.path(), 700, 530, 11);
    let cpu = Backend::Cpu(Driver::Rayon);
    let mut runs = Vec::new();
    for tile in [100, 1024] {
        let out = dir.path().join(format!("t{tile}"));
        let s = run(&opts(&b, &a, &out, tile, Some(EvidenceKind::Mbi)), &cpu);
        assert_eq!(s.threshold_method, "otsu");
        // The two ways: 100-px tiles read windows smaller than the scene, 1024-px ones not.
        let window = (tile + 2 * s.halo_px).pow(2);
        assert_eq!(window < 700 * 530, tile == 100, "halo {}", s.halo_px);
        runs.push((s.threshold, read_u8(&out.join("change.tif")).2));
    }
    assert_eq!(runs[0].0.to_bits(), runs[1].0.to_bits());
    assert!(runs[0].1 == runs[1].1, "masks differ between tile sizes");
}

#[test]
fn nodata_in_either_date_is_never_change() {
    let dir = tempfile::tempdir().unwrap();
    let (b, a) = write_pair(dir.path(), 300, 200, 5);
    let out = dir.path().join("o");
    run(
        &opts(&b, &a, &out, 128, Some(EvidenceKind::Cva)),
        &Backend::Cpu(Driver::Rayon),
    );
    let (_, _, mask) = read_u8(&out.join("change.tif"));
    let (_, _, before_b1) = read_u8(&b);
    let ev = read_f32(&out.join("evidence.tif"));
    let s = common::scene(300, 200, 4, 5);
    for i in 0..mask.len() {
        if s.valid[i] == 0 {
            assert_eq!(mask[i], 255, "pixel {i} is nodata but mask is {}", mask[i]);
            assert!(ev[i].is_nan());
        } else {
            assert!(mask[i] <= 1);
        }
    }
    assert!(!before_b1.is_empty());
}

#[test]
fn float_and_byte_inputs_work() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::scene(120, 90, 3, 3);
    let (b, a) = (dir.path().join("b.tif"), dir.path().join("a.tif"));
    write_tif::<f32>(&b, Spec::gk(120, 90, 3), &s.before, |v| v / 10000.0);
    write_tif::<u8>(&a, Spec::gk(120, 90, 3), &s.after, |v| {
        (v / 8.0).min(255.0) as u8
    });
    let out = dir.path().join("o");
    let sm = run(&opts(&b, &a, &out, 64, None), &Backend::Cpu(Driver::Rayon));
    assert_eq!(sm.valid_px, 120 * 90);
    assert!(sm.changed_px > 0);
}

#[test]
fn gpu_and_cpu_give_the_same_mask_on_a_scene() {
    let Some(gpu) = common::gpu() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (b, a) = write_pair(dir.path(), 260, 190, 21);
    for kind in [
        EvidenceKind::Conversion,
        EvidenceKind::Mbi,
        EvidenceKind::Cva,
        EvidenceKind::Ndvi,
    ] {
        let (oc, og) = (dir.path().join("cpu"), dir.path().join("gpu"));
        let sc = run(
            &opts(&b, &a, &oc, 128, Some(kind)),
            &Backend::Cpu(Driver::Rayon),
        );
        let sg = run(&opts(&b, &a, &og, 128, Some(kind)), &Backend::Gpu(&gpu));
        assert_eq!(
            sc.threshold,
            sg.threshold,
            "{}: thresholds differ",
            kind.name()
        );
        assert_eq!(sc.changed_px, sg.changed_px, "{}", kind.name());
        let (mc, mg) = (
            read_u8(&oc.join("change.tif")).2,
            read_u8(&og.join("change.tif")).2,
        );
        assert!(mc == mg, "{}: masks differ", kind.name());
    }
}

#[test]
fn pixel_size_mismatch_needs_resample() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::scene(200, 200, 4, 9);
    let (b, a) = (dir.path().join("b.tif"), dir.path().join("a.tif"));
    write_tif::<u16>(&b, Spec::gk(200, 200, 4), &s.before, |v| v as u16);
    // The after image at 1.6 m: half the pixels each way, covering the same ground.
    let half: Vec<f32> = (0..4)
        .flat_map(|k| {
            let sa = &s.after;
            (0..100 * 100).map(move |i| sa[k * 40_000 + (i / 100) * 2 * 200 + (i % 100) * 2])
        })
        .collect();
    let gt2 = [GT[0], 1.6, 0.0, GT[3], 0.0, -1.6];
    write_tif::<u16>(
        &a,
        Spec {
            gt: Some(gt2),
            ..Spec::gk(100, 100, 4)
        },
        &half,
        |v| v as u16,
    );
    let out = dir.path().join("o");
    let e = detect(
        &opts(&b, &a, &out, 128, None),
        &Backend::Cpu(Driver::Rayon),
        &|_, _, _| {},
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("b.tif") && msg.contains("a.tif") && msg.contains("pixel sizes differ"),
        "{msg}"
    );
    let mut o = opts(&b, &a, &out, 128, None);
    o.pair.resample = true;
    let sm = run(&o, &Backend::Cpu(Driver::Rayon));
    assert_eq!((sm.width, sm.height), (200, 200));
    assert!(sm.notes.iter().any(|n| n.contains("warped")));
    assert!(!std::fs::read_dir(&out).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".tuban-warped")
    }));
}

#[test]
fn partial_overlap_uses_the_intersection() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::scene(200, 150, 4, 2);
    let (b, a) = (dir.path().join("b.tif"), dir.path().join("a.tif"));
    write_tif::<u16>(&b, Spec::gk(200, 150, 4), &s.before, |v| v as u16);
    // After image shifted 50 px east and 30 px south.
    let gt2 = [GT[0] + 50.0 * 0.8, 0.8, 0.0, GT[3] - 30.0 * 0.8, 0.0, -0.8];
    write_tif::<u16>(
        &a,
        Spec {
            gt: Some(gt2),
            ..Spec::gk(200, 150, 4)
        },
        &s.after,
        |v| v as u16,
    );
    let out = dir.path().join("o");
    let sm = run(&opts(&b, &a, &out, 64, None), &Backend::Cpu(Driver::Rayon));
    assert_eq!((sm.width, sm.height), (150, 120));
    let ds = gdal::Dataset::open(out.join("change.tif")).unwrap();
    let gt = ds.geo_transform().unwrap();
    assert_eq!((gt[0], gt[3]), (gt2[0], gt2[3]));
}

#[test]
fn issue_17_an_8_bit_after_image_is_read_on_its_own_scale() {
    // A 16-bit before image and the same after image as 8-bit display values. Read on the
    // before image's scale every after pixel was darker than the shadow screen: no change at
    // all, and no word about it.
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (300, 200);
    let (b, a16) = write_pair(dir.path(), w, h, 5);
    let a8 = dir.path().join("after8.tif");
    let s = common::scene(w, h, 4, 5);
    write_tif::<u8>(&a8, Spec::gk(w, h, 4), &s.after, |v| {
        (v / 10.0).clamp(1.0, 255.0) as u8
    });
    // GTiff takes the fourth band of a 4-band byte image for alpha: it is the NIR here.
    {
        use gdal::raster::ColorInterpretation as C;
        set_interpretations(
            &a8,
            vec![C::BlueBand, C::GreenBand, C::RedBand, C::Undefined],
        );
    }
    let cpu = Backend::Cpu(Driver::Rayon);
    let same = run(&opts(&b, &a16, &dir.path().join("o16"), 128, None), &cpu);
    let mixed = run(&opts(&b, &a8, &dir.path().join("o8"), 128, None), &cpu);
    assert!(same.changed_px > 1000, "{}", same.changed_px);
    assert!(
        mixed.changed_px * 2 > same.changed_px,
        "8-bit after: {} changed, 16-bit: {}",
        mixed.changed_px,
        same.changed_px
    );
    assert!(
        mixed
            .notes
            .iter()
            .any(|n| n.contains("after8.tif is 8-bit (display values)")),
        "{:?}",
        mixed.notes
    );
    assert!(!same.notes.iter().any(|n| n.contains("display values")));
}

/// Issue 17 item 10: a run that failed (or was killed) while it wrote the polygons resumes with
/// the polygons alone: the rasters it finished are kept, and the polygons equal a clean run's.
#[test]
fn a_run_stopped_while_writing_polygons_resumes_with_the_polygons() {
    let dir = tempfile::tempdir().unwrap();
    let (b, a) = write_pair(dir.path(), 512, 512, 21);
    let cpu = Backend::Cpu(Driver::Rayon);
    let clean = dir.path().join("clean");
    let whole = run(&opts(&b, &a, &clean, 256, None), &cpu);
    let out = dir.path().join("out");
    // A folder where changes.gpkg must go: the polygons cannot be written.
    std::fs::create_dir_all(out.join("changes.gpkg")).unwrap();
    let o = opts(&b, &a, &out, 256, None);
    assert!(detect(&o, &cpu, &|_, _, _| {}).is_err());
    assert!(out.join("change.tif").exists() && out.join(".detect.checkpoint").exists());
    let change = std::fs::read(out.join("change.tif")).unwrap();
    std::fs::remove_dir(out.join("changes.gpkg")).unwrap();
    let again = run(&o, &cpu);
    assert!(
        again
            .notes
            .iter()
            .any(|n| n.contains("detection had finished; only the polygons are made again")),
        "{:?}",
        again.notes
    );
    assert_eq!(
        std::fs::read(out.join("change.tif")).unwrap(),
        change,
        "rasters kept"
    );
    assert_eq!(
        (again.changed_px, again.polygons),
        (whole.changed_px, whole.polygons)
    );
    assert!(!out.join(".detect.checkpoint").exists());
}

/// Issue 21: the shift between the dates is measured (phase correlation) and a shift of half a
/// pixel or more is named in the notes. The synth's own misregistration is found, and three
/// more pixels cut into the after image are found on top of it.
#[test]
fn the_shift_between_the_dates_is_measured_and_named() {
    use common::cli::{synth, tuban};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d, 1024, 5);
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("synth.json")).unwrap()).unwrap();
    let shift = &truth["misregistration_px"];
    let (sx, sy) = (shift[0].as_f64().unwrap(), shift[1].as_f64().unwrap());
    // The after image three pixels to the left on the same grid: what it shows at x - 3 the
    // original after image shows at x.
    let ds = gdal::Dataset::open(d.join("after.tif")).unwrap();
    let gt = ds.geo_transform().unwrap();
    let (x0, y0, x1, y1) = (
        gt[0].to_string(),
        gt[3].to_string(),
        (gt[0] + 1024.0 * gt[1]).to_string(),
        (gt[3] + 1024.0 * gt[5]).to_string(),
    );
    let st = std::process::Command::new("gdal_translate")
        .args(["-q", "-srcwin", "3", "0", "1024", "1024", "-a_ullr"])
        .args([&x0, &y0, &x1, &y1])
        .args(["after.tif", "a3.tif"])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(st.success());
    let measure = |after: &str, out: &str| {
        let (code, _, e) = tuban(&[
            "detect",
            "--before",
            d.join("before.tif").to_str().unwrap(),
            "--after",
            d.join(after).to_str().unwrap(),
            "--out",
            d.join(out).to_str().unwrap(),
            "--backend",
            "cpu",
            "--no-polygons",
        ]);
        assert_eq!(code, 0, "{e}");
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.join(out).join("detect.json")).unwrap(),
        )
        .unwrap();
        let r = &s["registration"];
        let notes = s["notes"].to_string();
        (
            r["dx_px"].as_f64().unwrap(),
            r["dy_px"].as_f64().unwrap(),
            notes,
        )
    };
    // The synth's after pixel at x shows the world at x + shift: the dates are off by -shift.
    // The synth samples sharp edges at pixel centres, so an edge moves by a whole pixel or
    // not at all and a sub-pixel shift is only defined to within a pixel (on band-limited
    // texture the unit tests find it to 0.15 px).
    let (dx, dy, _) = measure("after.tif", "o1");
    assert!(
        (dx + sx).abs() < 0.75 && (dy + sy).abs() < 0.75,
        "measured ({dx}, {dy}), synth shift ({sx}, {sy})"
    );
    let (dx3, dy3, notes) = measure("a3.tif", "o3");
    assert!(
        (dx3 - (dx - 3.0)).abs() < 0.15 && (dy3 - dy).abs() < 0.15,
        "({dx3}, {dy3}) against ({dx}, {dy})"
    );
    assert!(notes.contains("the after image is shifted by"), "{notes}");
    // --coregister removes the shift it measures. The before image itself, cut 3 px to the
    // left, is shifted by exactly (-3, 0) with nothing else changed (the synth's own sub-pixel
    // shift is only defined to within a pixel): what remains must be nothing, and the warped
    // copy it read is gone.
    let st = std::process::Command::new("gdal_translate")
        .args(["-q", "-srcwin", "3", "0", "1024", "1024", "-a_ullr"])
        .args([&x0, &y0, &x1, &y1])
        .args(["before.tif", "b3.tif"])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(st.success());
    let (code, _, e) = tuban(&[
        "detect",
        "--before",
        d.join("before.tif").to_str().unwrap(),
        "--after",
        d.join("b3.tif").to_str().unwrap(),
        "--out",
        d.join("oc").to_str().unwrap(),
        "--backend",
        "cpu",
        "--no-polygons",
        "--coregister",
    ]);
    assert_eq!(code, 0, "{e}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("oc/detect.json")).unwrap()).unwrap();
    let by = &s["coregistered_by"];
    let (bx, bydy) = (by["dx_px"].as_f64().unwrap(), by["dy_px"].as_f64().unwrap());
    assert!((bx + 3.0).abs() < 0.1 && bydy.abs() < 0.1, "{by}");
    let rest = &s["registration"];
    let (rx, ry) = (
        rest["dx_px"].as_f64().unwrap(),
        rest["dy_px"].as_f64().unwrap(),
    );
    assert!(rx.abs() < 0.2 && ry.abs() < 0.2, "remains ({rx}, {ry})");
    assert!(s["notes"].to_string().contains("co-registered"));
    assert!(!std::fs::read_dir(d.join("oc")).unwrap().any(|f| {
        f.unwrap()
            .file_name()
            .to_string_lossy()
            .contains("coregistered")
    }));
}

/// A 16-bit after image on a grid offset by half a pixel, warped with --resample, is still read
/// as reflectance x 10000: the warped copy is float, and was read as float reflectance, which
/// put every pixel over the cloud threshold (no change at all, exit 0).
#[test]
fn a_warped_16_bit_after_image_keeps_its_scale() {
    use common::cli::synth;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d, 1024, 2);
    let ds = gdal::Dataset::open(d.join("after.tif")).unwrap();
    let g = ds.geo_transform().unwrap();
    let (x0, y0) = (g[0] + 0.4, g[3]);
    let (x1, y1) = (x0 + 1024.0 * g[1], y0 + 1024.0 * g[5]);
    let st = std::process::Command::new("gdal_translate")
        .args(["-q", "-a_ullr"])
        .args([x0, y0, x1, y1].map(|v| v.to_string()))
        .args(["after.tif", "a_off.tif"])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(st.success());
    let changed = |after: &str, out: &str, extra: &[&str]| {
        let s = detect_cli(d, ("before.tif", after), out, extra);
        let n = |k: &str| s[k].as_u64().unwrap();
        (n("changed_px"), n("cloud_px"), n("valid_px"))
    };
    let (aligned, cloud, _) = changed("after.tif", "o1", &[]);
    let (warped, warped_cloud, valid) = changed("a_off.tif", "o2", &["--resample"]);
    assert!(
        (warped as f64 - aligned as f64).abs() < 0.1 * aligned as f64,
        "{warped} changed px warped, {aligned} aligned"
    );
    assert!(
        warped_cloud < valid / 2 && warped_cloud.abs_diff(cloud) < cloud / 5 + 100,
        "{warped_cloud} cloud px of {valid}"
    );
}

/// A paletted image (one band of colour-table indices, as paletted PNGs and GIFs are) is read
/// as its colours: the same mask and evidence as the RGB image of those colours. Differencing
/// the indices found 145 polygons of nothing on a LEVIR-CD tile.
#[test]
fn a_paletted_pair_is_read_as_its_colours() {
    use gdal::raster::{ColorEntry, ColorInterpretation as C, ColorTable, PaletteInterpretation};
    let dir = tempfile::tempdir().unwrap();
    // Each date quantised to a 6 x 6 x 6 colour cube, written as indices with the cube as
    // the table, and as the RGB of the same colours.
    let level = |v: u8| u16::from(v) * 5 / 255;
    let colour = |l: u16| (l * 51) as f32;
    let mut paths = Vec::new();
    for date in ["before", "after"] {
        let (w, h, planes) = levir_planes(date);
        let byte = |b: usize, i: usize| planes[b * w * h + i] as u8;
        let index: Vec<f32> = (0..w * h)
            .map(|i| {
                let l = |b: usize| level(byte(b, i));
                f32::from(l(0) * 36 + l(1) * 6 + l(2))
            })
            .collect();
        let rgb: Vec<f32> = (0..3 * w * h)
            .map(|j| colour(level(byte(j / (w * h), j % (w * h)))))
            .collect();
        let (pal, full) = (
            dir.path().join(format!("{date}_pal.tif")),
            dir.path().join(format!("{date}_rgb.tif")),
        );
        let plain = Spec {
            gt: None,
            epsg: None,
            ..Spec::gk(w, h, 1)
        };
        write_tif::<u8>(&pal, plain, &index, |v| v as u8);
        let mut table = ColorTable::new(PaletteInterpretation::Rgba);
        for k in 0..216u16 {
            let c = |l: u16| (l * 51) as i16;
            table.set_color_entry(k, &ColorEntry::rgba(c(k / 36), c(k / 6 % 6), c(k % 6), 255));
        }
        {
            let ds = open_update(&pal);
            let mut band = ds.rasterband(1).unwrap();
            band.set_color_table(&table);
            band.set_color_interpretation(C::PaletteIndex).unwrap();
        }
        let interp = vec![C::RedBand, C::GreenBand, C::BlueBand];
        write_interpreted(&full, (w, h), &rgb, None, interp);
        paths.push((pal, full));
    }
    let cpu = Backend::Cpu(Driver::Rayon);
    let [(pb, rb), (pa, ra)] = [paths[0].clone(), paths[1].clone()];
    let pal = run(&opts(&pb, &pa, &dir.path().join("pal"), 1536, None), &cpu);
    let rgb = run(&opts(&rb, &ra, &dir.path().join("rgb"), 1536, None), &cpu);
    assert!(rgb.changed_px > 500, "{}", rgb.changed_px);
    assert_eq!(pal.changed_px, rgb.changed_px);
    for f in ["change.tif", "evidence.tif"] {
        let read = |d: &str| read_f32(&dir.path().join(d).join(f));
        let (p, r) = (read("pal"), read("rgb"));
        assert!(
            p.iter().zip(&r).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{f} differs"
        );
    }
    assert!(
        pal.notes
            .iter()
            .any(|n| n.contains("before_pal.tif") && n.contains("colour-table indices")),
        "{:?}",
        pal.notes
    );
    assert!(!rgb.notes.iter().any(|n| n.contains("colour-table")));
}

/// The R, G, B planes of testdata/levir's `date`.png, band-sequential, and the tile's size.
fn levir_planes(date: &str) -> (usize, usize, Vec<f32>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/levir");
    let ds = gdal::Dataset::open(root.join(format!("{date}.png"))).unwrap();
    let (w, h) = ds.raster_size();
    let mut data = Vec::with_capacity(3 * w * h);
    for b in 1..=3 {
        let p = ds.rasterband(b).unwrap();
        let p = p.read_as::<u8>((0, 0), (w, h), (w, h), None).unwrap();
        data.extend(p.data().iter().map(|&v| f32::from(v)));
    }
    (w, h, data)
}

/// Set the colour interpretations of a raster's bands, band 1 first.
fn set_interpretations(path: &Path, interp: Vec<gdal::raster::ColorInterpretation>) {
    let ds = open_update(path);
    for (k, c) in interp.into_iter().enumerate() {
        ds.rasterband(k + 1)
            .unwrap()
            .set_color_interpretation(c)
            .unwrap();
    }
}

/// Write `data` as a byte GeoTIFF without georeference, its bands' colour interpretations
/// set to `interp`.
fn write_interpreted(
    path: &Path,
    (w, h): (usize, usize),
    data: &[f32],
    nodata: Option<f64>,
    interp: Vec<gdal::raster::ColorInterpretation>,
) {
    let spec = Spec {
        gt: None,
        epsg: None,
        nodata,
        ..Spec::gk(w, h, interp.len())
    };
    write_tif::<u8>(path, spec, data, |v| v as u8);
    set_interpretations(path, interp);
}

/// An RGBA image whose alpha band is not marked as alpha (band 4 of 0 and 255, no colour
/// interpretation) is read as R, G, B, with a note: taken as NIR it ran the conversion
/// evidence on a constant and gave another mask, exit 0. Both the marked-RGB case (band 4
/// the one left) and the no-interpretation case (4 bands, which would be B, G, R, NIR) give
/// the PNG pair's own result; a fourth band that varies stays NIR.
#[test]
fn an_unmarked_alpha_band_is_not_taken_for_nir() {
    use gdal::raster::ColorInterpretation as C;
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/levir");
    let write = |date: &str, name: &str, marked: bool, fourth: &dyn Fn(usize, u8) -> f32| {
        let (w, h, mut data) = levir_planes(date);
        let red: Vec<u8> = data[..w * h].iter().map(|&v| v as u8).collect();
        data.extend((0..w * h).map(|i| fourth(i, red[i])));
        let path = dir.path().join(name);
        let interp = if marked {
            vec![C::RedBand, C::GreenBand, C::BlueBand, C::Undefined]
        } else {
            vec![C::Undefined, C::Undefined, C::Undefined, C::Undefined]
        };
        write_interpreted(&path, (w, h), &data, None, interp);
        path
    };
    // Opaque but for a transparent corner.
    let alpha = |i: usize, _: u8| if i < 300 { 0.0 } else { 255.0 };
    let cpu = Backend::Cpu(Driver::Rayon);
    let png = run(
        &opts(
            &root.join("before.png"),
            &root.join("after.png"),
            &dir.path().join("png"),
            1536,
            None,
        ),
        &cpu,
    );
    assert!(png.changed_px > 500, "{}", png.changed_px);
    for marked in [true, false] {
        let (b, a) = (
            write("before", &format!("b{marked}.tif"), marked, &alpha),
            write("after", &format!("a{marked}.tif"), marked, &alpha),
        );
        let out = dir.path().join(format!("rgba{marked}"));
        let s = run(&opts(&b, &a, &out, 1536, None), &cpu);
        assert_eq!(s.evidence, png.evidence, "marked {marked}");
        assert_eq!(s.changed_px, png.changed_px, "marked {marked}");
        assert!(
            read_u8(&out.join("change.tif")).2 == read_u8(&dir.path().join("png/change.tif")).2,
            "marked {marked}: the mask differs from the PNG pair's"
        );
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains(&format!("b{marked}.tif: band 4"))
                    && n.contains("not near infrared")),
            "{:?}",
            s.notes
        );
    }
    // A fourth band that varies (here a dimmed red) is the NIR of a 4-band product.
    let dim = |_: usize, r: u8| f32::from(r / 2 + 10);
    let (b, a) = (
        write("before", "bn.tif", true, &dim),
        write("after", "an.tif", true, &dim),
    );
    let s = run(&opts(&b, &a, &dir.path().join("nir"), 1536, None), &cpu);
    assert_eq!(s.evidence, "conversion");
    assert!(!s.notes.iter().any(|n| n.contains("not near infrared")));
}

/// Two files of one scene whose bands stand in another order, each saying so in its colour
/// interpretations, are compared band by role: an after image of R, G, B, NIR against a before
/// image of B, G, R, NIR was compared red with blue and gave another mask, exit 0. A before image
/// without interpretations takes the after image's (not the B, G, R, NIR convention), and files
/// that declare different bands for one comparison are refused naming both.
#[test]
fn bands_in_another_order_are_paired_by_their_roles() {
    use gdal::Metadata;
    use gdal::raster::ColorInterpretation as C;
    let dir = tempfile::tempdir().unwrap();
    // LEVIR-CD's R, G, B and a fourth band that varies (a dimmed red) as NIR.
    let planes = |date: &str, order: [usize; 4]| {
        let (w, h, mut data) = levir_planes(date);
        let nir: Vec<f32> = data[..w * h]
            .iter()
            .map(|r| (r / 2.0 + 10.0).floor())
            .collect();
        data.extend(nir);
        let out: Vec<f32> = order
            .iter()
            .flat_map(|&b| data[b * w * h..(b + 1) * w * h].to_vec())
            .collect();
        ((w, h), out)
    };
    let write = |name: &str, date: &str, order: [usize; 4], interp: Vec<C>| {
        let (size, data) = planes(date, order);
        let path = dir.path().join(name);
        write_interpreted(&path, size, &data, None, interp);
        path
    };
    let rgbn = || vec![C::RedBand, C::GreenBand, C::BlueBand, C::Undefined];
    let bgrn = || vec![C::BlueBand, C::GreenBand, C::RedBand, C::Undefined];
    let cpu = Backend::Cpu(Driver::Rayon);
    let detect_pair = |b: &Path, a: &Path, out: &str| {
        detect(
            &opts(b, a, &dir.path().join(out), 1536, None),
            &cpu,
            &|_, _, _| {},
        )
    };
    let b_rgbn = write("b_rgbn.tif", "before", [0, 1, 2, 3], rgbn());
    let a_rgbn = write("a_rgbn.tif", "after", [0, 1, 2, 3], rgbn());
    let reference = detect_pair(&b_rgbn, &a_rgbn, "ref").unwrap();
    assert_eq!(reference.evidence, "conversion");
    assert!(reference.changed_px > 500, "{}", reference.changed_px);
    let mask = |out: &str| read_u8(&dir.path().join(out).join("change.tif")).2;
    // The after image in B, G, R, NIR order.
    let a_bgrn = write("a_bgrn.tif", "after", [2, 1, 0, 3], bgrn());
    let s = detect_pair(&b_rgbn, &a_bgrn, "reordered").unwrap();
    assert_eq!(s.changed_px, reference.changed_px);
    assert!(mask("reordered") == mask("ref"), "the mask differs");
    assert!(
        s.notes.iter().any(
            |n| n.contains("a_bgrn.tif: its bands declare the roles B,G,R,?")
                && n.contains("bands 3,2,1,4")
        ),
        "{:?}",
        s.notes
    );
    // A before image in R, G, B, NIR order without interpretations beside the after image that
    // declares that order (by convention it would be B, G, R, NIR).
    let b_plain = write(
        "b_plain.tif",
        "before",
        [0, 1, 2, 3],
        (0..4).map(|_| C::Undefined).collect(),
    );
    let s = detect_pair(&b_plain, &a_rgbn, "plain").unwrap();
    assert!(mask("plain") == mask("ref"), "the mask differs");
    assert!(
        s.notes
            .iter()
            .any(|n| n.contains("b_plain.tif: bands carry no colour interpretation; taking")),
        "{:?}",
        s.notes
    );
    // A 3-band R, G, B before image beside the B, G, R, NIR after image: their R, G, B, as
    // the two 3-band files give (it was refused: 4 bands, expected 3).
    let rgb_only = |name: &str, date: &str, order: [usize; 3]| {
        let ((w, h), data) = planes(date, [order[0], order[1], order[2], 3]);
        let path = dir.path().join(name);
        let interp = vec![C::RedBand, C::GreenBand, C::BlueBand];
        write_interpreted(&path, (w, h), &data[..3 * w * h], None, interp);
        path
    };
    let b_rgb3 = rgb_only("b_rgb3.tif", "before", [0, 1, 2]);
    let a_rgb3 = rgb_only("a_rgb3.tif", "after", [0, 1, 2]);
    let mbi = |b: &Path, a: &Path, out: &str| {
        let o = opts(b, a, &dir.path().join(out), 1536, Some(EvidenceKind::Mbi));
        detect(&o, &cpu, &|_, _, _| {}).unwrap()
    };
    let three = mbi(&b_rgb3, &a_rgb3, "three");
    let s = mbi(&b_rgb3, &a_bgrn, "three_four");
    assert_eq!(s.changed_px, three.changed_px);
    assert!(mask("three_four") == mask("three"), "the mask differs");
    assert!(
        s.notes.iter().any(|n| n.contains(
            "compared on the roles both declare, R,G,B (before bands 1,2,3, after bands 3,2,1)"
        )),
        "{:?}",
        s.notes
    );
    // NIR in the after image where the before image has blue: refused, naming both files.
    let a_rgn = write("a_rgn.tif", "after", [0, 1, 3, 2], rgbn());
    let ds = open_update(&a_rgn);
    let mut band = ds.rasterband(3).unwrap();
    band.set_color_interpretation(C::Undefined).unwrap();
    band.set_description("NIR").unwrap();
    let mut band = ds.rasterband(4).unwrap();
    band.set_description("blue").unwrap();
    drop(ds);
    let b_rgb = write("b_rgbx.tif", "before", [0, 1, 2, 3], rgbn());
    let ds = open_update(&b_rgb);
    let mut band = ds.rasterband(4).unwrap();
    band.set_description("SWIR1").unwrap();
    drop(ds);
    let e = detect_pair(&b_rgb, &a_rgn, "conflict")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("b_rgbx.tif and")
            && e.contains("a_rgn.tif: the two dates declare different bands"),
        "{e}"
    );
    assert!(e.contains("--after-bands"), "{e}");
}

/// The same image given as both dates changes nowhere, whatever the evidence: the built-in
/// pixel trees, which read each date's look, marked 61 pixels (3 polygons) of this LEVIR-CD
/// tile before learned evidence was held at 0 where the dates are identical.
#[test]
fn identical_dates_change_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let png = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/levir/after.png");
    let cpu = Backend::Cpu(Driver::Rayon);
    for evidence in [None, Some(EvidenceKind::Mbi), Some(EvidenceKind::Cva)] {
        let out = dir.path().join(format!("{evidence:?}"));
        let s = run(&opts(&png, &png, &out, 1536, evidence), &cpu);
        assert!(s.valid_px > 60_000, "{}", s.valid_px);
        assert_eq!(s.changed_px, 0, "{evidence:?} ({})", s.evidence);
    }
}

/// The built-in pixel trees scale each date by its own statistics: an 8-bit before date and
/// the after date stretched to 16 bits (read as a 16-bit stretch, not reflectance x 10000)
/// give the 8-bit pair's mask, and the note says why (it spoke of NDVI, which no model
/// computes).
#[test]
fn the_trees_do_not_mind_mixed_bit_depths() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/levir");
    let (w, h, data) = levir_planes("after");
    let a16 = dir.path().join("after16.tif");
    let spec = Spec {
        gt: None,
        epsg: None,
        ..Spec::gk(w, h, 3)
    };
    write_tif::<u16>(&a16, spec, &data, |v| (v * 257.0) as u16);
    let cpu = Backend::Cpu(Driver::Rayon);
    let before = root.join("before.png");
    let png = dir.path().join("png");
    let same = run(
        &opts(&before, &root.join("after.png"), &png, 1536, None),
        &cpu,
    );
    let mixed = run(
        &opts(&before, &a16, &dir.path().join("mixed"), 1536, None),
        &cpu,
    );
    assert_eq!(mixed.evidence, "model");
    assert!(same.changed_px > 500, "{}", same.changed_px);
    assert!(
        read_u8(&dir.path().join("mixed/change.tif")).2 == read_u8(&png.join("change.tif")).2,
        "the 16-bit after date changed the mask"
    );
    assert!(
        mixed
            .notes
            .iter()
            .any(|n| n.contains("after16.tif is 16-bit display values")
                && n.contains("each date by its own mean")),
        "{:?}",
        mixed.notes
    );
}

/// An after date whose right 96 columns are 0 in every band, with no nodata declared, is
/// read as fill (nodata) and the run says so; with `--zero-is-data` it is read as black
/// imagery and shows as change; declared as nodata, the collar is left out and no note is
/// given.
#[test]
fn an_undeclared_zero_collar_is_fill() {
    use gdal::raster::ColorInterpretation as C;
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/levir");
    let (w, h, mut data) = levir_planes("after");
    for (i, v) in data.iter_mut().enumerate() {
        if i % w >= w - 96 {
            *v = 0.0;
        }
    }
    let cpu = Backend::Cpu(Driver::Rayon);
    let mut runs = Vec::new();
    for (name, nodata, zero_is_data) in [
        ("undeclared", None, false),
        ("declared", Some(0.0), false),
        ("data", None, true),
    ] {
        let path = dir.path().join(format!("{name}.tif"));
        let interp = vec![C::RedBand, C::GreenBand, C::BlueBand];
        write_interpreted(&path, (w, h), &data, nodata, interp);
        let out = dir.path().join(name);
        let mut o = opts(&root.join("before.png"), &path, &out, 1536, None);
        o.pair.zero_is_data = zero_is_data;
        let s = run(&o, &cpu);
        let mask = read_u8(&out.join("change.tif")).2;
        let collar_changed = (0..w * h)
            .filter(|&i| i % w >= w - 96 && mask[i] == 1)
            .count();
        runs.push((s, collar_changed));
    }
    let noted = |s: &DetectSummary| {
        s.notes
            .iter()
            .any(|n| n.contains("undeclared.tif") && n.contains("0 in every band"))
    };
    assert!(noted(&runs[0].0), "{:?}", runs[0].0.notes);
    assert!(
        runs[0].0.notes.iter().any(|n| n.contains("24576 px")),
        "{:?}",
        runs[0].0.notes
    );
    for (s, _) in &runs[1..] {
        assert!(
            !s.notes.iter().any(|n| n.contains("0 in every band")),
            "{:?}",
            s.notes
        );
    }
    // Read as fill, none of the collar is valid or changed; the rest of the tile is (its
    // scattered black included: GDAL's declared nodata is per band and takes more).
    let outside = (w * h - 96 * h) as u64;
    assert_eq!(runs[0].0.valid_px, outside);
    assert_eq!(runs[0].1, 0);
    assert!(
        runs[1].0.valid_px < outside && runs[1].0.valid_px * 100 > outside * 98,
        "{} valid of {outside} outside the collar",
        runs[1].0.valid_px
    );
    assert_eq!(runs[1].1, 0);
    // Read as data, black shows as change.
    assert_eq!(runs[2].0.valid_px, (w * h) as u64);
    assert!(runs[2].1 > 1000, "{} collar pixels changed", runs[2].1);
    // Scattered black is not fill: the before tile's red band alone is 0 at 7 % of its
    // pixels (shadows), with no 16² block all 0.
    let (w, h, before) = levir_planes("before");
    let red = dir.path().join("red.tif");
    write_interpreted(&red, (w, h), &before[..w * h], None, vec![C::Undefined]);
    let s = run(&opts(&red, &red, &dir.path().join("red"), 1536, None), &cpu);
    assert_eq!(s.valid_px, (w * h) as u64);
    assert!(
        !s.notes.iter().any(|n| n.contains("0 in every band")),
        "{:?}",
        s.notes
    );
}

/// Fill whose edge is slanted, as a rotated footprint leaves it, crossing tile edges: tiles of
/// 256 px (whose windows are grown where a square of fill may cross them) and one tile give
/// the same fill, evidence and mask, and no pixel of the fill changes.
#[test]
fn undeclared_fill_does_not_depend_on_tile_size() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (700, 530);
    let s = common::scene(w, h, 4, 11);
    let n = w * h;
    let edge = |i: usize| 420 + (i / w) / 4;
    let mut after = s.after.clone();
    for k in 0..4 {
        for i in 0..n {
            after[k * n + i] = if i % w > edge(i) {
                0.0
            } else {
                after[k * n + i].max(1.0)
            };
        }
    }
    let before: Vec<f32> = s.before.iter().map(|v| v.max(1.0)).collect();
    let (b, a) = (dir.path().join("before.tif"), dir.path().join("after.tif"));
    write_tif::<u16>(&b, Spec::gk(w, h, 4), &before, |v| v as u16);
    write_tif::<u16>(&a, Spec::gk(w, h, 4), &after, |v| v as u16);
    let cpu = Backend::Cpu(Driver::Rayon);
    let mut outs = Vec::new();
    for tile in [256, 100_000] {
        let out = dir.path().join(format!("t{tile}"));
        let s = run(&opts(&b, &a, &out, tile, None), &cpu);
        assert!(s.changed_px > 1000, "tile {tile}: {} changed", s.changed_px);
        assert!(
            s.notes
                .iter()
                .any(|n| n.contains("after.tif") && n.contains("0 in every band")),
            "{:?}",
            s.notes
        );
        let mask = read_u8(&out.join("change.tif")).2;
        // Past the first rows (where no 16² square fits beside the slant), every pixel
        // beyond the edge is fill.
        for i in (16 * w..n).filter(|&i| i % w > edge(i)) {
            assert_eq!(
                mask[i], 255,
                "tile {tile}: pixel {i} is fill but mask is {}",
                mask[i]
            );
        }
        outs.push((s.valid_px, mask, read_f32(&out.join("evidence.tif"))));
    }
    assert_eq!(outs[0].0, outs[1].0);
    assert!(outs[0].1 == outs[1].1, "masks differ between tile sizes");
    let same = outs[0]
        .2
        .iter()
        .zip(&outs[1].2)
        .all(|(x, y)| x.to_bits() == y.to_bits());
    assert!(same, "evidence differs between tile sizes");
}

/// Images whose data type says reflectance but whose values do not: a 16-bit image whose
/// values never pass 255 holds 8-bit display values, one whose values never pass 1023 10-bit
/// digital numbers; a float image of values past 2 holds display values or reflectance x
/// 10000. Read as reflectance, every pixel was shadow (integers) or cloud (floats) and nothing
/// changed. Read on the scale their values show, they give the mask of the file of the same
/// values in the type that says so, with a note naming the file.
#[test]
fn images_whose_values_are_not_reflectance_are_read_on_their_own_scale() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (700, 530);
    let s = common::scene(w, h, 4, 11);
    let cpu = Backend::Cpu(Driver::Rayon);
    let mut runs = Vec::new();
    let kinds = [
        ("byte", 255.0f32),
        ("u16_255", 255.0),
        ("u16_1023", 1023.0),
        ("f32_255", 255.0),
        ("u16", 0.0),
        ("f32_10000", 0.0),
    ];
    for (name, top) in kinds {
        let (b, a) = (
            dir.path().join(format!("{name}_b.tif")),
            dir.path().join(format!("{name}_a.tif")),
        );
        // 0: the scene's own reflectance x 10000; else stretched to 0..top.
        let to = |v: f32| {
            if top == 0.0 {
                v.round().max(1.0)
            } else {
                (v * top / 4000.0).round().clamp(1.0, top)
            }
        };
        for (path, data) in [(&b, &s.before), (&a, &s.after)] {
            match name {
                "byte" => write_tif::<u8>(path, Spec::gk(w, h, 4), data, |v| to(v) as u8),
                n if n.starts_with("f32") => write_tif::<f32>(path, Spec::gk(w, h, 4), data, to),
                _ => write_tif::<u16>(path, Spec::gk(w, h, 4), data, |v| to(v) as u16),
            }
        }
        let out = dir.path().join(name);
        let mut o = opts(&b, &a, &out, 1024, Some(EvidenceKind::Conversion));
        o.pair.bands_before = Some("B=1,G=2,R=3,NIR=4".into());
        let summary = run(&o, &cpu);
        runs.push((summary, read_u8(&out.join("change.tif")).2));
    }
    let noted = |k: usize, file: &str, what: &str| {
        runs[k]
            .0
            .notes
            .iter()
            .any(|n| n.contains(file) && n.contains(what))
    };
    for k in [0, 4] {
        assert!(runs[k].0.changed_px > 1000, "{}", runs[k].0.changed_px);
        assert!(
            !runs[k].0.notes.iter().any(|n| n.contains("read as")),
            "{:?}",
            runs[k].0.notes
        );
    }
    for (k, file, what, like) in [
        (1, "u16_255", "8-bit (display values)", 0),
        (3, "f32_255", "8-bit (display values)", 0),
        (5, "f32_10000", "read as reflectance x 10000", 4),
    ] {
        for date in ["b", "a"] {
            let f = format!("{file}_{date}.tif");
            assert!(noted(k, &f, what), "{f}: {:?}", runs[k].0.notes);
        }
        assert!(runs[k].1 == runs[like].1, "{file} gave another mask");
    }
    assert!(
        noted(2, "u16_1023_a.tif", "10-bit digital numbers"),
        "{:?}",
        runs[2].0.notes
    );
    // Without a near-infrared band, values under 1024 may be the reflectance of a dark scene:
    // left alone.
    let visible = dir.path().join("visible");
    let mut o = opts(
        &dir.path().join("u16_1023_b.tif"),
        &dir.path().join("u16_1023_a.tif"),
        &visible,
        1024,
        Some(EvidenceKind::Mbi),
    );
    o.pair.bands_before = Some("B=1,G=2,R=3".into());
    let v = run(&o, &cpu);
    assert!(
        !v.notes.iter().any(|n| n.contains("read as")),
        "{:?}",
        v.notes
    );
    let (byte, dn) = (runs[0].0.changed_px as f64, runs[2].0.changed_px as f64);
    assert!(
        (dn - byte).abs() < 0.2 * byte,
        "10-bit {dn} against 8-bit {byte} changed"
    );
    // The scale is settled before anything reads the screens: an Otsu threshold over the
    // sample cells of the 16-bit file of 8-bit values is the 8-bit file's.
    let otsu: Vec<_> = ["byte", "u16_255"]
        .into_iter()
        .map(|name| {
            let d = dir.path();
            let out = d.join(format!("{name}_otsu"));
            let (b, a) = (
                d.join(format!("{name}_b.tif")),
                d.join(format!("{name}_a.tif")),
            );
            let mut o = opts(&b, &a, &out, 1024, Some(EvidenceKind::Conversion));
            o.pair.bands_before = Some("B=1,G=2,R=3,NIR=4".into());
            o.config.threshold = tuban::change::Threshold::Otsu;
            let s = run(&o, &cpu);
            (s.threshold.to_bits(), read_u8(&out.join("change.tif")).2)
        })
        .collect();
    assert_eq!(otsu[0].0, otsu[1].0, "Otsu thresholds differ");
    assert!(otsu[0].1 == otsu[1].1, "Otsu masks differ");
}

/// Bands that carry their own scale and offset are read through them: a Sentinel-2 image of
/// processing baseline 04 (digital numbers +1000, offset -1000) beside one without the offset,
/// and Landsat Collection 2 style surface reflectance (x 0.0000275 - 0.2) on both dates, give
/// the original pair's result. Without the offset the Landsat numbers read as reflectance far
/// above 1: every pixel a cloud.
#[test]
fn band_scale_and_offset_are_applied() {
    use common::cli::synth;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d, 1024, 7);
    let translate = |src: &str, dst: &str, args: &[&str]| {
        let st = std::process::Command::new("gdal_translate")
            .arg("-q")
            .args(args)
            .args([src, dst])
            .current_dir(d)
            .status()
            .unwrap();
        assert!(st.success());
    };
    // v -> v + 1000 (exact), offset -1000.
    let pb04 = ["-ot", "UInt16", "-scale", "0", "60000", "1000", "61000"];
    translate("after.tif", "after_pb04.tif", &pb04);
    translate(
        "after_pb04.tif",
        "after_s2.tif",
        &["-a_offset", "-1000", "-a_scale", "1"],
    );
    // Reflectance x 10000 from 0 to 10000 onto UInt16 numbers from 7272.7273 (reflectance 0
    // at Collection 2's offset) to `top`.
    let numbers = |top: &'static str| ["-ot", "UInt16", "-scale", "0", "10000", "7272.7273", top];
    // v / 10000 = DN x 0.0000275 - 0.2.
    let c2 = numbers("43636.364");
    for date in ["before", "after"] {
        translate(&format!("{date}.tif"), &format!("{date}_dn.tif"), &c2);
        translate(
            &format!("{date}_dn.tif"),
            &format!("{date}_c2.tif"),
            &["-a_scale", "0.0000275", "-a_offset", "-0.2"],
        );
    }
    let result = |before: &str, after: &str, out: &str| {
        let s = detect_cli(d, (before, after), out, &[]);
        let n = |k: &str| s[k].as_u64().unwrap();
        (
            n("changed_px"),
            n("cloud_px"),
            n("valid_px"),
            s["notes"].to_string(),
        )
    };
    let (changed, cloud, valid, _) = result("before.tif", "after.tif", "o");
    assert!(
        changed > 1000 && cloud < valid / 10,
        "{changed} {cloud} {valid}"
    );
    let (c, k, _, notes) = result("before.tif", "after_s2.tif", "o_s2");
    assert_eq!((c, k), (changed, cloud), "offset -1000 applied exactly");
    assert!(notes.contains("x 1 -1000"), "{notes}");
    let (c, k, _, notes) = result("before_c2.tif", "after_c2.tif", "o_c2");
    assert!(
        c.abs_diff(changed) <= changed / 50 && k.abs_diff(cloud) <= cloud / 20 + 50,
        "{c} changed, {k} cloud (original {changed}, {cloud})"
    );
    assert!(notes.contains("floating-point reflectance"), "{notes}");
    // Without their scale the numbers are not reflectance x 10000 (many of them past 20000,
    // reflectance 2): read as a 16-bit stretch, without the screens, and the bright arm's rise
    // on that scale (0.18 in reflectance, not 0.1): 41 % of the pixels found with the scale
    // (read as reflectance, every pixel was cloud and none changed).
    let (c, k, _, notes) = result("before_dn.tif", "after_dn.tif", "o_dn");
    assert!(
        notes.contains("after_dn.tif") && notes.contains("16-bit display values"),
        "{notes}"
    );
    assert_eq!(k, 0);
    assert!(
        c > changed / 4,
        "without the scale: {c} changed (with it {changed})"
    );
    // Numbers of a product with an offset that all stay under 20000 (a dark scene: reflectance
    // 1 at 17000) read as reflectance x 10000 are all bright: every pixel a cloud, nothing
    // changed, and the note says what the values may be and how to give their scale.
    let dark = numbers("17000");
    for date in ["before", "after"] {
        translate(&format!("{date}.tif"), &format!("{date}_dark.tif"), &dark);
    }
    let (c, k, valid, notes) = result("before_dark.tif", "after_dark.tif", "o_dark");
    assert_eq!((c, k), (0, valid));
    assert!(
        notes.contains("Landsat Collection 2 keeps reflectance 0 at 7273")
            && notes.contains("gdal_edit.py -scale 0.0000275 -offset -0.2"),
        "{notes}"
    );
}
