//! Seeds 002 and 004: a race with a timer, and polling with durable timers, under the SDK's test
//! harness.

use std::time::Duration;

use reprise_sdk::testing::{Harness, Recorded, replay};

use super::*;

const GOLDEN: &str = include_str!("../../../tests/golden/timeouts-and-polling.golden-timers.reprise");

fn harness() -> Harness {
    Harness::new().component(reprise_sdk::component!())
}

fn polling(ready_after: u32, deadline_ms: u64) -> serde_json::Value {
    serde_json::json!({"ready_after": ready_after, "interval_ms": 2_000, "deadline_ms": deadline_ms})
}

#[test]
fn polling_waits_on_durable_timers_until_done() {
    let mut run = harness().start(poll_until_done, &polling(3, 60_000));
    assert_eq!(run.custom_status::<String>().as_deref(), Some("poll 1"));
    run.advance(Duration::from_secs(2));
    assert_eq!(run.custom_status::<String>().as_deref(), Some("poll 2"));
    run.run_to_completion();
    assert_eq!(run.output::<serde_json::Value>().unwrap()["polls"], 3);
}

#[test]
fn polling_gives_up_at_the_deadline() {
    let mut run = harness().start(poll_until_done, &polling(100, 5_000));
    run.run_to_completion();
    assert_eq!(run.failure().unwrap().error_type, "PollingDeadlineExceeded");
    assert_eq!(run.calls_of("check_status").len(), 3);
}

#[test]
fn a_race_with_a_timer_ends_either_way() {
    // The real `slow_work` sleeps: a stand-in with the same output keeps the test fast.
    let harness = harness().activity("slow_work", |_: &ActivityContext, _: u64| Ok("done".to_string()));
    let found =
        harness.explore(race_with_timer, &serde_json::json!({"work_ms": 5_000, "timeout_ms": 100})).check(|run| {
            let output: String = run.output().unwrap();
            assert!(output == "done" || output == "timed out", "{output}");
        });
    found.assert_all_pass();
    assert_eq!(found.runs, 3);
}

#[test]
fn the_harness_decides_as_the_host_did() {
    replay(GOLDEN, poll_until_done).expect("the code replays the host's history");
    let recorded = Recorded::parse(GOLDEN).unwrap();
    harness().rerun(&recorded).assert_same_commands(&recorded);
}
