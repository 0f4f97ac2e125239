//! Tests of [`SqliteStore`] through the [`HistoryStore`] trait, on real files in temporary
//! directories, one module per area. Times are plain numbers the tests move by hand.

mod activities;
mod components;
mod corrupt;
mod entities;
mod episodes;
mod flow;
mod hostile;
mod instances;
mod lifecycle;
mod lineage;
mod open;
mod restarts;
mod schedules;
mod updates;
mod upgrades;

use super::SqliteStore;
use crate::{ContinueAsNew, EpisodeCommit, HistoryStore, NewActivityTask, NewInstance};
use reprise_core::{
    ActivityOptions, Event, Failure, HistoryEvent, InstanceId, ParentRef, Payload, RuntimeStatus, TaskId, Timestamp,
};
use rusqlite::types::Value;
use tempfile::TempDir;

/// Puts `message` straight into an inbox through the store's writer, as an episode commit or a
/// completion would.
fn enqueue(
    store: &SqliteStore,
    instance_id: &str,
    execution: u32,
    message: &reprise_core::Message,
    visible_at: Timestamp,
    now: Timestamp,
) -> crate::StoreResult<i64> {
    let (instance_id, message) = (instance_id.to_string(), message.clone());
    store.write(super::writer::WriteKind::TEST, move |conn| {
        super::inbox::enqueue(conn, &instance_id, execution, &message, visible_at, now)
    })
}

/// A time to start from.
const T0: Timestamp = 1_700_000_000_000;

/// A store on a fresh file, with the directory that holds it.
struct Fixture {
    dir: TempDir,
    store: SqliteStore,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("reprise.db")).expect("open store");
        Fixture { dir, store }
    }

    /// A second store on the same file, as another process would open it.
    fn reopen(&self) -> SqliteStore {
        SqliteStore::open(&self.dir.path().join("reprise.db")).expect("reopen store")
    }

    /// A plain connection to the file, to inspect or damage it behind the store's back.
    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("reprise.db")).expect("raw connection")
    }

    /// Creates an instance of orchestrator "greet" at `created_at`.
    fn create(&self, instance_id: &str, created_at: Timestamp) {
        self.store.create_instance(&new_instance(instance_id, created_at)).expect("create");
    }

    /// Brings a new instance created at `at` to `status` through real commits: a first episode
    /// (no tasks) at `at`, then, unless `status` is Running, a second one at `at + 1` (which,
    /// for `ContinuedAsNew`, leaves it on execution 2 with its `Start` visible at `at + 1`).
    fn create_with_status(&self, instance_id: &str, at: Timestamp, status: RuntimeStatus) {
        self.create(instance_id, at);
        self.advance(instance_id, at, status);
    }

    /// Like [`Self::create_with_status`], for a sub-orchestration of `parent`.
    fn create_child_with_status(&self, instance_id: &str, parent: ParentRef, at: Timestamp, status: RuntimeStatus) {
        let new = NewInstance { parent: Some(parent), ..new_instance(instance_id, at) };
        self.store.create_instance(&new).expect("create child");
        self.advance(instance_id, at, status);
    }

    /// Brings a just created instance to `status`, as [`Self::create_with_status`] describes.
    fn advance(&self, instance_id: &str, at: Timestamp, status: RuntimeStatus) {
        if status == RuntimeStatus::Pending {
            return;
        }
        self.store.commit_episode(&first_episode(&self.store, instance_id, "h", at, &[])).expect("first episode");
        if status != RuntimeStatus::Running {
            self.store.commit_episode(&plain_episode(&self.store, instance_id, at + 1, status)).expect("episode");
        }
    }

    /// How many rows of `table` belong to `instance_id`.
    fn count(&self, table: &str, instance_id: &str) -> i64 {
        self.raw()
            .query_row(&format!("SELECT count(*) FROM {table} WHERE instance_id = ?1"), [instance_id], |r| r.get(0))
            .expect("count")
    }

    /// Every row of every table, as text: equal dumps mean nothing was written in between.
    fn dump(&self) -> Vec<String> {
        let conn = self.raw();
        let mut out = Vec::new();
        let tables = [
            ("instances", "instance_id"),
            ("history", "instance_id, execution, seq"),
            ("inbox", "id"),
            ("activity_tasks", "instance_id, execution, task_id"),
            ("components", "hash"),
            ("entities", "instance_id"),
            ("flow_buckets", "name, flow_key"),
            ("updates", "instance_id, update_id"),
        ];
        for (table, key) in tables {
            let mut stmt = conn.prepare(&format!("SELECT * FROM {table} ORDER BY {key}")).expect("prepare dump");
            let columns = stmt.column_count();
            let rows = stmt
                .query_map([], |row| {
                    let values: Vec<Value> = (0..columns).map(|i| row.get(i)).collect::<Result<_, _>>()?;
                    Ok(format!("{table}: {values:?}"))
                })
                .expect("query dump");
            out.extend(rows.map(|row| row.expect("dump row")));
        }
        out
    }
}

/// Runs the first episode of a created instance up to its commit (not applied): locks it
/// for `owner`, consumes its messages, records the start and schedules `tasks`.
fn first_episode(
    store: &SqliteStore,
    instance_id: &str,
    owner: &str,
    now: Timestamp,
    tasks: &[TaskId],
) -> EpisodeCommit {
    assert!(store.lock_instance(instance_id, owner, now, now + 60_000).expect("lock"));
    let messages = store.messages(instance_id, now).expect("messages");
    let mut events = vec![
        Event::EpisodeStarted { time: now },
        Event::ExecutionStarted { name: "greet".into(), input: Payload::stored("\"world\""), component: "abc".into() },
    ];
    events.extend(tasks.iter().map(|&task_id| Event::ActivityScheduled {
        task_id,
        name: "say".into(),
        input: Payload::stored(format!("{{\"task\":{task_id}}}")),
        options: ActivityOptions::default(),
    }));
    EpisodeCommit {
        instance_id: instance_id.into(),
        execution: 1,
        owner: owner.into(),
        expected_history_len: 0,
        new_events: numbered(0, events),
        new_activities: tasks
            .iter()
            .map(|&task_id| NewActivityTask {
                task_id,
                name: "say".into(),
                input: Payload::stored(format!("{{\"task\":{task_id}}}")),
                options: ActivityOptions::default(),
                claimed_until: None,
                flow_key: None,
            })
            .collect(),
        outgoing: Vec::new(),
        consumed_messages: messages.iter().map(|m| m.id).collect(),
        new_instances: Vec::new(),
        update_replies: Vec::new(),
        continue_as_new: None,
        status: RuntimeStatus::Running,
        output: None,
        failure: None,
        custom_status: None,
        component: Some("abc".into()),
        now,
    }
}

/// The input `plain_episode` continues as new with.
const AGAIN: &str = "\"again\"";

/// An episode of `instance_id` at `now`, run by "h" (locked here, not committed), that consumes
/// every visible message, schedules nothing and leaves the instance in `status` (for
/// `ContinuedAsNew`: continues as new with input [`AGAIN`], starting at `now`).
fn plain_episode(store: &SqliteStore, instance_id: &str, now: Timestamp, status: RuntimeStatus) -> EpisodeCommit {
    assert!(store.lock_instance(instance_id, "h", now, now + 60_000).expect("lock"));
    let record = store.instance(instance_id).expect("read").expect("instance exists");
    let messages = store.messages(instance_id, now).expect("messages");
    let mut events = vec![Event::EpisodeStarted { time: now }];
    let reason = "because".to_string();
    events.extend(match status {
        RuntimeStatus::Completed => Some(Event::ExecutionCompleted { output: Payload::stored("\"done\"") }),
        RuntimeStatus::Failed => Some(Event::ExecutionFailed { failure: Failure::new("Boom", "it broke") }),
        RuntimeStatus::Terminated => Some(Event::ExecutionTerminated { reason, cascade: false }),
        RuntimeStatus::Suspended => Some(Event::ExecutionSuspended { reason }),
        RuntimeStatus::ContinuedAsNew => Some(Event::ExecutionContinuedAsNew { input: Payload::stored(AGAIN) }),
        RuntimeStatus::Pending | RuntimeStatus::Running => None,
    });
    EpisodeCommit {
        instance_id: instance_id.into(),
        execution: record.execution,
        owner: "h".into(),
        expected_history_len: record.history_len,
        new_events: numbered(record.history_len, events),
        new_activities: Vec::new(),
        outgoing: Vec::new(),
        consumed_messages: messages.iter().map(|m| m.id).collect(),
        new_instances: Vec::new(),
        update_replies: Vec::new(),
        continue_as_new: (status == RuntimeStatus::ContinuedAsNew).then(|| ContinueAsNew {
            input: Payload::stored(AGAIN),
            carry: Vec::new(),
            keep_pending_events: false,
            start_at: now,
            parent: None,
        }),
        status,
        output: (status == RuntimeStatus::Completed).then(|| Payload::stored("\"done\"")),
        failure: (status == RuntimeStatus::Failed).then(|| Failure::new("Boom", "it broke")),
        custom_status: None,
        component: None,
        now,
    }
}

fn new_instance(instance_id: &str, created_at: Timestamp) -> NewInstance {
    NewInstance {
        instance_id: InstanceId::new(instance_id).expect("a valid instance id"),
        name: "greet".into(),
        input: Payload::stored("\"world\""),
        created_at,
        parent: None,
        if_taken: None,
    }
}

/// The link of a sub-orchestration started by execution 1 of `instance_id` as task `task_id`,
/// first attempt.
fn parent_ref(instance_id: &str, task_id: TaskId) -> ParentRef {
    ParentRef { instance_id: instance_id.into(), execution: 1, task_id, retry: None, attempt: 1, first_started: T0 }
}

/// `events` as history events numbered from `first`.
fn numbered(first: u64, events: Vec<Event>) -> Vec<HistoryEvent> {
    events.into_iter().zip(first..).map(|(event, seq)| HistoryEvent { seq, event }).collect()
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<SqliteStore>();
}
