//! Connected-component labelling of a tile's core (4-connectivity), with per-label statistics.
//! Labels are local (1..=n); the stitcher makes them global and unites them across seams.

use super::tile::MaskTile;

/// Statistics of one local component.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelStats {
    pub pixels: u64,
    pub evidence: EvidenceStats,
    /// Smallest scene raster index (y * width + x) of its pixels: a stable key for ordering.
    pub first: u64,
}

impl LabelStats {
    /// The statistics of no pixel, to [`LabelStats::merge`] parts into.
    pub fn none() -> Self {
        LabelStats {
            pixels: 0,
            evidence: EvidenceStats::default(),
            first: u64::MAX,
        }
    }

    /// Add the statistics of another part of the same component.
    pub fn merge(&mut self, other: &LabelStats) {
        self.pixels += other.pixels;
        self.evidence.merge(&other.evidence);
        self.first = self.first.min(other.first);
    }
}

/// Labels of a tile's core pixels as runs of foreground (background is label 0), and the
/// statistics of each label.
#[derive(Clone, Debug)]
pub struct Labels {
    /// Every run of foreground as (first column, end column, label), row after row.
    runs: Vec<(u32, u32, u32)>,
    /// Row `y`'s runs are `runs[rows[y]..rows[y + 1]]`.
    rows: Vec<usize>,
    width: usize,
    /// `stats[l - 1]` for label `l`.
    pub stats: Vec<LabelStats>,
}

impl Labels {
    /// The label of core pixel (`x`, `y`), 0 for background.
    pub fn at(&self, x: usize, y: usize) -> u32 {
        let row = &self.runs[self.rows[y]..self.rows[y + 1]];
        let k = row.partition_point(|r| r.1 as usize <= x);
        match row.get(k) {
            Some(&(start, _, l)) if start as usize <= x => l,
            _ => 0,
        }
    }

    /// Row `y`'s labels, pixel by pixel.
    pub fn row(&self, y: usize) -> Vec<u32> {
        let mut out = vec![0u32; self.width];
        for &(start, end, l) in &self.runs[self.rows[y]..self.rows[y + 1]] {
            out[start as usize..end as usize].fill(l);
        }
        out
    }

    /// Column `x`'s labels, row by row.
    pub fn column(&self, x: usize) -> Vec<u32> {
        (0..self.rows.len() - 1).map(|y| self.at(x, y)).collect()
    }
}

/// Whether an evidence value enters a polygon's statistics: not NaN (nodata), not infinite, and
/// not a screen's code ([`crate::change::is_screened`]: a cloud or shadow pixel that closing
/// or joining brought into a polygon has no evidence of its own; counted, a cloud made a road's
/// mean evidence -1.5e36).
#[inline]
pub fn usable_evidence(v: f32) -> bool {
    v.is_finite() && !crate::change::is_screened(v)
}

/// The evidence over a component's pixels that have one ([`usable_evidence`]): sum, count and
/// maximum. One accumulator for the labeller, the seam merge and the split pieces.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvidenceStats {
    pub sum: f64,
    pub px: u64,
    /// `-inf` while no pixel has evidence.
    pub max: f32,
}

impl Default for EvidenceStats {
    fn default() -> Self {
        EvidenceStats {
            sum: 0.0,
            px: 0,
            max: f32::NEG_INFINITY,
        }
    }
}

impl EvidenceStats {
    /// Count `v` when it is usable evidence.
    #[inline]
    pub fn add(&mut self, v: f32) {
        if usable_evidence(v) {
            self.sum += v as f64;
            self.px += 1;
            self.max = self.max.max(v);
        }
    }

    /// Add the pixels of another part of the same component.
    pub fn merge(&mut self, other: &EvidenceStats) {
        self.sum += other.sum;
        self.px += other.px;
        self.max = self.max.max(other.max);
    }

    /// The mean over the pixels with evidence, None without any.
    pub fn mean(&self) -> Option<f64> {
        (self.px > 0).then(|| self.sum / self.px as f64)
    }
}

/// Root of `a` in a union-find forest stored as parent indices (path halving).
pub fn find(parent: &mut [u32], mut a: u32) -> u32 {
    while parent[a as usize] != a {
        parent[a as usize] = parent[parent[a as usize] as usize];
        a = parent[a as usize];
    }
    a
}

/// 8-connected components of the pixels where `fg` holds, neighbours joined only where
/// `joins(i, j)` also holds (for equal classes): each pixel's component, numbered 1..=k in the
/// raster order of its first pixel (0 = background), and k. A two-pass union-find.
pub fn components8(
    n: usize,
    width: usize,
    fg: impl Fn(usize) -> bool,
    joins: impl Fn(usize, usize) -> bool,
) -> (Vec<u32>, usize) {
    let h = n.checked_div(width).unwrap_or(0);
    let mut ids = vec![0u32; n];
    let mut parent: Vec<u32> = vec![0];
    for y in 0..h {
        for x in 0..width {
            let i = y * width + x;
            if !fg(i) {
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
                if l == 0 || !joins(i, j) {
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
    let mut k = 0;
    for id in ids.iter_mut().filter(|id| **id != 0) {
        let r = find(&mut parent, *id) as usize;
        if compact[r] == 0 {
            k += 1;
            compact[r] = k as u32;
        }
        *id = compact[r];
    }
    (ids, k)
}

/// Label the core of `tile` (4-connected) with a two-pass union-find over runs of foreground
/// (one union per pair of overlapping runs of two rows, not per pixel). `scene_width` turns
/// tile coordinates into stable raster indices.
pub fn label_tile(tile: &MaskTile, scene_width: usize) -> Labels {
    let (w, h) = (tile.core.width, tile.core.height);
    let stride = tile.stride();
    // Every run of the core as (start, end, provisional label), row after row; `rows[y]` is
    // where row y's runs begin.
    let mut runs: Vec<(u32, u32, u32)> = Vec::new();
    let mut rows: Vec<usize> = Vec::with_capacity(h + 1);
    let mut parent: Vec<u32> = vec![0];
    for y in 0..h {
        let core_row = &tile.fg[(y + 1) * stride + 1..(y + 1) * stride + 1 + w];
        let above = rows.last().copied().unwrap_or(0)..runs.len();
        rows.push(runs.len());
        let mut k = above.start;
        let mut x = 0;
        while let Some(start) = super::tile::next_nonzero(core_row, x) {
            let end = super::tile::next_zero(core_row, start).unwrap_or(w);
            x = end;
            // Runs above that share a column: skip those ending before this one starts.
            while k < above.end && (runs[k].1 as usize) <= start {
                k += 1;
            }
            let mut label = 0u32;
            let mut j = k;
            while j < above.end && (runs[j].0 as usize) < end {
                let r = find(&mut parent, runs[j].2);
                label = if label == 0 {
                    r
                } else {
                    let l = find(&mut parent, label);
                    let (lo, hi) = (l.min(r), l.max(r));
                    parent[hi as usize] = lo;
                    lo
                };
                j += 1;
            }
            // The last run above may reach past this one's end: the next run may share it.
            k = j.saturating_sub(1).max(k);
            if label == 0 {
                label = parent.len() as u32;
                parent.push(label);
            }
            runs.push((start as u32, end as u32, label));
        }
    }
    rows.push(runs.len());
    // Compact roots to 1..=n in order of first appearance (raster order).
    let mut compact = vec![0u32; parent.len()];
    let mut stats: Vec<LabelStats> = Vec::new();
    for y in 0..h {
        for run in &mut runs[rows[y]..rows[y + 1]] {
            let (start, end) = (run.0 as usize, run.1 as usize);
            let root = find(&mut parent, run.2) as usize;
            if compact[root] == 0 {
                stats.push(LabelStats {
                    first: ((tile.core.y + y) * scene_width + tile.core.x + start) as u64,
                    ..LabelStats::none()
                });
                compact[root] = stats.len() as u32;
            }
            let l = compact[root];
            run.2 = l;
            let s = &mut stats[l as usize - 1];
            s.pixels += (end - start) as u64;
            if let Some(ev) = &tile.evidence {
                ev[y * w + start..y * w + end]
                    .iter()
                    .for_each(|&v| s.evidence.add(v));
            }
        }
    }
    Labels {
        runs,
        rows,
        width: w,
        stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raster::grid::Window;

    #[test]
    fn u_shape_is_one_label_diagonals_are_not() {
        #[rustfmt::skip]
        let m = [
            1, 0, 1, 0,
            1, 0, 1, 0,
            1, 1, 1, 0,
            0, 0, 0, 1,
        ];
        let t = MaskTile::from_mask(
            &m,
            4,
            4,
            Window {
                x: 0,
                y: 0,
                width: 4,
                height: 4,
            },
        );
        let l = label_tile(&t, 4);
        assert_eq!(l.stats.len(), 2);
        assert_eq!(l.stats[0].pixels, 7);
        assert_eq!(l.at(3, 3), 2);
        assert_eq!((l.at(1, 0), l.at(2, 0), l.at(0, 3)), (0, 1, 0));
        assert_eq!(l.row(2), vec![1, 1, 1, 0]);
        assert_eq!(l.column(3), vec![0, 0, 0, 2]);
        assert_eq!(l.stats[1].first, 15);
    }

    #[test]
    fn issue_17_cloud_pixels_stay_out_of_the_evidence_statistics() {
        // One component of 5 pixels: evidence 2, 4, the cloud and shadow tests' values, NaN.
        let w = Window {
            x: 0,
            y: 0,
            width: 5,
            height: 1,
        };
        let mut t = MaskTile::from_mask(&[1, 1, 1, 1, 1], 5, 1, w);
        t.evidence = Some(
            vec![
                2.0,
                4.0,
                crate::change::CLOUD_EVIDENCE,
                crate::change::SHADOW_EVIDENCE,
                f32::NAN,
            ]
            .into(),
        );
        let s = label_tile(&t, 5).stats[0];
        assert_eq!((s.pixels, s.evidence.px), (5, 2));
        assert_eq!((s.evidence.sum, s.evidence.max), (6.0, 4.0));
        assert_eq!(s.evidence.mean(), Some(3.0));
        assert!(!usable_evidence(f32::NEG_INFINITY) && usable_evidence(-1e30));
    }
}
