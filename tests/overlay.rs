//! `tuban overlay` against hand-made shapes (areas worked out by hand), synth layers (areas
//! counted from the generator's rasters), real layers (areas from GEOS through OGR, or from an
//! equal-area projection for geodesic areas), other formats, and bad input.
#![cfg(feature = "gdal")]

mod common;

use common::cli::synth;
use common::vector::{
    REAL, X0, Y0, num, overlay, real_field, rect, rows, text_field, wkt_of, write_layer,
};
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{Geometry, LayerAccess};
use geo::MultiPolygon;
use std::collections::BTreeMap;
use std::path::Path;

/// The hand-made survey: two land classes side by side, a basic-farmland triangle, a red-line
/// strip, two counties, an approval before and one after the after image. `arable` is the
/// arable class's DLBM code.
fn hand_made(dir: &Path, arable: &str) {
    let refs = dir.join("refs.gpkg");
    let wkt = wkt_of(4527);
    write_layer(
        &refs,
        "DLTB",
        &wkt,
        &["DLBM", "ZLDWDM"],
        &[
            (rect(0.0, 0.0, 100.0, 100.0), vec![arable, "320581100001"]),
            (rect(100.0, 0.0, 200.0, 100.0), vec!["0702", "320581100001"]),
        ],
    );
    let tri = MultiPolygon::new(vec![geo::Polygon::new(
        vec![(X0, Y0), (X0 + 100.0, Y0), (X0, Y0 + 100.0), (X0, Y0)].into(),
        vec![],
    )]);
    write_layer(&refs, "YJJBNTTB", &wkt, &["JBNTMJ"], &[(tri, vec!["5000"])]);
    write_layer(
        &refs,
        "STBHHX",
        &wkt,
        &["HXMC"],
        &[(rect(150.0, 0.0, 200.0, 100.0), vec!["水源涵养红线"])],
    );
    write_layer(
        &refs,
        "XZQ",
        &wkt,
        &["XZQDM", "XZQMC"],
        &[
            (rect(0.0, -50.0, 120.0, 150.0), vec!["320581", "常熟市"]),
            (rect(120.0, -50.0, 300.0, 150.0), vec!["320582", "张家港市"]),
        ],
    );
    write_layer(
        &refs,
        "PZYD",
        &wkt,
        &["PZWH", "PZRQ"],
        &[
            (
                rect(0.0, 0.0, 20.0, 100.0),
                vec!["苏政地〔2024〕1号", "2024年5月1日"],
            ),
            (
                rect(20.0, 0.0, 40.0, 100.0),
                vec!["苏政地〔2024〕2号", "2024-08-01"],
            ),
        ],
    );
    write_layer(
        &dir.join("changes.gpkg"),
        "changes",
        &wkt,
        &["TBLX"],
        &[(rect(0.0, 10.0, 160.0, 90.0), vec!["20"])],
    );
}

/// Overlay the hand-made survey (its arable class coded `arable`) with the plain job: stdout,
/// stderr and the leads, by county code.
fn hand_made_leads(dir: &Path, arable: &str) -> (String, String, Vec<BTreeMap<String, String>>) {
    hand_made(dir, arable);
    let job = hand_job(dir, "");
    let out = dir.join("leads.gpkg");
    let (code, stdout, stderr) = overlay(&dir.join("changes.gpkg"), &job, &out);
    assert_eq!(code, 0, "{stderr}");
    let mut leads = rows(&out, "leads");
    leads.sort_by(|a, b| a["XZQDM"].cmp(&b["XZQDM"]));
    (stdout, stderr, leads)
}

/// A DLTB of the second national survey (GB/T 21010-2007: arable land 011, 012, 013) is arable
/// land by default too: with only the third survey's 0101-0103 counted, its 9.6 mu of arable
/// land under the change counted as none, and a lead of >= 10 mu would have been missed.
#[test]
fn second_survey_arable_codes_count_as_arable_land() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, leads) = hand_made_leads(dir.path(), "012");
    assert_eq!(num(&leads[0], "GDMJ"), 6400.0);
    assert_eq!(leads[0]["DLBM_MJ"], r#"{"012":6400.00,"0702":1600.00}"#);
}

fn hand_job(dir: &Path, extra_rules: &str) -> std::path::PathBuf {
    let job = dir.join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"quarter = "2024Q2"
[imagery]
before = "changes.gpkg"
after = "changes.gpkg"
before_date = "2024-03-20"
after_date = "2024-06-25"
[layers.dltb]
path = "refs.gpkg"
[layers.basic_farmland]
path = "refs.gpkg"
[layers.red_line]
path = "refs.gpkg"
name_field = "HXMC"
[layers.approvals]
path = "refs.gpkg"
[layers.counties]
path = "refs.gpkg"
name_field = "XZQMC"
[rules]
{extra_rules}
"#
        ),
    )
    .unwrap();
    job
}

#[test]
fn hand_made_shapes_give_exact_areas_split_by_county() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr, leads) = hand_made_leads(dir.path(), "0101");
    let out = dir.path().join("leads.gpkg");
    assert!(
        stderr.contains("1 approvals near changes are dated after"),
        "{stderr}"
    );
    assert!(
        stdout.contains("1 changes -> 2 pieces: 2 leads"),
        "{stdout}"
    );
    let (a, b) = (&leads[0], &leads[1]);
    // County 320581 holds x in [0, 120]: 120 x 80 m. The approval dated 2024年5月1日 covers
    // x in [0, 20]; the one dated after the after image does not count.
    assert_eq!(a["JCBH"], "3205812024200001");
    assert_eq!(a["XMC"], "常熟市");
    assert_eq!(num(a, "JCMJ"), 9600.0);
    assert_eq!(num(a, "PZMJ"), 1600.0);
    assert_eq!(a["PZWH"], "苏政地〔2024〕1号");
    // Arable (0101, x < 100) in the unapproved part: x in [20, 100] x 80 m.
    assert_eq!(num(a, "GDMJ"), 6400.0);
    // The triangle x + y <= 100 over x in [20, 100], y in [10, 90]: integral of (90 - x).
    assert_eq!(num(a, "YJJBNTMJ"), 2450.0);
    assert_eq!(num(a, "STHXMJ"), 0.0);
    assert_eq!(a["DLBM_MJ"], r#"{"0101":6400.00,"0702":1600.00}"#);
    assert_eq!((a["SFYN"].as_str(), a["SFHX"].as_str()), ("是", "否"));
    assert_eq!(a["QSX"], "2024-03-20");
    assert_eq!(a["HSX"], "2024-06-25");
    // County 320582: x in [120, 160]; red line from x = 150.
    assert_eq!(b["JCBH"], "3205822024200001");
    assert_eq!(num(b, "JCMJ"), 3200.0);
    assert_eq!(num(b, "STHXMJ"), 800.0);
    assert_eq!(b["STHXMC"], "水源涵养红线");
    assert_eq!(b["SFHX"], "是");
    // Whole polygon: 9.6 mu arable, 3.675 mu farmland, 800 m² red line -> a key-area lead.
    for r in [a, b] {
        assert_eq!(r["YXJ"], "1");
        assert!(r["PDYJ"].contains("red line 800.00 m2"), "{}", r["PDYJ"]);
        assert!(r["PDYJ"].contains("split across 2 units"), "{}", r["PDYJ"]);
        assert!(r["MJFS"].starts_with("planar"), "{}", r["MJFS"]);
    }
    assert!(rows(&out, "excluded").is_empty());

    // Majority mode: one piece, in the county holding 9600 of 12800 m².
    let job = hand_job(dir.path(), "county_mode = \"majority\"\nred_line = false");
    let (code, _, stderr) = overlay(&dir.path().join("changes.gpkg"), &job, &out);
    assert_eq!(code, 0, "{stderr}");
    let ex = rows(&out, "excluded");
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0]["XZQDM"], "320581");
    assert_eq!(num(&ex[0], "JCMJ"), 12800.0);
    assert_eq!(
        ex[0]["PDYJ"],
        "basic farmland 3.68 mu < 5 mu; arable 9.60 mu < 10 mu; approved 12.5 % (1600.00 m2)"
    );
    assert!(!ex[0].contains_key("JCBH"));
}

#[test]
fn synth_layers_match_the_generator_and_reruns_are_identical() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    synth(d, 2048, 3);
    // Without approvals, every object's areas are the generator's pixel counts.
    let job = std::fs::read_to_string(d.join("job.toml")).unwrap();
    let start = job.find("[layers.approvals]").unwrap();
    let end = start + job[start..].find("\n\n").unwrap();
    let no_approvals = format!("{}{}", &job[..start], &job[end..]);
    std::fs::write(d.join("job_na.toml"), no_approvals).unwrap();
    let out = d.join("na.gpkg");
    let (code, _, stderr) = overlay(&d.join("truth.gpkg"), &d.join("job_na.toml"), &out);
    assert_eq!(code, 0, "{stderr}");
    let mut got: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    for r in rows(&out, "leads")
        .into_iter()
        .chain(rows(&out, "excluded"))
    {
        let e = got.entry(r["object_id"].clone()).or_default();
        for (k, f) in ["JCMJ", "GDMJ", "YJJBNTMJ", "STHXMJ"].iter().enumerate() {
            e[k] += num(&r, f);
        }
    }
    let truth = gdal::Dataset::open(d.join("truth.gpkg")).unwrap();
    let mut want: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    for f in truth.layer_by_name("truth").unwrap().features() {
        let id = text_field(&f, "object_id");
        let e = want.entry(id).or_default();
        e[0] += real_field(&f, "area_m2");
        // The generator repeats the object's occupation on each of its features.
        for (k, name) in [(1, "GDMJ"), (2, "YJJBNTMJ"), (3, "STHXMJ")] {
            e[k] = real_field(&f, name);
        }
    }
    assert!(want.len() >= 15, "{} objects", want.len());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (id, w) in &want {
        for k in 0..4 {
            assert!(
                (got[id][k] - w[k]).abs() < 0.05,
                "object {id} field {k}: {:?} vs {w:?}",
                got[id]
            );
        }
    }
    // With approvals: approved objects are excluded, all their area approved.
    let out = d.join("with.gpkg");
    let (code, _, stderr) = overlay(&d.join("truth.gpkg"), &d.join("job.toml"), &out);
    assert_eq!(code, 0, "{stderr}");
    let approved: Vec<BTreeMap<String, String>> = rows(&out, "excluded")
        .into_iter()
        .chain(rows(&out, "leads"))
        .filter(|r| r.get("approved").is_some_and(|a| a == "是"))
        .collect();
    assert!(!approved.is_empty());
    for r in &approved {
        assert!((num(r, "PZMJ") - num(r, "JCMJ")).abs() < 0.05, "{r:?}");
        assert!(
            r.get("JCBH").is_none() && r["PDYJ"].contains("approved 100.0 %"),
            "{r:?}"
        );
    }
    let leads = rows(&out, "leads");
    assert!(!leads.is_empty());
    for r in &leads {
        let j = &r["JCBH"];
        assert!(
            j.len() == 16 && j.starts_with(&r["XZQDM"]) && j[6..11] == *"20242",
            "{j}"
        );
    }
    // A rerun writes the same leads, numbers included.
    let again = d.join("again.gpkg");
    overlay(&d.join("truth.gpkg"), &d.join("job.toml"), &again);
    assert_eq!(rows(&again, "leads"), leads);
}

/// Area of a GEOS geometry in square metres in a Lambert azimuthal equal-area projection
/// centred on it.
fn laea_area(g: &Geometry, srs: &SpatialRef) -> f64 {
    let e = g.envelope();
    let mut from = srs.clone();
    from.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let mut wgs = SpatialRef::from_epsg(4326).unwrap();
    wgs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let (mut x, mut y) = ([(e.MinX + e.MaxX) / 2.0], [(e.MinY + e.MaxY) / 2.0]);
    CoordTransform::new(&from, &wgs)
        .unwrap()
        .transform_coords(&mut x, &mut y, &mut [0.0])
        .unwrap();
    let mut laea = SpatialRef::from_proj4(&format!(
        "+proj=laea +lat_0={} +lon_0={} +ellps=WGS84",
        y[0], x[0]
    ))
    .unwrap();
    laea.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    g.transform(&CoordTransform::new(&from, &laea).unwrap())
        .unwrap()
        .area()
}

#[test]
fn real_parcels_reprojected_match_geos_and_geodesic_areas_match_an_equal_area_projection() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lpis = Path::new(REAL).join("lpis-parcels.gpkg");
    let mut l93 = SpatialRef::from_epsg(2154).unwrap();
    l93.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    // Changes drawn in Lambert-93 over the parcels, stored in UTM 31N and in lon/lat.
    let squares: Vec<(f64, f64, f64)> = vec![
        (857_500.0, 6_522_000.0, 300.0),
        (858_700.0, 6_523_300.0, 450.0),
        (859_900.0, 6_524_600.0, 200.0),
        (860_300.0, 6_521_900.0, 500.0),
    ];
    for (epsg, name) in [(32631, "utm.gpkg"), (4326, "lonlat.gpkg")] {
        let mut to = SpatialRef::from_epsg(epsg).unwrap();
        to.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        let t = CoordTransform::new(&l93, &to).unwrap();
        let feats: Vec<(MultiPolygon<f64>, Vec<&str>)> = squares
            .iter()
            .map(|&(x, y, s)| {
                let g = Geometry::from_wkt(&format!(
                    "POLYGON(({x} {y},{} {y},{} {},{x} {},{x} {y}))",
                    x + s,
                    x + s,
                    y + s,
                    y + s
                ))
                .unwrap()
                .transform(&t)
                .unwrap();
                let geo::Geometry::Polygon(p) = g.to_geo().unwrap() else {
                    panic!("polygon")
                };
                (MultiPolygon::new(vec![p]), vec!["20"])
            })
            .collect();
        write_layer(&d.join(name), "changes", &wkt_of(epsg), &["TBLX"], &feats);
    }
    std::fs::write(
        d.join("job.toml"),
        format!(
            "quarter = \"2024Q2\"\n[layers.dltb]\npath = \"{}\"\nclass_field = \"code_group\"\narable_codes = [\"1\", \"2\"]\n",
            std::fs::canonicalize(&lpis).unwrap().display()
        ),
    )
    .unwrap();
    // Expected: GEOS intersections of the changes with the reprojected parcels.
    let parcels = gdal::Dataset::open(&lpis).unwrap();
    let mut expected: Vec<BTreeMap<String, f64>> = vec![BTreeMap::new(); squares.len()];
    let mut expected_laea = vec![0.0; squares.len()];
    for (epsg, name) in [(32631, "utm.gpkg"), (4326, "lonlat.gpkg")] {
        let mut to = SpatialRef::from_epsg(epsg).unwrap();
        to.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        let t = CoordTransform::new(&l93, &to).unwrap();
        let changes = gdal::Dataset::open(d.join(name)).unwrap();
        let cgeoms: Vec<Geometry> = changes
            .layer(0)
            .unwrap()
            .features()
            .map(|f| f.geometry().unwrap().clone())
            .collect();
        for f in parcels.layer(0).unwrap().features() {
            let class = text_field(&f, "code_group");
            let g = f.geometry().unwrap().transform(&t).unwrap();
            for (k, c) in cgeoms.iter().enumerate() {
                if let Some(i) = c.intersection(&g).filter(|i| i.area() > 0.0) {
                    if epsg == 32631 {
                        *expected[k].entry(class.clone()).or_default() += i.area();
                    } else {
                        expected_laea[k] += laea_area(&i, &to);
                    }
                }
            }
        }
        let out = d.join(format!("{epsg}.gpkg"));
        let (code, _, stderr) = overlay(&d.join(name), &d.join("job.toml"), &out);
        assert_eq!(code, 0, "{stderr}");
        let mut got = rows(&out, "leads");
        got.extend(rows(&out, "excluded"));
        got.sort_by_key(|r| r["SRC_ID"].parse::<usize>().unwrap());
        assert_eq!(got.len(), squares.len());
        for (k, r) in got.iter().enumerate() {
            let classes: BTreeMap<String, f64> = serde_json::from_str(&r["DLBM_MJ"]).unwrap();
            if epsg == 32631 {
                assert!(r["MJFS"].starts_with("planar"));
                let want = &expected[k];
                assert_eq!(
                    classes.keys().collect::<Vec<_>>(),
                    want.keys().collect::<Vec<_>>()
                );
                for (c, a) in want {
                    assert!(
                        (classes[c] - a).abs() < 0.01,
                        "change {k} class {c}: {} vs {a}",
                        classes[c]
                    );
                }
                let arable = want.get("1").unwrap_or(&0.0) + want.get("2").unwrap_or(&0.0);
                assert!((num(r, "GDMJ") - arable).abs() < 0.02);
            } else {
                // Geodesic (ellipsoid) against an equal-area projection of GEOS's result.
                assert!(r["MJFS"].starts_with("geodesic"), "{}", r["MJFS"]);
                let sum: f64 = classes.values().sum();
                let w = expected_laea[k];
                assert!(
                    (sum - w).abs() < 1e-5 * w + 0.05,
                    "change {k}: {sum} vs {w}"
                );
            }
        }
    }
}

/// A lon/lat square with 100 vertices per side, so that geodesic edges and an equal-area
/// projection's straight edges enclose the same area to 1e-8.
fn dense_box(x: f64, y: f64, side: f64) -> MultiPolygon<f64> {
    let n = 100;
    let t = |k: usize| side * k as f64 / n as f64;
    let mut pts = vec![];
    pts.extend((0..n).map(|k| (x + t(k), y)));
    pts.extend((0..n).map(|k| (x + side, y + t(k))));
    pts.extend((0..n).map(|k| (x + side - t(k), y + side)));
    pts.extend((0..n).map(|k| (x, y + side - t(k))));
    pts.push((x, y));
    MultiPolygon::new(vec![geo::Polygon::new(pts.into(), vec![])])
}

#[test]
fn us_counties_split_changes_exactly_and_footprints_get_geodesic_areas() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let counties =
        std::fs::canonicalize(Path::new(REAL).join("us-counties-al-nc-ok.geojson")).unwrap();
    let ds = gdal::Dataset::open(&counties).unwrap();
    // Boxes of 0.03 degrees around a vertex of a few counties' borders: each crosses borders.
    let mut feats = vec![];
    for f in ds.layer(0).unwrap().features().step_by(30).take(8) {
        let g = f.geometry().unwrap();
        let ring = if g.geometry_count() > 0 {
            g.get_geometry(0)
        } else {
            continue;
        };
        let ring = if ring.geometry_count() > 0 {
            ring.get_geometry(0).clone()
        } else {
            ring.clone()
        };
        let (x, y, _) = ring.get_point(0);
        feats.push((dense_box(x - 0.015, y - 0.015, 0.03), vec!["20"]));
    }
    write_layer(
        &d.join("changes.gpkg"),
        "changes",
        &wkt_of(4326),
        &["TBLX"],
        &feats,
    );
    std::fs::write(
        d.join("job.toml"),
        format!(
            "quarter = \"2023Q4\"\n[layers.counties]\npath = \"{}\"\ncode_field = \"id\"\nname_field = \"NAME\"\n",
            counties.display()
        ),
    )
    .unwrap();
    let out = d.join("out.gpkg");
    let (code, stdout, stderr) = overlay(&d.join("changes.gpkg"), &d.join("job.toml"), &out);
    assert_eq!(code, 0, "{stderr}");
    let pieces = rows(&out, "excluded");
    assert!(pieces.len() > feats.len(), "no change was split: {stdout}");
    // Pieces of one change add up to it, and each piece is its county's share (GEOS + LAEA).
    let mut wgs = SpatialRef::from_epsg(4326).unwrap();
    wgs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let county_geoms: BTreeMap<String, Geometry> = ds
        .layer(0)
        .unwrap()
        .features()
        .map(|f| (text_field(&f, "id"), f.geometry().unwrap().clone()))
        .collect();
    for (k, (g, _)) in feats.iter().enumerate() {
        let mine: Vec<&BTreeMap<String, String>> = pieces
            .iter()
            .filter(|r| r["SRC_ID"] == (k + 1).to_string())
            .collect();
        let ring: Vec<String> = g.0[0]
            .exterior()
            .0
            .iter()
            .map(|c| format!("{} {}", c.x, c.y))
            .collect();
        let gc = Geometry::from_wkt(&format!("POLYGON(({}))", ring.join(","))).unwrap();
        let whole = laea_area(&gc, &wgs);
        let sum: f64 = mine.iter().map(|r| num(r, "JCMJ")).sum();
        assert!(
            (sum - whole).abs() < 1e-5 * whole,
            "change {k}: {sum} vs {whole}"
        );
        for r in mine {
            let Some(code) = r.get("XZQDM") else { continue };
            let share = gc
                .intersection(&county_geoms[code])
                .map_or(0.0, |i| laea_area(&i, &wgs));
            // The piece's edges along the county border are kilometres long: the geodesic
            // reading of such a lon/lat edge and an equal-area projection's straight line
            // enclose areas that differ by about 1e-4 of the box; the split itself is exact.
            assert!(
                (num(r, "JCMJ") - share).abs() < 2e-4 * whole,
                "{code}: {} vs {share}",
                num(r, "JCMJ")
            );
        }
    }

    // LEVIR-CD scene footprints (lon/lat squares of ~600 m) as changes, no layers: geodesic
    // areas. The file nests its rings one level short, so OGR reads no geometry from it: the
    // overlay refuses it, naming the file; the footprints are rebuilt here from its numbers.
    let foot = Path::new(REAL).join("levir-footprints.geojson");
    std::fs::write(d.join("empty.toml"), "quarter = \"2024Q1\"\n").unwrap();
    let (code, _, stderr) = overlay(&foot, &d.join("empty.toml"), &d.join("bad.gpkg"));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("levir-footprints.geojson") && stderr.contains("no polygon"),
        "{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&foot).unwrap()).unwrap();
    let squares: Vec<MultiPolygon<f64>> = json["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let ring: Vec<(f64, f64)> = f["geometry"]["coordinates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
                .collect();
            MultiPolygon::new(vec![geo::Polygon::new(ring.into(), vec![])])
        })
        .collect();
    assert_eq!(squares.len(), 637);
    let feats: Vec<(MultiPolygon<f64>, Vec<&str>)> =
        squares.iter().map(|g| (g.clone(), vec!["20"])).collect();
    write_layer(
        &d.join("foot.gpkg"),
        "changes",
        &wkt_of(4326),
        &["TBLX"],
        &feats,
    );
    let out = d.join("foot_out.gpkg");
    let (code, _, stderr) = overlay(&d.join("foot.gpkg"), &d.join("empty.toml"), &out);
    assert_eq!(code, 0, "{stderr}");
    let got = rows(&out, "excluded");
    assert_eq!(got.len(), squares.len());
    for r in got.iter().step_by(7) {
        let fid: usize = r["SRC_ID"].parse().unwrap();
        let ring: Vec<String> = squares[fid - 1].0[0]
            .exterior()
            .0
            .iter()
            .map(|c| format!("{} {}", c.x, c.y))
            .collect();
        let g = Geometry::from_wkt(&format!("POLYGON(({}))", ring.join(","))).unwrap();
        let w = laea_area(&g, &wgs);
        assert!(
            (num(r, "JCMJ") - w).abs() < 1e-6 * w,
            "footprint {fid}: {} vs {w}",
            num(r, "JCMJ")
        );
        assert!(r.get("XZQDM").is_none() && r["MJFS"].starts_with("geodesic"));
    }
}
