//! Instances whose last episode could not run, and when to try them again, so that a persistent
//! error does not spin a core. Real time, not the clock's: a back-off paces the host's own
//! retries, it is no part of an instance's logical time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first wait before an instance whose episode could not run is tried again; it doubles up
/// to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait before such an instance is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// See the module docs.
#[derive(Debug, Default)]
pub(super) struct Backoff(Mutex<HashMap<String, (Instant, Duration)>>);

impl Backoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Duration)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `instance_id` must not run before a later time.
    pub(super) fn waiting(&self, instance_id: &str, at: Instant) -> bool {
        self.lock().get(instance_id).is_some_and(|(until, _)| *until > at)
    }

    /// How many instances back off.
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    /// An episode of `instance_id` ran: it waits no more.
    pub(super) fn ran(&self, instance_id: &str) {
        self.lock().remove(instance_id);
    }

    /// An episode of `instance_id` could not run: its wait doubles.
    pub(super) fn failed(&self, instance_id: &str) {
        let mut waiting = self.lock();
        let delay = waiting.get(instance_id).map_or(MIN_BACKOFF, |(_, d)| (*d * 2).min(MAX_BACKOFF));
        waiting.insert(instance_id.to_string(), (Instant::now() + delay, delay));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_doubles_the_wait_up_to_the_limit_and_a_run_clears_it() {
        let backoff = Backoff::default();
        let now = Instant::now();
        assert!(!backoff.waiting("a", now));
        backoff.failed("a");
        assert!(backoff.waiting("a", now));
        assert!(!backoff.waiting("a", now + MIN_BACKOFF * 2));
        for _ in 0..20 {
            backoff.failed("a");
        }
        assert_eq!(backoff.lock()["a"].1, MAX_BACKOFF);
        backoff.ran("a");
        assert_eq!(backoff.len(), 0);
    }
}
