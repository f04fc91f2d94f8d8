//! Resuming detection after an interruption. While the main pass runs, `DIR/.detect.checkpoint`
//! holds a key of everything the output depends on (inputs with their sizes and times, grid,
//! pipeline parameters, the fitted radiometry and threshold, tuban's version), then one line
//! per tile written: its index and pixel counts. A tile is listed only after both rasters were
//! flushed to disk with it. A rerun with the same key reopens the partial rasters and skips the
//! listed tiles; any other state starts over. When the rasters are whole a last line says so
//! (with the mask classes that occur), and a rerun after a kill while the polygons were written
//! makes only the polygons again. The file is removed when detection completes.

use super::detect::{Counts, DetectOptions};
use crate::change::Plan;
use crate::error::{Error, Result};
use crate::raster::grid::TileGrid;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The checkpoint's file name in the output folder.
pub const NAME: &str = ".detect.checkpoint";

/// What an interrupted run left: the tiles done and their counts.
pub struct Resume {
    pub done: HashSet<usize>,
    pub counts: Counts,
    /// The checkpoint to append to (None: this run cannot be resumed).
    pub log: Option<PathBuf>,
}

/// Hash a file's identity as far as resuming is concerned: its path, size and modification
/// time (content hashing would read whole scenes).
pub fn hash_file(path: &Path, h: &mut impl Hasher) {
    path.hash(h);
    if let Ok(m) = std::fs::metadata(path) {
        m.len().hash(h);
        m.modified().ok().hash(h);
    }
}

/// The key of a detection run.
pub fn key(opts: &DetectOptions, size: (usize, usize), grid: &TileGrid, plan: &Plan) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in [&opts.before, &opts.after] {
        hash_file(p, &mut h);
    }
    // A model's tiles are its own: another model file or configuration starts afresh.
    if let Some(m) = &opts.model {
        for p in std::iter::once(&m.path).chain(&m.config) {
            hash_file(p, &mut h);
        }
        m.tile_px.hash(&mut h);
    }
    size.hash(&mut h);
    (grid.tile_px, grid.halo_px, grid.len()).hash(&mut h);
    format!("{:?}", plan.config).hash(&mut h);
    plan.coeffs
        .iter()
        .map(|c| c.to_bits())
        .collect::<Vec<_>>()
        .hash(&mut h);
    plan.threshold.to_bits().hash(&mut h);
    plan.cloud_value.to_bits().hash(&mut h);
    plan.dark_value.to_bits().hash(&mut h);
    plan.bright_value.to_bits().hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    format!("tuban-detect {:016x}", h.finish())
}

/// The tiles recorded under `key`, or None when the checkpoint is absent or for other inputs.
pub fn load(log: &Path, key: &str) -> Option<(HashSet<usize>, Counts)> {
    let text = std::fs::read_to_string(log).ok()?;
    let mut lines = text.lines();
    if lines.next()? != key {
        return None;
    }
    let mut done = HashSet::new();
    let mut counts = Counts::default();
    for line in lines {
        let v: Vec<u64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
        // A line cut short by the interruption is not a finished tile.
        // (Checkpoints of versions without the shadow count, five numbers a line, are not
        // read: their tiles are computed again.)
        let [id, valid, changed, near, cloud, shadow] = v.as_slice() else {
            continue;
        };
        if done.insert(*id as usize) {
            counts.valid += valid;
            counts.changed += changed;
            counts.near += near;
            counts.cloud += cloud;
            counts.shadow += shadow;
        }
    }
    Some((done, counts))
}

/// The line that marks a finished main pass, followed by the mask classes that occur.
const FINISHED: &str = "finished";

/// Record that every tile is written and both rasters are whole (`classes`: the mask classes
/// that occur, as [`super::detect`] counts them): a run killed while it writes the polygons
/// then resumes with the polygons.
///
/// # Errors
/// [`Error::Write`] naming the checkpoint.
pub fn finish(log: &Path, classes: u32) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .map_err(|e| Error::write(log, e))?;
    writeln!(f, "{FINISHED} {classes}").map_err(|e| Error::write(log, e))
}

/// The counts and mask classes of a finished main pass under `key`, or None.
pub fn finished(log: &Path, key: &str) -> Option<(Counts, u32)> {
    let (_, counts) = load(log, key)?;
    let text = std::fs::read_to_string(log).ok()?;
    let classes = text
        .lines()
        .find_map(|l| l.strip_prefix(FINISHED)?.trim().parse().ok())?;
    Some((counts, classes))
}

/// Start a new checkpoint under `key`.
///
/// # Errors
/// [`Error::Write`] naming the checkpoint.
pub fn start(log: &Path, key: &str) -> Result<()> {
    std::fs::write(log, format!("{key}\n")).map_err(|e| Error::write(log, e))
}

/// Remove a checkpoint that lists no written tile (a run that failed before its first tile
/// has nothing to resume: its key alone would be a hidden file left in the user's folder).
pub fn discard_if_empty(log: &Path) {
    if std::fs::read_to_string(log).is_ok_and(|t| t.lines().nth(1).is_none()) {
        let _ = std::fs::remove_file(log);
    }
}

/// Record tile `id` as written.
///
/// # Errors
/// [`Error::Write`] naming the checkpoint.
pub fn append(log: &Path, id: usize, c: &Counts) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .map_err(|e| Error::write(log, e))?;
    writeln!(
        f,
        "{id} {} {} {} {} {}",
        c.valid, c.changed, c.near, c.cloud, c.shadow
    )
    .map_err(|e| Error::write(log, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_reads_back_its_tiles_and_ignores_a_torn_line() {
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join(NAME);
        start(&log, "k1").unwrap();
        append(
            &log,
            3,
            &Counts {
                valid: 10,
                changed: 2,
                near: 1,
                cloud: 4,
                shadow: 2,
            },
        )
        .unwrap();
        append(
            &log,
            0,
            &Counts {
                valid: 5,
                changed: 1,
                near: 0,
                cloud: 0,
                shadow: 1,
            },
        )
        .unwrap();
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        write!(f, "7 12 1 0 0").unwrap();
        let (done, c) = load(&log, "k1").unwrap();
        assert_eq!(done, HashSet::from([0, 3]));
        assert_eq!(
            c,
            Counts {
                valid: 15,
                changed: 3,
                near: 1,
                cloud: 4,
                shadow: 3,
            }
        );
        assert!(load(&log, "k2").is_none(), "other inputs start over");
    }
}
