//! Field verdicts: a CSV with one row per verified lead. The first column names the lead, its
//! header says how: `fid` (the feature id in the leads file) or a field of the leads layer
//! (`JCBH`, the lead number of a dispatch package). A `verdict` column says whether the change
//! is real (`real`, `true`, `yes`, `1`, `是`; or `false`, `no`, `0`, `否`), and an optional
//! `TBLX` (or `type`) column the type found in the field.
//!
//! ```text
//! fid,verdict,TBLX
//! 12,real,20
//! 13,false,
//! ```

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// One verified lead.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub key: String,
    pub real: bool,
    /// The type found in the field (None: not given).
    pub kind: Option<String>,
    /// The CSV line, for messages.
    pub line: usize,
}

/// A verdicts file.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdicts {
    pub path: PathBuf,
    /// `fid` or the leads layer's field the keys are values of.
    pub key_field: String,
    pub rows: Vec<Verdict>,
}

/// The key header that means the feature id.
pub const FID: &str = "fid";

/// A verdict word: real (`real`, `true`, `yes`, `1`, `是`, ...) or not (`false`, `no`, `0`, `否`,
/// ...); None for anything else.
pub fn parse_real(v: &str) -> Option<bool> {
    match v.trim().to_lowercase().as_str() {
        "real" | "true" | "yes" | "y" | "t" | "1" | "是" | "change" => Some(true),
        "false" | "no" | "n" | "f" | "0" | "否" | "pseudo" => Some(false),
        _ => None,
    }
}

/// A CSV reader as spreadsheets write the files: UTF-8 with or without a byte-order mark,
/// ragged rows, padded cells.
pub fn spreadsheet_csv(text: &str) -> csv::Reader<&[u8]> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes())
}

/// Parse a verdicts file's text.
///
/// # Errors
/// [`Error::Table`] naming the file and line: no `verdict` column, a verdict that is neither
/// real nor false, an empty or repeated key, a malformed row.
pub fn parse(text: &str, path: &Path) -> Result<Verdicts> {
    let fail = |line: usize, reason: String| Error::Table {
        path: path.into(),
        line,
        reason,
    };
    let mut r = spreadsheet_csv(text);
    let header: Vec<String> = r
        .headers()
        .map_err(|e| fail(1, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let col = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let key_field = header.first().cloned().unwrap_or_default();
    let verdict = col(&["verdict"]).filter(|&c| c > 0).ok_or_else(|| {
        fail(
            1,
            format!(
                "no \"verdict\" column (the header is {:?}); expected e.g. fid,verdict,TBLX",
                header.join(",")
            ),
        )
    })?;
    if key_field.is_empty() {
        return Err(fail(
            1,
            "the first column (the lead key) has no name".into(),
        ));
    }
    let kind = col(&["TBLX", "type"]).filter(|&c| c > 0);
    let mut rows = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for rec in r.records() {
        let rec =
            rec.map_err(|e| fail(e.position().map_or(0, |p| p.line() as usize), e.to_string()))?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let key = rec.get(0).unwrap_or("").to_string();
        if key.is_empty() {
            return Err(fail(line, format!("empty {key_field}")));
        }
        if let Some(first) = seen.insert(key.clone(), line) {
            return Err(fail(
                line,
                format!("{key_field} {key} has a verdict already (line {first})"),
            ));
        }
        let v = rec.get(verdict).unwrap_or("");
        let real = parse_real(v).ok_or_else(|| {
            fail(
                line,
                format!("verdict {v:?}: expected real/false (true/false, yes/no, 1/0, 是/否)"),
            )
        })?;
        let kind = kind
            .and_then(|c| rec.get(c))
            .filter(|k| !k.is_empty())
            .map(str::to_string);
        rows.push(Verdict {
            key,
            real,
            kind,
            line,
        });
    }
    if rows.is_empty() {
        return Err(fail(0, "no verdicts".into()));
    }
    Ok(Verdicts {
        path: path.into(),
        key_field,
        rows,
    })
}

/// Read and parse a verdicts file.
///
/// # Errors
/// The file cannot be read or is not UTF-8, or [`parse`]'s errors.
pub fn read(path: &Path) -> Result<Verdicts> {
    let bytes = std::fs::read(path).map_err(|e| Error::Table {
        path: path.into(),
        line: 0,
        reason: format!("cannot read: {e}"),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| Error::Table {
        path: path.into(),
        line: 0,
        reason: format!(
            "not UTF-8 (byte {}): save the CSV as UTF-8",
            e.utf8_error().valid_up_to()
        ),
    })?;
    parse(&text, path)
}

/// The CSV text of verdicts keyed by `key_field`.
///
/// # Panics
/// Never: writing to memory cannot fail.
pub fn to_csv(key_field: &str, rows: &[Verdict]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([key_field, "verdict", "TBLX"])
        .expect("writing to memory");
    for r in rows {
        let v = if r.real { "real" } else { "false" };
        w.write_record([r.key.as_str(), v, r.kind.as_deref().unwrap_or("")])
            .expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("UTF-8 fields")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_spreadsheets_write() {
        let v = parse(
            "\u{feff}JCBH,Verdict,TBLX,note\n\"330102-2024Q3-0001\",是,20,\"new, big\"\n\
             330102-2024Q3-0002, false ,,\n\n330102-2024Q3-0003,1\n",
            Path::new("v.csv"),
        )
        .unwrap();
        assert_eq!(v.key_field, "JCBH");
        assert_eq!(v.rows.len(), 3);
        assert_eq!(v.rows[0].kind.as_deref(), Some("20"));
        assert!(v.rows[0].real && !v.rows[1].real && v.rows[2].real);
        assert_eq!(v.rows[1].kind, None);
        let back = parse(&to_csv("JCBH", &v.rows), Path::new("w.csv")).unwrap();
        assert_eq!(
            back.rows
                .iter()
                .map(|r| (&r.key, r.real, &r.kind))
                .collect::<Vec<_>>(),
            v.rows
                .iter()
                .map(|r| (&r.key, r.real, &r.kind))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn bad_rows_name_the_file_and_line() {
        let e = |t: &str| parse(t, Path::new("v.csv")).unwrap_err().to_string();
        assert!(e("fid,TBLX\n1,20\n").contains("no \"verdict\" column"));
        assert_eq!(
            e("fid,verdict\n1,real\n2,maybe\n"),
            "v.csv:3: verdict \"maybe\": expected real/false (true/false, yes/no, 1/0, 是/否)"
        );
        assert!(
            e("fid,verdict\n1,real\n1,false\n")
                .contains("v.csv:3: fid 1 has a verdict already (line 2)")
        );
        assert!(e("fid,verdict\n,real\n").contains("v.csv:2: empty fid"));
        assert!(e("fid,verdict\n").contains("no verdicts"));
    }
}
