//! Guests written in Python, JavaScript and C (`guests/py-*`, `guests/js-*`, `guests/c-*`, built
//! with componentize-py, componentize-js and `zig cc` by the build script) run by the real
//! executor next to Rust guests: an orchestration whose steps run in three languages, seed 002's
//! compensation in Python, seed 001's fan-out/fan-in in JavaScript, a C activity called from
//! Python (its output, and its structured failures caught as the cause of `ActivityFailed`),
//! language exceptions as structured failures, and the determinism of Python's
//! `random`/`time`/`uuid` and JavaScript's `Math.random()`/`Date.now()` on replay.
//!
//! Compiling one of these components takes seconds (they embed an interpreter), so every
//! scenario runs on one host per path: one with a cache (hot path) and one with a cache of 0
//! (cold path: every episode replays the history from the start). Each component is thus
//! compiled once per path, and the two paths' histories are compared scenario by scenario.

use crate::harness::{BOTH_PATHS, Compare, Harness, T0, kinds, normalized, output, scheduled};
use reprise_core::{Event, HistoryEvent, RuntimeStatus};
use reprise_store::InstanceRecord;
use reprise_tests::guests;
use serde_json::{Value, json};

/// Every component the scenarios use: the Python, JavaScript and C guests (a guest whose
/// toolchain is missing fails the test here, with the tool to install), and the Rust guests
/// whose activities they call (`double`, `echo`).
fn components() -> [&'static str; 6] {
    [
        guests::PY_MIXED_LANGUAGES.path(),
        guests::PY_TRANSFER_FUNDS.path(),
        guests::JS_FAN_OUT.path(),
        guests::C_HELLO.path(),
        guests::SUB_ORCHESTRATIONS,
        guests::DETERMINISM,
    ]
}

fn scheduled_input(history: &[HistoryEvent], task: u64) -> Value {
    history
        .iter()
        .find_map(|e| match &e.event {
            Event::ActivityScheduled { task_id, input, .. } if *task_id == task => {
                Some(serde_json::from_str(input).expect("activity input is JSON"))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("task {task} was never scheduled"))
}

/// One instance's end and history, on one path.
struct Run {
    record: InstanceRecord,
    history: Vec<HistoryEvent>,
}

/// The scenarios, each an instance id, an orchestrator, an input, and how closely the two
/// paths' histories must agree.
fn scenarios() -> Vec<(&'static str, &'static str, Value, Compare)> {
    vec![
        ("mixed-1", "mixed_languages", json!({"value": 21, "text": "durable"}), Compare::Commands),
        (
            "transfer-frozen",
            "TransferFunds",
            json!({"sourceAccount": "acct-A", "destinationAccount": "frozen-B", "amount": 250}),
            Compare::Exact,
        ),
        (
            "transfer-ok",
            "TransferFunds",
            json!({"sourceAccount": "acct-A", "destinationAccount": "acct-B", "amount": 5}),
            Compare::Exact,
        ),
        ("transfer-bad-input", "TransferFunds", json!({"amount": 5}), Compare::Exact),
        ("fan-out-1", "js_fan_out", json!({"items": 20}), Compare::Commands),
        ("py-probe-a", "py_determinism_probe", json!(null), Compare::Exact),
        ("py-probe-b", "py_determinism_probe", json!(null), Compare::Exact),
        ("js-probe-a", "js_determinism_probe", json!(null), Compare::Exact),
        ("js-probe-b", "js_determinism_probe", json!(null), Compare::Exact),
        // An event arrives while the children run: the episode that records it may differ.
        ("approval-yes", "py_approval", json!({"value": 4}), Compare::Commands),
        (TIMES_OUT, "py_approval", json!({"value": 5}), Compare::Exact),
        ("countdown", "js_countdown", json!({"n": 3}), Compare::Exact),
        ("first-ok", "js_first_or_timeout", json!(2), Compare::Exact),
        ("first-rejected", "js_first_or_timeout", json!(3), Compare::Exact),
        // (The clock moves for the timeout scenario while these run: episode times may differ.)
        ("py-entities", "py_entities", json!("py"), Compare::Commands),
        ("js-entity-lock", "js_entity_add_below", json!({"key": "js", "amount": 7}), Compare::Commands),
        ("c-word-count", "py_word_counts", word_count_inputs(), Compare::Commands),
    ]
}

/// The scenario that gets no approval: the test moves the clock to its timer once every other
/// scenario has finished (the clock is the host's, shared by all instances).
const TIMES_OUT: &str = "approval-timeout";

/// Runs every scenario on one host with a cache of `cache` instances, all instances at once.
async fn run_all(cache: usize) -> Vec<Run> {
    let harness = Harness::new(cache, &components()).await;
    let loaded: Vec<&str> = harness.loaded.iter().flat_map(|c| c.orchestrators.iter().map(String::as_str)).collect();
    for name in ["mixed_languages", "py_determinism_probe", "TransferFunds", "js_fan_out", "js_determinism_probe"] {
        assert!(loaded.contains(&name), "the host did not load the orchestrator {name}: it has {loaded:?}");
    }
    let c = harness.loaded.iter().find(|c| c.source.ends_with("c_hello.wasm")).expect("the C guest was loaded");
    assert_eq!((c.activities.as_slice(), c.orchestrators.len()), (&["c_word_count".to_owned()][..], 0));
    for (id, orchestrator, input, _) in scenarios() {
        harness.start(id, orchestrator, input).await;
    }
    harness.host.raise_event("approval-yes", "Approval", r#"{"by": "alice"}"#).await.expect("raise the event");
    let mut runs = Vec::new();
    for (id, ..) in scenarios() {
        let record = if id == TIMES_OUT { harness.finished_moving_time(id).await } else { harness.finished(id).await };
        let history = harness.history(id).await;
        runs.push(Run { record, history });
    }
    harness.assert_quiescent().await;
    if cache == 0 {
        assert_eq!(harness.host.cached_instances(), 0, "cache size 0 must not park instances");
    }
    harness.stop().await;
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_javascript_and_c_guests_on_the_hot_and_cold_paths() {
    let mut paths = Vec::new();
    for cache in BOTH_PATHS {
        paths.push(run_all(cache).await);
    }
    let (hot, cold) = (&paths[0], &paths[1]);

    // The two paths agree, scenario by scenario.
    for (i, (id, _, _, compare)) in scenarios().into_iter().enumerate() {
        let (h, c) = (&hot[i], &cold[i]);
        match compare {
            Compare::Exact => {
                assert_eq!(h.history, c.history, "{id}: the hot and cold paths recorded different histories")
            }
            Compare::Commands => {
                assert_eq!(normalized(&h.history), normalized(&c.history), "{id}: the hot and cold paths disagree")
            }
        }
        assert_eq!(h.record.status, c.record.status, "{id}");
        assert_eq!(h.record.output, c.record.output, "{id}");
        assert_eq!(h.record.failure, c.record.failure, "{id}");
        assert_eq!(h.record.custom_status, c.record.custom_status, "{id}");
    }

    for (path, runs) in ["hot", "cold"].into_iter().zip(&paths) {
        let by_id = |wanted: &str| {
            let i = scenarios().iter().position(|(id, ..)| *id == wanted).expect("a scenario");
            &runs[i]
        };
        check_mixed_languages(path, by_id("mixed-1"));
        check_transfer_refunded(path, by_id("transfer-frozen"));
        check_transfer_succeeded(path, by_id("transfer-ok"));
        check_python_exception(path, by_id("transfer-bad-input"));
        check_js_fan_out(path, by_id("fan-out-1"), 20);
        check_determinism(path, by_id("py-probe-a"), by_id("py-probe-b"), PY_PROBE);
        check_determinism(path, by_id("js-probe-a"), by_id("js-probe-b"), JS_PROBE);
        check_approval(path, by_id("approval-yes"), by_id(TIMES_OUT));
        check_countdown(path, by_id("countdown"));
        let (ok, rejected) = (output(&by_id("first-ok").record), output(&by_id("first-rejected").record));
        assert_eq!(ok, json!({"winner": "activity", "value": 20}), "{path}");
        assert_eq!(rejected, json!({"winner": "activity", "value": "ActivityFailed/ItemRejected"}), "{path}");
        // A Python entity, called and signalled from Python (its failure caught as an exception)
        // and locked from JavaScript.
        let entities = output(&by_id("py-entities").record);
        assert_eq!(entities["caught"], json!("EntityOperationFailed"), "{path}: {entities}");
        assert_eq!(entities["cause"], json!("InvalidOperation"), "{path}: {entities}");
        assert_eq!(entities["after_add"], json!(7), "{path}: the signal ran first, the failed add changed nothing");
        assert_eq!(entities["value"], json!(7), "{path}: {entities}");
        assert_eq!(output(&by_id("js-entity-lock").record), json!({"before": 0, "after": 7}), "{path}");
        check_c_word_count(path, by_id("c-word-count"));
    }
}

/// What the Python orchestrator `py_word_counts` hands the C activity `c_word_count`, one call
/// each. Python's JSON escapes the controls and every non-ASCII character (the emoji as a
/// surrogate pair), which the C code decodes.
fn word_count_inputs() -> Value {
    json!(["the quick brown fox", "  tabs\tand\nnewlines\r\n", "héllo wörld 😀", " \t\n ", 42])
}

/// A C activity called from Python: its JSON outputs, a failure with the C code's error type
/// as the cause of `ActivityFailed` (caught by the Python code), and one that is not a string.
fn check_c_word_count(path: &str, run: &Run) {
    let out = output(&run.record);
    assert_eq!(
        out,
        json!([
            {"words": 4, "bytes": 19},
            {"words": 3, "bytes": 21},
            {"words": 3, "bytes": 18},
            {"failed": "ActivityFailed", "cause": "EmptyText", "message": "the text has no words to count"},
            {"failed": "ActivityFailed", "cause": "InvalidInput", "message": "the input is not a JSON string"},
        ]),
        "{path}"
    );
    assert_eq!(scheduled(&run.history), ["c_word_count"; 5], "{path}");
    let failed = run
        .history
        .iter()
        .find_map(|e| match &e.event {
            Event::ActivityFailed { task_id: 3, failure } => Some(failure.clone()),
            _ => None,
        })
        .expect("the count of a blank text failed");
    assert_eq!(failed.error_type, "ActivityFailed", "{path}");
    assert_eq!(failed.causes[0].error_type, "EmptyText", "{path}: {failed}");
}

/// A Python orchestrator calls a Rust activity and a JavaScript activity, one after the other
/// and then both at once.
fn check_mixed_languages(path: &str, run: &Run) {
    let out = output(&run.record);
    assert_eq!(out["doubled"], json!(42), "{path}: {out}");
    assert_eq!(out["shouted"], json!("DURABLE!"), "{path}: {out}");
    assert_eq!(out["both"], json!([84, "DURABLE!!"]), "{path}: {out}");
    assert_eq!(run.record.custom_status.as_deref(), Some("\"done\""), "{path}");
    assert_eq!(scheduled(&run.history), ["double", "js_shout", "double", "js_shout"], "{path}");
    // The JavaScript call carried the Python SDK's retry policy to the host.
    let options = run
        .history
        .iter()
        .find_map(|e| match &e.event {
            Event::ActivityScheduled { task_id: 1, options, .. } => Some(options.clone()),
            _ => None,
        })
        .expect("js_shout was scheduled as task 1");
    let retry = options.retry.expect("the retry policy reached the host");
    assert_eq!((retry.max_attempts, retry.first_retry_interval_ms), (3, 1000), "{path}");
}

/// Seed 002 in Python: the failed credit is caught with `try/except` and compensated.
fn check_transfer_refunded(path: &str, run: &Run) {
    let out = output(&run.record);
    assert_eq!(out["status"], json!("refunded"), "{path}: {out}");
    assert_eq!(out["cause"], json!("AccountFrozen"), "{path}: {out}");
    assert!(out["reason"].as_str().unwrap().contains("frozen-B"), "{path}: {out}");
    assert_eq!(scheduled(&run.history), ["DebitAccount", "CreditAccount", "CreditAccount"], "{path}");
    let failed = run
        .history
        .iter()
        .find_map(|e| match &e.event {
            Event::ActivityFailed { task_id: 1, failure } => Some(failure.clone()),
            _ => None,
        })
        .expect("the credit of the destination failed");
    assert_eq!(failed.error_type, "ActivityFailed", "{path}");
    assert_eq!(failed.causes[0].error_type, "AccountFrozen", "{path}");
    assert_eq!(scheduled_input(&run.history, 2)["account"], json!("acct-A"), "{path}: the refund credits the source");
}

fn check_transfer_succeeded(path: &str, run: &Run) {
    assert_eq!(output(&run.record), json!({"status": "transferred"}), "{path}");
    assert_eq!(scheduled(&run.history), ["DebitAccount", "CreditAccount"], "{path}");
}

/// An exception the Python code does not catch fails the instance with its class as the error
/// type and its traceback as details.
fn check_python_exception(path: &str, run: &Run) {
    assert_eq!(run.record.status, RuntimeStatus::Failed, "{path}");
    let failure = run.record.failure.as_ref().expect("a failure");
    assert_eq!(failure.error_type, "KeyError", "{path}: {failure}");
    assert!(failure.message.contains("sourceAccount"), "{path}: {failure}");
    let details = failure.details.as_deref().unwrap_or_default();
    assert!(details.contains("Traceback") && details.contains("main.py"), "{path}: {details}");
    assert!(scheduled(&run.history).is_empty(), "{path}");
    assert_eq!(kinds(&run.history).last(), Some(&"ExecutionFailed"), "{path}");
}

/// Seed 001's fan-out/fan-in in JavaScript: every task is scheduled before any result comes
/// back, and per-item failures are aggregated.
fn check_js_fan_out(path: &str, run: &Run, items: u64) {
    let out = output(&run.record);
    let rejected: Vec<u64> = (0..items).filter(|i| i % 5 == 3).collect();
    let total: u64 = (0..items).filter(|i| i % 5 != 3).map(|i| i * 10).sum();
    assert_eq!(out["failed"], json!(rejected.len()), "{path}: {out}");
    assert_eq!(out["processed"], json!(items as usize - rejected.len()), "{path}: {out}");
    assert_eq!(out["total"], json!(total), "{path}: {out}");
    assert_eq!(out["failures"][0], json!("item 3: item 3 was rejected"), "{path}: {out}");
    assert_eq!(scheduled(&run.history).len(), items as usize, "{path}");
    let first_result = run
        .history
        .iter()
        .position(|e| matches!(e.event, Event::ActivityCompleted { .. } | Event::ActivityFailed { .. }));
    let last_schedule = run.history.iter().rposition(|e| matches!(e.event, Event::ActivityScheduled { .. }));
    assert!(last_schedule < first_result, "{path}: all tasks are scheduled before any result is delivered");
    assert_eq!(run.record.custom_status.as_deref(), Some("\"aggregated\""), "{path}");
}

/// Python: sub-orchestrations (one refused by the Rust child), and an event raced against a
/// durable timer, won by the event in one instance and by the timer in the other.
fn check_approval(path: &str, approved: &Run, timed_out: &Run) {
    let out = output(&approved.record);
    assert_eq!(
        out,
        json!({"doubled": 8, "refused": ["SubOrchestrationFailed", "UnluckyNumber"], "approved": true, "approver": "alice"}),
        "{path}"
    );
    assert_eq!(approved.record.custom_status.as_deref(), Some("\"approved\""), "{path}");
    let out = output(&timed_out.record);
    assert_eq!(out["doubled"], json!(10), "{path}: {out}");
    assert_eq!(out["approved"], json!(false), "{path}: {out}");
    assert_eq!(out["approver"], json!(null), "{path}: {out}");
    assert_eq!(timed_out.record.custom_status.as_deref(), Some("\"timed out\""), "{path}");
    let fire_at = timed_out
        .history
        .iter()
        .find_map(|e| match e.event {
            Event::TimerScheduled { fire_at, .. } => Some(fire_at),
            _ => None,
        })
        .expect("a timer was scheduled");
    assert_eq!(fire_at, T0 + 3_600_000, "{path}: the timer fires an hour after the logical time");
    assert!(kinds(&timed_out.history).contains(&"TimerFired"), "{path}");
}

/// JavaScript: continue-as-new carries the state into a new execution with an empty history.
fn check_countdown(path: &str, run: &Run) {
    let out = output(&run.record);
    let ns: Vec<u64> = out.as_array().expect("a list").iter().map(|e| e["n"].as_u64().expect("n")).collect();
    assert_eq!(ns, [3, 2, 1, 0], "{path}: {out}");
    assert_eq!(run.record.execution, 4, "{path}: one execution per count, numbered from 1");
    assert!(scheduled(&run.history).is_empty(), "{path}");
}

/// The fields of a probe's sample: those that read the clock, and those drawn at random.
struct Probe {
    clock: &'static [&'static str],
    random: &'static [&'static str],
}

const PY_PROBE: Probe =
    Probe { clock: &["time_ms", "context_time_ms"], random: &["random", "randint", "uuid4", "guid"] };
const JS_PROBE: Probe = Probe { clock: &["dateNow", "contextTimeMs"], random: &["random", "randomValues", "guid"] };

/// The probe's first sample went into history (as the activity's input) when the instance first
/// ran; the output's `before` is that sample as the final episode drew it again. On the cold
/// path the final episode replayed from the start, so any value the host did not make
/// deterministic would differ. Random values still vary within a run and between instances.
fn check_determinism(path: &str, a: &Run, b: &Run, probe: Probe) {
    for run in [a, b] {
        let out = output(&run.record);
        assert_eq!(out["before"], out["recorded"], "{path}: a replay drew other values than the first run: {out}");
        assert_eq!(out["before"], scheduled_input(&run.history, 0), "{path}: {out}");
        for field in probe.clock {
            assert_eq!(out["before"][field], json!(T0), "{path}: {field} reads the logical clock: {out}");
        }
        for field in probe.random {
            assert!(!out["before"][field].is_null(), "{path}: {field} was sampled: {out}");
            assert_ne!(out["before"][field], out["after"][field], "{path}: {field} still varies within a run: {out}");
        }
    }
    let (a, b) = (output(&a.record), output(&b.record));
    for field in probe.random {
        assert_ne!(a["before"][field], b["before"][field], "{path}: two instances drew the same {field}");
    }
}
