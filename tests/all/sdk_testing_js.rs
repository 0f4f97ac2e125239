//! The JavaScript SDK's test harness (`guest-sdk/js/testing.js`), run by Node.js: its own tests
//! and the guests' tests written with it, and its agreement with the host on the guest
//! `js-fan-out` (the same scenarios run on the real host and through the harness, with the
//! host's histories replayed by the harness).
//!
//! Node.js is required, as it is for building the JavaScript guests: without it these tests
//! fail and say what to install, they are never skipped.

use crate::harness::{BOTH_PATHS, Harness, Options, T0};
use reprise_executor::{Bundle, BundleConfig, ExecutorConfig};
use reprise_tests::guests;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

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
    let version = match Command::new(&node).arg("--version").output() {
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
    let out = Command::new(node)
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

/// The scenarios of `js-fan-out` both run: an instance id, an orchestrator, an input.
fn scenarios() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("fan-out-20", "js_fan_out", json!({"items": 20})),
        ("first-ok", "js_first_or_timeout", json!(2)),
        ("first-rejected", "js_first_or_timeout", json!(3)),
        ("countdown", "js_countdown", json!({"n": 3})),
    ]
}

/// Runs the scenarios on a host with a cache of `cache` and writes, into `dir`, each instance's
/// bundle (`<id>.reprise`), its `reprise history --json` (`<id>.history.json`), and
/// `scenarios.json` (the scenarios with their end on the host).
async fn run_on_host(cache: usize, dir: &Path) {
    let db = dir.join("reprise.db");
    let host = Harness::on(&db, Options::cache(cache), &[guests::JS_FAN_OUT.path()]).await;
    let mut ends = Vec::new();
    for (id, orchestrator, input) in scenarios() {
        host.start(id, orchestrator, input.clone()).await;
        let record = host.finished(id).await;
        let payload =
            |p: Option<&str>| p.map_or(Value::Null, |text| serde_json::from_str(text).expect("a JSON payload"));
        ends.push(json!({
            "id": id,
            "orchestrator": orchestrator,
            "input": input,
            "status": record.status.to_string(),
            "output": payload(record.output.as_deref()),
            "custom_status": payload(record.custom_status.as_deref()),
        }));
        let snapshot = host.host.store().snapshots(&[id.to_string()], true).expect("snapshot").remove(0);
        let config = BundleConfig::from(&ExecutorConfig::default());
        let bundle = Bundle::new(snapshot.record, snapshot.executions, None, config, T0);
        std::fs::write(dir.join(format!("{id}.reprise")), bundle.to_json()).expect("write the bundle");
    }
    host.stop().await;
    for (id, ..) in scenarios() {
        let out = Command::new(REPRISE).args(["history", id, "--json", "--db"]).arg(&db).output().expect("run reprise");
        assert!(out.status.success(), "reprise history {id} --json: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(dir.join(format!("{id}.history.json")), out.stdout).expect("write the history");
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
