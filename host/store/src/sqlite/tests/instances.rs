//! Instances, their lock, their inbox and which of them are ready.

use super::{Fixture, T0, new_instance};
use crate::{HistoryStore, InstanceFilter, InstanceRecord, StoreError};
use reprise_core::{Message, Payload, RuntimeStatus};

#[test]
fn create_records_a_pending_instance_and_its_start_message() {
    let fixture = Fixture::new();
    fixture.create("a", T0);

    let record = fixture.store.instance("a").unwrap().unwrap();
    assert_eq!(
        record,
        InstanceRecord {
            instance_id: "a".into(),
            name: "greet".into(),
            execution: 1,
            status: RuntimeStatus::Pending,
            input: Payload::stored("\"world\""),
            output: None,
            failure: None,
            custom_status: None,
            component: None,
            history_len: 0,
            created_at: T0,
            updated_at: T0,
            completed_at: None,
            parent: None,
        }
    );
    let messages = fixture.store.messages("a", T0).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].execution, 1);
    assert_eq!(messages[0].message, Message::Start { name: "greet".into(), input: Payload::stored("\"world\"") });
    // The start is visible from the creation time on, not before.
    assert!(fixture.store.messages("a", T0 - 1).unwrap().is_empty());
}

#[test]
fn a_duplicate_id_is_refused_and_changes_nothing() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let before = fixture.dump();

    let mut again = new_instance("a", T0 + 5);
    again.name = "other".into();
    let err = fixture.store.create_instance(&again).unwrap_err();
    assert!(matches!(&err, StoreError::InstanceExists(id) if id == "a"), "{err}");
    assert_eq!(fixture.dump(), before);
}

#[test]
fn an_unknown_instance_has_no_row_no_messages_and_no_lock() {
    let fixture = Fixture::new();
    assert_eq!(fixture.store.instance("nope").unwrap(), None);
    assert!(fixture.store.messages("nope", T0).unwrap().is_empty());
    assert!(!fixture.store.lock_instance("nope", "host", T0, T0 + 10).unwrap());
    fixture.store.unlock_instance("nope", "host").unwrap();
}

#[test]
fn ready_lock_and_messages_work_together() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("b", T0);
    fixture.create("a", T0 + 1);

    // Oldest message first, whatever the ids' order.
    assert_eq!(store.ready_instances("h1", T0 + 1, 10).unwrap(), ["b", "a"]);
    assert_eq!(store.ready_instances("h1", T0 + 1, 1).unwrap(), ["b"]);
    assert!(store.ready_instances("h1", T0 + 1, 0).unwrap().is_empty());
    // "a" was created later: its start is not visible yet at T0.
    assert_eq!(store.ready_instances("h1", T0, 10).unwrap(), ["b"]);

    // h1 locks b: h2 no longer sees it, h1 still does (to renew and run it).
    assert!(store.lock_instance("b", "h1", T0 + 2, T0 + 100).unwrap());
    assert_eq!(store.ready_instances("h2", T0 + 2, 10).unwrap(), ["a"]);
    assert_eq!(store.ready_instances("h1", T0 + 2, 10).unwrap(), ["b", "a"]);
    assert!(!store.lock_instance("b", "h2", T0 + 2, T0 + 100).unwrap());
    assert!(store.lock_instance("b", "h1", T0 + 50, T0 + 200).unwrap(), "the owner renews");
    assert!(!store.lock_instance("b", "h2", T0 + 100, T0 + 300).unwrap(), "renewed, not expired");

    // Unlocking by someone else does nothing; by the owner, frees it.
    store.unlock_instance("b", "h2").unwrap();
    assert!(!store.lock_instance("b", "h2", T0 + 100, T0 + 300).unwrap());
    store.unlock_instance("b", "h1").unwrap();
    assert!(store.lock_instance("b", "h2", T0 + 100, T0 + 300).unwrap());

    // A lease that ran out may be taken over.
    assert_eq!(store.ready_instances("h1", T0 + 299, 10).unwrap(), ["a"]);
    assert_eq!(store.ready_instances("h1", T0 + 300, 10).unwrap(), ["b", "a"]);
    assert!(store.lock_instance("b", "h1", T0 + 300, T0 + 400).unwrap());

    // Locking consumes nothing: the start message is still there.
    let messages = store.messages("b", T0 + 300).unwrap();
    assert!(matches!(messages.as_slice(), [m] if matches!(m.message, Message::Start { .. })));
}

#[test]
fn a_delayed_message_is_delivered_only_once_due() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let start = fixture.store.messages("a", T0).unwrap();
    // Consume the start so that only the delayed message is left.
    fixture.raw().execute("DELETE FROM inbox WHERE id = ?1", [start[0].id]).unwrap();
    let fired = Message::ActivityCompleted { task_id: 7, output: Payload::stored("1") };
    let id = super::enqueue(&fixture.store, "a", 1, &fired, T0 + 1_000, T0).unwrap();

    assert!(fixture.store.ready_instances("h", T0 + 999, 10).unwrap().is_empty());
    assert!(fixture.store.messages("a", T0 + 999).unwrap().is_empty());
    assert_eq!(fixture.store.ready_instances("h", T0 + 1_000, 10).unwrap(), ["a"]);
    let due = fixture.store.messages("a", T0 + 1_000).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id, &due[0].message), (id, &fired));
}

#[test]
fn messages_for_another_execution_are_not_delivered() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let stray = Message::ActivityCompleted { task_id: 0, output: Payload::stored("null") };
    super::enqueue(&fixture.store, "a", 2, &stray, T0, T0).unwrap();

    let messages = fixture.store.messages("a", T0).unwrap();
    assert_eq!(messages.len(), 1);
    assert!(matches!(messages[0].message, Message::Start { .. }));
}

#[test]
fn messages_come_in_enqueue_order() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    for task_id in 0..5 {
        // Later messages may be due earlier; delivery order is still enqueue order.
        let message = Message::ActivityCompleted { task_id, output: Payload::stored(task_id.to_string()) };
        super::enqueue(&fixture.store, "a", 1, &message, T0 - task_id, T0).unwrap();
    }
    let tasks: Vec<_> = fixture
        .store
        .messages("a", T0)
        .unwrap()
        .into_iter()
        .filter_map(|m| match m.message {
            Message::ActivityCompleted { task_id, .. } => Some(task_id),
            _ => None,
        })
        .collect();
    assert_eq!(tasks, [0, 1, 2, 3, 4]);
}

#[test]
fn list_honors_every_filter_newest_first() {
    let fixture = Fixture::new();
    for (i, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let mut new = new_instance(id, T0 + i as u64 * 10);
        if id == "d" {
            new.name = "other".into();
        }
        fixture.store.create_instance(&new).unwrap();
    }
    // Make "b" Running through a real episode.
    fixture.store.commit_episode(&super::first_episode(&fixture.store, "b", "h", T0 + 100, &[])).unwrap();

    let ids = |filter: InstanceFilter| -> Vec<String> {
        fixture.store.list_instances(&filter).unwrap().into_iter().map(|r| r.instance_id).collect()
    };
    assert_eq!(ids(InstanceFilter::default()), ["d", "c", "b", "a"]);
    assert_eq!(ids(InstanceFilter { statuses: vec![RuntimeStatus::Running], ..Default::default() }), ["b"]);
    assert_eq!(
        ids(InstanceFilter { statuses: vec![RuntimeStatus::Pending, RuntimeStatus::Running], ..Default::default() }),
        ["d", "c", "b", "a"]
    );
    assert!(ids(InstanceFilter { statuses: vec![RuntimeStatus::Completed], ..Default::default() }).is_empty());
    assert_eq!(ids(InstanceFilter { name: Some("other".into()), ..Default::default() }), ["d"]);
    assert_eq!(ids(InstanceFilter { created_from: Some(T0 + 10), ..Default::default() }), ["d", "c", "b"]);
    assert_eq!(ids(InstanceFilter { created_to: Some(T0 + 20), ..Default::default() }), ["b", "a"]);
    assert_eq!(
        ids(InstanceFilter {
            statuses: vec![RuntimeStatus::Pending],
            name: Some("greet".into()),
            created_from: Some(T0),
            created_to: Some(T0 + 30),
            limit: Some(1),
        }),
        ["c"]
    );
    assert_eq!(ids(InstanceFilter { limit: Some(2), ..Default::default() }), ["d", "c"]);
}

#[test]
fn same_time_creations_list_latest_created_first() {
    let fixture = Fixture::new();
    for id in ["x", "a", "m"] {
        fixture.create(id, T0);
    }
    let ids: Vec<_> =
        fixture.store.list_instances(&InstanceFilter::default()).unwrap().into_iter().map(|r| r.instance_id).collect();
    assert_eq!(ids, ["m", "a", "x"]);
}
