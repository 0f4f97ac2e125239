//! Episode commits: what they write, and that a conflict writes nothing.

use super::{Fixture, T0, first_episode, numbered};
use crate::sqlite::inbox;
use crate::{ActivityResult, ActivityTaskKey, EpisodeCommit, HistoryStore, StoreError};
use reprise_core::{Event, Failure, HistoryEvent, Message, RuntimeStatus};

/// The second episode of "a" after `first_episode(.., tasks)` was committed: consumes what is
/// in the inbox at `now` and records the completions, finishing with `status`.
fn next_episode(fixture: &Fixture, owner: &str, now: u64, status: RuntimeStatus) -> EpisodeCommit {
    let store = &fixture.store;
    assert!(store.lock_instance("a", owner, now, now + 60_000).unwrap());
    let record = store.instance("a").unwrap().unwrap();
    let messages = store.messages("a", now).unwrap();
    let mut events = vec![Event::EpisodeStarted { time: now }];
    for message in &messages {
        if let Message::ActivityCompleted { task_id, output } = &message.message {
            events.push(Event::ActivityCompleted { task_id: *task_id, output: output.clone() });
        }
    }
    match status {
        RuntimeStatus::Completed => events.push(Event::ExecutionCompleted { output: "\"done\"".into() }),
        RuntimeStatus::Failed => events.push(Event::ExecutionFailed { failure: Failure::new("Boom", "it broke") }),
        _ => {}
    }
    EpisodeCommit {
        instance_id: "a".into(),
        execution: 1,
        owner: owner.into(),
        expected_history_len: record.history_len,
        new_events: numbered(record.history_len, events),
        new_activities: Vec::new(),
        consumed_messages: messages.iter().map(|m| m.id).collect(),
        status,
        output: (status == RuntimeStatus::Completed).then(|| "\"done\"".into()),
        failure: (status == RuntimeStatus::Failed).then(|| Failure::new("Boom", "it broke")),
        custom_status: Some("{\"step\":2}".into()),
        component: None,
        now,
    }
}

#[test]
fn a_first_episode_writes_everything_at_once() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    let commit = first_episode(store, "a", "h", T0 + 10, &[0, 1]);
    store.commit_episode(&commit).unwrap();

    assert_eq!(store.history("a", 1).unwrap(), commit.new_events);
    assert!(store.history("a", 2).unwrap().is_empty());
    assert!(store.messages("a", T0 + 10).unwrap().is_empty(), "the start was consumed");
    let record = store.instance("a").unwrap().unwrap();
    assert_eq!(record.status, RuntimeStatus::Running);
    assert_eq!(record.history_len, 4);
    assert_eq!(record.component.as_deref(), Some("abc"));
    assert_eq!((record.created_at, record.updated_at, record.completed_at), (T0, T0 + 10, None));
    // The lock was released: anyone may take it.
    assert!(store.lock_instance("a", "other", T0 + 11, T0 + 20).unwrap());

    let tasks = store.claim_activities("w", T0 + 10, T0 + 1_000, 10).unwrap();
    let ids: Vec<_> = tasks.iter().map(|t| (t.key.task_id, t.key.execution, t.attempt)).collect();
    assert_eq!(ids, [(0, 1, 1), (1, 1, 1)]);
    assert_eq!(tasks[1].input, "{\"task\":1}");
}

#[test]
fn the_kind_column_names_each_event() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    fixture.store.commit_episode(&first_episode(&fixture.store, "a", "h", T0, &[3])).unwrap();
    let conn = fixture.raw();
    let mut stmt = conn.prepare("SELECT kind FROM history ORDER BY seq").unwrap();
    let kinds: Vec<String> = stmt.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect();
    assert_eq!(kinds, ["EpisodeStarted", "ExecutionStarted", "ActivityScheduled"]);
}

#[test]
fn a_conflicting_commit_writes_nothing() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    let good = first_episode(store, "a", "h", T0, &[0]);
    // Another message and task-free state to compare against.
    inbox::enqueue(&store.write(), "a", 1, &Message::ActivityCompleted { task_id: 9, output: "1".into() }, T0, T0)
        .unwrap();

    type Spoil = fn(&mut EpisodeCommit);
    let spoilers: [(&str, Spoil); 6] = [
        ("history has 0 events", |c| c.expected_history_len = 1),
        ("locked by 'h'", |c| c.owner = "intruder".into()),
        ("execution 1", |c| c.execution = 2),
        ("continues at 0", |c| c.new_events[0].seq = 1),
        ("continues at 2", |c| c.new_events[2].seq = 7),
        ("no longer in its inbox", |c| c.consumed_messages.push(123_456)),
    ];
    for (reason, spoil) in spoilers {
        let before = fixture.dump();
        let mut bad = good.clone();
        spoil(&mut bad);
        let err = store.commit_episode(&bad).unwrap_err();
        match &err {
            StoreError::Conflict { instance_id, reason: got } => {
                assert_eq!(instance_id, "a");
                assert!(got.contains(reason), "expected '{reason}' in '{got}'");
            }
            other => panic!("expected a conflict, got {other}"),
        }
        assert_eq!(fixture.dump(), before, "the conflict '{reason}' wrote something");
    }

    // Unlocked, and unknown instances, conflict too.
    store.unlock_instance("a", "h").unwrap();
    let before = fixture.dump();
    let err = store.commit_episode(&good).unwrap_err();
    assert!(err.to_string().contains("not locked"), "{err}");
    let mut ghost = good.clone();
    ghost.instance_id = "ghost".into();
    let err = store.commit_episode(&ghost).unwrap_err();
    assert!(err.to_string().contains("no longer exists"), "{err}");
    assert_eq!(fixture.dump(), before);

    // The untouched commit still goes through once the lock is back.
    assert!(store.lock_instance("a", "h", T0, T0 + 10).unwrap());
    store.commit_episode(&good).unwrap();
    assert_eq!(store.history("a", 1).unwrap().len(), 3);
}

#[test]
fn a_replayed_commit_conflicts_instead_of_duplicating() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let commit = first_episode(&fixture.store, "a", "h", T0, &[0]);
    fixture.store.commit_episode(&commit).unwrap();
    let before = fixture.dump();
    assert!(fixture.store.lock_instance("a", "h", T0, T0 + 10).unwrap());
    let err = fixture.store.commit_episode(&commit).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    fixture.store.unlock_instance("a", "h").unwrap();
    assert_eq!(fixture.dump(), before);
}

#[test]
fn the_component_is_pinned_once_and_kept() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    fixture.store.commit_episode(&first_episode(&fixture.store, "a", "h", T0, &[])).unwrap();
    fixture.store.commit_episode(&next_episode(&fixture, "h", T0 + 1, RuntimeStatus::Running)).unwrap();
    let record = fixture.store.instance("a").unwrap().unwrap();
    assert_eq!(record.component.as_deref(), Some("abc"));
    assert_eq!(record.custom_status.as_deref(), Some("{\"step\":2}"));
    assert_eq!(record.history_len, 3);
}

#[test]
fn a_terminal_commit_cleans_the_inbox_and_unclaimed_tasks() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    store.commit_episode(&first_episode(store, "a", "h", T0, &[0, 1, 2])).unwrap();
    // Task 0 is under a live lease, task 1 under one that runs out before the commit, task 2
    // was never claimed.
    let held = store.claim_activities("w1", T0, T0 + 10_000, 1).unwrap();
    let lapsed = store.claim_activities("w2", T0, T0 + 50, 1).unwrap();
    assert_eq!((held[0].key.task_id, lapsed[0].key.task_id), (0, 1));
    // A message due only later is dropped too.
    inbox::enqueue(
        &store.write(),
        "a",
        1,
        &Message::ActivityCompleted { task_id: 5, output: "5".into() },
        T0 + 9_000,
        T0,
    )
    .unwrap();

    store.commit_episode(&next_episode(&fixture, "h", T0 + 100, RuntimeStatus::Completed)).unwrap();

    let record = store.instance("a").unwrap().unwrap();
    assert_eq!(record.status, RuntimeStatus::Completed);
    assert_eq!(record.output.as_deref(), Some("\"done\""));
    assert_eq!(record.completed_at, Some(T0 + 100));
    assert!(matches!(
        store.history("a", 1).unwrap().last(),
        Some(HistoryEvent { event: Event::ExecutionCompleted { .. }, .. })
    ));
    let inbox_rows: i64 = fixture.raw().query_row("SELECT count(*) FROM inbox", [], |r| r.get(0)).unwrap();
    assert_eq!(inbox_rows, 0);
    let tasks: Vec<i64> = {
        let conn = fixture.raw();
        let mut stmt = conn.prepare("SELECT task_id FROM activity_tasks").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(tasks, [0], "only the task under a live lease is left");
    assert!(store.ready_instances("h", T0 + 20_000, 10).unwrap().is_empty());

    // Its worker finishes: the task goes, nothing is enqueued for the finished instance.
    let key = ActivityTaskKey { instance_id: "a".into(), execution: 1, task_id: 0 };
    assert!(store.complete_activity(&key, "w1", &ActivityResult::Completed("0".into()), T0 + 200).unwrap());
    let inbox_rows: i64 = fixture.raw().query_row("SELECT count(*) FROM inbox", [], |r| r.get(0)).unwrap();
    assert_eq!(inbox_rows, 0);
    assert!(store.claim_activities("w3", T0 + 20_000, T0 + 30_000, 10).unwrap().is_empty());
}

#[test]
fn a_failed_instance_keeps_its_failure() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    fixture.store.commit_episode(&first_episode(&fixture.store, "a", "h", T0, &[])).unwrap();
    fixture.store.commit_episode(&next_episode(&fixture, "h", T0 + 5, RuntimeStatus::Failed)).unwrap();
    let record = fixture.store.instance("a").unwrap().unwrap();
    assert_eq!(record.status, RuntimeStatus::Failed);
    assert_eq!(record.failure, Some(Failure::new("Boom", "it broke")));
    assert_eq!(record.output, None);
    assert_eq!(record.completed_at, Some(T0 + 5));
}

#[test]
fn history_round_trips_every_event_kind() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let mut commit = first_episode(&fixture.store, "a", "h", T0, &[0]);
    let failure = Failure::wrapping("ActivityFailed", "outer", Failure::new("Io", "disk").with_details("trace"));
    commit.new_events.extend(numbered(
        3,
        vec![
            Event::ActivityCompleted { task_id: 0, output: "{\"n\": 1}".into() },
            Event::ActivityFailed { task_id: 1, failure: failure.clone() },
            Event::ExecutionFailed { failure },
        ],
    ));
    fixture.store.commit_episode(&commit).unwrap();
    assert_eq!(fixture.store.history("a", 1).unwrap(), commit.new_events);
}
