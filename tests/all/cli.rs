//! The `reprise` command as a user types it: JSON arguments from files and standard input,
//! payloads shown exactly as stored, failures with their details, help that matches what the
//! commands accept.

use crate::harness::{Killed, listening_address, number_tokens};
use reprise_core::RuntimeStatus;
use reprise_tests::guests;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

fn reprise(args: &[&str], db: &Path) -> Output {
    Command::new(REPRISE).args(args).arg("--db").arg(db).output().expect("run reprise")
}

/// Runs reprise with `stdin` piped to it.
fn reprise_with_stdin(args: &[&str], db: &Path, stdin: &str) -> Output {
    let mut child = Command::new(REPRISE)
        .args(args)
        .arg("--db")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run reprise");
    let mut pipe = child.stdin.take().expect("stdin");
    let text = stdin.to_string();
    let writer = std::thread::spawn(move || pipe.write_all(text.as_bytes()));
    let output = child.wait_with_output().expect("wait for reprise");
    writer.join().unwrap().expect("write stdin");
    output
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "reprise failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// A JSON array of `count` strings: about 13 bytes per element.
fn big_array(count: usize) -> String {
    let items: Vec<String> = (0..count).map(|i| format!("\"item-{i:06}\"")).collect();
    format!("[{}]", items.join(","))
}

#[test]
fn json_arguments_larger_than_a_command_line_come_from_a_file_or_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inputs.db");
    // 260 KB: twice what Linux allows in one command-line argument.
    let big = big_array(20_000);
    assert!(big.len() > 256 * 1024);
    let file = dir.path().join("big.json");
    std::fs::write(&file, &big).unwrap();
    let at_file = format!("@{}", file.display());

    let from_stdin = ok(&reprise_with_stdin(
        &["run", "echo_input", "--id", "stdin", "--input", "-", "--component", guests::MISBEHAVING],
        &db,
        &big,
    ));
    let echoed: serde_json::Value = serde_json::from_str(&from_stdin).expect("run prints the output JSON");
    assert_eq!(echoed, serde_json::from_str::<serde_json::Value>(&big).unwrap());

    assert_eq!(ok(&reprise(&["start", "echo_input", "--id", "file", "--input", &at_file], &db)).trim(), "file");
    let store = reprise_store::SqliteStore::open(&db).unwrap();
    use reprise_store::HistoryStore as _;
    assert_eq!(store.instance("file").unwrap().unwrap().input.as_str(), big, "the file's text, whole");

    let raised = reprise(&["raise", "file", "Big", "--data", &at_file], &db);
    ok(&raised);
    let entity = reprise_with_stdin(&["entity", "signal", "Keeper", "k", "set", "--input", "-"], &db, &big);
    ok(&entity);

    let missing = reprise(&["start", "echo_input", "--input", "@/nonexistent/input.json"], &db);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("cannot read the JSON file /nonexistent/input.json"), "{stderr}");
}

#[test]
fn numbers_are_shown_as_they_were_given() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("numbers.db");
    let given = ["0.9570227765943855", "12345678901234567890123", "1e400", "-0.10", "2E-7", "9007199254740993"];
    let input = format!("[{}]", given.join(", "));
    let printed =
        ok(&reprise(&["run", "echo_raw", "--id", "n", "--input", &input, "--component", guests::MISBEHAVING], &db));
    let expected: Vec<String> = given.iter().chain(&given).map(|n| n.to_string()).collect();
    assert_eq!(number_tokens(&printed), expected, "run's output: {printed}");

    let status = ok(&reprise(&["status", "n", "--json"], &db));
    for number in given {
        assert_eq!(
            status.matches(number).count(),
            3,
            "status --json shows {number} in the input and twice in the output: {status}"
        );
    }
    let history = ok(&reprise(&["history", "n", "--json"], &db));
    for number in given {
        assert!(history.matches(number).count() >= 4, "history --json keeps {number}: {history}");
    }
    let text = ok(&reprise(&["status", "n"], &db));
    assert!(text.contains("[0.9570227765943855,12345678901234567890123,1e400,-0.10,2E-7,9007199254740993]"), "{text}");
    let entity = ok(&reprise(&["entity", "get", "Keeper", "n"], &db));
    assert_eq!(number_tokens(&entity), given, "entity get: {entity}");
}

#[test]
fn status_shows_a_trapped_instance_details_and_run_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("trap.db");
    let run = reprise(&["run", "panics", "--id", "p", "--component", guests::MISBEHAVING], &db);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("GuestTrapped: orchestrator 'panics' trapped: panicked at "), "{stderr}");
    let shown = ok(&reprise(&["status", "p"], &db));
    assert!(shown.contains("details: ") && shown.contains("wasm backtrace"), "status shows the details: {shown}");
}

#[test]
fn help_texts_name_what_the_commands_accept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("help.db");
    let list = ok(&reprise(&["list", "--help"], &db));
    for status in RuntimeStatus::ALL {
        assert!(list.contains(status.as_str()), "list --help names {status}: {list}");
    }
    for args in [["run", "--help"], ["start", "--help"], ["raise", "--help"]] {
        // Words, whatever the wrapping.
        let help = ok(&reprise(&args, &db)).split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(help.contains("@FILE or - (standard input)"), "{args:?}: {help}");
    }
    let signal = ok(&reprise(&["entity", "signal", "--help"], &db));
    assert!(signal.contains("@FILE"), "{signal}");
    let run = ok(&reprise(&["run", "--help"], &db)).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(run.contains("1 when it fails or is terminated") && run.contains("2 on bad usage"), "{run}");
    let top = ok(&reprise(&["--help"], &db));
    assert!(top.contains("entities"), "{top}");
}

/// A `reprise serve --listen` on `db` with `components`, killed when dropped; returns once it
/// listens, which it does once its components are in the database (so that commands run beside
/// it find the orchestrators).
fn serve_beside(db: &Path, components: &[&str]) -> Killed {
    let mut command = Command::new(REPRISE);
    command.args(["serve", "--listen", "127.0.0.1:0", "--db"]).arg(db);
    for component in components {
        command.args(["--component", component]);
    }
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start reprise serve");
    let stderr = child.stderr.take().expect("stderr");
    let server = Killed(child);
    listening_address(stderr);
    server
}

/// `reprise start --wait` beside a running `serve` (another process): the output and exit 0 when
/// the instance completes in time, its id and exit 3 when it is still running (and it goes on),
/// the failure and exit 1 when it fails.
#[test]
fn start_wait_reports_the_end_or_that_the_instance_goes_on() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("reprise.db");
    let _server = serve_beside(&db, &[guests::RETRY_PATTERN, guests::CALLBACK_WITH_TIMEOUT]);

    let input = r#"{"input": "demo", "fail_times": 0}"#;
    let done = reprise(&["start", "retry_orchestrator", "--input", input, "--wait", "60s"], &db);
    assert_eq!(ok(&done).trim(), r#""Succeeded with payload: demo""#);

    let job = r#"{"job": "build", "timeout_ms": 600000, "max_retries": 0}"#;
    let waiting = reprise(&["start", "run_job", "--id", "job-1", "--input", job, "--wait", "300ms"], &db);
    assert_eq!(waiting.status.code(), Some(3), "{}", String::from_utf8_lossy(&waiting.stderr));
    assert_eq!(String::from_utf8_lossy(&waiting.stdout).trim(), "job-1");
    assert!(String::from_utf8_lossy(&waiting.stderr).contains("reprise status job-1"));
    let status = reprise(&["status", "job-1", "--json"], &db);
    let status: serde_json::Value = serde_json::from_str(&ok(&status)).expect("status JSON");
    assert_eq!(status["status"], "Running", "{status}");

    let failing = r#"{"input": "demo", "fail_times": 5, "max_attempts": 1}"#;
    let failed = reprise(&["start", "retry_orchestrator", "--input", failing, "--wait", "60s"], &db);
    assert_eq!(failed.status.code(), Some(1));
    assert!(failed.stdout.is_empty());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("Failed"), "{}", String::from_utf8_lossy(&failed.stderr));
}

/// `reprise update` next to a running serve: the answer and exit 0, the validator's refusal and
/// exit 1, the id and exit 3 when the answer does not come in time.
#[test]
fn update_prints_the_answer_the_refusal_or_that_it_waits() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("reprise.db");
    let _server = serve_beside(&db, &[guests::UPDATES]);

    ok(&reprise(&["start", "account", "--id", "acct", "--input", r#"{"limit": 100}"#], &db));
    let answered = reprise(&["update", "acct", "deposit", "--input", "5", "--wait", "60s"], &db);
    assert_eq!(ok(&answered).trim(), "5");

    let refused = reprise(&["update", "acct", "deposit", "--input", "0"], &db);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(said.contains("refused update 'deposit'") && said.contains("NotPositive"), "{said}");

    ok(&reprise(&["start", "deaf", "--id", "deaf"], &db));
    let waiting = reprise(&["update", "deaf", "deposit", "--input", "1", "--id", "u-1", "--wait", "300ms"], &db);
    let said = String::from_utf8_lossy(&waiting.stderr);
    assert_eq!(waiting.status.code(), Some(3), "{said}");
    assert_eq!(String::from_utf8_lossy(&waiting.stdout).trim(), "u-1");
    assert!(said.contains("--id u-1"), "{said}");

    // An error of the request, as for every command: exit 2.
    let unknown = reprise(&["update", "nobody", "deposit", "--input", "1"], &db);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no instance with id 'nobody'"));
}

/// `reprise run` shows while it waits how far the instance got and its custom status; here
/// standard error is not a terminal, so as plain lines.
#[test]
fn run_shows_the_tasks_done_and_the_custom_status_while_it_waits() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("run.db");
    // Two waits of 600 ms for a callback nobody sends, the second after a custom status; then
    // the job times out.
    let job = r#"{"job": "build", "timeout_ms": 600, "max_retries": 1}"#;
    let run = reprise(&["run", "run_job", "--input", job, "--component", guests::CALLBACK_WITH_TIMEOUT], &db);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(r#"  status: "retrying after timeout (attempt 1)""#), "{stderr}");
    let counts: Vec<&str> = stderr.lines().filter(|line| line.ends_with(" tasks done")).collect();
    assert!(!counts.is_empty(), "no count of tasks done while it waited: {stderr}");
    assert!(counts.iter().all(|line| line.trim().split_once('/').is_some()), "{counts:?}");
}

/// A purge of many instances goes in batches until none is left, and reports the total.
#[tokio::test(flavor = "multi_thread")]
async fn purging_many_instances_takes_every_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("purge.db");
    let harness = crate::harness::Harness::on(&db, crate::harness::Options::cache(64), &[guests::MISBEHAVING]).await;
    // More than two batches of the purge.
    let count = 1_234;
    for n in 0..count {
        harness.start(&format!("done-{n}"), "echo_input", serde_json::json!(n)).await;
    }
    for n in 0..count {
        harness.finished(&format!("done-{n}")).await;
    }
    harness.stop().await;
    let db_path = db.clone();
    let purge =
        tokio::task::spawn_blocking(move || reprise(&["purge", "--status", "Completed"], &db_path)).await.unwrap();
    assert_eq!(ok(&purge).trim(), count.to_string());
    let left = tokio::task::spawn_blocking(move || reprise(&["list", "--json"], &db)).await.unwrap();
    let left: serde_json::Value = serde_json::from_str(&ok(&left)).expect("list JSON");
    assert_eq!(left.as_array().map(Vec::len), Some(0), "{left}");
}

/// The schedule commands: create, list, describe (text and JSON), delete, and the refusals a
/// user meets first (a bad cron expression, an unknown time zone, both triggers), each saying
/// what to write instead.
#[test]
fn schedules_are_created_listed_described_and_deleted_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("schedules.db");
    // `run` records the component in the database, so its orchestrators can be scheduled.
    ok(&reprise(&["run", "chain", "--input", r#"{"steps": 0}"#, "--component", guests::CHAIN], &db));
    let create = [
        "schedule",
        "create",
        "nightly",
        "--orchestrator",
        "chain",
        "--input",
        r#"{"steps": 0}"#,
        "--cron",
        "0 30 2 * * *",
        "--timezone",
        "Europe/Paris",
        "--overlap",
        "buffer-one",
    ];
    let created = reprise(&create, &db);
    assert_eq!(ok(&created).trim(), "nightly");
    assert!(String::from_utf8_lossy(&created.stderr).contains("created schedule nightly: first fire"));
    ok(&reprise(&["schedule", "create", "ticks", "--orchestrator", "chain", "--every", "30s", "--paused"], &db));

    let list = ok(&reprise(&["schedule", "list"], &db));
    assert!(list.lines().next().unwrap().starts_with("NAME"), "{list}");
    assert!(list.contains(r#"cron "0 30 2 * * *" Europe/Paris"#), "{list}");
    assert!(list.lines().any(|l| l.starts_with("ticks") && l.contains("every 30s") && l.contains("paused")), "{list}");

    let text = ok(&reprise(&["schedule", "describe", "nightly"], &db));
    assert!(text.contains("overlap       buffer-one"), "{text}");
    assert!(text.contains("next fires"), "{text}");
    // Five fire times, each at 02:30 on the Paris wall clock (CET or CEST), with its UTC time.
    let fires: Vec<&str> = text.lines().filter(|l| l.contains(" 02:30:00 CE")).collect();
    assert_eq!(fires.len(), 5, "{text}");
    assert!(fires.iter().all(|l| l.trim_end().ends_with(":30:00Z")), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&reprise(&["schedule", "describe", "nightly", "--json"], &db))).unwrap();
    assert_eq!(json["trigger"]["timezone"], "Europe/Paris");
    assert_eq!(json["next"].as_array().map(Vec::len), Some(5));
    assert_eq!(json["counts"]["fired"], 0);

    let bad_cron = reprise(&["schedule", "create", "bad", "--orchestrator", "chain", "--cron", "0 */5 * *"], &db);
    assert_eq!(bad_cron.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad_cron.stderr);
    assert!(stderr.contains("invalid cron expression '0 */5 * *'") && stderr.contains("6 fields"), "{stderr}");
    let zone =
        ["schedule", "create", "bad", "--orchestrator", "chain", "--cron", "0 * * * *", "--timezone", "Mars/Olympus"];
    let zone = reprise(&zone, &db);
    assert_eq!(zone.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&zone.stderr);
    assert!(stderr.contains("unknown time zone 'Mars/Olympus'") && stderr.contains("IANA"), "{stderr}");
    let both =
        reprise(&["schedule", "create", "bad", "--orchestrator", "chain", "--cron", "* * * * *", "--every", "1m"], &db);
    assert_eq!(both.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
    let unknown = reprise(&["schedule", "create", "bad", "--orchestrator", "nope", "--every", "1m"], &db);
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no loaded component exports an orchestrator named 'nope'")
    );

    ok(&reprise(&["schedule", "delete", "nightly"], &db));
    let gone = reprise(&["schedule", "describe", "nightly"], &db);
    assert_eq!(gone.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no schedule named 'nightly'"));
    assert!(!ok(&reprise(&["schedule", "list"], &db)).contains("nightly"));
}

/// `[schedule.NAME]` in the deployment file: `serve --config` creates the schedule, and a later
/// start with a changed definition updates it, keeping what it fired.
#[test]
fn serve_applies_the_schedules_of_its_deployment_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("deployed.db");
    let config = dir.path().join("reprise.toml");
    let serve = |overlap: &str| {
        let text = format!(
            "[[component]]\npath = {:?}\n\n[schedule.hourly]\norchestrator = \"chain\"\ninput = '{{\"steps\": 0}}'\ncron = \"0 0 * * * *\"\noverlap = \"{overlap}\"\n",
            guests::CHAIN
        );
        std::fs::write(&config, text).unwrap();
        let mut child = Command::new(REPRISE)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--db")
            .arg(&db)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start reprise serve");
        let stderr = child.stderr.take().expect("stderr");
        let server = Killed(child);
        // Printed once the deployment is applied.
        listening_address(stderr);
        server
    };
    let server = serve("skip");
    let listed = ok(&reprise(&["schedule", "list"], &db));
    assert!(listed.lines().any(|l| l.starts_with("hourly") && l.contains(r#"cron "0 0 * * * *" UTC"#)), "{listed}");
    drop(server);
    let server = serve("allow");
    let described = ok(&reprise(&["schedule", "describe", "hourly"], &db));
    assert!(described.contains("overlap       allow"), "{described}");
    drop(server);
}

#[test]
fn flow_limits_from_flags_are_checked_against_the_loaded_components() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("flow.db");
    let run = |limit: &[&str]| {
        let mut args = vec!["run", "entity_error_handling", "--input", "\"c1\"", "--component", guests::ENTITIES];
        args.extend_from_slice(limit);
        reprise(&args, &db)
    };
    let limited = run(&["--entity-limit", "Counter=concurrency:1,rate:100/s"]);
    ok(&limited);
    let stderr = String::from_utf8_lossy(&limited.stderr);
    assert!(stderr.contains("flow limit of entity Counter: concurrency:1,rate:100/s,burst:100"), "{stderr}");

    let refused = |limit: &[&str], expected: &str| {
        let output = run(limit);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(expected), "{limit:?}: {stderr}");
    };
    refused(
        &["--entity-limit", "Nobody=concurrency:1"],
        "--entity-limit Nobody=concurrency:1: no loaded component exports an entity named 'Nobody' (they export: ",
    );
    refused(&["--entity-limit", "Counter=concurrency:1,key:/id"], "its limits apply to the entity name as a whole");
    refused(&["--limit", "Counter=concurrency:1"], "no loaded component exports an activity named 'Counter'");
    refused(&["--entity-limit", "Counter=rate:fast"], "write it as \"20/s\"");
}
