//! Rows this build cannot read are reported as corrupt, naming where, and never panic.

use super::{Fixture, T0, first_episode};
use crate::{HistoryStore, InstanceFilter, StoreError, StoreResult};

/// Asserts that `result` is a corruption report mentioning every one of `words`.
fn assert_corrupt<T: std::fmt::Debug>(result: StoreResult<T>, words: &[&str]) {
    match result {
        Err(StoreError::Corrupt(text)) => {
            for word in words {
                assert!(text.contains(word), "'{word}' missing from '{text}'");
            }
        }
        other => panic!("expected a corruption report, got {other:?}"),
    }
}

#[test]
fn a_bad_instance_row_is_corrupt() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let raw = fixture.raw();
    raw.execute("UPDATE instances SET failure = '{oops' WHERE instance_id = 'a'", []).unwrap();
    assert_corrupt(fixture.store.instance("a"), &["instances.failure", "'a'"]);
    assert_corrupt(fixture.store.list_instances(&InstanceFilter::default()), &["instances.failure", "'a'"]);

    raw.execute("UPDATE instances SET failure = NULL, status = 'Sleeping' WHERE instance_id = 'a'", []).unwrap();
    assert_corrupt(fixture.store.instance("a"), &["instances.status", "Sleeping"]);

    raw.execute("UPDATE instances SET status = 'Pending', created_at = -5 WHERE instance_id = 'a'", []).unwrap();
    assert_corrupt(fixture.store.instance("a"), &["instances.created_at", "-5"]);
}

#[test]
fn a_bad_history_row_is_corrupt() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    fixture.store.commit_episode(&first_episode(&fixture.store, "a", "h", T0, &[])).unwrap();
    let raw = fixture.raw();

    raw.execute("UPDATE history SET event = '{\"type\":\"Nope\"}' WHERE seq = 1", []).unwrap();
    assert_corrupt(fixture.store.history("a", 1), &["history.event", "instance 'a'", "seq 1"]);

    raw.execute("UPDATE history SET event = '{\"type\":\"EpisodeStarted\",\"time\":1}' WHERE seq = 1", []).unwrap();
    assert_corrupt(fixture.store.history("a", 1), &["history.kind", "ExecutionStarted"]);

    raw.execute("UPDATE history SET kind = 'EpisodeStarted', seq = 5 WHERE seq = 1", []).unwrap();
    assert_corrupt(fixture.store.history("a", 1), &["history.seq", "missing"]);
}

#[test]
fn a_bad_message_is_corrupt() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    fixture.raw().execute("UPDATE inbox SET message = 'null'", []).unwrap();
    assert_corrupt(fixture.store.messages("a", T0), &["inbox.message", "instance 'a'"]);
}

#[test]
fn a_bad_task_row_is_corrupt() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    fixture.store.commit_episode(&first_episode(&fixture.store, "a", "h", T0, &[0])).unwrap();
    fixture.raw().execute("UPDATE activity_tasks SET attempt = 5000000000", []).unwrap();
    assert_corrupt(fixture.store.claim_activities("w", T0, T0 + 10, 10), &["activity_tasks.attempt", "task 0"]);
}

#[test]
fn a_bad_component_row_is_corrupt() {
    let fixture = Fixture::new();
    fixture
        .raw()
        .execute("INSERT INTO components VALUES ('aa', 'src', x'00', '[\"ok\"]', '{\"not\":\"a list\"}', 1, '[]')", [])
        .unwrap();
    assert_corrupt(fixture.store.components(), &["components.activities", "aa"]);
}
