//! What wakes a worker: a nudge (look at what you were handed), a request to poll the store, and
//! the earliest time at which work this process wrote becomes due (a timer, a retry).
//!
//! It owns the flags and the time; it never reads the store and never sleeps itself: the worker
//! waits on [`Trigger::notified`], on the clock until [`Trigger::due`], and on its periodic poll.

use reprise_core::Timestamp;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::Notify;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Trigger {
    notify: Notify,
    poll: AtomicBool,
    /// A clock time in milliseconds; `u64::MAX` if none is known.
    due: AtomicU64,
}

impl Trigger {
    /// A trigger whose worker polls at its first turn.
    pub(crate) fn new() -> Self {
        Trigger { notify: Notify::new(), poll: AtomicBool::new(true), due: AtomicU64::new(u64::MAX) }
    }

    /// Wakes the worker to look at what it was handed (a woken instance, a freed slot).
    pub(crate) fn nudge(&self) {
        self.notify.notify_one();
    }

    /// Wakes the worker and makes it poll the store.
    pub(crate) fn request_poll(&self) {
        self.poll.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Makes the worker poll the store once the clock reads `at` (a timer, a retry).
    pub(crate) fn due_at(&self, at: Timestamp) {
        if self.due.fetch_min(at, Ordering::SeqCst) > at {
            // The worker may be asleep until a later time.
            self.notify.notify_one();
        }
    }

    /// Whether the worker should poll now (asked to, or a known due time has come), forgetting
    /// the request and the due time: the poll learns the next due time from the store.
    pub(crate) fn take_poll(&self, now: Timestamp) -> bool {
        let due = self.due.load(Ordering::SeqCst) <= now;
        let asked = self.poll.swap(false, Ordering::SeqCst);
        if due || asked {
            self.due.store(u64::MAX, Ordering::SeqCst);
        }
        due || asked
    }

    /// The earliest due time the worker knows of.
    pub(crate) fn due(&self) -> Option<Timestamp> {
        match self.due.load(Ordering::SeqCst) {
            u64::MAX => None,
            at => Some(at),
        }
    }

    /// Resolves at the next nudge, poll request or earlier due time.
    pub(crate) async fn notified(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_polls_when_asked_or_due_and_then_forgets() {
        let trigger = Trigger::new();
        assert!(trigger.take_poll(0), "a new worker polls first");
        assert!(!trigger.take_poll(0));
        trigger.due_at(100);
        trigger.due_at(300);
        assert_eq!(trigger.due(), Some(100), "the earliest");
        assert!(!trigger.take_poll(99));
        assert!(trigger.take_poll(100));
        assert_eq!(trigger.due(), None, "the due time is forgotten once polled");
        assert!(!trigger.take_poll(1_000));
        trigger.request_poll();
        assert!(trigger.take_poll(0));
    }
}
