//! What an activity attempt's outcome writes: its result for the orchestrator, or, when the
//! task's retry policy says so, the record of a failed attempt and the time of the next. The
//! host, not the orchestrator, decides whether to try again and when; the orchestrator sees only
//! the final result.

use super::writes::{ActivityResult, ActivityTask};
use crate::{Failure, Payload, RetryPolicy, Timestamp};

/// How long an attempt that the host could not start for want of resources waits before the
/// next, in milliseconds.
pub const TRANSIENT_RETRY_MS: u64 = 1_000;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The activity returned this output.
    Completed(Payload),
    /// The activity failed (its own failure, or one the host gave it: a trap, a timeout, an
    /// output it refused).
    Failed(Failure),
    /// The host could not start the attempt for want of resources (memory, instance slots): not
    /// the activity's doing, so it is tried again shortly whatever its retry policy.
    NotStarted(Failure),
}

/// The result to record for `task`'s attempt that ended as `attempt` at `now`, under `retry`:
/// the policy in force (the call's own, or the deployment's default when the call set none).
pub fn result(task: &ActivityTask, retry: Option<&RetryPolicy>, attempt: Attempt, now: Timestamp) -> ActivityResult {
    let failure = match attempt {
        Attempt::Completed(output) => return ActivityResult::Completed(output),
        Attempt::NotStarted(failure) => {
            return ActivityResult::Retry { failure, next_attempt_at: now.saturating_add(TRANSIENT_RETRY_MS) };
        }
        Attempt::Failed(failure) => failure,
    };
    let next = retry.and_then(|policy| policy.next_attempt(task.attempt, &failure, task.created_at, now));
    match next {
        Some(next_attempt_at) => ActivityResult::Retry { failure, next_attempt_at },
        None => ActivityResult::Failed(failure),
    }
}
