//! The runtime status of an orchestration instance.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where an instance stands, with Durable Functions' names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuntimeStatus {
    /// Created; its first episode has not run yet.
    Pending,
    /// Started and not finished.
    Running,
    /// Finished with an output.
    Completed,
    /// Finished with a failure.
    Failed,
    /// Ended by an operator before it finished.
    Terminated,
    /// Paused by an operator: buffers its messages and makes no progress until resumed.
    Suspended,
    /// Restarted by its orchestrator with a new input and an empty history; its next episode
    /// runs the new execution.
    ContinuedAsNew,
}

impl RuntimeStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [RuntimeStatus; 7] = [
        RuntimeStatus::Pending,
        RuntimeStatus::Running,
        RuntimeStatus::Completed,
        RuntimeStatus::Failed,
        RuntimeStatus::Terminated,
        RuntimeStatus::Suspended,
        RuntimeStatus::ContinuedAsNew,
    ];

    /// The name used in storage, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeStatus::Pending => "Pending",
            RuntimeStatus::Running => "Running",
            RuntimeStatus::Completed => "Completed",
            RuntimeStatus::Failed => "Failed",
            RuntimeStatus::Terminated => "Terminated",
            RuntimeStatus::Suspended => "Suspended",
            RuntimeStatus::ContinuedAsNew => "ContinuedAsNew",
        }
    }

    /// True once the instance has finished and will make no more progress.
    pub fn is_terminal(self) -> bool {
        matches!(self, RuntimeStatus::Completed | RuntimeStatus::Failed | RuntimeStatus::Terminated)
    }
}

impl fmt::Display for RuntimeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a status name that does not exist.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown runtime status '{0}' (expected one of: Pending, Running, Completed, Failed, Terminated, Suspended, ContinuedAsNew)"
)]
pub struct UnknownStatus(pub String);

impl FromStr for RuntimeStatus {
    type Err = UnknownStatus;

    /// Parses a status name, ignoring case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RuntimeStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for status in RuntimeStatus::ALL {
            assert_eq!(status.as_str().to_lowercase().parse::<RuntimeStatus>().unwrap(), status);
        }
        assert!("Done".parse::<RuntimeStatus>().is_err());
    }
}
