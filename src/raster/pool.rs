//! Handles that one thread may use at a time (GDAL datasets) shared by worker threads: a call
//! takes a free one, or makes a new one, and puts it back when done, so the pool grows to the
//! number of threads that ever ran at once and no further.

use crate::error::Result;
use std::sync::Mutex;

/// A pool of handles of type `T`.
pub struct Pool<T> {
    free: Mutex<Vec<T>>,
}

impl<T> Pool<T> {
    /// A pool holding `free` to start with.
    pub fn new(free: Vec<T>) -> Self {
        Pool {
            free: Mutex::new(free),
        }
    }

    /// Run `f` with a handle: a free one, else one `make` creates; the handle goes back to the
    /// pool afterwards, whatever `f` returned.
    ///
    /// # Errors
    /// What `make` or `f` return.
    pub fn with<R>(
        &self,
        make: impl FnOnce() -> Result<T>,
        f: impl FnOnce(&T) -> Result<R>,
    ) -> Result<R> {
        let handle = match self.free.lock().ok().and_then(|mut v| v.pop()) {
            Some(h) => h,
            None => make()?,
        };
        let result = f(&handle);
        if let Ok(mut v) = self.free.lock() {
            v.push(handle);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_reused_and_made_only_when_none_is_free() {
        let pool = Pool::new(vec![7u32]);
        let made = std::cell::Cell::new(0);
        let make = || {
            made.set(made.get() + 1);
            Ok(1u32)
        };
        assert_eq!(pool.with(make, |h| Ok(*h)).unwrap(), 7);
        assert_eq!(pool.with(make, |h| Ok(*h)).unwrap(), 7);
        assert_eq!(made.get(), 0);
        // A handle in use is not handed out twice: the nested call makes a new one.
        let inner = pool.with(make, |_| pool.with(make, |h| Ok(*h))).unwrap();
        assert_eq!((inner, made.get()), (1, 1));
        // Both went back (the last returned is handed out first), and an error from the work
        // still returns the handle: nothing more is ever made.
        let failed: Result<()> = pool.with(make, |_| Err(crate::Error::Gpu("x".into())));
        assert!(failed.is_err());
        assert_eq!(pool.with(make, |h| Ok(*h)).unwrap(), 7);
        let both = pool
            .with(make, |a| pool.with(make, |b| Ok((*a, *b))))
            .unwrap();
        assert_eq!((both, made.get()), ((7, 1), 1));
    }
}
