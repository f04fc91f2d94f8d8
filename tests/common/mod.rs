//! Shared test helpers: deterministic synthetic tiles and the GPU context (or a skip).
#![allow(dead_code)]

use tuban::change::{TileInput, TileResult};
use tuban::gpu::{AdapterChoice, GpuContext};

/// The library's deterministic PRNG (SplitMix64), so tests need no second copy.
pub use tuban::synth::world::Rng;

/// A bi-temporal tile with fields, a few new bright "buildings" with shadows in the after date,
/// noise, a gain change between dates and some nodata.
pub fn scene(width: usize, height: usize, bands: usize, seed: u64) -> TileInput {
    let mut rng = Rng::new(seed);
    let n = width * height;
    let mut before = vec![0.0f32; n * bands];
    let mut after = vec![0.0f32; n * bands];
    let mut valid = vec![1u32; n];
    let blocks: Vec<(usize, usize, usize, usize)> = (0..(n / 900).max(2))
        .map(|_| {
            let (bw, bh) = (
                4 + ((rng.unit() as f32) * 14.0) as usize,
                4 + ((rng.unit() as f32) * 14.0) as usize,
            );
            let x = ((rng.unit() as f32) * width.saturating_sub(bw + 1) as f32) as usize;
            let y = ((rng.unit() as f32) * height.saturating_sub(bh + 1) as f32) as usize;
            (x, y, bw, bh)
        })
        .collect();
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let field = ((x / 37 + y / 23) % 3) as f32;
            for b in 0..bands {
                let base = 300.0 + 150.0 * field + 40.0 * b as f32 + 20.0 * (rng.unit() as f32);
                before[b * n + i] = base;
                after[b * n + i] = 0.9 * base + 25.0 + 20.0 * (rng.unit() as f32);
            }
            if (rng.unit() as f32) < 0.003 {
                valid[i] = 0;
            }
        }
    }
    for &(bx, by, bw, bh) in &blocks {
        for y in by..by + bh {
            for x in bx..bx + bw {
                for b in 0..bands {
                    after[b * n + y * width + x] = 1500.0 + 100.0 * b as f32;
                }
                if bands > 3 {
                    // The new roof replaced vegetation: high NIR before.
                    before[3 * n + y * width + x] = 2500.0;
                }
            }
            // shadow on the east side
            let sx = (bx + bw).min(width - 1);
            for b in 0..bands {
                after[b * n + y * width + sx] = 80.0;
            }
        }
    }
    TileInput {
        width,
        height,
        bands,
        before,
        after,
        valid,
    }
}

/// The GPU context on any adapter (lavapipe in CI), or None with "skipped" printed. With
/// REQUIRE_GPU=1 a missing adapter fails the test instead.
pub fn gpu() -> Option<GpuContext> {
    match GpuContext::new(AdapterChoice::Any) {
        Ok(g) => {
            eprintln!("GPU adapter: {}", g.adapter_name());
            Some(g)
        }
        Err(e) => {
            if std::env::var("REQUIRE_GPU").is_ok_and(|v| v == "1") {
                panic!("REQUIRE_GPU=1 but no GPU: {e}");
            }
            eprintln!("skipped: no GPU adapter ({e})");
            None
        }
    }
}

/// Bitwise equality of two tile results (NaN evidence compares equal to NaN).
pub fn same_result(a: &TileResult, b: &TileResult) -> bool {
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    bits(&a.evidence) == bits(&b.evidence)
        && a.mask == b.mask
        && a.near_threshold == b.near_threshold
}

/// A GDAL dataset opened with `flags` (update, vector, ...).
#[cfg(feature = "gdal")]
pub fn open_with(path: impl AsRef<std::path::Path>, flags: gdal::GdalOpenFlags) -> gdal::Dataset {
    gdal::Dataset::open_ex(
        path,
        gdal::DatasetOptions {
            open_flags: flags,
            ..Default::default()
        },
    )
    .unwrap()
}

/// A dataset opened for update.
#[cfg(feature = "gdal")]
pub fn open_update(path: impl AsRef<std::path::Path>) -> gdal::Dataset {
    open_with(path, gdal::GdalOpenFlags::GDAL_OF_UPDATE)
}

#[cfg(feature = "gdal")]
pub mod cdp;
#[cfg(feature = "gdal")]
pub mod cli;
#[cfg(feature = "gdal")]
pub mod http;
#[cfg(feature = "gdal")]
pub mod postgis;
#[cfg(feature = "gdal")]
pub mod raster;
#[cfg(feature = "gdal")]
pub mod vector;
