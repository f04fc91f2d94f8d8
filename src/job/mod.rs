//! The job file (`job.toml`): imagery, the user's reference layers and how their fields map to
//! the survey's meanings, the rules and the quarter. Parsed with spans so that every error, a
//! TOML syntax error, an unknown key, a missing file or a quarter that does not parse, names the
//! file and the line before any work starts.
//!
//! Paths are relative to the job file's folder. A layer `path` may also be an OGR connection
//! string (`PG:dbname=...`), which is passed through untouched.

mod date;

pub use date::{Date, Quarter};

use crate::error::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The job as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    /// The monitoring quarter, e.g. "2024Q2".
    pub quarter: Spanned<String>,
    /// Output folder (relative to the job file).
    pub out: Option<Spanned<String>>,
    pub imagery: Option<ImageryConf>,
    #[serde(default)]
    pub layers: LayersConf,
    #[serde(default)]
    pub rules: RulesConf,
    /// Typing rules (`[classify]`, see [`crate::classify::rules`]); absent: the built-in ones.
    pub classify: Option<Spanned<crate::classify::ClassifyConf>>,
    /// A lead model from `tuban learn` (relative to the job file), as `detect --lead-model`.
    pub lead_model: Option<Spanned<String>>,
}

/// The imagery of the two dates: one file (mosaic) per date, or lists of scenes with their
/// own footprints and dates (`[[imagery.before_scenes]] path = ..., date = ...`), mosaicked
/// into a VRT with the later-listed scene on top where scenes overlap.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageryConf {
    pub before: Option<Spanned<String>>,
    pub after: Option<Spanned<String>>,
    pub before_date: Option<Spanned<String>>,
    pub after_date: Option<Spanned<String>>,
    #[serde(default)]
    pub before_scenes: Vec<SceneConf>,
    #[serde(default)]
    pub after_scenes: Vec<SceneConf>,
    /// Band roles, as `--bands` takes them ("B=1,G=2,R=3,NIR=4").
    pub bands: Option<String>,
    /// A change model (ONNX) whose probability is the evidence, as `detect --model`.
    pub model: Option<Spanned<String>>,
    /// Its configuration (default: inside the model, or MODEL.toml beside it).
    pub model_config: Option<Spanned<String>>,
    /// Measure the shift between the dates and remove it before detection (`detect
    /// --coregister`).
    pub coregister: Option<bool>,
    /// Read blocks of 0 in every band as imagery, not fill (`detect --zero-is-data`).
    pub zero_is_data: Option<bool>,
}

/// One scene of a date.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SceneConf {
    pub path: Spanned<String>,
    pub date: Option<Spanned<String>>,
}

/// The reference layers; every one is optional, a missing one is simply not judged.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayersConf {
    pub dltb: Option<DltbConf>,
    pub basic_farmland: Option<CoverConf>,
    pub red_line: Option<CoverConf>,
    pub urban_boundary: Option<CoverConf>,
    pub approvals: Option<ApprovalsConf>,
    pub counties: Option<CountiesConf>,
}

/// Where a layer's features come from; shared by every layer kind.
#[derive(Clone, Debug)]
pub struct LayerSource {
    /// A file path (resolved against the job folder) or an OGR connection string.
    pub path: String,
    /// Layer name; `None` = the source's only layer, or the kind's conventional name.
    pub layer: Option<String>,
    /// CRS to assume when the layer has none, or to override a wrong one ("EPSG:4527").
    pub crs: Option<String>,
    /// Attribute encoding of a Shapefile without a .cpg ("GBK", "UTF-8").
    pub encoding: Option<String>,
    /// OGR attribute filter (SQL WHERE clause).
    pub filter: Option<String>,
    /// Line of the layer's `path` in the job file, for messages.
    pub line: usize,
}

macro_rules! source_fields {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            pub path: Spanned<String>,
            pub layer: Option<String>,
            pub crs: Option<String>,
            pub encoding: Option<String>,
            pub filter: Option<String>,
            $($(#[$fm])* pub $f: $t,)*
        }

        impl $name {
            fn source(&self, base: &Path, text: &str) -> LayerSource {
                LayerSource {
                    path: resolve(base, self.path.get_ref()),
                    layer: self.layer.clone(),
                    crs: self.crs.clone(),
                    encoding: self.encoding.clone(),
                    filter: self.filter.clone(),
                    line: line_of(text, self.path.span().start),
                }
            }
        }
    };
}

source_fields! {
    /// The land-use survey layer (地类图斑).
    pub struct DltbConf {
        /// Land-class code field (DLBM).
        pub class_field: Option<String>,
        /// Location unit code field (ZLDWDM); its first 6 digits are the county.
        pub unit_field: Option<String>,
        /// Class codes that count as arable land (default 0101, 0102, 0103 and the second
        /// survey's 011, 012, 013).
        pub arable_codes: Option<Vec<String>>,
        /// Deduction coefficient field (KCXS): class area = intersected area x (1 - KCXS).
        pub deduction_field: Option<String>,
    }
}

source_fields! {
    /// A layer whose covered area is measured (basic farmland, red line, urban boundary).
    pub struct CoverConf {
        /// A name field copied into the reasons (e.g. the red-line zone name).
        pub name_field: Option<String>,
    }
}

source_fields! {
    /// Approved construction land, temporary land use, facility agriculture records.
    pub struct ApprovalsConf {
        /// Approval date field: only approvals dated on or before the after-image date count.
        pub date_field: Option<String>,
        /// Approval document number field (PZWH), listed on the lead.
        pub number_field: Option<String>,
    }
}

source_fields! {
    /// County-level units (县级行政区).
    pub struct CountiesConf {
        /// 6-digit county code field (XZQDM).
        pub code_field: Option<String>,
        /// County name field (XZQMC).
        pub name_field: Option<String>,
    }
}

/// Rule thresholds; `[rules.types.CODE]` overrides them per change type (TBLX).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConf {
    pub basic_farmland_mu: Option<f64>,
    pub arable_mu: Option<f64>,
    pub red_line: Option<bool>,
    /// Red-line occupation below this many m² is a boundary sliver, not a lead.
    pub red_line_min_m2: Option<f64>,
    /// `run` warns for a county seen clear by both dates on less than this share of its area
    /// (0 to 1; default 0.9).
    pub min_clear_share: Option<f64>,
    /// "split" (default): a polygon crossing county borders becomes one lead per county;
    /// "majority": it goes whole to the county holding most of it.
    pub county_mode: Option<Spanned<String>>,
    /// Change types (TBLX) that are not construction and never make a lead.
    pub exclude_types: Option<Vec<String>>,
    #[serde(default)]
    pub types: BTreeMap<String, TypeRulesConf>,
}

/// Per-type threshold overrides.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeRulesConf {
    pub basic_farmland_mu: Option<f64>,
    pub arable_mu: Option<f64>,
    pub red_line: Option<bool>,
}

/// A parsed and checked job: every file exists, the quarter and dates parse.
#[derive(Clone, Debug)]
pub struct Job {
    /// The job file itself.
    pub path: PathBuf,
    pub quarter: Quarter,
    pub out: PathBuf,
    pub imagery: Option<Imagery>,
    pub dltb: Option<(LayerSource, DltbConf)>,
    pub basic_farmland: Option<(LayerSource, CoverConf)>,
    pub red_line: Option<(LayerSource, CoverConf)>,
    pub urban_boundary: Option<(LayerSource, CoverConf)>,
    pub approvals: Option<(LayerSource, ApprovalsConf)>,
    pub counties: Option<(LayerSource, CountiesConf)>,
    pub rules: RulesConf,
    /// Typing rules for the change polygons.
    pub classify: crate::classify::ClassifyConf,
    /// A model's class or probability raster that types the polygons instead of the rules.
    pub classes: Option<PathBuf>,
    /// What field verdicts taught (`tuban learn`), read and checked when the job is.
    pub lead_model: Option<crate::learn::LeadModelFile>,
}

/// One image file of a date and its acquisition date.
#[derive(Clone, Debug, PartialEq)]
pub struct SceneFile {
    pub path: PathBuf,
    pub date: Option<Date>,
}

/// Resolved imagery: the scenes of each date (one for a mosaic) and the dates that stand for
/// the whole date: the latest before scene (QSX default) and the earliest after scene (the
/// approval cut-off: an approval dated after a change was first seen does not legalise it).
#[derive(Clone, Debug)]
pub struct Imagery {
    pub before: Vec<SceneFile>,
    pub after: Vec<SceneFile>,
    pub before_date: Option<Date>,
    pub after_date: Option<Date>,
    pub bands: Option<String>,
    /// `detect --model` and `--model-config`.
    pub model: Option<PathBuf>,
    pub model_config: Option<PathBuf>,
    pub coregister: bool,
    pub zero_is_data: bool,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn resolve(base: &Path, p: &str) -> String {
    if is_connection(p) || Path::new(p).is_absolute() {
        p.to_string()
    } else {
        base.join(p).to_string_lossy().into_owned()
    }
}

/// OGR connection strings and virtual paths are not files.
pub fn is_connection(p: &str) -> bool {
    ["PG:", "MSSQL:", "OCI:", "MySQL:", "/vsi"]
        .iter()
        .any(|pre| p.starts_with(pre))
}

impl Job {
    /// Read and check a job file.
    ///
    /// # Errors
    /// [`Error::Job`] naming the file and line: TOML syntax, unknown keys, wrong types, a
    /// quarter or date that does not parse, a missing file, an unknown county mode.
    pub fn load(path: &Path) -> Result<Job> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Job {
            path: path.into(),
            line: 0,
            reason: e.to_string(),
        })?;
        Self::parse(path, &text)
    }

    /// Parse job text as if read from `path` (paths resolve against its folder).
    ///
    /// # Errors
    /// As [`Job::load`].
    pub fn parse(path: &Path, text: &str) -> Result<Job> {
        let fail = |line: usize, reason: String| Error::Job {
            path: path.into(),
            line,
            reason,
        };
        let file: JobFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            fail(line, e.message().trim().to_string())
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let at = |s: &Spanned<String>| line_of(text, s.span().start);
        let quarter = Quarter::parse(file.quarter.get_ref())
            .map_err(|r| fail(at(&file.quarter), format!("quarter: {r}")))?;
        let date = |d: &Option<Spanned<String>>, key: &str| -> Result<Option<Date>> {
            d.as_ref()
                .map(|s| Date::parse(s.get_ref()).map_err(|r| fail(at(s), format!("{key}: {r}"))))
                .transpose()
        };
        let existing = |s: &Spanned<String>, key: &str| -> Result<PathBuf> {
            let p = PathBuf::from(resolve(&base, s.get_ref()));
            if !is_connection(s.get_ref()) && !p.exists() {
                return Err(fail(
                    at(s),
                    format!("{key}: {} does not exist", p.display()),
                ));
            }
            Ok(p)
        };
        let imagery = match &file.imagery {
            None => None,
            Some(im) => {
                let mut sides = vec![];
                for (key, single, date_key, single_date, scenes) in [
                    (
                        "before",
                        &im.before,
                        "before_date",
                        &im.before_date,
                        &im.before_scenes,
                    ),
                    (
                        "after",
                        &im.after,
                        "after_date",
                        &im.after_date,
                        &im.after_scenes,
                    ),
                ] {
                    let list: Vec<SceneFile> = match (single, scenes.is_empty()) {
                        (Some(p), true) => vec![SceneFile {
                            path: existing(p, &format!("imagery.{key}"))?,
                            date: date(single_date, date_key)?,
                        }],
                        (None, false) => scenes
                            .iter()
                            .map(|sc| -> Result<SceneFile> {
                                Ok(SceneFile {
                                    path: existing(
                                        &sc.path,
                                        &format!("imagery.{key}_scenes.path"),
                                    )?,
                                    date: date(&sc.date, &format!("imagery.{key}_scenes.date"))?,
                                })
                            })
                            .collect::<Result<_>>()?,
                        (Some(p), false) => {
                            return Err(fail(
                                at(p),
                                format!("imagery: give {key} or {key}_scenes, not both"),
                            ));
                        }
                        (None, true) => {
                            return Err(fail(
                                0,
                                format!("imagery: {key} (a file) or {key}_scenes is missing"),
                            ));
                        }
                    };
                    sides.push(list);
                }
                let after = sides.pop().unwrap_or_default();
                let before = sides.pop().unwrap_or_default();
                let before_date = date(&im.before_date, "before_date")?
                    .or_else(|| before.iter().filter_map(|s| s.date).max());
                let after_date = date(&im.after_date, "after_date")?
                    .or_else(|| after.iter().filter_map(|s| s.date).min());
                if let (Some(b), Some(a)) = (before_date, after_date)
                    && a < b
                {
                    let line = im.after_date.as_ref().map_or(0, at);
                    return Err(fail(
                        line,
                        format!("after_date {a} is before before_date {b}"),
                    ));
                }
                // Leads are numbered under the quarter: imagery of another quarter would file
                // them under the wrong one. Allowed: the quarter itself, or imagery taken late
                // in the quarter before (cloud).
                if let Some(a) = after_date {
                    let (from, to) = (quarter.previous().span().0, quarter.span().1);
                    if a < from || a > to {
                        let line = im.after_date.as_ref().map_or(at(&file.quarter), at);
                        return Err(fail(
                            line,
                            format!(
                                "the after imagery is dated {a}, outside quarter {quarter} ({from} to {to}, the quarter before included): leads would be numbered under the wrong quarter; set quarter to the imagery's"
                            ),
                        ));
                    }
                }
                let model = im
                    .model
                    .as_ref()
                    .map(|m| existing(m, "imagery.model"))
                    .transpose()?;
                let model_config = im
                    .model_config
                    .as_ref()
                    .map(|m| existing(m, "imagery.model_config"))
                    .transpose()?;
                Some(Imagery {
                    before,
                    after,
                    before_date,
                    after_date,
                    bands: im.bands.clone(),
                    model,
                    model_config,
                    coregister: im.coregister.unwrap_or(false),
                    zero_is_data: im.zero_is_data.unwrap_or(false),
                })
            }
        };
        if let Some(m) = &file.rules.county_mode
            && !["split", "majority"].contains(&m.get_ref().as_str())
        {
            return Err(fail(
                at(m),
                format!(
                    "rules.county_mode {:?}: expected \"split\" or \"majority\"",
                    m.get_ref()
                ),
            ));
        }
        for (key, v) in [
            ("basic_farmland_mu", file.rules.basic_farmland_mu),
            ("arable_mu", file.rules.arable_mu),
            ("red_line_min_m2", file.rules.red_line_min_m2),
            ("min_clear_share", file.rules.min_clear_share),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(fail(
                    0,
                    format!("rules.{key} = {v}: expected a number >= 0"),
                ));
            }
        }
        if let Some(v) = file.rules.min_clear_share
            && v > 1.0
        {
            return Err(fail(
                0,
                format!("rules.min_clear_share = {v}: expected a share from 0 to 1"),
            ));
        }
        let out = match &file.out {
            Some(o) => PathBuf::from(resolve(&base, o.get_ref())),
            None => base.join("out"),
        };
        let (classify, classes) = match file.classify {
            None => (crate::classify::ClassifyConf::default(), None),
            Some(c) => {
                let line = line_of(text, c.span().start);
                let conf = c.into_inner();
                conf.check().map_err(|r| fail(line, r))?;
                let classes = conf
                    .classes
                    .as_ref()
                    .map(|p| {
                        let path = PathBuf::from(resolve(&base, p));
                        if path.exists() {
                            Ok(path)
                        } else {
                            Err(fail(
                                line,
                                format!("classify.classes: {} does not exist", path.display()),
                            ))
                        }
                    })
                    .transpose()?;
                (conf, classes)
            }
        };
        let l = file.layers;
        macro_rules! layer {
            ($f:ident, $key:literal) => {
                match l.$f {
                    None => None,
                    Some(c) => {
                        existing(&c.path, concat!("layers.", $key, ".path"))?;
                        Some((c.source(&base, text), c))
                    }
                }
            };
        }
        let lead_model = match &file.lead_model {
            Some(s) => {
                let p = existing(s, "lead_model")?;
                Some(
                    crate::learn::LeadModelFile::open(&p)
                        .map_err(|e| fail(at(s), format!("lead_model: {e}")))?,
                )
            }
            None => None,
        };
        Ok(Job {
            path: path.into(),
            quarter,
            out,
            imagery,
            dltb: layer!(dltb, "dltb"),
            basic_farmland: layer!(basic_farmland, "basic_farmland"),
            red_line: layer!(red_line, "red_line"),
            urban_boundary: layer!(urban_boundary, "urban_boundary"),
            approvals: layer!(approvals, "approvals"),
            counties: layer!(counties, "counties"),
            rules: file.rules,
            classify,
            classes,
            lead_model,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Job> {
        Job::parse(Path::new("/nonexistent/job.toml"), text)
    }

    fn message(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_job_parses() {
        let job = parse("quarter = \"2024Q2\"\n").unwrap();
        assert_eq!(job.quarter, Quarter { year: 2024, q: 2 });
        assert_eq!(job.out, PathBuf::from("/nonexistent/out"));
        assert!(job.dltb.is_none());
    }

    #[test]
    fn imagery_options_parse() {
        let im = |extra: &str| {
            parse(&format!(
                "quarter = \"2024Q2\"\n[imagery]\nbefore = \"/\"\nafter = \"/\"\n{extra}"
            ))
            .unwrap()
            .imagery
            .unwrap()
        };
        let plain = im("");
        assert!(!plain.coregister && !plain.zero_is_data);
        let set = im("coregister = true\nzero_is_data = true\n");
        assert!(set.coregister && set.zero_is_data);
        assert!(
            message("quarter = \"2024Q2\"\n[imagery]\nzero_is_dat = true\n")
                .contains("zero_is_dat")
        );
    }

    #[test]
    fn errors_name_the_line() {
        let m = message("quarter = \"2024Q2\"\n\n[rules]\narable_muu = 3\n");
        assert!(m.contains("job.toml:4"), "{m}");
        assert!(m.contains("arable_muu"), "{m}");
        let m = message("\nquarter = \"2024Q5\"\n");
        assert!(m.contains("job.toml:2") && m.contains("quarter"), "{m}");
        let m = message("quarter = \"2024Q1\"\n[layers.dltb]\npath = \"nope.gpkg\"\n");
        assert!(m.contains("job.toml:3") && m.contains("nope.gpkg"), "{m}");
        let m = message("quarter = \"2024Q1\"\n[rules]\ncounty_mode = \"half\"\n");
        assert!(m.contains("job.toml:3") && m.contains("majority"), "{m}");
        let m = message("quarter = 2024\n");
        assert!(m.contains("job.toml:1"), "{m}");
        // The [classify] table: a misspelt feature and a missing model raster, with the line.
        let m = message(
            "quarter = \"2024Q1\"\n\n[classify]\n[[classify.types]]\ntblx = \"20\"\nwhen = { shadw = [0, 1] }\n",
        );
        assert!(
            m.contains("job.toml:3") && m.contains("shadw") && m.contains("shadow"),
            "{m}"
        );
        let m = message("quarter = \"2024Q1\"\n[classify]\nclasses = \"model.tif\"\n");
        assert!(m.contains("job.toml:2") && m.contains("model.tif"), "{m}");
        let m = message("quarter = \"2024Q1\"\n[classify]\nscael = 255\n");
        assert!(m.contains("job.toml:3") && m.contains("scael"), "{m}");
        // A lead model that is not there, and one that is not a lead model.
        let m = message("quarter = \"2024Q1\"\nlead_model = \"leads.toml\"\n");
        assert!(
            m.contains("job.toml:2") && m.contains("lead_model") && m.contains("leads.toml"),
            "{m}"
        );
        let bogus = std::env::temp_dir().join(format!("tuban-bogus-{}.toml", std::process::id()));
        std::fs::write(&bogus, "quarter = 1\n").unwrap();
        let m = message(&format!(
            "quarter = \"2024Q1\"\nlead_model = {:?}\n",
            bogus.display().to_string()
        ));
        let _ = std::fs::remove_file(&bogus);
        assert!(
            m.contains("job.toml:2") && m.contains("not a tuban lead model"),
            "{m}"
        );
        // A change model that is not there.
        let m = message(
            "quarter = \"2024Q1\"\n[imagery]\nbefore = \"/\"\nafter = \"/\"\nmodel = \"m.onnx\"\n",
        );
        assert!(
            m.contains("job.toml:5") && m.contains("imagery.model") && m.contains("m.onnx"),
            "{m}"
        );
    }

    #[test]
    fn a_classify_table_keeps_the_built_in_rules_it_does_not_replace() {
        let job = parse("quarter = \"2024Q3\"\n[classify]\nscale = 255\n").unwrap();
        assert_eq!(job.classify.scale, Some(255.0));
        assert_eq!(
            job.classify.types,
            crate::classify::ClassifyConf::default().types
        );
        assert!(parse("quarter = \"2024Q3\"\n").unwrap().classes.is_none());
    }

    #[test]
    fn connection_strings_are_not_checked_as_files() {
        let job = parse(
            "quarter = \"2024Q3\"\n[layers.red_line]\npath = \"PG:dbname=survey\"\nlayer = \"stbhhx\"\n",
        )
        .unwrap();
        let (src, _) = job.red_line.unwrap();
        assert_eq!(src.path, "PG:dbname=survey");
        assert_eq!(src.line, 3);
    }
}
