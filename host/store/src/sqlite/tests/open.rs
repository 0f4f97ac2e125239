//! Opening files: migrations, PRAGMAs, and several stores sharing one file.

use super::{Fixture, T0, first_episode, new_instance};
use crate::NO_LIMITS;
use crate::sqlite::migrations::{LATEST_VERSION, MIGRATIONS, schema_version};
use crate::sqlite::{SqliteStore, activities, inbox};
use crate::{HistoryStore, StoreError};
use reprise_core::{ActivityOptions, Message, Payload, RuntimeStatus};
use std::sync::Arc;

#[test]
fn a_new_file_is_created_migrated_and_reopens_unchanged() {
    let fixture = Fixture::new();
    let path = fixture.dir.path().join("reprise.db");
    assert!(path.exists());
    assert_eq!(schema_version(&fixture.raw()).unwrap(), LATEST_VERSION);
    fixture.create("a", T0);
    drop(fixture.store);

    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.path(), path);
    assert_eq!(schema_version(&reopened.read()).unwrap(), LATEST_VERSION);
    assert_eq!(reopened.instance("a").unwrap().unwrap().name, "greet");
}

#[test]
fn connections_are_configured_for_durability_and_sharing() {
    let fixture = Fixture::new();
    let pragma = |name: &'static str| -> String {
        fixture
            .store
            .write(crate::sqlite::writer::WriteKind::TEST, move |writer| {
                Ok(writer.pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))?)
            })
            .map(|v| format!("{v:?}"))
            .unwrap()
    };
    assert_eq!(pragma("journal_mode"), "Text(\"wal\")");
    assert_eq!(pragma("synchronous"), "Integer(2)", "synchronous=FULL");
    assert_eq!(pragma("foreign_keys"), "Integer(1)");
    assert_eq!(pragma("busy_timeout"), "Integer(5000)");
    assert!(fixture.store.read().is_readonly(rusqlite::MAIN_DB).unwrap());
}

#[test]
fn a_schema_newer_than_this_build_is_refused() {
    let fixture = Fixture::new();
    fixture.raw().pragma_update(None, "user_version", LATEST_VERSION + 1).unwrap();
    let err = SqliteStore::open(&fixture.dir.path().join("reprise.db")).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, supported } if found == LATEST_VERSION + 1 && supported == LATEST_VERSION),
        "{err}"
    );
}

#[test]
fn two_stores_on_one_file_see_each_others_writes() {
    let fixture = Fixture::new();
    let other = fixture.reopen();

    fixture.create("a", T0);
    assert_eq!(other.instance("a").unwrap().unwrap().status, RuntimeStatus::Pending);
    assert_eq!(other.ready_instances("host-2", T0, 10).unwrap(), ["a"]);

    // The lock taken through one is seen by the other.
    assert!(fixture.store.lock_instance("a", "host-1", T0, T0 + 1000).unwrap());
    assert!(!other.lock_instance("a", "host-2", T0, T0 + 1000).unwrap());
    assert!(other.ready_instances("host-2", T0, 10).unwrap().is_empty());

    // The other's commit is seen by the first.
    other.create_instance(&new_instance("b", T0 + 1)).unwrap();
    other.commit_episode(&first_episode(&other, "b", "host-2", T0 + 2, &[])).unwrap();
    assert_eq!(fixture.store.instance("b").unwrap().unwrap().status, RuntimeStatus::Running);
    assert_eq!(fixture.store.history("b", 1).unwrap().len(), 2);
}

#[test]
fn threads_share_one_store() {
    let fixture = Fixture::new();
    let store = Arc::new(fixture.reopen());
    let handles: Vec<_> = (0..4)
        .map(|thread| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..10 {
                    store.create_instance(&new_instance(&format!("t{thread}-{i}"), T0 + i)).unwrap();
                    store.instance(&format!("t{thread}-{i}")).unwrap().unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let all = fixture.store.list_instances(&Default::default()).unwrap();
    assert_eq!(all.len(), 40);
}

#[test]
fn a_version_1_file_is_upgraded_with_its_rows_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reprise.db");
    {
        // A file as version 1 left it: a running instance with a message and a leased task.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO instances (instance_id, name, execution, status, input, created_at, updated_at) \
                 VALUES ('a', 'greet', 1, 'Running', '1', {T0}, {T0}); \
             INSERT INTO inbox (instance_id, execution, message, visible_at, created_at) \
                 VALUES ('a', 1, '{{\"type\":\"ActivityCompleted\",\"task_id\":0,\"output\":\"2\"}}', {T0}, {T0}); \
             INSERT INTO activity_tasks (instance_id, execution, task_id, name, input, attempt, visible_at, \
                 lease_owner, lease_until, created_at) \
                 VALUES ('a', 1, 1, 'say', '3', 1, {T0}, 'w', {T0}, {T0});"
        ))
        .unwrap();
    }

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(schema_version(&store.read()).unwrap(), LATEST_VERSION);
    assert_eq!(LATEST_VERSION, 8);
    let control: i64 = store.read().query_row("SELECT control FROM inbox", [], |r| r.get(0)).unwrap();
    assert_eq!(control, 0);
    assert_eq!(
        store.messages("a", T0).unwrap()[0].message,
        Message::ActivityCompleted { task_id: 0, output: Payload::stored("2") }
    );
    assert_eq!(store.ready_instances("h", T0, 10).unwrap(), ["a"]);
    let tasks = store.claim_activities("w2", T0 + 1, T0 + 100, 10, &NO_LIMITS).unwrap().tasks;
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0].attempt, tasks[0].created_at), (2, T0));
    assert_eq!(tasks[0].options, ActivityOptions::default(), "NULL options are the default ones");
    let pending = store.pending_tasks("a", T0 + 1).unwrap();
    assert_eq!(
        (pending[0].flow_key.as_deref(), pending[0].state.as_str()),
        (None, "Running"),
        "no key, never throttled"
    );
    // The new columns take new values.
    store.enqueue_message("a", &Message::Terminate { reason: "r".into(), cascade: false }, T0, T0).unwrap();
    assert_eq!(store.ready_instances("h", T0, 10).unwrap(), ["a"]);
}

#[test]
fn the_polling_queries_read_only_what_is_due_through_their_indexes() {
    let fixture = Fixture::new();
    let conn = fixture.store.read();
    let plan = |sql: &str| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        let rows = stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    let cases = [
        (inbox::ready_instances_sql(), "SEARCH m USING COVERING INDEX inbox_ready (visible_at<?)"),
        (inbox::next_due_sql(), "SEARCH m USING COVERING INDEX inbox_ready (visible_at>?)"),
        (activities::next_due_sql(), "SEARCH t USING COVERING INDEX activity_tasks_by_visible (visible_at>?)"),
        (activities::claim_sql(), "SCAN t USING INDEX activity_tasks_by_age"),
        (activities::candidates_sql(), "SCAN t USING INDEX activity_tasks_by_age"),
        (activities::stale_tasks_sql(), "SEARCH t USING INDEX activity_tasks_by_lease (lease_until<?)"),
    ];
    for (sql, expected) in cases {
        let plan = plan(&sql);
        assert!(plan.contains(expected), "expected '{expected}' in the plan '{plan}' of {sql}");
        assert!(plan.contains("SEARCH i USING INDEX sqlite_autoindex_instances_1 (instance_id=?)"), "{plan}");
    }
    // Finding the next due time needs no sort: it stops at the first row that counts.
    assert!(!plan(&inbox::next_due_sql()).contains("TEMP B-TREE"));
    assert!(!plan(&activities::next_due_sql()).contains("TEMP B-TREE"));
    // A limited claim reads the queue in age order, row by row, without sorting it.
    assert!(!plan(&activities::candidates_sql()).contains("TEMP B-TREE"));
}

#[test]
fn a_file_from_a_newer_reprise_is_refused_before_anything_is_written_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    {
        // A newer schema in a rollback-journal file: the store's own open would switch it to WAL.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE from_the_future (v); INSERT INTO from_the_future VALUES (1);").unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
    assert!(std::fs::read(&path).unwrap() == before, "the file is unchanged");
    assert!(!dir.path().join("future.db-wal").exists(), "no log was started beside it");
}

#[test]
fn a_store_closed_cleanly_leaves_its_whole_database_in_the_file() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let path = fixture.dir.path().join("reprise.db");
    let wal = crate::sqlite::preflight::wal_path(&path);
    assert!(std::fs::metadata(&wal).unwrap().len() > 0, "the commit is in the log while the store is open");
    assert!(fixture.store.instance("a").unwrap().is_some(), "the reader has read from the log");
    let Fixture { dir, store } = fixture;
    drop(store);
    // The last connection to close checkpoints the log into the file and removes it: a copy of
    // the file alone (a backup of a stopped host) then holds every commit.
    assert!(!wal.exists(), "the log is gone");
    let copy = dir.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    assert!(SqliteStore::open(&copy).unwrap().instance("a").unwrap().is_some());
}

#[test]
fn a_store_opened_read_only_reads_and_refuses_every_write() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let path = fixture.dir.path().join("reprise.db");
    let options = crate::StoreOptions { read_only: true, ..Default::default() };
    let store = SqliteStore::open_with(&path, &options).unwrap();
    assert_eq!(store.instance("a").unwrap().unwrap().name, "greet");
    let error = store.create_instance(&new_instance("b", T0)).unwrap_err();
    assert!(
        matches!(error, StoreError::Unavailable { reason: crate::Unavailable::ReadOnly, retryable: false }),
        "{error}"
    );
    assert!(error.to_string().contains("commands that read"), "{error}");

    // A file of an older schema cannot be read without the migration that only a writer does.
    fixture.raw().pragma_update(None, "user_version", LATEST_VERSION - 1).unwrap();
    let error = SqliteStore::open_with(&path, &options).unwrap_err();
    assert!(matches!(error, StoreError::SchemaTooOld { .. }), "{error}");
    assert!(error.to_string().contains("open it once with a command that writes"), "{error}");
}
