//! The activity queue: claims, leases, reclaims and completions.

use super::{Fixture, T0, first_episode};
use crate::{ActivityResult, ActivityTaskKey, HistoryStore};
use reprise_core::{Failure, Message};

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
    assert!(store.claim_activities("w1", T0 - 1, T0 + 100, 10).unwrap().is_empty());

    let first = store.claim_activities("w1", T0, T0 + 100, 2).unwrap();
    assert_eq!(task_ids(&first), [(0, 1), (1, 1)]);
    assert!(first.iter().all(|t| t.lease_until == T0 + 100 && t.name == "say"));
    assert_eq!(task_ids(&store.claim_activities("w2", T0, T0 + 100, 10).unwrap()), [(2, 1)]);
    assert!(store.claim_activities("w2", T0 + 99, T0 + 200, 10).unwrap().is_empty(), "leases are live");

    // w1 crashed: once its leases end, its tasks go out again as the next attempt.
    let again = store.claim_activities("w3", T0 + 100, T0 + 300, 10).unwrap();
    assert_eq!(task_ids(&again), [(0, 2), (1, 2), (2, 2)]);
    assert!(again.iter().all(|t| t.lease_until == T0 + 300));
    assert_eq!(task_ids(&store.claim_activities("w4", T0 + 300, T0 + 400, 1).unwrap()), [(0, 3)]);
}

#[test]
fn a_renewed_lease_is_not_reclaimed() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("w1", T0, T0 + 100, 1).unwrap();
    assert!(store.renew_activity(&key(0), "w1", T0 + 500).unwrap());
    assert!(!store.renew_activity(&key(0), "w2", T0 + 900).unwrap(), "not w2's lease");
    assert!(!store.renew_activity(&key(1), "w1", T0 + 900).unwrap(), "never claimed");
    let claimed = store.claim_activities("w2", T0 + 100, T0 + 600, 10).unwrap();
    assert_eq!(task_ids(&claimed), [(1, 1), (2, 1)]);
    assert_eq!(task_ids(&store.claim_activities("w2", T0 + 500, T0 + 600, 10).unwrap()), [(0, 2)]);
}

#[test]
fn completing_enqueues_the_result_for_the_instance() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("w", T0, T0 + 100, 2).unwrap();
    let failure = Failure::new("Timeout", "too slow").with_details("after 3s");

    assert!(store.complete_activity(&key(1), "w", &ActivityResult::Failed(failure.clone()), T0 + 5).unwrap());
    assert!(store.complete_activity(&key(0), "w", &ActivityResult::Completed("42".into()), T0 + 6).unwrap());

    let messages = store.messages("a", T0 + 6).unwrap();
    let delivered: Vec<_> = messages.iter().map(|m| (m.execution, m.message.clone())).collect();
    assert_eq!(
        delivered,
        [
            (1, Message::ActivityFailed { task_id: 1, failure }),
            (1, Message::ActivityCompleted { task_id: 0, output: "42".into() }),
        ]
    );
    assert!(store.messages("a", T0 + 5).unwrap().len() == 1, "each result is visible from its completion");
    assert_eq!(store.ready_instances("h", T0 + 6, 10).unwrap(), ["a"]);
    // Completed tasks are gone for good.
    assert_eq!(task_ids(&store.claim_activities("w", T0 + 1_000, T0 + 2_000, 10).unwrap()), [(2, 1)]);
}

#[test]
fn a_lost_lease_completes_nothing() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("slow", T0, T0 + 100, 1).unwrap();
    let reclaimed = store.claim_activities("fast", T0 + 100, T0 + 200, 1).unwrap();
    assert_eq!(task_ids(&reclaimed), [(0, 2)]);

    let before = fixture.dump();
    let late = store.complete_activity(&key(0), "slow", &ActivityResult::Completed("old".into()), T0 + 150);
    assert!(!late.unwrap());
    assert!(!store.complete_activity(&key(9), "slow", &ActivityResult::Completed("x".into()), T0 + 150).unwrap());
    assert_eq!(fixture.dump(), before, "a lost lease writes nothing");

    assert!(store.complete_activity(&key(0), "fast", &ActivityResult::Completed("new".into()), T0 + 160).unwrap());
    let messages = store.messages("a", T0 + 160).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].message, Message::ActivityCompleted { task_id: 0, output: "new".into() });
    // A second completion of the same task finds nothing to complete.
    assert!(!store.complete_activity(&key(0), "fast", &ActivityResult::Completed("new".into()), T0 + 170).unwrap());
}

#[test]
fn a_completion_for_a_finished_instance_enqueues_nothing() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("w", T0, T0 + 10_000, 1).unwrap();
    // Finish the instance behind the store's back (as a terminate would) with the task leased.
    fixture.raw().execute("UPDATE instances SET status = 'Completed' WHERE instance_id = 'a'", []).unwrap();

    assert!(store.complete_activity(&key(0), "w", &ActivityResult::Completed("1".into()), T0 + 5).unwrap());
    let inbox_rows: i64 =
        fixture.raw().query_row("SELECT count(*) FROM inbox WHERE instance_id = 'a'", [], |r| r.get(0)).unwrap();
    assert_eq!(inbox_rows, 0);
}

#[test]
fn a_completion_for_another_execution_enqueues_nothing() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    store.claim_activities("w", T0, T0 + 10_000, 1).unwrap();
    fixture.raw().execute("UPDATE instances SET execution = 2 WHERE instance_id = 'a'", []).unwrap();

    assert!(store.complete_activity(&key(0), "w", &ActivityResult::Completed("1".into()), T0 + 5).unwrap());
    let inbox_rows: i64 = fixture.raw().query_row("SELECT count(*) FROM inbox", [], |r| r.get(0)).unwrap();
    assert_eq!(inbox_rows, 0);
}

#[test]
fn leftover_tasks_of_a_finished_instance_are_swept_not_run() {
    let fixture = with_three_tasks();
    let store = &fixture.store;
    // Task 0 is held when the instance finishes; its worker then crashes.
    store.claim_activities("crashed", T0, T0 + 100, 1).unwrap();
    fixture.raw().execute("UPDATE instances SET status = 'Failed' WHERE instance_id = 'a'", []).unwrap();

    assert!(store.claim_activities("w", T0 + 100, T0 + 200, 10).unwrap().is_empty());
    let task_rows: i64 = fixture.raw().query_row("SELECT count(*) FROM activity_tasks", [], |r| r.get(0)).unwrap();
    assert_eq!(task_rows, 0);
}
