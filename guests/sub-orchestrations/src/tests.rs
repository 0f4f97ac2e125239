//! Sub-orchestrations and continue-as-new under the SDK's test harness.

use reprise_sdk::testing::{Harness, Recorded, Status, replay};
use serde_json::json;

use super::*;

const GOLDENS: [&str; 3] = [
    include_str!("../../../tests/golden/sub-orchestrations.golden-sub-orchestrations.reprise"),
    include_str!("../../../tests/golden/sub-orchestrations.golden-sub-orchestration-failure.reprise"),
    include_str!("../../../tests/golden/sub-orchestrations.golden-continue-as-new.reprise"),
];

fn harness() -> Harness {
    Harness::new().component(reprise_sdk::component!())
}

#[test]
fn children_run_in_parallel_and_their_sum_is_returned() {
    let run = harness().start(parent_sum, &vec![1, 2, 3]);
    assert_eq!(run.output::<u64>(), Ok(12));
    assert_eq!(run.status_of("test-instance:1:0"), Some(Status::Completed));
}

#[test]
fn a_failed_child_is_caught_by_its_parent() {
    let run = harness().start(parent_catch, &13);
    let caught = run.output::<Value>().unwrap();
    assert_eq!(caught["caught"], true);
}

#[test]
fn a_child_is_retried_with_its_policy_until_it_succeeds() {
    let start = reprise_sdk::testing::DEFAULT_START_MS;
    let mut run = harness().start(parent_retry, &json!({"succeed_after": start + 8_000}));
    assert_eq!(run.status(), Status::Running);
    run.run_to_completion();
    assert_eq!(run.status(), Status::Completed);
}

#[test]
fn continue_as_new_carries_unconsumed_events() {
    let mut run = harness().start(collector, &json!({"seen": [], "expect": 3}));
    run.raise_event("item", &1).raise_event("item", &2).raise_event("item", &3);
    assert_eq!(run.output::<Vec<Value>>().unwrap(), [json!(1), json!(2), json!(3)]);
}

#[test]
fn the_harness_decides_as_the_host_did() {
    for golden in GOLDENS {
        let recorded = Recorded::parse(golden).unwrap();
        match recorded.started().map(|(name, _)| name) {
            Some("parent_sum") => replay(golden, parent_sum).map(|_| ()),
            Some("parent_catch") => replay(golden, parent_catch).map(|_| ()),
            _ => replay(golden, counter).map(|_| ()),
        }
        .expect("the code replays the host's history");
        harness().rerun(&recorded).assert_same_commands(&recorded);
    }
}
