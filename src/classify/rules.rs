//! Typing rules: readable TOML tables of feature ranges that turn a polygon's features into a
//! TBLX code, a confidence and the reasons, or set it aside as a pseudo-change.
//!
//! ```toml
//! [[classify.pseudo]]
//! name = "cloud"
//! when = { bright_after = [0.3, inf], ndvi_after = [-inf, 0.2] }
//!
//! [[classify.types]]
//! tblx = "GEF"
//! why = "new dense turf"
//! when = { ndvi_after = [0.6, inf], green_after = [0.5, 1.0], area_m2 = [5000, inf] }
//! ```
//!
//! Pseudo-change rules are tried first, then the type rules, in file order; the first rule
//! whose every range holds wins. A feature the imagery cannot give (NDVI without a NIR band)
//! fails its range, so a rule that needs it never fires. No type rule: `other` (default "QT").
//!
//! Confidence: each range gives a membership `0.5 + d / (2 * soft)` clamped to [0, 1], where
//! `d` is the feature's distance inside the range (negative outside) and `soft` its scale
//! ([`soft_scale`]); a rule's score is its weakest membership. The winner's confidence is its
//! score (0.5 on an edge, 1 when every feature is well inside) lowered by the best score of a
//! rule of another type (a polygon that nearly fits two types is not a confident one):
//! `score * (1 - 0.5 * rival)`. For `other`, confidence is `1 - best score`.

use super::Measured;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The built-in rules, also the documentation of the format (`src/classify/default_rules.toml`).
pub const DEFAULT_RULES: &str = include_str!("default_rules.toml");

/// Every feature a rule may name, with what it is.
pub const FEATURES: [(&str, &str); 30] = [
    ("area_m2", "ground area, m²"),
    (
        "elong",
        "long / short side of the minimum rotated rectangle",
    ),
    ("length_m", "long side of the minimum rotated rectangle, m"),
    ("width_m", "mean width from the distance transform, m"),
    ("skel_m", "skeleton length: area / mean width, m"),
    (
        "slender",
        "skeleton length / mean width: high for roads, ~10 for squares",
    ),
    (
        "rectfill",
        "area / minimum rotated rectangle area: 1 for rectangles, 0.79 for ellipses",
    ),
    ("compact", "4 pi area / perimeter²"),
    ("convex", "area / convex hull area"),
    ("ndvi_before", "mean NDVI, before"),
    ("ndvi_after", "mean NDVI, after"),
    ("ndvi_drop", "ndvi_before - ndvi_after"),
    (
        "ndbi_after",
        "mean NDBI after, (SWIR - NIR) / (SWIR + NIR) (imagery with a SWIR band only)",
    ),
    ("ndbi_rise", "ndbi_after - ndbi_before: built-up land rises"),
    ("bright_before", "mean visible reflectance, before"),
    ("bright_after", "mean visible reflectance, after"),
    ("bright_rise", "bright_after - bright_before"),
    (
        "texture",
        "coefficient of variation of the after brightness",
    ),
    (
        "spread",
        "interquartile range / median of the after brightness: a texture a shadow over under a quarter of the polygon does not move",
    ),
    ("water_after", "share of water pixels after (NDVI < 0)"),
    ("water_before", "share of water pixels before"),
    (
        "green_after",
        "share of dense vegetation after (NDVI >= 0.6)",
    ),
    (
        "shadow",
        "share of the ring around the polygon that darkened",
    ),
    (
        "blue_red",
        "(B - R) / (B + R) after: > 0 for blue steel roofs, < 0 for soil",
    ),
    ("evidence", "mean change evidence"),
    (
        "rows",
        "1 for an array of rows (built change alternating with gaps: solar panels, greenhouse rows), else 0",
    ),
    (
        "road_m",
        "distance to the nearest existing road or railway in the land-use survey, m (needs --context)",
    ),
    (
        "village_m",
        "distance to the nearest village or rural homestead in the land-use survey, m (needs --context)",
    ),
    (
        "nir",
        "1 when the imagery has red and NIR bands (NDVI features exist), else 0",
    ),
    (
        "pixel_m",
        "ground size of a pixel, m (1 for imagery without georeference)",
    ),
];

/// The scale over which a range's membership goes from 0.5 to 1 (absolute, or for sizes a
/// share of the bound).
pub fn soft_scale(feature: &str, bound: f64) -> f64 {
    match feature {
        "area_m2" | "length_m" | "width_m" | "skel_m" => 0.25 * bound.abs().max(1.0),
        "road_m" | "village_m" => 0.25 * bound.abs().max(4.0),
        "elong" | "nir" | "pixel_m" | "rows" => 1.0,
        "slender" => 3.0,
        "rectfill" => 0.05,
        "bright_before" | "bright_after" | "bright_rise" => 0.03,
        "texture" | "spread" => 0.05,
        "evidence" => 0.25 * bound.abs().max(1e-6),
        _ => 0.1,
    }
}

/// One rule: a name (pseudo-changes) or a TBLX code (types), why, and the ranges.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub tblx: Option<String>,
    #[serde(default)]
    pub why: Option<String>,
    pub when: BTreeMap<String, [f64; 2]>,
}

impl Rule {
    fn label(&self) -> &str {
        self.tblx
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or("rule")
    }

    /// The rule's score for `m` (>= 0.5 exactly when every range holds).
    pub fn score(&self, m: &Measured) -> f64 {
        self.when
            .iter()
            .map(|(f, &[lo, hi])| match m.value(f) {
                Some(x) => {
                    let below = if lo.is_finite() {
                        (x - lo) / soft_scale(f, lo)
                    } else {
                        f64::INFINITY
                    };
                    let above = if hi.is_finite() {
                        (hi - x) / soft_scale(f, hi)
                    } else {
                        f64::INFINITY
                    };
                    (0.5 + below.min(above) / 2.0).clamp(0.0, 1.0)
                }
                None => 0.0,
            })
            .fold(1.0, f64::min)
    }

    /// "feature value in [lo, hi]" for each range, the reasons written on the polygon.
    fn explain(&self, m: &Measured) -> String {
        let ranges: Vec<String> = self
            .when
            .iter()
            .map(|(f, &[lo, hi])| {
                let v = m
                    .value(f)
                    .map_or("n/a".to_string(), |v| format!("{}", round3(v)));
                match (lo.is_finite(), hi.is_finite()) {
                    (true, true) => format!("{f} {v} in [{}, {}]", round3(lo), round3(hi)),
                    (true, false) => format!("{f} {v} >= {}", round3(lo)),
                    (false, true) => format!("{f} {v} <= {}", round3(hi)),
                    (false, false) => format!("{f} {v}"),
                }
            })
            .collect();
        let why = self
            .why
            .as_deref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        format!("{}{why}: {}", self.label(), ranges.join("; "))
    }
}

fn round3(v: f64) -> f64 {
    if v.abs() >= 100.0 {
        v.round()
    } else {
        (v * 1000.0).round() / 1000.0
    }
}

/// The `[classify]` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClassifyConf {
    /// Band value of reflectance 1.0 (default: from the data type: 255 for 8-bit, 10000 for
    /// 16-bit, 1 for float).
    #[serde(default)]
    pub scale: Option<f64>,
    /// Radius of the shadow ring, metres.
    #[serde(default = "default_ring_m")]
    pub shadow_ring_m: f64,
    /// TBLX of polygons no type rule fits.
    #[serde(default = "default_other")]
    pub other: String,
    /// A class or probability raster from a model, on the image grid, that types the polygons
    /// instead of the rules (relative to the file that names it).
    #[serde(default)]
    pub classes: Option<String>,
    /// Pseudo-change rules (default: the built-in ones).
    #[serde(default = "builtin_pseudo")]
    pub pseudo: Vec<Rule>,
    /// Type rules (default: the built-in ones).
    #[serde(default = "builtin_types")]
    pub types: Vec<Rule>,
    /// Where linear components are split into lines of different directions before typing.
    #[serde(default)]
    pub split: super::branches::SplitConf,
    /// Which land-use survey classes give the context features `road_m` and `village_m`.
    #[serde(default)]
    pub context: super::context::ContextConf,
}

fn builtin() -> ClassifyConf {
    #[derive(Deserialize)]
    struct Builtin {
        classify: BuiltinRules,
    }
    #[derive(Deserialize)]
    struct BuiltinRules {
        pseudo: Vec<Rule>,
        types: Vec<Rule>,
        split: super::branches::SplitConf,
        context: super::context::ContextConf,
    }
    let b: Builtin = toml::from_str::<toml::Value>(DEFAULT_RULES)
        .and_then(|v| v.try_into())
        .expect("the built-in rules parse (tested)");
    ClassifyConf {
        scale: None,
        shadow_ring_m: default_ring_m(),
        other: default_other(),
        classes: None,
        pseudo: b.classify.pseudo,
        types: b.classify.types,
        split: b.classify.split,
        context: b.classify.context,
    }
}

fn builtin_pseudo() -> Vec<Rule> {
    builtin().pseudo
}

fn builtin_types() -> Vec<Rule> {
    builtin().types
}

fn default_ring_m() -> f64 {
    6.0
}

fn default_other() -> String {
    "QT".into()
}

#[derive(Deserialize)]
struct File {
    classify: ClassifyConf,
}

impl Default for ClassifyConf {
    /// The built-in rules ([`DEFAULT_RULES`]).
    fn default() -> Self {
        builtin()
    }
}

impl ClassifyConf {
    /// Parse a TOML text with a `[classify]` table and check it.
    ///
    /// # Errors
    /// A message naming the problem (syntax with its line, unknown feature, empty or reversed
    /// range, a type rule without `tblx`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        f.classify.check()?;
        Ok(f.classify)
    }

    /// Check the rules.
    ///
    /// # Errors
    /// A message naming the rule and the problem.
    pub fn check(&self) -> Result<(), String> {
        if let Some(s) = self.scale
            && !(s.is_finite() && s > 0.0)
        {
            return Err(format!("classify.scale {s}: must be a positive number"));
        }
        if !(self.shadow_ring_m.is_finite() && self.shadow_ring_m >= 0.0) {
            return Err(format!(
                "classify.shadow_ring_m {}: must be a non-negative number",
                self.shadow_ring_m
            ));
        }
        self.split.check()?;
        self.context.check()?;
        for (kind, rules) in [("pseudo", &self.pseudo), ("types", &self.types)] {
            for r in rules {
                if kind == "types" && r.tblx.is_none() {
                    return Err(format!("a classify.types rule has no tblx: {:?}", r.when));
                }
                if kind == "pseudo" && r.name.is_none() {
                    return Err(format!("a classify.pseudo rule has no name: {:?}", r.when));
                }
                if r.when.is_empty() {
                    return Err(format!("classify rule {}: `when` is empty", r.label()));
                }
                for (f, &[lo, hi]) in &r.when {
                    if !FEATURES.iter().any(|(n, _)| n == f) {
                        let names: Vec<&str> = FEATURES.iter().map(|(n, _)| *n).collect();
                        return Err(format!(
                            "classify rule {}: unknown feature {f:?}; features: {}",
                            r.label(),
                            names.join(", ")
                        ));
                    }
                    if lo.is_nan() || hi.is_nan() || lo > hi {
                        return Err(format!(
                            "classify rule {}: range of {f} [{lo}, {hi}] is empty",
                            r.label()
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Decide one polygon.
    pub fn decide(&self, m: &Measured) -> Decision {
        if let Some(r) = self.pseudo.iter().find(|r| r.score(m) >= 0.5) {
            return Decision {
                tblx: String::new(),
                confidence: r.score(m),
                reasons: r.explain(m),
                pseudo: r.name.clone(),
            };
        }
        let scores: Vec<f64> = self.types.iter().map(|r| r.score(m)).collect();
        let winner = scores.iter().position(|&s| s >= 0.5);
        match winner {
            Some(k) => {
                let tblx = self.types[k].tblx.clone().unwrap_or_default();
                let rival = self
                    .types
                    .iter()
                    .zip(&scores)
                    .filter(|(r, _)| r.tblx.as_deref() != Some(tblx.as_str()))
                    .map(|(_, &s)| s)
                    .fold(0.0, f64::max);
                Decision {
                    confidence: scores[k] * (1.0 - 0.5 * rival),
                    reasons: self.types[k].explain(m),
                    tblx,
                    pseudo: None,
                }
            }
            None => {
                let best = scores
                    .iter()
                    .copied()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                Decision {
                    tblx: self.other.clone(),
                    confidence: 1.0 - best.map_or(0.0, |b| b.1),
                    reasons: match best {
                        Some((k, _)) => {
                            format!("no type rule holds; nearest {}", self.types[k].explain(m))
                        }
                        None => "no type rules".into(),
                    },
                    pseudo: None,
                }
            }
        }
    }
}

/// The outcome for one polygon.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// TBLX ("" for a pseudo-change).
    pub tblx: String,
    pub confidence: f64,
    /// The rule and the feature values behind the decision.
    pub reasons: String,
    /// The pseudo-change rule that set it aside.
    pub pseudo: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::features::Features;

    fn measured(area: f64, ndvi_after: f64) -> Measured {
        Measured {
            area_m2: area,
            features: Features {
                pixels: 10,
                ndvi_before: Some(0.7),
                ndvi_after: Some(ndvi_after),
                ..Features::default()
            },
            ..Measured::default()
        }
    }

    #[test]
    fn first_matching_rule_wins_with_a_graded_confidence() {
        let c = ClassifyConf::parse(
            r#"
            [classify]
            [[classify.pseudo]]
            name = "water"
            when = { ndvi_after = [-inf, -0.1] }
            [[classify.types]]
            tblx = "GEF"
            when = { ndvi_after = [0.6, inf], area_m2 = [5000, inf] }
            [[classify.types]]
            tblx = "20"
            when = { ndvi_after = [-inf, 0.2] }
            "#,
        )
        .unwrap();
        let golf = c.decide(&measured(20_000.0, 0.85));
        assert_eq!(golf.tblx, "GEF");
        assert!(golf.confidence > 0.9, "{golf:?}");
        assert!(
            golf.reasons.contains("ndvi_after 0.85 >= 0.6"),
            "{}",
            golf.reasons
        );
        // Just inside the area bound: membership near 0.5.
        let edge = c.decide(&measured(5100.0, 0.85));
        assert_eq!(edge.tblx, "GEF");
        assert!(edge.confidence < 0.6, "{edge:?}");
        assert_eq!(c.decide(&measured(100.0, 0.1)).tblx, "20");
        let w = c.decide(&measured(100.0, -0.3));
        assert_eq!(w.pseudo.as_deref(), Some("water"));
        let none = c.decide(&measured(100.0, 0.4));
        assert_eq!(none.tblx, "QT");
        assert!(none.reasons.starts_with("no type rule holds"));
        // No NIR: NDVI rules cannot fire.
        let mut rgb = measured(100.0, 0.1);
        rgb.features.ndvi_after = None;
        assert_eq!(c.decide(&rgb).tblx, "QT");
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let bad = |s: &str| ClassifyConf::parse(s).unwrap_err();
        assert!(
            bad("[classify]\n[[classify.types]]\ntblx = \"20\"\nwhen = { nvdi = [0, 1] }")
                .contains("unknown feature \"nvdi\"")
        );
        assert!(
            bad("[classify]\n[[classify.types]]\ntblx = \"20\"\nwhen = { area_m2 = [5, 1] }")
                .contains("is empty")
        );
        assert!(
            bad("[classify]\n[[classify.types]]\nwhen = { area_m2 = [1, 5] }").contains("no tblx")
        );
        assert!(bad("[classify]\nscael = 3").contains("unknown field"));
        assert!(bad("[classify.split]\nmax_turn_deg = 100").contains("at most 90"));
        assert!(bad("[classify.split]\npart_m2 = -1").contains("part_m2"));
        assert!(bad("[classify.split]\nmin_slendr = 3").contains("unknown field"));
    }

    #[test]
    fn built_in_rules_parse_and_fill_what_a_table_leaves_out() {
        let c = ClassifyConf::default();
        assert!(!c.types.is_empty() && !c.pseudo.is_empty());
        assert_eq!(ClassifyConf::parse(DEFAULT_RULES).unwrap(), c);
        // A table that only sets the scale keeps the built-in rules.
        let s = ClassifyConf::parse("[classify]\nscale = 255").unwrap();
        assert_eq!((s.scale, &s.types), (Some(255.0), &c.types));
        assert_eq!(s.split, super::super::branches::SplitConf::default());
        let off = ClassifyConf::parse("[classify.split]\nenabled = false").unwrap();
        assert!(!off.split.enabled && off.split.min_slender == c.split.min_slender);
    }
}
