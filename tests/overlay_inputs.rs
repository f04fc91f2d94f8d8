//! `tuban overlay` on the survey formats users exchange (Shapefile with a GBK code page or none,
//! FileGDB, GeoJSON in CGCS2000 geographic) and on bad input: each must give the same areas as
//! the GeoPackage, or one clear message naming the file and the problem.
#![cfg(feature = "gdal")]

mod common;

use common::cli::synth;
use common::vector::{X0, Y0, num, overlay, rect, rows, wkt_of, write_layer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn ogr2ogr(args: &[&str]) {
    let st = Command::new("ogr2ogr")
        .args(args)
        .status()
        .expect("ogr2ogr (gdal-bin) runs");
    assert!(st.success(), "ogr2ogr {args:?}");
}

/// Per change (SRC_ID): JCMJ, GDMJ, YJJBNTMJ, STHXMJ and the county name.
fn measures(out: &Path) -> BTreeMap<String, (f64, f64, f64, f64, String)> {
    rows(out, "leads")
        .into_iter()
        .chain(rows(out, "excluded"))
        .map(|r| {
            let key = format!(
                "{}/{}",
                r["SRC_ID"],
                r.get("XZQDM").cloned().unwrap_or_default()
            );
            let v = (
                num(&r, "JCMJ"),
                num(&r, "GDMJ"),
                num(&r, "YJJBNTMJ"),
                num(&r, "STHXMJ"),
                r.get("XMC").cloned().unwrap_or_default(),
            );
            (key, v)
        })
        .collect()
}

fn job(dir: &Path, name: &str, layers: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!("quarter = \"2024Q2\"\n[imagery]\nbefore = \"before.tif\"\nafter = \"after.tif\"\nafter_date = \"2024-06-25\"\n{layers}"),
    )
    .unwrap();
    p
}

#[test]
fn shapefile_gbk_filegdb_and_geojson_sources_give_the_geopackage_areas() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A small synth scene: its truth polygons are the changes.
    synth(d, 1024, 1);
    let refs = d.join("refs.gpkg");
    let r = refs.to_str().unwrap();
    let path = |n: &str| d.join(n).to_str().unwrap().to_string();
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-lco",
        "ENCODING=GBK",
        &path("xzq.shp"),
        r,
        "XZQ",
    ]);
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-lco",
        "ENCODING=GBK",
        &path("xzq_nocpg.shp"),
        r,
        "XZQ",
    ]);
    std::fs::remove_file(d.join("xzq_nocpg.cpg")).unwrap();
    ogr2ogr(&["-f", "OpenFileGDB", &path("refs.gdb"), r, "DLTB"]);
    // CGCS2000 geographic: EPSG:4490 is latitude-first by definition; GeoJSON is x = longitude.
    ogr2ogr(&[
        "-f",
        "GeoJSON",
        "-t_srs",
        "EPSG:4490",
        "-lco",
        "COORDINATE_PRECISION=12",
        &path("pbf.geojson"),
        r,
        "YJJBNTTB",
    ]);
    assert_eq!(
        std::fs::read_to_string(d.join("xzq.cpg")).unwrap().trim(),
        "GBK"
    );
    let dbf = std::fs::read(d.join("xzq.dbf")).unwrap();
    let gbk = [0xb3u8, 0xa3, 0xca, 0xec, 0xca, 0xd0]; // 常熟市 in GBK
    assert!(dbf.windows(6).any(|w| w == gbk), "the .dbf holds GBK bytes");

    let base = job(
        d,
        "base.toml",
        "[layers.dltb]\npath = \"refs.gpkg\"\n[layers.basic_farmland]\npath = \"refs.gpkg\"\n[layers.counties]\npath = \"refs.gpkg\"\nname_field = \"XZQMC\"\n",
    );
    let other = job(
        d,
        "other.toml",
        "[layers.dltb]\npath = \"refs.gdb\"\n[layers.basic_farmland]\npath = \"pbf.geojson\"\n[layers.counties]\npath = \"xzq.shp\"\nname_field = \"XZQMC\"\n",
    );
    let nocpg = job(
        d,
        "nocpg.toml",
        "[layers.counties]\npath = \"xzq_nocpg.shp\"\nencoding = \"GBK\"\nname_field = \"XZQMC\"\n",
    );
    // Issue 17 item 6: the same Shapefile without .cpg and without `encoding =`: its text is
    // not UTF-8 but GBK, read so with a note (it was mojibake without a word).
    let guessed = job(
        d,
        "guessed.toml",
        "[layers.counties]\npath = \"xzq_nocpg.shp\"\nname_field = \"XZQMC\"\n",
    );
    let truth = d.join("truth.gpkg");
    let (a, b, c) = (d.join("a.gpkg"), d.join("b.gpkg"), d.join("c.gpkg"));
    for (j, o) in [(&base, &a), (&other, &b), (&nocpg, &c)] {
        let (code, _, stderr) = overlay(&truth, j, o);
        assert_eq!(code, 0, "{stderr}");
    }
    let g = d.join("g.gpkg");
    let (code, _, stderr) = overlay(&truth, &guessed, &g);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("xzq_nocpg.shp: no .cpg, and its text is not UTF-8: read as GB18030 (GBK)"),
        "{stderr}"
    );
    let mg = measures(&g);
    let (ma, mb, mc) = (measures(&a), measures(&b), measures(&c));
    for (k, x) in &mc {
        assert_eq!(
            x.4, mg[k].4,
            "county names read as GB18030 without encoding ="
        );
    }
    assert!(ma.len() >= 5);
    assert_eq!(ma.keys().collect::<Vec<_>>(), mb.keys().collect::<Vec<_>>());
    for (k, x) in &ma {
        let y = &mb[k];
        // The GeoJSON round trip through lon/lat moves vertices by < 1e-7 m.
        for (p, q) in [(x.0, y.0), (x.1, y.1), (x.2, y.2), (x.3, y.3)] {
            assert!((p - q).abs() < 0.02, "{k}: {x:?} vs {y:?}");
        }
        assert_eq!(x.4, y.4, "county names read through the .cpg");
        assert_eq!(x.4, mc[k].4, "county names read with encoding = \"GBK\"");
    }
    assert!(ma.values().any(|v| v.4 == "常熟市") && ma.values().any(|v| v.4 == "张家港市"));
    assert!(
        ma.values().any(|v| v.2 > 0.0),
        "some change touches basic farmland"
    );
}

/// Run the overlay on a hand-made pair of files and return (exit code, stderr).
fn run_with(dir: &Path, layers: &str) -> (i32, String) {
    let j = job(dir, "job.toml", layers);
    let (code, _, stderr) = overlay(&dir.join("changes.gpkg"), &j, &dir.join("out.gpkg"));
    (code, stderr)
}

#[test]
fn bad_reference_input_gets_one_clear_message_or_a_counted_repair() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("before.tif"), b"").unwrap();
    std::fs::write(d.join("after.tif"), b"").unwrap();
    let wkt = wkt_of(4527);
    write_layer(
        &d.join("changes.gpkg"),
        "changes",
        &wkt,
        &["TBLX"],
        &[(rect(0.0, 0.0, 100.0, 100.0), vec!["20"])],
    );
    let refs = d.join("refs.gpkg");
    write_layer(
        &refs,
        "DLTB",
        &wkt,
        &["DLBM", "DLMC"],
        &[(rect(-50.0, -50.0, 150.0, 150.0), vec!["0101", "水田"])],
    );
    // A bow-tie farmland polygon: two triangles meeting at (50, 50), 2 x 2500 m² over the change.
    let bow = geo::MultiPolygon::new(vec![geo::Polygon::new(
        vec![
            (X0, Y0),
            (X0 + 100.0, Y0 + 100.0),
            (X0 + 100.0, Y0),
            (X0, Y0 + 100.0),
            (X0, Y0),
        ]
        .into(),
        vec![],
    )]);
    write_layer(&refs, "YJJBNTTB", &wkt, &["JBNTMJ"], &[(bow, vec!["5000"])]);
    write_layer(&refs, "STBHHX", &wkt, &["HXMC"], &[]);
    write_layer(
        &refs,
        "PZYD",
        &wkt,
        &["PZWH", "PZRQ"],
        &[(rect(0.0, 0.0, 10.0, 10.0), vec!["批1", "not a date"])],
    );

    // A wrong field name lists the layer's fields.
    let (code, e) = run_with(
        d,
        "[layers.dltb]\npath = \"refs.gpkg\"\nclass_field = \"DLBMX\"\n",
    );
    assert_eq!(code, 1);
    assert!(
        e.contains("no field \"DLBMX\"") && e.contains("DLBM, DLMC"),
        "{e}"
    );
    // A wrong layer name lists the layers.
    let (code, e) = run_with(
        d,
        "[layers.red_line]\npath = \"refs.gpkg\"\nlayer = \"HX\"\n",
    );
    assert_eq!(code, 1);
    assert!(
        e.contains("\"HX\"") && e.contains("STBHHX") && e.contains("YJJBNTTB"),
        "{e}"
    );
    // Coordinates with a zone prefix declared as a CRS without one.
    let (code, e) = run_with(
        d,
        "[layers.dltb]\npath = \"refs.gpkg\"\ncrs = \"EPSG:4545\"\n",
    );
    assert_eq!(code, 1);
    assert!(e.contains("zone prefix") && e.contains("EPSG:4527"), "{e}");
    // A layer without CRS.
    let shp = d.join("nocrs.shp");
    let st = Command::new("ogr2ogr")
        .args([
            "-f",
            "ESRI Shapefile",
            shp.to_str().unwrap(),
            refs.to_str().unwrap(),
            "DLTB",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_file(d.join("nocrs.prj")).unwrap();
    let (code, e) = run_with(d, "[layers.dltb]\npath = \"nocrs.shp\"\n");
    assert_eq!(code, 1);
    assert!(e.contains("nocrs.shp") && e.contains("has no CRS"), "{e}");
    // ... which the job can supply.
    let (code, e) = run_with(
        d,
        "[layers.dltb]\npath = \"nocrs.shp\"\ncrs = \"EPSG:4527\"\n",
    );
    assert_eq!(code, 0, "{e}");
    // Garbage as a layer.
    std::fs::write(d.join("garbage.gpkg"), b"\x00\x01 not a database").unwrap();
    let (code, e) = run_with(d, "[layers.dltb]\npath = \"garbage.gpkg\"\n");
    assert_eq!(code, 1);
    assert!(e.contains("garbage.gpkg") && !e.contains("panicked"), "{e}");

    // A filter the driver cannot run (issue 17 item 3: GDAL printed an error, the farmland layer
    // read as empty and the run ended with exit 0 and fewer leads).
    let (code, e) = run_with(
        d,
        "[layers.dltb]\npath = \"refs.gpkg\"\n[layers.basic_farmland]\npath = \"refs.gpkg\"\nfilter = \"NOT VALID (((\"\n",
    );
    assert_eq!(code, 1, "{e}");
    assert!(
        e.contains("YJJBNTTB") && e.contains("filter \"NOT VALID (((\"") && e.contains("failed"),
        "{e}"
    );

    // The invalid farmland polygon is repaired (counted), the empty red line measures nothing,
    // the undated approval is not applied (and said so).
    let (code, e) = run_with(
        d,
        "[layers.dltb]\npath = \"refs.gpkg\"\n[layers.basic_farmland]\npath = \"refs.gpkg\"\n[layers.red_line]\npath = \"refs.gpkg\"\n[layers.approvals]\npath = \"refs.gpkg\"\n",
    );
    assert_eq!(code, 0, "{e}");
    assert!(
        e.contains("basic_farmland: 1 invalid geometries repaired"),
        "{e}"
    );
    assert!(e.contains("no readable date") && e.contains("批1"), "{e}");
    let r = &rows(&d.join("out.gpkg"), "leads")[0];
    assert_eq!(num(r, "JCMJ"), 10_000.0);
    assert_eq!(num(r, "PZMJ"), 0.0);
    assert_eq!(num(r, "GDMJ"), 10_000.0);
    assert_eq!(num(r, "YJJBNTMJ"), 5_000.0);
    assert_eq!(num(r, "STHXMJ"), 0.0);

    // Approvals need the after-image date; the message names the job file and line.
    std::fs::write(
        d.join("nodate.toml"),
        "quarter = \"2024Q2\"\n\n[layers.approvals]\npath = \"refs.gpkg\"\n",
    )
    .unwrap();
    let (code, _, e) = overlay(
        &d.join("changes.gpkg"),
        &d.join("nodate.toml"),
        &d.join("o.gpkg"),
    );
    assert_eq!(code, 1);
    assert!(
        e.contains("nodate.toml:4") && e.contains("after_date"),
        "{e}"
    );
    // An unknown key in the job names its line.
    std::fs::write(
        d.join("typo.toml"),
        "quarter = \"2024Q2\"\n[rules]\narable_m = 10\n",
    )
    .unwrap();
    let (code, _, e) = overlay(
        &d.join("changes.gpkg"),
        &d.join("typo.toml"),
        &d.join("o.gpkg"),
    );
    assert_eq!(code, 1);
    assert!(e.contains("typo.toml:3") && e.contains("arable_m"), "{e}");
    assert!(!d.join("o.gpkg").exists(), "nothing is written on error");
    // A Shapefile without .cpg whose text is neither UTF-8 nor GBK (CP1252 "ÿ" is 0xFF): refused,
    // naming `encoding =`, rather than read as mojibake.
    let geojson = d.join("latin.geojson");
    std::fs::write(
        &geojson,
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"XZQDM":"320581","XZQMC":"Ÿÿ"}},"geometry":{{"type":"Polygon","coordinates":[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y0}]]]}}}}]}}"#,
            x0 = X0,
            y0 = Y0,
            x1 = X0 + 100.0,
            y1 = Y0 + 100.0
        ),
    )
    .unwrap();
    ogr2ogr(&[
        "-f",
        "ESRI Shapefile",
        "-a_srs",
        "EPSG:4527",
        "-lco",
        "ENCODING=CP1252",
        d.join("latin.shp").to_str().unwrap(),
        geojson.to_str().unwrap(),
    ]);
    std::fs::remove_file(d.join("latin.cpg")).unwrap();
    let (code, e) = run_with(
        d,
        "[layers.dltb]\npath = \"refs.gpkg\"\n[layers.counties]\npath = \"latin.shp\"\nname_field = \"XZQMC\"\n",
    );
    assert_eq!(code, 1, "{e}");
    assert!(
        e.contains("latin.shp") && e.contains("neither UTF-8 nor GBK") && e.contains("encoding ="),
        "{e}"
    );
}
