//! The history store of Reprise: everything durable lives behind the [`HistoryStore`] trait.
//!
//! It owns instances, their append-only histories, per-instance inboxes (including delayed
//! messages: durable timers and retry waits are messages or tasks that become visible later), the
//! activity work queue with its leases, the links from sub-orchestrations to their parents, and
//! the registry of loaded components, and the state of entities. Its one rule is
//! atomicity: an episode's new history events, new work, sent messages, consumed messages and new
//! status are written by [`HistoryStore::commit_episode`] in a single transaction, so a crash
//! loses or duplicates nothing.
//!
//! The store never reads a clock (callers pass every time in, so tests control time), never runs
//! guest code and never decides what an orchestrator does next: it persists what it is given.
//! [`sqlite::SqliteStore`] is the embedded implementation; other databases go behind the same
//! trait.

pub mod sqlite;
mod types;

pub use sqlite::{SqliteStore, StoreOptions, Synchronous, WriteStats, failpoints};
pub use types::*;

use reprise_core::schedule::{RunOutcome, ScheduleName};
use reprise_core::{EntityId, EntityOperation, HistoryEvent, HttpExchange, Message, RuntimeStatus, Timestamp};

/// The errors a store reports. Callers match on `InstanceExists`, `InstanceNotFound`,
/// `ScheduleExists`, `ScheduleNotFound`,
/// `Finished`, `NotFinished` and `Conflict`, and on `Unavailable` (with its `retryable`) to
/// back off or answer "try again later"; the rest are faults of the database or its contents.
///
/// A write that fails with `Unavailable` (or `Sqlite`) was most likely not applied, but not
/// surely: a fault after the commit (see [`failpoints`]) leaves it durable. Every write that
/// the executor retries is checked by the store against what is already there (an episode's
/// expected history length, a task's lease, an instance id), so that a retry of a write that
/// did land is refused instead of applied twice.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `create_instance` was given an id that is already taken.
    #[error("an instance with id '{0}' already exists")]
    InstanceExists(String),
    /// No instance has that id.
    #[error("no instance with id '{0}'")]
    InstanceNotFound(String),
    /// `save_schedule` was asked to create a schedule whose name is taken.
    #[error("a schedule named '{0}' already exists; delete it first, or choose another name")]
    ScheduleExists(String),
    /// No schedule has that name.
    #[error("no schedule named '{0}' (`reprise schedule list` shows them)")]
    ScheduleNotFound(String),
    /// The instance has finished, so it takes no more messages.
    #[error("instance '{instance_id}' already finished ({status}); it accepts no more messages")]
    Finished {
        /// The instance concerned.
        instance_id: String,
        /// Its terminal status.
        status: RuntimeStatus,
    },
    /// The instance has not finished, so it cannot be purged.
    #[error(
        "instance '{instance_id}' has not finished ({status}); only finished instances can be purged (terminate it first)"
    )]
    NotFinished {
        /// The instance concerned.
        instance_id: String,
        /// Its current, non-terminal status.
        status: RuntimeStatus,
    },
    /// The write lost a race: another owner holds the instance, or its history moved on since it
    /// was read. The caller should drop what it computed and start again from the store.
    #[error("conflict on instance '{instance_id}': {reason}")]
    Conflict {
        /// The instance concerned.
        instance_id: String,
        /// What did not match.
        reason: String,
    },
    /// The store was opened read-only on a file whose schema predates this build: only a
    /// store that may write can migrate it.
    #[error(
        "the database schema is version {found}, older than this reprise's ({supported}); open it once with a command that writes (serve, start) to upgrade it"
    )]
    SchemaTooOld {
        /// The schema version in the file.
        found: i64,
        /// The version this build reads.
        supported: i64,
    },
    /// A row holds data this version cannot read.
    #[error("corrupt data in the store: {0}")]
    Corrupt(String),
    /// The database file was written by a newer version of Reprise.
    #[error("the database schema is version {found}, newer than this reprise supports ({supported}); upgrade reprise")]
    SchemaTooNew {
        /// The schema version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// The database file itself is damaged, or is not a database: SQLite cannot read it. Nothing
    /// was written to it.
    #[error(
        "the database file is damaged: {0}; stop every reprise process that uses it, then restore it from a backup (SQLite's `.recover` command salvages what it can read)"
    )]
    Damaged(String),
    /// The store cannot serve the request now, through no fault of the request: the disk is
    /// full, the file cannot be written, another process holds it. `retryable` says whether
    /// the same request can succeed later on the same store without anyone restarting it.
    #[error("the store is unavailable: {reason}")]
    Unavailable {
        /// What is wrong, and what to do about it.
        reason: Unavailable,
        /// Whether trying the same request again later may succeed: true when the condition
        /// can pass by itself or by an operator's action outside the process (space freed, a
        /// lock released), false when only reopening the store can help.
        retryable: bool,
    },
    /// An error from SQLite itself.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// A write submitted without blocking was dropped unanswered (the store is shutting down).
    #[error("the store dropped a write without answering it; is it shutting down?")]
    Dropped,
}

/// Why the store is unavailable (see [`StoreError::Unavailable`]). The messages name no file
/// and no internal detail: they may reach a remote client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// The disk holding the database is full (or the database reached a size limit).
    #[error(
        "the database is full: the disk that holds it has no room left for this write; free space on that disk, and the host goes on by itself once there is room"
    )]
    Full,
    /// The database cannot be written by this process: its file, its directory or its file
    /// system is read-only.
    #[error(
        "the database cannot be written by this process (its file, its directory or its file system is read-only); give this user write access to the file and its directory, or use only commands that read (status, history, list, components, entity get, entity list)"
    )]
    ReadOnly,
    /// Another process held the database's lock for longer than the busy timeout.
    #[error(
        "the database is locked by another process for longer than the busy timeout; try again, and look for a program holding a long transaction on the file"
    )]
    Busy,
    /// The disk reported an I/O error.
    #[error("the disk that holds the database reported an I/O error ({0}); check the disk, then try again")]
    Io(String),
}

impl StoreError {
    /// Whether the same request may succeed if tried again later (see
    /// [`StoreError::Unavailable`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { retryable: true, .. })
    }
}

impl From<rusqlite::Error> for StoreError {
    /// SQLite's errors about the file and the disk become [`StoreError::Unavailable`] or
    /// [`StoreError::Damaged`], so that callers can tell them from bugs; the rest stay
    /// [`StoreError::Sqlite`], but for values a row holds that cannot be read, which are
    /// [`StoreError::Corrupt`].
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        let unavailable = |reason, retryable| StoreError::Unavailable { reason, retryable };
        match error.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => unavailable(Unavailable::Full, true),
            Some(ErrorCode::ReadOnly) => unavailable(Unavailable::ReadOnly, false),
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => unavailable(Unavailable::Busy, true),
            Some(ErrorCode::SystemIoFailure) => unavailable(Unavailable::Io(error.to_string()), true),
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Damaged(error.to_string()),
            _ => match error {
                // A value SQLite holds but this build cannot convert (text that is not UTF-8,
                // an integer out of range, a column of another type) is the row's fault, not
                // the database's: it is reported as corrupt wherever it is read.
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
                | rusqlite::Error::InvalidColumnType(..) => {
                    StoreError::Corrupt(format!("a row holds a value this build cannot read: {error}"))
                }
                other => StoreError::Sqlite(other),
            },
        }
    }
}

/// The error types of failures that concern the store's rules.
pub mod error_types {
    pub use reprise_core::failure::error_types::INSTANCE_EXISTS;
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Called once with the result of a write submitted without blocking (the `*_then` methods of
/// [`HistoryStore`]), when its commit is done.
pub type Done<R> = Box<dyn FnOnce(StoreResult<R>) + Send>;

/// Durable state of the host. Methods are synchronous (SQLite is); async callers run them on a
/// blocking thread, except the `*_then` twins of the hot writes, which answer through a callback.
/// Implementations must be safe to share between threads.
pub trait HistoryStore: Send + Sync + 'static {
    /// Creates an instance (status `Pending`, execution 1, with its parent link if it has one)
    /// and enqueues its `Start` message, atomically. Fails with [`StoreError::InstanceExists`]
    /// if the id is taken. (Sub-orchestrations are usually created by
    /// [`HistoryStore::commit_episode`], in their parent's episode.)
    fn create_instance(&self, new: &NewInstance) -> StoreResult<()>;

    /// One instance's row, if it exists.
    fn instance(&self, instance_id: &str) -> StoreResult<Option<InstanceRecord>>;

    /// Instances matching `filter`, newest first.
    fn list_instances(&self, filter: &InstanceFilter) -> StoreResult<Vec<InstanceRecord>>;

    /// The recorded history of one execution of an instance, in order.
    fn history(&self, instance_id: &str, execution: u32) -> StoreResult<Vec<HistoryEvent>>;

    /// The records of these instances with their histories (the current execution's, or with
    /// `every_execution` all of them, oldest first), read in one snapshot: each history is the
    /// one its record counts, whatever writers commit meanwhile. Ids with no instance are left
    /// out. Readers take no lock a writer waits on, so a tool may read beside a running host.
    fn snapshots(&self, ids: &[String], every_execution: bool) -> StoreResult<Vec<InstanceSnapshot>>;

    /// Ids of up to `limit` non-terminal instances that have a message visible at `now` for
    /// their current execution and are not locked by another owner, oldest such message first.
    /// `Pending`, `Running` and `ContinuedAsNew` instances count every message (the latter's
    /// `Start` is delayed until its `start_at`). A `Suspended` instance counts only
    /// its control messages ([`Message::is_control`]: terminate, suspend, resume); the others wait
    /// in its inbox until it resumes.
    fn ready_instances(&self, owner: &str, now: Timestamp, limit: usize) -> StoreResult<Vec<String>>;

    /// Takes (or renews) the instance's lock for `owner` until `lease_until`. Returns false if
    /// another owner holds an unexpired lock, or if the instance has finished (or does not
    /// exist): a finished instance is never locked again.
    fn lock_instance(
        &self,
        instance_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool>;

    /// Releases the instance's lock if `owner` holds it (after an episode that did not commit).
    fn unlock_instance(&self, instance_id: &str, owner: &str) -> StoreResult<()>;

    /// Takes the instance's lock as [`HistoryStore::lock_instance`] does and, if it got it,
    /// reads the instance and its messages visible at `now` (as [`HistoryStore::instance`] and
    /// [`HistoryStore::messages`]) in the same transaction: an episode's start in one round trip.
    /// `None` if the instance does not exist, has finished, or another owner holds an unexpired
    /// lock.
    fn begin_episode(
        &self,
        instance_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Option<EpisodeStart>>;

    /// [`HistoryStore::begin_episode`] without blocking: `done` gets the result once the write
    /// is committed. The hot writes of an episode have such twins so that an async caller
    /// waits for a store with a writer thread (SQLite's) without a blocking thread of its own;
    /// the default runs the write at once on the caller's thread.
    fn begin_episode_then(
        &self,
        instance_id: String,
        owner: String,
        (now, lease_until): (Timestamp, Timestamp),
        done: Done<Option<EpisodeStart>>,
    ) {
        done(self.begin_episode(&instance_id, &owner, now, lease_until));
    }

    /// The instance's messages visible at `now`, in the order they were enqueued: all of them,
    /// whatever its status (the executor chooses what a suspended instance consumes).
    fn messages(&self, instance_id: &str, now: Timestamp) -> StoreResult<Vec<InboxMessage>>;

    /// Writes one episode in a single transaction: appends its events to the current
    /// execution's history, enqueues its activity tasks, creates its sub-orchestrations,
    /// enqueues its outgoing messages, deletes its consumed messages, updates the instance row
    /// (or moves it to a new execution) and releases the lock. Fails with
    /// [`StoreError::Conflict`] (writing nothing) if `commit.owner` does not hold the lock, the
    /// instance is on another execution or has finished, or the history's length is not
    /// `commit.expected_history_len`.
    ///
    /// A new activity task with [`NewActivityTask::claimed_until`] is enqueued already leased to
    /// `commit.owner` as its first attempt (the committing host runs it at once); the others wait
    /// for a claim. A claimed task outlives a commit that ends the execution (like any task
    /// under a live lease), so a host claims tasks only in an episode that leaves it running.
    ///
    /// Each of `commit.new_instances` is created at `commit.now` as by
    /// [`HistoryStore::create_instance`], with its `Start` message, before the outgoing messages
    /// are enqueued (so an event sent to a child started in the same episode reaches it). One
    /// whose id is already taken is not created and does not fail the commit: its
    /// [`NewInstance::if_taken`] message is sent instead, as an outgoing message (the planner
    /// makes it fail the parent's task); one without is just not created.
    ///
    /// Each outgoing message goes to its target's current execution, visible from its
    /// `visible_at`; one whose target does not exist or has finished is silently dropped (an
    /// event sent to a finished instance is lost).
    ///
    /// Each of `commit.update_replies` completes the record of its update (see
    /// [`HistoryStore::request_update`]) with the answer, at `commit.now`; an update already
    /// answered keeps its first answer, and an id with no record is ignored.
    ///
    /// A commit with a terminal status (`Completed`, `Failed`, `Terminated`) sets `completed_at`
    /// and also deletes the instance's remaining messages (its pending timers among them, even
    /// those this very commit scheduled) and its activity tasks that no worker holds a live
    /// lease on. The sub-orchestrations it creates are still created, and live on as
    /// independent instances (their results to the finished parent are dropped). `Suspended`
    /// and `ContinuedAsNew` are not terminal.
    ///
    /// With `commit.continue_as_new`, the instance instead moves to execution `execution + 1`
    /// with an empty history (`history_len` 0), the given input and status `ContinuedAsNew`
    /// (whatever `commit.status`, `output` and `failure` say; no `completed_at`), the commit's
    /// custom status, the given parent link (kept if `None`) and no pinned component (the new
    /// execution pins the newest component at its first episode, as a new instance does). The
    /// old execution's activity tasks that no live lease holds are deleted, and its messages
    /// too, except its control messages (an operator's terminate, suspend or resume is for the
    /// instance, whatever its execution) and, with `keep_pending_events`, its `EventRaised`
    /// messages. The new execution's inbox then holds, in order: `Start { name, input }`
    /// visible at `start_at`; each `carry` message, visible at `commit.now`; the kept messages,
    /// in their order and with their own visibility.
    fn commit_episode(&self, commit: &EpisodeCommit) -> StoreResult<()>;

    /// [`HistoryStore::commit_episode`] without blocking (see
    /// [`HistoryStore::begin_episode_then`]).
    fn commit_episode_then(&self, commit: EpisodeCommit, done: Done<()>) {
        done(self.commit_episode(&commit));
    }

    /// Leases up to `limit` activity tasks visible at `now` to `owner` until `lease_until`, and
    /// increments their attempt numbers, oldest task first. Tasks whose lease expired (a crashed
    /// worker) are claimed again. Tasks of a `Suspended` instance are not claimed: they wait until
    /// it resumes.
    ///
    /// Within the same transaction it enforces `flow`, per activity name and task key (the
    /// [`NewActivityTask::flow_key`] stored at enqueue): a task is passed over if its group
    /// already has `concurrency` tasks under a live lease (whoever holds them), or if the
    /// group's token bucket has no token at `now` (a claimed task takes one; the buckets are
    /// durable, so the rate holds across processes). Once a group holds one task back, it holds
    /// back its younger ones too in this claim, so each group is served oldest first; other
    /// groups are not held up. A task passed over is marked throttled (from `now`, if it was not
    /// already) until a claim takes it. [`Claim`] says how many were held back and when a rate
    /// limit next has a token.
    fn claim_activities(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
        flow: &FlowLimits,
    ) -> StoreResult<Claim>;

    /// Extends the lease of a claimed task. Returns false if `owner` no longer holds it.
    fn renew_activity(&self, task: &ActivityTaskKey, owner: &str, lease_until: Timestamp) -> StoreResult<bool>;

    /// Records an attempt's result in one transaction. Returns false, writing nothing, if `owner`
    /// no longer holds the lease. The result may be lost in a power cut (not in a crash of the
    /// process) until the next durable commit of the store, which is at the latest the commit of
    /// the episode that consumes it: the task is then claimed and run again, as activities are
    /// delivered at least once.
    ///
    /// `Completed` and `Failed` delete the task and enqueue the result for its instance, visible
    /// at `now`. `Retry` keeps the task, releases its lease and hides it until
    /// `next_attempt_at` (the next claim is the next attempt), and enqueues
    /// [`Message::ActivityRetrying`] with the failed attempt's number, visible at `now`, as a
    /// record for the instance's history. Either way, if the instance has finished or moved to
    /// another execution meanwhile, the task is deleted and nothing is enqueued.
    fn complete_activity(
        &self,
        task: &ActivityTaskKey,
        owner: &str,
        result: &ActivityResult,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.record_attempt(task, owner, result, &[], now)
    }

    /// [`HistoryStore::complete_activity`] for an attempt that made HTTP requests: when
    /// `requests` is not empty, [`Message::HttpRequestsMade`] is enqueued just before the
    /// result, in the same transaction, so that history shows them next to the attempt.
    fn record_attempt(
        &self,
        task: &ActivityTaskKey,
        owner: &str,
        result: &ActivityResult,
        requests: &[HttpExchange],
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// [`HistoryStore::record_attempt`] without blocking (see
    /// [`HistoryStore::begin_episode_then`]), then, if the result was recorded and `begin_until`
    /// is set, [`HistoryStore::begin_episode`] for the task's instance in the same commit: the
    /// host that ran an activity starts the episode that consumes its result with the same
    /// write. The default makes the calls one after the other on the caller's thread.
    fn record_activity_then(
        &self,
        task: ActivityTaskKey,
        owner: String,
        (result, requests, now, begin_until): (ActivityResult, Vec<HttpExchange>, Timestamp, Option<Timestamp>),
        done: Done<Recorded>,
    ) {
        let recorded = self.record_attempt(&task, &owner, &result, &requests, now).and_then(|recorded| {
            let episode = match (recorded, begin_until) {
                (true, Some(until)) => self.begin_episode(&task.instance_id, &owner, now, until)?,
                _ => None,
            };
            Ok(Recorded { recorded, episode })
        });
        done(recorded);
    }

    /// Enqueues a management command or an external event (`EventRaised`, `Terminate`,
    /// `Suspend`, `Resume`) for the instance's current execution, visible from `visible_at`.
    /// Fails with [`StoreError::InstanceNotFound`] if there is no such instance, and with
    /// [`StoreError::Finished`] if it has finished.
    fn enqueue_message(
        &self,
        instance_id: &str,
        message: &Message,
        visible_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Sends an update to the instance's current execution, in one transaction: records it and
    /// enqueues [`Message::UpdateRequested`] for it, visible at `now`. Returns its record and
    /// whether it was sent now: an update already sent under the same id (a caller's retry) is
    /// not sent again, and its record (answered or not) is returned instead, unless its name or
    /// input differ, which is a [`StoreError::Conflict`]. Fails with
    /// [`StoreError::InstanceNotFound`] if there is no such instance and with
    /// [`StoreError::Finished`] if it has finished (and the id is not known), writing nothing.
    fn request_update(
        &self,
        instance_id: &str,
        update: &NewUpdate,
        now: Timestamp,
    ) -> StoreResult<(UpdateRecord, bool)>;

    /// One update of an instance, with its answer if it has one.
    fn update(&self, instance_id: &str, update_id: &str) -> StoreResult<Option<UpdateRecord>>;

    /// The earliest time after `now` at which work becomes due: a delayed message (a timer) that
    /// would make its instance ready, or an activity task waiting for its next attempt. `None`
    /// if nothing is scheduled; a worker idle at `now` may sleep until then (new work that
    /// arrives meanwhile is not announced here).
    fn next_due(&self, now: Timestamp) -> StoreResult<Option<Timestamp>>;

    /// What the store holds at `now`, for the metrics: orchestration instances by status
    /// (entities left out), inbox messages due after `now` (timers, delayed retries),
    /// activity tasks not under a live lease (queued, or waiting for their next attempt) and,
    /// of those, the throttled ones by activity.
    fn counts(&self, now: Timestamp) -> StoreResult<StoreCounts>;

    /// The activity tasks of the instance's current execution still in the queue at `now`
    /// (queued, throttled, running or waiting for a retry), by task id. An unknown instance has
    /// none.
    fn pending_tasks(&self, instance_id: &str, now: Timestamp) -> StoreResult<Vec<PendingTask>>;

    /// The counters of the store's own writer, for a store that has one; `None` otherwise.
    fn writer_stats(&self) -> Option<WriteStats> {
        None
    }

    /// Ids of the non-terminal instances whose parent (of any execution) is `instance_id`, oldest
    /// first: the sub-orchestrations to terminate with it. Only direct children: the caller
    /// recurses. An unknown instance has none.
    fn children(&self, instance_id: &str) -> StoreResult<Vec<String>>;

    /// Deletes the finished instances matching `filter`, with their histories, inboxes and
    /// tasks, and returns how many were deleted. An instance that has not finished is never
    /// deleted: naming one by `filter.instance_id` fails with [`StoreError::NotFinished`] (and a
    /// missing one with [`StoreError::InstanceNotFound`]); with other filters, such instances
    /// simply do not match. `ContinuedAsNew` is not finished. Purging a parent leaves its
    /// children (and their parent links) alone.
    fn purge(&self, filter: &PurgeFilter) -> StoreResult<usize>;

    /// Rewinds failed instances in one transaction (see `reprise_core::plan::rewind`, which
    /// decides what it holds). For each of `commit.rewinds`: the instance must still be Failed,
    /// on the same execution, with a history of `expected_history_len` events, or the whole
    /// rewind fails with [`StoreError::Conflict`], writing nothing; it becomes Running with no
    /// output, failure or `completed_at`, its `activities` are enqueued again as new tasks
    /// (unclaimed, created at `commit.now`; a task of the same handle still held by a worker is
    /// kept instead) and its `messages` are enqueued in order, for its execution. Its history is
    /// not touched: the `Rewind` message it receives is recorded by its next episode. Then each
    /// of `commit.restarts` replaces a finished instance as [`HistoryStore::restart`] does, and
    /// each of `commit.created` is created as by [`HistoryStore::create_instance`] (an id taken
    /// meanwhile is a conflict).
    fn rewind(&self, commit: &RewindCommit) -> StoreResult<()>;

    /// Starts a finished instance again under its own id, in one transaction, so that the id is
    /// never free and the old history never mixes with the new: the instance moves to its next
    /// execution (so that nothing of the old one, a late activity result, a timer, can reach the
    /// new one) with status `Pending`, the orchestrator, input and parent link of `new`, no
    /// output, failure, custom status or pinned component, and `created_at` set to
    /// `new.created_at`; its history (every execution's), its updates, its inbox and the activity tasks that
    /// no worker holds are deleted, and its `Start` message is enqueued. Fails with
    /// [`StoreError::InstanceNotFound`] if it does not exist and with
    /// [`StoreError::NotFinished`] if it has not finished, writing nothing.
    fn restart(&self, new: &NewInstance) -> StoreResult<()>;

    /// Rebinds an unfinished instance to another component in one transaction: appends an
    /// episode of its own to its history (`EpisodeStarted` at `upgrade.now`, then
    /// `ComponentUpgraded { from, to }`) and pins it to `upgrade.to`, leaving its status, inbox,
    /// tasks and lock as they are. It checks first, writing nothing when a check fails, that the
    /// instance is where the caller's replay found it: it exists ([`StoreError::InstanceNotFound`]),
    /// has not finished ([`StoreError::Finished`]), is on `execution` with a history of
    /// `expected_history_len` events and pinned to `from`, is not locked under a live lease by
    /// anyone but `upgrade.owner`, and `to` is a known component (each a
    /// [`StoreError::Conflict`] saying which).
    fn upgrade(&self, upgrade: &ComponentUpgrade) -> StoreResult<()>;

    /// Records a loaded component: its bytes (so instances pinned to it can replay after the
    /// file changes) and what it exports. Re-saving a known hash updates `loaded_at` only.
    fn save_component(&self, component: &ComponentRecord) -> StoreResult<()>;

    /// The bytes of a component by content hash.
    fn component_bytes(&self, hash: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Every known component, most recently loaded first (without bytes).
    fn components(&self) -> StoreResult<Vec<ComponentRecord>>;

    /// Enqueues an operation for an entity (a signal from a client), visible from `visible_at`,
    /// creating the entity with no state if this is its first operation. Entities are instances
    /// with the id [`EntityId::instance_id`]; an [`OutgoingMessage`](reprise_core::OutgoingMessage)
    /// carrying [`Message::EntityOperation`] creates its entity the same way, in whichever commit
    /// sends it.
    fn signal_entity(
        &self,
        entity: &EntityId,
        operation: &EntityOperation,
        visible_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// One entity, if it exists (it has received an operation and was not deleted since).
    fn entity(&self, entity: &EntityId) -> StoreResult<Option<EntityRecord>>;

    /// The entities matching `filter`, by name then key.
    fn list_entities(&self, filter: &EntityFilter) -> StoreResult<Vec<EntityRecord>>;

    /// Writes one batch of operations on an entity in a single transaction: consumes its
    /// operation messages, enqueues `commit.outgoing` (results to callers, signals to entities,
    /// each as by [`HistoryStore::commit_episode`]), creates `commit.new_instances` (one whose id
    /// is taken is skipped), stores the new state, adds `commit.operations` to its count and
    /// releases the lock. An entity left with no state and no queued message is deleted. Fails
    /// with [`StoreError::Conflict`] (writing nothing) if `commit.owner` does not hold the lock
    /// or a consumed message is gone.
    fn commit_entity_batch(&self, commit: &EntityCommit) -> StoreResult<()>;

    /// Saves a schedule. A new one starts with no run, its cursor at `schedule.now`, and paused
    /// if `schedule.paused`. With `replace`, a schedule of that name takes the new definition and
    /// keeps its progress, counts, runs and paused state (and `schedule.paused` is ignored);
    /// without it, a taken name fails with [`StoreError::ScheduleExists`]. Returns whether the
    /// schedule was created (rather than replaced).
    fn save_schedule(&self, schedule: &NewSchedule, replace: bool) -> StoreResult<bool>;

    /// One schedule's row, if it exists.
    fn schedule(&self, name: &ScheduleName) -> StoreResult<Option<ScheduleRecord>>;

    /// Every schedule, by name.
    fn list_schedules(&self) -> StoreResult<Vec<ScheduleRecord>>;

    /// Pauses or resumes a schedule at `now`; a resume with `cursor` also moves its cursor
    /// there (so that the slots that came while it was paused are never fired). Fails with
    /// [`StoreError::ScheduleNotFound`] if there is no such schedule.
    fn set_schedule_paused(
        &self,
        name: &ScheduleName,
        paused: bool,
        cursor: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Deletes a schedule and its recorded runs (the instances they started are left alone).
    /// Fails with [`StoreError::ScheduleNotFound`] if there is no such schedule.
    fn delete_schedule(&self, name: &ScheduleName) -> StoreResult<()>;

    /// Records a decision about a schedule in one transaction: the schedule's version must still
    /// be `fire.expected_version` (or it fails with [`StoreError::Conflict`], writing nothing:
    /// another process decided first), and it must exist ([`StoreError::ScheduleNotFound`]).
    /// Then, for each run in order: its `terminate` message is sent (dropped if the instance is
    /// gone or finished); its `start` instance is created as by
    /// [`HistoryStore::create_instance`], and the run is `Started`, or `AlreadyStarted` if the id
    /// is taken (so a slot never runs twice, whoever tries); the run is recorded, and the
    /// instance it names becomes the schedule's latest run. Finally the schedule's cursor,
    /// buffered slot and manual count are set, `fired` counts the `Started` runs, `skipped` the
    /// `Skipped` ones, `missed` grows by `fire.missed`, its version is bumped, and only its
    /// newest [`SCHEDULE_RUNS_KEPT`] runs are kept. Returns the outcome of each run, in order.
    fn fire_schedule(&self, fire: &ScheduleFire) -> StoreResult<Vec<RunOutcome>>;

    /// A schedule's newest `limit` recorded runs, newest first.
    fn schedule_runs(&self, name: &ScheduleName, limit: usize) -> StoreResult<Vec<ScheduleRun>>;
}

/// How many recorded runs the store keeps per schedule (the counts cover every run).
pub const SCHEDULE_RUNS_KEPT: usize = 200;
