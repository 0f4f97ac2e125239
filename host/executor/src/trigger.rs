//! What wakes a worker: a nudge (look at what you were handed), a request to poll the store, and
//! the earliest time at which work this process wrote becomes due (a timer, a retry).
//!
//! It owns the flags and the time, and counts the polls the worker has made (so a caller can
//! wait for a poll that began after it asked); it never reads the store and never sleeps
//! itself: the worker waits on [`Trigger::notified`], on the clock until [`Trigger::due`], and on
//! its periodic poll.

use reprise_core::Timestamp;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::{Notify, watch};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Trigger {
    notify: Notify,
    poll: AtomicBool,
    /// A clock time in milliseconds; `u64::MAX` if none is known.
    due: AtomicU64,
    /// How many polls the worker has finished.
    polls: watch::Sender<u64>,
}

impl Trigger {
    /// A trigger whose worker polls at its first turn.
    pub(crate) fn new() -> Self {
        Trigger {
            notify: Notify::new(),
            poll: AtomicBool::new(true),
            due: AtomicU64::new(u64::MAX),
            polls: watch::Sender::new(0),
        }
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

    /// The worker finished a poll (and started what it found).
    pub(crate) fn polled(&self) {
        self.polls.send_modify(|polls| *polls += 1);
    }

    /// Makes the worker poll, and resolves once a poll that began after the call has finished
    /// (so what it found is started). A poll under way at the call may have read the store
    /// before it, and the counts cannot tell it from a fresh one: the wait is for two polls,
    /// the second asked for once the first is over.
    pub(crate) async fn fresh_poll(&self) {
        let mut polls = self.polls.subscribe();
        for _ in 0..2 {
            let seen = *polls.borrow_and_update();
            self.request_poll();
            // The sender lives as long as `self`, so the wait cannot fail.
            let _ = polls.wait_for(|polls| *polls > seen).await;
        }
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

    #[tokio::test]
    async fn a_fresh_poll_waits_for_a_poll_asked_for_after_the_call() {
        let trigger = std::sync::Arc::new(Trigger::new());
        assert!(trigger.take_poll(0), "the first poll is under way");
        let waiting = tokio::spawn({
            let trigger = trigger.clone();
            async move { trigger.fresh_poll().await }
        });
        tokio::task::yield_now().await;
        trigger.polled();
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the poll under way at the call does not count");
        assert!(trigger.take_poll(0), "another poll was asked for");
        trigger.polled();
        tokio::time::timeout(std::time::Duration::from_secs(10), waiting).await.unwrap().unwrap();
    }
}
