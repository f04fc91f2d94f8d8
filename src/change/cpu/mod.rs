//! CPU twins of the WGSL kernels. `cpu::NAME` mirrors `shaders/NAME.wgsl`: same inputs, same
//! output layout, same arithmetic in the same order, so masks agree bit for bit with the GPU.
//!
//! Each per-pixel kernel is a plain `fn` (`*_px`), the literal twin of its WGSL entry point
//! (tested against it kernel by kernel on Vulkan). [`Driver::Sequential`] walks those per-pixel
//! twins in order: the reference. [`Driver::Rayon`] is the production path: the same twins on
//! the rayon pool, or, where one exists, a faster algorithm with the same result (line
//! erosion/dilation by van Herk/Gil-Werman in `vhgw`, line joining on byte planes in
//! `chains`, the conversion evidence row by row); tests check that both drivers give the same
//! bytes. The rows test (`morphology::rows`) has only its fast form, checked against its
//! per-pixel twin and the GPU.

pub mod chains;
pub mod mbi;
pub mod morphology;
pub mod normalize;
pub mod spectral;
pub mod threshold;
mod tile;
pub mod vhgw;

pub use tile::{run_tile, run_tile_on};

use rayon::prelude::*;

/// How the CPU runs a kernel: the per-pixel reference twins in order, or the production path
/// on the rayon pool (the same result, by the twins or a faster algorithm; see the module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    Sequential,
    Rayon,
}

impl Driver {
    /// Fill `out` (a `width`-wide raster) with `f(index)` for every pixel.
    pub fn fill<T: Send>(self, out: &mut [T], width: usize, f: impl Fn(usize) -> T + Sync) {
        let width = width.max(1);
        match self {
            Driver::Sequential => out.iter_mut().enumerate().for_each(|(i, o)| *o = f(i)),
            Driver::Rayon => out
                .par_chunks_mut(width)
                .enumerate()
                .for_each(|(row, chunk)| {
                    let base = row * width;
                    chunk
                        .iter_mut()
                        .enumerate()
                        .for_each(|(x, o)| *o = f(base + x));
                }),
        }
    }

    /// Replace every element `v` at index `i` of `data` by `f(i, v)`.
    pub fn update<T: Send + Copy>(self, data: &mut [T], f: impl Fn(usize, T) -> T + Sync) {
        match self {
            Driver::Sequential => data.iter_mut().enumerate().for_each(|(i, v)| *v = f(i, *v)),
            Driver::Rayon => data
                .par_iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = f(i, *v)),
        }
    }
}

pub use super::contract::BIG;

/// `fn NAME(args) -> R` that runs `INNER(args)` compiled for AVX2 where the CPU has it (x86-64;
/// elsewhere, or without it, as built). The baseline x86-64 target has SSE2 only, on which the
/// compiler keeps loops with float blends and divisions scalar; inlined into the AVX2 twin
/// (`INNER` must be `#[inline(always)]`) they run eight lanes wide. The same operations in the
/// same order either way: results are bit for bit those of the baseline build (Rust never
/// fuses a multiply and an add on its own).
macro_rules! avx2_twin {
    ($(#[$m:meta])* $vis:vis fn $name:ident => $inner:ident ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)?) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                /// # Safety
                /// Only on a CPU with AVX2.
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $inner($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2 (checked just now).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $inner($($arg),*)
        }
    };
}
pub(crate) use avx2_twin;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_and_rayon_fill_agree() {
        let mut a = vec![0u32; 37 * 23];
        let mut b = vec![0u32; 37 * 23];
        Driver::Sequential.fill(&mut a, 37, |i| (i as u32).wrapping_mul(2_654_435_761));
        Driver::Rayon.fill(&mut b, 37, |i| (i as u32).wrapping_mul(2_654_435_761));
        assert_eq!(a, b);
    }
}
