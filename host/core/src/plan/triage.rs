//! What kind of episode an orchestration instance's messages call for, decided from its status,
//! its history's length and the messages alone.

use crate::{Message, RuntimeStatus};

/// The kind of episode to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Triage {
    /// The instance has finished: nothing to do, and its lock is released.
    Finished,
    /// No message to deliver, or only messages a suspended instance keeps: nothing to do, and a
    /// parked orchestrator stays parked.
    Idle,
    /// Terminate, suspend or resume act on the instance without its orchestrator (see
    /// [`crate::plan::lifecycle::lifecycle`]); the other messages wait for the next episode.
    Lifecycle {
        /// Whether messages other than lifecycle ones wait: run the instance again after it.
        more: bool,
    },
    /// The messages are for an execution that has not started yet (a retried child waiting for
    /// its next attempt): wait for its start.
    NotStarted,
    /// Deliver the messages to the orchestrator.
    Run {
        /// The messages are retry records only: they answer none of the orchestrator's waits,
        /// so an orchestrator that is not parked need not be replayed for them (see
        /// [`crate::plan::lifecycle::audit`]); a parked one takes them like any delivery.
        audit_only: bool,
    },
}

/// The episode `messages` call for, for an instance with `status` and `history_len` events.
pub fn triage(status: RuntimeStatus, history_len: u64, messages: &[&Message]) -> Triage {
    if status.is_terminal() {
        return Triage::Finished;
    }
    if messages.is_empty() {
        return Triage::Idle;
    }
    if messages.iter().any(|m| m.is_control()) {
        return Triage::Lifecycle { more: messages.iter().any(|m| !m.is_control()) };
    }
    if status == RuntimeStatus::Suspended {
        // A suspended instance keeps its messages until it is resumed.
        return Triage::Idle;
    }
    if history_len == 0 && !messages.iter().any(|m| matches!(m, Message::Start { .. })) {
        return Triage::NotStarted;
    }
    let retries_only = messages.iter().all(|m| m.is_audit());
    Triage::Run { audit_only: retries_only && history_len > 0 }
}
