//! The compensation pattern under the SDK's test harness: the real activities, and mocks.

use reprise_sdk::testing::{Harness, Recorded, replay};
use reprise_sdk::{ActivityContext, Failure};
use serde_json::{Value, json};

use super::*;

/// The host's history of the frozen-account scenario (tests/all/golden.rs wrote it).
const GOLDEN: &str = include_str!("../../../tests/golden/transfer-funds.golden-compensation.reprise");

fn request(destination: &str) -> TransferRequest {
    TransferRequest { source_account: "alice".into(), destination_account: destination.into(), amount: 2500 }
}

#[test]
fn a_frozen_destination_is_refunded() {
    let run = Harness::new().component(reprise_sdk::component!()).start(transfer_funds, &request("frozen-bob"));
    let result = run.output::<TransferResult>().unwrap();
    assert_eq!(result.status, "refunded");
    assert_eq!(result.reason.as_deref(), Some("activity 'credit_account' failed: account 'frozen-bob' is frozen"));
    let credits: Vec<&Value> = run.calls_of("credit_account").iter().map(|c| &c.input["account"]).collect();
    assert_eq!(credits, [&json!("frozen-bob"), &json!("alice")]);
}

#[test]
fn a_failed_refund_fails_the_transfer_with_both_causes() {
    let frozen = || Failure::new("AccountFrozen", "frozen");
    let run = Harness::new()
        .activity("debit_account", |_: &ActivityContext, op: AccountOperation| {
            Ok(Receipt { account: op.account, operation: "debit".into(), amount: op.amount })
        })
        .activity_results::<Receipt>("credit_account", [Err(frozen())])
        .start(transfer_funds, &request("bob"));
    let failure = run.output::<TransferResult>().unwrap_err();
    assert_eq!(failure.error_type, "CompensationFailed");
    assert!(failure.is("AccountFrozen"), "{failure:?}");
}

#[test]
fn the_strict_transfer_fails_instead() {
    let run = Harness::new().component(reprise_sdk::component!()).start(transfer_funds_strict, &request("frozen-bob"));
    let failure = run.failure().unwrap();
    assert_eq!(failure.error_type, "ActivityFailed");
    assert!(failure.is("AccountFrozen"));
}

#[test]
fn the_harness_decides_as_the_host_did() {
    let recorded = Recorded::parse(GOLDEN).unwrap();
    replay(GOLDEN, transfer_funds).expect("the code replays the host's history");
    let run = Harness::new()
        .component(reprise_sdk::component!())
        .like(&recorded)
        .start(transfer_funds, &recorded.input::<TransferRequest>());
    run.assert_same_commands(&recorded);
}
