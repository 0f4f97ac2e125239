//! The history store of Reprise: everything durable lives behind the [`HistoryStore`] trait.
//!
//! It owns instances, their append-only histories, per-instance inboxes, the activity work queue
//! with its leases, and the registry of loaded components. Its one rule is atomicity: an
//! episode's new history events, new work, consumed messages and new status are written by
//! [`HistoryStore::commit_episode`] in a single transaction, so a crash loses or duplicates
//! nothing.
//!
//! The store never reads a clock (callers pass every time in, so tests control time), never runs
//! guest code and never decides what an orchestrator does next: it persists what it is given.
//! [`sqlite::SqliteStore`] is the embedded implementation; other databases go behind the same
//! trait.

pub mod sqlite;
mod types;

pub use sqlite::SqliteStore;
pub use types::*;

use reprise_core::{HistoryEvent, Timestamp};

/// The errors a store reports. Callers match on `InstanceExists`, `InstanceNotFound` and
/// `Conflict`; the rest are faults of the database or its contents.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `create_instance` was given an id that is already taken.
    #[error("an instance with id '{0}' already exists")]
    InstanceExists(String),
    /// No instance has that id.
    #[error("no instance with id '{0}'")]
    InstanceNotFound(String),
    /// The write lost a race: another owner holds the instance, or its history moved on since it
    /// was read. The caller should drop what it computed and start again from the store.
    #[error("conflict on instance '{instance_id}': {reason}")]
    Conflict {
        /// The instance concerned.
        instance_id: String,
        /// What did not match.
        reason: String,
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
    /// An error from SQLite itself.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Durable state of the host. Methods are synchronous (SQLite is); async callers run them on a
/// blocking thread. Implementations must be safe to share between threads.
pub trait HistoryStore: Send + Sync + 'static {
    /// Creates an instance (status `Pending`) and enqueues its `Start` message, atomically.
    /// Fails with [`StoreError::InstanceExists`] if the id is taken.
    fn create_instance(&self, new: &NewInstance) -> StoreResult<()>;

    /// One instance's row, if it exists.
    fn instance(&self, instance_id: &str) -> StoreResult<Option<InstanceRecord>>;

    /// Instances matching `filter`, newest first.
    fn list_instances(&self, filter: &InstanceFilter) -> StoreResult<Vec<InstanceRecord>>;

    /// The recorded history of one execution of an instance, in order.
    fn history(&self, instance_id: &str, execution: u32) -> StoreResult<Vec<HistoryEvent>>;

    /// Ids of up to `limit` non-terminal instances that have a message visible at `now` and are
    /// not locked by another owner, oldest message first.
    fn ready_instances(&self, owner: &str, now: Timestamp, limit: usize) -> StoreResult<Vec<String>>;

    /// Takes (or renews) the instance's lock for `owner` until `lease_until`. Returns false if
    /// another owner holds an unexpired lock.
    fn lock_instance(
        &self,
        instance_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool>;

    /// Releases the instance's lock if `owner` holds it (after an episode that did not commit).
    fn unlock_instance(&self, instance_id: &str, owner: &str) -> StoreResult<()>;

    /// The instance's messages visible at `now`, in the order they were enqueued.
    fn messages(&self, instance_id: &str, now: Timestamp) -> StoreResult<Vec<InboxMessage>>;

    /// Writes one episode in a single transaction: appends its events, enqueues its activity
    /// tasks, deletes its consumed messages, updates the instance row and releases the lock.
    /// Fails with [`StoreError::Conflict`] (writing nothing) if `commit.owner` does not hold the
    /// lock or the history's length is not `commit.expected_history_len`. A commit with a terminal
    /// status also deletes the instance's remaining messages and its activity tasks that no
    /// worker has claimed.
    fn commit_episode(&self, commit: &EpisodeCommit) -> StoreResult<()>;

    /// Leases up to `limit` activity tasks visible at `now` to `owner` until `lease_until`, and
    /// increments their attempt numbers. Tasks whose lease expired (a crashed worker) are
    /// claimed again.
    fn claim_activities(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<ActivityTask>>;

    /// Extends the lease of a claimed task. Returns false if `owner` no longer holds it.
    fn renew_activity(&self, task: &ActivityTaskKey, owner: &str, lease_until: Timestamp) -> StoreResult<bool>;

    /// Records an attempt's result in one transaction: deletes the task and enqueues `result` for
    /// its instance (unless the instance finished, or moved to another execution, meanwhile).
    /// Returns false, writing nothing, if `owner` no longer holds the lease.
    fn complete_activity(
        &self,
        task: &ActivityTaskKey,
        owner: &str,
        result: &ActivityResult,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Records a loaded component: its bytes (so instances pinned to it can replay after the
    /// file changes) and what it exports. Re-saving a known hash updates `loaded_at` only.
    fn save_component(&self, component: &ComponentRecord) -> StoreResult<()>;

    /// The bytes of a component by content hash.
    fn component_bytes(&self, hash: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Every known component, most recently loaded first (without bytes).
    fn components(&self) -> StoreResult<Vec<ComponentRecord>>;
}
