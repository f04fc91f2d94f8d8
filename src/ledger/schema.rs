//! The ledger's tables, versioned. Version 1 is created whole; later versions add
//! `migrate` steps from the version a file has (recorded in `ledger_meta.schema_version`).
//!
//! `leads` is a GeoPackage feature table (MultiPolygon `geom`), so GIS tools open the ledger;
//! the overlap search goes through `ledger_envelopes`, an SQLite R-tree of the leads'
//! envelopes kept by tuban (not the GeoPackage R-tree extension, whose triggers call SQL
//! functions only GDAL registers; geometries never change once in the ledger).

use super::{Result, set_meta, sql};
use rusqlite::{Connection, OptionalExtension, Transaction};

/// The schema this tuban writes.
pub const VERSION: i64 = 1;

const TABLES: &str = r#"
CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ledger_runs (
    id INTEGER PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    job TEXT,
    quarter TEXT NOT NULL,
    kind TEXT NOT NULL,
    leads INTEGER NOT NULL,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL
);
CREATE TABLE leads (
    fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    geom MULTIPOLYGON,
    JCBH TEXT NOT NULL UNIQUE,
    XZQDM TEXT NOT NULL,
    quarter TEXT NOT NULL,
    kind TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES ledger_runs(id),
    TBLX TEXT,
    JCMJ REAL,
    QSX TEXT,
    HSX TEXT,
    QQJCBH TEXT,
    overlap REAL,
    case_no TEXT NOT NULL,
    duplicate INTEGER NOT NULL DEFAULT 0,
    judged TEXT NOT NULL DEFAULT 'lead',
    PDYJ TEXT,
    GDMJ REAL,
    YJJBNTMJ REAL,
    STHXMJ REAL,
    PZMJ REAL,
    queue TEXT NOT NULL DEFAULT 'county',
    queue_reason TEXT,
    dispatched TEXT NOT NULL,
    deadline TEXT NOT NULL,
    verified TEXT,
    real INTEGER,
    legal TEXT,
    found_type TEXT,
    rectified TEXT,
    notes TEXT,
    photos TEXT,
    verified_by TEXT,
    attrs TEXT NOT NULL DEFAULT '{}',
    minx REAL, maxx REAL, miny REAL, maxy REAL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE VIRTUAL TABLE ledger_envelopes USING rtree(id, minx, maxx, miny, maxy);
CREATE INDEX leads_case ON leads(case_no);
CREATE INDEX leads_county ON leads(XZQDM, quarter);
CREATE TABLE case_steps (
    id INTEGER PRIMARY KEY,
    JCBH TEXT NOT NULL REFERENCES leads(JCBH),
    step TEXT NOT NULL,
    date TEXT NOT NULL,
    by TEXT,
    notes TEXT,
    recorded_at TEXT NOT NULL
);
CREATE TABLE corrections (
    id INTEGER PRIMARY KEY,
    layer TEXT NOT NULL,
    action TEXT NOT NULL,
    geom BLOB NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}',
    by TEXT NOT NULL,
    at TEXT NOT NULL,
    date TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    minx REAL, maxx REAL, miny REAL, maxy REAL,
    rejudged_at TEXT
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    JCBH TEXT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX events_jcbh ON events(JCBH);
CREATE TRIGGER events_kept_d BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'the ledger''s audit trail is never deleted'); END;
CREATE TRIGGER events_kept_u BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'the ledger''s audit trail is never rewritten'); END;
CREATE TRIGGER leads_kept BEFORE DELETE ON leads
    BEGIN SELECT RAISE(ABORT, 'leads are never deleted: escalate or rejudge them instead'); END;
CREATE TRIGGER steps_kept BEFORE DELETE ON case_steps
    BEGIN SELECT RAISE(ABORT, 'case steps are never deleted'); END;
CREATE TRIGGER corrections_kept BEFORE DELETE ON corrections
    BEGIN SELECT RAISE(ABORT, 'corrections are never deleted'); END;
"#;

/// Create every table of the current version.
pub fn create(tx: &Transaction) -> Result<()> {
    tx.execute_batch(crate::output::gpkg::CORE_TABLES)
        .map_err(sql)?;
    tx.execute_batch(TABLES).map_err(sql)?;
    crate::output::gpkg::register_table(tx, "leads", 0).map_err(sql)?;
    set_meta(tx, "schema_version", &VERSION.to_string())?;
    set_meta(tx, "created", &super::now_utc())
}

/// The schema version of an open file; None when it is not a ledger.
pub fn version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let has_meta: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'ledger_meta'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if has_meta.is_none() {
        return Ok(None);
    }
    Ok(super::meta(conn, "schema_version")?.and_then(|v| v.parse().ok()))
}

/// Bring a file of version `from` to [`VERSION`], step by step.
pub fn migrate(tx: &Transaction, from: i64) -> Result<()> {
    // No version before 1 exists; each later version adds its step here, e.g.
    // `if from < 2 { tx.execute_batch("ALTER TABLE leads ADD COLUMN ...")?; }`.
    let _ = from;
    set_meta(tx, "schema_version", &VERSION.to_string())
}
