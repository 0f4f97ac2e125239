//! Errors of the replay engine.

use crate::failure::error_types;
use crate::{Failure, TaskId};

/// Why the engine refused a host call. Each one ends the orchestrator's execution: the caller
/// turns it into a trap, and the instance fails with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Replay diverged from history: the component's code no longer makes the decisions it made
    /// when the history was written.
    #[error(
        "nondeterminism at history position {position}: the history records that the orchestrator did \
         [{recorded}], but on replay it did [{issued}]; the orchestrator's code changed under a running \
         instance, or depends on something the host does not record"
    )]
    Nondeterminism {
        /// The position (event sequence number) where replay diverged.
        position: u64,
        /// What the history records.
        recorded: String,
        /// What the orchestrator did instead.
        issued: String,
    },
    /// The orchestrator waited on a handle it never received.
    #[error("the orchestrator waited on task {0}, which it never scheduled")]
    UnknownTask(TaskId),
    /// The orchestrator waited on an empty list of tasks.
    #[error("the orchestrator called wait-any with no tasks: it would wait forever")]
    EmptyWait,
    /// The recorded history does not have the shape the engine writes.
    #[error("corrupt history: {0}")]
    CorruptHistory(String),
    /// The orchestrator broke a rule of critical sections (nested locks, a call to an entity it
    /// did not lock, an unlock before the locks are held).
    #[error("critical section: {0}")]
    LockViolation(String),
    /// A sub-orchestration's id (named by the orchestrator, or derived from its parent's) breaks
    /// the rules of instance ids.
    #[error("the sub-orchestration cannot start: {0}")]
    InvalidInstanceId(#[from] crate::InstanceIdError),
    /// The command would take the history past one of its limits.
    #[error("{0}")]
    LimitExceeded(super::LimitExceeded),
    /// The orchestrator answered an update it never received, or one it already answered.
    #[error("the orchestrator answered update '{0}', which it has not received or has already answered")]
    UnknownUpdate(String),
    /// A host call arrived after the orchestrator had already finished.
    #[error("the orchestrator already finished")]
    AlreadyFinished,
}

impl ReplayError {
    /// The failure an instance ends with when replay refuses a call: a nondeterminism, a broken
    /// critical section and a history past its limits each have their own error type, the rest
    /// are traps. Hosts and test harnesses give the same one.
    pub fn failure(&self) -> Failure {
        let error_type = match self {
            ReplayError::Nondeterminism { .. } => error_types::NONDETERMINISM,
            ReplayError::LockViolation(_) => error_types::LOCK_VIOLATION,
            ReplayError::LimitExceeded(_) => error_types::HISTORY_LIMIT_EXCEEDED,
            _ => error_types::GUEST_TRAPPED,
        };
        Failure::new(error_type, self.to_string())
    }
}
