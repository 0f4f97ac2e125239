//! The values that go in and out of a [`crate::HistoryStore`].

use reprise_core::schedule::{RunKind, RunOutcome, ScheduleName, ScheduleSpec};
use reprise_core::{
    EntityId, Failure, HistoryEvent, LockHolder, Message, ParentRef, Payload, RuntimeStatus, Timestamp, UpdateReply,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use reprise_core::flow::{Bucket, FlowLimit, FlowLimitError, FlowLimits, KeyPointer, NO_LIMITS, Rate};
pub use reprise_core::plan::{
    ActivityResult, ActivityTask, ActivityTaskKey, ContinueAsNew, EntityCommit, EpisodeCommit, InstanceRewind,
    NewActivityTask, NewInstance, RewindCommit,
};

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

/// An instance as one read saw it: its record and its histories.
#[derive(Debug, Clone)]
pub struct InstanceSnapshot {
    /// The record.
    pub record: InstanceRecord,
    /// Histories by execution number, oldest first; the last one is the current execution's.
    pub executions: Vec<(u32, Vec<HistoryEvent>)>,
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
    /// At most this many (any of the matching ones), so that a large purge can go in batches
    /// that each hold the writer briefly; every matching one if `None`.
    pub limit: Option<usize>,
}

/// What the store holds, counted (see [`crate::HistoryStore::counts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Orchestration instances by status; a status with none may be absent.
    pub instances: Vec<(RuntimeStatus, u64)>,
    /// Inbox messages due later (durable timers, delayed retries).
    pub timers_pending: u64,
    /// Activity tasks queued or waiting for their next attempt, not under a live lease.
    pub activity_tasks_pending: u64,
    /// Of those, the ones held back by their activity's flow limit (throttled), by activity
    /// name; a name with none is absent.
    pub activity_tasks_throttled: Vec<(String, u64)>,
}

/// What [`crate::HistoryStore::claim_activities`] took, and what the flow limits held back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claim {
    /// The tasks claimed, oldest first.
    pub tasks: Vec<ActivityTask>,
    /// How many claimable tasks the claim passed over because their activity (and key) was at a
    /// limit, by activity name. Each such task is marked throttled until a claim takes it.
    pub deferred: BTreeMap<String, u64>,
    /// The earliest time at which a rate limit that held a task back has a token again: a claim
    /// then can take it. `None` if no rate limit held anything back (tasks held back by a
    /// concurrency limit wait for a running attempt to end).
    pub next_token_at: Option<Timestamp>,
}

/// An activity task of an instance that has not ended, as the instance's status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingTask {
    /// Its handle in the instance.
    pub task_id: u64,
    /// The activity.
    pub name: String,
    /// Attempts claimed so far (0 before the first).
    pub attempts: u32,
    /// Where it stands.
    pub state: TaskState,
    /// The key its activity's flow limits apply under, if it has one.
    pub flow_key: Option<String>,
}

/// Where a pending activity task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state")]
pub enum TaskState {
    /// Waiting for a worker with a free slot.
    Queued,
    /// Waiting because its activity (and key) is at a flow limit: it is claimed, in its turn,
    /// once an attempt of the same activity and key ends or the rate limit has a token.
    Throttled {
        /// When a claim first held it back.
        since: Timestamp,
    },
    /// An attempt runs, under a lease.
    Running {
        /// When the lease ends unless renewed.
        lease_until: Timestamp,
    },
    /// Waiting for its next attempt after a failure.
    Retrying {
        /// When the next attempt is due.
        at: Timestamp,
    },
}

impl TaskState {
    /// The state's name, as status output shows it.
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskState::Queued => "Queued",
            TaskState::Throttled { .. } => "Throttled",
            TaskState::Running { .. } => "Running",
            TaskState::Retrying { .. } => "Retrying",
        }
    }
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

/// A rebinding of one unfinished instance to another component (see
/// [`crate::HistoryStore::upgrade`]): what the caller found when it replayed the history on
/// `to`, so that the store can check that nothing moved since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentUpgrade {
    /// The instance.
    pub instance_id: String,
    /// The execution whose history was replayed.
    pub execution: u32,
    /// The length of the history replayed.
    pub expected_history_len: u64,
    /// The component it is pinned to now.
    pub from: String,
    /// The component it is rebound to (already saved in the store).
    pub to: String,
    /// The owner of the instance's lock doing the upgrade (a host, in an episode), or `None`
    /// for an operator, who needs the instance not to be locked by a live lease.
    pub owner: Option<String>,
    /// When: the time of the episode the upgrade is recorded in, and of the lease check.
    pub now: Timestamp,
}

/// An update a client sends to an instance (see [`crate::HistoryStore::request_update`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpdate {
    /// Its id, unique within the instance: the caller's (so that a retry finds it) or one the
    /// host chose.
    pub update_id: String,
    /// Its name, which the orchestrator waits for.
    pub name: String,
    /// Its JSON input.
    pub input: Payload,
}

/// An update as stored: what was asked, and the answer once the orchestrator gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRecord {
    /// The instance it was sent to.
    pub instance_id: String,
    /// Its id.
    pub update_id: String,
    /// The execution it was sent to: one that ends without answering it never will.
    pub execution: u32,
    /// Its name.
    pub name: String,
    /// Its JSON input.
    pub input: Payload,
    /// The orchestrator's answer, once given.
    pub reply: Option<UpdateReply>,
    /// When it was sent.
    pub requested_at: Timestamp,
    /// When it was answered.
    pub replied_at: Option<Timestamp>,
}

/// A schedule to save: its definition, and whether it starts paused.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    /// Its name.
    pub name: ScheduleName,
    /// What it runs, and when.
    pub spec: ScheduleSpec,
    /// Whether it is created paused (a schedule saved over an existing one keeps its own state).
    pub paused: bool,
    /// When it is saved: a new schedule's first slot is after this time (or at its `start_at`).
    pub now: Timestamp,
}

/// A schedule's row: its definition and its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRecord {
    /// Its name.
    pub name: ScheduleName,
    /// What it runs, and when.
    pub spec: ScheduleSpec,
    /// Whether it is paused: it fires nothing until resumed.
    pub paused: bool,
    /// Every slot at or before this time has been handled (see `reprise_core::schedule::plan`).
    pub cursor: Timestamp,
    /// The slot waiting for the previous run to end (`buffer-one`).
    pub buffered: Option<Timestamp>,
    /// The id of its latest run: the previous run of its next slot.
    pub last_instance: Option<String>,
    /// Runs it started (slots, manual runs and backfills).
    pub fired: u64,
    /// Slots skipped because the previous run was unfinished.
    pub skipped: u64,
    /// Slots older than the catch-up window when a host could fire them.
    pub missed: u64,
    /// Manual runs so far: the next one is `NAME@manual-{manual + 1}`.
    pub manual: u64,
    /// Bumped by every write of the row: what [`ScheduleFire::expected_version`] is checked
    /// against.
    pub version: u64,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its row last changed.
    pub updated_at: Timestamp,
}

/// One recorded slot or manual run of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRun {
    /// The slot (`None` for a manual run).
    pub slot: Option<Timestamp>,
    /// Who asked for it.
    pub kind: RunKind,
    /// What became of it.
    pub outcome: RunOutcome,
    /// The instance that runs it (for a started, already started or buffered slot).
    pub instance_id: Option<String>,
    /// When it was recorded.
    pub at: Timestamp,
}

/// One slot (or manual run) of a [`ScheduleFire`].
#[derive(Debug, Clone)]
pub struct NewScheduleRun {
    /// The slot (`None` for a manual run).
    pub slot: Option<Timestamp>,
    /// Who asked for it.
    pub kind: RunKind,
    /// What becomes of it. A run given with `start` is recorded as `Started`, or as
    /// `AlreadyStarted` if its instance id is taken.
    pub outcome: RunOutcome,
    /// The instance to create.
    pub start: Option<NewInstance>,
    /// A message to send first (the previous run's termination), as
    /// [`HistoryStore::enqueue_message`](crate::HistoryStore::enqueue_message) does; one whose
    /// instance is gone or finished is dropped.
    pub terminate: Option<(String, Message)>,
    /// The instance id to record for a run that starts nothing (a buffered slot's future id).
    pub instance_id: Option<String>,
}

/// What one decision about a schedule writes, in one transaction: its runs (the instances they
/// start), its new progress and counts.
#[derive(Debug, Clone)]
pub struct ScheduleFire {
    /// The schedule.
    pub name: ScheduleName,
    /// The row's version the decision was made on.
    pub expected_version: u64,
    /// The new cursor.
    pub cursor: Timestamp,
    /// The slot waiting afterwards.
    pub buffered: Option<Timestamp>,
    /// The manual runs counted afterwards.
    pub manual: u64,
    /// Slots missed, to add to the count (the runs recorded as `Missed` are not counted again).
    pub missed: u64,
    /// The runs, oldest first.
    pub runs: Vec<NewScheduleRun>,
    /// When it is written.
    pub now: Timestamp,
}
