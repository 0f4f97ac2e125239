//! Seed 004's chaining under the SDK's test harness.

use reprise_sdk::testing::{Harness, Recorded, replay};

use super::*;

const GOLDEN: &str = include_str!("../../../tests/golden/order-processing.golden-chaining.reprise");

fn harness() -> Harness {
    Harness::new().component(reprise_sdk::component!())
}

#[test]
fn an_order_goes_through_every_step_in_order() {
    let run = harness().start(process_order, "order-1001");
    let result = run.output::<OrderResult>().unwrap();
    assert!(result.success, "{result:?}");
    let steps: Vec<&str> = run.activity_calls().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        steps,
        ["validate_order", "process_payment", "update_inventory", "initiate_shipment", "send_order_confirmation"]
    );
    assert_eq!(run.custom_status::<String>().as_deref(), Some("Sending notification"));
}

#[test]
fn a_declined_payment_stops_the_chain_and_notifies() {
    let run = harness().start(process_order, "order-declined-7");
    let result = run.output::<OrderResult>().unwrap();
    assert_eq!(result.failure_reason.as_deref(), Some("Payment failed"));
    assert_eq!(run.calls_of("notify_payment_failure").len(), 1);
    assert!(run.calls_of("update_inventory").is_empty());
}

#[test]
fn the_harness_decides_as_the_host_did() {
    replay(GOLDEN, process_order).expect("the code replays the host's history");
    let recorded = Recorded::parse(GOLDEN).unwrap();
    harness().rerun(&recorded).assert_same_commands(&recorded);
}
