//! Rewind and restart: a Failed instance runs again from its failures once their cause is fixed
//! (what succeeded is kept, what was in flight is put back in flight), and a finished one starts
//! again from the beginning, under its id or a new one. The subject is `guests/repairable`,
//! whose `flaky` activity fails until the file `/gate/open` exists and whose activities log
//! every attempt in `/gate/ran.log`.

use crate::deploy::dump;
use crate::harness::{Harness, Options, T0, output};
use reprise_core::plan::rewind::RewindRefusal;
use reprise_core::{Event, HistoryEvent, RuntimeStatus};
use reprise_executor::{Clock as _, ExecutorError};
use reprise_runtime::ActivityGrants;
use reprise_tests::guests;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

/// A host running `repairable` with the gate directory granted, on `db`.
async fn repairable(db: &Path, gate: &Path, cache: usize) -> Harness {
    let grants =
        ActivityGrants { dirs: vec![(gate.to_path_buf(), "/gate".into(), false)], ..ActivityGrants::default() };
    Harness::on(db, Options { grants, ..Options::cache(cache) }, &[guests::REPAIRABLE]).await
}

/// A database and a gate directory, in one temporary directory.
fn places(dir: &tempfile::TempDir) -> (PathBuf, PathBuf) {
    let gate = dir.path().join("gate");
    std::fs::create_dir(&gate).unwrap();
    (dir.path().join("reprise.db"), gate)
}

/// How many times each line was logged by the activities.
fn ran(gate: &Path, line: &str) -> usize {
    std::fs::read_to_string(gate.join("ran.log")).unwrap_or_default().lines().filter(|l| *l == line).count()
}

fn count(history: &[HistoryEvent], kind: &str) -> usize {
    history.iter().filter(|e| e.event.kind() == kind).count()
}

fn reprise(args: &[&str], db: &Path) -> Output {
    Command::new(REPRISE).args(args).arg("--db").arg(db).output().expect("run reprise")
}

/// Runs `repair_fan_out(3)` until it fails: the steps succeed, `flaky` fails twice (its retry
/// 1 s later included), while its 60 s timer is in flight.
async fn failed_fan_out(host: &Harness) {
    host.start("fan", "repair_fan_out", json!(3)).await;
    host.until_history("fan", |h| count(h, "ActivityRetrying") == 1).await;
    host.clock.set(T0 + 1_000);
    let failed = host.finished("fan").await;
    assert_eq!(failed.status, RuntimeStatus::Failed);
    let failure = failed.failure.expect("failure");
    assert!(
        failure.causes.iter().any(|c| c.error_type == "ServiceDown") || failure.message.contains("service is down"),
        "{failure:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewind_runs_the_failed_branch_again_with_its_retries_and_keeps_the_rest() {
    for cache in [0, 64] {
        let dir = tempfile::tempdir().unwrap();
        let (db, gate) = places(&dir);
        let host = repairable(&db, &gate, cache).await;
        failed_fan_out(&host).await;
        let log = std::fs::read_to_string(gate.join("ran.log")).unwrap_or_default();
        assert_eq!((ran(&gate, "step:s0"), ran(&gate, "flaky:f")), (1, 2), "cache {cache}: {log:?}");
        let before = host.history("fan").await;
        assert!(!before.iter().any(|e| matches!(e.event, Event::TimerFired { .. })), "the timer was in flight");

        // Still down: the rewound task has its whole retry policy again (it would fail at once
        // after one attempt if it had kept its spent attempts).
        host.host.rewind("fan", "service restarted").await.unwrap();
        assert_eq!(host.host.instance("fan").await.unwrap().status, RuntimeStatus::Running);
        host.until_history("fan", |h| count(h, "ActivityRetrying") == 2).await;
        std::fs::write(gate.join("open"), "").unwrap();
        let done = host.finished_moving_time("fan").await;
        assert_eq!(done.status, RuntimeStatus::Completed, "cache {cache}: {:?}", done.failure);
        assert_eq!(
            output(&done),
            json!({"steps": ["step:s0", "step:s1", "step:s2"], "flaky": "flaky:f", "timer": "fired"}),
            "cache {cache}"
        );
        for step in ["step:s0", "step:s1", "step:s2"] {
            assert_eq!(ran(&gate, step), 1, "cache {cache}: {step} succeeded before and is kept");
        }
        assert_eq!(ran(&gate, "flaky:f"), 4, "cache {cache}: two attempts before, two after");

        let history = host.history("fan").await;
        assert_eq!(&history[..before.len()], &before[..], "the history is only appended to");
        let rewound: Vec<&Event> =
            history.iter().map(|e| &e.event).filter(|e| matches!(e, Event::ExecutionRewound { .. })).collect();
        assert!(
            matches!(rewound.as_slice(), [Event::ExecutionRewound { reason, undone, .. }] if reason == "service restarted" && !undone.is_empty()),
            "{rewound:?}"
        );
        assert_eq!(count(&history, "TimerFired"), 1, "cache {cache}: the timer set again fired once");
        assert!(host.clock.now() >= T0 + 60_000, "at its own fire time");
        host.assert_quiescent().await;
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewind_takes_the_failed_sub_orchestration_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (db, gate) = places(&dir);
    let host = repairable(&db, &gate, 16).await;
    let failed = host.run("parent", "repair_parent", json!("x")).await;
    assert_eq!(failed.status, RuntimeStatus::Failed);
    let children: Vec<String> = host
        .history("parent")
        .await
        .iter()
        .filter_map(|e| match &e.event {
            Event::SubOrchestrationScheduled { instance_id, .. } => Some(instance_id.to_string()),
            _ => None,
        })
        .collect();
    let [child] = children.as_slice() else { panic!("one child: {children:?}") };
    assert_eq!(host.host.instance(child).await.unwrap().status, RuntimeStatus::Failed);
    let instances = || async {
        let all = host.host.store().list_instances(&reprise_store::InstanceFilter::default()).unwrap();
        all.into_iter().map(|r| r.instance_id).collect::<Vec<_>>()
    };
    let before = instances().await;

    std::fs::write(gate.join("open"), "").unwrap();
    host.host.rewind("parent", "fixed").await.unwrap();
    let done = host.finished("parent").await;
    assert_eq!(output(&done), json!(["flaky:x", "step:after"]));
    let child_record = host.host.instance(child).await.unwrap();
    assert_eq!(child_record.status, RuntimeStatus::Completed, "rewound under its own id");
    assert_eq!(child_record.execution, 1, "rewound, not started again");
    assert_eq!(count(&host.history(child).await, "ExecutionRewound"), 1);
    assert_eq!(instances().await, before, "no other child");
    assert_eq!((ran(&gate, "flaky:x"), ran(&gate, "step:after")), (2, 1));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewinds_that_cannot_help_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, gate) = places(&dir);
    let host = repairable(&db, &gate, 16).await;
    let bug = host.run("bug", "own_bug", json!(null)).await;
    assert_eq!(bug.status, RuntimeStatus::Failed);
    std::fs::write(gate.join("open"), "").unwrap();
    let done = host.run("done", "repair_parent", json!("y")).await;
    assert_eq!(done.status, RuntimeStatus::Completed);
    host.settled().await;
    let before = dump(&db);

    match host.host.rewind("bug", "please").await {
        Err(ExecutorError::Rewind(RewindRefusal::NothingToUndo { .. })) => {}
        other => panic!("expected NothingToUndo, got {other:?}"),
    }
    match host.host.rewind("done", "please").await {
        Err(ExecutorError::Rewind(RewindRefusal::NotFailed { status: RuntimeStatus::Completed, .. })) => {}
        other => panic!("expected NotFailed, got {other:?}"),
    }
    assert!(matches!(host.host.rewind("nobody", "please").await, Err(ExecutorError::InstanceNotFound(_))));
    assert!(matches!(host.host.rewind("@Counter@k", "please").await, Err(ExecutorError::NotAnOrchestration(_))));
    host.settled().await;
    assert_eq!(dump(&db), before, "a refused rewind writes nothing");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_runs_the_same_input_again_under_its_id_or_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let (db, gate) = places(&dir);
    std::fs::write(gate.join("open"), "").unwrap();
    let host = repairable(&db, &gate, 16).await;
    let first = host.run("again", "repair_parent", json!("z")).await;
    assert_eq!(first.execution, 1);

    let same = host.host.restart("again", false).await.unwrap();
    assert_eq!(same.as_str(), "again");
    let second = host.finished("again").await;
    assert_eq!((second.execution, second.status), (2, RuntimeStatus::Completed));
    assert_eq!(output(&second), json!(["flaky:z", "step:after"]));
    assert_eq!(second.input, first.input);
    assert_eq!(ran(&gate, "flaky:z"), 2, "it ran from the beginning");

    let new = host.host.restart("again", true).await.unwrap();
    assert_ne!(new.as_str(), "again");
    let third = host.finished(new.as_str()).await;
    assert_eq!((third.input.as_str(), third.status), (first.input.as_str(), RuntimeStatus::Completed));
    assert_eq!(host.host.instance("again").await.unwrap().execution, 2, "the old one is left alone");

    // A running instance restarts only under a new id.
    std::fs::remove_file(gate.join("open")).unwrap();
    host.start("busy", "repair_fan_out", json!(1)).await;
    host.until_history("busy", |h| count(h, "ActivityRetrying") == 1).await;
    match host.host.restart("busy", false).await {
        Err(ExecutorError::RestartUnfinished { status: RuntimeStatus::Running, .. }) => {}
        other => panic!("expected RestartUnfinished, got {other:?}"),
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rewind_and_restart_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (db, gate) = places(&dir);
    let host = repairable(&db, &gate, 0).await;
    assert_eq!(host.run("parent", "repair_parent", json!("c")).await.status, RuntimeStatus::Failed);
    host.stop().await;

    // Rewound by the command with no host running; the next host finishes it.
    std::fs::write(gate.join("open"), "").unwrap();
    let rewound = reprise(&["rewind", "parent", "--reason", "deployed the fix"], &db);
    let stderr = String::from_utf8_lossy(&rewound.stderr).into_owned();
    assert_eq!(rewound.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("rewound parent"), "{stderr}");
    let refused = reprise(&["rewind", "parent"], &db);
    let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("instance 'parent' is Running; only a Failed instance can be rewound"), "{stderr}");

    // The commands write at the real time; the test host's clock must reach it.
    let host = repairable(&db, &gate, 0).await;
    host.clock.set(reprise_executor::SystemClock.now());
    assert_eq!(output(&host.finished("parent").await), json!(["flaky:c", "step:after"]));
    let history = host.history("parent").await;
    assert!(
        history
            .iter()
            .any(|e| matches!(&e.event, Event::ExecutionRewound { reason, .. } if reason == "deployed the fix"))
    );
    host.stop().await;
    let shown = reprise(&["history", "parent"], &db);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("rewound: deployed the fix"));

    // Restart prints the id it runs under, for scripts.
    let restarted = reprise(&["restart", "parent", "--new-id"], &db);
    assert_eq!(restarted.status.code(), Some(0), "{}", String::from_utf8_lossy(&restarted.stderr));
    let id = String::from_utf8(restarted.stdout).unwrap().trim().to_string();
    assert!(!id.is_empty() && id != "parent", "{id}");
    let same = reprise(&["restart", "parent"], &db);
    assert_eq!(String::from_utf8(same.stdout).unwrap().trim(), "parent");
    let host = repairable(&db, &gate, 0).await;
    host.clock.set(reprise_executor::SystemClock.now());
    assert_eq!(output(&host.finished(&id).await), json!(["flaky:c", "step:after"]));
    assert_eq!(host.finished("parent").await.execution, 2);
    host.stop().await;
}
