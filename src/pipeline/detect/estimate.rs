//! What a detection will take before it starts: its outputs on disk (refused when the disk
//! cannot hold them) and its time on the CPU.

use crate::error::{Error, Result};
use std::path::Path;

/// Bytes written per scene pixel: evidence.tif is float32 under ZSTD, which noise barely
/// compresses (3.5 B measured on synth scenes); change.tif's runs of 0 take ~0.01 B. A
/// per-class model adds 4 B per class (classes.tif).
pub(super) const OUTPUT_BYTES_PER_PX: f64 = 3.5;

/// Scene pixels per second and CPU thread of the default pipeline, measured end to end on the
/// 2-core reference machine (16384² county: 45 s on 2 threads); a change model runs at about
/// 0.12 Mpx/s per thread there.
pub(super) const CPU_PX_PER_S_THREAD: f64 = 3.0e6;

pub(super) const MODEL_PX_PER_S_THREAD: f64 = 0.12e6;

/// What a detection will take, roughly: its outputs on disk and its time on the CPU.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub pixels: u64,
    pub output_bytes: f64,
    pub cpu_seconds: f64,
}

/// The estimate for a `width` x `height` scene (`classes` of a per-class model, `model`: a
/// change model runs) on `threads` CPU threads.
pub fn estimate(size: (usize, usize), classes: usize, model: bool, threads: usize) -> Estimate {
    let pixels = size.0 as u64 * size.1 as u64;
    let per_thread = if model {
        MODEL_PX_PER_S_THREAD
    } else {
        CPU_PX_PER_S_THREAD
    };
    Estimate {
        pixels,
        output_bytes: pixels as f64 * (OUTPUT_BYTES_PER_PX + 4.0 * classes as f64),
        cpu_seconds: pixels as f64 / (per_thread * threads.max(1) as f64),
    }
}

/// Free bytes for an unprivileged writer on the volume of `dir` (None where it cannot be told).
pub(super) fn free_bytes(dir: &Path) -> Option<f64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs is plain data, for which all zeros is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid out-pointer for the call.
    let rv = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rv == 0).then_some(st.f_bavail as f64 * st.f_frsize as f64)
}

/// Refuse a detection whose outputs cannot fit the free disk, before any work.
///
/// # Errors
/// [`Error::Write`] naming the folder, what the outputs need and what is free.
pub(super) fn check_disk(dir: &Path, size: (usize, usize), classes: usize) -> Result<()> {
    let need = estimate(size, classes, false, 1).output_bytes;
    match free_bytes(dir) {
        Some(free) if free < need => Err(Error::Write {
            path: dir.into(),
            reason: format!(
                "the outputs of a {}x{} px scene need about {:.1} GB (evidence.tif float32, change.tif{}) and the volume has {:.1} GB free: free space, or write elsewhere with --out",
                size.0,
                size.1,
                need / 1e9,
                if classes > 0 { ", classes.tif" } else { "" },
                free / 1e9
            ),
        }),
        _ => Ok(()),
    }
}
