//! Writers of tuban's products, and the rule they share: write under a hidden partial name,
//! rename into place when complete.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

#[cfg(feature = "gdal")]
pub mod chips;
#[cfg(feature = "gdal")]
pub mod gpkg;
#[cfg(feature = "gdal")]
pub mod package;
#[cfg(feature = "gdal")]
pub mod report;
#[cfg(feature = "gdal")]
pub mod rtree;
#[cfg(feature = "gdal")]
pub mod vector;

/// Prepare the output folder: create it, or refuse when the path is a file.
///
/// # Errors
/// [`Error::Write`] naming the folder.
pub fn prepare_out_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Write {
            path: dir.into(),
            reason: "exists and is not a folder".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::Write {
        path: dir.into(),
        reason: e.to_string(),
    })
}

/// The temporary name used while `path` is being written: `.NAME.partial` beside it.
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

/// Write `text` to `path` through its partial name.
///
/// # Errors
/// [`Error::Write`] naming `path`.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, text.as_bytes())
}

/// Write `bytes` to `path` through its partial name.
///
/// # Errors
/// [`Error::Write`] naming `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| Error::Write {
        path: path.into(),
        reason: e.to_string(),
    };
    let tmp = partial_path(path);
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Write `value` as pretty JSON to `path` through its partial name.
///
/// # Errors
/// [`Error::Write`] naming `path`.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Write {
        path: path.into(),
        reason: e.to_string(),
    })?;
    write_text(path, &(text + "\n"))
}
