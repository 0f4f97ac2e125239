//! The JavaScript SDK's test harness (`guest-sdk/js/testing.js`), run by Node.js: its own tests
//! and the guests' tests written with it, and its agreement with the host on the guest
//! `js-fan-out` (the same scenarios run on the real host and through the harness, with the
//! host's histories replayed by the harness).
//!
//! Node.js is required, as it is for building the JavaScript guests: without it these tests
//! fail and say what to install, they are never skipped.

use crate::agreement::{Then, approval, children, command_words, deposits, drive, started_at, write_cli_history};
use crate::harness::{BOTH_PATHS, Harness, Options, T0};
use reprise_core::HistoryEvent;
use reprise_executor::{Bundle, BundleConfig, ExecutorConfig};
use reprise_tests::guests;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

/// How to get a Node.js that runs the harness (module hooks need `module.register`).
const NODE_HINT: &str = "install Node.js 20.6 or later (or 18.19 or later; Debian/Ubuntu: `apt-get install nodejs`; \
     elsewhere https://nodejs.org), or set REPRISE_NODE to one";

/// The project's root: test files are named from there, as the README's commands do.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate is in the project").to_path_buf()
}

/// The Node.js to run (`REPRISE_NODE`, as for the guest build, else `node`), checked to be
/// recent enough.
fn node() -> OsString {
    let node = std::env::var_os("REPRISE_NODE").unwrap_or_else(|| "node".into());
    let version = match Process::new(&node).arg("--version").output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        Ok(out) => panic!("{node:?} --version failed ({}): {NODE_HINT}", out.status),
        Err(err) => panic!("cannot run Node.js ({node:?}: {err}): {NODE_HINT}"),
    };
    let numbers: Vec<u32> = version.trim_start_matches('v').split('.').filter_map(|n| n.parse().ok()).collect();
    let (major, minor) = (numbers.first().copied().unwrap_or(0), numbers.get(1).copied().unwrap_or(0));
    let recent = major > 20 || (major == 20 && minor >= 6) || (major == 18 && minor >= 19);
    assert!(recent, "Node.js {version} cannot register the harness's module hooks: {NODE_HINT}");
    node
}

/// Runs `node --test` on `files` (relative to the project root) with the harness's hooks and
/// `env`, and fails with Node's report unless every test passed.
fn node_test(node: &OsString, files: &[PathBuf], env: &[(&str, &Path)]) -> String {
    let out = Process::new(node)
        .current_dir(root())
        .arg("--import")
        .arg("./guest-sdk/js/testing/register.mjs")
        .arg("--test")
        .args(files)
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .output()
        .expect("run node --test");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "node --test {files:?} failed:\n{report}");
    report
}

/// The number of tests a `node --test` report says passed.
fn passed(report: &str) -> usize {
    report.lines().find_map(|l| l.strip_prefix("# pass ")).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

/// The harness's own tests and every JavaScript guest directory that has tests (`*.test.mjs`).
fn unit_test_files() -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("guest-sdk/js/tests/testing.test.mjs")];
    let mut guests: Vec<PathBuf> = std::fs::read_dir(root().join("guests"))
        .expect("list guests/")
        .map(|entry| entry.expect("a guests/ entry").path())
        .filter(|dir| dir.join("main.js").is_file())
        .flat_map(|dir| std::fs::read_dir(dir).expect("list a guest").map(|e| e.expect("a guest's file").path()))
        .filter(|file| file.to_string_lossy().ends_with(".test.mjs"))
        .map(|file| file.strip_prefix(root()).expect("under the root").to_path_buf())
        .collect();
    guests.sort();
    files.extend(guests);
    files
}

#[test]
fn the_js_harness_and_the_js_guests_tests_pass() {
    let node = node();
    let files = unit_test_files();
    assert!(files.iter().any(|f| f.starts_with("guests/js-fan-out")), "js-fan-out has tests: {files:?}");
    let report = node_test(&node, &files, &[]);
    // A runner that found no test would pass too: count them.
    assert!(passed(&report) >= 20, "too few tests ran:\n{report}");
}

/// A scenario of `js-fan-out`, run on the host and through the harness.
struct Scenario {
    id: &'static str,
    orchestrator: &'static str,
    input: Value,
    then: Then,
    /// Whether its histories are compared whole. Not for a fan-out: the host runs its activities
    /// in parallel, so which results an episode delivers together varies from run to run.
    whole: bool,
}

/// The scenarios, in the order the host runs them. Its clock is shared: a scenario after one
/// that moves time starts later, which each scenario's `started_at` tells the harness.
fn scenarios() -> Vec<Scenario> {
    let scenario = |id, orchestrator, input, then, whole| Scenario { id, orchestrator, input, then, whole };
    vec![
        scenario("fan-out-20", "js_fan_out", json!({"items": 20}), Then::Finish, false),
        // Waits of 1000, 1200, 1440 and 1728 ms: a coefficient of 1.2, whose powers the host
        // rounds its own way (f64::powi).
        scenario("retry", "js_retrying", json!({"failures": 4}), Then::MoveTime, true),
        scenario("first-ok", "js_first_or_timeout", json!(2), Then::Finish, true),
        scenario("first-rejected", "js_first_or_timeout", json!(3), Then::Finish, true),
        scenario("approval-timeout", "js_approval", json!({"timeoutMs": 60_000}), Then::MoveTime, true),
        scenario("approval-yes", "js_approval", json!({"timeoutMs": 60_000}), Then::Approve, true),
        scenario("countdown", "js_countdown", json!({"n": 3}), Then::Finish, true),
        scenario("parent", "js_parent", json!(2), Then::Finish, true),
        scenario("account", "js_account", json!({"limit": 100}), Then::Deposits, true),
    ]
}

/// Each execution's commands, in the host's words.
fn commands(executions: &[(u32, Vec<HistoryEvent>)]) -> Value {
    executions
        .iter()
        .map(|(_, events)| events.iter().filter_map(|e| command_words(&e.event)).collect::<Vec<_>>())
        .collect()
}

/// Writes the instance's export bundle to `dir/<file>`, and returns its histories.
fn write_bundle(host: &Harness, id: &str, dir: &Path, file: &str) -> Vec<(u32, Vec<HistoryEvent>)> {
    let snapshot = host.host.store().snapshots(&[id.to_string()], true).expect("snapshot").remove(0);
    let executions = snapshot.executions.clone();
    let config = BundleConfig::from(&ExecutorConfig::default());
    let bundle = Bundle::new(snapshot.record, snapshot.executions, None, config, T0);
    std::fs::write(dir.join(file), bundle.to_json()).expect("write the bundle");
    executions
}

/// Runs the scenarios on a host with a cache of `cache` and writes, into `dir`, each instance's
/// bundle (`<id>.reprise`; a child's `<id>.child-<n>.reprise`), its `reprise history --json`
/// (`<id>.history.json`), and `scenarios.json`: each scenario, when it started, how it was
/// moved on, how it ended, its commands per execution in the host's words, and its children.
async fn run_on_host(cache: usize, dir: &Path) {
    let db = dir.join("reprise.db");
    let host = Harness::on(&db, Options::cache(cache), &[guests::JS_FAN_OUT.path()]).await;
    let mut ends = Vec::new();
    for Scenario { id, orchestrator, input, then, whole } in scenarios() {
        host.start(id, orchestrator, input.clone()).await;
        let record = drive(&host, id, then).await;
        let executions = write_bundle(&host, id, dir, &format!("{id}.reprise"));
        let started_at = started_at(id, &executions[0].1);
        let mut child_bundles = Vec::new();
        for (n, child) in children(executions.iter().flat_map(|(_, events)| events)).into_iter().enumerate() {
            let file = format!("{id}.child-{n}.reprise");
            let child_executions = write_bundle(&host, &child, dir, &file);
            child_bundles.push(json!({"id": child, "bundle": file, "commands": commands(&child_executions)}));
        }
        let payload =
            |p: Option<&str>| p.map_or(Value::Null, |text| serde_json::from_str(text).expect("a JSON payload"));
        let (event_name, event_data) = approval();
        ends.push(json!({
            "id": id,
            "orchestrator": orchestrator,
            "input": input,
            "then": then.name(),
            "event": {"name": event_name, "data": event_data},
            "updates": deposits(),
            "whole": whole,
            "started_at": started_at,
            "status": record.status.to_string(),
            "output": payload(record.output.as_deref()),
            "custom_status": payload(record.custom_status.as_deref()),
            "commands": commands(&executions),
            "children": child_bundles,
        }));
    }
    host.stop().await;
    let statuses: Vec<&str> = ends.iter().map(|e| e["status"].as_str().expect("a status")).collect();
    assert!(statuses.iter().all(|s| *s == "Completed"), "every scenario completes on the host: {ends:#?}");
    for scenario in scenarios() {
        let id = scenario.id;
        write_cli_history(&db, id, &dir.join(format!("{id}.history.json")));
    }
    std::fs::write(dir.join("scenarios.json"), Value::Array(ends).to_string()).expect("write the scenarios");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_harness_agrees_with_the_host_on_js_fan_out() {
    // Checked first: the host's runs are of no use without it.
    let node = node();
    for cache in BOTH_PATHS {
        let dir = tempfile::tempdir().expect("a temporary directory");
        run_on_host(cache, dir.path()).await;
        let file = PathBuf::from("guests/js-fan-out/host-agreement.mjs");
        let report = node_test(&node, &[file], &[("REPRISE_HOST_RUNS", dir.path())]);
        // Two tests per scenario: the replay and the fresh run.
        assert_eq!(passed(&report), 2 * scenarios().len(), "cache {cache}:\n{report}");
    }
}
