//! Flow control in the claim: concurrency limits, keys, token buckets, order and throttled marks.

use super::{Fixture, T0, first_episode};
use crate::{
    ActivityResult, ActivityTask, ActivityTaskKey, FlowLimit, FlowLimits, HistoryStore, KeyPointer, Rate, TaskState,
};
use reprise_core::{Failure, Payload, Timestamp};

/// A lease long enough to outlast every test.
const LEASE: Timestamp = 600_000;

/// Instance `instance_id`, running, with one task per entry of `tasks` (its activity and key),
/// numbered from 0 and enqueued at `at` in that order.
fn enqueue(fixture: &Fixture, instance_id: &str, at: Timestamp, tasks: &[(&str, Option<&str>)]) {
    fixture.create(instance_id, at);
    let ids: Vec<u64> = (0..tasks.len() as u64).collect();
    let mut commit = first_episode(&fixture.store, instance_id, "h", at, &ids);
    for (task, (name, key)) in commit.new_activities.iter_mut().zip(tasks) {
        task.name = name.to_string();
        task.flow_key = key.map(str::to_string);
    }
    fixture.store.commit_episode(&commit).unwrap();
}

fn limits(name: &str, concurrency: Option<u32>, rate: Option<&str>) -> FlowLimits {
    let mut limits = FlowLimits::default();
    let rate = rate.map(|r| Rate::parse(r, None).unwrap());
    let key = Some(KeyPointer::new("/customer").unwrap());
    limits.set(name, FlowLimit::new(concurrency, rate, key).unwrap());
    limits
}

fn ids(tasks: &[ActivityTask]) -> Vec<(&str, u64)> {
    tasks.iter().map(|t| (t.key.instance_id.as_str(), t.key.task_id)).collect()
}

fn done(store: &dyn HistoryStore, task: &ActivityTask, owner: &str, now: Timestamp) {
    let result = ActivityResult::Completed(Payload::stored("null"));
    assert!(store.complete_activity(&task.key, owner, &result, now).unwrap());
}

/// Live leases of `name` at `now`, read from the rows behind the store's back.
fn live(fixture: &Fixture, name: &str, now: Timestamp) -> i64 {
    fixture
        .raw()
        .query_row(
            "SELECT count(*) FROM activity_tasks WHERE name = ?1 AND lease_owner IS NOT NULL AND lease_until > ?2",
            rusqlite::params![name, now as i64],
            |row| row.get(0),
        )
        .unwrap()
}

#[test]
fn a_concurrency_limit_never_lets_more_leases_live_across_processes() {
    let fixture = Fixture::new();
    let charges: Vec<(&str, Option<&str>)> = vec![("charge", None); 12];
    enqueue(&fixture, "a", T0, &charges);
    enqueue(&fixture, "b", T0 + 1, &[("email", None), ("email", None)]);
    let limits = limits("charge", Some(3), None);
    // Two processes on the file, claiming and finishing in turn.
    let other = fixture.reopen();
    let stores: [&dyn HistoryStore; 2] = [&fixture.store, &other];

    let first = stores[0].claim_activities("w0", T0 + 2, T0 + LEASE, 10, &limits).unwrap();
    assert_eq!(ids(&first.tasks), [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)], "email is not held up");
    assert_eq!(first.deferred.get("charge"), Some(&9));
    assert_eq!(first.next_token_at, None, "no rate limit held anything back");
    let mut running: Vec<(usize, ActivityTask)> = first.tasks.into_iter().map(|t| (0, t)).collect();
    running.retain(|(_, t)| t.name == "charge");

    let mut order = Vec::new();
    let mut now = T0 + 3;
    for turn in 0..20 {
        now += 1;
        // Finish the oldest running attempt, then let the other process claim.
        if !running.is_empty() {
            let (holder, task) = running.remove(0);
            order.push(task.key.task_id);
            done(stores[holder], &task, &format!("w{holder}"), now);
        }
        let claimer = turn % 2;
        let claim = stores[claimer].claim_activities(&format!("w{claimer}"), now, now + LEASE, 10, &limits).unwrap();
        running.extend(claim.tasks.into_iter().map(|t| (claimer, t)));
        assert!(live(&fixture, "charge", now) <= 3, "turn {turn}: {} live", live(&fixture, "charge", now));
        assert!(running.len() <= 3);
    }
    assert_eq!(order, (0..12).collect::<Vec<_>>(), "each task in its turn, oldest first");
}

#[test]
fn a_lapsed_lease_frees_its_place_and_its_task_goes_first() {
    let fixture = Fixture::new();
    enqueue(&fixture, "a", T0, &[("gpu", None), ("gpu", None)]);
    let limits = limits("gpu", Some(1), None);
    let store = &fixture.store;
    assert_eq!(ids(&store.claim_activities("crashed", T0, T0 + 100, 10, &limits).unwrap().tasks), [("a", 0)]);
    assert!(store.claim_activities("w", T0 + 99, T0 + 1_000, 10, &limits).unwrap().tasks.is_empty());
    // The holder died: once its lease is over, the same task runs again, as the next attempt.
    let again = store.claim_activities("w", T0 + 100, T0 + 1_000, 10, &limits).unwrap().tasks;
    assert_eq!((again[0].key.task_id, again[0].attempt), (0, 2));
}

#[test]
fn keys_are_limited_independently_and_input_without_one_shares_a_group() {
    let fixture = Fixture::new();
    let (c1, c2) = (Some("\"c-1\""), Some("\"c-2\""));
    enqueue(&fixture, "a", T0, &[("charge", c1), ("charge", c1), ("charge", c2), ("charge", None), ("charge", None)]);
    let limits = limits("charge", Some(1), None);
    let store = &fixture.store;
    let claim = store.claim_activities("w", T0, T0 + LEASE, 10, &limits).unwrap();
    assert_eq!(ids(&claim.tasks), [("a", 0), ("a", 2), ("a", 3)], "one of c-1, one of c-2, one without a key");
    assert_eq!(claim.deferred.get("charge"), Some(&2));
    let keys: Vec<(u64, Option<String>)> =
        store.pending_tasks("a", T0).unwrap().into_iter().map(|t| (t.task_id, t.flow_key)).collect();
    assert_eq!(keys[1], (1, Some("\"c-1\"".to_string())), "the key is stored with the task");

    // c-2 finishing frees c-2 only.
    done(store, &claim.tasks[1], "w", T0 + 1);
    assert!(store.claim_activities("w", T0 + 1, T0 + LEASE, 10, &limits).unwrap().tasks.is_empty());
    done(store, &claim.tasks[0], "w", T0 + 2);
    assert_eq!(ids(&store.claim_activities("w", T0 + 2, T0 + LEASE, 10, &limits).unwrap().tasks), [("a", 1)]);
    done(store, &claim.tasks[2], "w", T0 + 3);
    assert_eq!(ids(&store.claim_activities("w", T0 + 3, T0 + LEASE, 10, &limits).unwrap().tasks), [("a", 4)]);
}

#[test]
fn a_token_bucket_refills_with_the_times_passed_in_and_holds_across_processes() {
    let fixture = Fixture::new();
    enqueue(&fixture, "a", T0, &[("mail", None); 8]);
    // 2 per second, a burst of 2: a token every 500 ms.
    let limits = limits("mail", None, Some("2/s"));
    let store = &fixture.store;
    let other = fixture.reopen();
    let claim = |store: &dyn HistoryStore, now| store.claim_activities("w", now, now + LEASE, 10, &limits).unwrap();

    let burst = claim(store, T0);
    assert_eq!(burst.tasks.len(), 2, "the burst");
    assert_eq!(burst.next_token_at, Some(T0 + 500));
    assert_eq!(burst.deferred.get("mail"), Some(&6));
    let early = claim(&other, T0 + 499);
    assert!(early.tasks.is_empty(), "the other process sees the same, empty, bucket");
    assert_eq!(early.next_token_at, Some(T0 + 500));
    assert_eq!(ids(&claim(&other, T0 + 500).tasks), [("a", 2)]);
    assert_eq!(claim(store, T0 + 600).next_token_at, Some(T0 + 1_000));
    assert_eq!(ids(&claim(store, T0 + 1_000).tasks), [("a", 3)]);
    // A long quiet spell refills the bucket to its burst, no more.
    let refilled = claim(store, T0 + 60_000);
    assert_eq!(ids(&refilled.tasks), [("a", 4), ("a", 5)]);
    assert_eq!(refilled.next_token_at, Some(T0 + 60_500));
}

#[test]
fn a_retry_keeps_its_place_in_its_group_once_it_is_due() {
    let fixture = Fixture::new();
    enqueue(&fixture, "a", T0, &[("gpu", None), ("gpu", None), ("gpu", None)]);
    let limits = limits("gpu", Some(1), None);
    let store = &fixture.store;
    let first = store.claim_activities("w", T0, T0 + LEASE, 10, &limits).unwrap().tasks;
    let retry = ActivityResult::Retry { failure: Failure::new("Busy", "later"), next_attempt_at: T0 + 1_000 };
    assert!(store.complete_activity(&first[0].key, "w", &retry, T0 + 10).unwrap());
    // While task 0 waits for its retry, the next one runs.
    let second = store.claim_activities("w", T0 + 10, T0 + LEASE, 10, &limits).unwrap().tasks;
    assert_eq!(ids(&second), [("a", 1)]);
    done(store, &second[0], "w", T0 + 1_000);
    // Due again, task 0 is the oldest of its group: it goes before task 2.
    let third = store.claim_activities("w", T0 + 1_000, T0 + LEASE, 10, &limits).unwrap().tasks;
    assert_eq!((third[0].key.task_id, third[0].attempt), (0, 2));
}

#[test]
fn held_back_tasks_are_marked_throttled_until_a_claim_takes_them() {
    let fixture = Fixture::new();
    enqueue(&fixture, "a", T0, &[("charge", None), ("charge", None), ("charge", None), ("email", None)]);
    let limits = limits("charge", Some(1), None);
    let store = &fixture.store;
    let claimed = store.claim_activities("w", T0, T0 + LEASE, 10, &limits).unwrap().tasks;
    assert_eq!(ids(&claimed), [("a", 0), ("a", 3)]);
    let states =
        |now| -> Vec<TaskState> { store.pending_tasks("a", now).unwrap().into_iter().map(|t| t.state).collect() };
    let running = TaskState::Running { lease_until: T0 + LEASE };
    let throttled = TaskState::Throttled { since: T0 };
    assert_eq!(states(T0), [running, throttled, throttled, running]);
    assert_eq!(store.counts(T0).unwrap().activity_tasks_throttled, [("charge".to_string(), 2)]);

    // Held back again later, a task keeps the time it was first held back.
    assert!(store.claim_activities("w", T0 + 50, T0 + LEASE, 10, &limits).unwrap().tasks.is_empty());
    assert_eq!(states(T0 + 50)[1], throttled);

    done(store, &claimed[0], "w", T0 + 60);
    let next = store.claim_activities("w", T0 + 60, T0 + 60 + LEASE, 10, &limits).unwrap().tasks;
    assert_eq!(ids(&next), [("a", 1)]);
    assert_eq!(states(T0 + 60)[..2], [TaskState::Running { lease_until: T0 + 60 + LEASE }, throttled]);
    assert_eq!(store.counts(T0 + 60).unwrap().activity_tasks_throttled, [("charge".to_string(), 1)]);

    // Without limits (another host's configuration), a throttled task is simply claimed.
    let rest = store.claim_activities("x", T0 + 61, T0 + LEASE, 10, &FlowLimits::default()).unwrap().tasks;
    assert_eq!(ids(&rest), [("a", 2)]);
    assert!(store.counts(T0 + 61).unwrap().activity_tasks_throttled.is_empty());
}

#[test]
fn a_task_no_claim_reached_is_queued_not_throttled() {
    let fixture = Fixture::new();
    enqueue(&fixture, "a", T0, &[("charge", None), ("charge", None)]);
    let limits = limits("charge", Some(5), None);
    let store = &fixture.store;
    // One slot: the claim stops after the first task, without judging the second.
    let claim = store.claim_activities("w", T0, T0 + LEASE, 1, &limits).unwrap();
    assert!(claim.deferred.is_empty());
    let states: Vec<TaskState> = store.pending_tasks("a", T0).unwrap().into_iter().map(|t| t.state).collect();
    assert_eq!(states, [TaskState::Running { lease_until: T0 + LEASE }, TaskState::Queued]);
    let key = ActivityTaskKey { instance_id: "a".into(), execution: 1, task_id: 1 };
    assert!(store.pending_tasks("nobody", T0).unwrap().is_empty());
    assert_eq!(store.claim_activities("w", T0, T0 + LEASE, 1, &limits).unwrap().tasks[0].key, key);
}
