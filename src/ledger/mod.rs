//! The case ledger: every lead of every quarter with its whole history, in one GeoPackage
//! (SQLite) file that QGIS or `ogrinfo` opens like any other (layer `leads`).
//!
//! - [`Ledger::dispatch`] adds a run's county packages: each lead is linked to the earlier
//!   lead at the same place (`QQJCBH`, the overlap ratio configurable) and joins its case; a
//!   place already verified makes the new lead a duplicate, so a case is verified once; the same
//!   run dispatched again changes nothing. [`Ledger::import`] adds polygons made outside tuban
//!   (provincial, annual survey) through the same linking.
//! - [`feedback`]: field verification results and case steps keyed by JCBH; bad rows are
//!   reported one by one, good rows go in, in one transaction.
//! - [`rejudge`]: corrections of reference layers (who, when, why, evidence) and the affected
//!   leads judged again through the overlay stage with the corrected layers.
//! - [`report`]: per county counts of a quarter or a year (CSV and an offline HTML page) and
//!   the export of verified leads as training labels for `tuban learn`.
//!
//! Invariants: nothing is ever deleted (triggers refuse deletes of leads, steps and events);
//! every change of a lead writes an event (who, when, what it was, what it became); every
//! command is one `BEGIN IMMEDIATE` transaction, so two processes writing at once wait for each
//! other (WAL, busy timeout) and a killed process leaves the ledger as it was.

pub mod db;
pub mod dispatch;
pub mod feedback;
pub mod rejudge;
pub mod report;
pub mod review;
mod schema;

use crate::error::{Error, Result};
use crate::job::Date;
use db::{Db, Tx, vals};
use std::path::{Path, PathBuf};

/// How long a SQLite writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT_S: u64 = 120;

/// An open ledger.
pub struct Ledger {
    db: Db,
    /// The file, or the database URL without its password (for messages).
    path: PathBuf,
    /// SRS id of the leads' geometries (0 until the first lead).
    srid: i32,
    /// Who writes (recorded on every event).
    pub actor: String,
}

/// One row of the audit trail.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Event {
    pub at: String,
    pub actor: String,
    pub jcbh: Option<String>,
    pub kind: String,
    pub detail: String,
}

/// The user running the command, for the audit trail when `--by` is not given.
pub fn default_actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// The current UTC time, ISO 8601 (what events record as `at`).
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let d = Date::from_days_since_epoch(days as i64);
    format!(
        "{d}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Today's UTC date.
pub fn today() -> Date {
    Date::parse(&now_utc()[..10]).expect("now_utc starts with a date")
}

/// Whether a ledger target is a PostgreSQL URL (else a file path).
pub fn is_url(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

/// A URL as messages show it: the password replaced.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Ledger {
    /// Create a ledger: a GeoPackage file (refused when it exists), or the ledger's tables in
    /// a PostgreSQL database (`postgres://...`; PostGIS is enabled in it; refused when the
    /// database holds a ledger already).
    ///
    /// # Errors
    /// [`Error::Ledger`] when the ledger exists or cannot be created.
    pub fn init(target: &str, actor: &str) -> Result<Ledger> {
        if !is_url(target) && Path::new(target).exists() {
            return Err(ledger_err(
                Path::new(target),
                "already exists; a ledger is created once (open it with the other ledger commands)",
            ));
        }
        let mut l = Ledger::connect(target, actor)?;
        if l.schema_version()?.is_some() {
            return Err(ledger_err(
                &l.path,
                "already holds a ledger; a ledger is created once",
            ));
        }
        l.write(|tx| {
            schema::create(tx)?;
            log(
                tx,
                actor,
                None,
                "init",
                &format!("schema {}", schema::VERSION),
            )
        })?;
        Ok(l)
    }

    /// Open an existing ledger (file or `postgres://` URL), migrating its schema to this
    /// version of tuban.
    ///
    /// # Errors
    /// [`Error::Ledger`] when it is missing, not a ledger, or newer than this tuban.
    pub fn open(target: &str, actor: &str) -> Result<Ledger> {
        if !is_url(target) && !Path::new(target).is_file() {
            return Err(ledger_err(
                Path::new(target),
                "no such ledger (create it with `tuban ledger init`)",
            ));
        }
        let mut l = Ledger::connect(target, actor)?;
        match l.schema_version()? {
            None => {
                return Err(ledger_err(
                    &l.path,
                    "not a tuban ledger (no ledger_meta table)",
                ));
            }
            Some(v) if v > schema::VERSION => {
                return Err(ledger_err(
                    &l.path,
                    format!(
                        "schema version {v} is newer than this tuban's ({}); update tuban",
                        schema::VERSION
                    ),
                ));
            }
            Some(v) if v < schema::VERSION => {
                let who = l.actor.clone();
                l.write(|tx| {
                    schema::migrate(tx, v)?;
                    log(
                        tx,
                        &who,
                        None,
                        "migrate",
                        &format!("schema {v} -> {}", schema::VERSION),
                    )
                })?;
            }
            Some(_) => {}
        }
        l.srid = l
            .read(|tx| meta(tx, "srs_id"))?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(l)
    }

    fn connect(target: &str, actor: &str) -> Result<Ledger> {
        if is_url(target) {
            let shown = PathBuf::from(redact(target));
            let client = postgres::Client::connect(target, postgres::NoTls)
                .map_err(|e| ledger_err(&shown, format!("cannot connect: {e}")))?;
            return Ok(Ledger {
                db: Db::Postgres(Box::new(client)),
                path: shown,
                srid: 0,
                actor: actor.to_string(),
            });
        }
        let path = Path::new(target);
        let conn = rusqlite::Connection::open(path).map_err(|e| ledger_err(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(BUSY_TIMEOUT_S))
            .map_err(|e| ledger_err(path, e))?;
        // WAL: readers never block the writer; a crash mid-transaction rolls back on the next
        // open. FULL sync: a committed verdict survives a power cut.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| ledger_err(path, e))?;
        Ok(Ledger {
            db: Db::Sqlite(conn),
            path: path.to_path_buf(),
            srid: 0,
            actor: actor.to_string(),
        })
    }

    fn schema_version(&mut self) -> Result<Option<i64>> {
        let pg = self.db.is_postgres();
        self.read(|tx| {
            let probe = if pg {
                "SELECT CASE WHEN to_regclass('ledger_meta') IS NULL THEN 0 ELSE 1 END"
            } else {
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'ledger_meta'"
            };
            let has = tx.query_one(probe, &[]).map_err(sql)?;
            if !has.is_some_and(|r| r.flag(0)) {
                return Ok(None);
            }
            Ok(meta(tx, "schema_version")?.and_then(|v| v.parse().ok()))
        })
    }

    /// The ledger file (or URL, password hidden).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` in one write transaction (writers one at a time): committed when it returns
    /// Ok, rolled back otherwise (and when the process dies before the commit).
    fn write<T>(&mut self, f: impl FnOnce(&mut Tx) -> Result<T>) -> Result<T> {
        self.transaction(true, f)
    }

    /// Run `f` in a read transaction (one consistent view).
    fn read<T>(&mut self, f: impl FnOnce(&mut Tx) -> Result<T>) -> Result<T> {
        self.transaction(false, f)
    }

    fn transaction<T>(&mut self, write: bool, f: impl FnOnce(&mut Tx) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let mut tx = self
            .db
            .begin(write, self.srid)
            .map_err(|e| ledger_err(&path, e))?;
        // A store failure inside `f` ([`sql`]) does not know the ledger: name it here.
        let out = f(&mut tx).map_err(|e| match e {
            Error::Ledger { path: p, reason } if p.as_os_str().is_empty() => {
                ledger_err(&path, reason)
            }
            other => other,
        })?;
        tx.commit().map_err(|e| ledger_err(&path, e))?;
        Ok(out)
    }

    /// The events of one lead (all events with `None`), oldest first.
    ///
    /// # Errors
    /// [`Error::Ledger`] when the ledger cannot be read.
    pub fn history(&mut self, jcbh: Option<&str>) -> Result<Vec<Event>> {
        self.read(|tx| {
            let rows = tx
                .query(
                    "SELECT at, actor, JCBH, kind, detail FROM events WHERE CAST(?1 AS TEXT) IS NULL OR JCBH = ?1 ORDER BY id",
                    vals![jcbh],
                )
                .map_err(sql)?;
            Ok(rows
                .iter()
                .map(|r| Event {
                    at: r.text(0).unwrap_or_default(),
                    actor: r.text(1).unwrap_or_default(),
                    jcbh: r.text(2),
                    kind: r.text(3).unwrap_or_default(),
                    detail: r.text(4).unwrap_or_default(),
                })
                .collect())
        })
    }

    /// The ledger's CRS (WKT), set by the first dispatch or import.
    ///
    /// # Errors
    /// [`Error::Ledger`] when the ledger cannot be read.
    pub fn projection(&mut self) -> Result<Option<String>> {
        self.read(|tx| meta(tx, "projection"))
    }

    /// Mark lead `jcbh` for handling by the province or the ministry (`queue`), or return it to
    /// the county (`county`), with the reason. The lead leaves (or rejoins) the county's
    /// outstanding work; nothing else of it changes.
    ///
    /// # Errors
    /// [`Error::Ledger`] for an unknown JCBH or queue.
    pub fn escalate(&mut self, jcbh: &str, queue: &str, reason: &str) -> Result<()> {
        if !["county", "province", "ministry"].contains(&queue) {
            return Err(ledger_err(
                &self.path,
                format!("queue {queue:?}: county, province or ministry"),
            ));
        }
        let (path, actor) = (self.path.clone(), self.actor.clone());
        self.write(|tx| {
            let old = tx
                .query_one("SELECT queue FROM leads WHERE JCBH = ?1", vals![jcbh])
                .map_err(sql)?
                .and_then(|r| r.text(0));
            let Some(old) = old else {
                return Err(ledger_err(&path, format!("no lead {jcbh:?}")));
            };
            tx.execute(
                "UPDATE leads SET queue = ?2, queue_reason = ?3, version = version + 1 WHERE JCBH = ?1",
                vals![jcbh, queue, reason],
            )
            .map_err(sql)?;
            log(
                tx,
                &actor,
                Some(jcbh),
                "escalate",
                &format!("queue {old} -> {queue}: {reason}"),
            )
        })
    }
}

/// A store failure inside a transaction, without the ledger's name ([`Ledger::transaction`]
/// adds it).
fn sql(e: String) -> Error {
    Error::Ledger {
        path: PathBuf::new(),
        reason: e,
    }
}

fn ledger_err(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Ledger {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Append one event to the audit trail.
fn log(tx: &mut Tx, actor: &str, jcbh: Option<&str>, kind: &str, detail: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO events (at, actor, JCBH, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        vals![now_utc(), actor, jcbh, kind, detail],
    )
    .map_err(sql)?;
    Ok(())
}

fn meta(tx: &mut Tx, key: &str) -> Result<Option<String>> {
    Ok(tx
        .query_one("SELECT value FROM ledger_meta WHERE key = ?1", vals![key])
        .map_err(sql)?
        .and_then(|r| r.text(0)))
}

fn set_meta(tx: &mut Tx, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO ledger_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        vals![key, value],
    )
    .map_err(sql)?;
    Ok(())
}
