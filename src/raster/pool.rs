//! Handles that one thread may use at a time (GDAL datasets) shared by worker threads: a call
//! takes a free one, or makes a new one, and puts it back when done, so the pool grows to the
//! number of threads that ever ran at once and no further.

use crate::error::Result;
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

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

/// The values of a [`FifoCache`], their keys in the order they came, and their bytes.
type Kept<K, V> = (HashMap<K, Arc<V>>, VecDeque<K>, usize);

/// Values that threads share, kept in the order they came and evicted first in, first out
/// once their bytes pass a budget (the newest always stays).
pub struct FifoCache<K, V> {
    inner: Mutex<Kept<K, V>>,
    budget: usize,
    bytes: fn(&V) -> usize,
}

impl<K: Hash + Eq + Copy, V> FifoCache<K, V> {
    /// A cache of up to `budget` bytes, a value's bytes as `bytes` counts them.
    pub fn new(budget: usize, bytes: fn(&V) -> usize) -> Self {
        FifoCache {
            inner: Mutex::new(Default::default()),
            budget,
            bytes,
        }
    }

    /// The value kept under `key`.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        self.lock().0.get(key).cloned()
    }

    /// Keep `value` under `key` and return what is kept there: the value another thread
    /// put first, if one did meanwhile.
    pub fn insert(&self, key: K, value: V) -> Arc<V> {
        let mut inner = self.lock();
        let (map, order, total) = &mut *inner;
        if let Some(v) = map.get(&key) {
            return v.clone();
        }
        let value = Arc::new(value);
        *total += (self.bytes)(&value);
        map.insert(key, value.clone());
        order.push_back(key);
        while *total > self.budget && order.len() > 1 {
            let Some(old) = order.pop_front() else { break };
            if let Some(v) = map.remove(&old) {
                *total -= (self.bytes)(&v);
            }
        }
        value
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept<K, V>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    #[test]
    fn the_cache_keeps_the_first_value_and_evicts_the_oldest_past_its_budget() {
        let c: FifoCache<u32, Vec<u8>> = FifoCache::new(10, Vec::len);
        assert_eq!(*c.insert(1, vec![1; 4]), vec![1; 4]);
        assert_eq!(
            *c.insert(1, vec![9; 4]),
            vec![1; 4],
            "the first value stays"
        );
        c.insert(2, vec![2; 4]);
        c.insert(3, vec![3; 4]); // 12 bytes: the oldest goes
        assert!(c.get(&1).is_none() && c.get(&2).is_some() && c.get(&3).is_some());
        c.insert(4, vec![4; 50]); // over budget alone: it stays, all others go
        assert!(c.get(&4).is_some() && c.get(&2).is_none() && c.get(&3).is_none());
    }
}
