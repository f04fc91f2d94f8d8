//! One writer per output folder. `detect` and `run` hold an advisory lock (`flock`) on
//! `DIR/.tuban.lock` while they write `DIR`; a second run on the same folder is refused with the
//! holder's process, host and start time instead of interleaving its tiles and checkpoints with
//! the first (two runs at once gave wrong outputs that a rerun then kept as done). The kernel
//! releases the lock when its holder exits, however it exits, so a lock left by a killed run is
//! simply taken over; the file itself stays (deleting it would let a third run lock a new file
//! while a second still holds the old one).

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The lock file's name inside the folder.
pub const LOCK_FILE: &str = ".tuban.lock";

/// A held folder lock; released when dropped.
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
    pub path: PathBuf,
}

impl FolderLock {
    /// Lock `dir` (which must exist) for this process.
    ///
    /// # Errors
    /// [`Error::Write`] naming the folder: held by another run (with its holder), or the lock
    /// file cannot be opened.
    pub fn acquire(dir: &Path) -> Result<FolderLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::write(&path, e))?;
        if !try_lock(&file) {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let holder = describe(holder.trim(), unix_now());
            let holder = holder.as_str();
            return Err(Error::write(
                dir,
                format!(
                    "another tuban run is writing this folder ({}); wait for it to finish or choose another output folder",
                    if holder.is_empty() {
                        "holder unknown"
                    } else {
                        holder
                    }
                ),
            ));
        }
        let holder = format!(
            "pid {} on {}, started at Unix time {}\n",
            std::process::id(),
            host_name(),
            unix_now()
        );
        file.set_len(0)
            .and_then(|()| file.write_all(holder.as_bytes()))
            .map_err(|e| Error::write(&path, e))?;
        Ok(FolderLock { _file: file, path })
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The holder line with how long ago it started, when the line says.
fn describe(holder: &str, now: u64) -> String {
    let started = holder
        .rsplit_once("Unix time ")
        .and_then(|(_, t)| t.trim().parse::<u64>().ok());
    match started {
        Some(t) => format!("{holder}, {} s ago", now.saturating_sub(t)),
        None => holder.to_string(),
    }
}

/// Take an exclusive advisory lock on `file` without waiting.
#[cfg(unix)]
fn try_lock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this process owns; released on close or exit.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Elsewhere the folder is not locked.
#[cfg(not(unix))]
fn try_lock(_: &File) -> bool {
    true
}

/// This machine's name, for the lock's holder line.
fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: gethostname writes at most buf.len() bytes into buf.
        if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            return String::from_utf8_lossy(&buf[..end]).into_owned();
        }
    }
    "unknown host".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let d = tempfile::tempdir().unwrap();
        let first = FolderLock::acquire(d.path()).unwrap();
        // flock locks belong to the open file: a second open in this process conflicts too.
        let e = FolderLock::acquire(d.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!("pid {}", std::process::id())) && e.contains("another tuban run"),
            "{e}"
        );
        assert!(e.contains("s ago"), "{e}");
        assert_eq!(
            describe("pid 1 on h, started at Unix time 100", 160),
            "pid 1 on h, started at Unix time 100, 60 s ago"
        );
        assert_eq!(describe("garbled", 160), "garbled");
        drop(first);
        let again = FolderLock::acquire(d.path()).unwrap();
        assert!(again.path.ends_with(LOCK_FILE));
    }
}
