//! 2-d convolution as matrix products: the one hot loop of the model engine, shared by
//! inference (any ONNX `Conv` / `ConvTranspose`) and training (forward and backward).
//!
//! One image of `c` channels is unfolded (im2col) into a `c·kh·kw` x `pixels` matrix, a band of
//! output rows at a time so that the unfolded matrix stays a few MB whatever the image size;
//! the weights (`o` x `c·kh·kw`, ONNX's layout flattened) multiply it with `matrixmultiply`'s
//! sgemm. Bands run in parallel on rayon.

use rayon::prelude::*;

/// The geometry of one convolution over one image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Input channels (of one group), height, width.
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    /// Padding at the top and left (the bottom and right follow from `oh`, `ow`).
    pub pad: (usize, usize),
    pub dilation: (usize, usize),
    /// Output height and width.
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    /// The geometry of a convolution with ONNX's `pads = [top, left, bottom, right]`; None
    /// when the kernel does not fit the padded image.
    pub fn new(
        (c, h, w): (usize, usize, usize),
        (kh, kw): (usize, usize),
        stride: (usize, usize),
        pads: [usize; 4],
        dilation: (usize, usize),
    ) -> Option<Self> {
        let reach_h = dilation.0 * (kh.max(1) - 1) + 1;
        let reach_w = dilation.1 * (kw.max(1) - 1) + 1;
        let ph = h + pads[0] + pads[2];
        let pw = w + pads[1] + pads[3];
        if ph < reach_h || pw < reach_w || stride.0 == 0 || stride.1 == 0 {
            return None;
        }
        Some(ConvGeom {
            c,
            h,
            w,
            kh,
            kw,
            stride,
            pad: (pads[0], pads[1]),
            dilation,
            oh: (ph - reach_h) / stride.0 + 1,
            ow: (pw - reach_w) / stride.1 + 1,
        })
    }

    /// A 'same' convolution: stride 1, `k` x `k`, padding `k / 2` (odd `k`).
    pub fn same(c: usize, h: usize, w: usize, k: usize) -> Self {
        let p = k / 2;
        ConvGeom::new((c, h, w), (k, k), (1, 1), [p, p, p, p], (1, 1))
            .expect("a same convolution always fits")
    }

    /// Rows of the unfolded matrix.
    pub fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Input row and column of kernel tap `(ky, kx)` for output `(oy, ox)`, if inside.
    #[inline]
    fn source(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let y = (oy * self.stride.0 + ky * self.dilation.0).checked_sub(self.pad.0)?;
        let x = (ox * self.stride.1 + kx * self.dilation.1).checked_sub(self.pad.1)?;
        (y < self.h && x < self.w).then_some((y, x))
    }

    /// Output rows per band so that a band's unfolded matrix holds about `budget` floats.
    fn band_rows(&self, budget: usize) -> usize {
        (budget / (self.k() * self.ow).max(1)).clamp(1, self.oh.max(1))
    }
}

/// Unfold output rows `y0..y1` of one image `x` (`c` x `h` x `w`) into `col` (`k` x rows·ow).
pub fn im2col(g: &ConvGeom, x: &[f32], y0: usize, y1: usize, col: &mut [f32]) {
    let n = (y1 - y0) * g.ow;
    for ci in 0..g.c {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = ((ci * g.kh + ky) * g.kw + kx) * n;
                let out = &mut col[row..row + n];
                for (r, oy) in (y0..y1).enumerate() {
                    let dst = &mut out[r * g.ow..(r + 1) * g.ow];
                    if g.stride.1 == 1 && g.dilation.1 == 1 {
                        // Contiguous source row: copy the inside span, zero the padding.
                        let Some(y) = (oy * g.stride.0 + ky * g.dilation.0)
                            .checked_sub(g.pad.0)
                            .filter(|&y| y < g.h)
                        else {
                            dst.fill(0.0);
                            continue;
                        };
                        let shift = kx as isize - g.pad.1 as isize;
                        let lo = (-shift).clamp(0, g.ow as isize) as usize;
                        let hi = (g.w as isize - shift).clamp(lo as isize, g.ow as isize) as usize;
                        dst[..lo].fill(0.0);
                        dst[hi..].fill(0.0);
                        let s = (lo as isize + shift) as usize;
                        dst[lo..hi].copy_from_slice(&plane[y * g.w + s..y * g.w + s + (hi - lo)]);
                    } else {
                        for (ox, d) in dst.iter_mut().enumerate() {
                            *d = g
                                .source(oy, ox, ky, kx)
                                .map_or(0.0, |(y, x)| plane[y * g.w + x]);
                        }
                    }
                }
            }
        }
    }
}

/// Fold `col` (`k` x oh·ow, the whole image) back, adding into `dx` (`c` x `h` x `w`): the
/// transpose of [`im2col`] (gradients of the input; `ConvTranspose`).
pub fn col2im(g: &ConvGeom, col: &[f32], dx: &mut [f32]) {
    let n = g.oh * g.ow;
    for ci in 0..g.c {
        let plane = &mut dx[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = &col[((ci * g.kh + ky) * g.kw + kx) * n..][..n];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        if let Some((y, x)) = g.source(oy, ox, ky, kx) {
                            plane[y * g.w + x] += row[oy * g.ow + ox];
                        }
                    }
                }
            }
        }
    }
}

/// `c[m x n] = a[m x k] · b[k x n] (+ c when accumulate)`, row-major with row strides.
#[expect(clippy::too_many_arguments, reason = "a plain sgemm call")]
pub fn gemm(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    c: &mut [f32],
    rsc: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the callers pass slices that hold every element the strides address (checked
    // below for the last element of each matrix).
    assert!(k == 0 || (m - 1) * rsa + (k - 1) * csa < a.len());
    assert!(k == 0 || (k - 1) * rsb + (n - 1) * csb < b.len());
    assert!((m - 1) * rsc + (n - 1) < c.len());
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            if accumulate { 1.0 } else { 0.0 },
            c.as_mut_ptr(),
            rsc as isize,
            1,
        );
    }
}

/// Floats an unfolded band may hold (16 MB).
const BAND_BUDGET: usize = 4 << 20;

/// Convolve one image: `x` (`c` x `h` x `w`), `weight` (`o` x `k`), `bias` (`o` or empty) into
/// `out` (`o` x oh x ow). Bands of output rows run in parallel.
pub fn conv_forward(
    g: &ConvGeom,
    o: usize,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    out: &mut [f32],
) {
    let (k, plane) = (g.k(), g.oh * g.ow);
    let rows = g.band_rows(BAND_BUDGET);
    let bands: Vec<(usize, usize)> = (0..g.oh)
        .step_by(rows)
        .map(|y0| (y0, (y0 + rows).min(g.oh)))
        .collect();
    let results: Vec<Vec<f32>> = bands
        .par_iter()
        .map(|&(y0, y1)| {
            let n = (y1 - y0) * g.ow;
            let mut col = vec![0.0; k * n];
            im2col(g, x, y0, y1, &mut col);
            let mut part = vec![0.0; o * n];
            gemm((o, k, n), weight, (k, 1), &col, (n, 1), &mut part, n, false);
            part
        })
        .collect();
    for (&(y0, y1), part) in bands.iter().zip(results) {
        let n = (y1 - y0) * g.ow;
        for oc in 0..o {
            let b = bias.get(oc).copied().unwrap_or(0.0);
            let dst = &mut out[oc * plane + y0 * g.ow..][..n];
            for (d, &v) in dst.iter_mut().zip(&part[oc * n..(oc + 1) * n]) {
                *d = v + b;
            }
        }
    }
}

/// Gradients of one image's convolution: adds `dW` (`o` x `k`) and `db` (`o`) and returns `dx`
/// (`c` x `h` x `w`) when asked. `dout` is `o` x oh·ow.
pub fn conv_backward(
    g: &ConvGeom,
    o: usize,
    x: &[f32],
    weight: &[f32],
    dout: &[f32],
    (dw, db): (&mut [f32], &mut [f32]),
    want_dx: bool,
) -> Option<Vec<f32>> {
    let (k, n) = (g.k(), g.oh * g.ow);
    let mut col = vec![0.0; k * n];
    im2col(g, x, 0, g.oh, &mut col);
    // dW[o x k] += dout[o x n] · colᵀ[n x k]
    gemm((o, n, k), dout, (n, 1), &col, (1, n), dw, k, true);
    for (oc, d) in db.iter_mut().enumerate() {
        *d += dout[oc * n..(oc + 1) * n].iter().sum::<f32>();
    }
    want_dx.then(|| {
        // dcol[k x n] = Wᵀ[k x o] · dout[o x n]
        gemm((k, o, n), weight, (1, k), dout, (n, 1), &mut col, n, false);
        let mut dx = vec![0.0; g.c * g.h * g.w];
        col2im(g, &col, &mut dx);
        dx
    })
}

/// One output value of a (grouped) convolution by its definition: the CPU twin of
/// `shaders/conv.wgsl` (same loop order), and the reference the tests hold the matrix-product
/// path to. `g.c` is the image's channel count (all groups); output index `i` of `o` x oh x ow.
pub fn conv_px(
    g: &ConvGeom,
    (o, group): (usize, usize),
    x: &[f32],
    w: &[f32],
    b: &[f32],
    i: usize,
) -> f32 {
    let (ox, oy, oc) = (i % g.ow, (i / g.ow) % g.oh, i / (g.ow * g.oh));
    let cg = g.c / group;
    let c0 = (oc / (o / group)) * cg;
    let mut s = b.get(oc).copied().unwrap_or(0.0);
    for ci in 0..cg {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                if let Some((y, xx)) = g.source(oy, ox, ky, kx) {
                    s += x[((c0 + ci) * g.h + y) * g.w + xx]
                        * w[((oc * cg + ci) * g.kh + ky) * g.kw + kx];
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(g: &ConvGeom, o: usize, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        (0..o * g.oh * g.ow)
            .map(|i| conv_px(g, (o, 1), x, w, b, i))
            .collect()
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn conv_matches_its_definition_for_strides_pads_and_dilations() {
        for (k, stride, pads, dil) in [
            (3, (1, 1), [1, 1, 1, 1], (1, 1)),
            (3, (2, 2), [1, 0, 1, 2], (1, 1)),
            (1, (1, 1), [0, 0, 0, 0], (1, 1)),
            (3, (1, 2), [2, 2, 2, 2], (2, 2)),
        ] {
            let g = ConvGeom::new((3, 11, 13), (k, k), stride, pads, dil).unwrap();
            let (x, w, b) = (values(3 * 11 * 13, 1), values(5 * g.k(), 2), values(5, 3));
            let mut out = vec![0.0; 5 * g.oh * g.ow];
            conv_forward(&g, 5, &x, &w, &b, &mut out);
            let want = naive(&g, 5, &x, &w, &b);
            for (a, e) in out.iter().zip(&want) {
                assert!((a - e).abs() < 1e-4, "{a} vs {e} for {g:?}");
            }
        }
    }

    #[test]
    fn conv_gradients_match_finite_differences() {
        let g = ConvGeom::new((2, 6, 7), (3, 3), (1, 1), [1, 1, 1, 1], (1, 1)).unwrap();
        let (x, w) = (values(2 * 6 * 7, 4), values(3 * g.k(), 5));
        let b = vec![0.1, -0.2, 0.3];
        // Loss: sum of out · r for a fixed r.
        let r = values(3 * g.oh * g.ow, 6);
        let loss = |x: &[f32], w: &[f32]| -> f64 {
            let mut out = vec![0.0; r.len()];
            conv_forward(&g, 3, x, w, &b, &mut out);
            out.iter().zip(&r).map(|(a, b)| f64::from(a * b)).sum()
        };
        let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; 3]);
        let dx = conv_backward(&g, 3, &x, &w, &r, (&mut dw, &mut db), true).unwrap();
        let eps = 1e-2;
        for i in [0, 7, 20, 41] {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[i] += eps;
            xm[i] -= eps;
            let num = (loss(&xp, &w) - loss(&xm, &w)) / (2.0 * f64::from(eps));
            assert!(
                (num - f64::from(dx[i])).abs() < 1e-2,
                "dx[{i}] {num} vs {}",
                dx[i]
            );
            let (mut wp, mut wm) = (w.clone(), w.clone());
            wp[i] += eps;
            wm[i] -= eps;
            let num = (loss(&x, &wp) - loss(&x, &wm)) / (2.0 * f64::from(eps));
            assert!(
                (num - f64::from(dw[i])).abs() < 1e-2,
                "dw[{i}] {num} vs {}",
                dw[i]
            );
        }
        let sum_r: f32 = r[..g.oh * g.ow].iter().sum();
        assert!((db[0] - sum_r).abs() < 1e-3);
    }
}
