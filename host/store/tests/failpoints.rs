//! What each of the writer's fault points guarantees, on a real file (see
//! `reprise_store::failpoints`): after `BEGIN` and before `COMMIT`, nothing of the batch is
//! written and every caller in it gets the error; after `COMMIT`, the batch is durable although
//! its callers got an error, and the same write tried again is caught by the store's own checks
//! instead of being applied twice.
//!
//! `fail`'s registry is global to the process: each test holds a [`fail::FailScenario`], so
//! that they run one at a time, and this binary holds no other tests.

use reprise_core::{ActivityOptions, Event, HistoryEvent, InstanceId, Message, Payload, RuntimeStatus, Timestamp};
use reprise_store::failpoints::{AFTER_BEGIN, AFTER_COMMIT, BEFORE_COMMIT};
use reprise_store::{
    ActivityResult, ActivityTaskKey, EpisodeCommit, EpisodeStart, HistoryStore, NO_LIMITS, NewActivityTask,
    NewInstance, SqliteStore, StoreError, StoreResult, Unavailable,
};
use std::sync::mpsc::{Receiver, channel};

const T0: Timestamp = 1_700_000_000_000;

fn payload(json: &str) -> Payload {
    Payload::parse(json, usize::MAX).expect("a JSON payload")
}

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("reprise.db")).unwrap();
    (dir, store)
}

fn new_instance(id: &str) -> NewInstance {
    NewInstance {
        instance_id: InstanceId::new(id).expect("a valid id"),
        name: "greet".into(),
        input: payload("1"),
        created_at: T0,
        parent: None,
        if_taken: None,
    }
}

/// The first episode of a new instance as an executor would commit it: it consumes the start
/// and schedules `tasks` activities named "say".
fn first_episode(store: &SqliteStore, id: &str, tasks: u64) -> EpisodeCommit {
    let EpisodeStart { instance, messages } = store.begin_episode(id, "host", T0, T0 + 60_000).unwrap().unwrap();
    let mut events = vec![
        Event::EpisodeStarted { time: T0 },
        Event::ExecutionStarted { name: "greet".into(), input: payload("1"), component: "abc".into() },
    ];
    events.extend((0..tasks).map(|task_id| Event::ActivityScheduled {
        task_id,
        name: "say".into(),
        input: payload("2"),
        options: ActivityOptions::default(),
    }));
    EpisodeCommit {
        instance_id: id.into(),
        execution: instance.execution,
        owner: "host".into(),
        expected_history_len: instance.history_len,
        new_events: events
            .into_iter()
            .enumerate()
            .map(|(seq, event)| HistoryEvent { seq: seq as u64, event })
            .collect(),
        new_activities: (0..tasks)
            .map(|task_id| NewActivityTask {
                task_id,
                name: "say".into(),
                input: payload("2"),
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
        component: None,
        now: T0,
    }
}

fn assert_injected<T: std::fmt::Debug>(result: StoreResult<T>) {
    match result {
        Err(StoreError::Unavailable { reason: Unavailable::Io(message), retryable: true }) => {
            assert!(message.contains("fault injected at failpoint"), "{message}");
        }
        other => panic!("expected the injected fault, got {other:?}"),
    }
}

/// Makes the next batch wait inside `AFTER_BEGIN` until the returned sender is used, and the
/// receiver tell when it does: writes submitted meanwhile queue up as the batch after it.
fn hold_next_batch() -> (std::sync::mpsc::Sender<()>, Receiver<()>) {
    let (reached, held) = channel();
    let (release, released) = channel::<()>();
    let released = std::sync::Mutex::new(Some(released));
    fail::cfg_callback(AFTER_BEGIN, move || {
        if let Some(released) = released.lock().unwrap().take() {
            reached.send(()).unwrap();
            let _ = released.recv();
        }
    })
    .unwrap();
    (release, held)
}

/// Begins the episodes of `ids` without blocking; the answers come on the receiver.
fn begin_all(store: &SqliteStore, ids: &[&str]) -> Receiver<StoreResult<Option<EpisodeStart>>> {
    let (answers, answered) = channel();
    for id in ids {
        let answers = answers.clone();
        store.begin_episode_then(
            id.to_string(),
            "host".into(),
            (T0, T0 + 60_000),
            Box::new(move |result| answers.send(result).unwrap()),
        );
    }
    answered
}

#[test]
fn a_batch_failed_after_begin_or_before_commit_writes_nothing_and_fails_every_caller() {
    let _scenario = fail::FailScenario::setup();
    let (_dir, store) = store();
    let ids = ["a", "b", "c"];
    for id in ids {
        store.create_instance(&new_instance(id)).unwrap();
    }
    for (point, actions, holder) in [(AFTER_BEGIN, "return", "holder-1"), (BEFORE_COMMIT, "1*off->return", "holder-2")]
    {
        let (release, held) = hold_next_batch();
        std::thread::scope(|scope| {
            let holding = scope.spawn(|| store.create_instance(&new_instance(holder)));
            held.recv().unwrap();
            // The writer is inside the holder's batch: these three queue as the next one.
            let stats = store.write_stats();
            let answers = begin_all(&store, &ids);
            fail::cfg(point, actions).unwrap();
            release.send(()).unwrap();
            holding.join().unwrap().unwrap();
            for _ in ids {
                assert_injected(answers.recv().unwrap());
            }
            let after = store.write_stats();
            assert_eq!(after.requests - stats.requests, 3, "{point}: the three writes ran as one batch");
            assert_eq!(after.commits - stats.commits, 1, "{point}: only the holder's batch committed");
        });
        fail::remove(point);
        fail::remove(AFTER_BEGIN);
        // None of the locks was taken: another owner gets each at once.
        for id in ids {
            assert!(store.lock_instance(id, "other", T0, T0 + 1).unwrap(), "{point}: {id} is not locked");
            store.unlock_instance(id, "other").unwrap();
        }
    }
}

#[test]
fn a_batch_failed_after_commit_is_durable_and_the_same_write_again_is_refused_by_the_store() {
    let _scenario = fail::FailScenario::setup();
    let (_dir, store) = store();

    // A new instance: the caller is told it failed, the instance exists, a second try is
    // refused as a duplicate.
    fail::cfg(format!("{AFTER_COMMIT}.create_instance"), "1*return").unwrap();
    assert_injected(store.create_instance(&new_instance("a")));
    assert_eq!(store.instance("a").unwrap().unwrap().status, RuntimeStatus::Pending);
    assert!(matches!(store.create_instance(&new_instance("a")), Err(StoreError::InstanceExists(_))));

    // An episode: committed, and the executor's retry of the same commit is a conflict.
    let commit = first_episode(&store, "a", 2);
    fail::cfg(format!("{AFTER_COMMIT}.commit_episode"), "1*return").unwrap();
    assert_injected(store.commit_episode(&commit));
    assert_eq!(store.history("a", 1).unwrap().len(), 4, "the episode is in history");
    assert!(matches!(store.commit_episode(&commit), Err(StoreError::Conflict { .. })));
    assert_eq!(store.history("a", 1).unwrap().len(), 4, "and only once");

    // An activity's result, recorded alone and recorded with the next episode's begin: each is
    // in the inbox once, and the retry finds the task no longer leased to it.
    let tasks = store.claim_activities("host", T0, T0 + 60_000, 10, &NO_LIMITS).unwrap().tasks;
    assert_eq!(tasks.len(), 2);
    let key = |task_id| ActivityTaskKey { instance_id: "a".into(), execution: 1, task_id };
    let done = ActivityResult::Completed(payload("\"hi\""));
    fail::cfg(format!("{AFTER_COMMIT}.complete_activity"), "1*return").unwrap();
    assert_injected(store.complete_activity(&key(0), "host", &done, T0 + 1));
    assert!(!store.complete_activity(&key(0), "host", &done, T0 + 1).unwrap(), "the retry records nothing");

    fail::cfg(format!("{AFTER_COMMIT}.record_activity"), "1*return").unwrap();
    let record = |store: &SqliteStore| {
        let (answer, answered) = channel();
        store.record_activity_then(
            key(1),
            "host".into(),
            (done.clone(), Vec::new(), T0 + 2, Some(T0 + 60_000)),
            Box::new(move |result| answer.send(result).unwrap()),
        );
        answered.recv().unwrap()
    };
    assert_injected(record(&store));
    let retried = record(&store).unwrap();
    assert!(!retried.recorded && retried.episode.is_none(), "the retry records nothing");

    let results: Vec<u64> = store
        .messages("a", T0 + 10)
        .unwrap()
        .into_iter()
        .filter_map(|m| match m.message {
            Message::ActivityCompleted { task_id, .. } => Some(task_id),
            _ => None,
        })
        .collect();
    assert_eq!(results, [0, 1], "each result once");
    assert!(
        store.claim_activities("host", u64::MAX - 1, u64::MAX, 10, &NO_LIMITS).unwrap().tasks.is_empty(),
        "both tasks are done"
    );
}

#[test]
fn an_injected_fault_names_the_sqlite_error_it_stands_for() {
    let _scenario = fail::FailScenario::setup();
    let (_dir, store) = store();
    fail::cfg(BEFORE_COMMIT, "1*return(full)->1*return(busy)->1*return(readonly)").unwrap();
    let reasons: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|id| match store.create_instance(&new_instance(id)) {
            Err(StoreError::Unavailable { reason, retryable }) => (reason, retryable),
            other => panic!("expected an unavailable store, got {other:?}"),
        })
        .collect();
    assert_eq!(
        reasons,
        [(Unavailable::Full, true), (Unavailable::Busy, true), (Unavailable::ReadOnly, false)],
        "each as the store reports the real error"
    );
    assert!(store.list_instances(&Default::default()).unwrap().is_empty(), "nothing was written");
    store.create_instance(&new_instance("d")).unwrap();
}

#[test]
fn failpoints_from_the_environment_syntax_are_checked_and_set() {
    let _scenario = fail::FailScenario::setup();
    let (_dir, store) = store();
    let error = reprise_store::failpoints::configure("store.after_comit=return").unwrap_err();
    assert!(error.contains("unknown point 'store.after_comit'") && error.contains(AFTER_COMMIT), "{error}");
    let error = reprise_store::failpoints::configure("store.after_commit").unwrap_err();
    assert!(error.contains("not NAME=ACTIONS"), "{error}");

    let set = reprise_store::failpoints::configure(" store.after_begin.create_instance=1*off->1*return ; ").unwrap();
    assert_eq!(set, 1);
    store.create_instance(&new_instance("a")).unwrap();
    assert_injected(store.create_instance(&new_instance("b")));
    store.create_instance(&new_instance("c")).unwrap();
    let ids: Vec<String> =
        store.list_instances(&Default::default()).unwrap().into_iter().map(|r| r.instance_id).collect();
    assert_eq!(ids.len(), 2);
    assert!(!ids.contains(&"b".to_string()));
}
