//! Objects of a change layer on a grid: each pixel's object id (0 = no change) and each
//! object's type. Rasters give 8-connected components (typed by their majority class code);
//! vector layers give one object per feature (typed by its TBLX field).

use crate::vectorize::label::find;
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

/// 8-connected components of equal non-zero `codes` (objects of different classes that touch
/// stay apart); each component's type is its code, named through `names` (code -> type) or
/// written as the number. A layer with a single non-zero code (a plain 0/1 or 0/255 mask) is
/// untyped.
pub fn components(codes: &[u32], width: usize, names: &FxHashMap<u32, String>) -> ObjectLayer {
    let n = codes.len();
    let h = n.checked_div(width).unwrap_or(0);
    let mut ids = vec![0u32; n];
    let mut parent: Vec<u32> = vec![0];
    for y in 0..h {
        for x in 0..width {
            let i = y * width + x;
            if codes[i] == 0 {
                continue;
            }
            let mut best = 0u32;
            let neighbours = [
                (x > 0).then(|| i - 1),
                (y > 0 && x > 0).then(|| i - width - 1),
                (y > 0).then(|| i - width),
                (y > 0 && x + 1 < width).then(|| i - width + 1),
            ];
            for j in neighbours.into_iter().flatten() {
                let l = ids[j];
                // Objects of different classes that touch stay separate objects.
                if l == 0 || codes[j] != codes[i] {
                    continue;
                }
                if best == 0 {
                    best = find(&mut parent, l);
                } else {
                    let (a, b) = (find(&mut parent, best), find(&mut parent, l));
                    if a != b {
                        let (lo, hi) = (a.min(b), a.max(b));
                        parent[hi as usize] = lo;
                        best = lo;
                    }
                }
            }
            if best == 0 {
                best = parent.len() as u32;
                parent.push(best);
            }
            ids[i] = best;
        }
    }
    let mut compact = vec![0u32; parent.len()];
    let mut votes: Vec<FxHashMap<u32, u64>> = Vec::new();
    for i in 0..n {
        if ids[i] == 0 {
            continue;
        }
        let r = find(&mut parent, ids[i]) as usize;
        if compact[r] == 0 {
            votes.push(FxHashMap::default());
            compact[r] = votes.len() as u32;
        }
        ids[i] = compact[r];
        *votes[compact[r] as usize - 1].entry(codes[i]).or_default() += 1;
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
}
