//! CPU twin of `shaders/morphology.wgsl`: binary erosion and dilation of the change mask with a
//! square structuring element of radius `p.half`. Nodata pixels (255) are skipped inside every
//! window and stay nodata, so opening and closing never grow change into nodata or across a
//! tile edge differently from the scene edge.

use super::{Driver, chains};
use crate::change::contract::{CLASS_CHANGE, CLASS_GREEN};
use crate::change::{KernelParams, MASK_NODATA};

/// The binary rule over the values of a window (structuring element): erosion is 0 at the
/// first valid 0, dilation 1 at the first valid 1, else the other value; nodata never counts.
/// Shared by the square and the line kernels (WGSL twin: `decides` in `morphology.wgsl`).
#[inline]
fn binary_over(mut window: impl Iterator<Item = u32>, erode: bool) -> u32 {
    let decisive = u32::from(!erode);
    if window.any(|v| v == decisive) {
        decisive
    } else {
        u32::from(erode)
    }
}

/// Erosion (`erode = true`: 1 only when every valid neighbour is 1) or dilation (1 when any
/// valid neighbour is 1) at pixel `i`.
pub fn binary_px(p: &KernelParams, src: &[u32], i: usize, erode: bool) -> u32 {
    if src[i] == MASK_NODATA {
        return MASK_NODATA;
    }
    let (w, h) = (p.width as i64, p.height as i64);
    let (x, y) = ((i as i64) % w, (i as i64) / w);
    let r = p.half as i64;
    let window = ((y - r).max(0)..=(y + r).min(h - 1)).flat_map(|yy| {
        ((x - r).max(0)..=(x + r).min(w - 1)).map(move |xx| src[(yy * w + xx) as usize])
    });
    binary_over(window, erode)
}

/// Erode or dilate a whole mask.
///
/// The sequential driver runs the per-pixel kernel (the shader's mirror); the rayon driver runs
/// the square as a row and a column sweep of [`super::chains`] (nodata skipped, as in the
/// kernel), so both agree exactly (tested).
pub fn binary(driver: Driver, p: &KernelParams, src: &[u32], out: &mut [u32], erode: bool) {
    match driver {
        Driver::Rayon if p.half <= chains::MAX_HALF => {
            let dims = (p.width as usize, p.height as usize);
            let mut swept = vec![0u8; src.len()];
            chains::square_par(dims, p.half, erode, &chains::plane(src), &mut swept);
            chains::unplane(&swept, out);
        }
        _ => driver.fill(out, p.width as usize, |i| binary_px(p, src, i, erode)),
    }
}

/// Opening (erode, dilate) with radius `open_r`, then closing (dilate, erode) with `close_r`,
/// in place. A radius of 0 skips that step.
pub fn open_close(driver: Driver, p: &KernelParams, mask: &mut [u32], open_r: u32, close_r: u32) {
    let steps = [
        (open_r, true),
        (open_r, false),
        (close_r, false),
        (close_r, true),
    ];
    let steps = steps.into_iter().filter(|(r, _)| *r > 0);
    if driver == Driver::Rayon && open_r.max(close_r) <= chains::MAX_HALF {
        // On byte planes, converted once.
        let dims = (p.width as usize, p.height as usize);
        let (mut a, mut b) = (chains::plane(mask), vec![0u8; mask.len()]);
        for (r, erode) in steps {
            chains::square_par(dims, r, erode, &a, &mut b);
            std::mem::swap(&mut a, &mut b);
        }
        chains::unplane(&a, mask);
        return;
    }
    let mut tmp = vec![0u32; mask.len()];
    for (r, erode) in steps {
        let pr = KernelParams { half: r, ..*p };
        binary(driver, &pr, mask, &mut tmp, erode);
        mask.copy_from_slice(&tmp);
    }
}

/// Pixel offset of step `k` along line direction `dir` (0..8, every 22.5 degrees from east
/// towards south: (1,0), (2,1), (1,1), (1,2), (0,1), (-1,2), (-1,1), (-2,1)). The major axis
/// advances one pixel per step, the minor one `k * num / den` truncated towards zero, the same
/// in WGSL (`shaders/morphology.wgsl`, `line_offset`).
#[inline]
pub fn line_offset(dir: u32, k: i64) -> (i64, i64) {
    match dir % 8 {
        0 => (k, 0),
        1 => (k, k / 2),
        2 => (k, k),
        3 => (k / 2, k),
        4 => (0, k),
        5 => (-(k / 2), k),
        6 => (-k, k),
        _ => (-k, k / 2),
    }
}

/// Binary erosion (`erode`) or dilation of the mask at pixel `i` with the digital line of
/// `2 * p.half + 1` steps along direction `p.dir`; nodata is skipped and stays nodata (the
/// rules of [`binary_px`]).
pub fn line_binary_px(p: &KernelParams, src: &[u32], i: usize, erode: bool) -> u32 {
    if src[i] == MASK_NODATA {
        return MASK_NODATA;
    }
    let (w, h) = (p.width as i64, p.height as i64);
    let (x, y) = ((i as i64) % w, (i as i64) / w);
    let half = p.half as i64;
    let window = (-half..=half).filter_map(|k| {
        let (dx, dy) = line_offset(p.dir, k);
        let (xx, yy) = (x + dx, y + dy);
        (xx >= 0 && yy >= 0 && xx < w && yy < h).then(|| src[(yy * w + xx) as usize])
    });
    binary_over(window, erode)
}

/// Line erosion or dilation of a whole mask. The sequential driver runs the per-pixel kernel
/// (the shader's mirror); the rayon driver runs the distance sweeps of [`super::chains`], whose
/// cost does not grow with the line, and gives the same bytes (tested).
pub fn line_binary(driver: Driver, p: &KernelParams, src: &[u32], out: &mut [u32], erode: bool) {
    match driver {
        Driver::Rayon if p.half <= chains::MAX_HALF => {
            let dims = (p.width as usize, p.height as usize);
            let mut swept = vec![0u8; src.len()];
            let pass = chains::Pass {
                erode,
                ..chains::Pass::erode(p.dir, p.half)
            };
            chains::line_pass_par(dims, pass, &chains::plane(src), &mut swept);
            chains::unplane(&swept, out);
        }
        _ => driver.fill(out, p.width as usize, |i| line_binary_px(p, src, i, erode)),
    }
}

/// The thin parts of the mask: change pixels outside the opened (`wide`) mask.
#[inline]
pub fn thin_seed_px(mask: &[u32], wide: &[u32], i: usize) -> u32 {
    match mask[i] {
        MASK_NODATA => MASK_NODATA,
        1 if wide[i] != 1 => 1,
        _ => 0,
    }
}

/// `dst |= src` on change pixels (nodata in `dst` stays nodata).
#[inline]
pub fn or_into_px(src: &[u32], dst: u32, i: usize) -> u32 {
    if dst != MASK_NODATA && src[i] == 1 {
        1
    } else {
        dst
    }
}

/// Joins collinear fragments of thin linear change (roads, railways broken where they cross
/// other surfaces, under tree shadow or at a weak stretch) along their own direction.
///
/// 1. The *wide* parts are the opening of the mask with a square of radius `wide` (as two line
///    passes); what is left is thin: linear features, small objects.
/// 2. For each of the eight directions `d`, the thin parts are opened with a line of
///    `2 * half + 1` steps along `d` (only pixels on a run that long along `d` stay: fragments of a
///    line in that direction, not blobs) and closed with the same line (gaps of up to about
///    `2 * half` steps between two such fragments are filled along `d` only).
/// 3. The union of the eight closings is added to the mask.
///
/// A gap is bridged only between two fragments that both run along the same direction, so
/// compact objects side by side are never merged. Reach: `2 * wide + 4 * half` pixels
/// ([`crate::change::Plan::halo_px`]).
///
/// The rayon driver runs [`super::chains::join_lines`], the same bytes in time independent of
/// the line lengths; the sequential driver runs the per-pixel passes below (the shader's steps).
pub fn join_lines(driver: Driver, p: &KernelParams, mask: &mut [u32], half: u32, wide: u32) {
    if half == 0 {
        return;
    }
    if driver == Driver::Rayon && half.max(wide) <= chains::MAX_HALF {
        chains::join_lines(p, mask, half, wide);
        return;
    }
    let n = mask.len();
    let w = p.width as usize;
    let (mut a, mut b) = (vec![0u32; n], vec![0u32; n]);
    // 1. Square opening as row then column line passes.
    let pass = |dir: u32, half: u32, erode: bool, src: &[u32], out: &mut [u32]| {
        line_binary(driver, &KernelParams { dir, half, ..*p }, src, out, erode)
    };
    pass(0, wide, true, mask, &mut a);
    pass(4, wide, true, &a, &mut b);
    pass(0, wide, false, &b, &mut a);
    pass(4, wide, false, &a, &mut b);
    let mut seeds = vec![0u32; n];
    driver.fill(&mut seeds, w, |i| thin_seed_px(mask, &b, i));
    // 2. Per direction: opening then closing of the seeds; 3. union into the mask.
    for dir in 0..8 {
        pass(dir, half, true, &seeds, &mut a);
        pass(dir, half, false, &a, &mut b);
        pass(dir, half, false, &b, &mut a);
        pass(dir, half, true, &a, &mut b);
        driver.update(mask, |i, v| or_into_px(&b, v, i));
    }
}

/// The class of change pixel `i` after a majority vote of the change classes 1 and 2 in the
/// `(2 * p.half + 1)^2` window (ties keep its own; a filled pixel,
/// [`CLASS_FILLED`](crate::change::contract::CLASS_FILLED), takes the
/// majority, 1 on a tie): single pixels of the other class inside an object (a speck of noise)
/// and the pixels closing or joining filled join their neighbours instead of becoming polygons
/// of their own. 0 and nodata stay.
pub fn class_majority_px(p: &KernelParams, src: &[u32], i: usize) -> u32 {
    let own = src[i];
    if own == 0 || own == MASK_NODATA {
        return own;
    }
    let (w, h) = (p.width as i64, p.height as i64);
    let (x, y) = ((i as i64) % w, (i as i64) / w);
    let r = p.half as i64;
    let (mut n1, mut n2) = (0u32, 0u32);
    for yy in (y - r).max(0)..=(y + r).min(h - 1) {
        for xx in (x - r).max(0)..=(x + r).min(w - 1) {
            match src[(yy * w + xx) as usize] {
                CLASS_CHANGE => n1 += 1,
                CLASS_GREEN => n2 += 1,
                _ => {}
            }
        }
    }
    match n2.cmp(&n1) {
        std::cmp::Ordering::Greater => CLASS_GREEN,
        std::cmp::Ordering::Less => CLASS_CHANGE,
        std::cmp::Ordering::Equal if own == CLASS_GREEN => CLASS_GREEN,
        std::cmp::Ordering::Equal => CLASS_CHANGE,
    }
}

/// Rows a window must touch for its centre to lie in an array of rows: three, more than two
/// parallel roads beside a field or a house between fields give.
pub const ROWS_MIN_RUNS: u32 = 3;

/// Whether the built run holding position `k` of a line is at most `r` long (a row, not a
/// block or a road along the line).
fn short_run(built: &dyn Fn(usize) -> bool, len: usize, r: usize, k: usize) -> bool {
    let (mut start, mut end) = (k, k);
    while start > 0 && end - start < r && built(start - 1) {
        start -= 1;
    }
    while end + 1 < len && end - start < r && built(end + 1) {
        end += 1;
    }
    end - start < r
}

/// Whether the window `[lo, hi]` of a line (`len` positions, built flags from `built`) looks
/// like rows: it touches at least [`ROWS_MIN_RUNS`] built runs of at most `r` positions
/// (rows), and 20-80 % of it is built.
fn rows_window(built: &dyn Fn(usize) -> bool, len: usize, r: usize, lo: usize, hi: usize) -> bool {
    let (mut runs, mut n_built) = (0u32, 0u32);
    for k in lo..=hi {
        let b = built(k);
        n_built += u32::from(b);
        if b && (k == lo || !built(k - 1)) && short_run(built, len, r, k) {
            runs += 1;
        }
    }
    let n = (hi - lo + 1) as u32;
    runs >= ROWS_MIN_RUNS && 5 * n_built >= n && 5 * n_built <= 4 * n
}

/// The rows test along one line (`len` positions, built flags from `built`) at position `k`,
/// with windows of `2 * r + 1`: the run of equal flags holding `k` decides as one, so a row or a
/// gap is marked whole or not at all.
/// - A run of at most `r` positions decides at its middle: it is in an array when it is built
///   or lies between built runs (a gap inside the line), and a window centred on the middle,
///   ending at it or starting at it looks like rows ([`rows_window`]).
/// - A longer built run decides pixel by pixel with the same windows; a longer gap never joins.
pub fn rows_at(built: &dyn Fn(usize) -> bool, len: usize, r: usize, k: usize) -> bool {
    let b = built(k);
    // The run's ends, looked for at most r + 1 positions away.
    let mut start = k;
    while start > 0 && k - start <= r && built(start - 1) == b {
        start -= 1;
    }
    let mut end = k;
    while end + 1 < len && end - k <= r && built(end + 1) == b {
        end += 1;
    }
    let short = end - start < r;
    let at = if short { (start + end) / 2 } else { k };
    let inside = b || (short && start > 0 && end + 1 < len);
    inside
        && (rows_window(built, len, r, at.saturating_sub(r), (at + r).min(len - 1))
            || rows_window(built, len, r, at.saturating_sub(2 * r), at)
            || rows_window(built, len, r, at, (at + 2 * r).min(len - 1)))
}

/// The rows test: pixel `i` lies in an array of rows (solar panels with grass or soil between,
/// rows of greenhouses) when it does along its row or its column ([`rows_at`], half-window
/// `p.half`, built = change class 1). Such a pixel becomes [`crate::change::CLASS_ROWS`],
/// whatever it was, so an array is one polygon, gaps included, not a polygon per row; the
/// ground beyond its outer rows and past the ends of its rows stays. Nodata stays; elsewhere
/// the class stays.
pub fn rows_px(p: &KernelParams, src: &[u32], i: usize) -> u32 {
    let own = src[i];
    if own == MASK_NODATA {
        return own;
    }
    let (w, h) = (p.width as usize, p.height as usize);
    let (x, y) = (i % w, i / w);
    let r = p.half as usize;
    let along_row = rows_at(&|k| src[y * w + k] == CLASS_CHANGE, w, r, x);
    if along_row || rows_at(&|k| src[k * w + x] == CLASS_CHANGE, h, r, y) {
        crate::change::CLASS_ROWS
    } else {
        own
    }
}

/// [`rows_px`] over a whole tile, in time linear in its pixels (runs found once per line,
/// windows counted from prefix sums): the same classes, pixel for pixel (tested against
/// [`rows_px`]).
pub fn rows(p: &KernelParams, src: &[u32], dst: &mut [u32]) {
    use rayon::prelude::*;
    let (w, h) = (p.width as usize, p.height as usize);
    let r = p.half as usize;
    if w == 0 || h == 0 {
        return;
    }
    // Along rows, row by row.
    let mut hit = vec![false; w * h];
    hit.par_chunks_mut(w)
        .enumerate()
        .for_each_init(Vec::new, |line, (y, out)| {
            line.clear();
            line.extend(src[y * w..(y + 1) * w].iter().map(|&m| m == CLASS_CHANGE));
            rows_line(line, r, out);
        });
    // Along columns, in strips of `STRIP` columns, each strip's results row-major: the merge
    // below then reads every buffer in order (a column-major buffer read across took longer
    // than the runs themselves).
    const STRIP: usize = 64;
    let strips: Vec<Vec<bool>> = (0..w.div_ceil(STRIP))
        .into_par_iter()
        .map(|s| {
            let (x0, sw) = (s * STRIP, STRIP.min(w - s * STRIP));
            // The strip's columns gathered row by row (each row's part is contiguous).
            let mut lines = vec![false; sw * h];
            for y in 0..h {
                for (xl, &m) in src[y * w + x0..y * w + x0 + sw].iter().enumerate() {
                    lines[xl * h + y] = m == CLASS_CHANGE;
                }
            }
            let mut out = vec![false; sw * h];
            let mut col = vec![false; h];
            for xl in 0..sw {
                rows_line(&lines[xl * h..(xl + 1) * h], r, &mut col);
                for (y, &c) in col.iter().enumerate() {
                    out[y * sw + xl] = c;
                }
            }
            out
        })
        .collect();
    dst.par_chunks_mut(w)
        .zip(src.par_chunks(w))
        .zip(hit.par_chunks(w))
        .enumerate()
        .for_each(|(y, ((d, s), along))| {
            for (k, strip) in strips.iter().enumerate() {
                let (x0, sw) = (k * STRIP, STRIP.min(w - k * STRIP));
                let across = &strip[y * sw..(y + 1) * sw];
                for (xl, &hit) in across.iter().enumerate() {
                    let x = x0 + xl;
                    d[x] = if s[x] != MASK_NODATA && (along[x] || hit) {
                        crate::change::CLASS_ROWS
                    } else {
                        s[x]
                    };
                }
            }
        });
}

/// [`rows_at`] for every position of a line of built flags, into `out`.
fn rows_line(b: &[bool], r: usize, out: &mut [bool]) {
    let len = b.len();
    if len == 0 {
        return;
    }
    // short[k]: k is in a built run of at most r positions (a row).
    let mut short = vec![false; len];
    let (mut start, mut rows_seen) = (0, 0);
    while start < len {
        let mut end = start;
        while end + 1 < len && b[end + 1] == b[start] {
            end += 1;
        }
        let row = b[start] && end - start < r;
        short[start..=end].fill(row);
        rows_seen += usize::from(row);
        start = end + 1;
    }
    // No window holds more rows than the line: too few, and no position is in an array.
    if rows_seen < ROWS_MIN_RUNS as usize {
        out.fill(false);
        return;
    }
    // built[k]: built positions in [0, k); ups[k]: starts of rows in 1..=k.
    let mut built = vec![0u32; len + 1];
    let mut ups = vec![0u32; len];
    for k in 0..len {
        built[k + 1] = built[k] + u32::from(b[k]);
        if k > 0 {
            ups[k] = ups[k - 1] + u32::from(short[k] && !b[k - 1]);
        }
    }
    let window = |lo: usize, hi: usize| {
        let n = (hi - lo + 1) as u32;
        let nb = built[hi + 1] - built[lo];
        let runs = u32::from(short[lo]) + ups[hi] - ups[lo];
        runs >= ROWS_MIN_RUNS && 5 * nb >= n && 5 * nb <= 4 * n
    };
    let rows = |at: usize| {
        window(at.saturating_sub(r), (at + r).min(len - 1))
            || window(at.saturating_sub(2 * r), at)
            || window(at, (at + 2 * r).min(len - 1))
    };
    let mut start = 0;
    while start < len {
        let mut end = start;
        while end + 1 < len && b[end + 1] == b[start] {
            end += 1;
        }
        // rows_at looks at most r + 1 positions each way for the run's ends: a run longer
        // than that is "long" for every position in it, as here.
        if end - start < r {
            let inside = b[start] || (start > 0 && end + 1 < len);
            let v = inside && rows((start + end) / 2);
            out[start..=end].fill(v);
        } else {
            for k in start..=end {
                out[k] = b[k] && rows(k);
            }
        }
        start = end + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(w: u32, h: u32) -> KernelParams {
        KernelParams {
            width: w,
            height: h,
            ..KernelParams::default()
        }
    }

    #[test]
    fn an_array_of_rows_becomes_one_region_and_nothing_else_does() {
        // 80 x 60: vertical panel rows (class 1, 4 px) with 4-px gaps (0 or green 2) over
        // x 10..58 (a row first and last), y 10..40; two parallel roads (5 px, 5 px apart) and a building elsewhere.
        let (w, h) = (80usize, 60usize);
        let mut m = vec![0u32; w * h];
        for y in 10..40 {
            for x in 10..58 {
                m[y * w + x] = if (x / 4) % 2 == 0 {
                    1
                } else {
                    2 * (y % 2) as u32
                };
            }
        }
        for y in (44..49).chain(54..59) {
            m[y * w + 5..y * w + 75].fill(1);
        }
        for y in 0..8 {
            m[y * w + 65..y * w + 75].fill(1);
        }
        let params = KernelParams {
            width: w as u32,
            height: h as u32,
            half: 12,
            ..KernelParams::default()
        };
        let out: Vec<u32> = (0..w * h).map(|i| rows_px(&params, &m, i)).collect();
        let at = |x: usize, y: usize| out[y * w + x];
        // Every pixel of the array, rows and gaps, edges included, is class 3 ...
        for y in 10..40 {
            for x in 10..58 {
                assert_eq!(at(x, y), 3, "({x}, {y})");
            }
        }
        // ... and nothing beyond its outer rows or past their ends.
        let row: String = (0..w).map(|x| char::from(b'0' + at(x, 25) as u8)).collect();
        assert_eq!((0..w).filter(|&x| at(x, 25) == 3).count(), 48, "{row}");
        assert_eq!(at(30, 9), 0);
        assert_eq!(at(30, 40), 0);
        // The roads and the building keep their class.
        assert_eq!(
            (at(40, 46), at(40, 51), at(40, 56), at(70, 4)),
            (1, 0, 1, 1)
        );
    }

    #[test]
    fn the_linear_rows_pass_matches_the_per_pixel_rule() {
        // Random masks of stripes, blocks and noise with nodata, several window sizes.
        let mut rng = crate::synth::world::Rng::new(7);
        for (w, h, half) in [
            (37usize, 29usize, 3u32),
            (64, 48, 6),
            (50, 70, 12),
            (150, 40, 5),
        ] {
            let m: Vec<u32> = (0..w * h)
                .map(|i| {
                    let (x, y) = (i % w, i / w);
                    match rng.below(23) {
                        0 => MASK_NODATA,
                        1 => 2,
                        2 => 1,
                        _ if (x / 3 + y / 17) % 2 == 0 && y % 11 < 8 => 1,
                        _ => 0,
                    }
                })
                .collect();
            let naive = rows_both_ways(&m, w, h, half);
            assert!(naive.contains(&3), "{w} x {h}: no rows found");
        }
        // Sparse masks (most lines hold too few rows to be looked at): the same.
        for (w, h) in [(131usize, 67usize), (200, 9)] {
            let m: Vec<u32> = (0..w * h)
                .map(|_| match rng.below(60) {
                    0 => 1,
                    1 => MASK_NODATA,
                    _ => 0,
                })
                .collect();
            rows_both_ways(&m, w, h, 4);
        }
    }

    /// The rows pass and the per-pixel rule on `m` (asserted equal), the rule's output.
    fn rows_both_ways(m: &[u32], w: usize, h: usize, half: u32) -> Vec<u32> {
        let params = KernelParams {
            width: w as u32,
            height: h as u32,
            half,
            ..KernelParams::default()
        };
        let naive: Vec<u32> = (0..w * h).map(|i| rows_px(&params, m, i)).collect();
        let mut fast = vec![0u32; w * h];
        rows(&params, m, &mut fast);
        assert_eq!(naive, fast, "{w} x {h}, half {half}");
        naive
    }

    #[test]
    fn opening_removes_isolated_pixel_keeps_block() {
        let mut m = vec![0u32; 64];
        m[9] = 1; // isolated
        for y in 4..7 {
            for x in 4..7 {
                m[y * 8 + x] = 1;
            }
        }
        open_close(Driver::Sequential, &p(8, 8), &mut m, 1, 0);
        assert_eq!(m[9], 0);
        assert_eq!(m.iter().filter(|&&v| v == 1).count(), 9);
    }

    #[test]
    fn separable_matches_per_pixel_kernel() {
        let (w, h) = (29u32, 17u32);
        let mask: Vec<u32> = (0..w * h)
            .map(|i| match (i.wrapping_mul(2_654_435_761) >> 7) % 9 {
                0 => MASK_NODATA,
                1..=4 => 1,
                _ => 0,
            })
            .collect();
        for r in [1, 2, 5] {
            for erode in [true, false] {
                let pr = KernelParams { half: r, ..p(w, h) };
                let (mut a, mut b) = (vec![0; mask.len()], vec![0; mask.len()]);
                binary(Driver::Sequential, &pr, &mask, &mut a, erode);
                binary(Driver::Rayon, &pr, &mask, &mut b, erode);
                assert_eq!(a, b, "radius {r} erode {erode}");
            }
        }
    }

    #[test]
    fn line_passes_agree_between_drivers() {
        let (w, h) = (37u32, 29u32);
        let mask: Vec<u32> = (0..w * h)
            .map(|i| match (i.wrapping_mul(2_654_435_761) >> 9) % 13 {
                0 => MASK_NODATA,
                1..=3 => 1,
                _ => 0,
            })
            .collect();
        for dir in 0..8 {
            for half in [1, 4, 9] {
                for erode in [true, false] {
                    let pr = KernelParams {
                        dir,
                        half,
                        ..p(w, h)
                    };
                    let (mut a, mut b) = (vec![0; mask.len()], vec![0; mask.len()]);
                    line_binary(Driver::Sequential, &pr, &mask, &mut a, erode);
                    line_binary(Driver::Rayon, &pr, &mask, &mut b, erode);
                    assert_eq!(a, b, "dir {dir} half {half} erode {erode}");
                }
            }
        }
        for k in -9..=9 {
            for dir in 0..8 {
                let (x, y) = line_offset(dir, k);
                assert_eq!(line_offset(dir, -k), (-x, -y));
            }
        }
    }

    #[test]
    fn join_bridges_collinear_fragments_only() {
        // A 3-px wide diagonal-ish line (slope 1/2) broken by a 12-px gap, and two 8x8 blocks
        // 10 px apart: the line is joined, the blocks are not.
        let (w, h) = (120u32, 70u32);
        let mut m = vec![0u32; (w * h) as usize];
        for x in 0..110i64 {
            if (48..60).contains(&x) {
                continue;
            }
            for t in 0..3 {
                let y = 5 + x / 2 + t;
                m[(y * w as i64 + x) as usize] = 1;
            }
        }
        for (x0, y0) in [(10usize, 45usize), (28, 45)] {
            for y in y0..y0 + 8 {
                for x in x0..x0 + 8 {
                    m[y * w as usize + x] = 1;
                }
            }
        }
        let before = m.clone();
        for driver in [Driver::Sequential, Driver::Rayon] {
            let mut j = before.clone();
            join_lines(driver, &p(w, h), &mut j, 12, 4);
            let at = |x: usize, y: usize| j[y * w as usize + x];
            // The gap is filled along the line.
            assert_eq!(at(54, 5 + 27 + 1), 1);
            // Nothing was removed, and the blocks stay apart.
            assert!(before.iter().zip(&j).all(|(a, b)| *a <= *b));
            assert_eq!(at(22, 48), 0);
            m = j;
        }
        let _ = m;
    }

    #[test]
    fn closing_fills_one_pixel_gap_and_nodata_stays() {
        let mut m = vec![1u32; 25];
        m[12] = 0;
        m[0] = MASK_NODATA;
        open_close(Driver::Rayon, &p(5, 5), &mut m, 0, 1);
        assert_eq!(m[12], 1);
        assert_eq!(m[0], MASK_NODATA);
    }
}
