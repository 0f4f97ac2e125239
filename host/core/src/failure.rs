//! Structured failures: what crosses from a failed activity or orchestrator to its caller.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One link of a failure's chain of causes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureCause {
    /// A stable, machine-matchable name for the kind of error.
    pub error_type: String,
    /// A human-readable description.
    pub message: String,
    /// Optional extra detail (a stack trace, a JSON document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// A structured failure, as Durable Functions' FailureDetails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// A stable, machine-matchable name for the kind of error.
    pub error_type: String,
    /// A human-readable description.
    pub message: String,
    /// Optional extra detail (a stack trace, a JSON document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Inner causes, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<FailureCause>,
}

impl Failure {
    /// A failure with no details and no causes.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Failure { error_type: error_type.into(), message: message.into(), details: None, causes: Vec::new() }
    }

    /// Adds details.
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    /// Wraps `inner` as the cause of a new failure: `inner` becomes `causes[0]` and its own
    /// causes follow it.
    pub fn wrapping(error_type: impl Into<String>, message: impl Into<String>, inner: Failure) -> Self {
        let mut causes = Vec::with_capacity(inner.causes.len() + 1);
        causes.push(FailureCause { error_type: inner.error_type, message: inner.message, details: inner.details });
        causes.extend(inner.causes);
        Failure { error_type: error_type.into(), message: message.into(), details: None, causes }
    }

    /// True if this failure or any of its causes has `error_type` (as the SDK's `Failure::is`).
    pub fn is(&self, error_type: &str) -> bool {
        self.error_type == error_type || self.causes.iter().any(|cause| cause.error_type == error_type)
    }

    /// The failure an orchestrator receives when an activity it scheduled fails: the activity's
    /// own failure is kept whole as the first cause, as Durable Functions' TaskFailedException.
    pub fn activity_failed(name: &str, inner: Failure) -> Self {
        let message = format!("activity '{name}' failed: {}", inner.message);
        Failure::wrapping(error_types::ACTIVITY_FAILED, message, inner)
    }
}

impl Failure {
    /// The failure an orchestrator receives when an entity operation it called fails: the
    /// operation's own failure is kept whole as the first cause, as for activities.
    pub fn entity_operation_failed(entity: &crate::EntityId, operation: &str, inner: Failure) -> Self {
        let message = format!("operation '{operation}' on entity {entity} failed: {}", inner.message);
        Failure::wrapping(error_types::ENTITY_OPERATION_FAILED, message, inner)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)?;
        for cause in &self.causes {
            write!(f, "\n  caused by {}: {}", cause.error_type, cause.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// The error types that the host itself produces, so callers can match on them.
pub mod error_types {
    /// An activity failed; its own failure is the first cause.
    pub const ACTIVITY_FAILED: &str = "ActivityFailed";
    /// A sub-orchestration failed; the child's own failure is the first cause.
    pub const SUB_ORCHESTRATION_FAILED: &str = "SubOrchestrationFailed";
    /// No loaded component exports an activity of that name.
    pub const ACTIVITY_NOT_FOUND: &str = "ActivityNotFound";
    /// The orchestrator issued commands that differ from its recorded history.
    pub const NONDETERMINISM: &str = "NondeterminismError";
    /// A guest ran past its CPU budget (an endless loop, for example).
    pub const CPU_LIMIT_EXCEEDED: &str = "CpuLimitExceeded";
    /// A guest tried to grow its memory past the configured limit.
    pub const MEMORY_LIMIT_EXCEEDED: &str = "MemoryLimitExceeded";
    /// A payload (input, output, event data) was larger than the host accepts.
    pub const PAYLOAD_TOO_LARGE: &str = "PayloadTooLarge";
    /// A guest handed the host a payload (an output, a state) that is not valid JSON.
    pub const INVALID_PAYLOAD: &str = "InvalidPayload";
    /// An orchestrator's history would have grown past one of the host's limits (events per
    /// episode, events or bytes per execution).
    pub const HISTORY_LIMIT_EXCEEDED: &str = "HistoryLimitExceeded";
    /// An operator terminated the instance.
    pub const TERMINATED: &str = "Terminated";
    /// An activity attempt ran past its timeout and was stopped.
    pub const TIMED_OUT: &str = "TimedOut";
    /// No loaded component exports an orchestrator of that name.
    pub const ORCHESTRATOR_NOT_FOUND: &str = "OrchestratorNotFound";
    /// A guest trapped (a panic, an `unreachable`, a bad host call).
    pub const GUEST_TRAPPED: &str = "GuestTrapped";
    /// An entity operation failed; the operation's own failure is the first cause.
    pub const ENTITY_OPERATION_FAILED: &str = "EntityOperationFailed";
    /// An orchestrator broke a rule of critical sections (see `Replayer::lock_entities`).
    pub const LOCK_VIOLATION: &str = "LockViolation";
    /// No loaded component exports an entity type of that name.
    pub const ENTITY_NOT_FOUND: &str = "EntityNotFound";
    /// A sub-orchestration could not start because its instance id is taken.
    pub const INSTANCE_EXISTS: &str = "InstanceExists";
    /// The component an instance is pinned to cannot be loaded.
    pub const COMPONENT_UNAVAILABLE: &str = "ComponentUnavailable";
    /// An activity attempt that failed had made an HTTP request outside its grants (the
    /// activity's own failure is the first cause).
    pub const HTTP_DENIED: &str = "HttpDenied";
    /// An activity attempt that failed had an HTTP request time out (connecting, waiting for
    /// the first byte, or between two bytes of the body).
    pub const HTTP_TIMEOUT: &str = "HttpTimeout";
    /// An activity attempt made more HTTP requests than its limit allows.
    pub const HTTP_LIMIT_EXCEEDED: &str = "HttpLimitExceeded";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_flattens_the_chain_outermost_first() {
        let root = Failure::new("Io", "disk full");
        let mid = Failure::wrapping("Save", "could not save", root);
        let top = Failure::activity_failed("store", mid);
        assert_eq!(top.error_type, "ActivityFailed");
        assert_eq!(top.message, "activity 'store' failed: could not save");
        let types: Vec<_> = top.causes.iter().map(|c| c.error_type.as_str()).collect();
        assert_eq!(types, ["Save", "Io"]);
    }

    #[test]
    fn json_omits_empty_fields() {
        let json = serde_json::to_string(&Failure::new("E", "m")).unwrap();
        assert_eq!(json, r#"{"error_type":"E","message":"m"}"#);
    }
}
