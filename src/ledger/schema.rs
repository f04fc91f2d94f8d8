//! The ledger's tables, versioned, in SQLite (GeoPackage) and PostgreSQL (PostGIS) spelling.
//! Version 1 is created whole; later versions add `migrate` steps from the version a ledger has
//! (recorded in `ledger_meta.schema_version`).
//!
//! `leads` is a GeoPackage feature table (MultiPolygon `geom`), so GIS tools open the ledger;
//! the overlap search goes through `ledger_envelopes`, an SQLite R-tree of the leads'
//! envelopes kept by tuban (not the GeoPackage R-tree extension, whose triggers call SQL
//! functions only GDAL registers; geometries never change once in the ledger).

use super::db::Tx;
use super::{Result, set_meta, sql};

/// The schema this tuban writes.
pub const VERSION: i64 = 2;

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

/// The same tables in PostgreSQL: geometry columns of PostGIS (GiST indexes instead of the
/// R-tree), BIGSERIAL keys, and the refusals as a trigger function.
const PG_TABLES: &str = r#"
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ledger_runs (
    id BIGSERIAL PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    job TEXT,
    quarter TEXT NOT NULL,
    kind TEXT NOT NULL,
    leads BIGINT NOT NULL,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL
);
CREATE TABLE leads (
    fid BIGSERIAL PRIMARY KEY,
    geom geometry(MultiPolygon),
    JCBH TEXT NOT NULL UNIQUE,
    XZQDM TEXT NOT NULL,
    quarter TEXT NOT NULL,
    kind TEXT NOT NULL,
    run_id BIGINT NOT NULL REFERENCES ledger_runs(id),
    TBLX TEXT,
    JCMJ DOUBLE PRECISION,
    QSX TEXT,
    HSX TEXT,
    QQJCBH TEXT,
    overlap DOUBLE PRECISION,
    case_no TEXT NOT NULL,
    duplicate BIGINT NOT NULL DEFAULT 0,
    judged TEXT NOT NULL DEFAULT 'lead',
    PDYJ TEXT,
    GDMJ DOUBLE PRECISION,
    YJJBNTMJ DOUBLE PRECISION,
    STHXMJ DOUBLE PRECISION,
    PZMJ DOUBLE PRECISION,
    queue TEXT NOT NULL DEFAULT 'county',
    queue_reason TEXT,
    dispatched TEXT NOT NULL,
    deadline TEXT NOT NULL,
    verified TEXT,
    real BIGINT,
    legal TEXT,
    found_type TEXT,
    rectified TEXT,
    notes TEXT,
    photos TEXT,
    verified_by TEXT,
    attrs TEXT NOT NULL DEFAULT '{}',
    minx DOUBLE PRECISION, maxx DOUBLE PRECISION, miny DOUBLE PRECISION, maxy DOUBLE PRECISION,
    version BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX leads_geom ON leads USING GIST (geom);
CREATE INDEX leads_case ON leads(case_no);
CREATE INDEX leads_county ON leads(XZQDM, quarter);
CREATE TABLE case_steps (
    id BIGSERIAL PRIMARY KEY,
    JCBH TEXT NOT NULL REFERENCES leads(JCBH),
    step TEXT NOT NULL,
    date TEXT NOT NULL,
    by TEXT,
    notes TEXT,
    recorded_at TEXT NOT NULL
);
CREATE TABLE corrections (
    id BIGSERIAL PRIMARY KEY,
    layer TEXT NOT NULL,
    action TEXT NOT NULL,
    geom geometry(MultiPolygon) NOT NULL,
    fields TEXT NOT NULL DEFAULT '{}',
    by TEXT NOT NULL,
    at TEXT NOT NULL,
    date TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    minx DOUBLE PRECISION, maxx DOUBLE PRECISION, miny DOUBLE PRECISION, maxy DOUBLE PRECISION,
    rejudged_at TEXT
);
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    JCBH TEXT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX events_jcbh ON events(JCBH);
CREATE FUNCTION ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END $$;
CREATE TRIGGER events_kept_d BEFORE DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse('the ledger''s audit trail is never deleted');
CREATE TRIGGER events_kept_u BEFORE UPDATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse('the ledger''s audit trail is never rewritten');
CREATE TRIGGER leads_kept BEFORE DELETE OR TRUNCATE ON leads
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse('leads are never deleted: escalate or rejudge them instead');
CREATE TRIGGER steps_kept BEFORE DELETE OR TRUNCATE ON case_steps
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse('case steps are never deleted');
CREATE TRIGGER corrections_kept BEFORE DELETE OR TRUNCATE ON corrections
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse('corrections are never deleted');
"#;

/// Version 2: the review app's users (`tuban ledger user`, `tuban serve`). Roles: `county`
/// (sees and edits the leads of one county code), `province` (the leads whose code starts
/// with `county`, all leads when it is empty). Only argon2 hashes are stored. The same
/// spelling serves SQLite and PostgreSQL.
const USERS: &str = r#"
CREATE TABLE ledger_users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    county TEXT NOT NULL DEFAULT '',
    hash TEXT NOT NULL,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL
);
"#;

/// Create every table of the current version.
pub fn create(tx: &mut Tx) -> Result<()> {
    if tx.is_postgres() {
        tx.batch(PG_TABLES).map_err(sql)?;
    } else {
        tx.batch(crate::output::gpkg::CORE_TABLES).map_err(sql)?;
        tx.batch(TABLES).map_err(sql)?;
        if let Tx::Sqlite(t, _) = tx {
            crate::output::gpkg::register_table(t, "leads", 0).map_err(|e| sql(e.to_string()))?;
        }
    }
    tx.batch(USERS).map_err(sql)?;
    set_meta(tx, "schema_version", &VERSION.to_string())?;
    set_meta(tx, "created", &super::now_utc())
}

/// Bring a ledger of version `from` to [`VERSION`], step by step.
pub fn migrate(tx: &mut Tx, from: i64) -> Result<()> {
    // No version before 1 exists; each later version adds its step here.
    if from < 2 {
        tx.batch(USERS).map_err(sql)?;
    }
    set_meta(tx, "schema_version", &VERSION.to_string())
}
