//! Whether the store takes writes: learned from the writes that fail because the store is
//! unavailable (a full disk, another process holding the file) and from those that succeed.
//!
//! While the store is unavailable every episode would fail at its commit and every activity
//! result at its record, so the workers start none: the orchestration worker runs no new
//! episode and the activity dispatcher claims no task until the pause is over. The first pause
//! is short; each one that ends in another failure doubles it, up to a limit, so a host whose
//! disk stays full tries a few writes per [`MAX_PAUSE`] instead of spinning; the first write
//! that succeeds ends it. Work waits in the store meanwhile (nothing acknowledged is lost), and
//! nothing needs a restart when the condition passes.
//!
//! This module owns that state and its log lines. It never calls the store itself and never
//! decides whether a particular write is retried: its callers do.

use reprise_store::StoreError;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first pause after the store turned unavailable.
const MIN_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause: how late, at worst, a host notices that the store is back.
const MAX_PAUSE: Duration = Duration::from_secs(8);

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct StoreHealth {
    state: Mutex<Option<Pause>>,
}

#[derive(Debug, Clone, Copy)]
struct Pause {
    until: Instant,
    length: Duration,
}

impl StoreHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Pause>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes note of a failed store call: one saying that the store is unavailable for a while
    /// pauses the workers (see the module docs).
    pub(crate) fn failed(&self, error: &StoreError) {
        if !error.is_retryable() {
            return;
        }
        let now = Instant::now();
        let mut state = self.lock();
        let length = match *state {
            // Work that was under way when the pause began: it changes nothing.
            Some(pause) if now < pause.until => return,
            // The first tries after a pause failed again: wait longer.
            Some(pause) => (pause.length * 2).min(MAX_PAUSE),
            None => MIN_PAUSE,
        };
        *state = Some(Pause { until: now + length, length });
        tracing::warn!("{error}; new episodes and activity claims pause for {length:?} (and longer while it lasts)");
    }

    /// Takes note of a write that succeeded: the store takes writes again.
    pub(crate) fn wrote(&self) {
        let mut state = self.lock();
        if state.take().is_some() {
            tracing::warn!("the store takes writes again; episodes and activity claims resume");
        }
    }

    /// How long the workers must still wait before they start new work; `None` if they need not.
    pub(crate) fn paused_for(&self) -> Option<Duration> {
        let pause = (*self.lock())?;
        let left = pause.until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_store::Unavailable;

    fn full() -> StoreError {
        StoreError::Unavailable { reason: Unavailable::Full, retryable: true }
    }

    #[test]
    fn an_unavailable_store_pauses_the_workers_longer_each_time_until_a_write_succeeds() {
        let health = StoreHealth::default();
        assert_eq!(health.paused_for(), None);
        health.failed(&StoreError::InstanceNotFound("a".into()));
        health.failed(&StoreError::Unavailable { reason: Unavailable::ReadOnly, retryable: false });
        assert_eq!(health.paused_for(), None, "only an error that may pass pauses");

        health.failed(&full());
        let first = health.lock().expect("paused").length;
        assert_eq!(first, MIN_PAUSE);
        assert!(health.paused_for().is_some());
        health.failed(&full());
        assert_eq!(health.lock().expect("paused").length, first, "failures within a pause change nothing");

        // The pause is over and the next try failed: twice as long, up to the limit.
        for expected in [first * 2, first * 4, first * 8, first * 16, MAX_PAUSE, MAX_PAUSE] {
            let mut state = health.lock();
            let pause = state.as_mut().expect("paused");
            pause.until = Instant::now() - Duration::from_millis(1);
            drop(state);
            assert_eq!(health.paused_for(), None);
            health.failed(&full());
            assert_eq!(health.lock().expect("paused").length, expected.min(MAX_PAUSE));
        }

        health.wrote();
        assert_eq!(health.paused_for(), None);
        health.failed(&full());
        assert_eq!(health.lock().expect("paused").length, MIN_PAUSE, "a new outage starts short again");
    }
}
