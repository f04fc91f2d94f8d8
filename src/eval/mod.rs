//! Scoring a prediction against truth, the way enforcement users count: pixels, and objects
//! (found / false alarm, overall, per change type, and above an area threshold in mu).
//!
//! Inputs are [`objects::ObjectLayer`]s on one grid (see [`io`] for reading rasters and vector
//! layers). Rules: a truth object is *found* when predicted change covers at least `cover` of
//! its pixels (default 50 %); a predicted object is a *false alarm* when truth covers less than
//! `cover` of it. The type a found object was given is the type of the predicted object that
//! overlaps it most.

#[cfg(feature = "gdal")]
pub mod io;
pub mod metrics;
pub mod objects;

use metrics::{
    Object, ObjectScores, PixelCounts, PixelScores, object_scores, type_confusion,
    typed_object_scores,
};
use objects::ObjectLayer;
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::MU_M2;

/// How to score.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct EvalOptions {
    /// Coverage fraction for "found" and "not a false alarm".
    pub cover: f64,
    /// Also score only objects of at least this area (mu); 0 skips that subset.
    pub min_area_mu: f64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            cover: 0.5,
            min_area_mu: 0.0,
        }
    }
}

/// Per change type: recall over truth objects of the type; precision over predicted objects of
/// the type (only when the prediction carries types). With a typed prediction a truth object
/// is found only by predicted change of its own type, and a predicted object is right only over
/// truth of its own type.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TypeScores {
    pub truth_objects: u64,
    pub found: u64,
    pub recall: f64,
    pub predicted_objects: Option<u64>,
    pub precision: Option<f64>,
    pub f1: Option<f64>,
}

/// The full report (the JSON of `tuban eval --json`; keys are stable).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub options: EvalOptions,
    pub pixel_area_m2: f64,
    pub pixel_counts: PixelCounts,
    pub pixel: PixelScores,
    pub objects: ObjectScores,
    /// Objects of at least `min_area_mu` only (truth and predicted alike).
    pub objects_above_threshold: Option<ObjectScores>,
    pub per_type: BTreeMap<String, TypeScores>,
    /// The same over objects of at least `min_area_mu` (None without it).
    pub per_type_above_threshold: Option<BTreeMap<String, TypeScores>>,
    /// Found truth objects: truth type -> assigned type -> count.
    pub type_confusion: BTreeMap<String, BTreeMap<String, u64>>,
    /// Recall of truth objects by their area ([`SIZE_BINS_MU`]): the smallest object found
    /// reliably.
    pub recall_by_size: Vec<SizeRecall>,
}

/// Lower edges (mu) of the object size classes of [`Report::recall_by_size`]: under 1 mu (a
/// house), 1-5, 5-10 (the basic-farmland threshold), 10-20 (the arable one), 20 and more.
pub const SIZE_BINS_MU: [f64; 5] = [0.0, 1.0, 5.0, 10.0, 20.0];

/// Recall over the truth objects of one size class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SizeRecall {
    pub min_mu: f64,
    /// None for the last class.
    pub max_mu: Option<f64>,
    pub truth_objects: u64,
    pub found: u64,
    pub recall: f64,
}

/// Score `pred` against `truth` on the same grid. `scored` (when given) marks the pixels that
/// count; the others (unlabelled) are ignored everywhere, objects included.
pub fn evaluate(
    truth: &ObjectLayer,
    pred: &ObjectLayer,
    scored: Option<&[bool]>,
    pixel_area_m2: f64,
    opts: EvalOptions,
) -> Report {
    let n = truth.ids.len();
    let mut counts = PixelCounts::default();
    let blank = |layer: &ObjectLayer| -> Vec<Object> {
        layer
            .kinds
            .iter()
            .map(|k| Object {
                kind: k.clone(),
                pixels: 0,
                covered: 0,
                covered_same: 0,
                area_m2: 0.0,
                matched_kind: None,
            })
            .collect()
    };
    let (mut t_obj, mut p_obj) = (blank(truth), blank(pred));
    let mut overlap: FxHashMap<(u32, u32), u64> = FxHashMap::default();
    // Types as small integers shared by both sides, so the pixel loop compares numbers (one
    // id per object, not a truth x prediction table).
    let typed = pred.typed();
    fn intern<'a>(kinds: &'a [String], ids: &mut FxHashMap<&'a str, u32>) -> Vec<u32> {
        kinds
            .iter()
            .map(|k| {
                let next = ids.len() as u32;
                *ids.entry(k.as_str()).or_insert(next)
            })
            .collect()
    }
    let mut ids = FxHashMap::default();
    let t_kind = intern(&truth.kinds, &mut ids);
    let p_kind = intern(&pred.kinds, &mut ids);
    for i in 0..n {
        if scored.is_some_and(|s| !s[i]) {
            continue;
        }
        let (t, p) = (truth.ids[i], pred.ids[i]);
        match (t != 0, p != 0) {
            (true, true) => counts.tp += 1,
            (false, true) => counts.fp += 1,
            (true, false) => counts.fn_ += 1,
            (false, false) => counts.tn += 1,
        }
        if t != 0 {
            let o = &mut t_obj[t as usize - 1];
            o.pixels += 1;
            o.covered += u64::from(p != 0);
        }
        if p != 0 {
            let o = &mut p_obj[p as usize - 1];
            o.pixels += 1;
            o.covered += u64::from(t != 0);
        }
        if t != 0 && p != 0 {
            *overlap.entry((t, p)).or_default() += 1;
            if typed && t_kind[t as usize - 1] == p_kind[p as usize - 1] {
                t_obj[t as usize - 1].covered_same += 1;
                p_obj[p as usize - 1].covered_same += 1;
            }
        }
    }
    // The predicted object overlapping each truth object most (ties: the lower id).
    let mut best: FxHashMap<u32, (u64, u32)> = FxHashMap::default();
    for (&(t, p), &c) in &overlap {
        let e = best.entry(t).or_insert((0, u32::MAX));
        if c > e.0 || (c == e.0 && p < e.1) {
            *e = (c, p);
        }
    }
    for (t, (_, p)) in best {
        t_obj[t as usize - 1].matched_kind = Some(pred.kinds[p as usize - 1].clone());
    }
    for o in t_obj.iter_mut().chain(p_obj.iter_mut()) {
        o.area_m2 = o.pixels as f64 * pixel_area_m2;
    }
    // Objects entirely outside the scored area do not exist for scoring.
    t_obj.retain(|o| o.pixels > 0);
    p_obj.retain(|o| o.pixels > 0);
    let all_t: Vec<&Object> = t_obj.iter().collect();
    let all_p: Vec<&Object> = p_obj.iter().collect();
    let objects = object_scores(&all_t, &all_p, opts.cover);
    let objects_above_threshold = (opts.min_area_mu > 0.0).then(|| {
        let min = opts.min_area_mu * MU_M2;
        let t: Vec<&Object> = t_obj.iter().filter(|o| o.area_m2 >= min).collect();
        let p: Vec<&Object> = p_obj.iter().filter(|o| o.area_m2 >= min).collect();
        object_scores(&t, &p, opts.cover)
    });
    let typed_pred = pred.typed();
    let per_type = type_scores(&t_obj, &p_obj, typed_pred, opts.cover, 0.0);
    let per_type_above_threshold = (opts.min_area_mu > 0.0).then(|| {
        type_scores(
            &t_obj,
            &p_obj,
            typed_pred,
            opts.cover,
            opts.min_area_mu * MU_M2,
        )
    });
    Report {
        options: opts,
        pixel_area_m2,
        pixel_counts: counts,
        pixel: counts.scores(),
        objects,
        objects_above_threshold,
        per_type,
        per_type_above_threshold,
        type_confusion: type_confusion(&t_obj, opts.cover),
        recall_by_size: SIZE_BINS_MU
            .iter()
            .enumerate()
            .map(|(k, &lo)| {
                let hi = SIZE_BINS_MU.get(k + 1).copied();
                let t: Vec<&Object> = t_obj
                    .iter()
                    .filter(|o| {
                        let mu = o.area_m2 / MU_M2;
                        mu >= lo && hi.is_none_or(|h| mu < h)
                    })
                    .collect();
                let s = object_scores(&t, &all_p, opts.cover);
                SizeRecall {
                    min_mu: lo,
                    max_mu: hi,
                    truth_objects: s.truth_objects,
                    found: s.found,
                    recall: s.recall,
                }
            })
            .collect(),
    }
}

/// Scores per type over the objects of at least `min_m2`. With a typed prediction, coverage
/// counts only change of the same type ([`typed_object_scores`]).
fn type_scores(
    t_obj: &[Object],
    p_obj: &[Object],
    typed_pred: bool,
    cover: f64,
    min_m2: f64,
) -> BTreeMap<String, TypeScores> {
    let mut per_type = BTreeMap::new();
    let big = |o: &&Object| o.area_m2 >= min_m2;
    let kinds: std::collections::BTreeSet<&String> = t_obj
        .iter()
        .filter(big)
        .map(|o| &o.kind)
        .chain(
            p_obj
                .iter()
                .filter(big)
                .map(|o| &o.kind)
                .filter(|_| typed_pred),
        )
        .collect();
    for k in kinds {
        let t: Vec<&Object> = t_obj.iter().filter(big).filter(|o| &o.kind == k).collect();
        let p: Vec<&Object> = p_obj.iter().filter(big).filter(|o| &o.kind == k).collect();
        let s = if typed_pred {
            typed_object_scores(&t, &p, cover)
        } else {
            object_scores(&t, &p, cover)
        };
        per_type.insert(
            k.clone(),
            TypeScores {
                truth_objects: s.truth_objects,
                found: s.found,
                recall: s.recall,
                predicted_objects: typed_pred.then_some(s.predicted_objects),
                precision: typed_pred.then_some(s.precision),
                f1: typed_pred.then_some(s.f1),
            },
        );
    }
    per_type
}

/// The human-readable table of a report.
pub fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let p = &r.pixel;
    let _ = writeln!(
        s,
        "pixels   P {:.3}  R {:.3}  F1 {:.3}  IoU {:.3}  OA {:.3}  kappa {:.3}  ({} px scored)",
        p.precision, p.recall, p.f1, p.iou, p.overall_accuracy, p.kappa, p.scored_px
    );
    let row = |s: &mut String, name: &str, o: &ObjectScores| {
        let _ = writeln!(
            s,
            "{name:<16} truth {:>6} found {:>6}  pred {:>6} false {:>6}  R {:.3} P {:.3} F1 {:.3}  area R {:.3} P {:.3}",
            o.truth_objects,
            o.found,
            o.predicted_objects,
            o.false_alarms,
            o.recall,
            o.precision,
            o.f1,
            o.recall_area,
            o.precision_area
        );
    };
    let _ = writeln!(
        s,
        "objects (found: >= {:.0} % of a truth object detected; false alarm: < {:.0} % of a prediction is truth)",
        100.0 * r.options.cover,
        100.0 * r.options.cover
    );
    row(&mut s, "all", &r.objects);
    if let Some(o) = &r.objects_above_threshold {
        row(&mut s, &format!(">= {} mu", r.options.min_area_mu), o);
    }
    let tables = std::iter::once(("per type".to_string(), &r.per_type)).chain(
        r.per_type_above_threshold
            .iter()
            .map(|t| (format!("per type, >= {} mu", r.options.min_area_mu), t)),
    );
    for (title, table) in tables.filter(|(_, t)| t.keys().any(|k| !k.is_empty())) {
        let _ = writeln!(s, "{title}");
        for (k, t) in table {
            let name = if k.is_empty() {
                "(untyped)"
            } else {
                k.as_str()
            };
            let prec = match (t.precision, t.f1, t.predicted_objects) {
                (Some(p), Some(f), Some(n)) => format!("pred {n:>6}  P {p:.3} F1 {f:.3}"),
                _ => "(prediction carries no types)".to_string(),
            };
            let _ = writeln!(
                s,
                "  {name:<14} truth {:>6} found {:>6}  R {:.3}  {prec}",
                t.truth_objects, t.found, t.recall
            );
        }
    }
    if r.type_confusion.len() > 1 || r.type_confusion.keys().any(|k| !k.is_empty()) {
        let _ = writeln!(s, "type confusion (found truth objects: truth -> assigned)");
        for (t, row) in &r.type_confusion {
            let cells: Vec<String> = row
                .iter()
                .map(|(p, c)| format!("{}:{c}", if p.is_empty() { "-" } else { p }))
                .collect();
            let _ = writeln!(
                s,
                "  {:<14} {}",
                if t.is_empty() { "-" } else { t },
                cells.join("  ")
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use objects::components;

    fn layer(rows: &[&str]) -> (ObjectLayer, usize) {
        let w = rows[0].len();
        let codes: Vec<u32> = rows
            .iter()
            .flat_map(|r| {
                r.bytes()
                    .map(|b| if b == b'.' { 0 } else { (b - b'0') as u32 })
            })
            .collect();
        (components(&codes, w, &FxHashMap::default()), w)
    }

    #[test]
    fn perfect_prediction() {
        let (t, _) = layer(&["11..", "11..", "...2", "...2"]);
        let r = evaluate(&t, &t, None, 1.0, EvalOptions::default());
        assert_eq!(r.pixel.f1, 1.0);
        assert_eq!(
            (r.objects.found, r.objects.false_alarms, r.objects.f1),
            (2, 0, 1.0)
        );
        assert_eq!(r.type_confusion["1"]["1"], 1);
    }

    #[test]
    fn empty_prediction() {
        let (t, _) = layer(&["11..", "11.."]);
        let (p, _) = layer(&["....", "...."]);
        let r = evaluate(&t, &p, None, 1.0, EvalOptions::default());
        assert_eq!(
            (
                r.pixel.recall,
                r.objects.recall,
                r.objects.predicted_objects
            ),
            (0.0, 0.0, 0)
        );
    }

    #[test]
    fn shifted_split_and_merged_objects() {
        // Truth: two 2x4 blocks. Prediction: the first shifted by one column (75 % covered:
        // found), the second split in two pieces covering 75 % (each piece 100 % truth), plus
        // a false alarm.
        let (t, _) = layer(&["1111....1111", "1111....1111", "............"]);
        let (p, _) = layer(&[".1111...11.1", ".1111...11.1", "......1....."]);
        let r = evaluate(&t, &p, None, 1.0, EvalOptions::default());
        assert_eq!(r.objects.truth_objects, 2);
        assert_eq!(r.objects.found, 2);
        assert_eq!(r.objects.predicted_objects, 4);
        assert_eq!(r.objects.false_alarms, 1);
        // Merged: one prediction covering both truth objects finds both.
        let (m, _) = layer(&["111111111111", "111111111111", "............"]);
        let r = evaluate(&t, &m, None, 1.0, EvalOptions::default());
        assert_eq!((r.objects.found, r.objects.false_alarms), (2, 0));
        // With a 90 % rule both 75 %-covered objects are missed, and the shifted prediction
        // (75 % truth) becomes a false alarm too.
        let r = evaluate(
            &t,
            &p,
            None,
            1.0,
            EvalOptions {
                cover: 0.9,
                min_area_mu: 0.0,
            },
        );
        assert_eq!((r.objects.found, r.objects.false_alarms), (0, 2));
    }

    #[test]
    fn unscored_pixels_and_area_threshold() {
        let (t, _) = layer(&["11....1", "11....."]);
        let (p, _) = layer(&["......1", "......."]);
        let scored: Vec<bool> = (0..14).map(|i| i % 7 != 0).collect();
        let r = evaluate(&t, &p, Some(&scored), 1.0, EvalOptions::default());
        assert_eq!(r.pixel.scored_px, 12);
        // 1 px = 200 m²: the 4-px object is 1.2 mu, the 1-px object 0.3 mu.
        let r = evaluate(
            &t,
            &p,
            None,
            200.0,
            EvalOptions {
                cover: 0.5,
                min_area_mu: 1.0,
            },
        );
        let a = r.objects_above_threshold.unwrap();
        assert_eq!((a.truth_objects, a.predicted_objects, a.found), (1, 0, 0));
    }
}
