//! The cache of parked instances: the hot path. Bounded by count (least recently used goes first)
//! and by idle time.

use crate::session::LiveInstance;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
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
    counts: Counts,
}

/// What the cache did since the host started, for the metrics.
#[derive(Debug, Default)]
struct Counts {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// A reading of the cache's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheCounts {
    /// Episodes that found their instance parked.
    pub(crate) hits: u64,
    /// Episodes that did not (with the cache on): they replay it from history.
    pub(crate) misses: u64,
    /// Parked instances dropped before their next episode (capacity, idle time, memory, a
    /// failed episode).
    pub(crate) evictions: u64,
}

impl InstanceCache {
    /// A cache of `capacity` instances (0 disables it: every episode takes the cold path).
    pub(crate) fn new(capacity: usize, idle: Duration) -> Self {
        InstanceCache {
            entries: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
            idle,
            counts: Counts::default(),
        }
    }

    fn lock(&self) -> Option<std::sync::MutexGuard<'_, LruCache<String, Entry>>> {
        self.entries.as_ref().map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes the parked instance out for an episode.
    pub(crate) fn take(&self, instance_id: &str) -> Option<LiveInstance> {
        let taken = self.lock()?.pop(instance_id).map(|entry| entry.live);
        let count = if taken.is_some() { &self.counts.hits } else { &self.counts.misses };
        count.fetch_add(1, Ordering::Relaxed);
        taken
    }

    /// Counts a parked instance that was taken out but could not serve its episode (another
    /// host moved the instance on): a miss rather than the hit `take` counted.
    pub(crate) fn stale(&self) {
        self.counts.hits.fetch_sub(1, Ordering::Relaxed);
        self.counts.misses.fetch_add(1, Ordering::Relaxed);
        self.counts.evictions.fetch_add(1, Ordering::Relaxed);
    }

    /// What the cache did so far.
    pub(crate) fn counts(&self) -> CacheCounts {
        CacheCounts {
            hits: self.counts.hits.load(Ordering::Relaxed),
            misses: self.counts.misses.load(Ordering::Relaxed),
            evictions: self.counts.evictions.load(Ordering::Relaxed),
        }
    }

    fn evicted(&self, count: usize) {
        self.counts.evictions.fetch_add(count as u64, Ordering::Relaxed);
    }

    /// Parks an instance after an episode. Returns false if caching is disabled.
    pub(crate) fn park(&self, instance_id: String, live: LiveInstance) -> bool {
        let Some(mut entries) = self.lock() else {
            return false;
        };
        // `push` hands back what it displaced: this instance's older entry, or the least
        // recently used one, evicted.
        if let Some((displaced, _)) = entries.push(instance_id.clone(), Entry { live, parked_at: Instant::now() })
            && displaced != instance_id
        {
            self.evicted(1);
        }
        true
    }

    /// Drops an instance from the cache, if it is there.
    pub(crate) fn evict(&self, instance_id: &str) {
        if let Some(mut entries) = self.lock()
            && entries.pop(instance_id).is_some()
        {
            self.evicted(1);
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
            self.evicted(1);
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
        let evicted = (0..count).take_while(|_| entries.pop_lru().is_some()).count();
        self.evicted(evicted);
        evicted
    }

    /// Number of parked instances.
    pub(crate) fn len(&self) -> usize {
        self.lock().map_or(0, |entries| entries.len())
    }
}
