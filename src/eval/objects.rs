//! Objects of a change layer on a grid: each pixel's object id (0 = no change) and each
//! object's type. Rasters give 8-connected components (typed by their majority class code);
//! vector layers give one object per feature (typed by its TBLX field).

use crate::vectorize::label::components8;
use rustc_hash::FxHashMap;

/// A change layer on the evaluation grid.
#[derive(Clone, Debug, Default)]
pub struct ObjectLayer {
    /// Per pixel: 0, or 1 + the index of the object covering it.
    pub ids: Vec<u32>,
    /// Per object: its type ("" when the layer carries none).
    pub kinds: Vec<String>,
}

impl ObjectLayer {
    /// True when the layer marks pixel `i` as change.
    #[inline]
    pub fn is_change(&self, i: usize) -> bool {
        self.ids[i] != 0
    }

    /// True when at least one object has a type.
    pub fn typed(&self) -> bool {
        self.kinds.iter().any(|k| !k.is_empty())
    }
}

/// The verdict a field check would give each predicted object: real change when truth covers
/// at least `cover` of its scored pixels, and the truth type over most of the covered ones
/// (None for an untyped truth). Objects without a scored pixel get no verdict (None).
pub fn verdicts(
    truth: &ObjectLayer,
    pred: &ObjectLayer,
    scored: &[bool],
    cover: f64,
) -> Vec<Option<(bool, Option<String>)>> {
    let n = pred.kinds.len();
    let (mut px, mut hit) = (vec![0u64; n], vec![0u64; n]);
    let mut votes: Vec<FxHashMap<u32, u64>> = vec![FxHashMap::default(); n];
    for (i, &p) in pred.ids.iter().enumerate() {
        if p == 0 || !scored[i] {
            continue;
        }
        let o = p as usize - 1;
        px[o] += 1;
        let t = truth.ids[i];
        if t != 0 {
            hit[o] += 1;
            *votes[o].entry(t).or_default() += 1;
        }
    }
    (0..n)
        .map(|o| {
            if px[o] == 0 {
                return None;
            }
            let real = hit[o] as f64 >= cover * px[o] as f64;
            // Votes per truth type (objects of one type add up), ties to the smaller name.
            let mut by_kind: FxHashMap<&str, u64> = FxHashMap::default();
            for (&t, &c) in &votes[o] {
                let k = truth.kinds.get(t as usize - 1).map_or("", String::as_str);
                *by_kind.entry(k).or_default() += c;
            }
            let kind = by_kind
                .into_iter()
                .filter(|(k, _)| !k.is_empty())
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
                .map(|(k, _)| k.to_string());
            Some((real, kind.filter(|_| real)))
        })
        .collect()
}

/// 8-connected components of equal non-zero `codes` (objects of different classes that touch
/// stay apart); each component's type is its code, named through `names` (code -> type) or
/// written as the number. A layer with a single non-zero code (a plain 0/1 or 0/255 mask) is
/// untyped.
pub fn components(codes: &[u32], width: usize, names: &FxHashMap<u32, String>) -> ObjectLayer {
    // Objects of different classes that touch stay separate objects.
    let (ids, k) = components8(
        codes.len(),
        width,
        |i| codes[i] != 0,
        |i, j| codes[i] == codes[j],
    );
    let mut votes: Vec<FxHashMap<u32, u64>> = vec![FxHashMap::default(); k];
    for (&id, &code) in ids.iter().zip(codes) {
        if id != 0 {
            *votes[id as usize - 1].entry(code).or_default() += 1;
        }
    }
    let distinct: std::collections::BTreeSet<u32> =
        votes.iter().flat_map(|v| v.keys().copied()).collect();
    let binary = distinct.len() <= 1;
    let kinds = votes
        .into_iter()
        .map(|v| {
            if binary {
                return String::new();
            }
            let code = v
                .into_iter()
                .max_by_key(|&(c, k)| (k, std::cmp::Reverse(c)))
                .map(|(c, _)| c)
                .unwrap_or(0);
            names
                .get(&code)
                .cloned()
                .unwrap_or_else(|| code.to_string())
        })
        .collect();
    ObjectLayer { ids, kinds }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagonal_pixels_join_within_a_class_only() {
        #[rustfmt::skip]
        let codes = [
            2, 0, 0, 0,
            0, 2, 0, 5,
            0, 0, 3, 0,
            0, 0, 3, 0,
        ];
        let l = components(&codes, 4, &FxHashMap::default());
        assert_eq!(l.kinds, vec!["2", "5", "3"]);
        assert_eq!((l.ids[0], l.ids[5], l.ids[10], l.ids[14]), (1, 1, 3, 3));
        let mut names = FxHashMap::default();
        names.insert(2, "DL1".to_string());
        assert_eq!(components(&codes, 4, &names).kinds[0], "DL1");
        let mask = [1, 0, 0, 0, 0, 1];
        let m = components(&mask, 3, &FxHashMap::default());
        assert_eq!(m.kinds, vec![String::new(), String::new()]);
        assert!(!m.typed());
    }

    #[test]
    fn verdicts_follow_the_cover_rule_and_the_majority_truth_type() {
        // Truth: a road (DL1) in the first row, a building (20) in the second.
        let truth = ObjectLayer {
            ids: vec![1, 1, 1, 1, 2, 2, 0, 0, 0, 0, 0, 0],
            kinds: vec!["DL1".into(), "20".into()],
        };
        // Predictions: over the road and one building pixel (3 of 4 road); half on the
        // building (real at cover 0.5, not at 0.6); none on truth; one only on unscored pixels.
        let pred = ObjectLayer {
            ids: vec![1, 1, 1, 0, 2, 1, 2, 3, 3, 0, 4, 4],
            kinds: vec![String::new(); 4],
        };
        let mut scored = vec![true; 12];
        scored[10] = false;
        scored[11] = false;
        let v = verdicts(&truth, &pred, &scored, 0.5);
        assert_eq!(v[0], Some((true, Some("DL1".into()))));
        assert_eq!(v[1], Some((true, Some("20".into()))));
        assert_eq!(v[2], Some((false, None)));
        assert_eq!(v[3], None);
        assert_eq!(
            verdicts(&truth, &pred, &scored, 0.6)[1],
            Some((false, None))
        );
    }
}
