//! Binary erosion and dilation with the digital lines of
//! [`super::morphology::line_offset`], in time independent of the line's length: the fast CPU
//! path of `erode_line_mask` / `dilate_line_mask` (`shaders/morphology.wgsl`), the same bytes
//! as the per-pixel rule (tested).
//!
//! Step `k` of a line is `k * u + trunc(k / 2) * v` ([`steps`]). From a centre `p`, the steps
//! `k >= 0` follow the chain `p, p + u, p + 2u + v, p + 3u + v, ..`: a walk that adds `u` and,
//! on every second step, `v`. Tag each pixel with the parity of its step (even, odd) and the
//! walks become disjoint chains: the successor of `(q, even)` is `(q + u, odd)`, that of
//! `(q, odd)` is `(q + u + v, even)`. The steps `k < 0` are the same chains walked backwards
//! from `(p, odd)`. So one sweep in each direction gives every pixel, for both parities, the
//! number of steps to the nearest *decisive* pixel (a valid 0 for erosion, a valid 1 for
//! dilation), capped at `half + 1`; the window of `p` holds one when its forward distance from
//! `(p, even)` or its backward distance from `(p, odd)` is at most `half`. Lines leave the
//! raster monotonically, so truncating a chain at the edge is exactly "skip pixels outside".
//!
//! The horizontal line (direction 0) is one chain per row, handled as bits instead: the row's
//! decisive pixels packed 64 to a word and spread over the window by doubling shifts.
//!
//! Masks here are `u8` planes: 0, 1 and [`NODATA`] (nodata never decides and stays nodata).

use crate::change::{KernelParams, MASK_NODATA};
use rayon::prelude::*;

/// Nodata in the `u8` planes of this module.
pub const NODATA: u8 = 255;

/// Longest half-line the sweeps take (distances are kept in a byte, capped at `half + 1`).
pub const MAX_HALF: u32 = 254;

/// The per-step vector `u` and the every-second-step vector `v` of direction `dir` (0..8), as
/// `(ux, uy, vx, vy)`: step `k` is `k * u + trunc(k / 2) * v`.
pub fn steps(dir: u32) -> (i64, i64, i64, i64) {
    match dir % 8 {
        0 => (1, 0, 0, 0),
        1 => (1, 0, 0, 1),
        2 => (1, 1, 0, 0),
        3 => (0, 1, 1, 0),
        4 => (0, 1, 0, 0),
        5 => (0, 1, -1, 0),
        6 => (-1, 1, 0, 0),
        _ => (-1, 0, 0, 1),
    }
}

/// One pass of a line: its direction (0..8) and half-length, erosion or dilation, and what
/// nodata pixels become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pass {
    pub dir: u32,
    pub half: u32,
    pub erode: bool,
    /// True: nodata stays nodata (the rule of the line kernels). False: nodata pixels take the
    /// window's verdict too (the first pass of a separable square, whose second pass must see
    /// what lies beyond them).
    pub keep_nodata: bool,
}

impl Pass {
    /// Erosion along `dir`, nodata kept.
    pub fn erode(dir: u32, half: u32) -> Self {
        Pass {
            dir,
            half,
            erode: true,
            keep_nodata: true,
        }
    }

    /// Dilation along `dir`, nodata kept.
    pub fn dilate(dir: u32, half: u32) -> Self {
        Pass {
            erode: false,
            ..Pass::erode(dir, half)
        }
    }
}

/// Reusable rows for [`line_pass`]: the distances of the current and the previous row, for
/// both parities.
#[derive(Default)]
pub struct Scratch {
    rows: [Vec<u8>; 4],
}

/// One row of a sweep: `out[x]` is 0 where `row[x]` decides, else one more than the distance
/// `dep[x + shift]` of the chain's neighbour (capped; `cap` beyond the row's ends).
#[inline]
fn step_row(row: &[u8], dep: &[u8], shift: i64, (decisive, cap): (u8, u8), out: &mut [u8]) {
    let w = row.len();
    if w == 0 {
        return;
    }
    // Branch-free, so that it compiles to vector instructions.
    let f = |s: u8, d: u8| d.saturating_add(1).min(cap) & u8::from(s != decisive).wrapping_neg();
    let zip = |out: &mut [u8], row: &[u8], dep: &[u8]| {
        let n = out.len();
        let (row, dep) = (&row[..n], &dep[..n]);
        for x in 0..n {
            out[x] = f(row[x], dep[x]);
        }
    };
    match shift {
        0 => zip(out, row, dep),
        1 => {
            zip(&mut out[..w - 1], &row[..w - 1], &dep[1..]);
            out[w - 1] = f(row[w - 1], cap);
        }
        _ => {
            out[0] = f(row[0], cap);
            zip(&mut out[1..], &row[1..], &dep[..w - 1]);
        }
    }
}

/// The decision of a pixel from the forward flag (window hit ahead) and the backward distance.
#[inline]
fn decide(s: u8, ahead: u8, behind: u8, half: u8, (hit, miss, keep): (u8, u8, u8)) -> u8 {
    let found = (u8::from(ahead != 0) | u8::from(behind <= half)).wrapping_neg();
    let verdict = (hit & found) | (miss & !found);
    let nodata = (u8::from(s == NODATA) & keep).wrapping_neg();
    (NODATA & nodata) | (verdict & !nodata)
}

/// One line erosion or dilation of a `w` x `h` plane with the line of `2 * half + 1` steps,
/// sequentially. `half` must be at most [`MAX_HALF`].
pub fn line_pass((w, h): (usize, usize), pass: Pass, src: &[u8], out: &mut [u8], s: &mut Scratch) {
    let Pass { dir, half, .. } = pass;
    assert!(half <= MAX_HALF && src.len() == w * h && out.len() == w * h);
    let decisive = u8::from(!pass.erode);
    let rule = (decisive, (half + 1) as u8);
    let verdicts = (decisive, 1 - decisive, u8::from(pass.keep_nodata));
    let half = half as u8;
    let (ux, uy, vx, vy) = steps(dir);
    if uy + vy == 0 {
        return horizontal(w, src, out, half, rule, verdicts);
    }
    // Every chain step but the horizontal one moves one row: (u + v) always, u when uy = 1.
    for r in &mut s.rows {
        r.clear();
        r.resize(w, rule.1);
    }
    let [even, odd, even_prev, odd_prev] = &mut s.rows;
    // Forward, rows bottom-up: odd from the even row below, even from odd (below, or this row
    // when u is horizontal). `out` keeps the flag "a decisive pixel ahead within the window".
    for y in (0..h).rev() {
        let row = &src[y * w..(y + 1) * w];
        step_row(row, even_prev, ux + vx, rule, odd);
        let dep = if uy == 1 { &odd_prev[..] } else { &odd[..] };
        step_row(row, dep, ux, rule, even);
        let flags = &mut out[y * w..(y + 1) * w];
        for x in 0..w {
            flags[x] = u8::from(even[x] <= half);
        }
        std::mem::swap(even, even_prev);
        std::mem::swap(odd, odd_prev);
    }
    // Backward, rows top-down: even from the odd row above, odd from even (above, or this row).
    even_prev.fill(rule.1);
    odd_prev.fill(rule.1);
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        step_row(row, odd_prev, -(ux + vx), rule, even);
        let dep = if uy == 1 { &even_prev[..] } else { &even[..] };
        step_row(row, dep, -ux, rule, odd);
        let line = &mut out[y * w..(y + 1) * w];
        for x in 0..w {
            line[x] = decide(row[x], line[x], odd[x], half, verdicts);
        }
        std::mem::swap(even, even_prev);
        std::mem::swap(odd, odd_prev);
    }
}

/// Direction 0: each row packed into bits (1 where the pixel decides), the bits spread over
/// the window `x - half ..= x + half` by doubling shifts of whole words, then unpacked into
/// the verdicts: about a dozen word operations per 64 pixels where a sweep spent a dependent
/// conditional move on every pixel in each direction.
fn horizontal(
    w: usize,
    src: &[u8],
    out: &mut [u8],
    half: u8,
    (decisive, _): (u8, u8),
    verdicts: (u8, u8, u8),
) {
    let half = usize::from(half);
    // Pixel x at bit x + half: the window of x is then the run of 2 half + 1 bits from bit x,
    // and the pixels before and after the row read 0.
    let words = (w + 2 * half).div_ceil(64);
    let (mut bits, mut ahead, mut tmp) = (vec![0u64; words], vec![0u64; words], vec![0u64; words]);
    let mut found = vec![0u8; w];
    for (row, line) in src
        .chunks_exact(w.max(1))
        .zip(out.chunks_exact_mut(w.max(1)))
    {
        pack(row, decisive, &mut tmp);
        ahead.fill(0);
        or_from_left(&tmp, half, &mut ahead);
        // Doubling gives runs of `len` bits (a power of two); two such runs `span - len`
        // apart cover the window's `span`.
        let span = 2 * half + 1;
        let mut len = 1;
        while 2 * len <= span {
            bits.copy_from_slice(&ahead);
            or_from_right(&bits, len, &mut ahead);
            len *= 2;
        }
        if span > len {
            bits.copy_from_slice(&ahead);
            or_from_right(&bits, span - len, &mut ahead);
        }
        unpack(&ahead, &mut found);
        let (hit, miss, keep) = verdicts;
        let keep = keep.wrapping_neg();
        for ((o, &sv), &f) in line.iter_mut().zip(row).zip(&found) {
            let f = f.wrapping_neg();
            let verdict = (hit & f) | (miss & !f);
            let nodata = u8::from(sv == NODATA).wrapping_neg() & keep;
            *o = (NODATA & nodata) | (verdict & !nodata);
        }
    }
}

/// Bit `x % 64` of word `x / 64` set where `row[x] == decisive`; the bits past the row 0.
fn pack(row: &[u8], decisive: u8, bits: &mut [u64]) {
    for (word, px) in bits.iter_mut().zip(row.chunks(64)) {
        let mut v = 0u64;
        for (k, eight) in px.chunks(8).enumerate() {
            let mut b = 0u64;
            for (i, &p) in eight.iter().enumerate() {
                b |= u64::from(p == decisive) << i;
            }
            v |= b << (8 * k);
        }
        *word = v;
    }
}

/// `out[x] = bit x of bits` as 0 or 1.
fn unpack(bits: &[u64], out: &mut [u8]) {
    for (px, &word) in out.chunks_mut(64).zip(bits) {
        for (i, o) in px.iter_mut().enumerate() {
            *o = ((word >> i) & 1) as u8;
        }
    }
}

/// `dst[x] |= src[x + s]` (pixels past the row read 0).
fn or_from_right(src: &[u64], s: usize, dst: &mut [u64]) {
    let (q, r) = (s / 64, s % 64);
    for (j, d) in dst.iter_mut().enumerate() {
        let at = |k: usize| src.get(k).copied().unwrap_or(0);
        let lo = at(j + q);
        *d |= if r == 0 {
            lo
        } else {
            (lo >> r) | (at(j + q + 1) << (64 - r))
        };
    }
}

/// `dst[x] |= src[x - s]` (pixels before the row read 0).
fn or_from_left(src: &[u64], s: usize, dst: &mut [u64]) {
    let (q, r) = (s / 64, s % 64);
    for (j, d) in dst.iter_mut().enumerate() {
        let at = |k: Option<usize>| k.and_then(|k| src.get(k)).copied().unwrap_or(0);
        let hi = at(j.checked_sub(q));
        *d |= if r == 0 {
            hi
        } else {
            (hi << r) | (at(j.checked_sub(q + 1)) >> (64 - r))
        };
    }
}

/// [`line_pass`] on the rayon pool: bands of rows, each swept with `half + 1` extra rows on
/// either side (a window reaches at most `half` rows), of which only its own rows are kept.
pub fn line_pass_par((w, h): (usize, usize), pass: Pass, src: &[u8], out: &mut [u8]) {
    let margin = pass.half as usize + 1;
    // Bands several times the margin keep the recomputed rows a small share.
    let threads = rayon::current_num_threads().max(1);
    let band = h.div_ceil(threads).max(8 * margin).max(1);
    out.par_chunks_mut(band * w.max(1))
        .enumerate()
        .for_each_init(Scratch::default, |s, (k, rows)| {
            let y0 = k * band;
            let y1 = y0 + rows.len() / w.max(1);
            let (e0, e1) = (y0.saturating_sub(margin), (y1 + margin).min(h));
            let mut tmp = vec![0u8; (e1 - e0) * w];
            line_pass((w, e1 - e0), pass, &src[e0 * w..e1 * w], &mut tmp, s);
            rows.copy_from_slice(&tmp[(y0 - e0) * w..(y1 - e0) * w]);
        });
}

/// A mask as a byte plane (its values are 0, 1, the change classes and nodata, all below 256).
pub fn plane(mask: &[u32]) -> Vec<u8> {
    mask.par_iter().map(|&v| v.min(255) as u8).collect()
}

/// A byte plane back into a mask.
pub fn unplane(plane: &[u8], mask: &mut [u32]) {
    mask.par_iter_mut()
        .zip(plane)
        .for_each(|(m, &v)| *m = u32::from(v));
}

/// Radius up to which [`square_par`] ors shifted rows (vector instructions, `2 * half + 1` per
/// pixel) instead of sweeping.
const SHIFT_MAX_HALF: u32 = 32;

/// `acc |= flags`, element by element.
fn or_into(acc: &mut [u8], flags: &[u8]) {
    for (a, f) in acc.iter_mut().zip(flags) {
        *a |= f;
    }
}

/// Erosion or dilation of a plane with the square of radius `half`, on the pool: nodata is
/// skipped inside the square and stays nodata, the rule of `binary_px` in
/// `shaders/morphology.wgsl` (the same bytes, tested). The window holds a decisive pixel (a valid
/// 0 for erosion, a valid 1 for dilation) when its rows do: flags or-ed along each row, then
/// over the rows of the window.
pub fn square_par(dims: (usize, usize), half: u32, erode: bool, src: &[u8], out: &mut [u8]) {
    let (w, h) = dims;
    if half > SHIFT_MAX_HALF || w == 0 {
        let rows = Pass {
            dir: 0,
            half,
            erode,
            keep_nodata: false,
        };
        let mut tmp = vec![0u8; src.len()];
        line_pass_par(dims, rows, src, &mut tmp);
        line_pass_par(dims, Pass { dir: 4, ..rows }, &tmp, out);
        out.par_iter_mut().zip(src).for_each(|(o, &s)| {
            if s == NODATA {
                *o = NODATA;
            }
        });
        return;
    }
    let r = half as usize;
    let decisive = u8::from(!erode);
    let mut rows = vec![0u8; src.len()];
    rows.par_chunks_mut(w)
        .zip(src.par_chunks(w))
        .for_each(|(o, s)| {
            for x in 0..w {
                o[x] = u8::from(s[x] == decisive);
            }
            let flags = o.to_vec();
            for k in 1..=r.min(w - 1) {
                for (a, b) in o[..w - k].iter_mut().zip(&flags[k..]) {
                    *a |= b;
                }
                for (a, b) in o[k..].iter_mut().zip(&flags[..w - k]) {
                    *a |= b;
                }
            }
        });
    out.par_chunks_mut(w).enumerate().for_each(|(y, o)| {
        o.fill(0);
        for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
            let row = &rows[yy * w..(yy + 1) * w];
            for x in 0..w {
                o[x] |= row[x];
            }
        }
        let s = &src[y * w..(y + 1) * w];
        for x in 0..w {
            o[x] = decide(s[x], o[x], u8::MAX, 0, (decisive, 1 - decisive, 1));
        }
    });
}

/// The joining of linear fragments ([`super::morphology::join_lines`]) with the sweeps: the
/// same bytes as the per-pixel passes (tested), in time independent of the line lengths. The
/// wide-part opening runs banded on the pool; the eight directions run in parallel, each
/// sequentially, and their closings are or-ed into the mask.
pub fn join_lines(p: &KernelParams, mask: &mut [u32], half: u32, wide: u32) {
    debug_assert!(half <= MAX_HALF && wide <= MAX_HALF);
    let dims = (p.width as usize, p.height as usize);
    let n = mask.len();
    let plane = plane(mask);
    let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
    line_pass_par(dims, Pass::erode(0, wide), &plane, &mut a);
    line_pass_par(dims, Pass::erode(4, wide), &a, &mut b);
    line_pass_par(dims, Pass::dilate(0, wide), &b, &mut a);
    line_pass_par(dims, Pass::dilate(4, wide), &a, &mut b);
    // The thin parts (twin of `thin_seed_px`).
    let seeds: Vec<u8> = plane
        .par_iter()
        .zip(&b)
        .map(|(&m, &wide)| match m {
            NODATA => NODATA,
            1 if wide != 1 => 1,
            _ => 0,
        })
        .collect();
    drop((a, b, plane));
    let (w, h) = dims;
    let joined = (0..8u32)
        .into_par_iter()
        .map_init(Scratch::default, |s, dir| {
            let mut eroded = vec![0u8; n];
            line_pass(dims, Pass::erode(dir, half), &seeds, &mut eroded, s);
            // The rest of the opening and the closing stay within 2 * half rows of what the
            // erosion kept (a line reaches half rows each pass): sweep only that band. Its rows
            // within half of its edges are farther than 2 * half + 1 from any change, so they
            // decide the same with or without what lies beyond.
            let kept = |y: usize| eroded[y * w..(y + 1) * w].contains(&1);
            let Some(y0) = (0..h).find(|&y| kept(y)) else {
                return (0, Vec::new());
            };
            let y1 = (y0..h).rev().find(|&y| kept(y)).unwrap_or(y0) + 1;
            let margin = 3 * half as usize + 2;
            let (b0, b1) = (y0.saturating_sub(margin), (y1 + margin).min(h));
            let band = (w, b1 - b0);
            let e = &eroded[b0 * w..b1 * w];
            let (mut a, mut b) = (vec![0u8; e.len()], vec![0u8; e.len()]);
            line_pass(band, Pass::dilate(dir, half), e, &mut a, s);
            line_pass(band, Pass::dilate(dir, half), &a, &mut b, s);
            line_pass(band, Pass::erode(dir, half), &b, &mut a, s);
            a.iter_mut().for_each(|v| *v = u8::from(*v == 1));
            (b0 * w, a)
        })
        .fold(
            || vec![0u8; n],
            |mut acc, (at, band)| {
                or_into(&mut acc[at..at + band.len()], &band);
                acc
            },
        )
        .reduce(
            || vec![0u8; n],
            |mut acc, other| {
                or_into(&mut acc, &other);
                acc
            },
        );
    mask.par_iter_mut().zip(&joined).for_each(|(m, &j)| {
        if *m != MASK_NODATA && j == 1 {
            *m = 1;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::cpu::morphology::{line_binary_px, line_offset};

    #[test]
    fn steps_give_the_line_offsets() {
        for dir in 0..8 {
            let (ux, uy, vx, vy) = steps(dir);
            for k in -40i64..=40 {
                let m = k / 2;
                assert_eq!(
                    line_offset(dir, k),
                    (k * ux + m * vx, k * uy + m * vy),
                    "{dir} {k}"
                );
            }
        }
    }

    fn plane(w: usize, h: usize, seed: u32) -> Vec<u8> {
        (0..w * h)
            .map(|i| {
                let r = (i as u32 ^ seed).wrapping_mul(2_654_435_761) >> 9;
                match r % 17 {
                    0 => NODATA,
                    1..=4 => 1,
                    // Runs along rows and diagonals, so windows see long stretches of 1.
                    _ if (i % w + (i / w) / 2) % 11 < 5 => 1,
                    _ => 0,
                }
            })
            .collect()
    }

    #[test]
    fn sweeps_match_the_per_pixel_rule_in_every_direction() {
        for (w, h, seed) in [
            (37usize, 29usize, 1u32),
            (8, 61, 2),
            (64, 5, 3),
            (1, 9, 4),
            (200, 7, 5),
        ] {
            let src = plane(w, h, seed);
            let src32: Vec<u32> = src.iter().map(|&v| u32::from(v)).collect();
            let mut s = Scratch::default();
            let cases = (0..8u32).flat_map(|dir| {
                [0u32, 1, 2, 3, 7, 20, 63, 64, 65, 130]
                    .into_iter()
                    .flat_map(move |half| {
                        [true, false].map(|erode| Pass {
                            erode,
                            ..Pass::erode(dir, half)
                        })
                    })
            });
            for pass in cases {
                let p = KernelParams {
                    width: w as u32,
                    height: h as u32,
                    dir: pass.dir,
                    half: pass.half,
                    ..KernelParams::default()
                };
                let want: Vec<u8> = (0..w * h)
                    .map(|i| line_binary_px(&p, &src32, i, pass.erode) as u8)
                    .collect();
                let mut got = vec![0u8; w * h];
                line_pass((w, h), pass, &src, &mut got, &mut s);
                if let Some(i) = (0..w * h).find(|&i| got[i] != want[i]) {
                    let y = i / w;
                    panic!(
                        "{w}x{h} {pass:?} at ({}, {y}): row {:?} got {:?} want {:?}",
                        i % w,
                        &src[y * w..(y + 1) * w],
                        &got[y * w..(y + 1) * w],
                        &want[y * w..(y + 1) * w]
                    );
                }
                let mut par = vec![0u8; w * h];
                line_pass_par((w, h), pass, &src, &mut par);
                assert_eq!(par, want, "banded {w}x{h} {pass:?}");
            }
        }
    }

    #[test]
    fn joining_by_sweeps_matches_the_per_pixel_passes() {
        // Broken lines at several angles, blocks and nodata.
        let (w, h) = (150usize, 110usize);
        let mut m: Vec<u32> = plane(w, h, 9)
            .iter()
            .map(|&v| match v {
                NODATA => MASK_NODATA,
                _ => 0,
            })
            .collect();
        for (x0, y0, dx, dy) in [(0i64, 10i64, 2i64, 1i64), (5, 100, 1, -1), (70, 0, 1, 3)] {
            let len = dx.abs().max(dy.abs());
            for t in 0..140 * len {
                let (x, y) = (x0 + t * dx / len, y0 + t * dy / len);
                let inside = (0..w as i64 - 1).contains(&x) && (0..h as i64).contains(&y);
                // Every 37 steps a gap of 6 for the joining to bridge.
                if inside && (t / len) % 37 <= 30 {
                    let i = y as usize * w + x as usize;
                    m[i..i + 2].fill(1);
                }
            }
        }
        for y in 60..80 {
            m[y * w + 100..y * w + 125].fill(1);
        }
        // A short broken horizontal line: the only run the erosion keeps in direction 0, so
        // that direction sweeps a narrow band.
        for x in (20..60).filter(|x| !(38..43).contains(x)) {
            m[55 * w + x] = 1;
        }
        let p = KernelParams {
            width: w as u32,
            height: h as u32,
            ..KernelParams::default()
        };
        for (half, wide) in [(6u32, 3u32), (12, 4), (1, 1)] {
            let mut want = m.clone();
            crate::change::cpu::morphology::join_lines(
                crate::change::cpu::Driver::Sequential,
                &p,
                &mut want,
                half,
                wide,
            );
            let mut got = m.clone();
            join_lines(&p, &mut got, half, wide);
            assert_eq!(got, want, "half {half} wide {wide}");
            assert!(want.iter().zip(&m).filter(|(a, b)| a != b).count() > 0);
        }
    }

    #[test]
    fn opening_and_closing_by_sweeps_match_the_per_pixel_squares() {
        use crate::change::cpu::{Driver, morphology::open_close};
        let (w, h) = (53usize, 41usize);
        let m: Vec<u32> = plane(w, h, 5).iter().map(|&v| u32::from(v)).collect();
        let p = KernelParams {
            width: w as u32,
            height: h as u32,
            ..KernelParams::default()
        };
        // 40: past the shifted rows, the sweeps.
        for (open_r, close_r) in [(1u32, 1u32), (0, 2), (3, 0), (2, 5), (1, 40)] {
            let (mut seq, mut par) = (m.clone(), m.clone());
            open_close(Driver::Sequential, &p, &mut seq, open_r, close_r);
            open_close(Driver::Rayon, &p, &mut par, open_r, close_r);
            assert_eq!(seq, par, "open {open_r} close {close_r}");
            assert_ne!(seq, m);
        }
    }
}
