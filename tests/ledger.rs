//! The case ledger across quarters, told as one story on a synthetic county pair: a quarter's
//! run dispatched (twice: the second time changes nothing), field results with bad rows, the
//! next quarter's run at the same places (links and duplicates) with new changes, provincial
//! polygons imported, an escalation, a missing approval recorded and the lead it legalises
//! judged again, the year report checked against numbers worked out by hand, the labels export;
//! then two writers at once, and imports killed part way. Each on both backends: a GeoPackage
//! file and a PostgreSQL + PostGIS server the test starts on 127.0.0.1 (skipped where
//! PostgreSQL is not installed, unless REQUIRE_POSTGIS=1 as in CI).
#![cfg(feature = "gdal")]

mod common;

use common::cli::{synth, tuban};
use common::postgis::PgServer;
use common::vector::{rows, wkt_of, write_layer};
use gdal::vector::LayerAccess;
use geo::MultiPolygon;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a ledger lives.
enum Store<'a> {
    File(PathBuf),
    Postgres { server: &'a PgServer, db: String },
}

impl Store<'_> {
    /// What the CLI takes.
    fn target(&self) -> String {
        match self {
            Store::File(p) => p.to_string_lossy().into_owned(),
            Store::Postgres { server, db } => {
                format!("postgres://postgres@127.0.0.1:{}/{db}", server.port)
            }
        }
    }

    /// What GDAL opens (the ledger as a GIS sees it).
    fn gdal(&self) -> String {
        match self {
            Store::File(p) => p.to_string_lossy().into_owned(),
            Store::Postgres { server, db } => server.gdal(db),
        }
    }

    /// Run SQL straight on the store (not through tuban).
    fn sql(&self, sql: &str) -> Result<(), String> {
        match self {
            Store::File(p) => rusqlite::Connection::open(p)
                .unwrap()
                .execute_batch(sql)
                .map_err(|e| e.to_string()),
            Store::Postgres { .. } => postgres::Client::connect(&self.target(), postgres::NoTls)
                .unwrap()
                .batch_execute(sql)
                .map_err(|e| {
                    e.as_db_error()
                        .map_or_else(|| e.to_string(), |d| d.message().to_string())
                }),
        }
    }

    fn count(&self) -> i64 {
        match self {
            Store::File(p) => {
                let c = rusqlite::Connection::open(p).unwrap();
                let ok: String = c
                    .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(ok, "ok");
                c.query_row("SELECT count(*) FROM leads", [], |r| r.get(0))
                    .unwrap()
            }
            Store::Postgres { .. } => postgres::Client::connect(&self.target(), postgres::NoTls)
                .unwrap()
                .query_one("SELECT count(*) FROM leads", &[])
                .unwrap()
                .get(0),
        }
    }

    /// Whether another process holds the ledger's write lock now.
    fn write_locked(&self) -> bool {
        match self {
            Store::File(p) => {
                let c = rusqlite::Connection::open(p).unwrap();
                // Fail at once on a held lock (rusqlite waits 5 s by default).
                c.busy_timeout(std::time::Duration::ZERO).unwrap();
                c.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").is_err()
            }
            Store::Postgres { .. } => self
                .sql("BEGIN; LOCK TABLE ledger_meta IN SHARE ROW EXCLUSIVE MODE NOWAIT; ROLLBACK;")
                .is_err(),
        }
    }
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = tuban(args);
    assert_eq!(code, 0, "tuban {args:?}: {err}");
    out
}

/// Every lead of the ledger as field (lower case) -> text, read through GDAL, as a GIS would.
fn ledger_leads(store: &Store) -> BTreeMap<String, BTreeMap<String, String>> {
    rows(Path::new(&store.gdal()), "leads")
        .into_iter()
        .map(|r| {
            let r: BTreeMap<String, String> =
                r.into_iter().map(|(k, v)| (k.to_lowercase(), v)).collect();
            (r["jcbh"].clone(), r)
        })
        .collect()
}

fn geometry(store: &Store, jcbh: &str) -> MultiPolygon<f64> {
    let ds = common::vector::open_vector(store.gdal());
    let mut l = ds.layer_by_name("leads").unwrap();
    l.set_attribute_filter(&format!("JCBH = '{jcbh}'")).unwrap();
    let f = l.features().next().unwrap();
    match f.geometry().unwrap().to_geo().unwrap() {
        geo::Geometry::MultiPolygon(m) => m,
        geo::Geometry::Polygon(p) => MultiPolygon::new(vec![p]),
        g => panic!("{g:?}"),
    }
}

fn report_row(csv: &Path, county: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(csv).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{county},")))
        .unwrap_or_else(|| panic!("no row {county} in {text}"));
    line.split(',')
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect()
}

/// Leads of one quarter's county packages: JCBH -> reasons (PDYJ).
fn package_leads(run: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for county in ["320581", "320582"] {
        let p = run.join(county).join("tuban.gpkg");
        if p.is_file() {
            for r in rows(&p, "leads") {
                out.insert(r["JCBH"].clone(), r["PDYJ"].clone());
            }
        }
    }
    out
}

#[test]
fn a_year_of_quarters_on_a_geopackage() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.gpkg");
    story(&Store::File(ledger.clone()), dir.path());
    // A ledger written by a newer tuban, and a GeoPackage that is no ledger: refused by name.
    let lp = ledger.to_str().unwrap();
    Store::File(ledger.clone())
        .sql("UPDATE ledger_meta SET value = '99' WHERE key = 'schema_version'")
        .unwrap();
    let (code, _, e) = tuban(&["ledger", "history", lp]);
    assert!(code != 0 && e.contains("schema version 99 is newer"), "{e}");
    let other = dir.path().join("scene/refs.gpkg");
    let (code, _, e) = tuban(&["ledger", "history", other.to_str().unwrap()]);
    assert!(code != 0 && e.contains("not a tuban ledger"), "{e}");
}

#[test]
fn a_year_of_quarters_on_postgis() {
    on_postgis("story", story);
}

/// Run `f` on a fresh database of a PostgreSQL server started for it (skipped where there is
/// none, unless REQUIRE_POSTGIS=1).
fn on_postgis(db: &str, f: fn(&Store, &Path)) {
    let Some(server) = PgServer::start() else {
        return;
    };
    server.database(db);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Postgres {
        db: db.to_string(),
        server: &server,
    };
    f(&store, dir.path());
}

/// Dispatch, feedback with bad rows, the next quarter's links and duplicates, provincial
/// polygons, an escalation, a correction and its rejudgement, the year report by hand, the
/// labels export, and an audit trail that cannot be deleted.
fn story(store: &Store, d: &Path) {
    let s = d.join("scene");
    synth(&s, 1024, 7);
    // Quarter 2 as synth wrote it; quarter 3 on the same images (the changes persist), with
    // lower thresholds, so that smaller changes become leads too (the new ones).
    let job = std::fs::read_to_string(s.join("job.toml")).unwrap();
    let q3 = job
        .replace("quarter = \"2024Q2\"", "quarter = \"2024Q3\"")
        .replace("after_date = \"2024-06-25\"", "after_date = \"2024-09-20\"")
        .replace("arable_mu = 10.0", "arable_mu = 3.0")
        .replace("basic_farmland_mu = 5.0", "basic_farmland_mu = 2.0");
    std::fs::write(s.join("job_q3.toml"), q3).unwrap();
    let (run2, run3) = (s.join("q2"), s.join("q3"));
    for (job, out) in [("job.toml", &run2), ("job_q3.toml", &run3)] {
        ok(&[
            "run",
            s.join(job).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--backend",
            "cpu",
        ]);
    }
    // The hand-worked numbers below hold for this scene: 3 leads in Q2, 8 in Q3 (the 3 again
    // and 5 new, one of them cut at the county border). If detection changes them, work the
    // numbers out again.
    let (l2, l3) = (package_leads(&run2), package_leads(&run3));
    let (a, b, c) = ("3205812024200001", "3205822024200001", "3205822024200002");
    let (a3, b3, c3) = ("3205812024300002", "3205822024300001", "3205822024300005");
    let n = "3205822024300004";
    assert_eq!(
        l2.keys().collect::<Vec<_>>(),
        [a, b, c],
        "Q2 leads changed: {l2:?}"
    );
    assert_eq!(l3.len(), 8, "Q3 leads changed: {l3:?}");
    assert!(l3[n].starts_with("basic farmland"), "{l3:?}");

    let target = store.target();
    let lp = target.as_str();
    ok(&["ledger", "init", lp]);
    let (code, _, e) = tuban(&["ledger", "init", lp]);
    assert!(
        code != 0 && (e.contains("already exists") || e.contains("already holds a ledger")),
        "{e}"
    );
    // Dispatched while one county's package was still missing, then whole.
    let hidden = s.join("q2-320582");
    std::fs::rename(run2.join("320582"), &hidden).unwrap();
    let dispatch2 = [
        "ledger",
        "dispatch",
        lp,
        run2.to_str().unwrap(),
        "--date",
        "2024-07-05",
        "--by",
        "部",
    ];
    let out = ok(&dispatch2);
    assert!(out.contains("1 ministry leads of 2024Q2 added"), "{out}");
    std::fs::rename(&hidden, run2.join("320582")).unwrap();
    let out = ok(&dispatch2);
    assert!(
        out.contains("2 ministry leads of 2024Q2 added")
            && out.contains("1 leads were in the ledger already"),
        "{out}"
    );
    let again = ok(&["ledger", "dispatch", lp, run2.to_str().unwrap()]);
    assert!(again.contains("nothing added"), "{again}");
    assert_eq!(ledger_leads(store).len(), 3);

    // Field results: A real and illegal, demolished in November (rectified within the year),
    // with a photo and a stop order; B not a real change; C not checked yet. Three bad rows.
    std::fs::create_dir_all(d.join("photos")).unwrap();
    std::fs::write(d.join("photos/a1.jpg"), b"\xff\xd8\xff").unwrap();
    let fb = d.join("feedback.csv");
    std::fs::write(
        &fb,
        format!(
            "JCBH,real,legal,TBLX,verified,rectified,photos,step,step_date,notes\n\
             {a},是,违法,20,2024-08-01,2024-11-20,photos/a1.jpg,核查制止,2024-08-02,shed on farmland\n\
             {b},否,,,2024-08-03,,,,,shadow of a cloud\n\
             3209992024200001,real,illegal,20,2024-08-03,,,,,\n\
             {c},maybe,,,2024-08-03,,,,,\n\
             {c},real,illegal,20,2024-08-03,,photos/none.jpg,,,\n"
        ),
    )
    .unwrap();
    let (code, out, err) = tuban(&["ledger", "feedback", lp, fb.to_str().unwrap(), "--by", "县"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("2 verdicts and 1 case steps recorded, 3 rows rejected"),
        "{out}"
    );
    for (line, what) in [
        (4, "no such lead"),
        (5, "\"maybe\""),
        (6, "photos/none.jpg"),
    ] {
        assert!(
            err.contains(&format!("feedback.csv:{line}:")) && err.contains(what),
            "{err}"
        );
    }
    let leads = ledger_leads(store);
    assert_eq!(
        (
            &*leads[a]["legal"],
            &*leads[a]["rectified"],
            &*leads[a]["real"]
        ),
        ("illegal", "2024-11-20", "1")
    );
    assert_eq!(&leads[b]["real"], "0");
    assert!(!leads[c].contains_key("verified"), "C stays unverified");
    // A field app's table (a GeoPackage layer): A's next case step.
    let steps = d.join("steps.gpkg");
    write_layer(
        &steps,
        "hc",
        &wkt_of(4527),
        &["JCBH", "step", "step_date"],
        &[(geometry(store, a), vec![a, "立案", "2024-08-20"])],
    );
    let out = ok(&["ledger", "feedback", lp, steps.to_str().unwrap()]);
    assert!(
        out.contains("0 verdicts and 1 case steps recorded, 0 rows rejected"),
        "{out}"
    );
    let history = ok(&["ledger", "history", lp, a]);
    assert!(
        history.contains("step: stop_order on 2024-08-02")
            && history.contains("step: filing on 2024-08-20")
            && history.contains("verify: verified 2024-08-01: real true, legal illegal"),
        "{history}"
    );

    // Quarter 3: the three places again (linked; A and B verified, so duplicates), five new.
    let out = ok(&[
        "ledger",
        "dispatch",
        lp,
        run3.to_str().unwrap(),
        "--date",
        "2024-10-08",
    ]);
    assert!(
        out.contains("8 ministry leads of 2024Q3 added")
            && out.contains("3 linked to an earlier lead")
            && out.contains("2 of them at a place already verified"),
        "{out}"
    );
    let leads = ledger_leads(store);
    for (new, old, dup) in [(a3, a, "1"), (b3, b, "1"), (c3, c, "0")] {
        assert_eq!(
            (
                &*leads[new]["qqjcbh"],
                &*leads[new]["case_no"],
                &*leads[new]["duplicate"]
            ),
            (old, old, dup),
            "{new}"
        );
    }
    for (k, r) in leads
        .iter()
        .filter(|(k, _)| k.contains("20243") && ![a3, b3, c3].contains(&k.as_str()))
    {
        assert!(!r.contains_key("qqjcbh") && &r["case_no"] == k, "{r:?}");
    }

    // Provincial polygons: one at C's place (the same case, after C's Q3 lead), one at B's
    // (verified: a duplicate), one elsewhere; their own field names, mapped.
    let far = MultiPolygon::new(vec![
        geo::Rect::new(
            geo::coord! { x: 39_480_100.0, y: 3_509_000.0 },
            geo::coord! { x: 39_480_150.0, y: 3_509_050.0 },
        )
        .to_polygon(),
    ]);
    let prov = d.join("provincial.gpkg");
    write_layer(
        &prov,
        "zzjc",
        &wkt_of(4527),
        &["BH", "XZQ", "LX"],
        &[
            (geometry(store, c), vec!["S320582-001", "320582", "20"]),
            (geometry(store, b), vec!["S320582-002", "320582", "20"]),
            (far, vec!["S320581-001", "320581", "DT"]),
        ],
    );
    let mapping = d.join("provincial.toml");
    std::fs::write(
        &mapping,
        "[fields]\nJCBH = \"BH\"\nXZQDM = \"XZQ\"\nTBLX = \"LX\"\n",
    )
    .unwrap();
    let out = ok(&[
        "ledger",
        "import",
        lp,
        prov.to_str().unwrap(),
        "--kind",
        "provincial",
        "--quarter",
        "2024Q3",
        "--fields",
        mapping.to_str().unwrap(),
        "--date",
        "2024-10-12",
    ]);
    assert!(
        out.contains("3 provincial leads of 2024Q3 added")
            && out.contains("2 linked")
            && out.contains("1 of them at a place already verified"),
        "{out}"
    );
    let leads = ledger_leads(store);
    assert_eq!(
        (
            &*leads["S320582-001"]["qqjcbh"],
            &*leads["S320582-001"]["case_no"]
        ),
        (c3, c)
    );
    assert_eq!(&leads["S320582-002"]["duplicate"], "1");

    // The province takes C's Q3 lead over.
    ok(&[
        "ledger",
        "escalate",
        lp,
        c3,
        "--to",
        "province",
        "--reason",
        "major case",
    ]);

    // An approval missing from the records, over lead N: recorded, then N judged again.
    let corr = d.join("approval.gpkg");
    write_layer(
        &corr,
        "pz",
        &wkt_of(4527),
        &["note"],
        &[(geometry(store, n), vec!["x"])],
    );
    std::fs::write(d.join("approval.pdf"), b"%PDF").unwrap();
    let out = ok(&[
        "ledger",
        "correct",
        lp,
        "--layer",
        "approvals",
        "--action",
        "add",
        "--geometry",
        corr.to_str().unwrap(),
        "--set",
        "PZRQ=2024-05-01",
        "--set",
        "PZWH=苏政地[2024]12",
        "--reason",
        "approval missing from the records",
        "--evidence",
        d.join("approval.pdf").to_str().unwrap(),
        "--date",
        "2024-10-20",
        "--by",
        "县",
    ]);
    assert!(out.contains("1 lead(s) touched"), "{out}");
    let out = ok(&["ledger", "rejudge", lp]);
    assert!(out.contains(&format!("{n}: lead -> excluded")), "{out}");
    assert!(ok(&["ledger", "rejudge", lp]).contains("no correction waits"));
    let history = ok(&["ledger", "history", lp, n]);
    assert!(
        history.contains("rejudge: lead -> excluded after correction(s) 1")
            && history.contains("approved 100.0 %"),
        "{history}"
    );

    // The year, by hand. 320581: A, its Q3 lead A3 (duplicate), two new Q3 leads, one
    // provincial = 5; A verified, real, illegal, rectified in the year (so not counted);
    // outstanding: the two new and the provincial one, overdue on 2025-01-15 (deadline
    // 2024-12-31). 320582: B, C, five Q3 leads (B3 duplicate, N withdrawn, C3 escalated) and two
    // provincial (one duplicate) = 9; B verified, not real; outstanding: C (its case still
    // open), two new Q3 leads and the provincial one at C's place = 4, all overdue.
    let rep = d.join("report");
    ok(&[
        "ledger",
        "report",
        lp,
        "--year",
        "2024",
        "--as-of",
        "2025-01-15",
        "--out",
        rep.to_str().unwrap(),
    ]);
    // dispatched, duplicates, withdrawn, escalated, verified, real, illegal, rectified,
    // counted, outstanding, overdue
    assert_eq!(
        report_row(&rep.join("report.csv"), "320581"),
        [5, 1, 0, 0, 1, 1, 1, 1, 0, 3, 3]
    );
    assert_eq!(
        report_row(&rep.join("report.csv"), "320582"),
        [9, 2, 1, 1, 1, 0, 0, 0, 0, 4, 4]
    );
    assert_eq!(
        report_row(&rep.join("report.csv"), "total"),
        [14, 3, 1, 1, 2, 1, 1, 1, 0, 7, 7]
    );
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(
        html.contains("<td>320582</td>") && !html.contains("http"),
        "offline page"
    );
    // Quarter 2 alone, on the Q2 deadline's next day: C is overdue.
    ok(&[
        "ledger",
        "report",
        lp,
        "--quarter",
        "2024Q2",
        "--as-of",
        "2024-10-01",
        "--out",
        rep.to_str().unwrap(),
    ]);
    assert_eq!(
        report_row(&rep.join("report.csv"), "320582"),
        [2, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1]
    );

    // Labels for `tuban learn`: the two verified leads with their package attributes.
    let ex = d.join("labels");
    ok(&["ledger", "export", lp, "--out", ex.to_str().unwrap()]);
    let labels = rows(&ex.join("labels.gpkg"), "leads");
    assert_eq!(labels.len(), 2);
    assert!(
        labels
            .iter()
            .all(|r| r.contains_key("ev_mean") && r.contains_key("verdict"))
    );
    let verdicts = std::fs::read_to_string(ex.join("verdicts.csv")).unwrap();
    assert_eq!(
        verdicts,
        format!("JCBH,verdict,TBLX\n{a},real,20\n{b},false,\n")
    );
    // `tuban learn --ledger` reads the same export (two verdicts are too few to learn from).
    let (code, _, err) = tuban(&[
        "learn",
        "--ledger",
        lp,
        "--out",
        d.join("m.toml").to_str().unwrap(),
    ]);
    assert!(
        code != 0
            && err.contains("2 leads, 2 with a verdict (1 real)")
            && err.contains("at least 5 of each"),
        "{err}"
    );

    review_app_writes(store, d, lp);

    // Nothing is ever deleted, and the audit trail is never rewritten.
    for sql in [
        "DELETE FROM leads",
        "DELETE FROM events",
        "UPDATE events SET detail = ''",
    ] {
        let e = store.sql(sql).unwrap_err();
        assert!(e.contains("never"), "{sql}: {e}");
    }
}

/// What the review app (`tuban serve`) writes, through the library on either store: its
/// reviewers (schema 2, migrated into a ledger of schema 1), their county scope, verdicts
/// with the version seen (applied, conflict kept in the trail, refused), photos kept.
fn review_app_writes(store: &Store, d: &Path, lp: &str) {
    use std::collections::HashMap;
    use tuban::ledger::review::{LeadFilter, Recorded};
    // A ledger of schema 1 (no reviewers yet) is migrated when opened.
    store
        .sql("DROP TABLE ledger_users; UPDATE ledger_meta SET value = '1' WHERE key = 'schema_version'")
        .unwrap();
    let mut l = tuban::ledger::Ledger::open(lp, "test").unwrap();
    let (code, out, _) = tuban(&["ledger", "history", lp]);
    assert_eq!(code, 0);
    assert!(out.contains("migrate: schema 1 -> 2"), "{out}");
    l.set_user("wang", "county", "320581", "county-pw-1")
        .unwrap();
    l.set_user("su", "province", "32", "province-pw").unwrap();
    for (role, county, pw, why) in [
        ("county", "3205", "long-enough", "6-digit code"),
        ("mayor", "", "long-enough", "county or province"),
        ("county", "320581", "short", "at least 8"),
    ] {
        let e = l.set_user("x", role, county, pw).unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
    }
    assert!(l.login("wang", "wrong-pw-1").unwrap().is_none());
    assert!(l.login("nobody", "county-pw-1").unwrap().is_none());
    let wang = l.login("wang", "county-pw-1").unwrap().unwrap();
    let su = l.login("su", "province-pw").unwrap().unwrap();
    // Only argon2 hashes are stored.
    let (_, hist, _) = tuban(&["ledger", "history", lp]);
    assert!(!hist.contains("county-pw-1"));
    let all = l.lead_list(&su, &LeadFilter::default()).unwrap();
    let mine = l.lead_list(&wang, &LeadFilter::default()).unwrap();
    assert!(!mine.is_empty() && mine.len() < all.len());
    assert!(mine.iter().all(|s| s.xzqdm == "320581"));
    let open = mine
        .iter()
        .find(|s| s.status == "open")
        .expect("an open lead");
    let seen = open.version;
    let row = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let photo_dir = d.join("photos");
    std::fs::create_dir_all(photo_dir.join("p")).unwrap();
    std::fs::write(photo_dir.join("p/a.jpg"), b"jpeg").unwrap();
    let r = l
        .record(
            &open.jcbh,
            &row(&[("real", "yes"), ("photos", "p/a.jpg")]),
            &photo_dir,
            seen,
            "wang",
        )
        .unwrap();
    assert_eq!(r, Recorded::Applied { version: seen + 1 });
    let r = l
        .record(
            &open.jcbh,
            &row(&[("real", "no"), ("notes", "a shadow")]),
            &photo_dir,
            seen,
            "su",
        )
        .unwrap();
    assert_eq!(
        r,
        Recorded::Conflict {
            version: seen + 1,
            seen
        }
    );
    let r = l
        .record(
            &open.jcbh,
            &row(&[("real", "perhaps")]),
            &photo_dir,
            seen + 1,
            "su",
        )
        .unwrap();
    assert!(
        matches!(r, Recorded::Refused { ref problem } if problem.contains("perhaps")),
        "{r:?}"
    );
    let r = l
        .record(
            &open.jcbh,
            &row(&[("real", "yes"), ("legal", "illegal")]),
            &photo_dir,
            seen + 1,
            "su",
        )
        .unwrap();
    assert_eq!(r, Recorded::Applied { version: seen + 2 });
    let lead = l.lead(&open.jcbh).unwrap().unwrap();
    assert_eq!(
        lead.fields["photos"], "p/a.jpg",
        "a later verdict keeps the photos"
    );
    assert_eq!(lead.fields["verified_by"], "su");
    assert!(lead.geom.is_some());
    let kinds: Vec<&str> = lead.history.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        kinds.ends_with(&["verify", "verdict_conflict", "verify"]),
        "{kinds:?}"
    );
    assert!(
        lead.history
            .iter()
            .any(|e| e.kind == "verdict_conflict" && e.detail.contains("a shadow"))
    );
}

/// A layer of `n` squares in a row, numbered `PREFIX-i`, in county 320581.
fn squares(path: &Path, prefix: &str, n: usize, y0: f64) {
    let feats: Vec<(MultiPolygon<f64>, Vec<String>)> = (0..n)
        .map(|i| {
            let x = 39_480_000.0 + 30.0 * i as f64;
            let g = MultiPolygon::new(vec![
                geo::Rect::new(
                    geo::coord! { x: x, y: y0 },
                    geo::coord! { x: x + 20.0, y: y0 + 20.0 },
                )
                .to_polygon(),
            ]);
            (g, vec![format!("{prefix}-{i}"), "320581".to_string()])
        })
        .collect();
    let refs: Vec<(MultiPolygon<f64>, Vec<&str>)> = feats
        .iter()
        .map(|(g, v)| (g.clone(), v.iter().map(String::as_str).collect()))
        .collect();
    write_layer(path, "p", &wkt_of(4527), &["JCBH", "XZQDM"], &refs);
}

#[test]
fn two_writers_and_a_killed_import_on_a_geopackage() {
    let dir = tempfile::tempdir().unwrap();
    writers_and_kill(&Store::File(dir.path().join("l.gpkg")), dir.path());
}

#[test]
fn two_writers_and_a_killed_import_on_postgis() {
    on_postgis("writers", writers_and_kill);
}

/// Two imports at once both land; an import killed while it holds the write lock leaves the
/// ledger as it was; run again it lands whole.
fn writers_and_kill(store: &Store, d: &Path) {
    let target = store.target();
    let lp = target.as_str();
    ok(&["ledger", "init", lp]);
    let (f1, f2) = (d.join("one.gpkg"), d.join("two.gpkg"));
    squares(&f1, "P1", 400, 3_500_000.0);
    squares(&f2, "P2", 400, 3_500_100.0);
    let spawn = |f: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tuban"))
            .args([
                "ledger",
                "import",
                lp,
                f.to_str().unwrap(),
                "--kind",
                "provincial",
                "--quarter",
                "2024Q3",
            ])
            .output()
            .unwrap()
    };
    let (o1, o2) = std::thread::scope(|sc| {
        let h1 = sc.spawn(|| spawn(&f1));
        let h2 = sc.spawn(|| spawn(&f2));
        (h1.join().unwrap(), h2.join().unwrap())
    });
    for o in [&o1, &o2] {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(store.count(), 800);

    let big = d.join("big.gpkg");
    squares(&big, "B", 20_000, 3_501_000.0);
    let import = [
        "ledger",
        "import",
        lp,
        big.to_str().unwrap(),
        "--kind",
        "annual",
        "--quarter",
        "2024Q4",
    ];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tuban"))
        .args(import)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut killed_mid_write = false;
    while child.try_wait().unwrap().is_none() {
        if store.write_locked() {
            child.kill().unwrap();
            killed_mid_write = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let finished = child.wait().unwrap().success();
    assert!(
        killed_mid_write,
        "the import ended before it could be killed"
    );
    assert!(!finished);
    // PostgreSQL rolls the dead client's transaction back when it notices the closed
    // connection: wait for the lock to go.
    for _ in 0..500 {
        if !store.write_locked() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(store.count(), 800, "a killed import left part of itself");
    let out = ok(&import);
    assert!(out.contains("20000 annual leads"), "{out}");
    assert_eq!(store.count(), 20_800);
}

/// Polygons in a geographic CRS without their own JCMJ are measured on the ellipsoid, not in
/// square degrees.
#[test]
fn imported_leads_in_degrees_get_ground_areas() {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("deg.gpkg");
    let g = MultiPolygon::new(vec![
        geo::Rect::new(
            geo::coord! { x: 120.0, y: 31.0 },
            geo::coord! { x: 120.001, y: 31.001 },
        )
        .to_polygon(),
    ]);
    write_layer(
        &layer,
        "p",
        &wkt_of(4326),
        &["JCBH", "XZQDM"],
        &[(g, vec!["D-1", "320581"])],
    );
    let ledger = dir.path().join("l.gpkg");
    let lp = ledger.to_str().unwrap();
    ok(&["ledger", "init", lp]);
    ok(&[
        "ledger",
        "import",
        lp,
        layer.to_str().unwrap(),
        "--kind",
        "provincial",
        "--quarter",
        "2024Q3",
    ]);
    let jcmj: f64 = rusqlite::Connection::open(&ledger)
        .unwrap()
        .query_row("SELECT JCMJ FROM leads", [], |r| r.get(0))
        .unwrap();
    // 0.001 deg of latitude is 110.9 m there, of longitude 95.5 m: about 10,590 m².
    assert!((jcmj - 10_590.0).abs() < 60.0, "JCMJ {jcmj}");
}
