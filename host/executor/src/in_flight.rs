//! The work this process has started and not finished: episodes and activity attempts, each
//! counted from the moment a worker hands it to a task of its own until that task ends. It lets
//! [`crate::Host::settled`] tell "nothing happens" from "nothing has happened yet" without
//! sleeping; it owns the count and never starts or stops work itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::sync::Notify;

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub(crate) struct InFlight(Arc<Counts>);

/// The count, and the waiters for it to reach zero: two atomics per start and one per end, so
/// the hot path pays nothing more; only the end that empties the count wakes anyone.
#[derive(Debug, Default)]
struct Counts {
    running: AtomicUsize,
    /// Every start so far: work that began and ended between two looks at `running` shows here.
    started: AtomicU64,
    idle: Notify,
}

impl InFlight {
    /// Counts one piece of work until the guard is dropped.
    pub(crate) fn start(&self) -> InFlightGuard {
        self.0.running.fetch_add(1, Ordering::SeqCst);
        self.0.started.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    /// How many pieces of work run now.
    pub(crate) fn count(&self) -> usize {
        self.0.running.load(Ordering::SeqCst)
    }

    /// How many pieces of work were started so far, ended or not.
    pub(crate) fn started(&self) -> u64 {
        self.0.started.load(Ordering::SeqCst)
    }

    /// Resolves once no work runs.
    pub(crate) async fn none(&self) {
        loop {
            // Registered before the check, so an end between the two is not missed.
            let idle = self.0.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// One piece of work in flight; dropping it ends it.
#[derive(Debug)]
pub(crate) struct InFlightGuard(InFlight);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_is_counted_until_its_guard_is_dropped() {
        let in_flight = InFlight::default();
        in_flight.none().await;
        let (a, b) = (in_flight.start(), in_flight.start());
        assert_eq!(in_flight.count(), 2);
        drop(a);
        assert_eq!((in_flight.count(), in_flight.started()), (1, 2), "an ended start stays counted as started");
        let waiting = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.none().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "one piece of work still runs");
        drop(b);
        waiting.await.unwrap();
        assert_eq!(in_flight.count(), 0);
    }
}
