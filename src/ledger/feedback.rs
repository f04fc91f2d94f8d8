//! Field verification results and case steps, keyed by JCBH, from a CSV (as spreadsheets save
//! it) or any OGR table (a GeoPackage layer a field app filled in).
//!
//! Columns (header names case-insensitive; only `JCBH` is required, and each row must carry a
//! verdict or a case step):
//!
//! | column | values |
//! |---|---|
//! | `JCBH` | a lead number in the ledger |
//! | `real` (or `verdict`) | real change: real/true/yes/1/是, or false/no/0/否 |
//! | `legal` | legal (合法), approved (已批), facility (设施农用地), illegal (违法) |
//! | `TBLX` (or `type`) | the change type found in the field |
//! | `verified` | date of the field check (default: `--date`) |
//! | `rectified` | date the violation was corrected (demolished, restored) |
//! | `notes`, `by` | free text; who checked |
//! | `photos` | photo files, `;`-separated, relative to the feedback file; each must exist |
//! | `step`, `step_date`, `step_notes` | a case step: stop_order (核查制止), filing (立案), investigation (调查取证), review (审理), decision (决定), enforcement (执行), transfer (移送) |
//!
//! Every bad row is reported with its line and the problem; the good rows go in together, in
//! one transaction, or none do.

use super::db::{Tx, vals};
use super::{Ledger, ledger_err, log, sql};
use crate::error::Result;
use crate::job::Date;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The case steps, in their order, with the Chinese names counties use.
pub const STEPS: [(&str, &str); 7] = [
    ("stop_order", "核查制止"),
    ("filing", "立案"),
    ("investigation", "调查取证"),
    ("review", "审理"),
    ("decision", "决定"),
    ("enforcement", "执行"),
    ("transfer", "移送"),
];

/// Legal status found in the field.
pub const LEGAL: [(&str, &[&str]); 4] = [
    ("legal", &["合法"]),
    ("approved", &["已批", "已批准", "批准"]),
    ("facility", &["设施农用地", "facility_agriculture"]),
    ("illegal", &["违法", "违法违规"]),
];

/// A row that was not applied.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RowProblem {
    /// Line in the CSV (feature number in an OGR table), 1-based; the header is line 1.
    pub line: usize,
    pub jcbh: String,
    pub problem: String,
}

/// What a feedback file did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FeedbackSummary {
    pub file: PathBuf,
    pub verdicts: usize,
    pub steps: usize,
    pub rejected: Vec<RowProblem>,
}

/// One checked row.
pub(super) struct Row {
    pub(super) jcbh: String,
    verdict: Option<Verdict>,
    step: Option<(String, Date, Option<String>)>,
}

struct Verdict {
    real: bool,
    verified: Date,
    legal: Option<String>,
    found_type: Option<String>,
    rectified: Option<Date>,
    notes: Option<String>,
    photos: Option<String>,
    by: Option<String>,
}

/// The rows of a CSV or OGR table as (line, column -> value), column names lower-cased.
fn read_rows(file: &Path) -> Result<Vec<(usize, HashMap<String, String>)>> {
    let is_csv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        let text = std::fs::read_to_string(file).map_err(|e| ledger_err(file, e))?;
        let mut r = crate::learn::verdicts::spreadsheet_csv(&text);
        let header: Vec<String> = r
            .headers()
            .map_err(|e| ledger_err(file, e))?
            .iter()
            .map(str::to_lowercase)
            .collect();
        let mut out = vec![];
        for (i, rec) in r.records().enumerate() {
            let rec = rec.map_err(|e| ledger_err(file, format!("line {}: {e}", i + 2)))?;
            let row = header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            out.push((i + 2, row));
        }
        return Ok(out);
    }
    use gdal::vector::LayerAccess;
    let ds = gdal::Dataset::open(file).map_err(|e| ledger_err(file, e))?;
    let mut layer = ds.layer(0).map_err(|e| ledger_err(file, e))?;
    let names: Vec<String> = layer.defn().fields().map(|f| f.name()).collect();
    let mut out = vec![];
    for (i, f) in layer.features().enumerate() {
        let row = names
            .iter()
            .enumerate()
            .filter_map(|(k, n)| {
                let v = f.field_as_string(k).ok().flatten()?;
                (!v.trim().is_empty()).then(|| (n.to_lowercase(), v.trim().to_string()))
            })
            .collect();
        out.push((i + 1, row));
    }
    Ok(out)
}

fn parse_legal(v: &str) -> Option<&'static str> {
    let v = v.trim().to_lowercase();
    LEGAL
        .iter()
        .find(|(name, aliases)| *name == v || aliases.contains(&v.as_str()))
        .map(|(name, _)| *name)
}

fn parse_step(v: &str) -> Option<&'static str> {
    let v = v.trim().to_lowercase();
    STEPS
        .iter()
        .find(|(name, zh)| *name == v || *zh == v)
        .map(|(name, _)| *name)
}

/// Check one row; the problem when it cannot be applied.
pub(super) fn check(
    row: &HashMap<String, String>,
    base: &Path,
    default_date: Option<Date>,
) -> std::result::Result<Row, String> {
    let get = |names: &[&str]| names.iter().find_map(|n| row.get(*n)).cloned();
    let jcbh = get(&["jcbh"]).ok_or("no JCBH")?;
    let date = |names: &[&str], what: &str| -> std::result::Result<Option<Date>, String> {
        get(names)
            .map(|v| Date::parse(&v).map_err(|e| format!("{what}: {e}")))
            .transpose()
    };
    let verdict = match get(&["real", "verdict"]) {
        None => {
            if let Some(c) = ["legal", "rectified", "photos"]
                .iter()
                .find(|c| row.contains_key(**c))
            {
                return Err(format!("{c} given without a verdict (real)"));
            }
            None
        }
        Some(v) => {
            let real = crate::learn::verdicts::parse_real(&v).ok_or_else(|| {
                format!("real {v:?}: expected real/true/yes/1/是 or false/no/0/否")
            })?;
            let legal = get(&["legal"])
                .map(|l| {
                    parse_legal(&l).ok_or_else(|| {
                        format!("legal {l:?}: expected legal, approved, facility or illegal")
                    })
                })
                .transpose()?;
            if !real && legal.is_some() {
                return Err("a legal status for a change found not real".into());
            }
            let verified = date(&["verified", "verified_date"], "verified")?
                .or(default_date)
                .ok_or("no verified date (add a verified column or pass --date)")?;
            let rectified = date(&["rectified", "rectified_date"], "rectified")?;
            if rectified.is_some() && legal != Some("illegal") {
                return Err("a rectified date for a change not found illegal".into());
            }
            let photos = get(&["photos"])
                .map(|p| {
                    let list: Vec<&str> = p
                        .split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect();
                    match list.iter().find(|f| !base.join(f).is_file()) {
                        Some(f) => Err(format!("photo {f:?} not found next to the feedback file")),
                        None => Ok(list.join(";")),
                    }
                })
                .transpose()?;
            Some(Verdict {
                real,
                verified,
                legal: legal.map(str::to_string),
                found_type: get(&["tblx", "type"]),
                rectified,
                notes: get(&["notes"]),
                photos,
                by: get(&["by", "verified_by"]),
            })
        }
    };
    let step = match get(&["step"]) {
        None => None,
        Some(s) => {
            let step = parse_step(&s).ok_or_else(|| {
                format!(
                    "step {s:?}: expected one of {}",
                    STEPS.map(|(n, _)| n).join(", ")
                )
            })?;
            let when = date(&["step_date"], "step_date")?
                .or(verdict.as_ref().map(|v| v.verified))
                .or(default_date)
                .ok_or("a step without step_date")?;
            Some((step.to_string(), when, get(&["step_notes"])))
        }
    };
    if verdict.is_none() && step.is_none() {
        return Err("neither a verdict (real) nor a case step".into());
    }
    Ok(Row {
        jcbh,
        verdict,
        step,
    })
}

impl Ledger {
    /// Apply a feedback file; `default_date` stands for a missing verified date.
    ///
    /// # Errors
    /// [`crate::Error::Ledger`] when the file cannot be read or the ledger written (then
    /// nothing was applied). Bad rows are not errors: they come back in the summary.
    pub fn feedback(&mut self, file: &Path, default_date: Option<Date>) -> Result<FeedbackSummary> {
        let rows = read_rows(file)?;
        let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut summary = FeedbackSummary {
            file: file.to_path_buf(),
            ..Default::default()
        };
        let mut good = vec![];
        let mut seen = HashMap::new();
        for (line, row) in rows {
            let jcbh = row.get("jcbh").cloned().unwrap_or_default();
            let checked = check(&row, &base, default_date).and_then(|r| {
                if r.verdict.is_some()
                    && let Some(first) = seen.insert(r.jcbh.clone(), line)
                {
                    return Err(format!(
                        "a second verdict for the lead (first on line {first})"
                    ));
                }
                Ok(r)
            });
            match checked {
                Ok(r) => good.push((line, r)),
                Err(problem) => summary.rejected.push(RowProblem {
                    line,
                    jcbh,
                    problem,
                }),
            }
        }
        let actor = self.actor.clone();
        let file_name = file.display().to_string();
        self.write(|tx| {
            for (line, r) in good {
                if !known(tx, &r.jcbh)? {
                    summary.rejected.push(RowProblem {
                        line,
                        jcbh: r.jcbh,
                        problem: "no such lead in the ledger".into(),
                    });
                    continue;
                }
                let (v, s) = apply_row(tx, &r, &actor, &format!("{file_name}:{line}"))?;
                summary.verdicts += v;
                summary.steps += s;
            }
            Ok(())
        })?;
        summary.rejected.sort_by_key(|p| p.line);
        Ok(summary)
    }
}

/// Write one checked row (its verdict and case step) as `actor` unless the row names who
/// checked; `source` says where it came from on the events ("file.csv:4", "review app").
/// Returns the verdicts and steps written (0 or 1 each).
pub(super) fn apply_row(tx: &mut Tx, r: &Row, actor: &str, source: &str) -> Result<(usize, usize)> {
    let by = r.verdict.as_ref().and_then(|v| v.by.clone());
    let by = by.as_deref().unwrap_or(actor);
    let mut written = (0, 0);
    if let Some(v) = &r.verdict {
        apply_verdict(tx, &r.jcbh, v, by, source)?;
        written.0 = 1;
    }
    if let Some((step, when, notes)) = &r.step {
        tx.execute(
            "INSERT INTO case_steps (JCBH, step, date, by, notes, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            vals![&r.jcbh, step, when.to_string(), by, notes.as_ref(), super::now_utc()],
        )
        .map_err(sql)?;
        log(
            tx,
            by,
            Some(&r.jcbh),
            "step",
            &format!("{step} on {when} ({source})"),
        )?;
        written.1 = 1;
    }
    Ok(written)
}

/// Keep the photos a lead already has (`earlier`, `;`-separated as stored) in front of the
/// row's new ones: a verdict from the review app adds photos, it never drops them.
pub(super) fn keep_photos(r: &mut Row, earlier: Option<&str>) {
    let Some(v) = r.verdict.as_mut() else { return };
    let mut all: Vec<String> = earlier
        .unwrap_or("")
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    for p in v.photos.iter().flat_map(|p| p.split(';')) {
        if !all.iter().any(|a| a == p) {
            all.push(p.to_string());
        }
    }
    v.photos = (!all.is_empty()).then(|| all.join(";"));
}

/// What a checked row would record, in the words of the audit trail (for a verdict that was
/// not applied, so that it is kept).
pub(super) fn describe(r: &Row) -> String {
    let mut parts = vec![];
    if let Some(v) = &r.verdict {
        parts.push(verdict_words(v));
        if let Some(n) = &v.notes {
            parts.push(format!("notes {n:?}"));
        }
        if let Some(p) = &v.photos {
            parts.push(format!("photos {p}"));
        }
    }
    if let Some((step, when, _)) = &r.step {
        parts.push(format!("step {step} on {when}"));
    }
    parts.join("; ")
}

fn verdict_words(v: &Verdict) -> String {
    format!(
        "verified {}: real {}, legal {}, type {}{}",
        v.verified,
        v.real,
        v.legal.as_deref().unwrap_or("-"),
        v.found_type.as_deref().unwrap_or("-"),
        v.rectified
            .map_or(String::new(), |d| format!(", rectified {d}")),
    )
}

fn known(tx: &mut Tx, jcbh: &str) -> Result<bool> {
    Ok(tx
        .query_one("SELECT 1 FROM leads WHERE JCBH = ?1", vals![jcbh])
        .map_err(sql)?
        .is_some())
}

fn apply_verdict(tx: &mut Tx, jcbh: &str, v: &Verdict, by: &str, source: &str) -> Result<()> {
    let before = tx
        .query_one(
            "SELECT verified, real, legal FROM leads WHERE JCBH = ?1",
            vals![jcbh],
        )
        .map_err(sql)?
        .map(|r| (r.text(0), r.int(1).map(|v| v != 0), r.text(2)));
    tx.execute(
        "UPDATE leads SET verified = ?2, real = ?3, legal = ?4, found_type = ?5, rectified = ?6, notes = ?7, photos = ?8, verified_by = ?9, version = version + 1 WHERE JCBH = ?1",
        vals![
            jcbh,
            v.verified.to_string(),
            v.real,
            v.legal.as_ref(),
            v.found_type.as_ref(),
            v.rectified.map(|d| d.to_string()),
            v.notes.as_ref(),
            v.photos.as_ref(),
            by
        ],
    )
    .map_err(sql)?;
    let was = match before {
        Some((Some(d), real, legal)) => format!(
            "; replaces the verdict of {d} (real {}, legal {})",
            real.map_or("-".into(), |r| r.to_string()),
            legal.unwrap_or_else(|| "-".into())
        ),
        _ => String::new(),
    };
    let detail = format!("{}{was} ({source})", verdict_words(v));
    log(tx, by, Some(jcbh), "verify", &detail)
}
