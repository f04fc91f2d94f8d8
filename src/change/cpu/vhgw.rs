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
            for j in 0..n {
                g[j] = if j % k == 0 {
                    f[j]
                } else {
                    op::<ERODE>(g[j - 1], f[j])
                };
            }
            for j in (0..n).rev() {
                s[j] = if j % k == k - 1 || j == n - 1 {
                    f[j]
                } else {
                    op::<ERODE>(s[j + 1], f[j])
                };
            }
            for (x, o) in row.iter_mut().enumerate() {
                *o = op::<ERODE>(s[x], g[x + k - 1]);
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
    // F at padded (r, xp): the raster value at (r - half, xp - half), or neutral.
    let value = |r: usize, xp: usize| -> f32 {
        let (y, x) = (r as i64 - half as i64, xp as i64 - half as i64);
        if y < 0 || x < 0 || y >= h as i64 || x >= w as i64 {
            return neutral;
        }
        let i = y as usize * w + x as usize;
        if valid[i] == 0 { neutral } else { src[i] }
    };
    // The neighbour of padded column `xp` on the adjacent row, or neutral off the padding.
    let at = |row: &[f32], xq: i64| {
        if xq < 0 || xq >= pw as i64 {
            neutral
        } else {
            row[xq as usize]
        }
    };
    let mut g = vec![0.0f32; ph * pw];
    let mut s = vec![0.0f32; ph * pw];
    // Prefix extremes along the lines, restarting at the first row of each block of k rows.
    g.par_chunks_mut(k * pw).enumerate().for_each(|(b, block)| {
        for dr in 0..block.len() / pw {
            let r = b * k + dr;
            let (done, rest) = block.split_at_mut(dr * pw);
            let cur = &mut rest[..pw];
            if dr == 0 {
                cur.iter_mut()
                    .enumerate()
                    .for_each(|(xp, v)| *v = value(r, xp));
            } else {
                let prev = &done[(dr - 1) * pw..];
                for (xp, v) in cur.iter_mut().enumerate() {
                    *v = op::<ERODE>(at(prev, xp as i64 - c), value(r, xp));
                }
            }
        }
    });
    // Suffix extremes, restarting at the last row of each block.
    s.par_chunks_mut(k * pw).enumerate().for_each(|(b, block)| {
        let rows = block.len() / pw;
        for dr in (0..rows).rev() {
            let r = b * k + dr;
            let (head, tail) = block.split_at_mut((dr + 1) * pw);
            let cur = &mut head[dr * pw..];
            if dr == rows - 1 {
                cur.iter_mut()
                    .enumerate()
                    .for_each(|(xp, v)| *v = value(r, xp));
            } else {
                let next = &tail[..pw];
                for (xp, v) in cur.iter_mut().enumerate() {
                    *v = op::<ERODE>(at(next, xp as i64 + c), value(r, xp));
                }
            }
        }
    });
    // The window of (y, x) runs from padded (y, x + half - c half) to (y + 2 half, x + half + c half).
    let hc = c * half as i64;
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let srow = &s[y * pw..(y + 1) * pw];
        let grow = &g[(y + 2 * half) * pw..(y + 2 * half + 1) * pw];
        for (x, o) in row.iter_mut().enumerate() {
            let xs = (x as i64 + half as i64 - hc) as usize;
            let xe = (x as i64 + half as i64 + hc) as usize;
            *o = op::<ERODE>(srow[xs], grow[xe]);
        }
    });
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
