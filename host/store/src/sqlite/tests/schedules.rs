use super::{Fixture, T0, new_instance};
use crate::{HistoryStore, NewSchedule, NewScheduleRun, SCHEDULE_RUNS_KEPT, ScheduleFire, StoreError};
use reprise_core::schedule::{Overlap, RunKind, RunOutcome, ScheduleName, ScheduleSpec, Trigger};
use reprise_core::{Message, Payload, RuntimeStatus};

fn name() -> ScheduleName {
    ScheduleName::new("every-minute").unwrap()
}

fn spec() -> ScheduleSpec {
    ScheduleSpec {
        orchestrator: "greet".into(),
        input: Payload::stored("\"world\""),
        trigger: Trigger::Every { interval_ms: 60_000 },
        overlap: Overlap::Skip,
        catch_up_ms: 60_000,
        start_at: None,
        end_at: None,
    }
}

fn create(fixture: &Fixture) {
    let new = NewSchedule { name: name(), spec: spec(), paused: false, now: T0 };
    assert!(fixture.store.save_schedule(&new, false).unwrap());
}

/// The fire of one slot on `version`, starting its instance `id`.
fn fire_slot(version: u64, slot: u64, id: &str) -> ScheduleFire {
    ScheduleFire {
        name: name(),
        expected_version: version,
        cursor: slot,
        buffered: None,
        manual: 0,
        missed: 0,
        runs: vec![NewScheduleRun {
            slot: Some(slot),
            kind: RunKind::Scheduled,
            outcome: RunOutcome::Started,
            start: Some(new_instance(id, slot)),
            terminate: None,
            instance_id: None,
        }],
        now: slot,
    }
}

#[test]
fn a_schedule_is_saved_read_listed_replaced_and_deleted() {
    let fixture = Fixture::new();
    create(&fixture);
    let record = fixture.store.schedule(&name()).unwrap().expect("saved");
    assert_eq!((record.spec, record.cursor, record.paused, record.version), (spec(), T0, false, 0));
    let again = NewSchedule { name: name(), spec: spec(), paused: false, now: T0 };
    assert!(
        matches!(fixture.store.save_schedule(&again, false), Err(StoreError::ScheduleExists(n)) if n == "every-minute")
    );
    let changed =
        NewSchedule { spec: ScheduleSpec { overlap: Overlap::Allow, ..spec() }, paused: true, now: T0 + 5, ..again };
    assert!(!fixture.store.save_schedule(&changed, true).unwrap(), "replaced, not created");
    let record = fixture.store.schedule(&name()).unwrap().unwrap();
    assert_eq!(record.spec.overlap, Overlap::Allow);
    assert!(!record.paused, "a replaced schedule keeps its own paused state");
    assert_eq!(record.cursor, T0, "and its progress");
    assert_eq!(fixture.store.list_schedules().unwrap().len(), 1);
    fixture.store.delete_schedule(&name()).unwrap();
    assert!(fixture.store.schedule(&name()).unwrap().is_none());
    assert!(matches!(fixture.store.delete_schedule(&name()), Err(StoreError::ScheduleNotFound(_))));
}

#[test]
fn a_fire_creates_its_instance_and_records_the_progress_in_one_write() {
    let fixture = Fixture::new();
    create(&fixture);
    let slot = T0 + 60_000;
    let outcomes = fixture.store.fire_schedule(&fire_slot(0, slot, "every-minute@1")).unwrap();
    assert_eq!(outcomes, [RunOutcome::Started]);
    let instance = fixture.store.instance("every-minute@1").unwrap().expect("the run's instance");
    assert_eq!(instance.status, RuntimeStatus::Pending);
    let record = fixture.store.schedule(&name()).unwrap().unwrap();
    assert_eq!((record.cursor, record.fired, record.version), (slot, 1, 1));
    assert_eq!(record.last_instance.as_deref(), Some("every-minute@1"));
    let runs = fixture.store.schedule_runs(&name(), 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].slot, runs[0].outcome), (Some(slot), RunOutcome::Started));
}

#[test]
fn a_retried_fire_is_refused_and_a_slot_taken_elsewhere_is_not_fired_again() {
    let fixture = Fixture::new();
    create(&fixture);
    let slot = T0 + 60_000;
    fixture.store.fire_schedule(&fire_slot(0, slot, "every-minute@1")).unwrap();
    // The same write again (a retry of a write that landed): the version moved on.
    let retried = fixture.store.fire_schedule(&fire_slot(0, slot, "every-minute@1")).unwrap_err();
    assert!(matches!(retried, StoreError::Conflict { .. }), "{retried}");
    // Decided again on the new version: the instance id is taken, so nothing starts.
    let outcomes = fixture.store.fire_schedule(&fire_slot(1, slot, "every-minute@1")).unwrap();
    assert_eq!(outcomes, [RunOutcome::AlreadyStarted]);
    assert_eq!(fixture.store.schedule(&name()).unwrap().unwrap().fired, 1);
    assert_eq!(fixture.store.list_instances(&Default::default()).unwrap().len(), 1);
}

#[test]
fn two_store_handles_on_one_file_fire_a_slot_once() {
    let fixture = Fixture::new();
    create(&fixture);
    let other = fixture.reopen();
    let slot = T0 + 60_000;
    // Both decided on version 0, from their own process; one wins, the other is refused.
    let threads: Vec<_> = [fixture.store.fire_schedule(&fire_slot(0, slot, "every-minute@1")), {
        other.fire_schedule(&fire_slot(0, slot, "every-minute@1"))
    }]
    .into_iter()
    .collect();
    let won = threads.iter().filter(|r| matches!(r, Ok(o) if o == &[RunOutcome::Started])).count();
    let lost = threads.iter().filter(|r| matches!(r, Err(StoreError::Conflict { .. }))).count();
    assert_eq!((won, lost), (1, 1), "{threads:?}");
    // Even on a version it read right, a second handle cannot start the slot again.
    let version = other.schedule(&name()).unwrap().unwrap().version;
    assert_eq!(other.fire_schedule(&fire_slot(version, slot, "every-minute@1")).unwrap(), [RunOutcome::AlreadyStarted]);
    assert_eq!(fixture.store.schedule(&name()).unwrap().unwrap().fired, 1);
}

#[test]
fn two_threads_firing_at_once_start_each_slot_once() {
    let fixture = Fixture::new();
    create(&fixture);
    let stores = [std::sync::Arc::new(fixture.reopen()), std::sync::Arc::new(fixture.reopen())];
    let handles: Vec<_> = stores
        .iter()
        .map(|store| {
            let store = store.clone();
            std::thread::spawn(move || {
                // Each handle fires slots 1..=20, deciding again after every conflict.
                for k in 1..=20u64 {
                    let slot = T0 + k * 60_000;
                    loop {
                        let record = store.schedule(&name()).unwrap().unwrap();
                        if record.cursor >= slot {
                            break;
                        }
                        match store.fire_schedule(&fire_slot(record.version, slot, &format!("every-minute@{k}"))) {
                            Ok(_) => break,
                            Err(StoreError::Conflict { .. }) => continue,
                            Err(other) => panic!("{other}"),
                        }
                    }
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let record = fixture.store.schedule(&name()).unwrap().unwrap();
    assert_eq!(record.fired, 20);
    assert_eq!(fixture.store.list_instances(&Default::default()).unwrap().len(), 20);
}

#[test]
fn skipped_missed_and_buffered_runs_are_counted_and_recorded() {
    let fixture = Fixture::new();
    create(&fixture);
    fixture.store.fire_schedule(&fire_slot(0, T0 + 60_000, "every-minute@1")).unwrap();
    let run = |slot, outcome, instance_id: Option<&str>| NewScheduleRun {
        slot: Some(slot),
        kind: RunKind::Scheduled,
        outcome,
        start: None,
        terminate: None,
        instance_id: instance_id.map(str::to_string),
    };
    let fire = ScheduleFire {
        name: name(),
        expected_version: 1,
        cursor: T0 + 240_000,
        buffered: Some(T0 + 180_000),
        manual: 0,
        missed: 3,
        runs: vec![
            run(T0 + 120_000, RunOutcome::Missed, None),
            run(T0 + 180_000, RunOutcome::Buffered, Some("every-minute@3")),
            run(T0 + 240_000, RunOutcome::Skipped, None),
        ],
        now: T0 + 240_000,
    };
    fixture.store.fire_schedule(&fire).unwrap();
    let record = fixture.store.schedule(&name()).unwrap().unwrap();
    assert_eq!((record.fired, record.skipped, record.missed), (1, 1, 3));
    assert_eq!(record.buffered, Some(T0 + 180_000));
    assert_eq!(record.last_instance.as_deref(), Some("every-minute@1"), "only a start is the latest run");
    let outcomes: Vec<_> = fixture.store.schedule_runs(&name(), 10).unwrap().iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [RunOutcome::Skipped, RunOutcome::Buffered, RunOutcome::Missed, RunOutcome::Started]);
}

#[test]
fn a_terminating_fire_sends_the_previous_run_its_termination() {
    let fixture = Fixture::new();
    create(&fixture);
    fixture.store.fire_schedule(&fire_slot(0, T0 + 60_000, "every-minute@1")).unwrap();
    let mut fire = fire_slot(1, T0 + 120_000, "every-minute@2");
    let terminate = Message::Terminate { reason: "next slot".into(), cascade: false };
    fire.runs[0].terminate = Some(("every-minute@1".into(), terminate.clone()));
    // A previous run that is gone does not fail the fire.
    fire.runs.insert(
        0,
        NewScheduleRun {
            terminate: Some(("purged-long-ago".into(), terminate.clone())),
            outcome: RunOutcome::Skipped,
            start: None,
            ..fire.runs[0].clone()
        },
    );
    fixture.store.fire_schedule(&fire).unwrap();
    let messages = fixture.store.messages("every-minute@1", T0 + 120_000).unwrap();
    assert!(messages.iter().any(|m| m.message == terminate), "{messages:?}");
    assert!(fixture.store.instance("every-minute@2").unwrap().is_some());
}

#[test]
fn pause_and_resume_move_the_cursor_forward_only() {
    let fixture = Fixture::new();
    create(&fixture);
    fixture.store.set_schedule_paused(&name(), true, None, T0 + 10).unwrap();
    assert!(fixture.store.schedule(&name()).unwrap().unwrap().paused);
    fixture.store.set_schedule_paused(&name(), false, Some(T0 + 600_000), T0 + 600_000).unwrap();
    let record = fixture.store.schedule(&name()).unwrap().unwrap();
    assert_eq!((record.paused, record.cursor, record.version), (false, T0 + 600_000, 2));
    fixture.store.set_schedule_paused(&name(), false, Some(T0), T0 + 700_000).unwrap();
    assert_eq!(fixture.store.schedule(&name()).unwrap().unwrap().cursor, T0 + 600_000, "never backwards");
    let missing = ScheduleName::new("nope").unwrap();
    assert!(matches!(
        fixture.store.set_schedule_paused(&missing, true, None, T0),
        Err(StoreError::ScheduleNotFound(_))
    ));
    assert!(matches!(
        fixture.store.fire_schedule(&ScheduleFire { name: missing, ..fire_slot(0, T0, "x") }),
        Err(StoreError::ScheduleNotFound(_))
    ));
}

#[test]
fn only_the_newest_runs_are_kept() {
    let fixture = Fixture::new();
    create(&fixture);
    for k in 0..(SCHEDULE_RUNS_KEPT as u64 + 10) {
        let slot = T0 + (k + 1) * 60_000;
        let mut fire = fire_slot(k, slot, &format!("every-minute@{k}"));
        fire.runs[0].start = None;
        fire.runs[0].outcome = RunOutcome::Skipped;
        fixture.store.fire_schedule(&fire).unwrap();
    }
    let runs = fixture.store.schedule_runs(&name(), 10_000).unwrap();
    assert_eq!(runs.len(), SCHEDULE_RUNS_KEPT);
    assert_eq!(runs[0].slot, Some(T0 + (SCHEDULE_RUNS_KEPT as u64 + 10) * 60_000), "newest first");
    assert_eq!(fixture.store.schedule(&name()).unwrap().unwrap().skipped, SCHEDULE_RUNS_KEPT as u64 + 10);
}

#[test]
fn a_deleted_schedule_takes_its_runs_but_not_its_instances() {
    let fixture = Fixture::new();
    create(&fixture);
    fixture.store.fire_schedule(&fire_slot(0, T0 + 60_000, "every-minute@1")).unwrap();
    fixture.store.delete_schedule(&name()).unwrap();
    let count: i64 = fixture.raw().query_row("SELECT count(*) FROM schedule_runs", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 0);
    assert!(fixture.store.instance("every-minute@1").unwrap().is_some());
}
