//! Inbox messages: what is waiting to be delivered to an instance in its next episode.

use crate::{Failure, Payload, TaskId};
use serde::{Deserialize, Serialize};

/// A message for an instance. Messages are delivered in the order they were enqueued; one
/// episode consumes every message visible when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// Start the instance: the first message of every instance.
    Start {
        /// The orchestrator's name.
        name: String,
        /// Its JSON input.
        input: Payload,
    },
    /// An activity returned an output.
    ActivityCompleted {
        /// The task's handle.
        task_id: TaskId,
        /// Its JSON output.
        output: Payload,
    },
    /// An activity failed; `failure` is the activity's own failure, not yet wrapped.
    ActivityFailed {
        /// The task's handle.
        task_id: TaskId,
        /// The activity's failure.
        failure: Failure,
    },
}
