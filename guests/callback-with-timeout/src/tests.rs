//! Seed 001's callback with a timeout under the SDK's test harness: the event, the timer and
//! the retries, in virtual time.

use std::time::Duration;

use reprise_sdk::testing::{Harness, Recorded, Status, replay};
use serde_json::json;

use super::*;

const GOLDEN: &str = include_str!("../../../tests/golden/callback-with-timeout.golden-callback.reprise");

fn harness() -> Harness {
    Harness::new().component(reprise_sdk::component!())
}

fn request(job: &str) -> Value {
    json!({"job": job, "timeout_ms": 30_000, "max_retries": 2})
}

#[test]
fn the_callback_before_the_timeout_completes_the_job() {
    let mut run = harness().start(run_job, &request("report"));
    assert_eq!(run.status(), Status::Running);
    run.advance(Duration::from_secs(29)).raise_event("JobCompleted", &json!({"rows": 7}));
    let output = run.output::<Value>().unwrap();
    assert_eq!(output, json!({"status": "completed", "attempts": 1, "result": {"rows": 7}}));
}

#[test]
fn a_timeout_sends_the_job_again() {
    let mut run = harness().start(run_job, &request("report"));
    run.advance(Duration::from_secs(30));
    assert_eq!(run.custom_status::<String>().as_deref(), Some("retrying after timeout (attempt 1)"));
    let attempts: Vec<u32> = run.calls_of("send_job").iter().map(|c| c.attempt).collect();
    assert_eq!(attempts, [1, 1], "each send is a new task, attempt 1 of its own");
    run.raise_event("JobCompleted", &"late but fine");
    assert_eq!(run.output::<Value>().unwrap()["attempts"], 2);
}

#[test]
fn no_callback_at_all_fails_after_the_last_attempt() {
    let mut run = harness().start(run_job, &request("report"));
    run.run_to_completion();
    let failure = run.failure().unwrap();
    assert_eq!(failure.error_type, "JobTimedOut");
    assert_eq!(failure.message, "no callback after 3 attempts");
    assert_eq!(run.calls_of("send_job").len(), 3);
}

#[test]
fn the_callback_or_the_timer_whichever_comes_first() {
    let found = harness().explore(run_job, &request("report")).event("JobCompleted", &"done").check(|run| {
        match run.status() {
            Status::Completed => assert_eq!(run.output::<Value>().unwrap()["result"], "done"),
            // The event came after the last timeout: the job timed out, as it should.
            Status::Failed => assert_eq!(run.failure().unwrap().error_type, "JobTimedOut"),
            other => panic!("the job neither completed nor timed out: {other:?}"),
        }
    });
    found.assert_all_pass();
    assert!(found.exhaustive);
}

#[test]
fn the_harness_decides_as_the_host_did() {
    replay(GOLDEN, run_job).expect("the code replays the host's history");
    let recorded = Recorded::parse(GOLDEN).unwrap();
    harness().rerun(&recorded).assert_same_commands(&recorded);
}
