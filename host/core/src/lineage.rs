//! The link from a sub-orchestration to the parent that started it.

use crate::{RetryPolicy, TaskId, Timestamp};
use serde::{Deserialize, Serialize};

/// Who started a sub-orchestration, which task of theirs it is, and how it is retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentRef {
    /// The parent instance.
    pub instance_id: String,
    /// The parent's execution that scheduled it (a parent that continued as new ignores it).
    pub execution: u32,
    /// The parent's task handle for it.
    pub task_id: TaskId,
    /// The retry policy of the call, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// This run's attempt number, from 1.
    pub attempt: u32,
    /// When the first attempt started (the retry timeout counts from it).
    pub first_started: Timestamp,
}
