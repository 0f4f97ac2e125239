//! The cache of parked instances: the hot path. Bounded by count (least recently used goes first)
//! and by idle time.

use crate::session::LiveInstance;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Entry {
    live: LiveInstance,
    parked_at: Instant,
}

/// Parked instances by instance id. Evicting drops the instance, which ends its guest; its next
/// episode replays it from history.
pub(crate) struct InstanceCache {
    entries: Option<Mutex<LruCache<String, Entry>>>,
    idle: Duration,
}

impl InstanceCache {
    /// A cache of `capacity` instances (0 disables it: every episode takes the cold path).
    pub(crate) fn new(capacity: usize, idle: Duration) -> Self {
        InstanceCache { entries: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))), idle }
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, LruCache<String, Entry>>> {
        self.entries.as_ref().map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes the parked instance out for an episode.
    pub(crate) fn take(&self, instance_id: &str) -> Option<LiveInstance> {
        self.lock()?.pop(instance_id).map(|entry| entry.live)
    }

    /// Parks an instance after an episode. Returns false if caching is disabled.
    pub(crate) fn park(&self, instance_id: String, live: LiveInstance) -> bool {
        let Some(mut entries) = self.lock() else {
            return false;
        };
        entries.put(instance_id, Entry { live, parked_at: Instant::now() });
        true
    }

    /// Drops an instance from the cache, if it is there.
    pub(crate) fn evict(&self, instance_id: &str) {
        if let Some(mut entries) = self.lock() {
            entries.pop(instance_id);
        }
    }

    /// Evicts instances parked longer than the idle limit.
    pub(crate) fn evict_idle(&self) {
        let Some(mut entries) = self.lock() else {
            return;
        };
        let idle = self.idle;
        // Least recently used sit at the back; stop at the first one still fresh.
        while let Some((_, entry)) = entries.peek_lru() {
            if entry.parked_at.elapsed() < idle {
                break;
            }
            entries.pop_lru();
        }
    }

    /// Frees the resources a guest could not be instantiated without (memory, mappings): evicts
    /// the least recently used quarter of the parked instances (at least one); returns how many
    /// it evicted.
    pub(crate) fn make_room(&self) -> usize {
        let Some(mut entries) = self.lock() else {
            return 0;
        };
        let count = entries.len() / 4 + 1;
        (0..count).take_while(|_| entries.pop_lru().is_some()).count()
    }

    /// Number of parked instances.
    pub(crate) fn len(&self) -> usize {
        self.lock().map_or(0, |entries| entries.len())
    }
}
