//! Undeclared fill: pixels 0 in every band of an image that declares no nodata, inside some
//! [`FILL_BLOCK_PX`]² square of the scene that is 0 in every band throughout. They are read as
//! nodata ([`mask_fill`], applied by every read of the pair), counted as the main pass reads
//! each date ([`ZeroFill`]), and the run's note names the file.
//!
//! The collar of an orthoimage or a mosaic's unimaged area, left undeclared, showed as change (a
//! LEVIR-CD tile whose after date had its right 96 columns zeroed: 12,598 of its 24,576 pixels
//! changed, 44 polygons against the pair's 43). Pure black in every band is
//! rare in imagery and never in a block: the red band of a LEVIR-CD tile alone is 0 at 7 % of
//! its pixels (shadows), and none of the real pairs in the shared data, band by band or all
//! bands together, has a single 8² block of 0. Where black is data, `--zero-is-data` keeps it
//! (or the file declares a nodata value of its own).
//!
//! The rule is local (a pixel's squares reach [`FILL_BLOCK_PX`] - 1 px), and exact in any
//! window: when a square might cross an edge of the window that is not the scene's, the
//! window is read again grown by that reach ([`mask_fill`] says so), so tiles of any size and
//! every later read (statistics, typing) agree on the fill.

use super::grid::Window;
use std::path::Path;

/// Side of the squares, 0 in every band throughout, whose pixels are fill.
pub const FILL_BLOCK_PX: usize = 16;

/// Which edges of a window are inside the scene (a square may cross them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenEdges {
    pub left: bool,
    pub top: bool,
    pub right: bool,
    pub bottom: bool,
}

impl OpenEdges {
    /// The edges of `w` inside a `width` x `height` scene.
    pub fn of(w: Window, (width, height): (usize, usize)) -> Self {
        OpenEdges {
            left: w.x > 0,
            top: w.y > 0,
            right: w.x + w.width < width,
            bottom: w.y + w.height < height,
        }
    }
}

/// Clear `valid` at the fill of a `width` x `height` window whose bands `data` holds
/// band-sequential; `fill[b]` is what a stored 0 of band `b` reads as (its offset, for bands
/// read through their own scale and offset). Only squares inside the window count: the result
/// is true when one might cross an `open` edge (16 rows of 0 down an open side, 16 columns of
/// 0 along one, or a 0 corner between two), and the caller then masks the window grown by
/// [`FILL_BLOCK_PX`] - 1 as well.
pub fn mask_fill(
    data: &[f32],
    fill: &[f32],
    (width, height): (usize, usize),
    valid: &mut [u32],
    open: OpenEdges,
) -> bool {
    let n = width * height;
    let b = FILL_BLOCK_PX;
    if n == 0 || fill.is_empty() || data.len() < n * fill.len() || valid.len() < n {
        return false;
    }
    let mut z = vec![false; width];
    // Per row: the runs of fill-valued pixels at least b long (as [start, end)), and whether
    // its first and last pixels are fill-valued.
    let mut runs: Vec<Vec<(usize, usize)>> = vec![Vec::new(); height];
    let (mut first, mut last) = (vec![false; height], vec![false; height]);
    for y in 0..height {
        if !zero_row(data, fill, n, y * width, &mut z) {
            continue;
        }
        first[y] = z[0];
        last[y] = z[width - 1];
        let mut x = 0;
        while x < width {
            if !z[x] {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && z[x] {
                x += 1;
            }
            if x - start >= b {
                runs[y].push((start, x));
            }
        }
    }
    // A square's in-window part touches an open edge: a run of b along it, b rows of fill
    // down it, or the corner between two open edges.
    let long_run = |y: usize| !runs[y].is_empty();
    let down = |col: &[bool]| col.windows(b).any(|w| w.iter().all(|&f| f));
    let crosses = (open.top && long_run(0))
        || (open.bottom && long_run(height - 1))
        || (open.left && (down(&first) || height < b && first.iter().any(|&f| f)))
        || (open.right && (down(&last) || height < b && last.iter().any(|&f| f)))
        || (open.top && open.left && first[0])
        || (open.top && open.right && last[0])
        || (open.bottom && open.left && first[height - 1])
        || (open.bottom && open.right && last[height - 1]);
    if height >= b {
        // The squares' left columns of each band of b rows: the starts every row allows.
        let mut covers: Vec<Vec<(usize, usize)>> = Vec::with_capacity(height - b + 1);
        for y in 0..=height - b {
            let mut starts: Vec<(usize, usize)> =
                runs[y].iter().map(|&(s, e)| (s, e + 1 - b)).collect();
            for r in &runs[y + 1..y + b] {
                if starts.is_empty() {
                    break;
                }
                starts = intersect(
                    &starts,
                    &r.iter().map(|&(s, e)| (s, e + 1 - b)).collect::<Vec<_>>(),
                );
            }
            covers.push(starts.iter().map(|&(s, e)| (s, e - 1 + b)).collect());
        }
        for y in 0..height {
            let lo = (y + 1).saturating_sub(b);
            let hi = y.min(height - b);
            for c in &covers[lo..=hi] {
                for &(s, e) in c {
                    valid[y * width + s..y * width + e].fill(0);
                }
            }
        }
    }
    crosses
}

/// Set `z` to whether each pixel of the row at `start` reads as stored 0 in every band; false
/// when none does (the bands after the first are then not looked at).
fn zero_row(data: &[f32], fill: &[f32], n: usize, start: usize, z: &mut [bool]) -> bool {
    let width = z.len();
    for (k, &f) in fill.iter().enumerate() {
        let values = &data[k * n + start..k * n + start + width];
        let mut any = false;
        for (zz, &v) in z.iter_mut().zip(values) {
            // The first band sets the row, the others can only clear it.
            *zz = (k == 0 || *zz) && v == f;
            any |= *zz;
        }
        if !any {
            return false;
        }
    }
    true
}

/// The intersection of two sorted lists of disjoint half-open intervals.
fn intersect(a: &[(usize, usize)], b: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (s, e) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if s < e {
            out.push((s, e));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Of one date's pixels seen so far: how many are fill ([`mask_fill`]) and how many were seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZeroFill {
    pub zero: u64,
    pub seen: u64,
}

impl ZeroFill {
    /// Count the `core` of one date's tile: `data` holds its bands band-sequential over `read`
    /// and `valid` the date's validity there; `fill` as for [`mask_fill`]. A pixel not valid and
    /// stored 0 in every band is fill (a file without declared nodata is otherwise valid but
    /// where a float is not finite).
    pub fn add(&mut self, data: &[f32], fill: &[f32], valid: &[u32], read: Window, core: Window) {
        let n = read.pixels();
        if n == 0 || fill.is_empty() || data.len() < n * fill.len() || valid.len() < n {
            return;
        }
        let (ox, oy) = (core.x - read.x, core.y - read.y);
        for y in 0..core.height {
            let start = (oy + y) * read.width + ox;
            let row = &valid[start..start + core.width];
            if !row.contains(&0) {
                continue;
            }
            self.zero += (0..core.width)
                .filter(|&x| {
                    row[x] == 0
                        && fill
                            .iter()
                            .enumerate()
                            .all(|(k, &f)| data[k * n + start + x] == f)
                })
                .count() as u64;
        }
        self.seen += core.pixels() as u64;
    }

    /// Both counts together.
    pub fn merge(&mut self, other: &ZeroFill) {
        self.zero += other.zero;
        self.seen += other.seen;
    }

    /// The note for the file at `path` when it had fill.
    pub fn note(&self, path: &Path) -> Option<String> {
        (self.zero > 0).then(|| {
            format!(
                "{}: {} px ({:.1} %) are 0 in every band, in blocks of {b}² px or more, and the file declares no nodata: read as fill outside the imaged area (nodata, never change); if that black is data, pass --zero-is-data or declare a nodata value (gdal_edit.py -a_nodata)",
                path.display(),
                self.zero,
                100.0 * self.zero as f64 / self.seen.max(1) as f64,
                b = FILL_BLOCK_PX,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2-band width x height window of 7s with `zero` (a rectangle, every band) set to 0,
    /// plus a pixel 0 in one band only.
    fn window(width: usize, height: usize, zero: (usize, usize, usize, usize)) -> Vec<f32> {
        let n = width * height;
        let mut data = vec![7.0f32; 2 * n];
        let (x0, y0, w, h) = zero;
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                data[y * width + x] = 0.0;
                data[n + y * width + x] = 0.0;
            }
        }
        data[n - 1] = 0.0;
        data
    }

    fn masked(data: &[f32], dims: (usize, usize), open: OpenEdges) -> (Vec<u32>, bool) {
        let mut valid = vec![1u32; dims.0 * dims.1];
        let crosses = mask_fill(data, &[0.0, 0.0], dims, &mut valid, open);
        (valid, crosses)
    }

    #[test]
    fn a_zero_block_is_fill_and_a_narrower_strip_is_not() {
        let closed = OpenEdges::default();
        let (valid, crosses) = masked(&window(64, 48, (30, 0, 30, 48)), (64, 48), closed);
        assert!(!crosses);
        for (i, &v) in valid.iter().enumerate() {
            assert_eq!(v == 0, (30..60).contains(&(i % 64)), "pixel {i}");
        }
        // 15 columns: no square fits.
        let (valid, _) = masked(&window(64, 48, (30, 0, 15, 48)), (64, 48), closed);
        assert!(valid.iter().all(|&v| v == 1));
        // An L of two 16-wide arms is fill throughout; a 15-row notch beside it is not.
        let mut data = window(64, 48, (0, 0, 16, 48));
        for y in 32..48 {
            for x in 0..64 {
                data[y * 64 + x] = 0.0;
                data[64 * 48 + y * 64 + x] = 0.0;
            }
        }
        for y in 10..25 {
            data[y * 64 + 16] = 0.0;
            data[64 * 48 + y * 64 + 16] = 0.0;
        }
        let (valid, _) = masked(&data, (64, 48), closed);
        let zeros = valid.iter().filter(|&&v| v == 0).count();
        assert_eq!(zeros, 16 * 48 + 48 * 16);
        assert_eq!(valid[20 * 64 + 16], 1);
    }

    #[test]
    fn a_square_that_may_cross_an_open_edge_asks_for_a_grown_window() {
        let open = |left, top, right, bottom| OpenEdges {
            left,
            top,
            right,
            bottom,
        };
        // 10 columns at the left edge: fill only if the square goes on past it.
        let data = window(64, 48, (0, 5, 10, 30));
        assert!(masked(&data, (64, 48), open(true, false, false, false)).1);
        assert!(!masked(&data, (64, 48), open(false, true, true, true)).1);
        assert!(
            masked(&data, (64, 48), open(false, false, false, false))
                .0
                .iter()
                .all(|&v| v == 1)
        );
        // The corner between two open edges.
        let data = window(64, 48, (0, 0, 3, 3));
        assert!(masked(&data, (64, 48), open(true, true, false, false)).1);
        assert!(!masked(&data, (64, 48), open(true, false, false, false)).1);
        // 16 columns along the top edge.
        let data = window(64, 48, (20, 0, 16, 4));
        assert!(masked(&data, (64, 48), open(false, true, false, false)).1);
        assert!(
            !masked(
                &window(64, 48, (20, 0, 15, 4)),
                (64, 48),
                open(false, true, false, false)
            )
            .1
        );
    }

    #[test]
    fn the_grown_window_decides_like_the_whole_scene() {
        // A 40 x 40 block of fill in a 200 x 120 scene, windows of every size and place: the
        // window's fill, grown when asked, is the scene's fill cut to the window.
        let (sw, sh) = (200, 120);
        let scene = window(sw, sh, (90, 50, 40, 40));
        let (whole, _) = masked(&scene, (sw, sh), OpenEdges::default());
        let cut = |w: Window| -> Vec<f32> {
            (0..2)
                .flat_map(|k| {
                    (w.y..w.y + w.height).flat_map(move |y| {
                        (w.x..w.x + w.width).map(move |x| k * sw * sh + y * sw + x)
                    })
                })
                .map(|i| scene[i])
                .collect()
        };
        for (x, y, width, height) in [
            (0, 0, 100, 60),
            (95, 55, 30, 30),
            (120, 80, 80, 40),
            (60, 40, 45, 25),
            (125, 85, 10, 10),
        ] {
            let w = Window {
                x,
                y,
                width,
                height,
            };
            let (mut valid, crosses) = masked(&cut(w), (width, height), OpenEdges::of(w, (sw, sh)));
            if crosses {
                let g = w.grown(FILL_BLOCK_PX - 1, (sw, sh));
                let (gv, _) = masked(&cut(g), (g.width, g.height), OpenEdges::default());
                for yy in 0..height {
                    for xx in 0..width {
                        valid[yy * width + xx] &= gv[(yy + y - g.y) * g.width + xx + x - g.x];
                    }
                }
            }
            for yy in 0..height {
                for xx in 0..width {
                    assert_eq!(
                        valid[yy * width + xx],
                        whole[(y + yy) * sw + x + xx],
                        "window {w:?} at {xx}, {yy}"
                    );
                }
            }
        }
    }

    #[test]
    fn counts_core_pixels_of_fill() {
        let read = Window {
            x: 100,
            y: 40,
            width: 64,
            height: 48,
        };
        let core = Window {
            x: 104,
            y: 44,
            width: 56,
            height: 40,
        };
        let data = window(64, 48, (30, 0, 30, 48));
        let (valid, _) = masked(&data, (64, 48), OpenEdges::default());
        let mut z = ZeroFill::default();
        z.add(&data, &[0.0, 0.0], &valid, read, core);
        assert_eq!(z.seen, 56 * 40);
        assert_eq!(z.zero, 30 * 40);
        assert!(z.note(Path::new("a.tif")).unwrap().contains("a.tif"));
        assert_eq!(ZeroFill::default().note(Path::new("a.tif")), None);
    }

    #[test]
    fn fill_reads_through_the_band_offset() {
        let mut data = window(64, 48, (30, 0, 30, 48));
        for v in &mut data[64 * 48..] {
            *v -= 1000.0;
        }
        let mut valid = vec![1u32; 64 * 48];
        mask_fill(
            &data,
            &[0.0, 0.0],
            (64, 48),
            &mut valid,
            OpenEdges::default(),
        );
        assert!(valid.iter().all(|&v| v == 1));
        mask_fill(
            &data,
            &[0.0, -1000.0],
            (64, 48),
            &mut valid,
            OpenEdges::default(),
        );
        assert_eq!(valid.iter().filter(|&&v| v == 0).count(), 30 * 48);
    }
}
