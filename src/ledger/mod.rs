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

pub mod dispatch;
pub mod feedback;
pub mod rejudge;
pub mod report;
mod schema;

use crate::error::{Error, Result};
use crate::job::Date;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::path::{Path, PathBuf};

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT_S: u64 = 120;

/// An open ledger.
pub struct Ledger {
    conn: Connection,
    path: PathBuf,
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

impl Ledger {
    /// Create a ledger at `path` (refused when the file exists).
    ///
    /// # Errors
    /// [`Error::Ledger`] when the file exists or cannot be created.
    pub fn init(path: &Path, actor: &str) -> Result<Ledger> {
        if path.exists() {
            return Err(ledger_err(
                path,
                "already exists; a ledger is created once (open it with the other ledger commands)",
            ));
        }
        let conn = Connection::open(path).map_err(|e| ledger_err(path, e))?;
        let mut l = Ledger::configure(conn, path, actor)?;
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

    /// Open an existing ledger, migrating its schema to this version of tuban.
    ///
    /// # Errors
    /// [`Error::Ledger`] when the file is missing, not a ledger, or newer than this tuban.
    pub fn open(path: &Path, actor: &str) -> Result<Ledger> {
        if !path.is_file() {
            return Err(ledger_err(
                path,
                "no such ledger (create it with `tuban ledger init`)",
            ));
        }
        let conn = Connection::open(path).map_err(|e| ledger_err(path, e))?;
        let mut l = Ledger::configure(conn, path, actor)?;
        let found = schema::version(&l.conn).map_err(|e| ledger_err(path, e))?;
        match found {
            None => {
                return Err(ledger_err(
                    path,
                    "not a tuban ledger (no ledger_meta table)",
                ));
            }
            Some(v) if v > schema::VERSION => {
                return Err(ledger_err(
                    path,
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
        Ok(l)
    }

    fn configure(conn: Connection, path: &Path, actor: &str) -> Result<Ledger> {
        conn.busy_timeout(std::time::Duration::from_secs(BUSY_TIMEOUT_S))
            .map_err(|e| ledger_err(path, e))?;
        // WAL: readers never block the writer; a crash mid-transaction rolls back on the next
        // open. FULL sync: a committed verdict survives a power cut.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| ledger_err(path, e))?;
        Ok(Ledger {
            conn,
            path: path.to_path_buf(),
            actor: actor.to_string(),
        })
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` in one immediate transaction: committed when it returns Ok, rolled back
    /// otherwise (and when the process dies before the commit).
    fn write<T>(&mut self, f: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| ledger_err(&path, e))?;
        let out = f(&tx).map_err(|e| match e {
            Error::Ledger { reason, .. } if reason.starts_with(SQL_PREFIX) => {
                ledger_err(&path, reason.trim_start_matches(SQL_PREFIX).to_string())
            }
            other => other,
        })?;
        tx.commit().map_err(|e| ledger_err(&path, e))?;
        Ok(out)
    }

    /// The SQLite connection, for reads.
    fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The events of one lead (all events with `None`), oldest first.
    ///
    /// # Errors
    /// [`Error::Ledger`] when the ledger cannot be read.
    pub fn history(&self, jcbh: Option<&str>) -> Result<Vec<Event>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT at, actor, JCBH, kind, detail FROM events WHERE ?1 IS NULL OR JCBH = ?1 ORDER BY id",
            )
            .map_err(|e| ledger_err(&self.path, e))?;
        let rows = st
            .query_map(params![jcbh], |r| {
                Ok(Event {
                    at: r.get(0)?,
                    actor: r.get(1)?,
                    jcbh: r.get(2)?,
                    kind: r.get(3)?,
                    detail: r.get(4)?,
                })
            })
            .map_err(|e| ledger_err(&self.path, e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| ledger_err(&self.path, e))
    }

    /// The ledger's CRS (WKT), set by the first dispatch or import.
    ///
    /// # Errors
    /// [`Error::Ledger`] when the ledger cannot be read.
    pub fn projection(&self) -> Result<Option<String>> {
        meta(&self.conn, "projection").map_err(|e| ledger_err(&self.path, e))
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
            let old: Option<String> = tx
                .query_row("SELECT queue FROM leads WHERE JCBH = ?1", [jcbh], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(sql)?;
            let Some(old) = old else {
                return Err(ledger_err(&path, format!("no lead {jcbh:?}")));
            };
            tx.execute(
                "UPDATE leads SET queue = ?2, queue_reason = ?3, version = version + 1 WHERE JCBH = ?1",
                params![jcbh, queue, reason],
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

const SQL_PREFIX: &str = "\u{0}sql:";

/// A SQLite failure inside a transaction (the path is filled in by [`Ledger::write`]).
fn sql(e: rusqlite::Error) -> Error {
    Error::Ledger {
        path: PathBuf::new(),
        reason: format!("{SQL_PREFIX}{e}"),
    }
}

fn ledger_err(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::Ledger {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Append one event to the audit trail.
fn log(tx: &Transaction, actor: &str, jcbh: Option<&str>, kind: &str, detail: &str) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO events (at, actor, JCBH, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(sql)?
    .execute(params![now_utc(), actor, jcbh, kind, detail])
    .map_err(sql)?;
    Ok(())
}

fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM ledger_meta WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .optional()
}

fn set_meta(tx: &Transaction, key: &str, value: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO ledger_meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )
    .map_err(sql)?;
    Ok(())
}
