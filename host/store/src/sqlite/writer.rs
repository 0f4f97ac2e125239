//! Group commit: the one thread that owns the write connection and turns many requests into one
//! durable SQLite commit.
//!
//! Every write of the store is a request: a closure over the connection, sent to this thread,
//! whose caller blocks until the answer comes back. The thread takes the first request waiting,
//! then every other one already queued (up to [`MAX_BATCH`]), and runs them all in one
//! `BEGIN IMMEDIATE ... COMMIT`, each inside its own `SAVEPOINT`: a request that fails (or
//! panics) rolls back alone and the others still commit (a batch of one request needs no
//! savepoint: its failure rolls back the transaction). Only when `COMMIT` has returned, that
//! is after the WAL's fsync under `synchronous=FULL`, does any caller get its answer. So:
//!
//! - nothing a request wrote is visible to the store's readers, or acknowledged to its caller
//!   (who may then dispatch work or answer a client), before it is durable;
//! - each request is atomic, as it was with a transaction of its own;
//! - under load, N requests cost one fsync instead of N, while a lone request waits for no one
//!   (there is no timer: a batch is whatever queued up during the previous commit).
//!
//! # Durability classes
//! Most writes must survive a power cut: episodes, new instances, messages from clients. Some
//! need not, because losing them in a power cut only makes work run again, which the engine
//! already allows (the class is [`Durability::Redoable`]):
//! - leases (locking an instance, claiming or renewing an activity, unlocking): a lease that a
//!   power cut loses belonged to a process the power cut also stopped, and recovery after it
//!   treats the work as unclaimed either way;
//! - activity results: a lost result makes its task claimable again, so the activity runs once
//!   more, exactly as if the power had gone during the attempt. Activities are delivered at
//!   least once, so this adds no case their code must not already handle; and nothing is
//!   decided on a result before it is durable, because the episode that consumes it makes a
//!   durable commit, and no work it dispatches starts before that commit returns.
//!
//! A batch holding only redoable writes commits with `synchronous=NORMAL` (written to the WAL,
//! visible to every process at once, no fsync), and a batch holding any durable write commits
//! with the store's configured level. The WAL is a sequential log whose frames are checksummed,
//! so a later fsync'd commit makes every earlier redoable commit durable too, and a power cut can
//! only lose a suffix of unsynced redoable commits, never a durable commit behind them. A crash
//! of the process alone loses nothing: the unsynced frames are in the operating system's cache.
//! This is what lets a sequential orchestration cost one fsync per step (its episode's), not two.
//! The one visible trace of such a loss: claiming an activity counts its attempt, so an attempt
//! in flight (or finished but unsynced) when the power went is run again under the same attempt
//! number.
//!
//! If `BEGIN` or `COMMIT` fails (the disk is full, another process held the lock past the busy
//! timeout), the whole batch is rolled back and every request in it gets the error. So does a
//! batch in which SQLite itself rolled the transaction back because a request met a full disk
//! or an I/O error (SQLite does that, rather than roll back the one statement, for
//! `SQLITE_FULL`, `SQLITE_IOERR` and `SQLITE_NOMEM`): the requests before it lost their writes
//! with the transaction, and the requests after it are not run, since outside a transaction
//! each would commit on its own.
//!
//! The `failpoints` module's fault points fail a batch after `BEGIN`, before `COMMIT` or
//! after `COMMIT`, for fault-injection tests.
//!
//! This module never decides what a request writes; the schema modules do. It must never
//! acknowledge a request before its commit returns, and never let one request's failure undo
//! another's writes (but when SQLite undoes them all, as above, it fails them all).

use super::failpoints::{self, Point};
use crate::{StoreError, StoreResult, Unavailable};
use rusqlite::Connection;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};
use std::thread::JoinHandle;

/// The most requests one commit takes: large enough that a burst of completions shares an
/// fsync, small enough that the first caller of a batch does not wait on thousands of others.
pub(super) const MAX_BATCH: usize = 256;

/// Counters of the writer, for benchmarks and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// SQLite commits the writer made.
    pub commits: u64,
    /// Those of them made at the store's configured durability because they held a durable
    /// write: under `synchronous=FULL`, each is one fsync of the WAL. The others held only
    /// redoable writes (leases, activity results) and were not fsynced (see the module docs).
    pub durable_commits: u64,
    /// Requests (store writes) those commits carried, failed ones included.
    pub requests: u64,
    /// Time the writer thread spent running batches, their commits (and fsyncs) included: the
    /// share of a run it was busy says how close the store is to its limit.
    pub busy: std::time::Duration,
    /// Requests sent to the writer and not yet taken into a commit, at the reading.
    pub queued: u64,
}

/// How a write must survive a power cut (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// At the store's configured `synchronous` level.
    Durable,
    /// A write whose loss in a power cut only makes work run again (a lease, an activity
    /// result): no fsync of its own.
    Redoable,
}

/// Declares [`WriteKind`]: one variant per kind of write, with its name (the
/// [`HistoryStore`](crate::HistoryStore) method's) and its durability class.
macro_rules! write_kinds {
    ($($(#[$attr:meta])* $kind:ident => $name:literal, $durability:ident;)*) => {
        /// What a request writes: its durability class, and the name of the fault points
        /// narrowed to it (see the `failpoints` module).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum WriteKind {
            $($(#[$attr])* $kind,)*
        }

        impl WriteKind {
            /// The name of every kind of write (of the store's; not the tests' own).
            pub(super) const NAMES: &[&str] = &[$($name),*];

            /// How the write must survive a power cut.
            pub(super) fn durability(self) -> Durability {
                match self {
                    $(WriteKind::$kind => Durability::$durability,)*
                }
            }

            /// The fault point `point` narrowed to this kind of write.
            #[cfg(feature = "failpoints")]
            pub(super) fn point_name(self, point: super::failpoints::Point) -> &'static str {
                use super::failpoints::Point;
                match (self, point) {
                    $(
                        (WriteKind::$kind, Point::AfterBegin) => concat!("store.after_begin.", $name),
                        (WriteKind::$kind, Point::BeforeCommit) => concat!("store.before_commit.", $name),
                        (WriteKind::$kind, Point::AfterCommit) => concat!("store.after_commit.", $name),
                    )*
                }
            }
        }
    };
}

write_kinds! {
    CreateInstance => "create_instance", Durable;
    LockInstance => "lock_instance", Redoable;
    UnlockInstance => "unlock_instance", Redoable;
    BeginEpisode => "begin_episode", Redoable;
    CommitEpisode => "commit_episode", Durable;
    ClaimActivities => "claim_activities", Redoable;
    RenewActivity => "renew_activity", Redoable;
    CompleteActivity => "complete_activity", Redoable;
    /// An activity's result, with the episode that consumes it begun in the same write.
    RecordActivity => "record_activity", Redoable;
    EnqueueMessage => "enqueue_message", Durable;
    RequestUpdate => "request_update", Durable;
    Purge => "purge", Durable;
    Rewind => "rewind", Durable;
    Restart => "restart", Durable;
    Upgrade => "upgrade", Durable;
    SaveComponent => "save_component", Durable;
    SignalEntity => "signal_entity", Durable;
    CommitEntityBatch => "commit_entity_batch", Durable;
    SaveSchedule => "save_schedule", Durable;
    SetSchedulePaused => "set_schedule_paused", Durable;
    DeleteSchedule => "delete_schedule", Durable;
    /// A schedule's decision, with the instances it starts.
    FireSchedule => "fire_schedule", Durable;
}

#[cfg(test)]
impl WriteKind {
    /// A durable write of a test's own.
    pub(super) const TEST: WriteKind = WriteKind::EnqueueMessage;
    /// A redoable write of a test's own.
    pub(super) const TEST_REDOABLE: WriteKind = WriteKind::LockInstance;
}

#[derive(Debug, Default)]
struct Counters {
    /// Requests handed to the thread (read by tests that need a batch of a known size).
    sent: AtomicU64,
    commits: AtomicU64,
    durable_commits: AtomicU64,
    requests: AtomicU64,
    busy_nanos: AtomicU64,
}

/// The sending end of the writer thread, owned by the store.
pub(super) struct Writer {
    queue: Option<Sender<Box<dyn Request>>>,
    thread: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    /// Why a writer without a thread refuses every write (a store opened read-only).
    refusal: Option<Unavailable>,
}

impl Writer {
    /// Starts the thread that owns `conn`, whose durable commits use `synchronous` (the PRAGMA's
    /// value, already set on `conn`).
    pub(super) fn start(conn: Connection, synchronous: &'static str) -> StoreResult<Writer> {
        let (queue, requests) = channel::<Box<dyn Request>>();
        let counters = Arc::new(Counters::default());
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name("reprise-sqlite-writer".into())
            .spawn(move || run(Session { conn, synchronous, current: synchronous }, &requests, &thread_counters))
            .map_err(|e| StoreError::Sqlite(other_error(format!("cannot start the SQLite writer thread: {e}"))))?;
        Ok(Writer { queue: Some(queue), thread: Some(thread), counters, refusal: None })
    }

    /// A writer with no connection, that answers every write with
    /// [`StoreError::Unavailable`] for `reason` (not retryable).
    pub(super) fn refusing(reason: Unavailable) -> Writer {
        Writer { queue: None, thread: None, counters: Arc::default(), refusal: Some(reason) }
    }

    /// Runs `work` atomically in the writer's next commit and returns its result once that
    /// commit is done (durable, for a [`Durability::Durable`] kind of write). A panic in `work`
    /// rolls back its writes and resumes in the caller.
    pub(super) fn write<R, F>(&self, kind: WriteKind, work: F) -> StoreResult<R>
    where
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, answer) = sync_channel(1);
        self.enqueue(Box::new(Pending {
            work,
            kind,
            respond: Box::new(move |outcome| {
                // The caller may have gone away (its thread was cancelled): nothing to do then.
                let _ = reply.send(outcome);
            }),
        }));
        match answer.recv() {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_) => Err(StoreError::Sqlite(other_error("the SQLite writer thread stopped mid-request".into()))),
        }
    }

    /// Like [`Writer::write`], without blocking: `done` is called with the result, on the
    /// writer's thread, once the commit is done. A panic in `work` is answered as an error.
    pub(super) fn submit<R, F>(&self, kind: WriteKind, work: F, done: crate::Done<R>)
    where
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        self.enqueue(Box::new(Pending {
            work,
            kind,
            respond: Box::new(move |outcome: Answer<R>| done(outcome.unwrap_or_else(|panic| Err(panicked(&*panic))))),
        }));
    }

    /// Hands a request to the thread, or answers it with an error if there is none.
    fn enqueue(&self, request: Box<dyn Request>) {
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        let refused = match &self.queue {
            Some(queue) => queue.send(request).err().map(|returned| returned.0),
            None => Some(request),
        };
        if let Some(request) = refused {
            let error = match &self.refusal {
                Some(reason) => shared_error(&StoreError::Unavailable { reason: reason.clone(), retryable: false }),
                None => other_error("the SQLite writer thread has stopped".into()),
            };
            request.fail(&error);
        }
    }

    /// The counters so far.
    pub(super) fn stats(&self) -> WriteStats {
        WriteStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            durable_commits: self.counters.durable_commits.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
            busy: std::time::Duration::from_nanos(self.counters.busy_nanos.load(Ordering::Relaxed)),
            queued: self
                .counters
                .sent
                .load(Ordering::Relaxed)
                .saturating_sub(self.counters.requests.load(Ordering::Relaxed)),
        }
    }
}

impl Drop for Writer {
    /// Closes the queue and waits for the thread to finish what was queued and close the
    /// connection, so that the file is released when the store is.
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a caller gets back: the result, or the panic of its closure.
type Answer<R> = Result<StoreResult<R>, Box<dyn Any + Send>>;

/// What the thread calls with a request's answer once its batch's commit is known.
type Responder<R> = Box<dyn FnOnce(Answer<R>) + Send>;

/// A queued request, its result type erased.
trait Request: Send {
    /// What it writes.
    fn kind(&self) -> WriteKind;
    /// Runs the request's work (inside a savepoint if `alone` is false) and returns what to send
    /// once the batch's commit is known.
    fn run(self: Box<Self>, conn: &mut Connection, alone: bool) -> Box<dyn Reply>;
    /// Answers without running: the batch could not begin, or its transaction was lost.
    fn fail(self: Box<Self>, error: &rusqlite::Error);
}

/// A request that ran, waiting for its batch's commit.
trait Reply: Send {
    /// What it wrote.
    fn kind(&self) -> WriteKind;
    /// Answers the caller: its result if the commit succeeded, the commit's error otherwise.
    fn send(self: Box<Self>, commit: Result<(), &rusqlite::Error>);
    /// Whether the request's work failed or panicked (its savepoint was rolled back).
    fn failed(&self) -> bool;
    /// A copy of the request's own error, if its work failed (not if it panicked).
    fn error(&self) -> Option<rusqlite::Error>;
}

struct Pending<R, F> {
    work: F,
    respond: Responder<R>,
    kind: WriteKind,
}

struct Ran<R> {
    outcome: Answer<R>,
    respond: Responder<R>,
    kind: WriteKind,
}

impl<R, F> Request for Pending<R, F>
where
    F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    R: Send + 'static,
{
    fn kind(&self) -> WriteKind {
        self.kind
    }

    fn run(self: Box<Self>, conn: &mut Connection, alone: bool) -> Box<dyn Reply> {
        let Pending { work, respond, kind } = *self;
        let outcome = catch_unwind(AssertUnwindSafe(|| -> StoreResult<R> {
            if alone {
                // The batch's only request: if it fails the whole transaction is rolled back,
                // so it needs no savepoint (whose journal copies every page it touches).
                return work(conn);
            }
            // Dropping the savepoint on an error (or while unwinding) rolls back to it.
            let savepoint = Savepoint::begin(conn)?;
            let result = work(conn)?;
            savepoint.release()?;
            Ok(result)
        }));
        Box::new(Ran { outcome, respond, kind })
    }

    fn fail(self: Box<Self>, error: &rusqlite::Error) {
        (self.respond)(Ok(Err(copy_error(error).into())));
    }
}

thread_local! {
    /// Set on the writer's thread when a failed request's writes could not be rolled back: its
    /// batch is then rolled back as a whole.
    static BATCH_BROKEN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A request's savepoint, through cached statements (rusqlite's own parses its SQL at each use,
/// twice per request). Dropped without [`Savepoint::release`], it rolls back to where it began.
struct Savepoint<'a> {
    conn: &'a Connection,
    released: bool,
}

impl<'a> Savepoint<'a> {
    fn begin(conn: &'a Connection) -> rusqlite::Result<Self> {
        conn.prepare_cached("SAVEPOINT request")?.execute([])?;
        Ok(Savepoint { conn, released: false })
    }

    fn release(mut self) -> rusqlite::Result<()> {
        self.released = true;
        self.conn.prepare_cached("RELEASE request")?.execute([])?;
        Ok(())
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if self.released || self.conn.is_autocommit() {
            // Released; or SQLite rolled the whole transaction back already (the batch sees
            // that, see `commit_batch`): no savepoint is left to roll back to.
            return;
        }
        let rolled_back = self.conn.prepare_cached("ROLLBACK TO request").and_then(|mut s| s.execute([]));
        let released = self.conn.prepare_cached("RELEASE request").and_then(|mut s| s.execute([]));
        if let Err(error) = rolled_back.and(released) {
            // The failed request's writes may still be in the transaction: the whole batch
            // must not commit.
            tracing::error!("cannot roll back a failed write's savepoint: {error}");
            BATCH_BROKEN.set(true);
        }
    }
}

impl<R: Send + 'static> Reply for Ran<R> {
    fn kind(&self) -> WriteKind {
        self.kind
    }

    fn send(self: Box<Self>, commit: Result<(), &rusqlite::Error>) {
        let answer = match (self.outcome, commit) {
            (Ok(Ok(_)), Err(error)) => Ok(Err(copy_error(error).into())),
            (outcome, _) => outcome,
        };
        (self.respond)(answer);
    }

    fn failed(&self) -> bool {
        !matches!(self.outcome, Ok(Ok(_)))
    }

    fn error(&self) -> Option<rusqlite::Error> {
        match &self.outcome {
            Ok(Err(error)) => Some(shared_error(error)),
            _ => None,
        }
    }
}

/// The write connection and its `synchronous` level.
struct Session {
    conn: Connection,
    /// The level of durable commits (the store's setting).
    synchronous: &'static str,
    /// The level set on the connection now.
    current: &'static str,
}

impl Session {
    /// Sets the connection's `synchronous` level for the next commit, if it differs.
    fn set_synchronous(&mut self, level: &'static str) -> rusqlite::Result<()> {
        if self.current != level {
            self.conn.pragma_update(None, "synchronous", level)?;
            self.current = level;
        }
        Ok(())
    }
}

/// The writer thread: batches until the queue is closed.
fn run(mut session: Session, requests: &Receiver<Box<dyn Request>>, counters: &Counters) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        counters.requests.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let started = std::time::Instant::now();
        commit_batch(&mut session, batch, counters);
        counters.busy_nanos.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Runs a batch in one transaction and answers every request in it.
fn commit_batch(session: &mut Session, batch: Vec<Box<dyn Request>>, counters: &Counters) {
    let durable = batch.iter().any(|request| request.kind().durability() == Durability::Durable);
    let level = if durable { session.synchronous } else { "NORMAL" };
    let begun = session.set_synchronous(level).and_then(|()| session.conn.execute_batch("BEGIN IMMEDIATE"));
    let begun = begun.and_then(|()| match failpoints::injected(Point::AfterBegin, batch.iter().map(|r| r.kind())) {
        Some(error) => {
            let _ = session.conn.execute_batch("ROLLBACK");
            Err(error)
        }
        None => Ok(()),
    });
    if let Err(error) = begun {
        for request in batch {
            request.fail(&error);
        }
        return;
    }
    let conn = &mut session.conn;
    let alone = batch.len() == 1;
    let mut replies: Vec<Box<dyn Reply>> = Vec::with_capacity(batch.len());
    // The error that ended the transaction before the batch did, if one did.
    let mut lost: Option<rusqlite::Error> = None;
    for request in batch {
        if let Some(error) = &lost {
            // Run now, outside any transaction, its savepoint would commit it on its own.
            request.fail(error);
            continue;
        }
        let reply = request.run(conn, alone);
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back on this request's error (it does so
            // for SQLITE_FULL, SQLITE_IOERR and SQLITE_NOMEM in a statement without a
            // statement journal): the writes of the requests before it are gone too.
            lost = Some(reply.error().unwrap_or_else(|| other_error("SQLite ended the transaction early".into())));
        }
        replies.push(reply);
    }
    let broken = BATCH_BROKEN.replace(false);
    let outcome = if let Some(error) = lost {
        Err(error)
    } else if broken {
        conn.execute_batch("ROLLBACK").and(Err(other_error("a failed write could not be rolled back alone".into())))
    } else if replies.iter().all(|reply| reply.failed()) {
        // A batch whose every request failed wrote nothing: no need to pay an fsync for it.
        conn.execute_batch("ROLLBACK")
    } else if let Some(error) = failpoints::injected(Point::BeforeCommit, replies.iter().map(|r| r.kind())) {
        let _ = conn.execute_batch("ROLLBACK");
        Err(error)
    } else {
        let committed = conn.execute_batch("COMMIT");
        if committed.is_ok() {
            counters.commits.fetch_add(1, Ordering::Relaxed);
            if durable {
                counters.durable_commits.fetch_add(1, Ordering::Relaxed);
            }
        }
        committed.and_then(|()| match failpoints::injected(Point::AfterCommit, replies.iter().map(|r| r.kind())) {
            Some(error) => Err(error),
            None => Ok(()),
        })
    };
    if outcome.is_err() && !conn.is_autocommit() {
        // COMMIT failed and left the transaction open: undo it, so that the next batch starts
        // clean. Its own failure would only repeat the error the batch already gets.
        let _ = conn.execute_batch("ROLLBACK");
    }
    for reply in replies {
        reply.send(outcome.as_ref().map(|_| ()));
    }
}

/// The error that answers a write whose work panicked, for a caller that cannot take the panic
/// back (see [`Writer::submit`]).
fn panicked(panic: &(dyn Any + Send)) -> StoreError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    StoreError::Sqlite(other_error(format!("a store write panicked (a bug in reprise): {message}")))
}

/// A copy of `error` for one of the several callers a failed batch answers (`rusqlite::Error`
/// is not `Clone`): SQLite's own errors keep their code, others keep their message.
fn copy_error(error: &rusqlite::Error) -> rusqlite::Error {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => rusqlite::Error::SqliteFailure(*code, message.clone()),
        other => other_error(other.to_string()),
    }
}

/// A SQLite error that a store error came from (with the same code, so that it converts back
/// into the same kind of store error), to answer the other requests of a batch that `error`
/// ended.
fn shared_error(error: &StoreError) -> rusqlite::Error {
    use rusqlite::ffi;
    let failure = |code, message: Option<String>| rusqlite::Error::SqliteFailure(ffi::Error::new(code), message);
    match error {
        StoreError::Sqlite(error) => copy_error(error),
        StoreError::Unavailable { reason: Unavailable::Full, .. } => failure(ffi::SQLITE_FULL, None),
        StoreError::Unavailable { reason: Unavailable::ReadOnly, .. } => failure(ffi::SQLITE_READONLY, None),
        StoreError::Unavailable { reason: Unavailable::Busy, .. } => failure(ffi::SQLITE_BUSY, None),
        StoreError::Unavailable { reason: Unavailable::Io(message), .. } => {
            failure(ffi::SQLITE_IOERR, Some(message.clone()))
        }
        StoreError::Damaged(message) => failure(ffi::SQLITE_CORRUPT, Some(message.clone())),
        other => other_error(other.to_string()),
    }
}

/// An error of the writer itself, as a SQLite "generic error" with a message.
fn other_error(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR), Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = Connection::open(dir.path().join("w.db")).expect("open");
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER NOT NULL UNIQUE);").expect("schema");
        (dir, Writer::start(conn, "FULL").expect("start"))
    }

    fn insert(writer: &Writer, v: i64) -> StoreResult<usize> {
        writer.write(WriteKind::TEST, move |conn| Ok(conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?))
    }

    fn values(writer: &Writer) -> Vec<i64> {
        writer
            .write(WriteKind::TEST_REDOABLE, |conn| {
                let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v")?;
                let rows = stmt.query_map([], |row| row.get(0))?;
                Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
            })
            .expect("read")
    }

    /// Holds the writer inside a request until `queued` requests in all were handed to it, so
    /// that those behind it form one batch whatever the scheduling.
    fn hold_until_queued(writer: &Writer, queued: u64) -> impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static {
        let counters = writer.counters.clone();
        move |_| {
            while counters.sent.load(Ordering::Relaxed) < queued {
                std::thread::yield_now();
            }
            Ok(())
        }
    }

    #[test]
    fn requests_queued_during_a_commit_share_the_next_one_and_a_failing_one_rolls_back_alone() {
        let (_dir, writer) = writer();
        insert(&writer, 1).expect("first");
        let before = writer.stats();
        std::thread::scope(|scope| {
            let holder =
                scope.spawn(|| writer.write(WriteKind::TEST, hold_until_queued(&writer, before.requests + 1 + 3)));
            // Wait until the holder is inside the writer, so that the three below queue behind it.
            while writer.counters.requests.load(Ordering::Relaxed) == before.requests {
                std::thread::yield_now();
            }
            let ok = scope.spawn(|| insert(&writer, 2));
            // Writes a row, then fails on the unique constraint: the row must go too.
            let failing = scope.spawn(|| {
                writer.write(WriteKind::TEST, |conn| {
                    conn.execute("INSERT INTO t (v) VALUES (3)", [])?;
                    conn.execute("INSERT INTO t (v) VALUES (1)", [])?;
                    Ok(())
                })
            });
            let also_ok = scope.spawn(|| insert(&writer, 4));
            holder.join().expect("holder").expect("holder ok");
            assert_eq!(ok.join().expect("ok").expect("ok"), 1);
            assert!(failing.join().expect("failing").is_err());
            assert_eq!(also_ok.join().expect("also ok").expect("also ok"), 1);
        });
        let after = writer.stats();
        assert_eq!(after.requests - before.requests, 4);
        assert_eq!(after.commits - before.commits, 2, "the holder's commit, then one for the three queued behind it");
        assert_eq!(values(&writer), vec![1, 2, 4]);
    }

    #[test]
    fn a_write_that_fills_the_disk_fails_its_whole_batch_and_every_caller_is_told_the_truth() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = Connection::open(dir.path().join("w.db")).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER NOT NULL UNIQUE); CREATE TABLE b (data BLOB);",
        )
        .expect("schema");
        // The database may not grow: a write that needs a new page fails with SQLITE_FULL, as
        // on a full disk, and SQLite then rolls back the whole transaction, not the statement.
        let pages: i64 = conn.pragma_query_value(None, "page_count", |row| row.get(0)).expect("page count");
        conn.pragma_update(None, "max_page_count", pages).expect("max_page_count");
        let writer = Writer::start(conn, "FULL").expect("start");
        let before = writer.stats();
        let (ok, full, after) = std::thread::scope(|scope| {
            let holder =
                scope.spawn(|| writer.write(WriteKind::TEST, hold_until_queued(&writer, before.requests + 1 + 3)));
            while writer.counters.requests.load(Ordering::Relaxed) == before.requests {
                std::thread::yield_now();
            }
            let ok = scope.spawn(|| insert(&writer, 1));
            while writer.counters.sent.load(Ordering::Relaxed) < before.requests + 2 {
                std::thread::yield_now();
            }
            let full = scope.spawn(|| {
                writer.write(WriteKind::TEST, |conn| {
                    Ok(conn.execute("INSERT INTO b (data) VALUES (?1)", [vec![7u8; 256 * 1024]])?)
                })
            });
            while writer.counters.sent.load(Ordering::Relaxed) < before.requests + 3 {
                std::thread::yield_now();
            }
            let after = scope.spawn(|| insert(&writer, 3));
            holder.join().expect("holder").expect("holder ok");
            (ok.join().expect("ok"), full.join().expect("full"), after.join().expect("after"))
        });
        let full = full.expect_err("the big write does not fit");
        assert!(full.to_string().contains("full"), "{full}");
        // Whatever each caller was told must be what the database holds.
        let stored = values(&writer);
        assert_eq!(stored.contains(&1), ok.is_ok(), "the write before: told {ok:?}, stored {stored:?}");
        assert_eq!(stored.contains(&3), after.is_ok(), "the write after: told {after:?}, stored {stored:?}");
    }

    #[test]
    fn a_panicking_request_panics_its_caller_and_the_writer_carries_on() {
        let (_dir, writer) = writer();
        let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
            writer.write(WriteKind::TEST, |conn| -> StoreResult<()> {
                conn.execute("INSERT INTO t (v) VALUES (7)", [])?;
                panic!("boom");
            })
        }));
        assert!(panicked.is_err());
        insert(&writer, 8).expect("the writer still works");
        assert_eq!(values(&writer), vec![8], "the panicking request's row was rolled back");
    }

    #[test]
    fn a_submitted_write_is_answered_through_its_callback_once_committed() {
        let (_dir, writer) = writer();
        let (tx, rx) = std::sync::mpsc::channel();
        let answered = tx.clone();
        writer.submit(
            WriteKind::TEST,
            |conn| Ok(conn.execute("INSERT INTO t (v) VALUES (7)", [])?),
            Box::new(move |result| answered.send(result.map_err(|e| e.to_string())).unwrap()),
        );
        assert_eq!(rx.recv().unwrap(), Ok(1));
        assert_eq!(values(&writer), [7], "committed before the answer");
        assert_eq!(writer.stats().durable_commits, 1);

        // A panic cannot travel back through a callback: it is answered as an error.
        let answered = tx.clone();
        writer.submit(
            WriteKind::TEST,
            |_conn| -> StoreResult<()> { panic!("boom") },
            Box::new(move |result| answered.send(result.map(|()| 0).map_err(|e| e.to_string())).unwrap()),
        );
        let error = rx.recv().unwrap().unwrap_err();
        assert!(error.contains("a store write panicked") && error.contains("boom"), "{error}");
        assert_eq!(insert(&writer, 8).unwrap(), 1, "the writer carries on");
    }

    #[test]
    fn a_write_submitted_to_a_stopped_writer_is_answered_with_an_error() {
        let (_dir, mut writer) = writer();
        drop(writer.queue.take());
        let (tx, rx) = std::sync::mpsc::channel();
        writer.submit(
            WriteKind::TEST_REDOABLE,
            |_conn| Ok(()),
            Box::new(move |result: StoreResult<()>| tx.send(result.map_err(|e| e.to_string())).unwrap()),
        );
        let error = rx.recv().unwrap().unwrap_err();
        assert!(error.contains("writer thread has stopped"), "{error}");
    }

    #[test]
    fn a_batch_that_only_fails_is_not_committed() {
        let (_dir, writer) = writer();
        insert(&writer, 1).expect("insert");
        let before = writer.stats();
        assert!(insert(&writer, 1).is_err());
        assert_eq!(writer.stats().commits, before.commits);
        assert_eq!(writer.stats().requests, before.requests + 1);
    }

    #[test]
    fn a_batch_of_leases_alone_is_not_a_durable_commit_and_one_durable_write_makes_it_one() {
        let (_dir, writer) = writer();
        let synchronous = |writer: &Writer| -> i64 {
            writer
                .write(WriteKind::TEST_REDOABLE, |conn| {
                    Ok(conn.pragma_query_value(None, "synchronous", |row| row.get(0))?)
                })
                .expect("pragma")
        };
        insert(&writer, 1).expect("durable");
        let before = writer.stats();
        writer
            .write(WriteKind::TEST_REDOABLE, |conn| Ok(conn.execute("UPDATE t SET v = 2 WHERE v = 1", [])?))
            .expect("lease");
        assert_eq!(synchronous(&writer), 1, "NORMAL while committing leases");
        let after = writer.stats();
        assert_eq!(after.commits - before.commits, 2);
        assert_eq!(after.durable_commits, before.durable_commits);
        insert(&writer, 3).expect("durable");
        assert_eq!(writer.stats().durable_commits, before.durable_commits + 1);
        assert_eq!(values(&writer), vec![2, 3]);
    }

    #[test]
    fn a_dropped_writer_closes_its_connection() {
        let (dir, writer) = writer();
        insert(&writer, 5).expect("insert");
        drop(writer);
        // The thread has closed the connection, which checkpointed and removed the WAL.
        assert!(!dir.path().join("w.db-wal").exists());
        let conn = Connection::open(dir.path().join("w.db")).expect("reopen");
        assert_eq!(conn.query_row("SELECT v FROM t", [], |row| row.get::<_, i64>(0)).expect("row"), 5);
    }
}
