//! The van Herk / Gil-Werman running min/max along lines: the fast CPU path of
//! `mbi::line_extreme`, three comparisons per pixel whatever the line length. Nodata and
//! out-of-raster pixels enter as the neutral element (+BIG for min, -BIG for max), which is
//! exactly "skip them", as in the per-pixel kernel, so both give the same bits.
//!
//! Horizontal lines run along each row. Vertical and diagonal lines are swept row by row over a
//! raster padded by `half` on every side: prefix and suffix extremes restart every `k = 2 half
//! + 1` rows, so row blocks are independent (parallel) and every access is a contiguous row.

use super::BIG;
use crate::change::KernelParams;
use rayon::prelude::*;

#[inline(always)]
fn op<const ERODE: bool>(a: f32, b: f32) -> f32 {
    if ERODE { a.min(b) } else { a.max(b) }
}

/// Horizontal: a 1-D running extreme per row.
fn rows<const ERODE: bool>(w: usize, half: usize, src: &[f32], valid: &[u32], out: &mut [f32]) {
    let neutral = if ERODE { BIG } else { -BIG };
    let k = 2 * half + 1;
    out.par_chunks_mut(w).enumerate().for_each_init(
        || (Vec::new(), Vec::new(), Vec::new()),
        |(f, g, s): &mut (Vec<f32>, Vec<f32>, Vec<f32>), (y, row)| {
            let base = y * w;
            f.clear();
            f.resize(half, neutral);
            f.extend((base..base + w).map(|i| if valid[i] == 0 { neutral } else { src[i] }));
            f.resize(w + 2 * half, neutral);
            let n = f.len();
            g.resize(n, 0.0);
            s.resize(n, 0.0);
            // Prefix extremes restarting at every multiple of k, suffix extremes restarting
            // at every block's last pixel (and the row's).
            for (gb, fb) in g.chunks_mut(k).zip(f.chunks(k)) {
                let mut acc = fb[0];
                gb[0] = acc;
                for (o, &v) in gb[1..].iter_mut().zip(&fb[1..]) {
                    acc = op::<ERODE>(acc, v);
                    *o = acc;
                }
            }
            for (sb, fb) in s.chunks_mut(k).zip(f.chunks(k)) {
                let last = fb.len() - 1;
                let mut acc = fb[last];
                sb[last] = acc;
                for (o, &v) in sb[..last].iter_mut().zip(&fb[..last]).rev() {
                    acc = op::<ERODE>(acc, v);
                    *o = acc;
                }
            }
            for ((o, &a), &b) in row.iter_mut().zip(&s[..w]).zip(&g[k - 1..]) {
                *o = op::<ERODE>(a, b);
            }
        },
    );
}

/// Lines that step one row down and `c` columns (0, +1 or -1) per step.
#[allow(clippy::too_many_arguments)] // mirrors the per-pixel kernel's inputs plus the geometry
fn sweep<const ERODE: bool>(
    w: usize,
    h: usize,
    half: usize,
    c: i64,
    src: &[f32],
    valid: &[u32],
    out: &mut [f32],
) {
    let neutral = if ERODE { BIG } else { -BIG };
    let k = 2 * half + 1;
    let (pw, ph) = (w + 2 * half, h + 2 * half);
    // F on padded row r: the raster's row r - half (nodata as neutral), neutral around it.
    let values = |r: usize, vals: &mut Vec<f32>| {
        vals.clear();
        vals.resize(pw, neutral);
        if let Some(y) = r.checked_sub(half).filter(|&y| y < h) {
            let (s, v) = (&src[y * w..(y + 1) * w], &valid[y * w..(y + 1) * w]);
            for ((o, &x), &ok) in vals[half..half + w].iter_mut().zip(s).zip(v) {
                *o = if ok == 0 { neutral } else { x };
            }
        }
    };
    let mut g = vec![0.0f32; ph * pw];
    let mut s = vec![0.0f32; ph * pw];
    // Prefix extremes along the lines, restarting at the first row of each block of k rows.
    g.par_chunks_mut(k * pw)
        .enumerate()
        .for_each_init(Vec::new, |vals, (b, block)| {
            for dr in 0..block.len() / pw {
                values(b * k + dr, vals);
                let (done, rest) = block.split_at_mut(dr * pw);
                let cur = &mut rest[..pw];
                if dr == 0 {
                    cur.copy_from_slice(vals);
                } else {
                    step::<ERODE>(cur, &done[(dr - 1) * pw..], vals, c, neutral);
                }
            }
        });
    // Suffix extremes, restarting at the last row of each block.
    s.par_chunks_mut(k * pw)
        .enumerate()
        .for_each_init(Vec::new, |vals, (b, block)| {
            let rows = block.len() / pw;
            for dr in (0..rows).rev() {
                values(b * k + dr, vals);
                let (head, tail) = block.split_at_mut((dr + 1) * pw);
                let cur = &mut head[dr * pw..];
                if dr == rows - 1 {
                    cur.copy_from_slice(vals);
                } else {
                    step::<ERODE>(cur, &tail[..pw], vals, -c, neutral);
                }
            }
        });
    // The window of (y, x) runs from padded (y, x + half - c half) to (y + 2 half, x + half + c half).
    let (xs, xe) = (
        (half as i64 - c * half as i64) as usize,
        (half as i64 + c * half as i64) as usize,
    );
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let srow = &s[y * pw + xs..][..w];
        let grow = &g[(y + 2 * half) * pw + xe..][..w];
        for ((o, &a), &b) in row.iter_mut().zip(srow).zip(grow) {
            *o = op::<ERODE>(a, b);
        }
    });
}

/// One step along the lines: `cur[xp] = op(line[xp - shift], vals[xp])` for a `shift` of -1,
/// 0 or 1 columns, `line` read as `neutral` off its ends. Whole-row slices, so it vectorises.
fn step<const ERODE: bool>(cur: &mut [f32], line: &[f32], vals: &[f32], shift: i64, neutral: f32) {
    let pw = cur.len();
    let (cur, line, vals) = match shift {
        1 => {
            cur[0] = op::<ERODE>(neutral, vals[0]);
            (&mut cur[1..], &line[..pw - 1], &vals[1..])
        }
        -1 => {
            cur[pw - 1] = op::<ERODE>(neutral, vals[pw - 1]);
            (&mut cur[..pw - 1], &line[1..pw], &vals[..pw - 1])
        }
        _ => (cur, &line[..pw], vals),
    };
    for ((o, &a), &v) in cur.iter_mut().zip(line).zip(vals) {
        *o = op::<ERODE>(a, v);
    }
}

/// Erode (`erode = true`) or dilate `src` along lines of direction `p.dir` with half-length
/// `p.half`, into `out`.
pub fn line_extreme(p: &KernelParams, src: &[f32], valid: &[u32], out: &mut [f32], erode: bool) {
    let (w, h, half) = (p.width as usize, p.height as usize, p.half as usize);
    // Direction 3 steps (1, -1): the same line as stepping (-1, +1) row by row.
    let shift = match p.dir {
        1 => 0,
        2 => 1,
        _ => -1,
    };
    match (p.dir, erode) {
        (0, true) => rows::<true>(w, half, src, valid, out),
        (0, false) => rows::<false>(w, half, src, valid, out),
        (_, true) => sweep::<true>(w, h, half, shift, src, valid, out),
        (_, false) => sweep::<false>(w, h, half, shift, src, valid, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::cpu::mbi::line_extreme_px;

    #[test]
    fn matches_per_pixel_kernel_in_every_direction() {
        let mut seed = 1u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as f32 / 1e6
        };
        for (w, h) in [(37usize, 23usize), (5, 61), (1, 1), (64, 3)] {
            let src: Vec<f32> = (0..w * h).map(|_| rnd()).collect();
            let valid: Vec<u32> = (0..w * h).map(|i| u32::from(i % 7 != 3)).collect();
            for dir in 0..4 {
                for half in [0, 1, 2, 5, 22, 40] {
                    for erode in [true, false] {
                        let p = KernelParams {
                            width: w as u32,
                            height: h as u32,
                            dir,
                            half,
                            ..Default::default()
                        };
                        let mut fast = vec![0.0; w * h];
                        line_extreme(&p, &src, &valid, &mut fast, erode);
                        for (i, f) in fast.iter().enumerate() {
                            let slow = line_extreme_px(&p, &src, &valid, i, erode);
                            assert_eq!(
                                f.to_bits(),
                                slow.to_bits(),
                                "{w}x{h} dir {dir} half {half} erode {erode} px {i}"
                            );
                        }
                    }
                }
            }
        }
    }
}
