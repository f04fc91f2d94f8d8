//! The streaming skeleton of every long stage (detect, polygonize, synth): reader threads fill
//! bounded queues in order, the calling thread computes, one writer thread writes. Memory is
//! bounded by the queue depths (a few tiles or rows), never by the scene.
//!
//! Stopping: a failed read is sent on and ends its reader; a writer that fails drops its queue,
//! so the next send fails and the computing side stops; the writer's error (or a panic in it,
//! named by the output) is then returned, the computing side's own failure first.

/// Progress reports from long stages: the stage name, units done, units in total.
pub type ProgressFn<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

use crate::error::{Error, Result};
use crossbeam_channel::{Receiver, Sender};
use std::path::Path;
use std::thread::Scope;

/// Spawn, in `scope`, a reader that sends `read(item)` for every item in order into a queue of
/// `depth` (0: each result is handed over directly, the reader one item ahead), stopping after
/// the first error or when nobody receives any more.
pub fn reader<'scope, I, T>(
    scope: &'scope Scope<'scope, '_>,
    depth: usize,
    items: impl IntoIterator<Item = I> + Send + 'scope,
    mut read: impl FnMut(I) -> Result<T> + Send + 'scope,
) -> Receiver<Result<T>>
where
    T: Send + 'scope,
{
    let (tx, rx) = crossbeam_channel::bounded(depth);
    scope.spawn(move || {
        for item in items {
            let r = read(item);
            let failed = r.is_err();
            if tx.send(r).is_err() || failed {
                break;
            }
        }
    });
    rx
}

/// Run `compute` on this thread while `write` consumes, on a writer thread, what it sends
/// through a queue of `depth`. `compute` returns when it is done, or when a send failed (the
/// writer went away). Both results come back; an error of `compute` takes precedence; a panic
/// of the writer is an [`Error::Write`] naming `output`.
///
/// # Errors
/// The first error of `compute`, else the writer's.
pub fn with_writer<T, C, W>(
    depth: usize,
    output: &Path,
    write: impl FnOnce(Receiver<T>) -> Result<W> + Send,
    compute: impl FnOnce(&Sender<T>) -> Result<C>,
) -> Result<(C, W)>
where
    T: Send,
    W: Send,
{
    let (tx, rx) = crossbeam_channel::bounded::<T>(depth);
    std::thread::scope(|s| {
        let writer = s.spawn(move || write(rx));
        let computed = compute(&tx);
        drop(tx);
        let written = writer.join().map_err(|_| Error::Write {
            path: output.into(),
            reason: "writer thread panicked".into(),
        })?;
        let computed = computed?;
        Ok((computed, written?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_order_and_stop_at_the_first_error() {
        std::thread::scope(|s| {
            let rx = reader(s, 1, 0..10, |i| {
                if i == 6 {
                    Err(Error::Param {
                        name: "i",
                        reason: "six".into(),
                    })
                } else {
                    Ok(i * 2)
                }
            });
            let got: Vec<Result<i32>> = rx.iter().collect();
            assert_eq!(got.len(), 7);
            assert!(
                got[..6]
                    .iter()
                    .enumerate()
                    .all(|(i, r)| *r.as_ref().unwrap() == 2 * i as i32)
            );
            assert!(got[6].is_err());
        });
    }

    #[test]
    fn the_writer_gets_everything_and_its_failure_stops_the_computing_side() {
        let sum = with_writer(
            2,
            Path::new("out"),
            |rx| Ok(rx.iter().sum::<u64>()),
            |tx| {
                for i in 0..100u64 {
                    tx.send(i).map_err(|_| Error::Gpu("gone".into()))?;
                }
                Ok(())
            },
        );
        assert_eq!(sum.unwrap(), ((), 4950));
        // A writer that fails after 3 items: the computing side stops at a failed send and
        // the writer's error comes back.
        let mut sent = 0;
        let r = with_writer(
            1,
            Path::new("out"),
            |rx: Receiver<u32>| {
                for (k, _) in rx.iter().enumerate() {
                    if k == 2 {
                        return Err(Error::write("out", "disk full"));
                    }
                }
                Ok(())
            },
            |tx| {
                for i in 0..1_000_000 {
                    if tx.send(i).is_err() {
                        break;
                    }
                    sent += 1;
                }
                Ok(())
            },
        );
        assert!(r.unwrap_err().to_string().contains("disk full"));
        assert!(sent < 1_000_000);
        // The computing side's own failure comes first; a writer panic names the output.
        let r: Result<((), ())> = with_writer(
            1,
            Path::new("x.tif"),
            |rx: Receiver<u32>| {
                for _ in rx {}
                Ok(())
            },
            |_| Err(Error::Gpu("kernel".into())),
        );
        assert!(r.unwrap_err().to_string().contains("kernel"));
        let r: Result<((), ())> = with_writer(
            1,
            Path::new("x.tif"),
            |_rx: Receiver<u32>| panic!("boom"),
            |_| Ok(()),
        );
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("x.tif") && e.contains("writer thread panicked"),
            "{e}"
        );
    }
}
