//! The activity queue: claims, leases, reclaims and completions.

use super::{Fixture, T0, first_episode, plain_episode};
use crate::NO_LIMITS;
use crate::{ActivityResult, ActivityTaskKey, HistoryStore};
use reprise_core::{ActivityOptions, Failure, HttpExchange, Message, Payload, RetryPolicy, RuntimeStatus};

/// A fixture with instance "a" running and tasks 0, 1, 2 enqueued at `T0`.
fn with_three_tasks() -> Fixture {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    fixture.store.commit_episode(&first_episode(&fixture.store, "a", "h", T0, &[0, 1, 2])).unwrap();
    fixture
}

fn key(task_id: u64) -> ActivityTaskKey {
    ActivityTaskKey { instance_id: "a".into(), execution: 1, task_id }
}

fn task_ids(tasks: &[crate::ActivityTask]) -> Vec<(u64, u32)> {
    tasks.iter().map(|t| (t.key.task_id, t.attempt)).collect()
}

#[test]
fn tasks_are_claimed_oldest_first_and_reclaimed_after_their_lease() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    // Enqueued at T0: not visible before.
    assert!(store.claim_activities("w1", T0 - 1, T0 + 100, 10, &NO_LIMITS).unwrap().tasks.is_empty());

    let first = store.claim_activities("w1", T0, T0 + 100, 2, &NO_LIMITS).unwrap().tasks;
    assert_eq!(task_ids(&first), [(0, 1), (1, 1)]);
    assert!(first.iter().all(|t| t.lease_until == T0 + 100 && t.name == "say"));
    assert_eq!(task_ids(&store.claim_activities("w2", T0, T0 + 100, 10, &NO_LIMITS).unwrap().tasks), [(2, 1)]);
    assert!(
        store.claim_activities("w2", T0 + 99, T0 + 200, 10, &NO_LIMITS).unwrap().tasks.is_empty(),
        "leases are live"
    );

    // w1 crashed: once its leases end, its tasks go out again as the next attempt.
    let again = store.claim_activities("w3", T0 + 100, T0 + 300, 10, &NO_LIMITS).unwrap().tasks;
    assert_eq!(task_ids(&again), [(0, 2), (1, 2), (2, 2)]);
    assert!(again.iter().all(|t| t.lease_until == T0 + 300));
    assert_eq!(task_ids(&store.claim_activities("w4", T0 + 300, T0 + 400, 1, &NO_LIMITS).unwrap().tasks), [(0, 3)]);
}

#[test]
fn a_renewed_lease_is_not_reclaimed() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("w1", T0, T0 + 100, 1, &NO_LIMITS).unwrap();
    assert!(store.renew_activity(&key(0), "w1", T0 + 500).unwrap());
    assert!(!store.renew_activity(&key(0), "w2", T0 + 900).unwrap(), "not w2's lease");
    assert!(!store.renew_activity(&key(1), "w1", T0 + 900).unwrap(), "never claimed");
    let claimed = store.claim_activities("w2", T0 + 100, T0 + 600, 10, &NO_LIMITS).unwrap().tasks;
    assert_eq!(task_ids(&claimed), [(1, 1), (2, 1)]);
    assert_eq!(task_ids(&store.claim_activities("w2", T0 + 500, T0 + 600, 10, &NO_LIMITS).unwrap().tasks), [(0, 2)]);
}

#[test]
fn completing_enqueues_the_result_for_the_instance() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("w", T0, T0 + 100, 2, &NO_LIMITS).unwrap();
    let failure = Failure::new("Timeout", "too slow").with_details("after 3s");

    assert!(store.complete_activity(&key(1), "w", &ActivityResult::Failed(failure.clone()), T0 + 5).unwrap());
    assert!(store.complete_activity(&key(0), "w", &ActivityResult::Completed(Payload::stored("42")), T0 + 6).unwrap());

    let messages = store.messages("a", T0 + 6).unwrap();
    let delivered: Vec<_> = messages.iter().map(|m| (m.execution, m.message.clone())).collect();
    assert_eq!(
        delivered,
        [
            (1, Message::ActivityFailed { task_id: 1, failure }),
            (1, Message::ActivityCompleted { task_id: 0, output: Payload::stored("42") }),
        ]
    );
    assert!(store.messages("a", T0 + 5).unwrap().len() == 1, "each result is visible from its completion");
    assert_eq!(store.ready_instances("h", T0 + 6, 10).unwrap(), ["a"]);
    // Completed tasks are gone for good.
    assert_eq!(task_ids(&store.claim_activities("w", T0 + 1_000, T0 + 2_000, 10, &NO_LIMITS).unwrap().tasks), [(2, 1)]);
}

#[test]
fn an_attempts_http_requests_are_enqueued_just_before_its_result() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("w", T0, T0 + 100, 2, &NO_LIMITS).unwrap();
    let request = HttpExchange {
        method: "POST".into(),
        url: "http://127.0.0.1:4000/jobs".into(),
        status: Some(201),
        error: None,
        duration_ms: 3,
        bytes_sent: 12,
        bytes_received: 40,
    };
    let retry = ActivityResult::Retry { failure: Failure::new("E", "m"), next_attempt_at: T0 + 50 };
    assert!(store.record_attempt(&key(0), "w", &retry, std::slice::from_ref(&request), T0 + 5).unwrap());
    assert!(store.record_attempt(&key(1), "w", &ActivityResult::Completed(Payload::stored("1")), &[], T0 + 6).unwrap());

    let delivered: Vec<_> = store.messages("a", T0 + 6).unwrap().into_iter().map(|m| m.message).collect();
    assert_eq!(
        delivered,
        [
            Message::HttpRequestsMade { task_id: 0, attempt: 1, requests: vec![request] },
            Message::ActivityRetrying {
                task_id: 0,
                attempt: 1,
                failure: Failure::new("E", "m"),
                next_attempt_at: T0 + 50
            },
            Message::ActivityCompleted { task_id: 1, output: Payload::stored("1") },
        ],
        "an attempt without requests enqueues its result alone"
    );
}

#[test]
fn a_lost_lease_completes_nothing() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("slow", T0, T0 + 100, 1, &NO_LIMITS).unwrap();
    let reclaimed = store.claim_activities("fast", T0 + 100, T0 + 200, 1, &NO_LIMITS).unwrap().tasks;
    assert_eq!(task_ids(&reclaimed), [(0, 2)]);

    let before = fixture.dump();
    let late = store.complete_activity(&key(0), "slow", &ActivityResult::Completed(Payload::stored("old")), T0 + 150);
    assert!(!late.unwrap());
    assert!(
        !store.complete_activity(&key(9), "slow", &ActivityResult::Completed(Payload::stored("x")), T0 + 150).unwrap()
    );
    assert_eq!(fixture.dump(), before, "a lost lease writes nothing");

    assert!(
        store.complete_activity(&key(0), "fast", &ActivityResult::Completed(Payload::stored("new")), T0 + 160).unwrap()
    );
    let messages = store.messages("a", T0 + 160).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].message, Message::ActivityCompleted { task_id: 0, output: Payload::stored("new") });
    // A second completion of the same task finds nothing to complete.
    assert!(
        !store
            .complete_activity(&key(0), "fast", &ActivityResult::Completed(Payload::stored("new")), T0 + 170)
            .unwrap()
    );
}

#[test]
fn a_completion_for_a_finished_instance_enqueues_nothing() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("w", T0, T0 + 10_000, 1, &NO_LIMITS).unwrap();
    // Finish the instance behind the store's back (as a terminate would) with the task leased.
    fixture.raw().execute("UPDATE instances SET status = 'Completed' WHERE instance_id = 'a'", []).unwrap();

    assert!(store.complete_activity(&key(0), "w", &ActivityResult::Completed(Payload::stored("1")), T0 + 5).unwrap());
    let inbox_rows: i64 =
        fixture.raw().query_row("SELECT count(*) FROM inbox WHERE instance_id = 'a'", [], |r| r.get(0)).unwrap();
    assert_eq!(inbox_rows, 0);
}

#[test]
fn a_completion_for_another_execution_enqueues_nothing() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("w", T0, T0 + 10_000, 1, &NO_LIMITS).unwrap();
    fixture.raw().execute("UPDATE instances SET execution = 2 WHERE instance_id = 'a'", []).unwrap();

    assert!(store.complete_activity(&key(0), "w", &ActivityResult::Completed(Payload::stored("1")), T0 + 5).unwrap());
    let inbox_rows: i64 = fixture.raw().query_row("SELECT count(*) FROM inbox", [], |r| r.get(0)).unwrap();
    assert_eq!(inbox_rows, 0);
}

#[test]
fn leftover_tasks_of_a_finished_instance_are_swept_not_run() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    // Task 0 is held when the instance finishes; its worker then crashes.
    store.claim_activities("crashed", T0, T0 + 100, 1, &NO_LIMITS).unwrap();
    store.commit_episode(&plain_episode(store, "a", T0 + 1, RuntimeStatus::Failed)).unwrap();
    let task_rows =
        || -> i64 { fixture.raw().query_row("SELECT count(*) FROM activity_tasks", [], |r| r.get(0)).unwrap() };
    assert_eq!(task_rows(), 1, "the finishing commit deleted the tasks nobody held");

    assert!(store.claim_activities("w", T0 + 99, T0 + 200, 10, &NO_LIMITS).unwrap().tasks.is_empty());
    assert_eq!(task_rows(), 1, "a live lease is left to its holder");
    assert!(store.claim_activities("w", T0 + 100, T0 + 200, 10, &NO_LIMITS).unwrap().tasks.is_empty());
    assert_eq!(task_rows(), 0);
}

#[test]
fn a_task_whose_instance_finished_is_never_claimed() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    // Left behind by some other writer (a finishing commit deletes such tasks itself).
    fixture.raw().execute("UPDATE instances SET status = 'Completed' WHERE instance_id = 'a'", []).unwrap();
    assert!(store.claim_activities("w", T0, T0 + 100, 10, &NO_LIMITS).unwrap().tasks.is_empty());
    fixture
        .raw()
        .execute("UPDATE instances SET status = 'Running', execution = 2 WHERE instance_id = 'a'", [])
        .unwrap();
    assert!(
        store.claim_activities("w", T0, T0 + 100, 10, &NO_LIMITS).unwrap().tasks.is_empty(),
        "nor one of another execution"
    );
}

fn retrying_options() -> ActivityOptions {
    ActivityOptions {
        retry: Some(RetryPolicy {
            max_attempts: 3,
            first_retry_interval_ms: 500,
            backoff_coefficient: 2.0,
            max_retry_interval_ms: Some(4_000),
            retry_timeout_ms: Some(60_000),
            non_retryable_errors: vec!["Fatal".into()],
        }),
        timeout_ms: Some(1_500),
    }
}

/// The `visible_at`, `attempt` and lease owner of task `task_id` of "a", read behind the store.
fn task_row(fixture: &Fixture, task_id: u64) -> Option<(i64, i64, Option<String>)> {
    let conn = fixture.raw();
    let mut stmt = conn
        .prepare("SELECT visible_at, attempt, lease_owner FROM activity_tasks WHERE instance_id = 'a' AND task_id = ?1")
        .unwrap();
    let mut rows = stmt.query_map([task_id as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    rows.next().transpose().unwrap()
}

fn as_i64(time: u64) -> i64 {
    i64::try_from(time).unwrap()
}

#[test]
fn options_and_the_first_enqueue_time_come_with_every_claim() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    let mut commit = first_episode(store, "a", "h", T0 + 7, &[0, 1]);
    commit.new_activities[1].options = retrying_options();
    store.commit_episode(&commit).unwrap();

    // Default options are stored as NULL, others as their JSON.
    let stored: Vec<Option<String>> = {
        let conn = fixture.raw();
        let mut stmt = conn.prepare("SELECT options FROM activity_tasks ORDER BY task_id").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(stored[0], None);
    let json: ActivityOptions = serde_json::from_str(stored[1].as_deref().unwrap()).unwrap();
    assert_eq!(json, retrying_options());

    let tasks = store.claim_activities("w", T0 + 20, T0 + 100, 10, &NO_LIMITS).unwrap().tasks;
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].options, ActivityOptions::default());
    assert_eq!(tasks[1].options, retrying_options());
    assert!(tasks.iter().all(|t| t.created_at == T0 + 7), "enqueued by the episode at T0 + 7");

    // A retried attempt keeps both.
    assert!(store.complete_activity(&key(0), "w", &ActivityResult::Completed(Payload::stored("0")), T0 + 50).unwrap());
    let retry = ActivityResult::Retry { failure: Failure::new("E", "m"), next_attempt_at: T0 + 600 };
    assert!(store.complete_activity(&key(1), "w", &retry, T0 + 50).unwrap());
    let again = store.claim_activities("w", T0 + 600, T0 + 700, 10, &NO_LIMITS).unwrap().tasks;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].key.task_id, again[0].attempt, again[0].created_at), (1, 2, T0 + 7));
    assert_eq!(again[0].options, retrying_options());
}

#[test]
fn a_retry_hides_the_task_until_its_next_attempt_and_records_the_failure() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    assert_eq!(task_ids(&store.claim_activities("w", T0, T0 + 100, 1, &NO_LIMITS).unwrap().tasks), [(0, 1)]);
    let first = Failure::new("Timeout", "too slow");
    let retry = ActivityResult::Retry { failure: first.clone(), next_attempt_at: T0 + 500 };
    assert!(store.complete_activity(&key(0), "w", &retry, T0 + 10).unwrap());

    // The task stays, unleased, with its attempt count, hidden until the next attempt is due.
    assert_eq!(task_row(&fixture, 0), Some((as_i64(T0 + 500), 1, None)));
    assert!(!store.renew_activity(&key(0), "w", T0 + 1_000).unwrap(), "the lease was released");
    assert_eq!(
        task_ids(&store.claim_activities("w2", T0 + 499, T0 + 600, 10, &NO_LIMITS).unwrap().tasks),
        [(1, 1), (2, 1)]
    );

    // The instance receives a record of the failed attempt, visible from the completion on.
    assert!(store.messages("a", T0 + 9).unwrap().is_empty());
    let messages = store.messages("a", T0 + 10).unwrap();
    let expected = Message::ActivityRetrying { task_id: 0, attempt: 1, failure: first, next_attempt_at: T0 + 500 };
    assert_eq!(messages.iter().map(|m| (m.execution, &m.message)).collect::<Vec<_>>(), [(1, &expected)]);

    // Once due, the next claim is the second attempt; its own retry records attempt 2.
    assert_eq!(task_ids(&store.claim_activities("w3", T0 + 500, T0 + 600, 10, &NO_LIMITS).unwrap().tasks), [(0, 2)]);
    let second = ActivityResult::Retry { failure: Failure::new("Timeout", "again"), next_attempt_at: T0 + 1_500 };
    assert!(store.complete_activity(&key(0), "w3", &second, T0 + 550).unwrap());
    let last = store.messages("a", T0 + 550).unwrap().pop().unwrap();
    assert!(
        matches!(last.message, Message::ActivityRetrying { attempt: 2, next_attempt_at, .. } if next_attempt_at == T0 + 1_500)
    );

    // The third attempt succeeds: the task goes and its output is delivered.
    assert_eq!(task_ids(&store.claim_activities("w4", T0 + 1_500, T0 + 1_600, 1, &NO_LIMITS).unwrap().tasks), [(0, 3)]);
    assert!(
        store.complete_activity(&key(0), "w4", &ActivityResult::Completed(Payload::stored("7")), T0 + 1_510).unwrap()
    );
    assert_eq!(task_row(&fixture, 0), None);
    let last = store.messages("a", T0 + 1_510).unwrap().pop().unwrap();
    assert_eq!(last.message, Message::ActivityCompleted { task_id: 0, output: Payload::stored("7") });
}

#[test]
fn a_retry_after_the_lease_was_lost_writes_nothing() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("slow", T0, T0 + 100, 1, &NO_LIMITS).unwrap();
    store.claim_activities("fast", T0 + 100, T0 + 200, 1, &NO_LIMITS).unwrap();
    let before = fixture.dump();
    let retry = ActivityResult::Retry { failure: Failure::new("E", "m"), next_attempt_at: T0 + 5_000 };
    assert!(!store.complete_activity(&key(0), "slow", &retry, T0 + 150).unwrap());
    assert!(!store.complete_activity(&key(1), "slow", &retry, T0 + 150).unwrap(), "never claimed");
    assert_eq!(fixture.dump(), before);
    assert_eq!(task_row(&fixture, 0), Some((as_i64(T0), 2, Some("fast".into()))));
}

#[test]
fn a_retry_for_a_finished_instance_or_another_execution_drops_the_task() {
    for change in ["status = 'Terminated'", "execution = 2"] {
        let fixture = with_three_tasks();
        let store = &fixture.store;
        store.claim_activities("w", T0, T0 + 10_000, 1, &NO_LIMITS).unwrap();
        fixture.raw().execute(&format!("UPDATE instances SET {change} WHERE instance_id = 'a'"), []).unwrap();

        let retry = ActivityResult::Retry { failure: Failure::new("E", "m"), next_attempt_at: T0 + 500 };
        assert!(store.complete_activity(&key(0), "w", &retry, T0 + 5).unwrap(), "{change}");
        assert_eq!(task_row(&fixture, 0), None, "{change}: the task is gone");
        assert_eq!(fixture.count("inbox", "a"), 0, "{change}: nothing is enqueued");
        assert_eq!(fixture.count("activity_tasks", "a"), 2, "{change}: the other tasks are untouched");
    }
}

#[test]
fn tasks_of_a_suspended_instance_wait_until_it_resumes() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    // Task 0 is running when the instance is suspended.
    store.claim_activities("w", T0, T0 + 10_000, 1, &NO_LIMITS).unwrap();
    store.commit_episode(&plain_episode(store, "a", T0 + 1, RuntimeStatus::Suspended)).unwrap();

    assert!(store.claim_activities("w2", T0 + 2, T0 + 100, 10, &NO_LIMITS).unwrap().tasks.is_empty());
    assert_eq!(fixture.count("activity_tasks", "a"), 3, "waiting, not swept");
    // The running attempt may still finish; its result waits in the inbox.
    assert!(store.complete_activity(&key(0), "w", &ActivityResult::Completed(Payload::stored("0")), T0 + 3).unwrap());
    let waiting = store.messages("a", T0 + 3).unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].message, Message::ActivityCompleted { task_id: 0, output: Payload::stored("0") });
    // Nor does a retry wait that ends during the suspension make its task claimable.
    fixture.raw().execute("UPDATE activity_tasks SET visible_at = visible_at + 50 WHERE task_id = 1", []).unwrap();
    assert!(store.claim_activities("w2", T0 + 100, T0 + 200, 10, &NO_LIMITS).unwrap().tasks.is_empty());

    store.commit_episode(&plain_episode(store, "a", T0 + 200, RuntimeStatus::Running)).unwrap();
    assert_eq!(
        task_ids(&store.claim_activities("w2", T0 + 200, T0 + 300, 10, &NO_LIMITS).unwrap().tasks),
        [(1, 1), (2, 1)]
    );
}

#[test]
fn a_task_claimed_by_its_episode_is_leased_to_the_committer_as_its_first_attempt() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    let mut commit = first_episode(store, "a", "h", T0, &[0, 1]);
    commit.new_activities[0].claimed_until = Some(T0 + 100);
    store.commit_episode(&commit).unwrap();

    // Only the unclaimed task is left for a claim, by anyone, while the lease lives.
    assert_eq!(task_ids(&store.claim_activities("w", T0, T0 + 100, 10, &NO_LIMITS).unwrap().tasks), [(1, 1)]);
    assert!(store.renew_activity(&key(0), "h", T0 + 200).unwrap(), "the committer holds the lease");
    assert!(!store.renew_activity(&key(0), "w", T0 + 200).unwrap());
    // Its holder records the result like any claimed task's.
    assert!(store.complete_activity(&key(0), "h", &ActivityResult::Completed(Payload::stored("7")), T0 + 5).unwrap());
    let delivered: Vec<_> = store.messages("a", T0 + 5).unwrap().into_iter().map(|m| m.message).collect();
    assert_eq!(delivered, [Message::ActivityCompleted { task_id: 0, output: Payload::stored("7") }]);
}

#[test]
fn a_task_claimed_by_its_episode_is_reclaimed_as_attempt_two_once_the_lease_ends() {
    let fixture = Fixture::new();
    let store = &fixture.store;
    fixture.create("a", T0);
    let mut commit = first_episode(store, "a", "h", T0, &[0]);
    commit.new_activities[0].claimed_until = Some(T0 + 100);
    store.commit_episode(&commit).unwrap();
    assert!(store.claim_activities("w", T0 + 99, T0 + 200, 10, &NO_LIMITS).unwrap().tasks.is_empty());
    // The committing host died with the task.
    assert_eq!(task_ids(&store.claim_activities("w", T0 + 100, T0 + 200, 10, &NO_LIMITS).unwrap().tasks), [(0, 2)]);
}

#[test]
fn an_activity_result_is_committed_without_an_fsync_of_its_own() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("w", T0, T0 + 100, 3, &NO_LIMITS).unwrap();
    let before = store.write_stats();
    assert!(store.complete_activity(&key(0), "w", &ActivityResult::Completed(Payload::stored("1")), T0 + 1).unwrap());
    let retry = ActivityResult::Retry { failure: Failure::new("Flaky", "again"), next_attempt_at: T0 + 50 };
    assert!(store.complete_activity(&key(1), "w", &retry, T0 + 2).unwrap());
    let after = store.write_stats();
    assert_eq!(after.commits - before.commits, 2);
    assert_eq!(after.durable_commits, before.durable_commits, "results are redoable writes");

    // They are written all the same, for this process and any other.
    assert_eq!(fixture.reopen().messages("a", T0 + 2).unwrap().len(), 2);
}

/// Calls `record_activity_then`, beginning the episode, and returns what it answered.
fn complete_and_begin(store: &crate::SqliteStore, task: u64, owner: &str, now: u64) -> crate::Recorded {
    let (tx, rx) = std::sync::mpsc::channel();
    let result = ActivityResult::Completed(Payload::from_u64(task));
    store.record_activity_then(
        key(task),
        owner.into(),
        (result, Vec::new(), now, Some(now + 100)),
        Box::new(move |recorded| tx.send(recorded).unwrap()),
    );
    rx.recv().unwrap().unwrap()
}

#[test]
fn recording_a_result_can_begin_the_episode_that_consumes_it_in_the_same_commit() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("w", T0, T0 + 1_000, 3, &NO_LIMITS).unwrap();
    let before = store.write_stats();
    let done = complete_and_begin(store, 0, "w", T0 + 1);
    assert!(done.recorded);
    let episode = done.episode.expect("the instance was free to lock");
    assert_eq!(episode.instance.instance_id, "a");
    let messages: Vec<_> = episode.messages.into_iter().map(|m| m.message).collect();
    assert_eq!(messages, [Message::ActivityCompleted { task_id: 0, output: Payload::stored("0") }]);
    assert_eq!(store.write_stats().commits - before.commits, 1, "one commit for both");
    assert!(store.begin_episode("a", "other", T0 + 2, T0 + 200).unwrap().is_none(), "locked for w");

    // Locked by another owner: the result is recorded, the episode is left to that owner.
    assert!(store.begin_episode("a", "other", T0 + 101, T0 + 500).unwrap().is_some());
    let done = complete_and_begin(store, 1, "w", T0 + 102);
    assert!(done.recorded && done.episode.is_none());
    assert_eq!(store.messages("a", T0 + 102).unwrap().len(), 2);

    // A lost lease records nothing and begins nothing.
    let done = complete_and_begin(store, 2, "not-the-holder", T0 + 103);
    assert!(!done.recorded && done.episode.is_none());
    assert_eq!(store.messages("a", T0 + 103).unwrap().len(), 2);
}
