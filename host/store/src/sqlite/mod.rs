//! The SQLite implementation of [`HistoryStore`]: one database file holds everything durable.
//!
//! This module owns opening the file, configuring its connections and handing them out; the
//! submodules own one area of the schema each and take a connection as argument:
//!
//! | module | owns |
//! |---|---|
//! | `migrations` | the numbered schema files and `PRAGMA user_version` |
//! | `codec` | integer widths, JSON, statuses: every conversion that can find a corrupt row |
//! | `instances` | instance rows, their parent links, their episode lock and purging |
//! | `inbox` | enqueued messages, which instances have work and when the next becomes due |
//! | `episodes` | the atomic episode commit (with sub-orchestrations and continue-as-new) and history reads |
//! | `activities` | the activity queue, its leases and retry waits |
//! | `flow` | flow control in the claim: live leases per activity and key, token buckets, throttled marks |
//! | `restarts` | rewinds of failed instances and restarts of finished ones |
//! | `entities` | entity state rows, entities created by their first operation, and the atomic commit of a batch of operations |
//! | `components` | the component registry |
//! | `schedules` | schedule rows, their recorded runs, and the atomic record of a fire with the instances it starts |
//! | `writer` | the write connection's thread: group commit, one savepoint per request |
//! | `failpoints` | the writer's fault points, for fault-injection tests (cargo feature `failpoints`) |
//! | `preflight` | the checks of an existing file before anything is written to it |
//!
//! # Opening a file
//! An existing file is checked before the store writes anything (see `preflight`): a file that
//! is not a database, is damaged, was written by a newer Reprise or has a damaged write-ahead
//! log is refused as it is. A file this process may not write (permissions, a read-only mount)
//! is refused too, unless [`StoreOptions::read_only`] asks for a store that only reads.
//!
//! # Connections
//! SQLite allows one writer at a time per file, so the store keeps exactly one write connection,
//! owned by the `writer` thread: every write of this process is a request to that thread, which
//! commits whatever queued up together (group commit: one fsync for many writes under load) and
//! answers each request only once its commit is durable. Other processes (CLI commands next to
//! a `reprise serve` daemon) queue on the file lock through `busy_timeout`. Each batch runs in a
//! `BEGIN IMMEDIATE` transaction, which takes the write lock up front: a deferred transaction
//! that reads first could fail with `SQLITE_BUSY` when it upgrades, and the busy handler cannot
//! help it then. The schema modules' write functions therefore take a plain connection and open
//! no transaction: the writer makes each call atomic. Read-only queries go through a second
//! connection, opened read-only, so that listing instances or reading a history never waits for
//! a commit's fsync: under WAL a reader sees the last committed state, never a batch in flight.
//!
//! # PRAGMAs
//! | PRAGMA | value | connections | why |
//! |---|---|---|---|
//! | `busy_timeout` | 5000 ms | both | several processes share the file: wait for another's transaction instead of failing at once with `SQLITE_BUSY` |
//! | `journal_mode` | `WAL` | writer (persists in the file) | readers and the writer do not block each other, and a commit appends to the log instead of rewriting pages in place |
//! | `synchronous` | `FULL` (or `NORMAL` if [`StoreOptions`] asks); `NORMAL` for a batch of redoable writes only (leases, activity results) | writer | fsync the WAL at every commit that holds a durable write: a committed episode survives a power cut, not only a crash of the process (`NORMAL` may lose the last commits on a power cut, never on a crash of the process; writes whose loss only makes work run again need no more, see `writer`) |
//! | `mmap_size` | 256 MiB | both | read pages through a memory map instead of a system call each |
//! | `wal_autocheckpoint` | 10,000 pages | writer | checkpoint less often: the pages every step rewrites are copied once per checkpoint |
//! | `cache_size` | 64 MiB | writer | the pages every commit touches stay cached between commits |
//! | `foreign_keys` | `ON` | writer | history, inbox and tasks can never point at a missing instance; SQLite leaves it off unless each connection asks |
//!
//! The store never reads a clock: every time comes from the caller.

mod activities;
mod codec;
mod components;
mod counts;
mod entities;
mod episodes;
pub mod failpoints;
mod flow;
mod inbox;
mod instances;
mod migrations;
pub(crate) mod preflight;
mod restarts;
mod schedules;
#[cfg(test)]
mod tests;
mod updates;
mod upgrades;
mod writer;

pub use writer::WriteStats;

use crate::{
    ActivityResult, ActivityTaskKey, Claim, ComponentRecord, ComponentUpgrade, Done, EntityCommit, EntityFilter,
    EntityRecord, EpisodeCommit, EpisodeStart, FlowLimits, HistoryStore, InboxMessage, InstanceFilter, InstanceRecord,
    InstanceSnapshot, NewInstance, NewSchedule, NewUpdate, PendingTask, PurgeFilter, Recorded, RewindCommit,
    ScheduleFire, ScheduleRecord, ScheduleRun, StoreCounts, StoreError, StoreResult, Unavailable, UpdateRecord,
};
use reprise_core::schedule::{RunOutcome, ScheduleName};
use reprise_core::{EntityId, EntityOperation, HistoryEvent, HttpExchange, Message, Timestamp};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use writer::{WriteKind, Writer};

/// How long a connection waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How much of the file SQLite maps into memory (`mmap_size`): pages are then read from the map
/// instead of by a system call each, which is most of a read's cost once the WAL has moved on.
const MMAP_SIZE: i64 = 256 * 1024 * 1024;

/// The writer's page cache (`cache_size`, negative: in KiB): the tables and indexes every commit
/// touches stay in memory (the default is 2 MiB).
const WRITER_CACHE_KIB: i64 = -64 * 1024;

/// How many pages the WAL grows by before a commit copies them into the database file
/// (`wal_autocheckpoint`; SQLite's default is 1,000). The pages every step rewrites (instance
/// rows, index roots) are copied once per checkpoint, so rarer checkpoints copy far less: this
/// took a sequential step from about 1.05 ms to 0.83 ms here. The price is a WAL of up to
/// about 40 MiB between checkpoints.
const WAL_CHECKPOINT_PAGES: i64 = 10_000;

/// Prepared statements kept per connection; the store uses a few dozen distinct ones.
const STATEMENT_CACHE: usize = 64;

/// How durable a commit is: SQLite's `synchronous` setting of the write connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// Every commit fsyncs the WAL before it is acknowledged: it survives a power cut.
    #[default]
    Full,
    /// Commits are acknowledged once written to the WAL, which is fsynced only at checkpoints:
    /// they survive a crash of the process, but the last ones may be lost on a power cut.
    Normal,
}

impl Synchronous {
    /// The PRAGMA's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Settings of [`SqliteStore::open_with`].
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// The durability of commits; [`Synchronous::Full`] unless asked otherwise.
    pub synchronous: Synchronous,
    /// Read every page of an existing file at open (SQLite's `quick_check`, about 2 ms per MB
    /// here) and refuse a damaged one before anything is written to it. Without it only the
    /// header, the schema and the write-ahead log's header are checked, and a damaged page
    /// is found when a read or a write meets it (which then fails, writing nothing).
    pub verify: bool,
    /// Open for reading only: no write connection, no migration, and every write fails with
    /// [`StoreError::Unavailable`] ([`Unavailable::ReadOnly`], not retryable). For the commands
    /// that only read, on a file this process may not write.
    pub read_only: bool,
}

/// A [`HistoryStore`] in one SQLite file, shared safely by threads and by processes.
pub struct SqliteStore {
    path: PathBuf,
    synchronous: Synchronous,
    // Declared before the writer, so dropped first: the last connection to close checkpoints
    // the log into the file and removes it, which only the writer may do (a read-only one
    // leaves the log, and every commit since the last checkpoint, beside the file).
    reader: Mutex<Connection>,
    writer: Writer,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file if it is missing and bringing its schema up
    /// to date. An existing file is checked first (see the `preflight` module), and refused,
    /// unchanged, with [`StoreError::Damaged`] if SQLite cannot read it or with
    /// [`StoreError::SchemaTooNew`] if a newer Reprise wrote it; one this process may not write
    /// is refused with [`StoreError::Unavailable`] ([`Unavailable::ReadOnly`]).
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        SqliteStore::open_with(path, &StoreOptions::default())
    }

    /// [`SqliteStore::open`] with explicit settings.
    pub fn open_with(path: &Path, options: &StoreOptions) -> StoreResult<SqliteStore> {
        let existing = std::fs::metadata(path).is_ok_and(|m| m.len() > 0);
        let checked = if existing { Some(preflight::check(path, options.verify)?) } else { None };
        if options.read_only {
            return SqliteStore::open_read_only(path, checked.map_or(0, |c| c.version), options);
        }
        // Paths are taken literally (no URI flag): a file named "file:x" is a file.
        let mut writer = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        if writer.is_readonly(rusqlite::MAIN_DB)? {
            // SQLite opens a file it may not write read-only without a word: say so now rather
            // than at the first write.
            return Err(StoreError::Unavailable { reason: Unavailable::ReadOnly, retryable: false });
        }
        configure_writer(&writer, options.synchronous)?;
        migrations::migrate(&mut writer)?;
        // Opened after the writer so that the file exists, is in WAL mode and has its schema.
        let reader = open_reader(path)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            synchronous: options.synchronous,
            writer: Writer::start(writer, options.synchronous.as_str())?,
            reader: Mutex::new(reader),
        })
    }

    /// The store of [`StoreOptions::read_only`]: a reader alone, on a file of schema `version`.
    fn open_read_only(path: &Path, version: i64, options: &StoreOptions) -> StoreResult<SqliteStore> {
        if version < migrations::LATEST_VERSION {
            return Err(StoreError::SchemaTooOld { found: version, supported: migrations::LATEST_VERSION });
        }
        Ok(SqliteStore {
            path: path.to_path_buf(),
            synchronous: options.synchronous,
            writer: Writer::refusing(Unavailable::ReadOnly),
            reader: Mutex::new(open_reader(path)?),
        })
    }

    /// The file this store was opened on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The durability of this store's commits.
    pub fn synchronous(&self) -> Synchronous {
        self.synchronous
    }

    /// How many commits the writer made and how many writes they carried, since the store was
    /// opened: with `synchronous=FULL`, commits are fsyncs.
    pub fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    /// Runs `work` atomically on the write connection, in the writer's next group commit, and
    /// returns once that commit is done: durable or not as `kind`'s class says (see the
    /// `writer` module).
    fn write<R, F>(&self, kind: WriteKind, work: F) -> StoreResult<R>
    where
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        self.writer.write(kind, work)
    }

    /// The read-only connection. A panic while it was held cannot have left a transaction open
    /// (rusqlite rolls back a dropped transaction), so a poisoned mutex is safe to reuse.
    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Applies the writer's PRAGMAs (see the module docs for the reasons).
fn configure_writer(conn: &Connection, synchronous: Synchronous) -> StoreResult<()> {
    // First, so that switching to WAL below already waits for other processes.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Some file systems (network mounts) cannot share WAL's memory index. The store stays
        // correct in rollback-journal mode, only readers and the writer then block each other.
        tracing::warn!(journal_mode = %mode, "SQLite refused WAL mode; readers will wait for writers");
    }
    conn.pragma_update(None, "synchronous", synchronous.as_str())?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Opens the read-only connection and applies its PRAGMAs: it never writes, so only the busy
/// timeout matters (a reader can meet a lock while another process recovers or checkpoints the
/// WAL).
fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

impl HistoryStore for SqliteStore {
    fn create_instance(&self, new: &NewInstance) -> StoreResult<()> {
        let new = new.clone();
        self.write(WriteKind::CreateInstance, move |conn| instances::create(conn, &new))
    }

    fn instance(&self, instance_id: &str) -> StoreResult<Option<InstanceRecord>> {
        instances::get(&self.read(), instance_id)
    }

    fn list_instances(&self, filter: &InstanceFilter) -> StoreResult<Vec<InstanceRecord>> {
        instances::list(&self.read(), filter)
    }

    fn history(&self, instance_id: &str, execution: u32) -> StoreResult<Vec<HistoryEvent>> {
        episodes::history(&self.read(), instance_id, execution)
    }

    fn snapshots(&self, ids: &[String], every_execution: bool) -> StoreResult<Vec<InstanceSnapshot>> {
        let conn = self.read();
        // A deferred read transaction: one WAL snapshot for every row read, and no lock taken.
        let tx = conn.unchecked_transaction()?;
        let mut snapshots = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(record) = instances::get(&tx, id)? else { continue };
            let first = if every_execution { 1 } else { record.execution };
            let executions = (first..=record.execution)
                .map(|execution| Ok((execution, episodes::history(&tx, id, execution)?)))
                .collect::<StoreResult<Vec<_>>>()?;
            snapshots.push(InstanceSnapshot { record, executions });
        }
        Ok(snapshots)
    }

    fn ready_instances(&self, owner: &str, now: Timestamp, limit: usize) -> StoreResult<Vec<String>> {
        inbox::ready_instances(&self.read(), owner, now, limit)
    }

    fn lock_instance(
        &self,
        instance_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        let (instance_id, owner) = (instance_id.to_string(), owner.to_string());
        self.write(WriteKind::LockInstance, move |conn| instances::lock(conn, &instance_id, &owner, now, lease_until))
    }

    fn unlock_instance(&self, instance_id: &str, owner: &str) -> StoreResult<()> {
        let (instance_id, owner) = (instance_id.to_string(), owner.to_string());
        self.write(WriteKind::UnlockInstance, move |conn| instances::unlock(conn, &instance_id, &owner))
    }

    fn begin_episode(
        &self,
        instance_id: &str,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Option<EpisodeStart>> {
        let (instance_id, owner) = (instance_id.to_string(), owner.to_string());
        self.write(WriteKind::BeginEpisode, move |conn| episodes::begin(conn, &instance_id, &owner, now, lease_until))
    }

    fn begin_episode_then(
        &self,
        instance_id: String,
        owner: String,
        (now, lease_until): (Timestamp, Timestamp),
        done: Done<Option<EpisodeStart>>,
    ) {
        self.writer.submit(
            WriteKind::BeginEpisode,
            move |conn| episodes::begin(conn, &instance_id, &owner, now, lease_until),
            done,
        );
    }

    fn messages(&self, instance_id: &str, now: Timestamp) -> StoreResult<Vec<InboxMessage>> {
        inbox::messages(&self.read(), instance_id, now)
    }

    fn commit_episode(&self, commit: &EpisodeCommit) -> StoreResult<()> {
        let commit = commit.clone();
        self.write(WriteKind::CommitEpisode, move |conn| episodes::commit(conn, &commit))
    }

    fn commit_episode_then(&self, commit: EpisodeCommit, done: Done<()>) {
        self.writer.submit(WriteKind::CommitEpisode, move |conn| episodes::commit(conn, &commit), done);
    }

    fn claim_activities(
        &self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
        flow: &FlowLimits,
    ) -> StoreResult<Claim> {
        let (owner, flow) = (owner.to_string(), flow.clone());
        self.write(WriteKind::ClaimActivities, move |conn| {
            activities::claim(conn, &owner, (now, lease_until), limit, &flow)
        })
    }

    fn renew_activity(&self, task: &ActivityTaskKey, owner: &str, lease_until: Timestamp) -> StoreResult<bool> {
        let (task, owner) = (task.clone(), owner.to_string());
        self.write(WriteKind::RenewActivity, move |conn| activities::renew(conn, &task, &owner, lease_until))
    }

    fn record_attempt(
        &self,
        task: &ActivityTaskKey,
        owner: &str,
        result: &ActivityResult,
        requests: &[HttpExchange],
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (task, owner, result, requests) = (task.clone(), owner.to_string(), result.clone(), requests.to_vec());
        self.write(WriteKind::CompleteActivity, move |conn| {
            activities::complete(conn, &task, &owner, (&result, &requests), now)
        })
    }

    fn record_activity_then(
        &self,
        task: ActivityTaskKey,
        owner: String,
        (result, requests, now, begin_until): (ActivityResult, Vec<HttpExchange>, Timestamp, Option<Timestamp>),
        done: Done<Recorded>,
    ) {
        let work = move |conn: &Connection| {
            let recorded = activities::complete(conn, &task, &owner, (&result, &requests), now)?;
            let episode = match (recorded, begin_until) {
                (true, Some(until)) => episodes::begin(conn, &task.instance_id, &owner, now, until)?,
                _ => None,
            };
            Ok(Recorded { recorded, episode })
        };
        self.writer.submit(WriteKind::RecordActivity, work, done);
    }

    fn enqueue_message(
        &self,
        instance_id: &str,
        message: &Message,
        visible_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (instance_id, message) = (instance_id.to_string(), message.clone());
        self.write(WriteKind::EnqueueMessage, move |conn| inbox::send(conn, &instance_id, &message, visible_at, now))
    }

    fn request_update(
        &self,
        instance_id: &str,
        update: &NewUpdate,
        now: Timestamp,
    ) -> StoreResult<(UpdateRecord, bool)> {
        let (instance_id, update) = (instance_id.to_string(), update.clone());
        self.write(WriteKind::RequestUpdate, move |conn| updates::request(conn, &instance_id, &update, now))
    }

    fn update(&self, instance_id: &str, update_id: &str) -> StoreResult<Option<UpdateRecord>> {
        updates::get(&self.read(), instance_id, update_id)
    }

    fn next_due(&self, now: Timestamp) -> StoreResult<Option<Timestamp>> {
        let conn = self.read();
        // One read transaction, so that both queries see the same state.
        let tx = conn.unchecked_transaction()?;
        let message = inbox::next_due(&tx, now)?;
        let task = activities::next_due(&tx, now)?;
        tx.finish()?;
        // Both are later than `now`, so positive: the conversion is exact.
        Ok(message.into_iter().chain(task).min().map(i64::unsigned_abs))
    }

    fn children(&self, instance_id: &str) -> StoreResult<Vec<String>> {
        instances::children(&self.read(), instance_id)
    }

    fn counts(&self, now: Timestamp) -> StoreResult<StoreCounts> {
        counts::counts(&self.read(), now)
    }

    fn pending_tasks(&self, instance_id: &str, now: Timestamp) -> StoreResult<Vec<PendingTask>> {
        activities::pending(&self.read(), instance_id, now)
    }

    fn writer_stats(&self) -> Option<WriteStats> {
        Some(self.writer.stats())
    }

    fn purge(&self, filter: &PurgeFilter) -> StoreResult<usize> {
        let filter = filter.clone();
        self.write(WriteKind::Purge, move |conn| instances::purge(conn, &filter))
    }

    fn rewind(&self, commit: &RewindCommit) -> StoreResult<()> {
        let commit = commit.clone();
        self.write(WriteKind::Rewind, move |conn| restarts::rewind(conn, &commit))
    }

    fn restart(&self, new: &NewInstance) -> StoreResult<()> {
        let new = new.clone();
        self.write(WriteKind::Restart, move |conn| restarts::restart(conn, &new, new.created_at))
    }

    fn upgrade(&self, upgrade: &ComponentUpgrade) -> StoreResult<()> {
        let upgrade = upgrade.clone();
        self.write(WriteKind::Upgrade, move |conn| upgrades::upgrade(conn, &upgrade))
    }

    fn save_component(&self, component: &ComponentRecord) -> StoreResult<()> {
        let component = component.clone();
        self.write(WriteKind::SaveComponent, move |conn| components::save(conn, &component))
    }

    fn component_bytes(&self, hash: &str) -> StoreResult<Option<Vec<u8>>> {
        components::bytes(&self.read(), hash)
    }

    fn components(&self) -> StoreResult<Vec<ComponentRecord>> {
        components::list(&self.read())
    }

    fn signal_entity(
        &self,
        entity: &EntityId,
        operation: &EntityOperation,
        visible_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (entity, operation) = (entity.clone(), operation.clone());
        self.write(WriteKind::SignalEntity, move |conn| entities::signal(conn, &entity, &operation, visible_at, now))
    }

    fn entity(&self, entity: &EntityId) -> StoreResult<Option<EntityRecord>> {
        entities::get(&self.read(), entity)
    }

    fn list_entities(&self, filter: &EntityFilter) -> StoreResult<Vec<EntityRecord>> {
        entities::list(&self.read(), filter)
    }

    fn commit_entity_batch(&self, commit: &EntityCommit) -> StoreResult<()> {
        let commit = commit.clone();
        self.write(WriteKind::CommitEntityBatch, move |conn| entities::commit(conn, &commit))
    }

    fn save_schedule(&self, schedule: &NewSchedule, replace: bool) -> StoreResult<bool> {
        let schedule = schedule.clone();
        self.write(WriteKind::SaveSchedule, move |conn| schedules::save(conn, &schedule, replace))
    }

    fn schedule(&self, name: &ScheduleName) -> StoreResult<Option<ScheduleRecord>> {
        schedules::get(&self.read(), name)
    }

    fn list_schedules(&self) -> StoreResult<Vec<ScheduleRecord>> {
        schedules::list(&self.read())
    }

    fn set_schedule_paused(
        &self,
        name: &ScheduleName,
        paused: bool,
        cursor: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let name = name.clone();
        self.write(WriteKind::SetSchedulePaused, move |conn| schedules::set_paused(conn, &name, paused, cursor, now))
    }

    fn delete_schedule(&self, name: &ScheduleName) -> StoreResult<()> {
        let name = name.clone();
        self.write(WriteKind::DeleteSchedule, move |conn| schedules::delete(conn, &name))
    }

    fn fire_schedule(&self, fire: &ScheduleFire) -> StoreResult<Vec<RunOutcome>> {
        let fire = fire.clone();
        self.write(WriteKind::FireSchedule, move |conn| schedules::fire(conn, &fire))
    }

    fn schedule_runs(&self, name: &ScheduleName, limit: usize) -> StoreResult<Vec<ScheduleRun>> {
        schedules::runs(&self.read(), name, limit)
    }
}

/// Runs a `next_due` query (`?1` = now) and returns its single time column, if a row came back.
fn first_time_after(conn: &Connection, sql: &str, now: Timestamp) -> StoreResult<Option<i64>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query_map([codec::time_to_sql(now)], |row| row.get::<_, i64>(0))?;
    Ok(rows.next().transpose()?)
}
