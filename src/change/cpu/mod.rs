//! CPU twins of the WGSL kernels. `cpu::NAME` mirrors `shaders/NAME.wgsl`: same inputs, same
//! output layout, same arithmetic in the same order, so masks agree bit for bit with the GPU.
//!
//! Each per-pixel kernel is a plain `fn`; [`Driver`] runs it over a buffer either sequentially
//! or on the rayon pool, and tests check that both give the same bytes.

pub mod chains;
pub mod mbi;
pub mod morphology;
pub mod normalize;
pub mod spectral;
pub mod threshold;
pub mod vhgw;

use rayon::prelude::*;

/// How a CPU kernel walks its output: one thread, or rayon over rows.
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
