//! The review web app (`tuban serve`, issue 19): a real server process on 127.0.0.1 over a
//! ledger with a dispatched synth run; its API checked request by request (sign-in, county
//! scope, two reviewers at once, photos with EXIF positions, tiles, survey layers), and the
//! page driven in headless Chromium (sign in, pan, open a lead, record a verdict with a
//! photo, reload and see it; a county reviewer refused another county's lead; screenshots
//! that show imagery).
#![cfg(feature = "gdal")]

mod common;

use common::cli::{chromium, synth, tuban};
use common::http::{get, post_form, post_json};
use serde_json::{Value, json};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A `tuban serve` process, stopped (SIGTERM, then waited for) when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(ledger: &Path, photos: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tuban"))
            .args([
                "serve",
                "--ledger",
                ledger.to_str().unwrap(),
                "--addr",
                "127.0.0.1:0",
                "--photos",
                photos.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tuban serve starts");
        let out = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(out).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("tuban serve printed where it listens")
                .unwrap();
            if let Some(rest) = line.strip_prefix("listening on http://") {
                break rest.trim_end_matches('/').to_string();
            }
        };
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// A dispatched synth quarter (1536², counties 320581 with 5 leads and 320582 with 3) and
/// three reviewers: `prov` (all counties), `c81` (320581) and `c82` (320582).
fn reviewed_ledger(dir: &Path) -> PathBuf {
    let county = dir.join("county");
    synth(&county, 1536, 1);
    let (code, _, err) = tuban(&["run", county.join("job.toml").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let ledger = dir.join("ledger.gpkg");
    let l = ledger.to_str().unwrap();
    assert_eq!(tuban(&["ledger", "init", l]).0, 0);
    let run = county.join("run");
    let (code, _, err) = tuban(&["ledger", "dispatch", l, run.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for (name, role, county, pw) in [
        ("prov", "province", "", "province-secret"),
        ("c81", "county", "320581", "county-81-secret"),
        ("c82", "county", "320582", "county-82-secret"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tuban"))
            .args([
                "ledger", "user", l, name, "--role", role, "--county", county,
            ])
            .env("TUBAN_PASSWORD", pw)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    ledger
}

fn login(addr: &str, name: &str, pw: &str) -> String {
    let r = post_json(
        addr,
        "/api/login",
        None,
        &json!({"name": name, "password": pw}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("set-cookie").unwrap().contains("HttpOnly"));
    r.json()["token"].as_str().unwrap().to_string()
}

/// A JPEG with EXIF GPS tags at (`lon`, `lat`), written through GDAL.
fn geotagged_jpeg(out: &Path, lon: f64, lat: f64) {
    use gdal::Metadata;
    let mem = gdal::DriverManager::get_driver_by_name("MEM").unwrap();
    let mut ds = mem.create_with_band_type::<u8, _>("", 64, 48, 3).unwrap();
    for b in 1..=3 {
        let data: Vec<u8> = (0..64 * 48).map(|i| ((i * b) % 251) as u8).collect();
        let mut buf = gdal::raster::Buffer::new((64, 48), data);
        ds.rasterband(b)
            .unwrap()
            .write((0, 0), (64, 48), &mut buf)
            .unwrap();
    }
    let dms = |v: f64| {
        let d = v.abs().floor();
        let m = ((v.abs() - d) * 60.0).floor();
        let s = ((v.abs() - d) * 60.0 - m) * 60.0;
        format!("({d}) ({m}) ({s:.4})")
    };
    ds.set_metadata_item("EXIF_GPSLatitude", &dms(lat), "")
        .unwrap();
    ds.set_metadata_item("EXIF_GPSLatitudeRef", if lat < 0.0 { "S" } else { "N" }, "")
        .unwrap();
    ds.set_metadata_item("EXIF_GPSLongitude", &dms(lon), "")
        .unwrap();
    ds.set_metadata_item(
        "EXIF_GPSLongitudeRef",
        if lon < 0.0 { "W" } else { "E" },
        "",
    )
    .unwrap();
    let jpeg = gdal::DriverManager::get_driver_by_name("JPEG").unwrap();
    ds.create_copy(&jpeg, out, &gdal::cpl::CslStringList::new())
        .unwrap();
}

/// The centre of a lead's bounding box in the map's CRS and in WGS 84 (lon, lat).
fn lead_centre(lead: &Value, wkt: &str) -> ([f64; 2], [f64; 2]) {
    use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
    let b: Vec<f64> = lead["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let c = [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0];
    let mut from = SpatialRef::from_wkt(wkt).unwrap();
    from.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let mut to = SpatialRef::from_epsg(4326).unwrap();
    to.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let t = CoordTransform::new(&from, &to).unwrap();
    let (mut x, mut y, mut z) = ([c[0]], [c[1]], [0.0]);
    t.transform_coords(&mut x, &mut y, &mut z).unwrap();
    (c, [x[0], y[0]])
}

fn after_wkt(dir: &Path) -> String {
    gdal::Dataset::open(dir.join("county/after.tif"))
        .unwrap()
        .projection()
}

#[test]
fn the_api_checks_every_request_and_keeps_both_of_two_concurrent_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = reviewed_ledger(dir.path());
    let photos = dir.path().join("photos");
    let server = Server::start(&ledger, &photos);
    let a = server.addr.as_str();

    // Nothing without a session: the page loads, its data does not.
    assert_eq!(get(a, "/", None).status, 200);
    for path in [
        "/api/leads",
        "/api/scene",
        "/tiles/after/0/0/0.png",
        "/api/layers/dltb?bbox=0,0,1,1",
    ] {
        assert_eq!(get(a, path, None).status, 401, "{path}");
    }
    assert_eq!(get(a, "/api/leads", Some("not-a-token")).status, 401);
    let wrong = post_json(
        a,
        "/api/login",
        None,
        &json!({"name": "c81", "password": "guess-guess"}),
    );
    assert_eq!(wrong.status, 401);
    let nobody = post_json(
        a,
        "/api/login",
        None,
        &json!({"name": "nobody", "password": "guess-guess"}),
    );
    assert_eq!(nobody.status, 401);
    assert_eq!(
        wrong.text(),
        nobody.text(),
        "a wrong name and a wrong password read alike"
    );

    let prov = login(a, "prov", "province-secret");
    let c81 = login(a, "c81", "county-81-secret");
    let c82 = login(a, "c82", "county-82-secret");
    let all = get(a, "/api/leads", Some(&prov)).json();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 8);
    let mine = get(a, "/api/leads", Some(&c81)).json();
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 5);
    assert!(mine.iter().all(|l| l["xzqdm"] == "320581"));
    // Filters: by county (a county reviewer asking for another county gets nothing), type,
    // area.
    let other: Vec<Value> = get(a, "/api/leads?county=320582", Some(&c81))
        .json()
        .as_array()
        .unwrap()
        .clone();
    assert!(other.is_empty());
    let big = get(a, "/api/leads?min_mu=15", Some(&prov)).json();
    assert!(
        big.as_array()
            .unwrap()
            .iter()
            .all(|l| l["mu"].as_f64().unwrap() >= 15.0)
    );
    assert!(big.as_array().unwrap().len() < all.len());
    let t = all[0]["tblx"].as_str().unwrap();
    let typed = get(a, &format!("/api/leads?type={t}"), Some(&prov)).json();
    assert!(typed.as_array().unwrap().iter().all(|l| l["tblx"] == t));

    // A county reviewer is refused another county's lead: reading, writing, its photos.
    let theirs = all.iter().find(|l| l["xzqdm"] == "320582").unwrap();
    let theirs_no = theirs["jcbh"].as_str().unwrap();
    let r = get(a, &format!("/api/leads/{theirs_no}"), Some(&c81));
    assert_eq!(r.status, 403, "{}", r.text());
    let r = post_form(
        a,
        &format!("/api/leads/{theirs_no}/verdict"),
        Some(&c81),
        &[("version", "1"), ("real", "no")],
        &[],
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        get(a, &format!("/api/leads/{theirs_no}/photos/0"), Some(&c81)).status,
        403
    );
    assert_eq!(
        get(a, "/api/leads/3205999999999999", Some(&prov)).status,
        404
    );

    // Two reviewers record a verdict on the same lead at once, both having seen version 1:
    // one is applied, the other answered 409 with what is there now, and kept in the trail.
    let lead = mine[0]["jcbh"].as_str().unwrap().to_string();
    let (tx, ty) = (prov.clone(), c81.clone());
    let url = format!("/api/leads/{lead}/verdict");
    let (ua, ub) = (url.clone(), url.clone());
    let (aa, ab) = (a.to_string(), a.to_string());
    let one = std::thread::spawn(move || {
        post_form(
            &aa,
            &ua,
            Some(&tx),
            &[
                ("version", "1"),
                ("real", "yes"),
                ("legal", "illegal"),
                ("notes", "province: new shed"),
            ],
            &[],
        )
    });
    let two = std::thread::spawn(move || {
        post_form(
            &ab,
            &ub,
            Some(&ty),
            &[
                ("version", "1"),
                ("real", "no"),
                ("notes", "county: old greenhouse"),
            ],
            &[],
        )
    });
    let (one, two) = (one.join().unwrap(), two.join().unwrap());
    let mut statuses = [one.status, two.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{} / {}", one.text(), two.text());
    let (won, lost, loser) = if one.status == 200 {
        (&one, &two, &c81)
    } else {
        (&two, &one, &prov)
    };
    assert_eq!(won.json()["result"]["version"], 2);
    let conflict = lost.json();
    assert_eq!(conflict["result"]["outcome"], "conflict");
    assert_eq!(conflict["result"]["seen"], 1);
    assert_eq!(conflict["lead"]["summary"]["version"], 2);
    let history = conflict["lead"]["history"].as_array().unwrap().clone();
    let kinds: Vec<&str> = history
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"verify") && kinds.contains(&"verdict_conflict"),
        "{kinds:?}"
    );
    let kept = history
        .iter()
        .find(|e| e["kind"] == "verdict_conflict")
        .unwrap();
    let lost_notes = if loser == &c81 {
        "old greenhouse"
    } else {
        "new shed"
    };
    assert!(
        kept["detail"].as_str().unwrap().contains(lost_notes),
        "{kept}"
    );
    // The loser looks again and records over it, naming the version now seen.
    let again = post_form(
        a,
        &url,
        Some(loser),
        &[("version", "2"), ("real", "no"), ("notes", "second look")],
        &[],
    );
    assert_eq!(again.status, 200, "{}", again.text());
    let now = get(a, &format!("/api/leads/{lead}"), Some(&prov)).json();
    assert_eq!(now["summary"]["version"], 3);
    assert_eq!(now["fields"]["real"], 0);
    let last = now["history"].as_array().unwrap().last().unwrap().clone();
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("replaces the verdict"),
        "{last}"
    );
    // A verdict that does not check is refused with the feedback words, and not written.
    let bad = post_form(
        a,
        &url,
        Some(&prov),
        &[("version", "3"), ("real", "no"), ("legal", "illegal")],
        &[],
    );
    assert_eq!(bad.status, 422);
    assert!(
        bad.text()
            .contains("a legal status for a change found not real"),
        "{}",
        bad.text()
    );

    // A geotagged photo: kept in the photo folder, served back, placed on the map.
    let wkt = after_wkt(dir.path());
    let (xy, lonlat) = lead_centre(&mine[1], &wkt);
    let jpg = dir.path().join("field.jpg");
    geotagged_jpeg(&jpg, lonlat[0], lonlat[1]);
    let bytes = std::fs::read(&jpg).unwrap();
    let lead2 = mine[1]["jcbh"].as_str().unwrap();
    let r = post_form(
        a,
        &format!("/api/leads/{lead2}/verdict"),
        Some(&c81),
        &[
            ("version", "1"),
            ("real", "yes"),
            ("type", "20"),
            ("step", "stop_order"),
        ],
        &[("photo", "field.jpg", &bytes)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let d = r.json()["lead"].clone();
    assert_eq!(d["fields"]["found_type"], "20");
    assert_eq!(d["steps"][0]["step"], "stop_order");
    let p = &d["photos"][0];
    let at = [p["xy"][0].as_f64().unwrap(), p["xy"][1].as_f64().unwrap()];
    assert!(
        (at[0] - xy[0]).abs() < 0.5 && (at[1] - xy[1]).abs() < 0.5,
        "{at:?} vs {xy:?}"
    );
    let served = get(a, p["url"].as_str().unwrap(), Some(&c81));
    assert_eq!(served.status, 200);
    assert_eq!(served.body, bytes);
    assert_eq!(served.header("content-type"), Some("image/jpeg"));
    let r = post_form(
        a,
        &format!("/api/leads/{lead2}/verdict"),
        Some(&c81),
        &[("version", "2"), ("real", "yes")],
        &[("photo", "notes.txt", b"hello")],
    );
    assert_eq!(r.status, 422, "{}", r.text());
    // The photos recorded stay when a later verdict brings none.
    let r = post_form(
        a,
        &format!("/api/leads/{lead2}/verdict"),
        Some(&c81),
        &[
            ("version", "2"),
            ("real", "yes"),
            ("notes", "checked again"),
        ],
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["lead"]["photos"].as_array().unwrap().len(), 1);

    // The same verdicts are in the ledger for every other tool (the feedback path wrote them).
    let (code, out, _) = tuban(&["ledger", "history", ledger.to_str().unwrap(), lead2]);
    assert_eq!(code, 0);
    assert!(
        out.contains("c81") && out.contains("(review app)") && out.contains("step"),
        "{out}"
    );

    // Tiles: PNG of the imagery, transparent beyond it; survey layers in the view.
    let scene = get(a, "/api/scene", Some(&c82)).json();
    let g = &scene["grid"];
    assert_eq!(g["width"], 1536);
    let z = g["max_zoom"].as_u64().unwrap();
    let tile = get(a, &format!("/tiles/after/{z}/1/1.png"), Some(&c82));
    assert_eq!(tile.status, 200);
    assert_eq!(tile.header("content-type"), Some("image/png"));
    assert_eq!(&tile.body[1..4], b"PNG");
    assert_eq!(
        get(a, &format!("/tiles/after/{}/0/0.png", z + 1), Some(&c82)).status,
        404
    );
    assert_eq!(get(a, "/tiles/during/0/0/0.png", Some(&c82)).status, 404);
    let (x0, y0, res) = (
        g["x0"].as_f64().unwrap(),
        g["y0"].as_f64().unwrap(),
        g["res"].as_f64().unwrap(),
    );
    let bbox = format!("{x0},{},{},{y0}", y0 - 1536.0 * res, x0 + 1536.0 * res);
    let layers: Vec<String> = scene["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(
        layers.contains(&"dltb".to_string()) && layers.contains(&"counties".to_string()),
        "{layers:?}"
    );
    let dltb = get(a, &format!("/api/layers/dltb?bbox={bbox}"), Some(&c82)).json();
    let n = dltb["features"].as_array().unwrap().len();
    assert!(n > 10, "{n} DLTB polygons");
    assert!(
        dltb["features"][0]["properties"]["class"]
            .as_str()
            .unwrap()
            .len()
            == 4
    );
    let counties = get(a, &format!("/api/layers/counties?bbox={bbox}"), Some(&c82)).json();
    assert_eq!(counties["features"].as_array().unwrap().len(), 2);
    assert_eq!(
        get(a, "/api/layers/nothing?bbox=0,0,1,1", Some(&c82)).status,
        404
    );
    assert_eq!(get(a, "/api/layers/dltb?bbox=0,0", Some(&c82)).status, 400);
    // Outlines only of the reviewer's county.
    let outlines = get(a, "/api/outlines", Some(&c82)).json();
    assert_eq!(outlines["features"].as_array().unwrap().len(), 3);
    // Signed out: the token stops working.
    assert_eq!(
        post_json(a, "/api/logout", Some(&c82), &json!({})).status,
        204
    );
    assert_eq!(get(a, "/api/leads", Some(&c82)).status, 401);
}

/// Mean and standard deviation of a screenshot's pixels in the box (x0, y0, x1, y1), over
/// the three colour bands, and the share of pixels equal to `flat` (the empty map's colour).
fn screen_stats(png: &Path, b: (usize, usize, usize, usize), flat: [u8; 3]) -> (f64, f64, f64) {
    let ds = gdal::Dataset::open(png).unwrap();
    let (w, h) = (b.2 - b.0, b.3 - b.1);
    let bands: Vec<Vec<u8>> = (1..=3)
        .map(|k| {
            ds.rasterband(k)
                .unwrap()
                .read_as::<u8>((b.0 as isize, b.1 as isize), (w, h), (w, h), None)
                .unwrap()
                .data()
                .to_vec()
        })
        .collect();
    let n = (w * h) as f64;
    let mut sum = 0.0;
    let mut sq = 0.0;
    let mut same = 0usize;
    for i in 0..w * h {
        for band in &bands {
            let v = f64::from(band[i]);
            sum += v;
            sq += v * v;
        }
        if (0..3).all(|k| bands[k][i].abs_diff(flat[k]) <= 2) {
            same += 1;
        }
    }
    let mean = sum / (3.0 * n);
    (
        mean,
        (sq / (3.0 * n) - mean * mean).max(0.0).sqrt(),
        same as f64 / n,
    )
}

#[test]
fn the_review_app_works_in_a_real_browser() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let ledger = reviewed_ledger(dir.path());
    let server = Server::start(&ledger, &dir.path().join("photos"));
    let url = format!("http://{}/", server.addr);
    let profile = dir.path().join("chromium");
    let mut b = common::cdp::Browser::launch(browser, &profile, 1400, 900);

    // Sign in through the form.
    b.navigate(&url);
    b.wait_for("!document.getElementById('login').hidden", 20);
    b.click("#login-name");
    b.type_text("prov");
    b.click("#login-password");
    b.type_text("province-secret");
    b.click("#login-submit");
    b.wait_for(
        "document.querySelectorAll('#list tbody tr').length === 8",
        30,
    );
    // Tiles of both dates load (none fails) and the imagery is on the screen.
    b.wait_for(
        "tuban.tilesLoaded >= 4 && [...document.querySelectorAll('.leaflet-tile')].every(t => t.complete)",
        60,
    );
    assert_eq!(b.eval("tuban.tilesFailed"), json!(0));
    let shots =
        std::env::var_os("TUBAN_SCREENSHOTS").map_or(dir.path().to_path_buf(), PathBuf::from);
    let overview = shots.join("serve-overview.png");
    b.screenshot(&overview);
    // The map is the right part of the 1400 x 900 window (the panel is 430 px).
    let map_box = (450, 20, 1380, 880);
    let (mean, sd, flat) = screen_stats(&overview, map_box, [0x3a, 0x3f, 0x44]);
    assert!(
        sd > 12.0 && flat < 0.5,
        "the map shows no imagery: mean {mean:.1}, sd {sd:.1}, {:.0} % empty",
        100.0 * flat
    );

    // Pan: the map moves and new tiles come in.
    let before_pan = b.eval("[tuban.map.getCenter().lat, tuban.map.getCenter().lng]");
    let loaded = b.eval("tuban.tilesLoaded").as_u64().unwrap();
    b.eval("tuban.map.setZoom(tuban.scene.grid.max_zoom, {animate: false}); true");
    b.wait_for(&format!("tuban.tilesLoaded > {loaded}"), 30);
    let loaded = b.eval("tuban.tilesLoaded").as_u64().unwrap();
    b.drag((900.0, 450.0), (600.0, 300.0));
    let after_pan = b.eval("[tuban.map.getCenter().lat, tuban.map.getCenter().lng]");
    assert_ne!(before_pan, after_pan, "the drag did not pan the map");
    b.wait_for(&format!("tuban.tilesLoaded > {loaded}"), 30);

    // Open a lead from the list: the panel shows it and the map zooms to it.
    // The largest lead of county 320581 (the county reviewer below must not see it).
    let jcbh = b
        .eval("tuban.leads.filter(l => l.xzqdm === '320581').sort((x, y) => y.mu - x.mu)[0].jcbh")
        .as_str()
        .unwrap()
        .to_string();
    b.click(&format!("#row-{jcbh}"));
    b.wait_for(&format!("tuban.lead && tuban.lead.summary.jcbh === '{jcbh}' && !document.getElementById('lead').hidden"), 20);
    let title = b.eval("document.getElementById('lead-title').textContent");
    assert!(title.as_str().unwrap().contains(&jcbh), "{title}");
    let lead_bbox = b.eval("tuban.lead.summary.bbox");
    let inside = b.eval(&format!(
        "(() => {{ const c = tuban.map.getCenter(); const b = {lead_bbox}; return c.lng > b[0] - 200 && c.lng < b[2] + 200 && c.lat > b[1] - 200 && c.lat < b[3] + 200; }})()"
    ));
    assert_eq!(inside, json!(true), "the map did not go to the lead");
    // Keyboard: next and back.
    b.key("j");
    b.wait_for(&format!("tuban.lead.summary.jcbh !== '{jcbh}'"), 20);
    b.key("k");
    b.wait_for(&format!("tuban.lead.summary.jcbh === '{jcbh}'"), 20);

    // Record a verdict with a geotagged photo.
    let lead = b.eval("tuban.lead.summary");
    let (xy, lonlat) = lead_centre(&lead, &after_wkt(dir.path()));
    let jpg = dir.path().join("site-photo.jpg");
    geotagged_jpeg(&jpg, lonlat[0], lonlat[1]);
    b.click("#v-real");
    b.eval("document.getElementById('v-legal').value = 'illegal'; true");
    b.click("#v-notes");
    b.type_text("新建厂房 seen on site");
    b.set_files("#v-photos", &[&jpg]);
    b.click("#v-submit");
    b.wait_for(
        "document.getElementById('verdict-result').className === 'ok'",
        30,
    );

    // Reload: the session and the lead come back, with the verdict, the photo and its place.
    b.reload();
    b.wait_for(
        &format!("tuban.lead && tuban.lead.summary.jcbh === '{jcbh}'"),
        30,
    );
    let f = b.eval("tuban.lead.fields");
    assert_eq!(f["real"], 1);
    assert_eq!(f["legal"], "illegal");
    assert_eq!(f["notes"], "新建厂房 seen on site");
    assert_eq!(f["verified_by"], "prov");
    b.wait_for("[...document.querySelectorAll('#lead-photos img')].some(i => i.complete && i.naturalWidth === 64)", 20);
    let p = b.eval("tuban.lead.photos[0].xy");
    assert!(
        (p[0].as_f64().unwrap() - xy[0]).abs() < 0.5
            && (p[1].as_f64().unwrap() - xy[1]).abs() < 0.5,
        "{p}"
    );
    assert!(
        b.eval("document.querySelectorAll('.photo-mark').length")
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(
        b.eval("document.getElementById('v-real').checked")
            .as_bool()
            .unwrap()
    );
    b.wait_for(
        "[...document.querySelectorAll('.leaflet-tile')].every(t => t.complete)",
        30,
    );
    // The lead's outline and the other leads' outlines are drawn on the map.
    assert!(
        b.eval("tuban.leadLayer.getLayers().length")
            .as_u64()
            .unwrap()
            >= 1
    );
    assert_eq!(b.eval("tuban.outlines.getLayers().length"), json!(8));
    let open = shots.join("serve-lead.png");
    b.screenshot(&open);
    let (_, sd, flat) = screen_stats(&open, map_box, [0x3a, 0x3f, 0x44]);
    assert!(
        sd > 12.0 && flat < 0.5,
        "the lead's map shows no imagery: sd {sd:.1}, {:.0} % empty",
        100.0 * flat
    );
    // The two dates differ on the screen at the lead (a new structure): toggle with `t`.
    b.eval("tuban.map.setView(tuban.leadLayer.getBounds().getCenter(), tuban.scene.grid.max_zoom, {animate: false}); true");
    b.click("#show-after");
    b.wait_for(
        "[...document.querySelectorAll('.leaflet-tile')].every(t => t.complete)",
        30,
    );
    let after_shot = shots.join("serve-after.png");
    b.screenshot(&after_shot);
    b.key("t");
    b.wait_for("tuban.mode === 'before'", 10);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let before_shot = shots.join("serve-before.png");
    b.screenshot(&before_shot);
    let (ma, _, _) = screen_stats(&after_shot, map_box, [0, 0, 0]);
    let (mb, _, _) = screen_stats(&before_shot, map_box, [0, 0, 0]);
    assert!(
        (ma - mb).abs() > 1.0
            || std::fs::read(&after_shot).unwrap() != std::fs::read(&before_shot).unwrap(),
        "before and after look the same"
    );

    // A county reviewer: only their county's leads, another county's lead refused.
    b.click("#logout");
    b.wait_for("!document.getElementById('login').hidden", 20);
    b.click("#login-name");
    b.type_text("c82");
    b.click("#login-password");
    b.type_text("county-82-secret");
    b.click("#login-submit");
    b.wait_for(
        "document.querySelectorAll('#list tbody tr').length === 3",
        30,
    );
    let status = b.eval(&format!("fetch('/api/leads/{jcbh}').then(r => r.status)"));
    assert_eq!(
        status,
        json!(403),
        "a county reviewer read another county's lead"
    );
    let status = b.eval(&format!(
        "(() => {{ const f = new FormData(); f.set('version', '2'); f.set('real', 'no'); return fetch('/api/leads/{jcbh}/verdict', {{method: 'POST', body: f}}).then(r => r.status); }})()"
    ));
    assert_eq!(status, json!(403));
    assert!(b.errors.is_empty(), "script errors: {:?}", b.errors);
}

#[test]
fn serve_refuses_what_it_cannot_show_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let missing = d.join("none.gpkg");
    let (code, _, e) = tuban(&[
        "serve",
        "--ledger",
        missing.to_str().unwrap(),
        "--addr",
        "127.0.0.1:0",
    ]);
    assert!(
        code != 0 && e.contains("none.gpkg") && e.contains("no such ledger"),
        "{e}"
    );
    let ledger = d.join("l.gpkg");
    let l = ledger.to_str().unwrap();
    assert_eq!(tuban(&["ledger", "init", l]).0, 0);
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, e) = tuban(&[
        "serve",
        "--ledger",
        l,
        "--run",
        empty.to_str().unwrap(),
        "--addr",
        "127.0.0.1:0",
    ]);
    assert!(
        code != 0 && e.contains("empty") && e.contains("neither a `tuban run` output folder"),
        "{e}"
    );
    let (code, _, e) = tuban(&[
        "serve",
        "--ledger",
        "postgres://nobody@127.0.0.1:1/none",
        "--addr",
        "127.0.0.1:0",
    ]);
    assert!(code != 0 && e.contains("cannot connect"), "{e}");
    // A reviewer needs a known role and a real county code.
    let (code, _, e) = tuban(&[
        "ledger", "user", l, "x", "--role", "county", "--county", "32",
    ]);
    assert!(code != 0 && e.contains("6-digit code"), "{e}");
}
