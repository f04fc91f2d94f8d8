//! The rules that make a measured change polygon a lead (疑似违法图斑), and the reasons.
//!
//! A polygon of a construction type is a lead when its unapproved part occupies at least
//! `basic_farmland_mu` of permanent basic farmland, or at least `arable_mu` of arable land, or
//! (with `red_line` on) at least `red_line_min_m2` of the ecological red line, which also marks
//! it a key-area lead with top priority. Thresholds can differ per change type (TBLX).
//! Everything else is kept with the reason it does not qualify.

use crate::MU_M2;
use crate::job::RulesConf;
use std::collections::BTreeMap;

/// Thresholds for one change type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub basic_farmland_mu: f64,
    pub arable_mu: f64,
    pub red_line: bool,
}

/// How polygons crossing county borders are handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CountyMode {
    /// One piece per county, each numbered and dispatched by its county.
    Split,
    /// The whole polygon to the county holding most of it.
    Majority,
}

/// Resolved rules.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    pub default: Thresholds,
    pub per_type: BTreeMap<String, Thresholds>,
    pub red_line_min_m2: f64,
    pub exclude_types: Vec<String>,
    pub county_mode: CountyMode,
}

impl Default for Rules {
    /// The notice's thresholds: 5 mu of permanent basic farmland, 10 mu of arable land, any
    /// red-line occupation; polygons split at county borders.
    fn default() -> Self {
        Rules::from_conf(&RulesConf::default())
    }
}

impl Rules {
    /// Rules from the job's `[rules]` table, defaults filled in.
    pub fn from_conf(c: &RulesConf) -> Rules {
        let default = Thresholds {
            basic_farmland_mu: c.basic_farmland_mu.unwrap_or(5.0),
            arable_mu: c.arable_mu.unwrap_or(10.0),
            red_line: c.red_line.unwrap_or(true),
        };
        let per_type = c
            .types
            .iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    Thresholds {
                        basic_farmland_mu: t.basic_farmland_mu.unwrap_or(default.basic_farmland_mu),
                        arable_mu: t.arable_mu.unwrap_or(default.arable_mu),
                        red_line: t.red_line.unwrap_or(default.red_line),
                    },
                )
            })
            .collect();
        Rules {
            default,
            per_type,
            red_line_min_m2: c.red_line_min_m2.unwrap_or(1.0),
            exclude_types: c.exclude_types.clone().unwrap_or_default(),
            county_mode: match c.county_mode.as_ref().map(|m| m.get_ref().as_str()) {
                Some("majority") => CountyMode::Majority,
                _ => CountyMode::Split,
            },
        }
    }

    /// Thresholds for a change type (the defaults when it has none of its own).
    pub fn for_type(&self, tblx: Option<&str>) -> Thresholds {
        tblx.and_then(|t| self.per_type.get(t))
            .copied()
            .unwrap_or(self.default)
    }
}

/// What the overlay measured on one polygon, all in m².
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measures {
    /// Whole polygon (JCMJ).
    pub area_m2: f64,
    /// Covered by approvals dated on or before the after image (PZMJ).
    pub approved_m2: f64,
    /// Arable land in the unapproved part (GDMJ).
    pub arable_m2: f64,
    /// Permanent basic farmland in the unapproved part (YJJBNTMJ).
    pub basic_farmland_m2: f64,
    /// Ecological red line in the unapproved part (STHXMJ).
    pub red_line_m2: f64,
}

/// The judgement of one polygon.
#[derive(Clone, Debug, PartialEq)]
pub struct Ruling {
    pub lead: bool,
    /// Touches permanent basic farmland (SFYN).
    pub sfyn: bool,
    /// Touches the ecological red line (SFHX).
    pub sfhx: bool,
    /// 1 red line (key area), 2 basic farmland, 3 arable land; 0 for non-leads.
    pub priority: u8,
    /// Which rules fired, or why none did.
    pub reasons: String,
}

/// Areas below this are boundary slivers of float rounding, not occupation.
const SLIVER_M2: f64 = 0.01;

/// Judge one polygon of type `tblx` (None: untyped, judged with the default thresholds).
pub fn judge(rules: &Rules, tblx: Option<&str>, m: &Measures) -> Ruling {
    let t = rules.for_type(tblx);
    let mu = |a: f64| a / MU_M2;
    let mut fired = vec![];
    let mut missed = vec![];
    let mut priority = 0;
    if t.red_line && m.red_line_m2 >= rules.red_line_min_m2.max(SLIVER_M2) {
        fired.push(format!("red line {:.2} m2 (key area)", m.red_line_m2));
        priority = 1;
    }
    // Basic farmland before arable land: the first rule that fires sets the priority.
    for (name, measured_mu, threshold_mu, rank) in [
        (
            "basic farmland",
            mu(m.basic_farmland_m2),
            t.basic_farmland_mu,
            2,
        ),
        ("arable", mu(m.arable_m2), t.arable_mu, 3),
    ] {
        if measured_mu >= threshold_mu {
            fired.push(format!("{name} {measured_mu:.2} mu >= {threshold_mu} mu"));
            if priority == 0 {
                priority = rank;
            }
        } else {
            missed.push(format!("{name} {measured_mu:.2} mu < {threshold_mu} mu"));
        }
    }
    let excluded = tblx.is_some_and(|t| rules.exclude_types.iter().any(|e| e == t));
    let mut notes = vec![];
    if m.approved_m2 > SLIVER_M2 && m.area_m2 > 0.0 {
        notes.push(format!(
            "approved {:.1} % ({:.2} m2)",
            100.0 * (m.approved_m2 / m.area_m2).min(1.0),
            m.approved_m2
        ));
    }
    let lead = !fired.is_empty() && !excluded;
    let mut reasons = if excluded {
        vec![format!(
            "type {} is excluded by rules.exclude_types",
            tblx.unwrap_or("")
        )]
    } else if lead {
        fired
    } else {
        missed
    };
    reasons.extend(notes);
    Ruling {
        lead,
        sfyn: m.basic_farmland_m2 > SLIVER_M2,
        sfhx: m.red_line_m2 > SLIVER_M2,
        priority: if lead { priority } else { 0 },
        reasons: reasons.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measures(arable_mu: f64, pbf_mu: f64, red_m2: f64) -> Measures {
        Measures {
            area_m2: 20.0 * MU_M2,
            approved_m2: 0.0,
            arable_m2: arable_mu * MU_M2,
            basic_farmland_m2: pbf_mu * MU_M2,
            red_line_m2: red_m2,
        }
    }

    #[test]
    fn thresholds_are_inclusive_and_reasons_say_why() {
        let r = Rules::default();
        let v = judge(&r, None, &measures(10.0, 0.0, 0.0));
        assert!(v.lead && v.priority == 3 && !v.sfyn, "{v:?}");
        assert!(
            v.reasons.contains("arable 10.00 mu >= 10 mu"),
            "{}",
            v.reasons
        );
        let v = judge(&r, None, &measures(9.99, 4.99, 0.0));
        assert!(!v.lead && v.sfyn && v.priority == 0);
        assert_eq!(
            v.reasons,
            "basic farmland 4.99 mu < 5 mu; arable 9.99 mu < 10 mu"
        );
        let v = judge(&r, None, &measures(12.0, 5.0, 0.0));
        assert_eq!(v.priority, 2);
        let v = judge(&r, None, &measures(0.0, 0.0, 3.0));
        assert!(v.lead && v.sfhx && v.priority == 1);
        let v = judge(&r, None, &measures(0.0, 0.0, 0.5));
        assert!(
            !v.lead && v.sfhx,
            "a sub-m² sliver flags SFHX but is not a lead"
        );
    }

    #[test]
    fn per_type_thresholds_and_exclusions() {
        let conf: RulesConf = toml::from_str(
            "arable_mu = 10\nexclude_types = [\"YH\"]\n[types.GF]\narable_mu = 30\nred_line = false\n",
        )
        .unwrap();
        let r = Rules::from_conf(&conf);
        assert!(judge(&r, Some("20"), &measures(12.0, 0.0, 0.0)).lead);
        assert!(!judge(&r, Some("GF"), &measures(12.0, 0.0, 50.0)).lead);
        let v = judge(&r, Some("YH"), &measures(50.0, 50.0, 0.0));
        assert!(!v.lead && v.reasons.contains("excluded"), "{v:?}");
        assert_eq!(r.county_mode, CountyMode::Split);
    }

    #[test]
    fn approval_share_is_reported() {
        let mut m = measures(0.0, 0.0, 0.0);
        m.approved_m2 = m.area_m2;
        let v = judge(&Rules::default(), Some("20"), &m);
        assert!(!v.lead && v.reasons.contains("approved 100.0 %"), "{v:?}");
    }
}
