//! The activity's view of the attempt being run.

use crate::host::activity_context;

/// What an activity learns from the host about the attempt being run, passed to it as
/// `&ActivityContext`.
///
/// Activities are the side-effecting steps of an orchestration. Delivery is at-least-once: an
/// attempt interrupted by a host crash is run again, so make side effects idempotent with
/// [`ActivityContext::idempotency_key`].
#[derive(Debug)]
pub struct ActivityContext {
    _private: (),
}

impl ActivityContext {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }

    /// The id of the orchestration instance that scheduled this activity.
    pub fn instance_id(&self) -> String {
        activity_context::instance_id()
    }

    /// The handle of this task within that instance.
    pub fn task_id(&self) -> u64 {
        activity_context::task_id()
    }

    /// The number of this attempt, from 1. It grows with every retry of a
    /// [`RetryPolicy`](crate::RetryPolicy), and when an interrupted attempt (by a host crash, for
    /// example) is run again.
    pub fn attempt(&self) -> u32 {
        activity_context::attempt()
    }

    /// A key that is the same for every attempt of this task and different for every other
    /// task: pass it to external systems to make side effects idempotent.
    pub fn idempotency_key(&self) -> String {
        activity_context::idempotency_key()
    }
}
