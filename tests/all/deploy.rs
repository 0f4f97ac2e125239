//! Deploys: `reprise replay-check` tells, before a new component goes out, which instances it
//! can take over, by replaying their histories on it without writing anything.

use crate::harness::{Harness, Options};
use reprise_core::Event;
use reprise_tests::guests;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

fn reprise(args: &[&str], db: &Path) -> Output {
    Command::new(REPRISE).args(args).arg("--db").arg(db).output().expect("run reprise")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Every row of every table, sorted: equal dumps mean nothing was written in between.
pub(crate) fn dump(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut rows = Vec::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
        let columns = stmt.column_count();
        let mut found = stmt
            .query_map([], |row| {
                let values: Vec<rusqlite::types::Value> = (0..columns).map(|i| row.get(i)).collect::<Result<_, _>>()?;
                Ok(format!("{table}: {values:?}"))
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.append(&mut found);
    }
    rows.sort();
    rows
}

/// A database with two instances of `versioned` on v1: `done` completed, `early` parked after
/// scheduling its first step (no activity ran for it).
async fn v1_instances(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let db = dir.path().join("reprise.db");
    let host = Harness::on(&db, Options::cache(0), &[guests::VERSIONED_V1]).await;
    host.run("done", "versioned", json!("d")).await;
    host.stop().await;
    let idle = Options { activity_concurrency: 0, ..Options::cache(0) };
    let host = Harness::on(&db, idle, &[guests::VERSIONED_V1]).await;
    host.start("early", "versioned", json!("e")).await;
    host.until_history("early", |h| h.iter().any(|e| matches!(e.event, Event::ActivityScheduled { .. }))).await;
    host.stop().await;
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_check_tells_which_instances_a_component_takes_over_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = v1_instances(&dir).await;
    let before = dump(&db);

    // The same code takes its own instances over; by default only unfinished ones are checked.
    let same = reprise(&["replay-check", "--component", guests::VERSIONED_V1], &db);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    let text = stdout(&same);
    assert!(text.contains("early  compatible"), "{text}");
    assert!(!text.contains("done"), "finished instances are left out by default: {text}");
    assert!(text.contains("1 instance checked in"), "{text}");
    assert!(text.contains("1 compatible, 0 diverge, 0 fail"), "{text}");

    // v2 swaps the steps: the parked instance diverges where it scheduled step_a.
    let swapped = reprise(&["replay-check", "--component", guests::VERSIONED_V2], &db);
    assert_eq!(swapped.status.code(), Some(1), "a divergence fails the gate: {}", stderr(&swapped));
    let text = stdout(&swapped);
    assert!(
        text.contains(
            "early  diverges at position 2: recorded schedule activity 'step_a' (task 0), new schedule activity 'step_b'"
        ),
        "{text}"
    );
    assert!(text.contains("0 compatible, 1 diverge, 0 fail"), "{text}");

    // v3 adds a step at the end: it takes the unfinished instance over, but a finished v1
    // history diverges where v1 returned.
    let appended = reprise(&["replay-check", "--component", guests::VERSIONED_V3, "--include-finished", "--json"], &db);
    assert_eq!(appended.status.code(), Some(1), "{}", stderr(&appended));
    let report: Value = serde_json::from_str(&stdout(&appended)).expect("JSON report");
    let verdicts: Vec<(&str, &str)> = report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["instance_id"].as_str().unwrap(), i["verdict"].as_str().unwrap()))
        .collect();
    assert_eq!(verdicts, [("early", "compatible"), ("done", "diverges")], "newest first");
    let done = &report["instances"][1];
    assert_eq!(done["status"], "Completed");
    assert_eq!(done["issued"], "schedule activity 'step_c'");
    assert!(done["recorded"].as_str().unwrap().contains("complete"), "{done}");
    assert_eq!(done["position"].as_u64(), Some(done["history_len"].as_u64().unwrap() - 1), "{done}");
    assert_eq!(report["summary"]["compatible"], 1);
    assert_eq!(report["summary"]["diverges"], 1);
    assert_eq!(
        report["component"]["hash"],
        reprise_runtime::content_hash(&std::fs::read(guests::VERSIONED_V3).unwrap())
    );

    // Named instances only.
    let named = reprise(&["replay-check", "--component", guests::VERSIONED_V3, "--include-finished", "early"], &db);
    assert_eq!(named.status.code(), Some(0), "{}", stderr(&named));
    assert!(!stdout(&named).contains("done"), "{}", stdout(&named));

    assert_eq!(dump(&db), before, "replay-check wrote to the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_check_refuses_bad_input_clearly_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = v1_instances(&dir).await;
    let before = dump(&db);

    // A component that does not export the orchestrator: every instance fails the check.
    let other = reprise(&["replay-check", "--component", guests::CHAIN], &db);
    assert_eq!(other.status.code(), Some(1), "{}", stderr(&other));
    let text = stdout(&other);
    assert!(text.contains("early  fails: OrchestratorNotFound: component "), "{text}");
    assert!(text.contains("exports no orchestrator named 'versioned'"), "{text}");

    let unknown = reprise(&["replay-check", "--component", guests::VERSIONED_V1, "nobody"], &db);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("no instance with id 'nobody' (see `reprise list`)"), "{}", stderr(&unknown));

    let not_wasm = dir.path().join("not.wasm");
    std::fs::write(&not_wasm, b"this is not a component").unwrap();
    let garbage = reprise(&["replay-check", "--component", not_wasm.to_str().unwrap()], &db);
    assert_eq!(garbage.status.code(), Some(2));
    assert!(stderr(&garbage).contains("not.wasm"), "the error names the file: {}", stderr(&garbage));

    let missing = reprise(&["replay-check", "--component", "/nonexistent/app.wasm"], &db);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read component /nonexistent/app.wasm"), "{}", stderr(&missing));

    assert_eq!(dump(&db), before, "replay-check wrote to the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_check_reads_beside_a_running_host_without_holding_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reprise.db");
    let host = Harness::on(&db, Options::cache(16), &[guests::CHAIN]).await;
    for i in 0..8 {
        host.start(&format!("chain-{i}"), "chain", json!({"steps": 40, "delay_ms": 0})).await;
    }
    // The check reads snapshots while the host commits steps of the same instances.
    let db_arg = db.clone();
    let check = tokio::task::spawn_blocking(move || {
        (0..3)
            .map(|_| reprise(&["replay-check", "--component", guests::CHAIN, "--include-finished"], &db_arg))
            .collect::<Vec<_>>()
    });
    for i in 0..8 {
        let record = host.finished(&format!("chain-{i}")).await;
        assert_eq!(record.status, reprise_core::RuntimeStatus::Completed, "{:?}", record.failure);
    }
    for output in check.await.unwrap() {
        assert_eq!(output.status.code(), Some(0), "{}\n{}", stdout(&output), stderr(&output));
        assert!(stdout(&output).contains("8 instances checked"), "{}", stdout(&output));
    }
    host.stop().await;
}

/// Runs `reprise` without a database flag, in `cwd`.
fn reprise_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(REPRISE).args(args).current_dir(cwd).env_remove("REPRISE_DB").output().expect("run reprise")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exported_instance_replays_from_its_bundle_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reprise.db");
    let host = Harness::on(&db, Options::cache(0), &[guests::CALLBACK_WITH_TIMEOUT]).await;
    host.start("job", "run_job", json!({"job": "report", "timeout_ms": 30000})).await;
    host.until_history("job", |h| h.iter().any(|e| matches!(e.event, Event::EventWaitStarted { .. }))).await;
    host.host.raise_event("job", "JobCompleted", r#"{"rows": 7}"#).await.unwrap();
    let record = host.finished_moving_time("job").await;
    host.stop().await;
    let events = record.history_len;

    let bundle = dir.path().join("case.reprise");
    let exported = reprise(&["export", "job", "-o", bundle.to_str().unwrap()], &db);
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    assert!(stderr(&exported).contains("wrote "), "{}", stderr(&exported));
    assert!(stderr(&exported).contains(&format!("instance 'job' (Completed, execution 1, {events} events)")));

    // Elsewhere: a directory with no database, and no database is created.
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("case.reprise");
    std::fs::copy(&bundle, &copy).unwrap();
    let replayed = reprise_in(elsewhere.path(), &["replay", "case.reprise"]);
    assert_eq!(replayed.status.code(), Some(0), "{}\n{}", stdout(&replayed), stderr(&replayed));
    let text = stdout(&replayed);
    assert!(text.contains("run_job job (Completed)"), "{text}");
    assert!(text.contains(&format!("replay matches the history: {events} of {events} events replayed")), "{text}");
    let logged = text.find("│ info: sent job report-1, waiting up to 30000 ms").expect("the orchestrator's log line");
    let scheduled = text.find("scheduled send_job").expect("the timeline");
    assert!(scheduled < logged, "the log line comes where the code logged it, after the job was sent: {text}");
    let entries: Vec<_> = std::fs::read_dir(elsewhere.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(entries, ["case.reprise"], "replay wrote nothing beside the bundle");

    // Stopped early, the replay is still checked up to where it stops.
    let until = reprise_in(elsewhere.path(), &["replay", "case.reprise", "--until", "3"]);
    assert_eq!(until.status.code(), Some(0), "{}", stderr(&until));
    assert!(stdout(&until).contains("stopped before position"), "{}", stdout(&until));

    // Another component: the same orchestrator name is not exported.
    let other = reprise_in(elsewhere.path(), &["replay", "case.reprise", "--component", guests::VERSIONED_V1]);
    assert_eq!(other.status.code(), Some(1), "{}", stderr(&other));
    assert!(stdout(&other).contains("fails: OrchestratorNotFound"), "{}", stdout(&other));
}

#[test]
fn a_bundle_cut_short_from_the_future_or_damaged_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let golden = golden_bundle();
    let text = std::fs::read_to_string(&golden).unwrap();
    let cases = [
        ("cut.reprise", text[..text.len() / 3].to_string(), "not a readable Reprise bundle"),
        (
            "future.reprise",
            text.replacen("\"version\": 1", "\"version\": 99", 1),
            "the bundle is version 99, newer than",
        ),
        (
            "other.reprise",
            "{\"format\": \"zip\", \"version\": 1}".to_string(),
            "not a Reprise bundle: its format is 'zip'",
        ),
        ("damaged.reprise", damage_component(&text), "the bundle's component is damaged: its bytes hash to"),
    ];
    for (name, content, expected) in cases {
        std::fs::write(dir.path().join(name), content).unwrap();
        let output = reprise_in(dir.path(), &["replay", name]);
        assert_eq!(output.status.code(), Some(2), "{name}: {}", stderr(&output));
        assert!(stderr(&output).contains(expected), "{name}: {}", stderr(&output));
        assert!(stderr(&output).contains(name), "{name}: the error names the file: {}", stderr(&output));
    }
}

/// The bundle with one byte of its component changed (its base64 stays valid).
fn damage_component(text: &str) -> String {
    let mut bundle: Value = serde_json::from_str(text).unwrap();
    let wasm = bundle["component"]["wasm_base64"].as_str().unwrap().to_string();
    let mut bytes = wasm.into_bytes();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    bundle["component"]["wasm_base64"] = Value::String(String::from_utf8(bytes).unwrap());
    bundle.to_string()
}

/// The bundle committed by an earlier host: it must replay on every later one.
fn golden_bundle() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/bundles/callback-with-timeout.golden-callback.reprise")
}

#[test]
fn a_bundle_written_by_an_earlier_host_still_replays() {
    let dir = tempfile::tempdir().unwrap();
    let output = reprise_in(dir.path(), &["replay", golden_bundle().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}\n{}", stdout(&output), stderr(&output));
    assert!(stdout(&output).contains("replay matches the history"), "{}", stdout(&output));
    assert!(stdout(&output).contains("│ info: sent job report-1"), "{}", stdout(&output));
}
