//! Seed 000's durable retries under the SDK's test harness: the host's backoff, in virtual time.

use reprise_sdk::testing::{Harness, Recorded, Status, replay};

use super::*;

const GOLDENS: [&str; 2] = [
    include_str!("../../../tests/golden/retry-pattern.golden-retries.reprise"),
    include_str!("../../../tests/golden/retry-pattern.golden-retries-exhausted.reprise"),
];

fn harness() -> Harness {
    Harness::new().component(reprise_sdk::component!())
}

#[test]
fn the_host_waits_between_attempts_with_backoff() {
    let request = serde_json::json!({"fail_times": 3, "max_attempts": 5, "first_retry_ms": 1000, "backoff": 2.0});
    let mut run = harness().start_named("retry_with_backoff", &request);
    assert_eq!(run.status(), Status::Running);
    run.run_to_completion();
    assert_eq!(run.output::<String>().as_deref(), Ok("Succeeded with payload: demo"));
    let start = run.activity_calls()[0].at;
    let offsets: Vec<u64> = run.calls_of("flaky_activity").iter().map(|c| c.at - start).collect();
    assert_eq!(offsets, [0, 1_000, 3_000, 7_000]);
}

#[test]
fn the_last_failure_reaches_the_orchestrator_when_attempts_run_out() {
    let run = {
        let mut run =
            harness().start(retry_orchestrator, &Some(serde_json::json!({"fail_times": 9, "max_attempts": 2})));
        run.run_to_completion();
        run
    };
    let failure = run.failure().unwrap();
    assert_eq!(failure.error_type, "ActivityFailed");
    assert!(failure.is("TransientFailure"));
    assert_eq!(run.calls_of("flaky_activity").len(), 2);
}

#[test]
fn a_never_retried_failure_is_attempted_once() {
    let request = serde_json::json!({"fatal": true, "never_retry": ["Fatal"], "max_attempts": 5});
    let run = harness().start_named("retry_with_backoff", &request);
    assert_eq!(run.status(), Status::Failed);
    assert_eq!(run.calls_of("fatal_activity").len(), 1);
}

#[test]
fn the_harness_decides_as_the_host_did() {
    for golden in GOLDENS {
        let recorded = Recorded::parse(golden).unwrap();
        match recorded.started().map(|(name, _)| name) {
            Some("retry_orchestrator") => replay(golden, retry_orchestrator),
            _ => replay(golden, retry_with_backoff),
        }
        .expect("the code replays the host's history");
        harness().rerun(&recorded).assert_same_commands(&recorded);
    }
}
