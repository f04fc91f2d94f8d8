//! `tuban polygonize` end to end: against gdal_polygonize (count and areas), every output
//! format, geodesic areas on a geographic CRS, bad input, and detect's changes.gpkg.
#![cfg(feature = "gdal")]

mod common;

use common::raster::{Spec, write_tif};
use gdal::vector::LayerAccess;
use std::path::Path;
use std::process::Command;

use common::cli::tuban;

/// `tuban polygonize --mask MASK --out OUT EXTRA..`
fn polygonize(mask: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "polygonize",
        "--mask",
        mask.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    tuban(&args)
}

/// A mask with every topology case: blocks, rings with islands, diagonal staircases, lines.
fn mask(w: usize, h: usize, seed: u64) -> Vec<f32> {
    let mut rng = common::Rng::new(seed);
    let mut m = vec![0.0f32; w * h];
    let cell = 13;
    for cy in (0..h).step_by(cell) {
        for cx in (0..w).step_by(cell) {
            let kind = rng.next_u64() % 5;
            let s = 2 + (rng.next_u64() % 9) as usize;
            let mut set = |x: usize, y: usize| {
                if cx + x < w && cy + y < h {
                    m[(cy + y) * w + cx + x] = 1.0;
                }
            };
            match kind {
                0 => (0..s).for_each(|k| set(k, k)),
                1 => (0..s).for_each(|x| set(x, 1)),
                2 => {
                    for y in 0..s {
                        for x in 0..s {
                            if y == 0
                                || x == 0
                                || y == s - 1
                                || x == s - 1
                                || (x == s / 2 && y == s / 2)
                            {
                                set(x, y);
                            }
                        }
                    }
                }
                3 => (0..s * s)
                    .filter(|_| rng.unit() < 0.5)
                    .for_each(|i| set(i % s, i / s)),
                _ => {}
            }
        }
    }
    m
}

fn layer_areas(path: &Path) -> Vec<i64> {
    let ds = gdal::Dataset::open(path).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let mut a: Vec<i64> = layer
        .features()
        .map(|f| (f.geometry().unwrap().area() / 0.64).round() as i64)
        .collect();
    a.sort_unstable();
    a
}

#[test]
fn same_polygons_as_gdal_polygonize_and_all_valid() {
    let d = tempfile::tempdir().unwrap();
    let (w, h) = (300, 220);
    let m = d.path().join("m.tif");
    write_tif::<u8>(&m, Spec::gk(w, h, 1), &mask(w, h, 3), |v| v as u8);
    let ours = d.path().join("ours.gpkg");
    let (code, _, err) = polygonize(&m, &ours, &["--tile", "64"]);
    assert_eq!(code, 0, "{err}");
    let theirs = d.path().join("gdal.gpkg");
    let st = Command::new("gdal_polygonize.py")
        .args([
            "-q",
            "-8",
            m.to_str().unwrap(),
            "-mask",
            m.to_str().unwrap(),
            "-f",
            "GPKG",
            theirs.to_str().unwrap(),
        ])
        .status();
    match st {
        Ok(s) if s.success() => assert_eq!(
            layer_areas(&ours),
            layer_areas(&theirs),
            "polygon areas differ from gdal_polygonize -8"
        ),
        _ => eprintln!("skipped the gdal_polygonize comparison: gdal_polygonize.py not available"),
    }
    let ds = gdal::Dataset::open(&ours).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let mut n = 0;
    for f in layer.features() {
        assert!(
            f.geometry().unwrap().is_valid(),
            "invalid polygon {:?}",
            f.fid()
        );
        n += 1;
    }
    assert!(n > 100, "{n} polygons");
}

#[test]
fn every_format_and_the_shapefile_code_page() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("m.tif");
    write_tif::<u8>(&m, Spec::gk(90, 70, 1), &mask(90, 70, 9), |v| v as u8);
    let mut counts = Vec::new();
    for ext in ["gpkg", "shp", "fgb"] {
        let out = d.path().join(format!("p.{ext}"));
        let (code, _, err) = polygonize(&m, &out, &[]);
        assert_eq!(code, 0, "{ext}: {err}");
        counts.push(
            gdal::Dataset::open(&out)
                .unwrap()
                .layer(0)
                .unwrap()
                .feature_count(),
        );
    }
    assert!(
        counts.iter().all(|&c| c == counts[0] && c > 0),
        "{counts:?}"
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("p.cpg"))
            .unwrap()
            .trim(),
        "UTF-8"
    );
    assert!(!std::fs::read_dir(d.path()).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".partial")
    }));
}

/// Area of a lon/lat rectangle on the ellipsoid (authalic-latitude formula), m².
fn ellipsoid_rect_area(lon0: f64, lon1: f64, lat0: f64, lat1: f64) -> f64 {
    let (a, f) = (6_378_137.0f64, 1.0 / 298.257_223_563);
    let e2: f64 = f * (2.0 - f);
    let e = e2.sqrt();
    let b2 = a * a * (1.0 - e2);
    let q = |phi: f64| {
        let s = phi.to_radians().sin();
        s / (1.0 - e2 * s * s) + (1.0 / (2.0 * e)) * ((1.0 + e * s) / (1.0 - e * s)).ln()
    };
    0.5 * b2 * (lon1 - lon0).to_radians().abs() * (q(lat1) - q(lat0)).abs()
}

#[test]
fn geodesic_areas_on_a_geographic_crs() {
    let d = tempfile::tempdir().unwrap();
    let (w, h) = (40, 30);
    let mut m = vec![0.0f32; w * h];
    for y in 5..25 {
        for x in 10..30 {
            m[y * w + x] = 1.0;
        }
    }
    // CGCS2000 geographic, 1e-4 degree pixels near 30 N.
    let gt = [120.0, 1e-4, 0.0, 30.0, 0.0, -1e-4];
    let path = d.path().join("geo.tif");
    write_tif::<u8>(
        &path,
        Spec {
            gt: Some(gt),
            epsg: Some(4490),
            ..Spec::gk(w, h, 1)
        },
        &m,
        |v| v as u8,
    );
    let out = d.path().join("geo.gpkg");
    let (code, stdout, err) = polygonize(&path, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("geodesic"), "{stdout}");
    let ds = gdal::Dataset::open(&out).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let f = layer.features().next().unwrap();
    let got = f
        .field_as_double(f.field_index("area_m2").unwrap())
        .unwrap()
        .unwrap();
    let want = ellipsoid_rect_area(120.0010, 120.0030, 29.9995, 29.9975);
    assert!(
        (got - want).abs() / want < 1e-6,
        "geodesic area {got} vs {want}"
    );
    let mu = f
        .field_as_double(f.field_index("area_mu").unwrap())
        .unwrap()
        .unwrap();
    // Written to 0.0001 mu (0.067 m²) and 0.01 m².
    assert!(
        (mu * 10_000.0 / 15.0 - got).abs() < 0.04,
        "{mu} mu, {got} m²"
    );
    assert_eq!((mu * 1e4).round() / 1e4, mu);
}

#[test]
fn simplification_keeps_every_feature_valid_and_close_in_area() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("m.tif");
    write_tif::<u8>(&m, Spec::gk(200, 150, 1), &mask(200, 150, 5), |v| v as u8);
    let (exact, simple) = (d.path().join("exact.gpkg"), d.path().join("simple.gpkg"));
    assert_eq!(polygonize(&m, &exact, &[]).0, 0);
    // 0.8 m pixels: 0.32 m² is half a pixel, the triangle of a one-pixel stair step.
    let (code, _, err) = polygonize(&m, &simple, &["--simplify-m2", "0.33"]);
    assert_eq!(code, 0, "{err}");
    let load = |p: &Path| -> Vec<(f64, usize, bool)> {
        let ds = gdal::Dataset::open(p).unwrap();
        let mut l = ds.layer(0).unwrap();
        l.features()
            .map(|f| {
                let g = f.geometry().unwrap();
                let wkt = g.wkt().unwrap();
                (g.area(), wkt.matches(',').count(), g.is_valid())
            })
            .collect()
    };
    let (a, b) = (load(&exact), load(&simple));
    assert_eq!(a.len(), b.len());
    assert!(b.iter().all(|f| f.2), "an invalid simplified feature");
    let (va, vb): (usize, usize) = (a.iter().map(|f| f.1).sum(), b.iter().map(|f| f.1).sum());
    assert!(vb < va, "simplification removed no vertex ({va} -> {vb})");
    let (sa, sb): (f64, f64) = (a.iter().map(|f| f.0).sum(), b.iter().map(|f| f.0).sum());
    assert!(
        (sa - sb).abs() / sa < 0.15,
        "area changed too much: {sa} -> {sb}"
    );
}

#[test]
fn geopackage_has_a_working_spatial_index_and_survives_edits() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("m.tif");
    write_tif::<u8>(&m, Spec::gk(120, 80, 1), &mask(120, 80, 2), |v| v as u8);
    let out = d.path().join("p.gpkg");
    assert_eq!(polygonize(&m, &out, &[]).0, 0);
    let ds = gdal::Dataset::open(&out).unwrap();
    let has_index = common::raster::sql_f64(&ds, "SELECT HasSpatialIndex('changes', 'geom')");
    assert_eq!(has_index, Some(1.0));
    let mut layer = ds.layer_by_name("changes").unwrap();
    let total = layer.feature_count();
    assert!(total > 10);
    // A spatial filter over the left half returns features, fewer than all.
    let (x0, y0) = (39_500_000.0, 3_400_000.0 - 80.0 * 0.8);
    layer.set_spatial_filter_rect(x0, y0, x0 + 48.0, y0 + 64.0);
    let some = layer.features().count() as u64;
    assert!(some > 0 && some < total, "{some} of {total}");
    drop(ds);
    // Edits through OGR keep the R-tree in step (the extension's triggers).
    let ds = common::open_with(
        &out,
        gdal::GdalOpenFlags::GDAL_OF_UPDATE | gdal::GdalOpenFlags::GDAL_OF_VECTOR,
    );
    let fid = ds
        .layer_by_name("changes")
        .unwrap()
        .features()
        .next()
        .unwrap()
        .fid()
        .unwrap();
    // Delete through SQL, as any GeoPackage client would.
    ds.execute_sql(
        format!("DELETE FROM changes WHERE fid = {fid}"),
        None,
        gdal::vector::sql::Dialect::DEFAULT,
    )
    .unwrap();
    let rows = common::raster::sql_f64(&ds, "SELECT COUNT(*) FROM rtree_changes_geom");
    assert_eq!(rows, Some(total as f64 - 1.0));
}

#[test]
fn empty_mask_gives_an_empty_valid_layer() {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("m.tif");
    write_tif::<u8>(&m, Spec::gk(50, 40, 1), &vec![0.0; 2000], |v| v as u8);
    let out = d.path().join("e.gpkg");
    let (code, _, err) = polygonize(&m, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        gdal::Dataset::open(&out)
            .unwrap()
            .layer(0)
            .unwrap()
            .feature_count(),
        0
    );
}

#[test]
fn bad_input_is_a_clear_error_and_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("prob.tif");
    let probs: Vec<f32> = (0..2000).map(|i| (i % 100) as f32 / 100.0).collect();
    write_tif::<f32>(&f, Spec::gk(50, 40, 1), &probs, |v| v);
    let out = d.path().join("p.gpkg");
    let (code, _, err) = polygonize(&f, &out, &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("prob.tif") && err.contains("--min-value"),
        "{err}"
    );
    assert!(!out.exists());
    let (code, _, err) = polygonize(&f, &out, &["--min-value", "0.9"]);
    assert_eq!(code, 0, "{err}");
    let missing = d.path().join("no/such/dir/p.gpkg");
    let (code, _, err) = polygonize(&f, &missing, &["--min-value", "0.5"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("p.gpkg") && err.contains("does not exist"),
        "{err}"
    );
    let (code, _, err) = polygonize(&f, &d.path().join("x.txt"), &["--min-value", "0.5"]);
    assert_eq!(code, 1);
    assert!(err.contains("x.txt") && err.contains(".gpkg"), "{err}");
    assert!(!std::fs::read_dir(d.path()).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".partial")
    }));
}

#[test]
fn detect_writes_changes_matching_its_mask() {
    let d = tempfile::tempdir().unwrap();
    let s = common::scene(160, 120, 4, 4);
    let (b, a) = (d.path().join("b.tif"), d.path().join("a.tif"));
    write_tif::<u16>(&b, Spec::gk(160, 120, 4), &s.before, |v| v as u16);
    write_tif::<u16>(&a, Spec::gk(160, 120, 4), &s.after, |v| v as u16);
    let out = d.path().join("o");
    let (code, stdout, err) = tuban(&[
        "detect",
        "--before",
        b.to_str().unwrap(),
        "--after",
        a.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("changes.gpkg"), "{stdout}");
    // --min-area-mu keeps the mask and thins the polygons: a threshold between the smallest
    // and the largest polygon of the first run must drop some and keep some.
    let all_ds = gdal::Dataset::open(out.join("changes.gpkg")).unwrap();
    let (lo, hi) = (
        common::raster::sql_f64(&all_ds, "SELECT MIN(area_mu) FROM changes").unwrap(),
        common::raster::sql_f64(&all_ds, "SELECT MAX(area_mu) FROM changes").unwrap(),
    );
    assert!(lo < hi, "the test scene needs polygons of different sizes");
    let min_mu = (lo + hi) / 2.0;
    let min_mu_arg = format!("{min_mu}");
    let o2 = d.path().join("o2");
    let (code, _, err) = tuban(&[
        "detect",
        "--before",
        b.to_str().unwrap(),
        "--after",
        a.to_str().unwrap(),
        "--out",
        o2.to_str().unwrap(),
        "--backend",
        "cpu",
        "--min-area-mu",
        &min_mu_arg,
    ]);
    assert_eq!(code, 0, "{err}");
    let count = |p: &Path| {
        gdal::Dataset::open(p)
            .unwrap()
            .layer(0)
            .unwrap()
            .feature_count()
    };
    let (all, big) = (
        count(&out.join("changes.gpkg")),
        count(&o2.join("changes.gpkg")),
    );
    assert!(big < all && big > 0, "{big} vs {all}");
    let ds2 = gdal::Dataset::open(o2.join("changes.gpkg")).unwrap();
    let mut l2 = ds2.layer(0).unwrap();
    assert!(l2.features().all(|f| {
        f.field_as_double(f.field_index("area_mu").unwrap())
            .unwrap()
            .unwrap()
            >= min_mu
    }));
    let ds = gdal::Dataset::open(out.join("changes.gpkg")).unwrap();
    let mut layer = ds.layer_by_name("changes").unwrap();
    let px: i64 = layer
        .features()
        .map(|f| {
            f.field_as_integer64(f.field_index("pixels").unwrap())
                .unwrap()
                .unwrap()
        })
        .sum();
    let (_, _, m) = common::raster::read_u8(&out.join("change.tif"));
    // Every change class of the mask (1 change, 2 new green cover, 3 an array of rows).
    assert_eq!(px, m.iter().filter(|&&v| v != 0 && v != 255).count() as i64);
}

/// Issue 17 item 9: an RGB image given as a mask made one polygon over the whole scene.
#[test]
fn issue_17_an_rgb_image_is_not_a_mask() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("p.gpkg");
    let before = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/levir/before.png");
    let (code, _, err) = polygonize(&before, &out, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("before.png") && err.contains("3 bands") && err.contains("--value"),
        "{err}"
    );
    assert!(!out.exists());
    // Asked for explicitly, band 1 is polygonized.
    let (code, _, err) = polygonize(&before, &out, &["--min-value", "200"]);
    assert_eq!(code, 0, "{err}");
}
