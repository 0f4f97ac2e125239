//! The work this process has started and not finished: episodes and activity attempts, each
//! counted from the moment a worker hands it to a task of its own until that task ends. It lets
//! [`crate::Host::settled`] tell "nothing happens" from "nothing has happened yet" without
//! sleeping; it owns the count and never starts or stops work itself.

use std::sync::Arc;
use tokio::sync::watch;

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct InFlight(Arc<watch::Sender<usize>>);

impl Default for InFlight {
    fn default() -> Self {
        InFlight(Arc::new(watch::Sender::new(0)))
    }
}

impl InFlight {
    /// Counts one piece of work until the guard is dropped.
    pub(crate) fn start(&self) -> InFlightGuard {
        self.0.send_modify(|count| *count += 1);
        InFlightGuard(self.clone())
    }

    /// How many pieces of work run now.
    pub(crate) fn count(&self) -> usize {
        *self.0.borrow()
    }

    /// Resolves once no work runs.
    pub(crate) async fn none(&self) {
        let mut count = self.0.subscribe();
        // The sender lives as long as `self`, so the wait cannot fail.
        let _ = count.wait_for(|count| *count == 0).await;
    }
}

/// One piece of work in flight; dropping it ends it.
#[derive(Debug)]
pub(crate) struct InFlightGuard(InFlight);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.0.send_modify(|count| *count -= 1);
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
