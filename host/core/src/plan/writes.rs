//! What an episode, an activity attempt or an entity batch writes: the values the planner
//! produces and a store persists, each in one transaction. They are data only; the planner
//! (`plan::episode`, `plan::activity`, `plan::entity`) decides their contents, and the store
//! must write exactly what they say.

use crate::{
    ActivityOptions, EntityId, Failure, HistoryEvent, InstanceId, LockHolder, Message, OutgoingMessage, ParentRef,
    Payload, RuntimeStatus, TaskId, Timestamp, UpdateAnswer,
};

/// A new instance to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstance {
    /// Its id (unique).
    pub instance_id: InstanceId,
    /// The orchestrator to run.
    pub name: String,
    /// Its JSON input.
    pub input: Payload,
    /// When it was created.
    pub created_at: Timestamp,
    /// The orchestration that started it as a sub-orchestration and waits for its result;
    /// `None` for an instance started by a client.
    pub parent: Option<ParentRef>,
    /// What to send instead when the id is already taken, for an instance created in a commit
    /// of another (a sub-orchestration's parent learns that its child could not start): that
    /// commit goes on without the instance. `None` for an instance whose creator is told by an
    /// error (a client's start) or does not wait for it (an entity's start).
    pub if_taken: Option<OutgoingMessage>,
}

/// An activity task that an episode enqueues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActivityTask {
    /// The task's handle in its instance.
    pub task_id: TaskId,
    /// The activity's name.
    pub name: String,
    /// Its JSON input.
    pub input: Payload,
    /// Its retry policy and timeout (stored with the task; the store does not apply them).
    pub options: ActivityOptions,
    /// If set, the task is enqueued already claimed by the committing owner, as its first
    /// attempt, leased until then: the executor runs it at once, without a claim's round trip.
    /// Never set for a task of a limited activity (see [`crate::flow`]): only a claim counts it
    /// against its limits.
    pub claimed_until: Option<Timestamp>,
    /// The key its activity's flow limits apply under ([`crate::flow::FlowLimits::key_of`]),
    /// fixed when it is enqueued.
    pub flow_key: Option<String>,
}

/// Everything one episode writes, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpisodeCommit {
    /// The instance.
    pub instance_id: String,
    /// Its execution number.
    pub execution: u32,
    /// The lock owner that ran the episode.
    pub owner: String,
    /// The history length the episode started from (optimistic concurrency check).
    pub expected_history_len: u64,
    /// New history events; their `seq` continue from `expected_history_len`.
    pub new_events: Vec<HistoryEvent>,
    /// Activity tasks to enqueue.
    pub new_activities: Vec<NewActivityTask>,
    /// Messages to enqueue: to this instance (timers, delayed until they fire) or to others
    /// (events). Each goes to its target's current execution, visible from its `visible_at`; one
    /// whose target does not exist or has finished is dropped without error.
    pub outgoing: Vec<OutgoingMessage>,
    /// Ids of the inbox messages the episode consumed.
    pub consumed_messages: Vec<i64>,
    /// Sub-orchestrations to create, each with its `Start` message as by `create_instance`
    /// (their `created_at` is ignored: they are created at `now`). One whose id is taken is not
    /// created and does not fail the commit: its [`NewInstance::if_taken`] message is sent
    /// instead.
    pub new_instances: Vec<NewInstance>,
    /// The answers the episode gave to updates, kept where their callers find them.
    pub update_replies: Vec<UpdateAnswer>,
    /// Restart the instance as a new execution after this episode (overrides `status`, `output`
    /// and `failure`); see [`ContinueAsNew`].
    pub continue_as_new: Option<ContinueAsNew>,
    /// The instance's new status.
    pub status: RuntimeStatus,
    /// Its output, when `status` is Completed.
    pub output: Option<Payload>,
    /// Its failure, when `status` is Failed.
    pub failure: Option<Failure>,
    /// Its custom status after the episode.
    pub custom_status: Option<Payload>,
    /// The component hash to pin, on the first episode.
    pub component: Option<String>,
    /// When the episode committed.
    pub now: Timestamp,
}

/// ends with the episode, and the next one starts from an empty history with a new input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueAsNew {
    /// The new execution's input (also the instance's `input` from now on).
    pub input: Payload,
    /// Messages for the new execution, enqueued right after its `Start`, visible at the commit's
    /// `now` and in this order (for example the events the old execution received but did not
    /// handle).
    pub carry: Vec<Message>,
    /// Move the old execution's pending [`Message::EventRaised`] messages (still in the inbox,
    /// due or not) to the new execution, in their order, after `carry`; otherwise they are
    /// dropped.
    pub keep_pending_events: bool,
    /// When the new execution's `Start` becomes visible (the commit's `now`, or later to wait,
    /// as before a sub-orchestration's retry).
    pub start_at: Timestamp,
    /// The instance's new parent link, if it changes (a retried sub-orchestration counts its
    /// attempts in it); `None` keeps the current one.
    pub parent: Option<ParentRef>,
}

/// Identifies one activity task.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActivityTaskKey {
    /// The instance that scheduled it.
    pub instance_id: String,
    /// The instance's execution.
    pub execution: u32,
    /// The task's handle.
    pub task_id: TaskId,
}

/// A claimed activity task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityTask {
    /// Which task.
    pub key: ActivityTaskKey,
    /// The activity's name.
    pub name: String,
    /// Its JSON input.
    pub input: Payload,
    /// Its retry policy and timeout, as scheduled.
    pub options: ActivityOptions,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// When the task was first enqueued, which is when its first attempt became due (a retry
    /// policy's timeout counts from it).
    pub created_at: Timestamp,
    /// When this claim's lease ends.
    pub lease_until: Timestamp,
}

/// The result of one activity attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityResult {
    /// It returned an output.
    Completed(Payload),
    /// It failed for good: the failure goes to the orchestrator.
    Failed(Failure),
    /// It failed and will be tried again: the task waits until `next_attempt_at`, and the
    /// instance receives an [`Message::ActivityRetrying`] record of the failure.
    Retry {
        /// The attempt's failure.
        failure: Failure,
        /// When the next attempt becomes due.
        next_attempt_at: Timestamp,
    },
}

/// What one batch of entity operations writes, in one transaction (see the store's
/// `commit_entity_batch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityCommit {
    /// The entity.
    pub entity: EntityId,
    /// The host that holds its lock.
    pub owner: String,
    /// The inbox messages the batch ran (each one operation).
    pub consumed_messages: Vec<i64>,
    /// The state after the batch; `None` deletes it.
    pub state: Option<Payload>,
    /// The lock holder after the batch; while it is set, the entity runs only the holder's
    /// operations and the release (the others wait in its inbox).
    pub locked_by: Option<LockHolder>,
    /// How many operations the batch ran.
    pub operations: u64,
    /// Results to callers and signals to entities, from the operations that succeeded (and the
    /// failures of those that did not, to their callers).
    pub outgoing: Vec<OutgoingMessage>,
    /// Orchestrations the operations started.
    pub new_instances: Vec<NewInstance>,
    /// The batch's time.
    pub now: Timestamp,
}

/// What the rewind of one failed instance writes (see `plan::rewind`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRewind {
    /// The instance.
    pub instance_id: String,
    /// Its execution (the one that failed).
    pub execution: u32,
    /// Its history's length when the rewind read it: the store refuses the rewind if it moved.
    pub expected_history_len: u64,
    /// Activity tasks to enqueue again, as new tasks (a task of the same handle still held by a
    /// worker is left to it).
    pub activities: Vec<NewActivityTask>,
    /// Messages to enqueue, in order: the `Rewind` itself first, then the timers set again and
    /// the results of children that completed meanwhile.
    pub messages: Vec<OutgoingMessage>,
}

/// Everything one rewind writes, in one transaction: the instance and the failed children it
/// rewinds with it, and the children it starts again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewindCommit {
    /// The failed instances rewound (the one asked for first), each back to Running with no
    /// failure.
    pub rewinds: Vec<InstanceRewind>,
    /// Finished children to start again under their own ids, replacing them (see the store's
    /// `restart`).
    pub restarts: Vec<NewInstance>,
    /// Children that no longer exist, to create again.
    pub created: Vec<NewInstance>,
    /// The rewind's time.
    pub now: Timestamp,
}
