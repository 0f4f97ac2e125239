//! Schedules end to end: the real executor fires them on a manual clock (an hour of slots in
//! milliseconds), through each overlap policy, across a host that was down at fire time, with
//! two hosts on one database, and once on the system clock. The guest is `chain`: `chain` runs
//! to its end, `fan_out_then_wait` with no tasks parks until the event `go`, so a run can be
//! held unfinished for as long as a test needs.

use crate::harness::{Harness, Options, T0, test_runtime};
use reprise_core::schedule::{
    Overlap, RunOutcome, ScheduleName, ScheduleSpec, Trigger, manual_instance_id, slot_instance_id,
};
use reprise_core::{Payload, RuntimeStatus};
use reprise_executor::{ExecutorConfig, Host, SystemClock};
use reprise_runtime::Runtime;
use reprise_store::SqliteStore;
use reprise_tests::guests;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const MINUTE: u64 = 60_000;

/// The `k`-th minute slot after the harness's start (slots are at whole minutes since the epoch).
fn slot(k: u64) -> u64 {
    (T0 / MINUTE + k) * MINUTE
}

fn name(text: &str) -> ScheduleName {
    ScheduleName::new(text).unwrap()
}

fn every_minute(orchestrator: &str, input: &str, overlap: Overlap) -> ScheduleSpec {
    ScheduleSpec {
        orchestrator: orchestrator.into(),
        input: Payload::stored(input),
        trigger: Trigger::Every { interval_ms: MINUTE },
        overlap,
        catch_up_ms: MINUTE,
        start_at: None,
        end_at: None,
    }
}

/// The run of slot `k` of `schedule`.
fn run_id(schedule: &str, k: u64) -> String {
    slot_instance_id(&name(schedule), slot(k)).unwrap().into_string()
}

/// Whether the instance exists, and its status.
fn status(h: &Harness, id: &str) -> Option<RuntimeStatus> {
    h.host.store().instance(id).unwrap().map(|r| r.status)
}

/// Moves the clock to slot `k` and waits until the host has done all it can.
async fn at_slot(h: &Harness, k: u64) {
    h.clock.set(slot(k));
    h.settled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_of_slots_fires_once_each_on_a_virtual_clock() {
    let h = Harness::new(1024, &[guests::CHAIN]).await;
    let ticks = name("ticks");
    h.host.create_schedule(&ticks, every_minute("chain", r#"{"steps": 1}"#, Overlap::Skip), false).await.unwrap();
    for k in 1..=60 {
        at_slot(&h, k).await;
        assert_eq!(status(&h, &run_id("ticks", k)), Some(RuntimeStatus::Completed), "slot {k}");
    }
    let record = h.host.schedule_record(&ticks).await.unwrap();
    assert_eq!((record.fired, record.skipped, record.missed), (60, 0, 0));
    let all = h.host.store().list_instances(&Default::default()).unwrap();
    assert_eq!(all.len(), 60, "one instance per slot, no more");
    // Nothing more fires until the next slot, however often the host looks.
    h.clock.set(slot(61) - 1);
    h.settled().await;
    assert_eq!(h.host.store().list_instances(&Default::default()).unwrap().len(), 60);
    let metrics = h.host.render_metrics().await;
    assert!(metrics.contains(r#"reprise_schedule_fires_total{outcome="started",schedule="ticks"} 60"#), "{metrics}");
    h.stop().await;
}

/// A schedule under `overlap` whose runs park until `go`; returns the harness with slot 1's run
/// started and unfinished.
async fn parked_first_run(overlap: Overlap, schedule: &str) -> Harness {
    let h = Harness::new(1024, &[guests::CHAIN]).await;
    let spec =
        ScheduleSpec { catch_up_ms: 10 * MINUTE, ..every_minute("fan_out_then_wait", r#"{"tasks": 0}"#, overlap) };
    h.host.create_schedule(&name(schedule), spec, false).await.unwrap();
    at_slot(&h, 1).await;
    assert_eq!(status(&h, &run_id(schedule, 1)), Some(RuntimeStatus::Running), "{overlap}: slot 1 runs and waits");
    h
}

async fn finish(h: &Harness, id: &str) {
    h.host.raise_event(id, "go", "null").await.unwrap();
    let record = h.finished(id).await;
    assert_eq!(record.status, RuntimeStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_skips_a_slot_while_the_previous_run_is_unfinished() {
    let h = parked_first_run(Overlap::Skip, "skip").await;
    at_slot(&h, 2).await;
    assert_eq!(status(&h, &run_id("skip", 2)), None, "skipped");
    finish(&h, &run_id("skip", 1)).await;
    at_slot(&h, 3).await;
    assert_eq!(status(&h, &run_id("skip", 3)), Some(RuntimeStatus::Running), "the run had ended: the slot starts");
    let record = h.host.schedule_record(&name("skip")).await.unwrap();
    assert_eq!((record.fired, record.skipped), (2, 1));
    let view = h.host.describe_schedule(&name("skip")).await.unwrap();
    let outcomes: Vec<_> = view.runs.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [RunOutcome::Started, RunOutcome::Skipped, RunOutcome::Started]);
    assert_eq!(view.runs[2].status, Some(RuntimeStatus::Completed), "the first run's outcome shows");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_one_starts_one_waiting_slot_when_the_run_ends() {
    let h = parked_first_run(Overlap::BufferOne, "buffer").await;
    at_slot(&h, 2).await;
    at_slot(&h, 3).await;
    assert_eq!(status(&h, &run_id("buffer", 2)), None, "slot 2 waits");
    assert_eq!(status(&h, &run_id("buffer", 3)), None, "slot 3 is skipped: one waits already");
    assert_eq!(h.host.schedule_record(&name("buffer")).await.unwrap().buffered, Some(slot(2)));
    finish(&h, &run_id("buffer", 1)).await;
    h.settled().await;
    assert_eq!(status(&h, &run_id("buffer", 2)), Some(RuntimeStatus::Running), "the waiting slot starts");
    assert_eq!(status(&h, &run_id("buffer", 3)), None);
    let record = h.host.schedule_record(&name("buffer")).await.unwrap();
    assert_eq!((record.fired, record.skipped, record.buffered), (2, 1, None));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_runs_slots_side_by_side() {
    let h = parked_first_run(Overlap::Allow, "allow").await;
    at_slot(&h, 2).await;
    assert_eq!(status(&h, &run_id("allow", 1)), Some(RuntimeStatus::Running));
    assert_eq!(status(&h, &run_id("allow", 2)), Some(RuntimeStatus::Running));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_previous_ends_the_running_one_and_starts_the_slot() {
    let h = parked_first_run(Overlap::TerminatePrevious, "replace").await;
    at_slot(&h, 2).await;
    let first = h.finished(&run_id("replace", 1)).await;
    assert_eq!(first.status, RuntimeStatus::Terminated);
    assert_eq!(status(&h, &run_id("replace", 2)), Some(RuntimeStatus::Running));
    h.stop().await;
}

/// A host on `db` (new or existing), with the `chain` guest, taking leases as `owner`.
async fn host_on(db: &Path, owner: &str) -> Harness {
    Harness::on(db, Options { owner: owner.into(), ..Options::cache(1024) }, &[guests::CHAIN]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_down_across_fire_times_catches_up_within_the_window_and_counts_the_rest_as_missed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reprise.db");
    let h = host_on(&db, "host").await;
    let spec = ScheduleSpec { catch_up_ms: 3 * MINUTE, ..every_minute("chain", r#"{"steps": 0}"#, Overlap::Allow) };
    h.host.create_schedule(&name("late"), spec, false).await.unwrap();
    at_slot(&h, 1).await;
    assert_eq!(status(&h, &run_id("late", 1)), Some(RuntimeStatus::Completed));
    h.stop().await;

    // Down for ten minutes: slots 2 to 11 pass while no host runs.
    let h = host_on(&db, "host").await;
    at_slot(&h, 11).await;
    for k in 2..=7 {
        assert_eq!(status(&h, &run_id("late", k)), None, "slot {k} is older than the window");
    }
    for k in 8..=11 {
        assert_eq!(status(&h, &run_id("late", k)), Some(RuntimeStatus::Completed), "slot {k} is caught up");
    }
    let record = h.host.schedule_record(&name("late")).await.unwrap();
    assert_eq!((record.fired, record.missed), (5, 6));
    let view = h.host.describe_schedule(&name("late")).await.unwrap();
    assert!(view.runs.iter().any(|r| r.outcome == RunOutcome::Missed));

    // Restarted once more at the same time: nothing fires twice.
    h.stop().await;
    let h = host_on(&db, "host").await;
    at_slot(&h, 11).await;
    assert_eq!(h.host.schedule_record(&name("late")).await.unwrap().fired, 5);
    assert_eq!(h.host.store().list_instances(&Default::default()).unwrap().len(), 5);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_on_one_database_fire_each_slot_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reprise.db");
    let (a, b) = (host_on(&db, "host-a").await, host_on(&db, "host-b").await);
    a.host
        .create_schedule(&name("shared"), every_minute("chain", r#"{"steps": 1}"#, Overlap::Allow), false)
        .await
        .unwrap();
    for k in 1..=30 {
        // Both hosts see the slot at once, each on its own clock.
        a.clock.set(slot(k));
        b.clock.set(slot(k));
        a.settled().await;
        b.settled().await;
    }
    for k in 1..=30 {
        let record = a.finished(&run_id("shared", k)).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "slot {k}");
    }
    let record = a.host.schedule_record(&name("shared")).await.unwrap();
    assert_eq!(record.fired, 30);
    let runs = a.host.store().schedule_runs(&name("shared"), 1000).unwrap();
    assert_eq!(runs.len(), 30, "one recorded run per slot: {runs:?}");
    assert!(runs.iter().all(|r| r.outcome == RunOutcome::Started));
    assert_eq!(a.host.store().list_instances(&Default::default()).unwrap().len(), 30);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_schedule_fires_nothing_and_resumes_from_now() {
    let h = Harness::new(1024, &[guests::CHAIN]).await;
    let paused = name("paused");
    let spec = ScheduleSpec { catch_up_ms: 60 * MINUTE, ..every_minute("chain", r#"{"steps": 0}"#, Overlap::Allow) };
    h.host.create_schedule(&paused, spec, true).await.unwrap();
    at_slot(&h, 5).await;
    assert!(h.host.store().list_instances(&Default::default()).unwrap().is_empty(), "created paused");
    h.host.resume_schedule(&paused).await.unwrap();
    h.settled().await;
    assert!(
        h.host.store().list_instances(&Default::default()).unwrap().is_empty(),
        "the slots of the pause are not fired, even within the catch-up window"
    );
    at_slot(&h, 6).await;
    assert_eq!(status(&h, &run_id("paused", 6)), Some(RuntimeStatus::Completed));
    h.host.pause_schedule(&paused).await.unwrap();
    at_slot(&h, 7).await;
    assert_eq!(status(&h, &run_id("paused", 7)), None);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_runs_now_and_backfill_runs_past_slots_once() {
    let h = Harness::new(1024, &[guests::CHAIN]).await;
    let reports = name("reports");
    h.host.create_schedule(&reports, every_minute("chain", r#"{"steps": 1}"#, Overlap::Skip), true).await.unwrap();
    let manual = h.host.trigger_schedule(&reports).await.unwrap();
    assert_eq!(manual, manual_instance_id(&reports, 1).unwrap(), "even while paused");
    assert_eq!(h.finished(manual.as_str()).await.status, RuntimeStatus::Completed);
    assert_eq!(h.host.trigger_schedule(&reports).await.unwrap().as_str(), "reports@manual-2");

    h.clock.set(slot(10));
    let done = h.host.backfill_schedule(&reports, slot(2), slot(5)).await.unwrap();
    assert_eq!((done.slots, done.started.len(), done.already_started), (3, 3, 0));
    for k in 2..5 {
        assert_eq!(h.finished(&run_id("reports", k)).await.status, RuntimeStatus::Completed);
    }
    let again = h.host.backfill_schedule(&reports, slot(1), slot(5)).await.unwrap();
    assert_eq!((again.slots, again.started.len(), again.already_started), (4, 1, 3), "a slot runs once");
    let future = h.host.backfill_schedule(&reports, slot(9), slot(12)).await.unwrap_err();
    assert!(future.to_string().contains("at or before now"), "{future}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_describe_lists_the_next_fire_times_on_the_schedules_wall_clock() {
    let h = Harness::new(1024, &[guests::CHAIN]).await;
    let nightly = name("nightly");
    let spec = ScheduleSpec {
        trigger: Trigger::Cron { expression: "0 30 2 * * *".into(), timezone: "Europe/Paris".into() },
        ..every_minute("chain", r#"{"steps": 0}"#, Overlap::Skip)
    };
    h.host.create_schedule(&nightly, spec, false).await.unwrap();
    let view = h.host.describe_schedule(&nightly).await.unwrap();
    assert_eq!(view.next.len(), 5);
    // T0 is 2023-11-14T22:13:20Z: the next 02:30 in Paris is 01:30 UTC (winter time).
    assert_eq!(view.next[0].utc, "2023-11-15T01:30:00Z");
    assert_eq!(view.next[0].local, "2023-11-15 02:30:00 CET");
    let unknown = h.host.create_schedule(&name("x"), every_minute("no_such", "null", Overlap::Skip), false).await;
    assert!(unknown.unwrap_err().to_string().contains("no loaded component exports an orchestrator named 'no_such'"));
    let taken = h.host.create_schedule(&nightly, every_minute("chain", "null", Overlap::Skip), false).await;
    assert!(taken.unwrap_err().to_string().contains("already exists"));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_every_second_schedule_fires_on_the_system_clock() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("reprise.db")).unwrap());
    let runtime = Arc::new(Runtime::new(test_runtime()).unwrap());
    let config = ExecutorConfig { poll_interval: Duration::from_millis(50), ..ExecutorConfig::default() };
    let host = Host::new(store, runtime, Arc::new(SystemClock), config);
    host.load_component_file(Path::new(guests::CHAIN)).await.unwrap();
    let workers = host.spawn_workers();
    let spec = ScheduleSpec {
        trigger: Trigger::Every { interval_ms: 1_000 },
        ..every_minute("chain", r#"{"steps": 1}"#, Overlap::Skip)
    };
    let second = name("every-second");
    host.create_schedule(&second, spec, false).await.unwrap();
    // Two completed runs, whenever they come (a minute at most, not a timing assertion).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let completed = host
            .store()
            .list_instances(&Default::default())
            .unwrap()
            .into_iter()
            .filter(|r| r.status == RuntimeStatus::Completed && r.instance_id.starts_with("every-second@"))
            .count();
        if completed >= 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the schedule did not fire twice within a minute");
        tokio::time::timeout(Duration::from_secs(1), host.next_commit()).await.ok();
    }
    assert!(host.schedule_record(&second).await.unwrap().fired >= 2);
    workers.shutdown().await;
}
