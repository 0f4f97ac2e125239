//! Rewinds and restarts: each one transaction, refused whole when the instance moved on.

use super::*;
use crate::NO_LIMITS;
use crate::{InstanceRewind, RewindCommit, StoreError};
use reprise_core::{Message, OutgoingMessage};

/// The rewind of `instance_id` (failed, with `history_len` events) that enqueues `tasks` and
/// the `Rewind` message plus a timer for task 9 at `T0 + 1_000`.
fn rewind_of(instance_id: &str, history_len: u64, tasks: &[TaskId]) -> RewindCommit {
    let to_self = |message, visible_at| OutgoingMessage {
        instance_id: instance_id.into(),
        message,
        visible_at,
        execution: Some(1),
    };
    let rewind = Message::Rewind { reason: "fixed".into(), replay_from: 0, undone: vec![history_len - 1] };
    RewindCommit {
        rewinds: vec![InstanceRewind {
            instance_id: instance_id.into(),
            execution: 1,
            expected_history_len: history_len,
            activities: tasks
                .iter()
                .map(|&task_id| NewActivityTask {
                    task_id,
                    name: "say".into(),
                    input: Payload::stored("{}"),
                    options: ActivityOptions::default(),
                    claimed_until: None,
                    flow_key: None,
                })
                .collect(),
            messages: vec![to_self(rewind, T0 + 10), to_self(Message::TimerFired { task_id: 9 }, T0 + 1_000)],
        }],
        now: T0 + 10,
        ..RewindCommit::default()
    }
}

#[test]
fn a_rewind_makes_a_failed_instance_run_again_with_its_work_back_in_flight() {
    let f = Fixture::new();
    f.create_with_status("i", T0, RuntimeStatus::Failed);
    let before = f.store.instance("i").unwrap().unwrap();
    assert!(before.failure.is_some() && before.completed_at.is_some());

    f.store.rewind(&rewind_of("i", before.history_len, &[0])).expect("rewind");
    let after = f.store.instance("i").unwrap().unwrap();
    assert_eq!(after.status, RuntimeStatus::Running);
    assert_eq!((after.failure, after.completed_at, after.output), (None, None, None));
    assert_eq!(f.store.history("i", 1).unwrap().len() as u64, before.history_len, "the history is not touched");

    let due = f.store.messages("i", T0 + 10).unwrap();
    assert!(matches!(due.as_slice(), [m] if matches!(m.message, Message::Rewind { .. })));
    assert_eq!(f.store.messages("i", T0 + 1_000).unwrap().len(), 2, "the timer is set at its fire time");
    assert_eq!(f.store.ready_instances("h", T0 + 10, 10).unwrap(), ["i"]);
    let tasks = f.store.claim_activities("w", T0 + 10, T0 + 60_000, 10, &NO_LIMITS).unwrap().tasks;
    assert_eq!(tasks.iter().map(|t| (t.key.task_id, t.attempt, t.created_at)).collect::<Vec<_>>(), [(0, 1, T0 + 10)]);
}

#[test]
fn a_rewind_of_an_instance_that_is_not_failed_or_moved_on_writes_nothing() {
    let f = Fixture::new();
    f.create_with_status("done", T0, RuntimeStatus::Completed);
    f.create_with_status("failed", T0, RuntimeStatus::Failed);
    let len = |id| f.store.instance(id).unwrap().unwrap().history_len;
    let before = f.dump();

    let completed = f.store.rewind(&rewind_of("done", len("done"), &[0])).unwrap_err();
    assert!(matches!(completed, StoreError::Conflict { .. }), "{completed}");
    let moved = f.store.rewind(&rewind_of("failed", len("failed") + 1, &[0])).unwrap_err();
    assert!(matches!(moved, StoreError::Conflict { .. }), "{moved}");
    // Two instances in one rewind: the second's refusal undoes the first's.
    let mut both = rewind_of("failed", len("failed"), &[0]);
    both.rewinds.extend(rewind_of("done", len("done"), &[]).rewinds);
    assert!(f.store.rewind(&both).is_err());
    assert_eq!(f.dump(), before);
}

#[test]
fn a_task_still_held_by_a_worker_is_kept_by_the_rewind() {
    let f = Fixture::new();
    f.create("i", T0);
    f.store.commit_episode(&first_episode(&f.store, "i", "h", T0, &[0])).unwrap();
    let held = f.store.claim_activities("w", T0, T0 + 60_000, 10, &NO_LIMITS).unwrap().tasks;
    assert_eq!(held.len(), 1);
    f.store.commit_episode(&plain_episode(&f.store, "i", T0 + 1, RuntimeStatus::Failed)).unwrap();
    assert_eq!(f.count("activity_tasks", "i"), 1, "a leased task outlives the failure");

    let len = f.store.instance("i").unwrap().unwrap().history_len;
    f.store.rewind(&rewind_of("i", len, &[0])).unwrap();
    assert_eq!(f.count("activity_tasks", "i"), 1);
    // The worker's result now reaches the running instance.
    let result = crate::ActivityResult::Completed(Payload::stored("1"));
    assert!(f.store.complete_activity(&held[0].key, "w", &result, T0 + 20).unwrap());
    let messages = f.store.messages("i", T0 + 20).unwrap();
    assert!(messages.iter().any(|m| matches!(m.message, Message::ActivityCompleted { task_id: 0, .. })));
}

#[test]
fn a_restart_replaces_a_finished_instance_by_a_fresh_execution_at_once() {
    let f = Fixture::new();
    f.create("i", T0);
    f.store.commit_episode(&first_episode(&f.store, "i", "h", T0, &[0])).unwrap();
    let held = f.store.claim_activities("w", T0, T0 + 60_000, 10, &NO_LIMITS).unwrap().tasks;
    f.store.commit_episode(&plain_episode(&f.store, "i", T0 + 1, RuntimeStatus::Completed)).unwrap();

    let new = NewInstance { created_at: T0 + 5, ..new_instance("i", T0 + 5) };
    f.store.restart(&new).expect("restart");
    let record = f.store.instance("i").unwrap().unwrap();
    assert_eq!((record.status, record.execution, record.history_len), (RuntimeStatus::Pending, 2, 0));
    assert_eq!((record.output, record.component, record.created_at), (None, None, T0 + 5));
    assert_eq!(record.input.as_str(), "\"world\"");
    assert_eq!(f.count("history", "i"), 0, "the old history is gone");
    let messages = f.store.messages("i", T0 + 5).unwrap();
    assert!(matches!(messages.as_slice(), [m] if m.execution == 2 && matches!(m.message, Message::Start { .. })));
    // A late result of the old execution cannot reach the new one.
    let late = crate::ActivityResult::Completed(Payload::stored("1"));
    f.store.complete_activity(&held[0].key, "w", &late, T0 + 6).unwrap();
    assert_eq!(f.store.messages("i", T0 + 6).unwrap().len(), 1);
}

#[test]
fn only_a_finished_instance_can_be_restarted_under_its_id() {
    let f = Fixture::new();
    f.create_with_status("running", T0, RuntimeStatus::Running);
    let before = f.dump();
    let running = f.store.restart(&new_instance("running", T0 + 5)).unwrap_err();
    assert!(matches!(running, StoreError::NotFinished { status: RuntimeStatus::Running, .. }), "{running}");
    let missing = f.store.restart(&new_instance("missing", T0 + 5)).unwrap_err();
    assert!(matches!(missing, StoreError::InstanceNotFound(_)), "{missing}");
    assert_eq!(f.dump(), before);
}
