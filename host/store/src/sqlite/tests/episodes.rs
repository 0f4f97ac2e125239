//! Episode commits: what they write, and that a conflict writes nothing.

use super::{Fixture, T0, first_episode, numbered, plain_episode};
use crate::NO_LIMITS;
use crate::{ActivityResult, ActivityTaskKey, EpisodeCommit, HistoryStore, StoreError};
use reprise_core::{Event, Failure, HistoryEvent, Message, OutgoingMessage, Payload, RuntimeStatus};

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
        RuntimeStatus::Completed => events.push(Event::ExecutionCompleted { output: Payload::stored("\"done\"") }),
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
        outgoing: Vec::new(),
        consumed_messages: messages.iter().map(|m| m.id).collect(),
        new_instances: Vec::new(),
        update_replies: Vec::new(),
        continue_as_new: None,
        status,
        output: (status == RuntimeStatus::Completed).then(|| Payload::stored("\"done\"")),
        failure: (status == RuntimeStatus::Failed).then(|| Failure::new("Boom", "it broke")),
        custom_status: Some(Payload::stored("{\"step\":2}")),
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

    let tasks = store.claim_activities("w", T0 + 10, T0 + 1_000, 10, &NO_LIMITS).unwrap().tasks;
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
    super::enqueue(store, "a", 1, &Message::ActivityCompleted { task_id: 9, output: Payload::stored("1") }, T0, T0)
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
    let held = store.claim_activities("w1", T0, T0 + 10_000, 1, &NO_LIMITS).unwrap().tasks;
    let lapsed = store.claim_activities("w2", T0, T0 + 50, 1, &NO_LIMITS).unwrap().tasks;
    assert_eq!((held[0].key.task_id, lapsed[0].key.task_id), (0, 1));
    // A message due only later is dropped too.
    super::enqueue(
        store,
        "a",
        1,
        &Message::ActivityCompleted { task_id: 5, output: Payload::stored("5") },
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
    assert!(store.complete_activity(&key, "w1", &ActivityResult::Completed(Payload::stored("0")), T0 + 200).unwrap());
    let inbox_rows: i64 = fixture.raw().query_row("SELECT count(*) FROM inbox", [], |r| r.get(0)).unwrap();
    assert_eq!(inbox_rows, 0);
    assert!(store.claim_activities("w3", T0 + 20_000, T0 + 30_000, 10, &NO_LIMITS).unwrap().tasks.is_empty());
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
            Event::ActivityCompleted { task_id: 0, output: Payload::stored("{\"n\": 1}") },
            Event::ActivityFailed { task_id: 1, failure: failure.clone() },
            Event::ExecutionFailed { failure },
        ],
    ));
    fixture.store.commit_episode(&commit).unwrap();
    assert_eq!(fixture.store.history("a", 1).unwrap(), commit.new_events);
}

fn send(to: &str, message: Message, visible_at: u64) -> OutgoingMessage {
    OutgoingMessage { instance_id: to.into(), message, visible_at, execution: None }
}

fn raised(name: &str) -> Message {
    Message::EventRaised { name: name.into(), data: Payload::stored("{\"ok\":true}") }
}

#[test]
fn outgoing_messages_reach_live_targets_and_are_dropped_otherwise() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    fixture.create_with_status("running", T0, RuntimeStatus::Running);
    fixture.create_with_status("suspended", T0, RuntimeStatus::Suspended);
    fixture.create_with_status("failed", T0, RuntimeStatus::Failed);
    fixture.create_with_status("terminated", T0, RuntimeStatus::Terminated);
    fixture.raw().execute("UPDATE instances SET execution = 2 WHERE instance_id = 'running'", []).unwrap();
    let before_failed = (fixture.count("inbox", "failed"), fixture.count("inbox", "terminated"));

    let mut commit = first_episode(store, "a", "h", T0 + 10, &[]);
    commit.outgoing = vec![
        send("a", Message::TimerFired { task_id: 0 }, T0 + 1_000),
        send("running", raised("go"), T0 + 10),
        send("suspended", raised("later"), T0 + 20),
        send("failed", raised("lost"), T0 + 10),
        send("terminated", raised("lost"), T0 + 10),
        send("ghost", raised("lost"), T0 + 10),
    ];
    store.commit_episode(&commit).unwrap();

    // The timer is the instance's own delayed message.
    assert!(store.messages("a", T0 + 999).unwrap().is_empty());
    let fired = store.messages("a", T0 + 1_000).unwrap();
    assert_eq!(
        fired.iter().map(|m| (m.execution, &m.message)).collect::<Vec<_>>(),
        [(1, &Message::TimerFired { task_id: 0 })]
    );
    assert_eq!(store.ready_instances("h", T0 + 1_000, 10).unwrap(), ["a", "running"], "in enqueue order");
    // Events go to the target's current execution, suspended or not.
    let got = store.messages("running", T0 + 10).unwrap();
    assert_eq!(got.iter().map(|m| (m.execution, &m.message)).collect::<Vec<_>>(), [(2, &raised("go"))]);
    let got = store.messages("suspended", T0 + 20).unwrap();
    assert_eq!(got.iter().map(|m| &m.message).collect::<Vec<_>>(), [&raised("later")]);
    // Finished and missing targets get nothing, and the commit still went through.
    assert_eq!((fixture.count("inbox", "failed"), fixture.count("inbox", "terminated")), before_failed);
    assert_eq!(fixture.count("inbox", "ghost"), 0);
    assert_eq!(store.instance("a").unwrap().unwrap().status, RuntimeStatus::Running);
    let created: Vec<i64> = {
        let conn = fixture.raw();
        let mut stmt = conn.prepare("SELECT DISTINCT created_at FROM inbox WHERE message LIKE '%TimerFired%' OR message LIKE '%EventRaised%'").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(created, [i64::try_from(T0 + 10).unwrap()], "enqueued at the commit's time");
}

#[test]
fn a_conflicting_commit_sends_nothing() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    fixture.create_with_status("b", T0, RuntimeStatus::Running);
    let mut commit = first_episode(store, "a", "h", T0, &[]);
    commit.outgoing = vec![send("b", raised("x"), T0), send("a", Message::TimerFired { task_id: 0 }, T0 + 5)];
    commit.expected_history_len = 3;
    let before = fixture.dump();
    assert!(matches!(store.commit_episode(&commit), Err(StoreError::Conflict { .. })));
    assert_eq!(fixture.dump(), before);
}

#[test]
fn a_finishing_commit_cancels_the_timers_it_sets_but_still_sends_events() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create_with_status("a", T0, RuntimeStatus::Running);
    fixture.create_with_status("b", T0, RuntimeStatus::Running);
    // A timer set by an earlier episode, still pending.
    super::enqueue(store, "a", 1, &Message::TimerFired { task_id: 0 }, T0 + 5_000, T0).unwrap();

    let mut commit = plain_episode(store, "a", T0 + 10, RuntimeStatus::Completed);
    commit.outgoing =
        vec![send("a", Message::TimerFired { task_id: 1 }, T0 + 2_000), send("b", raised("bye"), T0 + 10)];
    store.commit_episode(&commit).unwrap();

    assert_eq!(fixture.count("inbox", "a"), 0, "both timers are gone");
    assert_eq!(store.next_due(T0 + 10).unwrap(), None);
    let got = store.messages("b", T0 + 10).unwrap();
    assert_eq!(got.iter().map(|m| &m.message).collect::<Vec<_>>(), [&raised("bye")]);
}

#[test]
fn a_terminated_commit_is_terminal() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    store.commit_episode(&first_episode(store, "a", "h", T0, &[0, 1])).unwrap();
    store.claim_activities("w", T0, T0 + 10_000, 1, &NO_LIMITS).unwrap();
    store.enqueue_message("a", &Message::Terminate { reason: "stop".into(), cascade: false }, T0 + 5, T0 + 5).unwrap();
    store.enqueue_message("a", &raised("late"), T0 + 9_000, T0 + 5).unwrap();

    let commit = plain_episode(store, "a", T0 + 10, RuntimeStatus::Terminated);
    store.commit_episode(&commit).unwrap();
    let record = store.instance("a").unwrap().unwrap();
    assert_eq!((record.status, record.completed_at), (RuntimeStatus::Terminated, Some(T0 + 10)));
    assert!(matches!(
        store.history("a", 1).unwrap().last(),
        Some(HistoryEvent { event: Event::ExecutionTerminated { .. }, .. })
    ));
    // The same clean-up as any finish: no messages, only the task under a live lease.
    assert_eq!(fixture.count("inbox", "a"), 0);
    assert_eq!(fixture.count("activity_tasks", "a"), 1);
    assert!(store.ready_instances("h", T0 + 10_000, 10).unwrap().is_empty());
    // And it is finished for everyone else too.
    let err = store.enqueue_message("a", &raised("x"), T0 + 20, T0 + 20).unwrap_err();
    assert!(matches!(err, StoreError::Finished { status: RuntimeStatus::Terminated, .. }), "{err}");
    assert!(!store.lock_instance("a", "h", T0 + 20, T0 + 30).unwrap(), "a finished instance cannot be locked");
    let err = store.commit_episode(&commit).unwrap_err();
    assert!(err.to_string().contains("already finished (Terminated)"), "{err}");
}

#[test]
fn a_suspended_commit_is_not_terminal() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    store.commit_episode(&first_episode(store, "a", "h", T0, &[0])).unwrap();
    super::enqueue(store, "a", 1, &Message::TimerFired { task_id: 1 }, T0 + 5_000, T0).unwrap();

    store.commit_episode(&plain_episode(store, "a", T0 + 10, RuntimeStatus::Suspended)).unwrap();
    let record = store.instance("a").unwrap().unwrap();
    assert_eq!((record.status, record.completed_at), (RuntimeStatus::Suspended, None));
    assert_eq!((fixture.count("inbox", "a"), fixture.count("activity_tasks", "a")), (1, 1), "nothing is cleaned up");
    assert!(store.lock_instance("a", "other", T0 + 11, T0 + 20).unwrap(), "the lock was released");
    store.unlock_instance("a", "other").unwrap();

    // It can be resumed by a later episode, and then finished.
    store.commit_episode(&plain_episode(store, "a", T0 + 20, RuntimeStatus::Running)).unwrap();
    assert_eq!(store.instance("a").unwrap().unwrap().status, RuntimeStatus::Running);
    store.commit_episode(&plain_episode(store, "a", T0 + 30, RuntimeStatus::Completed)).unwrap();
    assert_eq!(store.instance("a").unwrap().unwrap().completed_at, Some(T0 + 30));
}

#[test]
fn beginning_an_episode_locks_the_instance_and_reads_it_with_its_messages() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    let start = store.begin_episode("a", "h", T0, T0 + 100).unwrap().expect("locked");
    assert_eq!(start.instance.instance_id, "a");
    assert_eq!(start.instance.status, RuntimeStatus::Pending);
    assert!(matches!(start.messages.as_slice(), [m] if matches!(m.message, Message::Start { .. })));
    assert!(start.messages[0].id == store.messages("a", T0).unwrap()[0].id);

    // Another owner cannot begin one while the lease lives, the owner can renew it, and an
    // unknown instance has none.
    assert!(store.begin_episode("a", "other", T0 + 99, T0 + 200).unwrap().is_none());
    assert!(store.begin_episode("a", "h", T0 + 1, T0 + 100).unwrap().is_some());
    assert!(store.begin_episode("missing", "h", T0, T0 + 100).unwrap().is_none());
    // Once the lease has run out, another owner takes over; messages not yet visible are left.
    let taken = store.begin_episode("a", "other", T0 + 100, T0 + 300).unwrap().expect("taken over");
    assert_eq!(taken.messages.len(), 1);
    assert!(store.begin_episode("a", "h", T0 + 101, T0 + 300).unwrap().is_none());
}

#[test]
fn a_finished_instance_cannot_be_locked_so_no_lock_outlives_it() {
    // A host that locks a finished instance (woken late, or renewing its lock as the last
    // commit lands) and dies before unlocking it would leave the lock on it for good: nothing
    // ever runs a finished instance again to release it.
    let fixture = Fixture::new();
    let store = &fixture.store;
    for (id, status) in
        [("done", RuntimeStatus::Completed), ("failed", RuntimeStatus::Failed), ("ended", RuntimeStatus::Terminated)]
    {
        fixture.create_with_status(id, T0, status);
        assert!(!store.lock_instance(id, "h", T0 + 5, T0 + 100).unwrap(), "{id} was locked");
        assert!(store.begin_episode(id, "h", T0 + 5, T0 + 100).unwrap().is_none(), "{id} began an episode");
        let lock: (Option<String>, Option<i64>) = fixture
            .raw()
            .query_row("SELECT lock_owner, lock_until FROM instances WHERE instance_id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(lock, (None, None), "{id} is left locked");
    }
}

#[test]
fn snapshots_read_records_with_their_histories_and_skip_unknown_ids() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    store.commit_episode(&first_episode(store, "a", "h", T0 + 10, &[0])).unwrap();
    fixture.create_with_status("b", T0, RuntimeStatus::ContinuedAsNew);

    let ids = ["a".to_string(), "missing".to_string(), "b".to_string()];
    let current = store.snapshots(&ids, false).unwrap();
    let names: Vec<&str> = current.iter().map(|s| s.record.instance_id.as_str()).collect();
    assert_eq!(names, ["a", "b"], "in the order asked, without the unknown id");
    assert_eq!(current[0].executions, vec![(1, store.history("a", 1).unwrap())]);
    assert_eq!(current[0].executions[0].1.len() as u64, current[0].record.history_len);
    // "b" continued as new: its current execution (2) has no history yet.
    assert_eq!(current[1].record.execution, 2);
    assert_eq!(current[1].executions, vec![(2, Vec::new())]);

    let every = store.snapshots(&ids[2..], true).unwrap();
    assert_eq!(every[0].executions.len(), 2);
    assert_eq!(every[0].executions[0], (1, store.history("b", 1).unwrap()));
    assert!(!every[0].executions[0].1.is_empty());
}
