//! What the ledger says per county for a quarter or a year (CSV and an offline HTML page), and
//! the verified leads as training labels for `tuban learn`.
//!
//! Counts of the leads entered in the period (dispatched or imported), per county:
//! duplicates (at a place already verified: not verified again), withdrawn (judged no longer a
//! lead after a correction), escalated (taken over by the province or ministry), verified,
//! real, illegal, rectified within the year (illegal and corrected by the end of the lead's
//! year: not counted in the annual assessment), counted (illegal minus rectified), outstanding
//! (the county's to verify: no lead of its case verified, not a duplicate, still a lead, not
//! escalated) and
//! overdue (outstanding past the verification deadline on the report date).

use super::db::vals;
use super::{Ledger, ledger_err, sql};
use crate::error::Result;
use crate::job::{Date, Quarter};
use crate::output::gpkg::{Column, GpkgWriter};
use rusqlite::types::Value as Sql;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The period a report covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Quarter(Quarter),
    Year(u16),
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Period::Quarter(q) => write!(f, "{q}"),
            Period::Year(y) => write!(f, "{y}"),
        }
    }
}

/// One county's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CountyCounts {
    pub xzqdm: String,
    pub dispatched: u64,
    pub duplicates: u64,
    pub withdrawn: u64,
    pub escalated: u64,
    pub verified: u64,
    pub real: u64,
    pub illegal: u64,
    pub rectified: u64,
    pub counted: u64,
    pub outstanding: u64,
    pub overdue: u64,
}

const COLUMNS: [&str; 12] = [
    "XZQDM",
    "dispatched",
    "duplicates",
    "withdrawn",
    "escalated",
    "verified",
    "real",
    "illegal",
    "rectified_in_year",
    "counted",
    "outstanding",
    "overdue",
];

impl CountyCounts {
    fn values(&self) -> [u64; 11] {
        [
            self.dispatched,
            self.duplicates,
            self.withdrawn,
            self.escalated,
            self.verified,
            self.real,
            self.illegal,
            self.rectified,
            self.counted,
            self.outstanding,
            self.overdue,
        ]
    }

    fn add(&mut self, o: &CountyCounts) {
        let v = o.values();
        for (i, x) in [
            &mut self.dispatched,
            &mut self.duplicates,
            &mut self.withdrawn,
            &mut self.escalated,
            &mut self.verified,
            &mut self.real,
            &mut self.illegal,
            &mut self.rectified,
            &mut self.counted,
            &mut self.outstanding,
            &mut self.overdue,
        ]
        .into_iter()
        .enumerate()
        {
            *x += v[i];
        }
    }
}

impl Ledger {
    /// Per county counts of the leads entered in `period`, as of `as_of` (for overdue).
    ///
    /// # Errors
    /// [`crate::Error::Ledger`] when the ledger cannot be read.
    pub fn counts(&mut self, period: Period, as_of: Date) -> Result<Vec<CountyCounts>> {
        let pattern = match period {
            Period::Quarter(q) => q.to_string(),
            Period::Year(y) => format!("{y}Q_"),
        };
        let rows = self.read(|tx| {
            tx.query(
                "SELECT XZQDM, quarter, duplicate, judged, queue, verified, real, legal, rectified, deadline, \
                 CASE WHEN EXISTS (SELECT 1 FROM leads c WHERE c.case_no = l.case_no AND c.verified IS NOT NULL) THEN 1 ELSE 0 END \
                 FROM leads l WHERE quarter LIKE ?1 ORDER BY XZQDM",
                vals![pattern],
            )
            .map_err(sql)
        })?;
        let mut by: BTreeMap<String, CountyCounts> = BTreeMap::new();
        let as_of = as_of.to_string();
        for r in rows {
            let county = r.text(0).unwrap_or_default();
            let quarter = r.text(1).unwrap_or_default();
            let duplicate = r.flag(2);
            let judged = r.text(3).unwrap_or_default();
            let queue = r.text(4).unwrap_or_default();
            let verified = r.text(5);
            let real = r.int(6).map(|v| v != 0);
            let legal = r.text(7);
            let rectified = r.text(8);
            let deadline = r.text(9).unwrap_or_default();
            let case_verified = r.flag(10);
            let c = by.entry(county.clone()).or_insert_with(|| CountyCounts {
                xzqdm: county,
                ..Default::default()
            });
            let illegal = legal.as_deref() == Some("illegal");
            let rectified_in_year = illegal
                && rectified
                    .as_deref()
                    .is_some_and(|d| d.get(..4) == quarter.get(..4));
            // A case is verified once: a lead of it verified later settles the earlier ones.
            let outstanding = !case_verified && !duplicate && judged == "lead" && queue == "county";
            c.dispatched += 1;
            c.duplicates += u64::from(duplicate);
            c.withdrawn += u64::from(judged != "lead");
            c.escalated += u64::from(queue != "county");
            c.verified += u64::from(verified.is_some());
            c.real += u64::from(real == Some(true));
            c.illegal += u64::from(illegal);
            c.rectified += u64::from(rectified_in_year);
            c.counted += u64::from(illegal && !rectified_in_year);
            c.outstanding += u64::from(outstanding);
            c.overdue += u64::from(outstanding && deadline < as_of);
        }
        Ok(by.into_values().collect())
    }

    /// Write `report.csv` and `report.html` for `period` into `dir`.
    ///
    /// # Errors
    /// [`crate::Error::Ledger`] / [`crate::Error::Write`].
    pub fn report(&mut self, period: Period, as_of: Date, dir: &Path) -> Result<Vec<CountyCounts>> {
        let counts = self.counts(period, as_of)?;
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::write(dir, e))?;
        let mut total = CountyCounts {
            xzqdm: "total".into(),
            ..Default::default()
        };
        for c in &counts {
            total.add(c);
        }
        let rows: Vec<&CountyCounts> = counts.iter().chain([&total]).collect();
        let mut csv = COLUMNS.join(",") + "\n";
        for c in &rows {
            let v: Vec<String> = c.values().iter().map(u64::to_string).collect();
            let _ = writeln!(csv, "{},{}", c.xzqdm, v.join(","));
        }
        crate::output::write_text(&dir.join("report.csv"), &csv)?;
        crate::output::write_text(
            &dir.join("report.html"),
            &html(period, as_of, &rows, &self.path),
        )?;
        Ok(counts)
    }

    /// Write the verified leads (of `period`, or all) as `labels.gpkg` (layer `leads`: the
    /// package attributes the lead model learns from, the verdict, the type found) and
    /// `verdicts.csv` (`JCBH,verdict,TBLX`), the two inputs of `tuban learn`.
    ///
    /// # Errors
    /// [`crate::Error::Ledger`] when the ledger has no verified lead or cannot be read,
    /// [`crate::Error::Write`] naming the output.
    pub fn export(&mut self, period: Option<Period>, dir: &Path) -> Result<usize> {
        let pattern = match period {
            None => "%".to_string(),
            Some(Period::Quarter(q)) => q.to_string(),
            Some(Period::Year(y)) => format!("{y}Q_"),
        };
        let rows: Vec<Verified> = self
            .read(|tx| {
                tx.query(
                    "SELECT WKB(geom), JCBH, attrs, real, COALESCE(found_type, TBLX) FROM leads WHERE verified IS NOT NULL AND quarter LIKE ?1 ORDER BY fid",
                    vals![pattern],
                )
                .map_err(sql)
            })?
            .into_iter()
            .map(|r| Verified {
                geom: r.geom(0),
                jcbh: r.text(1).unwrap_or_default(),
                attrs: r.text(2).unwrap_or_default(),
                real: r.flag(3),
                tblx: r.text(4),
            })
            .collect();
        if rows.is_empty() {
            return Err(ledger_err(
                &self.path,
                "no verified lead to export (record field results with `tuban ledger feedback`)",
            ));
        }
        let attrs: Vec<serde_json::Map<String, Value>> = rows
            .iter()
            .map(|r| serde_json::from_str(&r.attrs).unwrap_or_default())
            .collect();
        // Columns: every attribute any lead has, typed by its values (numbers stay numbers).
        let mut cols: BTreeMap<String, Column> = BTreeMap::new();
        for a in &attrs {
            for (k, v) in a {
                let c = match v {
                    Value::Number(n) if n.is_i64() => Column::Integer,
                    Value::Number(_) => Column::Real,
                    Value::Null => continue,
                    _ => Column::Text,
                };
                let e = cols.entry(k.clone()).or_insert(c);
                if *e != c {
                    *e = if matches!(
                        (*e, c),
                        (Column::Integer, Column::Real) | (Column::Real, Column::Integer)
                    ) {
                        Column::Real
                    } else {
                        Column::Text
                    };
                }
            }
        }
        for k in ["JCBH", "verdict", "found_TBLX"] {
            cols.remove(k);
        }
        let mut fields: Vec<(&str, Column)> = vec![
            ("JCBH", Column::Text),
            ("verdict", Column::Text),
            ("found_TBLX", Column::Text),
        ];
        fields.extend(cols.iter().map(|(k, c)| (k.as_str(), *c)));
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::write(dir, e))?;
        let out = dir.join("labels.gpkg");
        let partial = crate::output::partial_path(&out);
        let _ = std::fs::remove_file(&partial);
        let projection = self.projection()?.unwrap_or_default();
        let mut w = GpkgWriter::create(&partial, "leads", &projection, &fields)?;
        let mut csv = String::from("JCBH,verdict,TBLX\n");
        for (r, a) in rows.iter().zip(&attrs) {
            let Some(geom) = &r.geom else {
                continue;
            };
            let verdict = if r.real { "real" } else { "false" };
            let found = r.tblx.clone().filter(|_| r.real);
            let mut values = vec![
                Sql::Text(r.jcbh.clone()),
                Sql::Text(verdict.into()),
                found.clone().map_or(Sql::Null, Sql::Text),
            ];
            values.extend(cols.iter().map(|(k, c)| match (a.get(k), c) {
                (Some(Value::Number(n)), Column::Integer) => {
                    n.as_i64().map_or(Sql::Null, Sql::Integer)
                }
                (Some(Value::Number(n)), _) => n.as_f64().map_or(Sql::Null, Sql::Real),
                (Some(Value::String(s)), Column::Text) => Sql::Text(s.clone()),
                (Some(Value::Bool(b)), Column::Text) => Sql::Text(b.to_string()),
                _ => Sql::Null,
            }));
            w.push(geom, values)?;
            let _ = writeln!(
                csv,
                "{},{verdict},{}",
                crate::output::package::csv_field(&r.jcbh),
                crate::output::package::csv_field(found.as_deref().unwrap_or(""))
            );
        }
        w.finish()?;
        std::fs::rename(&partial, &out).map_err(|e| crate::Error::write(&out, e))?;
        crate::output::write_text(&dir.join("verdicts.csv"), &csv)?;
        Ok(rows.len())
    }
}

/// A verified lead as exported.
struct Verified {
    geom: Option<geo::MultiPolygon<f64>>,
    jcbh: String,
    attrs: String,
    real: bool,
    /// The type found in the field, else the detected one.
    tblx: Option<String>,
}

fn html(period: Period, as_of: Date, rows: &[&CountyCounts], ledger: &Path) -> String {
    use crate::output::report::esc;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>tuban ledger {period}</title>\
         <style>body{{font:14px sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #bbb;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
         tr:last-child{{font-weight:bold;background:#eee}}.bad{{color:#b00}}</style></head><body>\
         <h1>Leads of {period}</h1><p>Ledger <code>{}</code>, as of {as_of}. Rectified within the year: \
         illegal changes corrected by the end of the lead's year, not counted in the annual assessment \
         (counted = illegal − rectified). Outstanding: the county's to verify (no lead of its case \
         verified, not a duplicate of a verified place, still a lead, not escalated); overdue: outstanding past the deadline.</p>\
         <table><thead><tr>",
        esc(&ledger.display().to_string())
    );
    for c in COLUMNS {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr></thead><tbody>");
    for c in rows {
        let _ = write!(h, "<tr><td>{}</td>", esc(&c.xzqdm));
        for (i, v) in c.values().iter().enumerate() {
            let cls = if i == 10 && *v > 0 {
                " class=\"bad\""
            } else {
                ""
            };
            let _ = write!(h, "<td{cls}>{v}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></body></html>\n");
    h
}
