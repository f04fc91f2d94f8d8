//! Scores from counts: pixel confusion (precision, recall, F1, IoU, overall accuracy, Cohen's
//! kappa) and object matching (a truth object is found when predictions cover at least
//! `cover` of its pixels; a predicted object is a false alarm when under `cover` of it is
//! truth).

use serde::Serialize;
use std::collections::BTreeMap;

/// Pixel confusion counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PixelCounts {
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    pub tn: u64,
}

/// Pixel-level scores.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PixelScores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub iou: f64,
    pub overall_accuracy: f64,
    pub kappa: f64,
    pub scored_px: u64,
}

fn ratio(a: f64, b: f64) -> f64 {
    // `+ 0.0` turns the -0.0 of an empty float sum into 0.0.
    if b > 0.0 { a / b + 0.0 } else { 0.0 }
}

impl PixelCounts {
    /// The scores of these counts.
    pub fn scores(&self) -> PixelScores {
        let (tp, fp, fn_, tn) = (
            self.tp as f64,
            self.fp as f64,
            self.fn_ as f64,
            self.tn as f64,
        );
        let n = tp + fp + fn_ + tn;
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        let oa = ratio(tp + tn, n);
        // Chance agreement from the marginals.
        let pe = ratio((tp + fp) * (tp + fn_) + (fn_ + tn) * (fp + tn), n * n);
        PixelScores {
            precision,
            recall,
            f1: ratio(2.0 * precision * recall, precision + recall),
            iou: ratio(tp, tp + fp + fn_),
            overall_accuracy: oa,
            kappa: if pe < 1.0 {
                (oa - pe) / (1.0 - pe)
            } else {
                0.0
            },
            scored_px: n as u64,
        }
    }
}

/// One truth or predicted object.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    /// Change type (TBLX code, or the class code as text; "" when unknown).
    pub kind: String,
    pub pixels: u64,
    /// Pixels of this object that the other side marks as change.
    pub covered: u64,
    /// Pixels of this object that the other side marks as change of the same type.
    pub covered_same: u64,
    /// Ground area in m².
    pub area_m2: f64,
    /// For a truth object: the type of the predicted object that covers most of it.
    pub matched_kind: Option<String>,
}

impl Object {
    fn hit(&self, cover: f64) -> bool {
        self.pixels > 0 && self.covered as f64 >= cover * self.pixels as f64
    }

    fn hit_same(&self, cover: f64) -> bool {
        self.pixels > 0 && self.covered_same as f64 >= cover * self.pixels as f64
    }
}

/// Object-level scores for one subset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct ObjectScores {
    pub truth_objects: u64,
    pub found: u64,
    pub predicted_objects: u64,
    pub false_alarms: u64,
    pub recall: f64,
    pub precision: f64,
    pub f1: f64,
    /// Found truth area / all truth area.
    pub recall_area: f64,
    /// Area of predicted objects that are not false alarms / all predicted area.
    pub precision_area: f64,
}

/// Object scores of `truth` vs `pred` with the coverage rule `cover`.
pub fn object_scores(truth: &[&Object], pred: &[&Object], cover: f64) -> ObjectScores {
    scores_with(truth, pred, cover, false)
}

/// Object scores where only change of the same type counts as coverage (a road found as a
/// building is not found as a road; a polygon typed road over a building is a false road).
pub fn typed_object_scores(truth: &[&Object], pred: &[&Object], cover: f64) -> ObjectScores {
    scores_with(truth, pred, cover, true)
}

fn scores_with(truth: &[&Object], pred: &[&Object], cover: f64, same: bool) -> ObjectScores {
    let hit = |o: &Object| {
        if same {
            o.hit_same(cover)
        } else {
            o.hit(cover)
        }
    };
    let found = truth.iter().filter(|o| hit(o)).count() as u64;
    let good = pred.iter().filter(|o| hit(o)).count() as u64;
    let area = |v: &[&Object], f: &dyn Fn(&Object) -> bool| -> f64 {
        v.iter().filter(|o| f(o)).map(|o| o.area_m2).sum()
    };
    let recall = ratio(found as f64, truth.len() as f64);
    let precision = ratio(good as f64, pred.len() as f64);
    ObjectScores {
        truth_objects: truth.len() as u64,
        found,
        predicted_objects: pred.len() as u64,
        false_alarms: pred.len() as u64 - good,
        recall,
        precision,
        f1: ratio(2.0 * precision * recall, precision + recall),
        recall_area: ratio(area(truth, &hit), area(truth, &|_| true)),
        precision_area: ratio(area(pred, &hit), area(pred, &|_| true)),
    }
}

/// Confusion of types among found truth objects: truth type -> predicted type -> count.
pub fn type_confusion(truth: &[Object], cover: f64) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut m: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for o in truth.iter().filter(|o| o.hit(cover)) {
        let p = o.matched_kind.clone().unwrap_or_default();
        *m.entry(o.kind.clone()).or_default().entry(p).or_default() += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_empty() {
        let s = PixelCounts {
            tp: 10,
            fp: 0,
            fn_: 0,
            tn: 90,
        }
        .scores();
        assert_eq!(
            (
                s.precision,
                s.recall,
                s.f1,
                s.iou,
                s.overall_accuracy,
                s.kappa
            ),
            (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
        );
        let e = PixelCounts {
            tp: 0,
            fp: 0,
            fn_: 0,
            tn: 100,
        }
        .scores();
        assert_eq!((e.precision, e.recall, e.f1), (0.0, 0.0, 0.0));
    }

    #[test]
    fn kappa_of_a_known_table() {
        // Cohen's example: 20/5/10/15 -> po 0.7, pe 0.5, kappa 0.4.
        let s = PixelCounts {
            tp: 20,
            fp: 5,
            fn_: 10,
            tn: 15,
        }
        .scores();
        assert!((s.kappa - 0.4).abs() < 1e-12, "{}", s.kappa);
    }
}
