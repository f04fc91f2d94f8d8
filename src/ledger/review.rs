//! What the review web app (`tuban serve`) reads from and writes to the ledger: the leads a
//! reviewer may see, one lead whole with its history, verdicts checked against the version
//! the reviewer saw, and the ledger's users.
//!
//! A verdict from the app goes through the same checks and the same writes as a row of
//! `tuban ledger feedback` ([`super::feedback`]); only the conflict rule is added: a verdict
//! names the lead's `version` its reviewer saw, and when another write came in between it is
//! not applied but kept in the audit trail (`verdict_conflict`, with every value it carried),
//! and the reviewer is shown what is there now.

use super::db::vals;
use super::feedback::{apply_row, check, describe, keep_photos};
use super::{Event, Ledger, ledger_err, log, sql};
use crate::error::Result;
use geo::MultiPolygon;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::Path;

/// Shortest password `tuban ledger user` accepts.
pub const MIN_PASSWORD: usize = 8;

/// A signed-in reviewer and what they may see.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reviewer {
    pub name: String,
    /// `county` or `province`.
    pub role: String,
    /// A county's 6-digit code; for a province the leading digits of its counties' codes
    /// (empty: every county).
    pub county: String,
}

impl Reviewer {
    /// Whether this reviewer may see and edit the leads of county `xzqdm`.
    pub fn may_see(&self, xzqdm: &str) -> bool {
        match self.role.as_str() {
            "county" => xzqdm == self.county,
            _ => xzqdm.starts_with(&self.county),
        }
    }
}

/// The list's filters (all optional).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct LeadFilter {
    pub county: Option<String>,
    pub quarter: Option<String>,
    /// A TBLX code.
    #[serde(rename = "type")]
    pub tblx: Option<String>,
    /// open, verified, real, not_real, duplicate, excluded, escalated.
    pub status: Option<String>,
    pub min_confidence: Option<f64>,
    pub min_mu: Option<f64>,
}

/// One lead in the list.
#[derive(Clone, Debug, Serialize)]
pub struct LeadSummary {
    pub jcbh: String,
    pub xzqdm: String,
    pub quarter: String,
    pub kind: String,
    pub tblx: Option<String>,
    pub mu: f64,
    pub confidence: Option<f64>,
    pub status: String,
    pub version: i64,
    /// min x, min y, max x, max y in the ledger's CRS.
    pub bbox: [f64; 4],
}

/// One lead whole: every column, the package's own attributes, the case steps and the events.
#[derive(Clone, Debug, Serialize)]
pub struct LeadDetail {
    pub summary: LeadSummary,
    /// The ledger's columns (verdict, judgement, queue, ...), by name.
    pub fields: Map<String, Value>,
    /// What the county package carried (LXYJ, PDYJ, measures, ...).
    pub attrs: Map<String, Value>,
    pub steps: Vec<Map<String, Value>>,
    pub history: Vec<Event>,
    #[serde(skip)]
    pub geom: Option<MultiPolygon<f64>>,
}

/// What became of a verdict from the app.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Recorded {
    /// Written; the lead is now at `version`.
    Applied { version: i64 },
    /// Another write came after the version the reviewer saw: not applied, kept as a
    /// `verdict_conflict` event. `version` is the lead's version now.
    Conflict { version: i64, seen: i64 },
    /// The verdict does not check (the same words as a rejected feedback row).
    Refused { problem: String },
}

/// The lead's status word in the list.
fn status(
    duplicate: bool,
    judged: &str,
    queue: &str,
    verified: bool,
    real: Option<bool>,
) -> String {
    match (verified, real) {
        (true, Some(true)) => "real",
        (true, _) => "not_real",
        _ if duplicate => "duplicate",
        _ if judged != "lead" => "excluded",
        _ if queue != "county" => "escalated",
        _ => "open",
    }
    .to_string()
}

const SUMMARY_COLUMNS: &str = "JCBH, XZQDM, quarter, kind, TBLX, JCMJ, duplicate, judged, queue, verified, real, version, minx, miny, maxx, maxy, attrs";

fn summary(r: &super::db::Row) -> (LeadSummary, Map<String, Value>) {
    let attrs: Map<String, Value> = r
        .text(16)
        .and_then(|a| serde_json::from_str(&a).ok())
        .unwrap_or_default();
    let real = r.int(10).map(|v| v != 0);
    let s = LeadSummary {
        jcbh: r.text(0).unwrap_or_default(),
        xzqdm: r.text(1).unwrap_or_default(),
        quarter: r.text(2).unwrap_or_default(),
        kind: r.text(3).unwrap_or_default(),
        tblx: r.text(4),
        mu: r.real(5).unwrap_or(0.0) / crate::MU_M2,
        confidence: attrs.get("confidence").and_then(Value::as_f64),
        status: status(
            r.flag(6),
            &r.text(7).unwrap_or_default(),
            &r.text(8).unwrap_or_default(),
            r.text(9).is_some(),
            real,
        ),
        version: r.int(11).unwrap_or(1),
        bbox: [12, 13, 14, 15].map(|i| r.real(i).unwrap_or(f64::NAN)),
    };
    (s, attrs)
}

impl LeadFilter {
    fn keeps(&self, s: &LeadSummary) -> bool {
        let status_ok = match self.status.as_deref() {
            None | Some("") | Some("all") => true,
            Some("verified") => matches!(s.status.as_str(), "real" | "not_real"),
            Some(w) => s.status == w,
        };
        status_ok
            && self
                .county
                .as_ref()
                .is_none_or(|c| c.is_empty() || s.xzqdm == *c)
            && self
                .quarter
                .as_ref()
                .is_none_or(|q| q.is_empty() || s.quarter == *q)
            && self
                .tblx
                .as_ref()
                .is_none_or(|t| t.is_empty() || s.tblx.as_deref() == Some(t))
            && self
                .min_confidence
                .is_none_or(|c| s.confidence.is_some_and(|v| v >= c))
            && self.min_mu.is_none_or(|m| s.mu >= m)
    }
}

impl Ledger {
    /// Add a reviewer, or set an existing one's role, county and password. Only an argon2
    /// hash of the password is stored.
    ///
    /// # Errors
    /// [`crate::Error::Ledger`] for an unknown role, a county role without a 6-digit code, a
    /// password shorter than [`MIN_PASSWORD`], or when the ledger cannot be written.
    pub fn set_user(&mut self, name: &str, role: &str, county: &str, password: &str) -> Result<()> {
        let path = self.path.clone();
        let bad = |why: String| Err(ledger_err(&path, why));
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return bad(format!(
                "user name {name:?}: empty or with control characters"
            ));
        }
        match role {
            "county" if county.len() == 6 && county.bytes().all(|b| b.is_ascii_digit()) => {}
            "county" => {
                return bad(format!(
                    "a county reviewer needs the county's 6-digit code, not {county:?}"
                ));
            }
            "province" if county.bytes().all(|b| b.is_ascii_digit()) && county.len() < 6 => {}
            "province" => {
                return bad(format!(
                    "a province's code is the leading digits of its counties' codes (e.g. 32), not {county:?}"
                ));
            }
            _ => return bad(format!("role {role:?}: county or province")),
        }
        if password.chars().count() < MIN_PASSWORD {
            return bad(format!("a password of at least {MIN_PASSWORD} characters"));
        }
        use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| ledger_err(&path, format!("hashing the password: {e}")))?
            .to_string();
        let actor = self.actor.clone();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO ledger_users (name, role, county, hash, added_at, added_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT(name) DO UPDATE SET role = excluded.role, county = excluded.county, hash = excluded.hash",
                vals![name, role, county, hash, super::now_utc(), &actor],
            )
            .map_err(sql)?;
            let scope = if county.is_empty() { "all counties".to_string() } else { county.to_string() };
            log(tx, &actor, None, "user", &format!("{name}: {role} of {scope}"))
        })
    }

    /// The reviewer `name` when `password` is theirs (`None` for an unknown name or a wrong
    /// password: the caller does not learn which).
    ///
    /// # Errors
    /// [`crate::Error::Ledger`] when the ledger cannot be read.
    pub fn login(&mut self, name: &str, password: &str) -> Result<Option<Reviewer>> {
        let row = self.read(|tx| {
            tx.query_one(
                "SELECT role, county, hash FROM ledger_users WHERE name = ?1",
                vals![name],
            )
            .map_err(sql)
        })?;
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        // An unknown name costs a hash too, so that timing does not tell names apart.
        static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let decoy = || {
            DECOY
                .get_or_init(|| {
                    use argon2::password_hash::{PasswordHasher, SaltString};
                    let salt = SaltString::from_b64("ZGVjb3lkZWNveWRlY295").expect("a valid salt");
                    argon2::Argon2::default()
                        .hash_password(b"decoy", &salt)
                        .map_or_else(|_| String::new(), |h| h.to_string())
                })
                .clone()
        };
        let stored = row.as_ref().and_then(|r| r.text(2)).unwrap_or_else(decoy);
        let ok = PasswordHash::new(&stored).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        Ok(match row {
            Some(r) if ok => Some(Reviewer {
                name: name.to_string(),
                role: r.text(0).unwrap_or_default(),
                county: r.text(1).unwrap_or_default(),
            }),
            _ => None,
        })
    }

    /// The leads `who` may see that pass `filter`, by JCBH.
    ///
    /// # Errors
    /// [`crate::Error::Ledger`] when the ledger cannot be read.
    pub fn lead_list(&mut self, who: &Reviewer, filter: &LeadFilter) -> Result<Vec<LeadSummary>> {
        let rows = self.read(|tx| {
            tx.query(
                &format!("SELECT {SUMMARY_COLUMNS} FROM leads ORDER BY JCBH"),
                &[],
            )
            .map_err(sql)
        })?;
        Ok(rows
            .iter()
            .map(|r| summary(r).0)
            .filter(|s| who.may_see(&s.xzqdm) && filter.keeps(s))
            .collect())
    }

    /// The leads `who` may see that pass `filter`, with their polygons (one query; the map's
    /// outlines).
    ///
    /// # Errors
    /// [`crate::Error::Ledger`] when the ledger cannot be read.
    pub fn lead_outlines(
        &mut self,
        who: &Reviewer,
        filter: &LeadFilter,
    ) -> Result<Vec<(LeadSummary, MultiPolygon<f64>)>> {
        let rows = self.read(|tx| {
            tx.query(
                &format!("SELECT {SUMMARY_COLUMNS}, WKB(geom) FROM leads ORDER BY JCBH"),
                &[],
            )
            .map_err(sql)
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let s = summary(r).0;
                (who.may_see(&s.xzqdm) && filter.keeps(&s))
                    .then(|| r.geom(17).map(|g| (s, g)))
                    .flatten()
            })
            .collect())
    }

    /// One lead whole (`None` when there is no such JCBH).
    ///
    /// # Errors
    /// [`crate::Error::Ledger`] when the ledger cannot be read.
    pub fn lead(&mut self, jcbh: &str) -> Result<Option<LeadDetail>> {
        const FIELDS: [&str; 23] = [
            "case_no",
            "QQJCBH",
            "overlap",
            "QSX",
            "HSX",
            "judged",
            "PDYJ",
            "GDMJ",
            "YJJBNTMJ",
            "STHXMJ",
            "PZMJ",
            "queue",
            "queue_reason",
            "dispatched",
            "deadline",
            "verified",
            "real",
            "legal",
            "found_type",
            "notes",
            "rectified",
            "photos",
            "verified_by",
        ];
        let found = self.read(|tx| {
            let row = tx
                .query_one(
                    &format!(
                        "SELECT {SUMMARY_COLUMNS}, WKB(geom), {} FROM leads WHERE JCBH = ?1",
                        FIELDS.join(", ")
                    ),
                    vals![jcbh],
                )
                .map_err(sql)?;
            let Some(row) = row else { return Ok(None) };
            let steps = tx
                .query(
                    "SELECT step, date, by, notes, recorded_at FROM case_steps WHERE JCBH = ?1 ORDER BY id",
                    vals![jcbh],
                )
                .map_err(sql)?;
            Ok(Some((row, steps)))
        })?;
        let Some((row, steps)) = found else {
            return Ok(None);
        };
        let (summary, attrs) = summary(&row);
        let mut fields = Map::new();
        for (k, name) in FIELDS.iter().enumerate() {
            let i = 18 + k;
            let v = match row.0.get(i) {
                Some(super::db::Val::Int(v)) => Value::from(*v),
                Some(super::db::Val::Real(v)) => Value::from(*v),
                Some(super::db::Val::Text(s)) => Value::from(s.clone()),
                _ => Value::Null,
            };
            fields.insert((*name).to_string(), v);
        }
        let steps = steps
            .iter()
            .map(|r| {
                ["step", "date", "by", "notes", "recorded_at"]
                    .iter()
                    .enumerate()
                    .map(|(i, k)| (k.to_string(), r.text(i).map_or(Value::Null, Value::from)))
                    .collect()
            })
            .collect();
        Ok(Some(LeadDetail {
            summary,
            fields,
            attrs,
            steps,
            history: self.history(Some(jcbh))?,
            geom: row.geom(17),
        }))
    }

    /// Record a verdict (and optionally a case step) from the review app, written by
    /// `author`, who saw the lead at `seen_version`. `row` holds the same columns as a
    /// feedback row (`real`, `legal`, `TBLX`, `notes`, `photos`, `step`, ...; lower-case keys);
    /// new photos are relative to `photo_base` and are added to the lead's earlier ones. See
    /// [`Recorded`].
    ///
    /// # Errors
    /// [`crate::Error::Ledger`] when the ledger cannot be written.
    pub fn record(
        &mut self,
        jcbh: &str,
        row: &HashMap<String, String>,
        photo_base: &Path,
        seen_version: i64,
        author: &str,
    ) -> Result<Recorded> {
        let mut row = row.clone();
        row.insert("jcbh".into(), jcbh.to_string());
        // The signed-in reviewer is who checked; a `by` in the form cannot say otherwise.
        row.insert("by".into(), author.to_string());
        let mut checked = match check(&row, photo_base, Some(super::today())) {
            Ok(r) => r,
            Err(problem) => return Ok(Recorded::Refused { problem }),
        };
        self.write(|tx| {
            let current = tx
                .query_one(
                    "SELECT version, photos FROM leads WHERE JCBH = ?1",
                    vals![jcbh],
                )
                .map_err(sql)?;
            let Some(current) = current else {
                return Ok(Recorded::Refused {
                    problem: "no such lead in the ledger".into(),
                });
            };
            let now = current.int(0).unwrap_or(1);
            keep_photos(&mut checked, current.text(1).as_deref());
            if now != seen_version {
                log(
                    tx,
                    author,
                    Some(jcbh),
                    "verdict_conflict",
                    &format!(
                        "not applied (saw version {seen_version}, the lead is at {now}): {}",
                        describe(&checked)
                    ),
                )?;
                return Ok(Recorded::Conflict {
                    version: now,
                    seen: seen_version,
                });
            }
            apply_row(tx, &checked, author, "review app")?;
            let version = tx
                .query_one("SELECT version FROM leads WHERE JCBH = ?1", vals![jcbh])
                .map_err(sql)?
                .and_then(|r| r.int(0))
                .unwrap_or(now);
            Ok(Recorded::Applied { version })
        })
    }
}

impl Ledger {
    /// The folder of the latest `tuban run` dispatched into the ledger (imports have none).
    ///
    /// # Errors
    /// [`crate::Error::Ledger`] when the ledger cannot be read.
    pub fn latest_run_path(&mut self) -> Result<Option<std::path::PathBuf>> {
        let row = self.read(|tx| {
            tx.query_one(
                "SELECT path FROM ledger_runs WHERE job IS NOT NULL ORDER BY id DESC LIMIT 1",
                &[],
            )
            .map_err(sql)
        })?;
        Ok(row.and_then(|r| r.text(0)).map(std::path::PathBuf::from))
    }
}
