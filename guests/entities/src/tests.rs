//! Durable entities under the SDK's test harness: real entity code, state in memory.

use reprise_sdk::testing::{Harness, Recorded, replay};

use super::*;

const GOLDENS: [&str; 3] = [
    include_str!("../../../tests/golden/entities.golden-entities.reprise"),
    include_str!("../../../tests/golden/entities.golden-entity-error.reprise"),
    include_str!("../../../tests/golden/entities.golden-critical-section.reprise"),
];

fn harness() -> Harness {
    Harness::new().component(reprise_sdk::component!())
}

#[test]
fn the_counter_is_read_then_incremented_below_ten() {
    let key = "c1";
    let harness = harness().entity_state(&counter(key), &serde_json::json!({"value": 4}));
    let run = harness.start(counter_orchestration, &key);
    assert_eq!(run.output::<i64>(), Ok(4));
    assert_eq!(run.entity_state::<serde_json::Value>(&counter(key)), Some(serde_json::json!({"value": 5})));
}

#[test]
fn an_entity_exception_is_caught_and_leaves_the_state_alone() {
    let run = harness().start(entity_error_handling, &"c2");
    let caught = run.output::<serde_json::Value>().unwrap();
    assert_eq!(caught["error_type"], "EntityOperationFailed");
    assert_eq!(caught["cause_type"], "InvalidOperation");
    assert_eq!(caught["value_after"], 0);
}

#[test]
fn a_locked_transfer_moves_the_money_whatever_the_order_of_answers() {
    let harness = harness().entity_state(&EntityId::new("Account", "a"), &serde_json::json!({"balance": 50}));
    let input = serde_json::json!({"from": "a", "to": "b", "amount": 30, "locked": true});
    let found = harness.explore(transfer, &input).check(|run| {
        assert_eq!(run.output::<String>().as_deref(), Ok("transferred"));
        let balance =
            |key| run.entity_state::<serde_json::Value>(&EntityId::new("Account", key)).unwrap()["balance"].clone();
        assert_eq!((balance("a"), balance("b")), (serde_json::json!(20), serde_json::json!(30)));
    });
    found.assert_all_pass();
}

#[test]
fn signals_reach_the_counter_one_way() {
    let run = harness().start(add_many, &serde_json::json!({"key": "c3", "count": 5, "mode": "signal"}));
    assert_eq!(run.output::<i64>(), Ok(5));
    assert_eq!(run.entity_state::<serde_json::Value>(&counter("c3")), Some(serde_json::json!({"value": 5})));
}

#[test]
fn the_harness_decides_as_the_host_did() {
    for golden in GOLDENS {
        let recorded = Recorded::parse(golden).unwrap();
        match recorded.started().map(|(name, _)| name) {
            Some("counter_orchestration") => replay(golden, counter_orchestration),
            Some("entity_error_handling") => replay(golden, entity_error_handling),
            _ => replay(golden, transfer),
        }
        .expect("the code replays the host's history");
        harness().rerun(&recorded).assert_same_commands(&recorded);
    }
}
