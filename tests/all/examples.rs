//! The seeds' example orchestrations, each run on the hot path and on the cold path.

use crate::harness::{Compare, kinds, on_both_paths, output, scheduled};
use reprise_core::{Event, RuntimeStatus};
use reprise_tests::guests;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_processing_chain_completes_with_custom_status() {
    let (record, history) =
        on_both_paths(&[guests::ORDER_PROCESSING], "order-1001", "process_order", json!("order-1001"), Compare::Exact)
            .await;
    let out = output(&record);
    assert_eq!(out["success"], json!(true));
    assert_eq!(out["tracking_number"], json!("TRK-order-1001"));
    assert_eq!(record.custom_status.as_deref(), Some("\"Sending notification\""));
    assert_eq!(
        scheduled(&history),
        ["validate_order", "process_payment", "update_inventory", "initiate_shipment", "send_order_confirmation"]
    );
    // One episode per step: start, then one per activity result.
    assert_eq!(kinds(&history).iter().filter(|k| **k == "EpisodeStarted").count(), 6);
    assert_eq!(kinds(&history).last(), Some(&"ExecutionCompleted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payment_notifies_and_stops_the_chain() {
    let (record, history) =
        on_both_paths(&[guests::ORDER_PROCESSING], "o-2", "process_order", json!("order-declined-7"), Compare::Exact)
            .await;
    let out = output(&record);
    assert_eq!(out["success"], json!(false));
    assert_eq!(out["failure_reason"], json!("Payment failed"));
    assert_eq!(scheduled(&history), ["validate_order", "process_payment", "notify_payment_failure"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_funds_refunds_the_source_when_the_credit_fails() {
    let input = json!({"source_account": "acct-A", "destination_account": "frozen-B", "amount": 250});
    let (record, history) =
        on_both_paths(&[guests::TRANSFER_FUNDS], "transfer-1", "transfer_funds", input, Compare::Exact).await;
    let out = output(&record);
    assert_eq!(out["status"], json!("refunded"));
    assert!(out["reason"].as_str().unwrap().contains("frozen"), "{out}");
    // Debit, failed credit of the destination, compensating credit of the source.
    assert_eq!(scheduled(&history), ["debit_account", "credit_account", "credit_account"]);
    let failed = history
        .iter()
        .find_map(|e| match &e.event {
            Event::ActivityFailed { task_id: 1, failure } => Some(failure.clone()),
            _ => None,
        })
        .expect("the credit of the destination failed");
    assert_eq!(failed.error_type, "ActivityFailed");
    assert_eq!(failed.causes[0].error_type, "AccountFrozen");
    let refund_input = history.iter().find_map(|e| match &e.event {
        Event::ActivityScheduled { task_id: 2, input, .. } => Some(input.clone()),
        _ => None,
    });
    assert!(refund_input.unwrap().contains("acct-A"), "the refund credits the source account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_funds_succeeds_when_nothing_fails() {
    let input = json!({"source_account": "acct-A", "destination_account": "acct-B", "amount": 5});
    let (record, history) =
        on_both_paths(&[guests::TRANSFER_FUNDS], "transfer-2", "transfer_funds", input, Compare::Exact).await;
    assert_eq!(output(&record)["status"], json!("transferred"));
    assert_eq!(scheduled(&history), ["debit_account", "credit_account"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhandled_activity_failure_fails_the_instance_with_its_inner_cause() {
    let input = json!({"source_account": "acct-A", "destination_account": "frozen-B", "amount": 1});
    let (record, history) =
        on_both_paths(&[guests::TRANSFER_FUNDS], "transfer-3", "transfer_funds_strict", input, Compare::Exact).await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.expect("failure");
    assert_eq!(failure.error_type, "ActivityFailed");
    assert!(failure.message.contains("credit_account"), "{failure}");
    assert_eq!(failure.causes[0].error_type, "AccountFrozen");
    assert_eq!(kinds(&history).last(), Some(&"ExecutionFailed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_fan_in_aggregates_successes_and_per_item_failures() {
    let items = 40u64;
    let (record, history) =
        on_both_paths(&[guests::FAN_OUT], "batch-1", "fan_out_fan_in", json!({"items": items}), Compare::Commands)
            .await;
    let out = output(&record);
    let rejected: Vec<u64> = (0..items).filter(|i| i % 5 == 3).collect();
    let total: u64 = (0..items).filter(|i| i % 5 != 3).map(|i| i * 10).sum();
    assert_eq!(out["failed"], json!(rejected.len()));
    assert_eq!(out["processed"], json!(items as usize - rejected.len()));
    assert_eq!(out["total"], json!(total));
    assert_eq!(out["failures"][0], json!("item 3: item 3 was rejected"));
    // Every task was scheduled in the first episode, before any result came back.
    let first_result =
        history.iter().position(|e| matches!(e.event, Event::ActivityCompleted { .. } | Event::ActivityFailed { .. }));
    let last_schedule = history.iter().rposition(|e| matches!(e.event, Event::ActivityScheduled { .. }));
    assert!(last_schedule < first_result, "all tasks are scheduled before any result is delivered");
    assert_eq!(scheduled(&history).len(), items as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_returns_the_first_delivered_task_on_both_paths() {
    for cache in crate::harness::BOTH_PATHS {
        let harness = crate::harness::Harness::new(cache, &[guests::FAN_OUT]).await;
        let record = harness.run("race", "first_of", json!([1, 2, 4])).await;
        let out = output(&record);
        // The winner is the first of the three results the history delivered.
        let history = harness.history("race").await;
        let first = history
            .iter()
            .find_map(|e| match &e.event {
                Event::ActivityCompleted { task_id, output } => Some((*task_id, output.clone())),
                _ => None,
            })
            .expect("a result was delivered");
        assert_eq!(out["winner"], json!(first.0));
        assert_eq!(out["value"].to_string(), first.1.as_str());
        harness.stop().await;
    }
}
