//! Sub-orchestrations (children created by an episode, parent links, `children`) and
//! continue-as-new (an instance restarting as a new execution).

use super::{Fixture, T0, first_episode, new_instance, numbered, parent_ref, plain_episode};
use crate::NO_LIMITS;
use crate::sqlite::migrations::{LATEST_VERSION, MIGRATIONS, schema_version};
use crate::sqlite::{SqliteStore, instances};
use crate::{
    ActivityResult, ActivityTaskKey, ContinueAsNew, EpisodeCommit, HistoryStore, InstanceFilter, NewInstance,
    PurgeFilter, StoreError, error_types,
};
use reprise_core::{
    Event, Failure, InstanceId, Message, OutgoingMessage, ParentRef, Payload, RetryPolicy, RuntimeStatus, TaskId,
};

fn event(name: &str) -> Message {
    Message::EventRaised { name: name.into(), data: Payload::stored(format!("{{\"{name}\":1}}")) }
}

/// A child of "p" for task `task_id`, named "child", created at `created_at`; if its id is
/// taken, the task fails (as the planner makes it) with a message visible from `created_at`.
fn child(instance_id: &str, task_id: TaskId, created_at: u64) -> NewInstance {
    let failure =
        Failure::new(error_types::INSTANCE_EXISTS, format!("an instance with id '{instance_id}' already exists"));
    let if_taken = OutgoingMessage {
        instance_id: "p".into(),
        message: Message::SubOrchestrationFailed { task_id, failure },
        visible_at: created_at,
        execution: Some(1),
    };
    NewInstance {
        instance_id: InstanceId::new(instance_id).expect("a valid instance id"),
        name: "child".into(),
        input: Payload::stored(format!("{{\"task\":{task_id}}}")),
        created_at,
        parent: Some(parent_ref("p", task_id)),
        if_taken: Some(if_taken),
    }
}

/// The messages of `instance_id` visible at `now`, with their executions.
fn inbox_of(fixture: &Fixture, instance_id: &str, now: u64) -> Vec<(u32, Message)> {
    fixture.store.messages(instance_id, now).unwrap().into_iter().map(|m| (m.execution, m.message)).collect()
}

fn start(name: &str, input: &str) -> Message {
    Message::Start { name: name.into(), input: Payload::stored(input) }
}

/// An episode of `instance_id` at `now` by "h" that records nothing but its start and the
/// continue-as-new, consumes nothing, and restarts with `next`.
fn continuing(fixture: &Fixture, instance_id: &str, now: u64, next: ContinueAsNew) -> EpisodeCommit {
    let mut commit = plain_episode(&fixture.store, instance_id, now, RuntimeStatus::Running);
    commit.consumed_messages.clear();
    commit.new_events.extend(numbered(
        commit.expected_history_len + 1,
        vec![Event::ExecutionContinuedAsNew { input: next.input.clone() }],
    ));
    commit.continue_as_new = Some(next);
    commit
}

fn restart(input: &str, now: u64) -> ContinueAsNew {
    ContinueAsNew {
        input: Payload::stored(input),
        carry: Vec::new(),
        keep_pending_events: false,
        start_at: now,
        parent: None,
    }
}

#[test]
fn create_instance_stores_the_parent_link() {
    let fixture = Fixture::new();
    let mut new = child("c", 4, T0);
    new.parent.as_mut().unwrap().retry = Some(RetryPolicy {
        max_attempts: 3,
        first_retry_interval_ms: 1_000,
        backoff_coefficient: 2.0,
        max_retry_interval_ms: None,
        retry_timeout_ms: Some(60_000),
        non_retryable_errors: vec!["Fatal".into()],
    });
    fixture.store.create_instance(&new).unwrap();
    fixture.create("orphan", T0);

    let record = fixture.store.instance("c").unwrap().unwrap();
    assert_eq!(record.parent, new.parent);
    assert_eq!((record.status, record.execution), (RuntimeStatus::Pending, 1));
    assert_eq!(inbox_of(&fixture, "c", T0), [(1, start("child", "{\"task\":4}"))]);
    assert_eq!(fixture.store.instance("orphan").unwrap().unwrap().parent, None);
    // The generated column follows the JSON.
    let parents: Vec<Option<String>> = {
        let conn = fixture.raw();
        let mut stmt = conn.prepare("SELECT parent_instance FROM instances ORDER BY instance_id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(parents, [Some("p".to_string()), None]);
}

#[test]
fn an_episode_creates_its_children_with_their_start_messages() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("p", T0);
    let mut commit = first_episode(store, "p", "h", T0 + 10, &[]);
    // Their own created_at is not used: they are created with the commit.
    commit.new_instances = vec![child("c1", 1, 5), child("c2", 2, 5)];
    // An event sent to a child started in the same episode reaches it.
    commit.outgoing = vec![OutgoingMessage {
        instance_id: "c2".into(),
        message: event("hello"),
        visible_at: T0 + 10,
        execution: None,
    }];
    store.commit_episode(&commit).unwrap();

    for (id, task_id) in [("c1", 1), ("c2", 2)] {
        let record = store.instance(id).unwrap().unwrap();
        assert_eq!(
            (record.name.as_str(), record.status, record.execution, record.created_at, record.updated_at),
            ("child", RuntimeStatus::Pending, 1, T0 + 10, T0 + 10)
        );
        assert_eq!(record.parent, Some(parent_ref("p", task_id)));
    }
    assert_eq!(inbox_of(&fixture, "c1", T0 + 10), [(1, start("child", "{\"task\":1}"))]);
    assert_eq!(inbox_of(&fixture, "c2", T0 + 10), [(1, start("child", "{\"task\":2}")), (1, event("hello"))]);
    assert!(inbox_of(&fixture, "c1", T0 + 9).is_empty(), "visible from the commit's time");
    assert_eq!(store.ready_instances("h", T0 + 10, 10).unwrap(), ["c1", "c2"]);
    assert_eq!(store.children("p").unwrap(), ["c1", "c2"]);
    assert_eq!(store.instance("p").unwrap().unwrap().status, RuntimeStatus::Running);
    assert!(store.messages("p", T0 + 10).unwrap().is_empty(), "no failure for the parent");
}

#[test]
fn a_conflicting_commit_creates_no_children_and_does_not_continue() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("p", T0);
    let mut commit = first_episode(store, "p", "h", T0, &[]);
    commit.new_instances = vec![child("c1", 1, T0)];
    commit.continue_as_new = Some(restart("2", T0));
    commit.expected_history_len = 1;
    let before = fixture.dump();
    assert!(matches!(store.commit_episode(&commit), Err(StoreError::Conflict { .. })));
    assert_eq!(fixture.dump(), before);
    assert_eq!(store.instance("c1").unwrap(), None);
}

#[test]
fn a_taken_child_id_fails_its_task_instead_of_the_commit() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    let mut other = new_instance("taken", T0);
    other.name = "other".into();
    store.create_instance(&other).unwrap();
    fixture.create("p", T0);
    let taken_before = (store.instance("taken").unwrap(), inbox_of(&fixture, "taken", T0));

    let mut commit = first_episode(store, "p", "h", T0 + 10, &[]);
    let mut unlinked = child("taken", 9, T0);
    unlinked.parent = None;
    unlinked.if_taken = None;
    commit.new_instances = vec![
        child("taken", 3, T0 + 10),
        child("fresh", 4, T0 + 10),
        child("fresh", 5, T0 + 10), // taken by the child just before it
        child("p", 6, T0 + 10),     // the parent itself
        unlinked,                   // nobody waits for it: nothing to report
    ];
    store.commit_episode(&commit).unwrap();

    assert_eq!((store.instance("taken").unwrap(), inbox_of(&fixture, "taken", T0)), taken_before, "untouched");
    assert_eq!(store.instance("fresh").unwrap().unwrap().parent, Some(parent_ref("p", 4)));
    let failed = |task_id, id: &str| {
        let failure = Failure::new(error_types::INSTANCE_EXISTS, format!("an instance with id '{id}' already exists"));
        (1, Message::SubOrchestrationFailed { task_id, failure })
    };
    assert_eq!(inbox_of(&fixture, "p", T0 + 10), [failed(3, "taken"), failed(5, "fresh"), failed(6, "p")]);
    assert!(inbox_of(&fixture, "p", T0 + 9).is_empty(), "visible from the commit's time");
    let record = store.instance("p").unwrap().unwrap();
    assert_eq!((record.status, record.history_len), (RuntimeStatus::Running, 2), "the commit went through");
    // In the order of their oldest messages: the failure for task 3 came before fresh's start.
    assert_eq!(store.ready_instances("h", T0 + 10, 10).unwrap(), ["taken", "p", "fresh"]);
}

#[test]
fn a_finishing_parent_still_creates_its_children() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create_with_status("p", T0, RuntimeStatus::Running);
    let mut commit = plain_episode(store, "p", T0 + 10, RuntimeStatus::Completed);
    commit.new_instances = vec![child("c", 1, T0), child("p", 2, T0)];
    store.commit_episode(&commit).unwrap();

    assert_eq!(store.instance("p").unwrap().unwrap().status, RuntimeStatus::Completed);
    assert_eq!(fixture.count("inbox", "p"), 0, "the clash's failure went with the finished parent's inbox");
    let record = store.instance("c").unwrap().unwrap();
    assert_eq!((record.status, record.parent), (RuntimeStatus::Pending, Some(parent_ref("p", 1))));
    assert_eq!(store.ready_instances("h", T0 + 10, 10).unwrap(), ["c"]);
    // Its result will find no parent to go to; that does not fail its own commit.
    store.commit_episode(&first_episode(store, "c", "h", T0 + 20, &[])).unwrap();
    let mut done = plain_episode(store, "c", T0 + 30, RuntimeStatus::Completed);
    done.outgoing = vec![OutgoingMessage {
        instance_id: "p".into(),
        message: Message::SubOrchestrationCompleted { task_id: 1, output: Payload::stored("1") },
        visible_at: T0 + 30,
        execution: None,
    }];
    store.commit_episode(&done).unwrap();
    assert_eq!(fixture.count("inbox", "p"), 0);
}

#[test]
fn children_are_the_unfinished_direct_children() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create_with_status("p", T0, RuntimeStatus::Running);
    let statuses = [
        ("c-running", RuntimeStatus::Running),
        ("c-completed", RuntimeStatus::Completed),
        ("c-pending", RuntimeStatus::Pending),
        ("c-failed", RuntimeStatus::Failed),
        ("c-suspended", RuntimeStatus::Suspended),
        ("c-terminated", RuntimeStatus::Terminated),
        ("c-continued", RuntimeStatus::ContinuedAsNew),
    ];
    for (i, (id, status)) in (0..).zip(statuses) {
        fixture.create_child_with_status(id, parent_ref("p", i), T0 + 10 + i, status);
    }
    // A child of an earlier execution of "p" is still its child.
    let old = ParentRef { execution: 7, ..parent_ref("p", 0) };
    fixture.create_child_with_status("c-old", old, T0 + 30, RuntimeStatus::Running);
    fixture.create_child_with_status("grandchild", parent_ref("c-running", 0), T0 + 40, RuntimeStatus::Running);
    fixture.create_child_with_status("elsewhere", parent_ref("q", 0), T0 + 50, RuntimeStatus::Running);

    assert_eq!(store.children("p").unwrap(), ["c-running", "c-pending", "c-suspended", "c-continued", "c-old"]);
    assert_eq!(store.children("c-running").unwrap(), ["grandchild"]);
    assert!(store.children("grandchild").unwrap().is_empty());
    assert!(store.children("ghost").unwrap().is_empty());
    // A retried child (continued as new) keeps its parent link.
    assert_eq!(store.instance("c-continued").unwrap().unwrap().parent, Some(parent_ref("p", 6)));

    // The lookup reads only the parent's children, from the partial index.
    let conn = store.read();
    let plan: String = {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", instances::children_sql())).unwrap();
        let rows = stmt.query_map([rusqlite::types::Null], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    assert!(plan.contains("SEARCH instances USING INDEX instances_by_parent (parent_instance=?)"), "{plan}");
}

#[test]
fn continue_as_new_moves_the_instance_to_a_new_execution() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    store.commit_episode(&first_episode(store, "a", "h", T0, &[0, 1, 2])).unwrap();
    // Task 0 is under a live lease, task 1 under one that runs out before the commit, task 2
    // was never claimed.
    let held = store.claim_activities("w1", T0, T0 + 10_000, 1, &NO_LIMITS).unwrap().tasks;
    let lapsed = store.claim_activities("w2", T0, T0 + 50, 1, &NO_LIMITS).unwrap().tasks;
    assert_eq!((held[0].key.task_id, lapsed[0].key.task_id), (0, 1));
    // Waiting in the inbox: an event already due, a result, a timer and an event still to come.
    store.enqueue_message("a", &event("e1"), T0 + 5, T0 + 5).unwrap();
    super::enqueue(store, "a", 1, &Message::ActivityCompleted { task_id: 1, output: Payload::stored("1") }, T0, T0)
        .unwrap();
    super::enqueue(store, "a", 1, &Message::TimerFired { task_id: 8 }, T0 + 9_000, T0).unwrap();
    store.enqueue_message("a", &event("e2"), T0 + 7_000, T0 + 6).unwrap();

    let mut commit = continuing(
        &fixture,
        "a",
        T0 + 100,
        ContinueAsNew {
            input: Payload::stored("\"next\""),
            carry: vec![event("c1"), event("c2")],
            keep_pending_events: true,
            start_at: T0 + 100,
            parent: None,
        },
    );
    // All overridden or undone by the continue-as-new:
    commit.status = RuntimeStatus::Completed;
    commit.output = Some(Payload::stored("\"ignored\""));
    commit.component = Some("def".into());
    commit.new_activities = vec![crate::NewActivityTask {
        task_id: 7,
        name: "say".into(),
        input: Payload::stored("7"),
        options: Default::default(),
        claimed_until: None,
        flow_key: None,
    }];
    commit.outgoing = vec![OutgoingMessage {
        instance_id: "a".into(),
        message: Message::TimerFired { task_id: 9 },
        visible_at: T0 + 500,
        execution: None,
    }];
    commit.custom_status = Some(Payload::stored("{\"round\":1}"));
    let old_events = commit.new_events.clone();
    store.commit_episode(&commit).unwrap();

    let record = store.instance("a").unwrap().unwrap();
    assert_eq!((record.execution, record.status, record.history_len), (2, RuntimeStatus::ContinuedAsNew, 0));
    assert_eq!(record.input, "\"next\"");
    assert_eq!((record.output, record.failure, record.completed_at), (None, None, None));
    assert_eq!(record.custom_status.as_deref(), Some("{\"round\":1}"));
    assert_eq!(record.component, None, "the next episode pins the newest component");
    assert_eq!((record.created_at, record.updated_at, record.parent), (T0, T0 + 100, None));
    // The episode's events ended the old execution's history; the new one's is empty.
    let history = store.history("a", 1).unwrap();
    assert_eq!(history.len(), 7);
    assert_eq!(history[5..], old_events[..]);
    assert!(store.history("a", 2).unwrap().is_empty());
    assert!(store.lock_instance("a", "other", T0 + 101, T0 + 200).unwrap(), "the lock was released");
    store.unlock_instance("a", "other").unwrap();

    // The new execution's inbox: its start, the carried events, then the pending ones, each
    // visible from its own time. Nothing is left for the old execution.
    let expected =
        [(2, start("greet", "\"next\"")), (2, event("c1")), (2, event("c2")), (2, event("e1")), (2, event("e2"))];
    assert_eq!(inbox_of(&fixture, "a", T0 + 100), expected[..4]);
    assert_eq!(inbox_of(&fixture, "a", T0 + 20_000), expected);
    let old_rows: i64 = fixture
        .raw()
        .query_row("SELECT count(*) FROM inbox WHERE instance_id = 'a' AND execution = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(old_rows, 0);
    let created: Vec<i64> = {
        let conn = fixture.raw();
        let mut stmt = conn.prepare("SELECT created_at FROM inbox ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let at = |t: u64| i64::try_from(t).unwrap();
    assert_eq!(created, [at(T0 + 100), at(T0 + 100), at(T0 + 100), at(T0 + 5), at(T0 + 6)], "moved events keep theirs");
    assert_eq!(store.ready_instances("h", T0 + 100, 10).unwrap(), ["a"], "ready like a running instance");
    assert_eq!(store.next_due(T0 + 100).unwrap(), Some(T0 + 7_000), "the old timer is gone, the moved event counts");

    // Only the task under a live lease is left; its result is dropped, and a claim finds nothing.
    let tasks: Vec<(i64, i64)> = {
        let conn = fixture.raw();
        let mut stmt = conn.prepare("SELECT execution, task_id FROM activity_tasks").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(tasks, [(1, 0)]);
    assert!(store.claim_activities("w3", T0 + 200, T0 + 300, 10, &NO_LIMITS).unwrap().tasks.is_empty());
    let key = ActivityTaskKey { instance_id: "a".into(), execution: 1, task_id: 0 };
    assert!(store.complete_activity(&key, "w1", &ActivityResult::Completed(Payload::stored("0")), T0 + 200).unwrap());
    assert_eq!(fixture.count("activity_tasks", "a"), 0);
    assert_eq!(store.messages("a", T0 + 20_000).unwrap().len(), 5, "nothing enqueued for the old execution");

    // A stale episode of the old execution conflicts; the new execution's first episode commits.
    let mut stale = plain_episode(store, "a", T0 + 300, RuntimeStatus::Running);
    stale.execution = 1;
    let err = store.commit_episode(&stale).unwrap_err();
    assert!(err.to_string().contains("on execution 2"), "{err}");
    let mut first = plain_episode(store, "a", T0 + 300, RuntimeStatus::Running);
    first.component = Some("def".into());
    assert_eq!((first.execution, first.expected_history_len, first.consumed_messages.len()), (2, 0, 4));
    store.commit_episode(&first).unwrap();
    let record = store.instance("a").unwrap().unwrap();
    assert_eq!((record.status, record.history_len), (RuntimeStatus::Running, 1));
    assert_eq!(record.component.as_deref(), Some("def"));
    assert_eq!(store.history("a", 2).unwrap(), first.new_events);
    assert_eq!(store.history("a", 1).unwrap().len(), 7, "the old history is kept");
}

#[test]
fn continue_as_new_drops_pending_events_unless_kept_but_never_control_messages() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create_with_status("a", T0, RuntimeStatus::Running);
    store.enqueue_message("a", &event("e1"), T0 + 5, T0 + 5).unwrap();
    let suspend = Message::Suspend { reason: "later".into() };
    let terminate = Message::Terminate { reason: "stop".into(), cascade: false };
    store.enqueue_message("a", &terminate, T0 + 6, T0 + 6).unwrap();
    store.enqueue_message("a", &suspend, T0 + 5_000, T0 + 7).unwrap();
    store.enqueue_message("a", &event("e2"), T0 + 8, T0 + 8).unwrap();

    store.commit_episode(&continuing(&fixture, "a", T0 + 10, restart("2", T0 + 10))).unwrap();
    // An operator's command is for the instance, whatever its execution.
    assert_eq!(inbox_of(&fixture, "a", T0 + 10), [(2, start("greet", "2")), (2, terminate.clone())]);
    assert_eq!(inbox_of(&fixture, "a", T0 + 5_000), [(2, start("greet", "2")), (2, terminate), (2, suspend)]);
    let controls: Vec<i64> = {
        let conn = fixture.raw();
        let mut stmt = conn.prepare("SELECT control FROM inbox ORDER BY id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(controls, [0, 1, 1]);
}

#[test]
fn a_delayed_restart_waits_and_can_update_the_parent_link() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create_with_status("p", T0, RuntimeStatus::Running);
    fixture.create_child_with_status("c", parent_ref("p", 3), T0, RuntimeStatus::Running);

    // The child failed and retries in 5 s as its second attempt (the executor's way).
    let second = ParentRef { attempt: 2, ..parent_ref("p", 3) };
    let mut commit = continuing(
        &fixture,
        "c",
        T0 + 100,
        ContinueAsNew { parent: Some(second.clone()), start_at: T0 + 5_000, ..restart("\"again\"", T0 + 100) },
    );
    commit.status = RuntimeStatus::Failed;
    commit.failure = Some(Failure::new("Boom", "it broke"));
    store.commit_episode(&commit).unwrap();

    let record = store.instance("c").unwrap().unwrap();
    assert_eq!((record.status, record.execution, record.failure), (RuntimeStatus::ContinuedAsNew, 2, None));
    assert_eq!(record.parent, Some(second.clone()));
    assert!(!store.ready_instances("h", T0 + 4_999, 10).unwrap().contains(&"c".to_string()));
    assert_eq!(store.next_due(T0 + 100).unwrap(), Some(T0 + 5_000));
    assert_eq!(store.ready_instances("h", T0 + 5_000, 10).unwrap(), ["c"]);
    assert_eq!(store.children("p").unwrap(), ["c"], "a retrying child is still a child");

    // A restart that names no parent keeps the current link.
    store.commit_episode(&plain_episode(store, "c", T0 + 5_000, RuntimeStatus::Running)).unwrap();
    store.commit_episode(&continuing(&fixture, "c", T0 + 6_000, restart("3", T0 + 6_000))).unwrap();
    let record = store.instance("c").unwrap().unwrap();
    assert_eq!((record.execution, record.input.as_str(), record.parent), (3, "3", Some(second)));
}

#[test]
fn a_continued_instance_is_not_finished() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create_with_status("a", T0, RuntimeStatus::ContinuedAsNew);
    fixture.create_with_status("b", T0, RuntimeStatus::Running);
    let record = store.instance("a").unwrap().unwrap();
    assert_eq!(
        (record.status, record.execution, record.input.as_str()),
        (RuntimeStatus::ContinuedAsNew, 2, "\"again\"")
    );

    // Listed by its status, never purged.
    let listed = store
        .list_instances(&InstanceFilter { statuses: vec![RuntimeStatus::ContinuedAsNew], ..Default::default() })
        .unwrap();
    assert_eq!(listed.iter().map(|r| r.instance_id.as_str()).collect::<Vec<_>>(), ["a"]);
    let before = fixture.dump();
    let err = store.purge(&PurgeFilter { instance_id: Some("a".into()), ..Default::default() }).unwrap_err();
    assert!(matches!(err, StoreError::NotFinished { status: RuntimeStatus::ContinuedAsNew, .. }), "{err}");
    let by_status = PurgeFilter { statuses: vec![RuntimeStatus::ContinuedAsNew], ..Default::default() };
    assert_eq!(store.purge(&by_status).unwrap(), 0);
    assert_eq!(store.purge(&PurgeFilter::default()).unwrap(), 0);
    assert_eq!(fixture.dump(), before);

    // It takes messages, from clients and from episodes, for its new execution.
    store.enqueue_message("a", &event("x"), T0 + 10, T0 + 10).unwrap();
    let mut send = plain_episode(store, "b", T0 + 20, RuntimeStatus::Running);
    send.outgoing =
        vec![OutgoingMessage { instance_id: "a".into(), message: event("y"), visible_at: T0 + 20, execution: None }];
    store.commit_episode(&send).unwrap();
    assert_eq!(inbox_of(&fixture, "a", T0 + 20), [(2, start("greet", "\"again\"")), (2, event("x")), (2, event("y"))]);

    // Its new execution's work is claimed like any other's (an episode that schedules some and
    // leaves the status as it was: the store reads nothing more into it than "not finished").
    let mut commit = plain_episode(store, "a", T0 + 30, RuntimeStatus::ContinuedAsNew);
    commit.continue_as_new = None;
    commit.new_events.pop();
    commit.new_activities = vec![crate::NewActivityTask {
        task_id: 0,
        name: "say".into(),
        input: Payload::stored("0"),
        options: Default::default(),
        claimed_until: None,
        flow_key: None,
    }];
    store.commit_episode(&commit).unwrap();
    assert_eq!(store.instance("a").unwrap().unwrap().status, RuntimeStatus::ContinuedAsNew);
    let tasks = store.claim_activities("w", T0 + 30, T0 + 100, 10, &NO_LIMITS).unwrap().tasks;
    assert_eq!(tasks.iter().map(|t| (t.key.execution, t.key.task_id)).collect::<Vec<_>>(), [(2, 0)]);
}

#[test]
fn a_version_2_file_is_upgraded_with_no_parents() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reprise.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO instances (instance_id, name, execution, status, input, created_at, updated_at) \
                 VALUES ('a', 'greet', 1, 'Running', '1', {T0}, {T0});"
        ))
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(schema_version(&store.read()).unwrap(), LATEST_VERSION);
    let record = store.instance("a").unwrap().unwrap();
    assert_eq!((record.status, record.parent), (RuntimeStatus::Running, None));
    assert!(store.children("a").unwrap().is_empty());
    store.create_instance(&NewInstance { parent: Some(parent_ref("a", 0)), ..new_instance("c", T0) }).unwrap();
    assert_eq!(store.children("a").unwrap(), ["c"]);
}

#[test]
fn a_bad_parent_link_is_corrupt() {
    let fixture = Fixture::new();
    fixture.store.create_instance(&child("c", 1, T0)).unwrap();
    fixture.raw().execute("UPDATE instances SET parent = '{\"instance_id\":\"p\"}'", []).unwrap();
    let err = fixture.store.instance("c").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("instances.parent of instance 'c'"), "{err}");
    // The id alone still links it to its parent.
    assert_eq!(fixture.store.children("p").unwrap(), ["c"]);
}
