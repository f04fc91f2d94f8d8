//! `tuban learn`: a lead model from field verdicts (see `tuban::learn`).

use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::PathBuf;
use tuban::learn::{LearnOptions, fit, read, verdicts};

/// Raw flags of `tuban learn`.
#[derive(Debug, Args)]
pub struct LearnArgs {
    /// A change layer tuban wrote (detect's changes.gpkg, a package's leads). Repeat, each
    /// with its own --verdicts, to learn from several scenes or quarters.
    #[arg(long = "leads", required_unless_present = "ledger")]
    pub leads: Vec<PathBuf>,
    /// The verdicts of the matching --leads (CSV: key,verdict[,TBLX]; the first column's
    /// header is `fid` or a field of the leads layer such as JCBH).
    #[arg(long = "verdicts", required_unless_present = "ledger")]
    pub verdicts: Vec<PathBuf>,
    /// Learn from the verified leads of a case ledger (a GeoPackage or postgres:// URL) as well:
    /// their field results and the measures their packages carry.
    #[arg(long)]
    pub ledger: Option<String>,
    /// With --ledger: only leads of this quarter (e.g. 2024Q3) or year.
    #[arg(long, requires = "ledger", conflicts_with = "year")]
    pub quarter: Option<String>,
    #[arg(long, requires = "ledger")]
    pub year: Option<u16>,
    /// Layer of the leads files (default: each file's first layer).
    #[arg(long)]
    pub layer: Option<String>,
    /// The model file to write (TOML), for `detect --lead-model` and a job's `lead_model`.
    #[arg(long)]
    pub out: PathBuf,
    /// Share of the real leads the rejection threshold keeps (cross-validated).
    #[arg(long, default_value_t = 0.95)]
    pub keep_recall: f64,
    /// Most boosting rounds (cross-validation picks how many).
    #[arg(long, default_value_t = 300)]
    pub rounds: usize,
    /// Tree depth.
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Shrinkage of each tree.
    #[arg(long, default_value_t = 0.05)]
    pub learning_rate: f64,
    /// Cross-validation folds (2 to 10).
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Seed of the fold assignment: the same seed and verdicts give the same model.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Validated options.
fn options(a: &LearnArgs) -> Result<LearnOptions> {
    if a.leads.len() != a.verdicts.len() {
        bail!(
            "{} --leads and {} --verdicts: give one verdicts file per leads file, in the same order",
            a.leads.len(),
            a.verdicts.len()
        );
    }
    if !(a.keep_recall > 0.0 && a.keep_recall <= 1.0) {
        bail!("--keep-recall {}: a share in (0, 1]", a.keep_recall);
    }
    if !(1..=5000).contains(&a.rounds) {
        bail!("--rounds {}: from 1 to 5000", a.rounds);
    }
    if !(1..=8).contains(&a.depth) {
        bail!("--depth {}: from 1 to 8", a.depth);
    }
    if !(a.learning_rate > 0.0 && a.learning_rate <= 1.0) {
        bail!("--learning-rate {}: in (0, 1]", a.learning_rate);
    }
    if !(2..=10).contains(&a.folds) {
        bail!("--folds {}: from 2 to 10", a.folds);
    }
    Ok(LearnOptions {
        keep_recall: a.keep_recall,
        max_rounds: a.rounds,
        depth: a.depth,
        learning_rate: a.learning_rate,
        folds: a.folds,
        seed: a.seed,
    })
}

pub fn run(a: &LearnArgs) -> Result<()> {
    let o = options(a)?;
    let mut all = Vec::new();
    let mut absent: Option<Vec<String>> = None;
    let mut pairs: Vec<(PathBuf, PathBuf, Option<String>)> = a
        .leads
        .iter()
        .zip(&a.verdicts)
        .map(|(l, v)| (l.clone(), v.clone(), a.layer.clone()))
        .collect();
    // The ledger's verified leads, through the same files `tuban ledger export` writes.
    let scratch = std::env::temp_dir().join(format!("tuban-learn-{}", std::process::id()));
    if let Some(target) = &a.ledger {
        let period = match (&a.quarter, a.year) {
            (Some(q), _) => Some(tuban::ledger::report::Period::Quarter(
                tuban::job::Quarter::parse(q).map_err(|e| anyhow::anyhow!("--quarter: {e}"))?,
            )),
            (None, Some(y)) => Some(tuban::ledger::report::Period::Year(y)),
            (None, None) => None,
        };
        let mut l = tuban::ledger::Ledger::open(target, &tuban::ledger::default_actor())?;
        l.export(period, &scratch)?;
        pairs.push((
            scratch.join("labels.gpkg"),
            scratch.join("verdicts.csv"),
            Some("leads".into()),
        ));
    }
    let result = learn_from(&pairs, &mut all, &mut absent);
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    finish(a, &o, &all, absent)
}

/// Join each leads file with its verdicts; every verified lead into `all`.
fn learn_from(
    pairs: &[(PathBuf, PathBuf, Option<String>)],
    all: &mut Vec<tuban::learn::leads::Verified>,
    absent: &mut Option<Vec<String>>,
) -> Result<()> {
    for (leads, v, layer) in pairs {
        let v = verdicts::read(v)?;
        let j = read::join(leads, layer.as_deref(), &v)?;
        eprintln!(
            "{}: {} leads, {} with a verdict ({} real), {} without",
            leads.display(),
            j.features,
            j.leads.len(),
            j.leads.iter().filter(|l| l.real).count(),
            j.unjudged
        );
        *absent = Some(match absent.take() {
            None => j.absent,
            Some(a) => a.into_iter().filter(|f| j.absent.contains(f)).collect(),
        });
        all.extend(j.leads);
    }
    Ok(())
}

/// Fit, write and report the model.
fn finish(
    a: &LearnArgs,
    o: &LearnOptions,
    all: &[tuban::learn::leads::Verified],
    absent: Option<Vec<String>>,
) -> Result<()> {
    if let Some(a) = absent.filter(|a| !a.is_empty()) {
        eprintln!(
            "note: no leads file has {}: the model learns without them",
            a.join(", ")
        );
    }
    let model = fit(all, o).map_err(|e| anyhow::anyhow!("{e}"))?;
    tuban::output::write_text(&a.out, &model.to_toml())
        .with_context(|| format!("--out {}", a.out.display()))?;
    let r = &model.report;
    println!(
        "{} verified leads ({} real, {} false), {}-fold cross-validation, {} rounds",
        r.leads, r.real, r.false_leads, r.folds, r.rounds
    );
    println!(
        "held out: AUC {:.3}; threshold p(real) >= {:.3} keeps {:.1} % of real leads and sets aside {:.1} % of false ones (precision {:.3} -> {:.3})",
        r.auc,
        model.threshold,
        100.0 * r.recall_kept,
        100.0 * r.false_removed,
        r.precision_before,
        r.precision_after
    );
    if r.typed > 0 {
        println!(
            "types of {} verified real leads, held out: dispatched TBLX right {:.1} %, type model {:.1} % ({})",
            r.typed,
            100.0 * r.type_accuracy_rules,
            100.0 * r.type_accuracy_model,
            if model.kind.is_some() {
                "the model types the leads"
            } else {
                "not better: the rules keep typing"
            }
        );
    }
    let mut top: Vec<(&String, &f64)> = r.top_features.iter().collect();
    top.sort_by(|a, b| b.1.total_cmp(a.1));
    let top: Vec<String> = top.iter().map(|(f, s)| format!("{f} {s:.3}")).collect();
    println!("split gain: {}", top.join(", "));
    println!("wrote {}", a.out.display());
    Ok(())
}
