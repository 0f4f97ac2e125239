//! The Python SDK's test harness (`reprise.testing`) against the real host, and its own tests.
//!
//! Agreement: Python guest scenarios run on the real executor; their histories, as a bundle
//! stores them and as `reprise history ID --json` prints them (the CLI run on the host's
//! database), go to `guest-sdk/python/tests/host_agreement.py`, which (a) replays both with
//! `reprise.testing.replay` and (b) runs the same scenario fresh through the harness and
//! compares its whole history with the host's (and its children's with the host's children's),
//! its commands in the host's words (`reprise_core::replay::Command`), and its end. The
//! scenarios include retries under a policy whose coefficient is not a whole number, so that the
//! recorded `next_attempt_at` times check the harness's arithmetic against the host's. Set
//! `REPRISE_AGREEMENT_KEEP` to a directory to keep what the Python side reads there. The
//! harness's own tests and the guests' `test_main.py` files run too, so that `cargo test
//! --workspace` runs every Python harness test. A missing Python fails these tests with what to
//! install; they never skip.

use crate::agreement::{Then, children, command_words, deposits, drive, started_at, write_cli_history};
use crate::harness::{Harness, Options};
use reprise_core::HistoryEvent;
use reprise_store::InstanceRecord;
use reprise_tests::guests;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command as Process;

/// What to install when no usable Python is found.
const PYTHON_HINT: &str = "install Python 3.10 or later (Debian/Ubuntu: `apt-get install python3`; macOS: `brew install \
     python`), or set REPRISE_PYTHON to such an interpreter";

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate is in the repository").to_path_buf()
}

/// The Python to run (`REPRISE_PYTHON`, else `python3`, as the guest build uses), checked to be
/// 3.10 or later; panics with what to install otherwise.
fn python() -> String {
    let python = std::env::var("REPRISE_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Process::new(&python)
        .args(["-c", "import sys; print(sys.version_info >= (3, 10))"])
        .output()
        .unwrap_or_else(|err| panic!("cannot run `{python}` ({err}): {PYTHON_HINT}"));
    let answer = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success() && answer.trim() == "True",
        "`{python}` is not Python 3.10 or later ({}{}): {PYTHON_HINT}",
        answer.trim(),
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    python
}

/// Runs `python -B -m unittest <args>` from the root with the SDK importable, and fails with
/// its output unless every test passed. `-B`: no `__pycache__` in `guests/` or `guest-sdk/`,
/// which the build script watches (a new file there would make every build run it again).
fn unittest(python: &str, args: &[&str], env: &[(&str, &Path)]) -> String {
    let root = root();
    let mut cmd = Process::new(python);
    cmd.args(["-B", "-m", "unittest"]).args(args).current_dir(&root).env("PYTHONPATH", root.join("guest-sdk/python"));
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().unwrap_or_else(|err| panic!("cannot run `{python}` ({err}): {PYTHON_HINT}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "python -m unittest {} failed:\n{text}", args.join(" "));
    // A run that found nothing passes too: make sure the tests ran.
    assert!(text.contains("\nOK"), "python -m unittest {} did not report OK:\n{text}", args.join(" "));
    assert!(!text.contains("Ran 0 tests"), "python -m unittest {} ran no test:\n{text}", args.join(" "));
    text
}

#[test]
fn the_python_harness_tests_and_the_guests_tests_pass() {
    let python = python();
    unittest(&python, &["discover", "-s", "guest-sdk/python/tests"], &[]);
    let mut python_guests = Vec::new();
    for entry in std::fs::read_dir(root().join("guests")).expect("list guests/") {
        let dir = entry.expect("list guests/").path();
        if dir.join("main.py").is_file() {
            python_guests.push(format!("guests/{}", dir.file_name().expect("a name").to_string_lossy()));
        }
    }
    python_guests.sort();
    assert!(python_guests.len() >= 3, "the Python guests were not found: {python_guests:?}");
    for guest in &python_guests {
        // Every example shows how its orchestrators are tested.
        assert!(
            root().join(guest).join("test_main.py").is_file(),
            "{guest} has no test_main.py: write its unit tests with reprise.testing (see guest-sdk/README.md)"
        );
        // One process per guest: each has a module named `main`.
        unittest(&python, &["discover", "-s", guest, "-t", guest], &[]);
    }
}

/// The scenarios: instance id, orchestrator, input, what moves it on.
fn scenarios() -> Vec<(&'static str, &'static str, Value, Then)> {
    vec![
        (
            "transfer-ok",
            "TransferFunds",
            json!({"sourceAccount": "A", "destinationAccount": "B", "amount": 5}),
            Then::Finish,
        ),
        (
            "transfer-frozen",
            "TransferFunds",
            json!({"sourceAccount": "A", "destinationAccount": "frozen-B", "amount": 250}),
            Then::Finish,
        ),
        ("transfer-bad-input", "TransferFunds", json!({"amount": 5}), Then::Finish),
        ("approval-yes", "py_approval", json!({"value": 4}), Then::Approve),
        ("approval-timeout", "py_approval", json!({"value": 5}), Then::MoveTime),
        ("py-entities", "py_entities", json!("py"), Then::Finish),
        ("py-account", "py_account", json!({"limit": 100}), Then::Deposits),
        // Waits of 1000, 1200, 1440, 1728 ms (1.2 cubed is where libm's pow and Rust's powi
        // part), then the 2 s maximum.
        (
            "backoff-retried",
            "py_backoff",
            json!({
                "fail_times": 5, "max_attempts": 6, "first_retry_ms": 1000, "coefficient": 1.2, "max_retry_ms": 2000
            }),
            Then::MoveTime,
        ),
        // Attempts at 0, 1000, 2200 and 3640 ms; the fifth, at 5368 ms, would be past the timeout.
        (
            "backoff-timeout",
            "py_backoff",
            json!({
                "fail_times": 9, "max_attempts": 10, "first_retry_ms": 1000, "coefficient": 1.2, "retry_timeout_ms": 5000
            }),
            Then::MoveTime,
        ),
    ]
}

/// The file `reprise history ID --json` is written to.
fn cli_history_file(id: &str) -> String {
    format!("{}.history.json", id.replace(':', "_"))
}

/// The scenario's manifest entry for the Python side: what the host did, and where its history is.
fn manifest_entry(
    id: &str,
    orchestrator: &str,
    input: &Value,
    then: Then,
    record: &InstanceRecord,
    history: &[HistoryEvent],
) -> Value {
    let commands: Vec<String> = history.iter().filter_map(|e| command_words(&e.event)).collect();
    let failure = record.failure.as_ref().map(|f| json!({"error_type": f.error_type, "message": f.message}));
    let output: Option<Value> =
        record.output.as_ref().map(|o| serde_json::from_str(o.as_str()).expect("the output is JSON"));
    let custom_status: Option<Value> =
        record.custom_status.as_ref().map(|s| serde_json::from_str(s.as_str()).expect("the custom status is JSON"));
    json!({
        "id": id,
        "orchestrator": orchestrator,
        "input": input,
        "then": then.name(),
        "updates": deposits(),
        "status": record.status.to_string(),
        "output": output,
        "failure": failure,
        "custom_status": custom_status,
        "commands": commands,
        "history": format!("{id}.reprise"),
        "cli_history": cli_history_file(id),
        "children": children(history)
            .iter()
            .map(|child| json!({"id": child, "cli_history": cli_history_file(child)}))
            .collect::<Vec<_>>(),
    })
}

/// Writes what `reprise history ID --json --db DB` prints into `dir`, for `id` and the children
/// each manifest entry names.
fn write_cli_histories(db: &Path, manifest: &[Value], dir: &Path) {
    let mut ids = Vec::new();
    for entry in manifest {
        ids.push(entry["id"].as_str().expect("an id").to_string());
        for child in entry["children"].as_array().expect("children") {
            ids.push(child["id"].as_str().expect("a child id").to_string());
        }
    }
    for id in ids {
        write_cli_history(db, &id, &dir.join(cli_history_file(&id)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_harness_agrees_with_the_host() {
    let python = python();
    let components = [
        guests::PY_TRANSFER_FUNDS.path(),
        guests::PY_MIXED_LANGUAGES.path(),
        guests::SUB_ORCHESTRATIONS,
        guests::RETRY_PATTERN,
    ];
    let temp = tempfile::tempdir().expect("a temporary directory");
    let db = temp.path().join("reprise.db");
    // What the Python side reads: kept where REPRISE_AGREEMENT_KEEP says, to rerun
    // host_agreement.py by hand against it.
    let dir = match std::env::var_os("REPRISE_AGREEMENT_KEEP") {
        Some(keep) => PathBuf::from(keep),
        None => temp.path().to_path_buf(),
    };
    std::fs::create_dir_all(&dir).expect("create the agreement directory");
    let harness = Harness::on(&db, Options::cache(1024), &components).await;
    let mut manifest = Vec::new();
    for (id, orchestrator, input, then) in scenarios() {
        harness.start(id, orchestrator, input.clone()).await;
        let record = drive(&harness, id, then).await;
        let history = harness.history(id).await;
        // The host's clock is shared: a scenario after the timeout one starts an hour later.
        let started_at = started_at(id, &history);
        // The events as a bundle stores them (payloads as JSON text, times in milliseconds).
        let bundle = json!({
            "format": "reprise-bundle",
            "instance": {"instance_id": id},
            "executions": [{"execution": record.execution, "events": history}],
        });
        std::fs::write(dir.join(format!("{id}.reprise")), bundle.to_string()).expect("write the history");
        let mut entry = manifest_entry(id, orchestrator, &input, then, &record, &history);
        entry["started_at"] = json!(started_at);
        manifest.push(entry);
    }
    harness.stop().await;
    let statuses: Vec<&str> = manifest.iter().map(|m| m["status"].as_str().expect("a status")).collect();
    assert_eq!(
        statuses,
        [
            "Completed",
            "Completed",
            "Failed",
            "Completed",
            "Completed",
            "Completed",
            "Completed",
            "Completed",
            "Completed"
        ],
        "{manifest:#?}"
    );
    write_cli_histories(&db, &manifest, &dir);
    std::fs::write(dir.join("manifest.json"), Value::Array(manifest).to_string()).expect("write the manifest");

    let text = unittest(
        &python,
        &["discover", "-s", "guest-sdk/python/tests", "-p", "host_agreement.py"],
        &[("REPRISE_AGREEMENT_DIR", dir.as_path())],
    );
    assert!(text.contains("Ran 1 test"), "{text}");
}
