//! Instance lifecycle: management messages, suspended instances, when work is next due, and
//! purging finished instances.

use super::{Fixture, T0, first_episode, plain_episode};
use crate::NO_LIMITS;
use crate::{ActivityResult, ActivityTaskKey, HistoryStore, PurgeFilter, StoreError};
use reprise_core::{Failure, Message, OutgoingMessage, Payload, RuntimeStatus};

fn event(name: &str) -> Message {
    Message::EventRaised { name: name.into(), data: Payload::stored("{}") }
}

fn terminate() -> Message {
    Message::Terminate { reason: "operator".into(), cascade: false }
}

fn resume() -> Message {
    Message::Resume { reason: "operator".into() }
}

/// Ids of every instance left in the store, sorted.
fn remaining(fixture: &Fixture) -> Vec<String> {
    let mut ids: Vec<String> =
        fixture.store.list_instances(&Default::default()).unwrap().into_iter().map(|r| r.instance_id).collect();
    ids.sort();
    ids
}

#[test]
fn enqueue_message_refuses_missing_and_finished_instances() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    let err = store.enqueue_message("ghost", &terminate(), T0, T0).unwrap_err();
    assert!(matches!(&err, StoreError::InstanceNotFound(id) if id == "ghost"), "{err}");

    for status in [RuntimeStatus::Completed, RuntimeStatus::Failed, RuntimeStatus::Terminated] {
        let id = format!("done-{status}");
        fixture.create_with_status(&id, T0, status);
        let before = fixture.dump();
        let err = store.enqueue_message(&id, &event("x"), T0 + 5, T0 + 5).unwrap_err();
        match &err {
            StoreError::Finished { instance_id, status: got } => assert_eq!((instance_id, *got), (&id, status)),
            other => panic!("expected Finished, got {other}"),
        }
        assert!(err.to_string().starts_with(&format!("instance '{id}' already finished ({status});")), "{err}");
        assert_eq!(fixture.dump(), before, "a refused message writes nothing");
    }
}

#[test]
fn enqueue_message_delivers_to_the_current_execution_when_due() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create_with_status("a", T0, RuntimeStatus::Running);
    store.enqueue_message("a", &event("approved"), T0 + 100, T0 + 10).unwrap();
    assert!(store.messages("a", T0 + 99).unwrap().is_empty());
    let messages = store.messages("a", T0 + 100).unwrap();
    assert_eq!(messages.iter().map(|m| (m.execution, &m.message)).collect::<Vec<_>>(), [(1, &event("approved"))]);
    let created_at: i64 = fixture.raw().query_row("SELECT created_at FROM inbox", [], |r| r.get(0)).unwrap();
    assert_eq!(created_at, i64::try_from(T0 + 10).unwrap());

    // Pending and suspended instances take messages too; a later execution gets them.
    fixture.create_with_status("p", T0, RuntimeStatus::Pending);
    store.enqueue_message("p", &terminate(), T0, T0).unwrap();
    fixture.create_with_status("s", T0, RuntimeStatus::Suspended);
    fixture.raw().execute("UPDATE instances SET execution = 3 WHERE instance_id = 's'", []).unwrap();
    store.enqueue_message("s", &resume(), T0 + 2, T0 + 2).unwrap();
    let delivered = store.messages("s", T0 + 2).unwrap();
    assert_eq!(delivered.iter().map(|m| (m.execution, &m.message)).collect::<Vec<_>>(), [(3, &resume())]);
}

#[test]
fn every_insert_path_sets_the_control_flag() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("c", T0); // Its start stays in the inbox.
    fixture.create("a", T0);
    fixture.create_with_status("b", T0, RuntimeStatus::Running);
    store.enqueue_message("b", &event("e"), T0, T0).unwrap();
    store.enqueue_message("b", &Message::Suspend { reason: "r".into() }, T0, T0).unwrap();
    store.enqueue_message("b", &resume(), T0, T0).unwrap();
    store.enqueue_message("b", &terminate(), T0, T0).unwrap();
    // An episode's outgoing messages, and an activity's result.
    let mut commit = first_episode(store, "a", "h", T0 + 1, &[0]);
    commit.outgoing = vec![
        OutgoingMessage {
            instance_id: "a".into(),
            message: Message::TimerFired { task_id: 1 },
            visible_at: T0 + 9,
            execution: None,
        },
        OutgoingMessage { instance_id: "b".into(), message: terminate(), visible_at: T0 + 1, execution: None },
    ];
    store.commit_episode(&commit).unwrap();
    store.claim_activities("w", T0 + 1, T0 + 100, 1, &NO_LIMITS).unwrap();
    let key = ActivityTaskKey { instance_id: "a".into(), execution: 1, task_id: 0 };
    let retry = ActivityResult::Retry { failure: Failure::new("E", "m"), next_attempt_at: T0 + 50 };
    store.complete_activity(&key, "w", &retry, T0 + 2).unwrap();

    let rows: Vec<(String, i64)> = {
        let conn = fixture.raw();
        let mut stmt = conn.prepare("SELECT message ->> '$.type', control FROM inbox ORDER BY id").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    let rows: Vec<(&str, i64)> = rows.iter().map(|(kind, control)| (kind.as_str(), *control)).collect();
    assert_eq!(
        rows,
        [
            ("Start", 0),
            ("EventRaised", 0),
            ("Suspend", 1),
            ("Resume", 1),
            ("Terminate", 1),
            ("TimerFired", 0),
            ("Terminate", 1),
            ("ActivityRetrying", 0),
        ]
    );
}

#[test]
fn a_suspended_instance_is_ready_only_for_control_messages() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create_with_status("s", T0, RuntimeStatus::Suspended);
    fixture.create_with_status("r", T0, RuntimeStatus::Running);
    for id in ["s", "r"] {
        store.enqueue_message(id, &event("e"), T0 + 10, T0 + 10).unwrap();
    }
    assert_eq!(store.ready_instances("h", T0 + 10, 10).unwrap(), ["r"], "the event waits while suspended");
    // messages() still returns everything visible: the executor decides what to consume.
    assert_eq!(store.messages("s", T0 + 10).unwrap().len(), 1);

    // A control message that is not yet due does not wake it; once due it does.
    store.enqueue_message("s", &resume(), T0 + 50, T0 + 11).unwrap();
    assert_eq!(store.ready_instances("h", T0 + 49, 10).unwrap(), ["r"]);
    assert_eq!(
        store.ready_instances("h", T0 + 50, 10).unwrap(),
        ["r", "s"],
        "ordered by the oldest message that counts"
    );
    let both: Vec<_> = store.messages("s", T0 + 50).unwrap().into_iter().map(|m| m.message).collect();
    assert_eq!(both, [event("e"), resume()]);

    // Each control message counts, including another Suspend and a Terminate.
    for (i, control) in [Message::Suspend { reason: "again".into() }, terminate()].into_iter().enumerate() {
        let id = format!("s{i}");
        fixture.create_with_status(&id, T0, RuntimeStatus::Suspended);
        assert!(!store.ready_instances("h", T0 + 60, 10).unwrap().contains(&id));
        store.enqueue_message(&id, &control, T0 + 60, T0 + 60).unwrap();
        assert!(store.ready_instances("h", T0 + 60, 10).unwrap().contains(&id), "{control:?}");
    }
}

#[test]
fn next_due_is_the_earliest_timer_or_retry_still_to_come() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    assert_eq!(store.next_due(T0).unwrap(), None, "an empty store");
    fixture.create("a", T0);
    assert_eq!(store.next_due(T0).unwrap(), None, "a message already visible is not to come");
    assert_eq!(store.next_due(T0 - 1).unwrap(), Some(T0), "strictly after now");

    // "a" runs, schedules a task and sets itself a timer.
    let mut commit = first_episode(store, "a", "h", T0, &[0]);
    commit.outgoing = vec![OutgoingMessage {
        instance_id: "a".into(),
        message: Message::TimerFired { task_id: 1 },
        visible_at: T0 + 1_000,
        execution: None,
    }];
    store.commit_episode(&commit).unwrap();
    assert_eq!(store.next_due(T0).unwrap(), Some(T0 + 1_000));
    // Its task fails and waits for a retry that comes first.
    store.claim_activities("w", T0, T0 + 100, 1, &NO_LIMITS).unwrap();
    let key = ActivityTaskKey { instance_id: "a".into(), execution: 1, task_id: 0 };
    let retry = ActivityResult::Retry { failure: Failure::new("E", "m"), next_attempt_at: T0 + 400 };
    store.complete_activity(&key, "w", &retry, T0 + 10).unwrap();
    assert_eq!(store.next_due(T0 + 10).unwrap(), Some(T0 + 400));
    assert_eq!(store.next_due(T0 + 400).unwrap(), Some(T0 + 1_000));
    assert_eq!(store.next_due(T0 + 1_000).unwrap(), None);

    // Timers and retry waits of instances that cannot use them do not count: a finished
    // instance's (left behind the store's back), a suspended one's (except a control message),
    // and another execution's.
    let due_for = |id: &str, status: RuntimeStatus, message: Message, at: u64| {
        fixture.create_with_status(id, T0, status);
        super::enqueue(store, id, 1, &message, at, T0).unwrap();
    };
    due_for("finished", RuntimeStatus::Running, Message::TimerFired { task_id: 0 }, T0 + 100);
    fixture.raw().execute("UPDATE instances SET status = 'Completed' WHERE instance_id = 'finished'", []).unwrap();
    due_for("suspended", RuntimeStatus::Suspended, Message::TimerFired { task_id: 0 }, T0 + 110);
    due_for("moved", RuntimeStatus::Running, Message::TimerFired { task_id: 0 }, T0 + 120);
    fixture.raw().execute("UPDATE instances SET execution = 2 WHERE instance_id = 'moved'", []).unwrap();
    assert_eq!(store.next_due(T0 + 10).unwrap(), Some(T0 + 400));
    super::enqueue(store, "suspended", 1, &resume(), T0 + 300, T0).unwrap();
    assert_eq!(store.next_due(T0 + 10).unwrap(), Some(T0 + 300), "a delayed resume counts");

    // A suspended instance's retry wait does not count either.
    store.commit_episode(&plain_episode(store, "a", T0 + 20, RuntimeStatus::Suspended)).unwrap();
    assert_eq!(store.next_due(T0 + 20).unwrap(), Some(T0 + 300));
}

#[test]
fn purge_deletes_finished_instances_with_everything_they_own() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    // "done" finishes at T0 + 11 while a worker holds one of its tasks.
    fixture.create("done", T0 + 10);
    store.commit_episode(&first_episode(store, "done", "h", T0 + 10, &[0])).unwrap();
    store.claim_activities("w", T0 + 10, T0 + 10_000, 1, &NO_LIMITS).unwrap();
    store.commit_episode(&plain_episode(store, "done", T0 + 11, RuntimeStatus::Completed)).unwrap();
    assert_eq!((fixture.count("history", "done"), fixture.count("activity_tasks", "done")), (5, 1));
    for (id, status) in [
        ("failed", RuntimeStatus::Failed),
        ("terminated", RuntimeStatus::Terminated),
        ("running", RuntimeStatus::Running),
        ("pending", RuntimeStatus::Pending),
        ("suspended", RuntimeStatus::Suspended),
    ] {
        fixture.create_with_status(id, T0 + 20, status);
    }

    // Filters naming only statuses that have not finished match nothing.
    let unfinished = vec![RuntimeStatus::Running, RuntimeStatus::Pending, RuntimeStatus::Suspended];
    assert_eq!(store.purge(&PurgeFilter { statuses: unfinished, ..Default::default() }).unwrap(), 0);
    assert_eq!(remaining(&fixture).len(), 6);

    // By status, and by completion time (the others finished at T0 + 21).
    let completed =
        PurgeFilter { statuses: vec![RuntimeStatus::Completed, RuntimeStatus::Running], ..Default::default() };
    assert_eq!(store.purge(&PurgeFilter { completed_before: Some(T0 + 11), ..completed.clone() }).unwrap(), 0);
    assert_eq!(store.purge(&PurgeFilter { completed_before: Some(T0 + 12), ..completed }).unwrap(), 1);
    assert_eq!(store.instance("done").unwrap(), None);
    for table in ["history", "inbox", "activity_tasks"] {
        assert_eq!(fixture.count(table, "done"), 0, "{table} rows of a purged instance");
    }
    // The worker's lease went with its task.
    let key = ActivityTaskKey { instance_id: "done".into(), execution: 1, task_id: 0 };
    assert!(!store.complete_activity(&key, "w", &ActivityResult::Completed(Payload::stored("0")), T0 + 30).unwrap());

    // By creation time (the others were created at T0 + 20).
    assert_eq!(store.purge(&PurgeFilter { created_from: Some(T0 + 21), ..Default::default() }).unwrap(), 0);
    assert_eq!(store.purge(&PurgeFilter { created_to: Some(T0 + 20), ..Default::default() }).unwrap(), 0);
    let failed_in_window = PurgeFilter {
        statuses: vec![RuntimeStatus::Failed],
        created_from: Some(T0 + 20),
        created_to: Some(T0 + 21),
        ..Default::default()
    };
    assert_eq!(store.purge(&failed_in_window).unwrap(), 1);
    assert_eq!(store.instance("failed").unwrap(), None);

    // An empty filter takes every finished instance, and only those.
    assert_eq!(store.purge(&PurgeFilter::default()).unwrap(), 1);
    assert_eq!(remaining(&fixture), ["pending", "running", "suspended"]);
    assert_eq!(fixture.count("history", "running"), 2, "unfinished histories are kept");
    assert_eq!(store.purge(&PurgeFilter::default()).unwrap(), 0);

    // A purged id is free again.
    fixture.create("done", T0 + 40);
    assert_eq!(store.instance("done").unwrap().unwrap().status, RuntimeStatus::Pending);
}

#[test]
fn a_limited_purge_takes_at_most_its_limit_of_the_matching_instances() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    for id in ["a", "b", "c"] {
        fixture.create_with_status(id, T0, RuntimeStatus::Completed);
    }
    fixture.create_with_status("running", T0, RuntimeStatus::Running);
    let batch = PurgeFilter { limit: Some(2), ..Default::default() };
    assert_eq!(store.purge(&batch).unwrap(), 2);
    assert_eq!(remaining(&fixture).len(), 2);
    assert_eq!(store.purge(&batch).unwrap(), 1, "the last matching one, never the running one");
    assert_eq!(store.purge(&batch).unwrap(), 0);
    assert_eq!(remaining(&fixture), ["running"]);
}

#[test]
fn purging_one_instance_by_id() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create_with_status("done", T0, RuntimeStatus::Completed);
    fixture.create_with_status("other", T0, RuntimeStatus::Completed);
    for status in [RuntimeStatus::Running, RuntimeStatus::Pending, RuntimeStatus::Suspended] {
        let id = status.as_str().to_lowercase();
        fixture.create_with_status(&id, T0, status);
        let before = fixture.dump();
        let filter = PurgeFilter { instance_id: Some(id.clone()), ..Default::default() };
        let err = store.purge(&filter).unwrap_err();
        match &err {
            StoreError::NotFinished { instance_id, status: got } => assert_eq!((instance_id, *got), (&id, status)),
            other => panic!("expected NotFinished, got {other}"),
        }
        assert!(err.to_string().contains("has not finished"), "{err}");
        assert_eq!(fixture.dump(), before, "refusing to purge '{id}' wrote something");
    }
    let err = store.purge(&PurgeFilter { instance_id: Some("ghost".into()), ..Default::default() }).unwrap_err();
    assert!(matches!(&err, StoreError::InstanceNotFound(id) if id == "ghost"), "{err}");

    // The other fields still apply to a named instance.
    let named = PurgeFilter { instance_id: Some("done".into()), ..Default::default() };
    let failed_only = PurgeFilter { statuses: vec![RuntimeStatus::Failed], ..named.clone() };
    assert_eq!(store.purge(&failed_only).unwrap(), 0);
    assert_eq!(store.purge(&PurgeFilter { completed_before: Some(T0), ..named.clone() }).unwrap(), 0);
    assert_eq!(store.purge(&named).unwrap(), 1);
    assert_eq!(remaining(&fixture), ["other", "pending", "running", "suspended"]);
}

#[test]
fn counts_say_what_the_store_holds_at_a_time() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create_with_status("done", T0, RuntimeStatus::Completed);
    fixture.create_with_status("also-done", T0, RuntimeStatus::Completed);
    fixture.create_with_status("failed", T0, RuntimeStatus::Failed);
    // "a" runs with two tasks, one of them claimed by a worker, and a resume due at T0 + 300.
    fixture.create("a", T0 + 10);
    store.commit_episode(&first_episode(store, "a", "h", T0 + 10, &[0, 1])).unwrap();
    store.claim_activities("w", T0 + 10, T0 + 10_000, 1, &NO_LIMITS).unwrap();
    super::enqueue(store, "a", 1, &resume(), T0 + 300, T0).unwrap();
    // An entity is an instance too, but not an orchestration.
    let entity = reprise_core::EntityId::new("Counter", "c1").unwrap();
    let operation = reprise_core::EntityOperation {
        operation: "add".into(),
        input: Payload::stored("1"),
        caller: None,
        in_critical_section: false,
    };
    store.signal_entity(&entity, &operation, T0, T0).unwrap();

    let counts = store.counts(T0 + 20).unwrap();
    let mut instances = counts.instances.clone();
    instances.sort_by_key(|(status, _)| status.as_str());
    let running = store.instance("a").unwrap().unwrap().status;
    let mut expected = vec![(RuntimeStatus::Completed, 2), (RuntimeStatus::Failed, 1), (running, 1)];
    expected.sort_by_key(|(status, _)| status.as_str());
    assert_eq!(instances, expected);
    assert_eq!(counts.timers_pending, 1, "the resume due later");
    assert_eq!(counts.activity_tasks_pending, 1, "the task nobody holds");
    // Once the lease has run out and the resume is due, both count the other way.
    let later = store.counts(T0 + 20_000).unwrap();
    assert_eq!((later.timers_pending, later.activity_tasks_pending), (0, 2));
}
