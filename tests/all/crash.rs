//! The `reprise` command as a user runs it: a `serve` process killed with SIGKILL mid-way
//! through an orchestration, restarted on the same file; and `run`'s exit codes.

use crate::harness::{Killed, listening_address};
use reprise_core::{Event, RuntimeStatus};
use reprise_store::{HistoryStore, SqliteStore};
use reprise_tests::guests;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

fn serve(db: &Path, log: &Path) -> Killed {
    serve_with(db, log, &[guests::CHAIN])
}

fn serve_with(db: &Path, log: &Path, components: &[&str]) -> Killed {
    let log = std::fs::File::create(log).expect("log file");
    let mut command = Command::new(REPRISE);
    command.args(["serve", "--lease", "1s", "--db"]).arg(db);
    for component in components {
        command.args(["--component", component]);
    }
    let child = command.stdout(Stdio::null()).stderr(log).spawn().expect("start reprise serve");
    Killed(child)
}

/// Polls `check` against the database every 20 ms, for at most a minute.
fn until<T>(db: &Path, what: &str, check: impl Fn(&SqliteStore) -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(store) = SqliteStore::open(db)
            && let Some(value) = check(&store)
        {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn completed_steps(store: &SqliteStore, id: &str) -> usize {
    let history = store.history(id, 1).unwrap_or_default();
    history.iter().filter(|e| matches!(e.event, Event::ActivityCompleted { .. })).count()
}

#[test]
fn a_killed_host_resumes_on_restart_with_no_lost_or_repeated_step() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let steps = 12;
    let first = serve(&db, &dir.path().join("serve-1.log"));
    until(&db, "the component to be loaded", |store| (!store.components().ok()?.is_empty()).then_some(()));

    let started = Command::new(REPRISE)
        .args(["start", "chain", "--id", "crash-1", "--input"])
        .arg(format!(r#"{{"steps": {steps}, "delay_ms": 150}}"#))
        .arg("--db")
        .arg(&db)
        .output()
        .expect("reprise start");
    assert!(started.status.success(), "start failed: {}", String::from_utf8_lossy(&started.stderr));
    assert_eq!(String::from_utf8_lossy(&started.stdout).trim(), "crash-1");

    until(&db, "four steps to complete", |store| (completed_steps(store, "crash-1") >= 4).then_some(()));
    let mut first = first;
    first.0.kill().expect("SIGKILL the host");
    first.0.wait().unwrap();
    let before = SqliteStore::open(&db).unwrap().history("crash-1", 1).unwrap();
    assert!(completed_steps(&SqliteStore::open(&db).unwrap(), "crash-1") < steps, "the kill landed mid-way");

    let _second = serve(&db, &dir.path().join("serve-2.log"));
    let record = until(&db, "the instance to finish", |store| {
        store.instance("crash-1").ok().flatten().filter(|r| r.status.is_terminal())
    });
    assert_eq!(record.status, RuntimeStatus::Completed, "failure: {:?}", record.failure);
    let output: serde_json::Value = serde_json::from_str(record.output.as_deref().unwrap()).unwrap();
    assert_eq!(output, serde_json::json!({"steps": steps, "last": steps}));

    let history = SqliteStore::open(&db).unwrap().history("crash-1", 1).unwrap();
    assert_eq!(&history[..before.len()], &before[..], "history is append-only across the crash");
    let mut scheduled = BTreeMap::new();
    let mut completed = BTreeMap::new();
    for event in &history {
        match &event.event {
            Event::ActivityScheduled { task_id, .. } => *scheduled.entry(*task_id).or_insert(0) += 1,
            Event::ActivityCompleted { task_id, .. } => *completed.entry(*task_id).or_insert(0) += 1,
            _ => {}
        }
    }
    let expected: BTreeMap<u64, i32> = (0..steps as u64).map(|task| (task, 1)).collect();
    assert_eq!(scheduled, expected, "each step scheduled exactly once");
    assert_eq!(completed, expected, "each step completed exactly once");
}

fn run(args: &[&str], db: &Path) -> std::process::Output {
    cli(&[&["run"], args].concat(), db)
}

#[test]
fn run_exits_0_with_the_output_1_with_the_failure_and_2_on_bad_usage() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("run.db");

    let ok = run(&["process_order", "--input", r#""order-5""#, "--component", guests::ORDER_PROCESSING], &db);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let output: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("stdout is the output JSON");
    assert_eq!(output["tracking_number"], "TRK-order-5");

    let input = r#"{"source_account": "a", "destination_account": "frozen-b", "amount": 3}"#;
    let failed = run(&["transfer_funds_strict", "--input", input, "--component", guests::TRANSFER_FUNDS], &db);
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("ActivityFailed") && stderr.contains("caused by AccountFrozen"), "{stderr}");
    assert!(failed.stdout.is_empty());

    let bad = run(&["process_order", "--input", "{oops", "--component", guests::ORDER_PROCESSING], &db);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not valid JSON"));

    let history =
        Command::new(REPRISE).args(["list", "--status", "failed", "--json", "--db"]).arg(&db).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "exactly the strict transfer failed: {listed}");
}

/// The time of the episode that recorded the first event matching `wanted`.
fn delivered_at(history: &[reprise_core::HistoryEvent], wanted: impl Fn(&Event) -> bool) -> Option<u64> {
    let index = history.iter().position(|e| wanted(&e.event))?;
    history[..index].iter().rev().find_map(|e| match e.event {
        Event::EpisodeStarted { time } => Some(time),
        _ => None,
    })
}

fn start(db: &Path, orchestrator: &str, id: &str, input: &str) {
    let started = Command::new(REPRISE)
        .args(["start", orchestrator, "--id", id, "--input", input, "--db"])
        .arg(db)
        .output()
        .expect("reprise start");
    assert!(started.status.success(), "start failed: {}", String::from_utf8_lossy(&started.stderr));
}

#[test]
fn a_host_killed_during_a_retry_wait_or_a_timer_resumes_them_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("waits.db");
    let components = [guests::RETRY_PATTERN, guests::TIMEOUTS_AND_POLLING];
    let first = serve_with(&db, &dir.path().join("serve-1.log"), &components);
    until(&db, "the components to be loaded", |store| (store.components().ok()?.len() == 2).then_some(()));
    start(&db, "retry_orchestrator", "retrying", r#"{"input": "demo", "fail_times": 1, "first_retry_ms": 2000}"#);
    start(&db, "poll_until_done", "polling", r#"{"ready_after": 2, "interval_ms": 2000, "deadline_ms": 600000}"#);

    let retry_at = until(&db, "a retry to be scheduled", |store| {
        store.history("retrying", 1).ok()?.iter().find_map(|e| match e.event {
            Event::ActivityRetrying { next_attempt_at, .. } => Some(next_attempt_at),
            _ => None,
        })
    });
    let fire_at = until(&db, "a timer to be set", |store| {
        store.history("polling", 1).ok()?.iter().find_map(|e| match e.event {
            Event::TimerScheduled { fire_at, .. } => Some(fire_at),
            _ => None,
        })
    });
    let mut first = first;
    first.0.kill().expect("SIGKILL the host");
    first.0.wait().unwrap();

    let _second = serve_with(&db, &dir.path().join("serve-2.log"), &components);
    for id in ["retrying", "polling"] {
        let record = until(&db, "the instances to finish", |store| {
            store.instance(id).ok().flatten().filter(|r| r.status.is_terminal())
        });
        assert_eq!(record.status, RuntimeStatus::Completed, "{id}: {:?}", record.failure);
    }
    let store = SqliteStore::open(&db).unwrap();
    let retried =
        delivered_at(&store.history("retrying", 1).unwrap(), |e| matches!(e, Event::ActivityCompleted { .. }));
    let retried = retried.expect("the retried attempt completed");
    assert!(retried >= retry_at, "the retry ran before it was due");
    assert!(retried < retry_at + 15_000, "the retry ran {} ms late", retried - retry_at);
    let fired = delivered_at(&store.history("polling", 1).unwrap(), |e| matches!(e, Event::TimerFired { .. }));
    let fired = fired.expect("the timer fired");
    assert!(fired >= fire_at, "the timer fired early");
    assert!(fired < fire_at + 15_000, "the timer fired {} ms late", fired - fire_at);
}

fn cli(args: &[&str], db: &Path) -> std::process::Output {
    Command::new(REPRISE).args(args).arg("--db").arg(db).output().expect("run reprise")
}

fn status_of(db: &Path, id: &str) -> serde_json::Value {
    let shown = cli(&["status", id, "--json"], db);
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    serde_json::from_slice(&shown.stdout).expect("status --json is JSON")
}

#[test]
fn raise_terminate_and_purge_work_from_the_command_line_beside_a_running_host() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("manage.db");
    let _host = serve_with(&db, &dir.path().join("serve.log"), &[guests::CALLBACK_WITH_TIMEOUT]);
    until(&db, "the component to be loaded", |store| (!store.components().ok()?.is_empty()).then_some(()));
    let waiting = |id: &str| {
        start(&db, "run_job", id, r#"{"job": "build", "timeout_ms": 600000, "max_retries": 0}"#);
        until(&db, "the job to wait for its callback", |store| {
            store.history(id, 1).ok()?.iter().any(|e| matches!(e.event, Event::EventWaitStarted { .. })).then_some(())
        });
    };

    waiting("called-back");
    let raised = cli(&["raise", "called-back", "JobCompleted", "--data", r#"{"ok": true}"#], &db);
    assert!(raised.status.success(), "{}", String::from_utf8_lossy(&raised.stderr));
    until(&db, "the job to complete", |store| {
        store.instance("called-back").ok().flatten().filter(|r| r.status.is_terminal())
    });
    let shown = status_of(&db, "called-back");
    assert_eq!(shown["status"], "Completed");
    assert_eq!(shown["output"]["result"], serde_json::json!({"ok": true}));

    waiting("abandoned");
    let terminated = cli(&["terminate", "abandoned", "--reason", "customer cancelled"], &db);
    assert!(terminated.status.success(), "{}", String::from_utf8_lossy(&terminated.stderr));
    until(&db, "the job to be terminated", |store| {
        store.instance("abandoned").ok().flatten().filter(|r| r.status.is_terminal())
    });
    let shown = status_of(&db, "abandoned");
    assert_eq!(shown["status"], "Terminated");
    assert_eq!(shown["failure"]["message"], "customer cancelled");
    let history = cli(&["history", "abandoned"], &db);
    assert!(String::from_utf8_lossy(&history.stdout).contains("terminated: customer cancelled"));

    let refused = cli(&["raise", "abandoned", "JobCompleted"], &db);
    assert_eq!(refused.status.code(), Some(2), "raising on a finished instance is an error");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already finished"));

    let purged = cli(&["purge", "--status", "terminated"], &db);
    assert!(purged.status.success(), "{}", String::from_utf8_lossy(&purged.stderr));
    assert_eq!(String::from_utf8_lossy(&purged.stdout).trim(), "1");
    let gone = cli(&["status", "abandoned"], &db);
    assert_eq!(gone.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no instance with id 'abandoned'"));
}

/// The counter `total`'s state and operation count, once nothing is queued for it.
fn idle_counter(store: &SqliteStore) -> Option<(i64, u64)> {
    let record = store.entity(&reprise_core::EntityId::new("Counter", "total").ok()?).ok()??;
    if record.queued > 0 {
        return None;
    }
    let state: serde_json::Value = serde_json::from_str(record.state.as_deref()?).ok()?;
    Some((state["value"].as_i64()?, record.operations))
}

#[test]
fn a_host_killed_under_entity_load_loses_no_acknowledged_operation_and_applies_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("entities.db");
    let first = serve_with(&db, &dir.path().join("serve-1.log"), &[guests::ENTITIES]);
    until(&db, "the component to be loaded", |store| (!store.components().ok()?.is_empty()).then_some(()));

    // Acknowledged work: 10 signals from the command line, and 12 orchestrations of 100
    // sequential calls each (every call is a round trip through the entity's queue): enough
    // that the kill below lands mid-way however fast the host runs them.
    for _ in 0..10 {
        let signalled = cli(&["entity", "signal", "Counter", "total", "add", "--input", "1"], &db);
        assert!(signalled.status.success(), "{}", String::from_utf8_lossy(&signalled.stderr));
    }
    let adders: Vec<String> = (0..12).map(|i| format!("adder-{i}")).collect();
    for id in &adders {
        start(&db, "add_many", id, r#"{"key": "total", "count": 100, "mode": "sequential"}"#);
    }
    until(&db, "a hundred operations to run", |store| {
        let record = store.entity(&reprise_core::EntityId::new("Counter", "total").ok()?).ok()??;
        (record.operations >= 100).then_some(())
    });
    let mut first = first;
    first.0.kill().expect("SIGKILL the host");
    first.0.wait().unwrap();
    let store = SqliteStore::open(&db).unwrap();
    let at_kill = store.entity(&reprise_core::EntityId::new("Counter", "total").unwrap()).unwrap().unwrap();
    assert!(at_kill.operations < 1210, "the kill landed mid-way ({} operations ran)", at_kill.operations);

    // Signals acknowledged while no host runs wait in the database.
    for _ in 0..5 {
        let signalled = cli(&["entity", "signal", "Counter", "total", "add", "--input", "2"], &db);
        assert!(signalled.status.success(), "{}", String::from_utf8_lossy(&signalled.stderr));
    }

    let _second = serve_with(&db, &dir.path().join("serve-2.log"), &[guests::ENTITIES]);
    for id in &adders {
        let record = until(&db, "the adders to finish", |store| {
            store.instance(id).ok().flatten().filter(|r| r.status.is_terminal())
        });
        assert_eq!(record.status, RuntimeStatus::Completed, "{id}: {:?}", record.failure);
    }
    let (value, operations) = until(&db, "the counter to go idle", idle_counter);
    assert_eq!(value, 10 + 12 * 100 + 5 * 2, "every acknowledged operation applied exactly once");
    assert_eq!(operations, 10 + 12 * 100 + 5, "no operation ran twice");

    // The command line reads what the host wrote.
    let got = cli(&["entity", "get", "Counter", "total"], &db);
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim(), r#"{"value":1220}"#);
    let listed = cli(&["entity", "list", "--json"], &db);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("entity list --json is JSON");
    assert_eq!(listed[0]["id"], "@Counter@total");
    assert_eq!(listed[0]["state"], serde_json::json!({"value": 1220}));
    let missing = cli(&["entity", "get", "Counter", "nobody"], &db);
    assert_eq!(missing.status.code(), Some(1));
    let unknown = cli(&["entity", "signal", "Timer", "t", "add"], &db);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no loaded component exports an entity named 'Timer'"),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

#[test]
fn a_second_run_loads_the_compiled_component_from_the_cache_and_a_damaged_file_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cache.db");
    let args = ["process_order", "--input", r#""order-9""#, "--component", guests::ORDER_PROCESSING];
    let loaded_line = |output: &std::process::Output| {
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        stderr.lines().find(|l| l.starts_with("loaded ")).map(str::to_string).unwrap_or_else(|| panic!("{stderr}"))
    };

    let first = loaded_line(&run(&args, &db));
    assert!(!first.contains("from the compile cache"), "{first}");
    let cache = dir.path().join("reprise-cache");
    let mut files: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 2, "one file per engine (orchestrator, activity): {files:?}");

    let second = loaded_line(&run(&args, &db));
    assert!(second.contains("from the compile cache"), "{second}");

    // A truncated file is not trusted: the component is compiled again, and the run still works.
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &bytes[..bytes.len() / 3]).unwrap();
    let third = loaded_line(&run(&args, &db));
    assert!(!third.contains("from the compile cache"), "{third}");
    let fourth = loaded_line(&run(&args, &db));
    assert!(fourth.contains("from the compile cache"), "{fourth}");

    // Turned off, nothing is read.
    let off = loaded_line(&run(&[&args[..], &["--no-compile-cache"]].concat(), &db));
    assert!(!off.contains("from the compile cache"), "{off}");
}

/// Starts `reprise serve --listen` on a free port and returns it with its base URL; stderr goes
/// to `log` once the address is read.
fn serve_api(db: &Path) -> (Killed, String) {
    let mut child = Command::new(REPRISE)
        .args(["serve", "--listen", "127.0.0.1:0", "--lease", "1s", "--db"])
        .arg(db)
        .args(["--component", guests::CHAIN])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reprise serve");
    let stderr = child.stderr.take().expect("stderr");
    let child = Killed(child);
    (child, listening_address(stderr))
}

/// Group commit under load: HTTP clients start instances as fast as the host acknowledges them
/// (each 202 is an acknowledgement, sent only once the instance's commit is durable), and the
/// host is killed with SIGKILL while requests, episodes and activities are in flight. Every
/// acknowledged instance must be in the file, and after a restart must complete exactly once
/// per step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_under_load_loses_nothing_it_acknowledged() {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use std::sync::{Arc, Mutex};

    const CLIENTS: usize = 8;
    const ACKED_BEFORE_KILL: usize = 120;
    const STEPS: usize = 3;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("load.db");
    let (mut child, base) = tokio::task::spawn_blocking({
        let db = db.clone();
        move || serve_api(&db)
    })
    .await
    .unwrap();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (client, base, acked) = (client.clone(), base.clone(), acked.clone());
        clients.spawn(async move {
            for n in 0.. {
                let id = format!("load-{c}-{n}");
                let body = format!(r#"{{"steps": {STEPS}, "delay_ms": 0}}"#);
                let request = hyper::Request::post(format!("{base}/api/orchestrators/chain/{id}"))
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap();
                // After the kill the connection fails: that client is done.
                let Ok(response) = client.request(request).await else { return };
                if response.status() == hyper::StatusCode::ACCEPTED {
                    acked.lock().unwrap().push(id);
                } else {
                    panic!("start {id}: {}", response.status());
                }
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.lock().unwrap().len() < ACKED_BEFORE_KILL {
        assert!(Instant::now() < deadline, "the host acknowledged too few starts");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Some instances are finished, some mid-way, some only created: SIGKILL now.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= ACKED_BEFORE_KILL);

    let store = SqliteStore::open(&db).unwrap();
    let missing: Vec<&String> = acked.iter().filter(|id| store.instance(id).unwrap().is_none()).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    drop(store);

    let log = dir.path().join("restart.log");
    let _restarted = serve(&db, &log);
    let acked_ids = acked.clone();
    tokio::task::spawn_blocking(move || {
        until(&db, "every acknowledged instance to complete after the restart", |store| {
            acked_ids
                .iter()
                .all(|id| store.instance(id).ok().flatten().is_some_and(|r| r.status.is_terminal()))
                .then_some(())
        });
        let store = SqliteStore::open(&db).unwrap();
        for id in &acked_ids {
            let record = store.instance(id).unwrap().unwrap();
            assert_eq!(record.status, RuntimeStatus::Completed, "{id}: {:?}", record.failure);
            assert_eq!(record.output.as_deref(), Some(r#"{"steps":3,"last":3}"#), "{id}");
            assert_eq!(completed_steps(&store, id), STEPS, "{id}: each step completed exactly once");
        }
    })
    .await
    .unwrap();
}
