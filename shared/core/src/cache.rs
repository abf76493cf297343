//! A small in-process cache with a time to live, for records read on every request and changed
//! rarely: tenant credentials, run settings, scenarios. A change made in this process forgets
//! the entry at once; one made elsewhere (another Lambda instance, the CLI) is seen within the
//! time to live. Bounded: past its size it starts over (simple, and rare in practice).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};

use crate::Clock;

pub struct TtlCache<V: Clone> {
    clock: Arc<dyn Clock>,
    ttl: Duration,
    max_entries: usize,
    entries: RwLock<HashMap<String, (DateTime<Utc>, V)>>,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(clock: Arc<dyn Clock>, ttl: std::time::Duration, max_entries: usize) -> Self {
        Self {
            clock,
            ttl: Duration::from_std(ttl).unwrap_or(Duration::seconds(30)),
            max_entries,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The value stored under `key`, while it is fresh.
    pub fn get(&self, key: &str) -> Option<V> {
        let now = self.clock.now();
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(stored_at, _)| now - *stored_at < self.ttl)
            .map(|(_, value)| value.clone())
    }

    pub fn put(&self, key: impl Into<String>, value: V) {
        let now = self.clock.now();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max_entries {
            entries.clear();
        }
        entries.insert(key.into(), (now, value));
    }

    pub fn invalidate(&self, key: &str) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
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
        cache.put("a", 1);
        cache.put("b", 2);
        cache.put("c", 3);
        assert_eq!((cache.get("a"), cache.get("c")), (None, Some(3)));
    }
}
