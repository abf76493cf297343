//! A small in-process cache with a time to live, for records read on every request and changed
//! rarely: tenant credentials, run settings, scenarios. A change made in this process forgets
//! the entry at once; one made elsewhere (another Lambda instance, the CLI) is seen within the
//! time to live. Bounded: past its size the least recently used entry makes room, so a burst of
//! new keys pushes out only the coldest entries, never the ones in use.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use lru::LruCache;

use crate::Clock;

pub struct TtlCache<V: Clone> {
    clock: Arc<dyn Clock>,
    ttl: Duration,
    // A read moves the entry to the front, so reads lock too; the critical sections are a few
    // pointer moves.
    entries: Mutex<LruCache<String, (DateTime<Utc>, V)>>,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(clock: Arc<dyn Clock>, ttl: std::time::Duration, max_entries: usize) -> Self {
        Self {
            clock,
            ttl: Duration::from_std(ttl).unwrap_or(Duration::seconds(30)),
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(max_entries).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    /// The value stored under `key`, while it is fresh.
    pub fn get(&self, key: &str) -> Option<V> {
        let now = self.clock.now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some((stored_at, value)) if now - *stored_at < self.ttl => Some(value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value`; when full, the least recently used entry is evicted.
    pub fn put(&self, key: impl Into<String>, value: V) {
        let now = self.clock.now();
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(key.into(), (now, value));
    }

    pub fn invalidate(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop(key);
    }

    /// How many entries are held (fresh or not yet evicted).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let cache = TtlCache::new(clock.clone(), std::time::Duration::from_secs(30), 2);
        cache.put("a", 1);
        assert_eq!(cache.get("a"), Some(1));
        clock.advance(Duration::seconds(31));
        assert_eq!(cache.get("a"), None);
        cache.put("a", 2);
        cache.invalidate("a");
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_entry_only() {
        // GIVEN a full cache of two where `a` was read after `b` was stored
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let cache = TtlCache::new(clock, std::time::Duration::from_secs(30), 2);
        cache.put("a", 1);
        cache.put("b", 2);
        assert_eq!(cache.get("a"), Some(1));
        // WHEN a third key arrives
        cache.put("c", 3);
        // THEN only `b`, the least recently used, made room
        assert_eq!(
            (cache.get("a"), cache.get("b"), cache.get("c")),
            (Some(1), None, Some(3))
        );
        assert_eq!(cache.len(), 2);
    }
}
