//! `tuban ledger`: the case ledger across quarters (see `tuban::ledger`).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tuban::job::{Date, Quarter};
use tuban::ledger::dispatch::{DispatchOptions, DispatchSummary, ImportMapping, read_mapping};
use tuban::ledger::rejudge::CorrectionInput;
use tuban::ledger::report::Period;
use tuban::ledger::{Ledger, default_actor, today};

/// Raw flags of `tuban ledger`. Every LEDGER is a GeoPackage file or a PostgreSQL + PostGIS
/// database URL (`postgres://user@host:port/db`).
#[derive(Debug, Args)]
pub struct LedgerArgs {
    #[command(subcommand)]
    pub command: LedgerCommand,
    /// Who is writing (recorded on every event; default: $USER).
    #[arg(long, global = true)]
    pub by: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Create an empty ledger (a GeoPackage file).
    Init { ledger: String },
    /// Add the leads of a `tuban run` output folder, linked to earlier leads at the same place.
    Dispatch {
        ledger: String,
        run: PathBuf,
        #[command(flatten)]
        link: LinkArgs,
    },
    /// Add polygons made outside tuban (provincial, annual survey) as leads of a quarter.
    Import {
        ledger: String,
        file: PathBuf,
        /// Where the polygons come from: provincial, annual, or another word.
        #[arg(long)]
        kind: String,
        /// The quarter they belong to (e.g. 2024Q3).
        #[arg(long)]
        quarter: String,
        /// Layer of FILE (default: its only layer).
        #[arg(long)]
        layer: Option<String>,
        /// Field mapping (TOML: `[fields]` JCBH = "...", XZQDM, TBLX, QSX, HSX).
        #[arg(long)]
        fields: Option<PathBuf>,
        #[command(flatten)]
        link: LinkArgs,
    },
    /// Record field verification results and case steps (CSV or an OGR table keyed by JCBH).
    Feedback {
        ledger: String,
        file: PathBuf,
        /// Verified date for rows without one.
        #[arg(long)]
        date: Option<String>,
    },
    /// Move a lead to the province's or ministry's queue (or back to the county's).
    Escalate {
        ledger: String,
        jcbh: String,
        /// county, province or ministry.
        #[arg(long)]
        to: String,
        #[arg(long)]
        reason: String,
    },
    /// Record a correction of a reference layer (land wrongly in basic farmland, a missing
    /// approval); `rejudge` then judges the leads it touches again.
    Correct {
        ledger: String,
        /// basic_farmland, red_line, urban_boundary, approvals or dltb.
        #[arg(long)]
        layer: String,
        /// remove (the area is not part of the layer) or add (it is, with --set values).
        #[arg(long)]
        action: String,
        /// The correction's polygons (any OGR source, any CRS).
        #[arg(long)]
        geometry: PathBuf,
        /// Field values of added polygons, e.g. --set PZRQ=2024-01-10 --set PZWH=苏政地[2024]12.
        #[arg(long = "set")]
        set: Vec<String>,
        #[arg(long)]
        reason: String,
        /// The document that proves it (kept by path; must exist).
        #[arg(long)]
        evidence: PathBuf,
        /// Date of the correction (default: today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Judge again every lead a recorded correction touches, through the overlay stage.
    Rejudge {
        ledger: String,
        /// The job whose layers the leads were judged with (default: each run's own job).
        #[arg(long)]
        job: Option<PathBuf>,
    },
    /// Per county counts of a quarter or a year: report.csv and report.html.
    Report {
        ledger: String,
        #[arg(long, conflicts_with = "year", required_unless_present = "year")]
        quarter: Option<String>,
        #[arg(long)]
        year: Option<u16>,
        /// Date overdue leads are counted on (default: today).
        #[arg(long)]
        as_of: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verified leads as training labels: labels.gpkg and verdicts.csv for `tuban learn`.
    Export {
        ledger: String,
        #[arg(long, conflicts_with = "year")]
        quarter: Option<String>,
        #[arg(long)]
        year: Option<u16>,
        #[arg(long)]
        out: PathBuf,
    },
    /// The audit trail of one lead (or of the whole ledger).
    History {
        ledger: String,
        jcbh: Option<String>,
    },
    /// Add a reviewer of the review app (`tuban serve`), or change one's role, county or
    /// password. The password is read from $TUBAN_PASSWORD, else from the first line of
    /// standard input; only its argon2 hash is stored.
    User {
        ledger: String,
        name: String,
        /// county (sees and edits one county's leads) or province (all counties whose code
        /// starts with --county; every county without it).
        #[arg(long)]
        role: String,
        /// The county's 6-digit code, or a province's leading digits (e.g. 32).
        #[arg(long, default_value = "")]
        county: String,
    },
}

/// How new leads are linked and when they are due.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// Share of the smaller polygon two leads must share to be the same place.
    #[arg(long, default_value_t = 0.3)]
    pub overlap: f64,
    /// Dispatch date (default: today).
    #[arg(long)]
    pub date: Option<String>,
    /// Verification deadline (default: the last day of the dispatch date's quarter).
    #[arg(long)]
    pub deadline: Option<String>,
}

fn date(v: &Option<String>, flag: &str) -> Result<Option<Date>> {
    v.as_deref()
        .map(|d| Date::parse(d).map_err(|e| anyhow::anyhow!("{flag}: {e}")))
        .transpose()
}

fn quarter(q: &str) -> Result<Quarter> {
    Quarter::parse(q).map_err(|e| anyhow::anyhow!("--quarter: {e}"))
}

fn period(q: &Option<String>, y: Option<u16>) -> Result<Option<Period>> {
    Ok(match (q, y) {
        (Some(q), _) => Some(Period::Quarter(quarter(q)?)),
        (None, Some(y)) => Some(Period::Year(y)),
        (None, None) => None,
    })
}

impl LinkArgs {
    fn options(&self) -> Result<DispatchOptions> {
        if !(self.overlap > 0.0 && self.overlap <= 1.0) {
            bail!("--overlap {}: a share in (0, 1]", self.overlap);
        }
        Ok(DispatchOptions {
            overlap: self.overlap,
            date: date(&self.date, "--date")?.unwrap_or_else(today),
            deadline: date(&self.deadline, "--deadline")?,
        })
    }
}

fn print_added(s: &DispatchSummary) {
    if s.already_dispatched {
        println!(
            "{}: already in the ledger, nothing added",
            s.source.display()
        );
        return;
    }
    println!(
        "{} {} leads of {} added from {}: {} linked to an earlier lead (QQJCBH), {} of them at a place already verified (duplicates)",
        s.added,
        s.kind,
        s.quarter,
        s.source.display(),
        s.linked,
        s.duplicates
    );
    if s.already_in > 0 {
        println!(
            "  {} leads were in the ledger already (same number, same polygon): skipped",
            s.already_in
        );
    }
    for (county, n) in &s.per_county {
        println!("  {county}: {n}");
    }
}

pub fn run(a: &LedgerArgs) -> Result<()> {
    let actor = a.by.clone().unwrap_or_else(default_actor);
    let open = |p: &String| Ledger::open(p, &actor);
    match &a.command {
        LedgerCommand::Init { ledger } => {
            Ledger::init(ledger, &actor)?;
            println!("created {ledger}");
        }
        LedgerCommand::Dispatch { ledger, run, link } => {
            let o = link.options()?;
            let s = open(ledger)?.dispatch(run, &o)?;
            print_added(&s);
        }
        LedgerCommand::Import {
            ledger,
            file,
            kind,
            quarter: q,
            layer,
            fields,
            link,
        } => {
            let o = link.options()?;
            let mapping = match fields {
                Some(f) => read_mapping(f)?,
                None => ImportMapping::default(),
            };
            let s =
                open(ledger)?.import(file, layer.as_deref(), kind, quarter(q)?, &mapping, &o)?;
            print_added(&s);
        }
        LedgerCommand::Feedback {
            ledger,
            file,
            date: d,
        } => {
            let s = open(ledger)?.feedback(file, date(d, "--date")?)?;
            println!(
                "{}: {} verdicts and {} case steps recorded, {} rows rejected",
                file.display(),
                s.verdicts,
                s.steps,
                s.rejected.len()
            );
            for p in &s.rejected {
                eprintln!("  {}:{}: {} {}", file.display(), p.line, p.jcbh, p.problem);
            }
        }
        LedgerCommand::Escalate {
            ledger,
            jcbh,
            to,
            reason,
        } => {
            open(ledger)?.escalate(jcbh, to, reason)?;
            println!("{jcbh}: now in the {to} queue");
        }
        LedgerCommand::Correct {
            ledger,
            layer,
            action,
            geometry,
            set,
            reason,
            evidence,
            date: d,
        } => {
            let mut fields = BTreeMap::new();
            for kv in set {
                let Some((k, v)) = kv.split_once('=') else {
                    bail!("--set {kv:?}: expected FIELD=VALUE");
                };
                fields.insert(k.trim().to_string(), v.trim().to_string());
            }
            let c = CorrectionInput {
                layer: layer.clone(),
                action: action.clone(),
                geometry: geometry.clone(),
                fields,
                reason: reason.clone(),
                evidence: evidence.clone(),
                date: date(d, "--date")?.unwrap_or_else(today),
            };
            let (id, touched) = open(ledger)?.correct(&c)?;
            println!(
                "correction {id} recorded ({action} {layer}); {touched} lead(s) touched: run `tuban ledger rejudge` to judge them again"
            );
        }
        LedgerCommand::Rejudge { ledger, job } => {
            let mut l = open(ledger)?;
            // Corrected copies of the layers around the leads, removed afterwards.
            let scratch =
                std::env::temp_dir().join(format!("tuban-rejudge-{}", std::process::id()));
            let s = l.rejudge(job.as_deref(), &scratch)?;
            let _ = std::fs::remove_dir_all(&scratch);
            if s.corrections.is_empty() {
                println!("no correction waits for a rejudgement");
                return Ok(());
            }
            let flipped: Vec<_> = s.flipped().collect();
            println!(
                "corrections {:?}: {} lead(s) judged again, {} changed",
                s.corrections,
                s.leads.len(),
                flipped.len()
            );
            for r in flipped {
                println!("  {}: {} -> {} ({})", r.jcbh, r.before, r.after, r.reasons);
            }
        }
        LedgerCommand::Report {
            ledger,
            quarter: q,
            year,
            as_of,
            out,
        } => {
            let p = period(q, *year)?.context("give --quarter or --year")?;
            let as_of = date(as_of, "--as-of")?.unwrap_or_else(today);
            let counts = open(ledger)?.report(p, as_of, out)?;
            println!(
                "{p}: {} counties; {} and {}",
                counts.len(),
                out.join("report.csv").display(),
                out.join("report.html").display()
            );
        }
        LedgerCommand::Export {
            ledger,
            quarter: q,
            year,
            out,
        } => {
            let n = open(ledger)?.export(period(q, *year)?, out)?;
            println!(
                "{n} verified leads: {} and {} (tuban learn --leads ... --verdicts ...)",
                out.join("labels.gpkg").display(),
                out.join("verdicts.csv").display()
            );
        }
        LedgerCommand::User {
            ledger,
            name,
            role,
            county,
        } => {
            let password = match std::env::var("TUBAN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("reading the password from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            open(ledger)?.set_user(name, role, county, &password)?;
            let scope = if county.is_empty() {
                "all counties"
            } else {
                county.as_str()
            };
            println!("{ledger}: reviewer {name} ({role} of {scope})");
        }
        LedgerCommand::History { ledger, jcbh } => {
            for e in open(ledger)?.history(jcbh.as_deref())? {
                println!(
                    "{} {} {} {}: {}",
                    e.at,
                    e.actor,
                    e.jcbh.as_deref().unwrap_or("-"),
                    e.kind,
                    e.detail
                );
            }
        }
    }
    Ok(())
}
