//! Inbox messages: what is waiting to be delivered to an instance in its next episode.

use crate::{EntityLockRequest, EntityOperation, Failure, HttpExchange, Payload, TaskId, Timestamp};
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
    /// An activity attempt failed and the host will try again (audit only: the orchestrator
    /// keeps waiting).
    ActivityRetrying {
        /// The task's handle.
        task_id: TaskId,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// Its failure.
        failure: Failure,
        /// When the next attempt becomes due.
        next_attempt_at: Timestamp,
    },
    /// The HTTP requests of one activity attempt (audit only, like `ActivityRetrying`):
    /// enqueued with the attempt's result, just before it.
    HttpRequestsMade {
        /// The task's handle.
        task_id: TaskId,
        /// The attempt, from 1.
        attempt: u32,
        /// Its requests, in order.
        requests: Vec<HttpExchange>,
    },
    /// A sub-orchestration completed.
    SubOrchestrationCompleted {
        /// The parent's task handle for it.
        task_id: TaskId,
        /// Its JSON output.
        output: Payload,
    },
    /// A sub-orchestration failed (after its last attempt); `failure` is the child's own.
    SubOrchestrationFailed {
        /// The parent's task handle for it.
        task_id: TaskId,
        /// The child's failure.
        failure: Failure,
    },
    /// A sub-orchestration failed and will run again (audit only, like `ActivityRetrying`).
    SubOrchestrationRetrying {
        /// The parent's task handle for it.
        task_id: TaskId,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// Its failure.
        failure: Failure,
        /// When the next attempt starts.
        next_attempt_at: Timestamp,
    },
    /// A durable timer fired.
    TimerFired {
        /// The timer's task handle.
        task_id: TaskId,
    },
    /// An external event was raised on the instance.
    EventRaised {
        /// The event's name.
        name: String,
        /// Its JSON data.
        data: Payload,
    },
    /// A client's update for the instance: delivered like an event, answered by the
    /// orchestrator (see [`crate::update`]).
    UpdateRequested {
        /// The update's id, unique within the instance (the caller's, or one the host chose).
        update_id: String,
        /// The update's name.
        name: String,
        /// Its JSON input.
        input: Payload,
    },
    /// An operation for an entity (only entity instances receive these).
    EntityOperation(EntityOperation),
    /// A request to lock the entity for a critical section (only entity instances receive these).
    EntityLock(EntityLockRequest),
    /// The lock holder releases the entity's lock (only entity instances receive these).
    EntityUnlock {
        /// The holder that releases it; a release by anyone else is ignored.
        holder: crate::LockHolder,
    },
    /// An entity operation the instance called returned an output.
    EntityCompleted {
        /// The calling task's handle.
        task_id: TaskId,
        /// The operation's JSON output.
        output: Payload,
    },
    /// An entity operation the instance called failed; `failure` is the operation's own.
    EntityFailed {
        /// The calling task's handle.
        task_id: TaskId,
        /// The operation's failure.
        failure: Failure,
    },
    /// Terminate the instance, whatever it is doing.
    Terminate {
        /// Why (recorded in history and shown in its status).
        reason: String,
        /// Terminate its running sub-orchestrations too (and theirs), in the episode that
        /// terminates it: no child it starts can escape.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cascade: bool,
    },
    /// Suspend the instance: it buffers messages and makes no progress until resumed.
    Suspend {
        /// Why.
        reason: String,
    },
    /// Resume a suspended instance.
    Resume {
        /// Why.
        reason: String,
    },
    /// Rewind the failed instance (written by the store's rewind, which also made it Running
    /// again): delivered to the orchestrator, it becomes [`crate::Event::ExecutionRewound`] with
    /// the same fields, decided by `plan::rewind` from the history the rewind read.
    Rewind {
        /// Why.
        reason: String,
        /// See [`crate::Event::ExecutionRewound`].
        replay_from: u64,
        /// See [`crate::Event::ExecutionRewound`].
        undone: Vec<u64>,
    },
}

impl Message {
    /// True for the messages that act on the instance's lifecycle rather than on its
    /// orchestrator's waits; a suspended instance consumes only these. For an entity, the
    /// messages of its lock holder: a locked entity is stored as suspended, and runs only its
    /// holder's operations and the release of its lock.
    pub fn is_control(&self) -> bool {
        match self {
            Message::Terminate { .. } | Message::Suspend { .. } | Message::Resume { .. } => true,
            Message::EntityUnlock { .. } => true,
            Message::EntityOperation(operation) => operation.in_critical_section,
            _ => false,
        }
    }

    /// True for a record kept for history's sake that answers none of the orchestrator's
    /// waits: an episode of only these is recorded without replaying the orchestrator.
    pub fn is_audit(&self) -> bool {
        matches!(
            self,
            Message::ActivityRetrying { .. }
                | Message::SubOrchestrationRetrying { .. }
                | Message::HttpRequestsMade { .. }
        )
    }
}

/// A message an episode sends, to its own instance (a timer, delayed) or to another (an event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The instance it is for.
    pub instance_id: String,
    /// The message.
    pub message: Message,
    /// When it becomes visible (for a timer, its fire time).
    pub visible_at: Timestamp,
    /// The execution of the target it is for, if only one will do (the result of a task goes
    /// to the execution that scheduled it, never to a newer one); `None` for whichever execution
    /// is current.
    pub execution: Option<u32>,
}
