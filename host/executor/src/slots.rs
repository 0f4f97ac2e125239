//! The activity attempts that may run at once: one permit per attempt, held for as long as it
//! runs and given back by dropping it. The dispatcher takes permits for the tasks it claims, and
//! an episode takes them, before its commit, for the tasks it claims for this host. It owns the
//! count; it never runs an attempt.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One running attempt's share of the concurrency.
pub(crate) type Permit = OwnedSemaphorePermit;

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct ActivitySlots(Arc<Semaphore>);

impl ActivitySlots {
    /// Room for `concurrency` attempts at once.
    pub(crate) fn new(concurrency: usize) -> Self {
        ActivitySlots(Arc::new(Semaphore::new(concurrency)))
    }

    /// Up to `wanted` permits, as many as are free now (none is waited for).
    pub(crate) fn take(&self, wanted: usize) -> Vec<Permit> {
        std::iter::from_fn(|| self.0.clone().try_acquire_owned().ok()).take(wanted).collect()
    }

    /// How many permits are free.
    pub(crate) fn free(&self) -> usize {
        self.0.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_bounded_and_given_back_when_dropped() {
        let slots = ActivitySlots::new(3);
        let taken = slots.take(5);
        assert_eq!((taken.len(), slots.free()), (3, 0));
        drop(taken);
        assert_eq!(slots.free(), 3);
    }
}
