//! The values that go in and out of a [`crate::HistoryStore`].

use reprise_core::{
    ActivityOptions, EntityId, Failure, HistoryEvent, InstanceId, LockHolder, Message, OutgoingMessage, ParentRef,
    Payload, RuntimeStatus, TaskId, Timestamp,
};
use serde::{Deserialize, Serialize};

/// A new instance to create.
#[derive(Debug, Clone)]
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
}

/// An instance's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// Its id.
    pub instance_id: String,
    /// The orchestrator's name.
    pub name: String,
    /// The current execution number, from 1.
    pub execution: u32,
    /// Where it stands.
    pub status: RuntimeStatus,
    /// Its JSON input.
    pub input: Payload,
    /// Its JSON output, once Completed.
    pub output: Option<Payload>,
    /// Its failure, once Failed.
    pub failure: Option<Failure>,
    /// The last custom status the orchestrator set.
    pub custom_status: Option<Payload>,
    /// The content hash of the component it is pinned to (set by its first episode).
    pub component: Option<String>,
    /// Number of events in the current execution's history.
    pub history_len: u64,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its row last changed.
    pub updated_at: Timestamp,
    /// When it reached a terminal status.
    pub completed_at: Option<Timestamp>,
    /// The orchestration that started it as a sub-orchestration (updated by a continue-as-new
    /// that names one, for instance to count a retry's attempt); `None` for a client's instance.
    pub parent: Option<ParentRef>,
}

/// Which instances `list_instances` returns.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    /// Only these statuses (all if empty).
    pub statuses: Vec<RuntimeStatus>,
    /// Only this orchestrator name.
    pub name: Option<String>,
    /// Only instances created at or after this time.
    pub created_from: Option<Timestamp>,
    /// Only instances created before this time.
    pub created_to: Option<Timestamp>,
    /// At most this many rows (all if `None`).
    pub limit: Option<usize>,
}

/// A message in an instance's inbox, with its row id (to consume it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxMessage {
    /// The row id; messages are delivered in increasing id order.
    pub id: i64,
    /// The execution it is meant for.
    pub execution: u32,
    /// The message.
    pub message: Message,
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
    pub claimed_until: Option<Timestamp>,
}

/// What [`crate::HistoryStore::record_activity_then`] did.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Whether the result was recorded (false: the lease was lost, nothing was written).
    pub recorded: bool,
    /// The instance's episode, begun in the same commit: `None` if none was asked for, the
    /// result was not recorded, or the instance is missing or locked by another owner.
    pub episode: Option<EpisodeStart>,
}

/// An instance locked for an episode, as [`crate::HistoryStore::begin_episode`] read it.
#[derive(Debug, Clone)]
pub struct EpisodeStart {
    /// The instance's row.
    pub instance: InstanceRecord,
    /// Its messages visible at the time asked, in enqueue order, whatever its status.
    pub messages: Vec<InboxMessage>,
}

/// Everything one episode writes, in one transaction.
#[derive(Debug, Clone)]
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
    /// created and does not fail the commit: its parent task receives
    /// [`Message::SubOrchestrationFailed`] (error type `InstanceExists`) instead.
    pub new_instances: Vec<NewInstance>,
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

/// How an episode restarts its instance as a new execution: the current execution's history
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

/// Which finished instances `purge` deletes: those matching every field.
#[derive(Debug, Clone, Default)]
pub struct PurgeFilter {
    /// Only this instance.
    pub instance_id: Option<String>,
    /// Only these statuses (every terminal status if empty). Non-terminal statuses match nothing:
    /// an instance that has not finished is never purged.
    pub statuses: Vec<RuntimeStatus>,
    /// Only instances that finished before this time.
    pub completed_before: Option<Timestamp>,
    /// Only instances created at or after this time.
    pub created_from: Option<Timestamp>,
    /// Only instances created before this time.
    pub created_to: Option<Timestamp>,
}

/// A loaded component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRecord {
    /// Its content hash (hex SHA-256 of its bytes).
    pub hash: String,
    /// Where it was loaded from (informational).
    pub source: String,
    /// Its bytes; empty when listed by `components()`.
    pub bytes: Vec<u8>,
    /// The orchestrators it exports.
    pub orchestrators: Vec<String>,
    /// The activities it exports.
    pub activities: Vec<String>,
    /// The entity types it exports.
    pub entities: Vec<String>,
    /// When it was last loaded.
    pub loaded_at: Timestamp,
}

/// An entity as stored: its address, its state and its queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRecord {
    /// Its address.
    pub entity: EntityId,
    /// Its state as JSON; `None` if it has none (never set, or deleted).
    pub state: Option<Payload>,
    /// How many operations it has run (successful or not).
    pub operations: u64,
    /// The orchestration whose critical section holds its lock, if one does.
    pub locked_by: Option<LockHolder>,
    /// Operations queued for it and not yet run (delayed ones included).
    pub queued: u64,
    /// When its first operation arrived.
    pub created_at: Timestamp,
    /// When its state last changed (or an operation last ran).
    pub updated_at: Timestamp,
}

/// Which entities `list_entities` returns: those matching every field, by name then key.
#[derive(Debug, Clone, Default)]
pub struct EntityFilter {
    /// Only this entity type.
    pub name: Option<String>,
    /// Only keys starting with this.
    pub key_prefix: Option<String>,
    /// Also entities that have no state (deleted, or only operations queued so far).
    pub include_stateless: bool,
    /// At most this many.
    pub limit: Option<usize>,
}

/// What one batch of entity operations writes, in one transaction (see
/// [`crate::HistoryStore::commit_entity_batch`]).
#[derive(Debug, Clone)]
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
