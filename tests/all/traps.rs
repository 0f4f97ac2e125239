//! A guest that traps fails its instance with a one-line message in the user's terms; the
//! backtrace goes to the failure's details, which `reprise status` shows and HTTP callers see
//! only when the host exposes failure details.

use crate::harness::Harness;
use reprise_core::{Failure, RuntimeStatus};
use reprise_tests::guests;
use serde_json::json;

/// Runs `orchestrator` with `input` and returns its failure, checking the one-line rule.
async fn trapped(orchestrator: &str, input: serde_json::Value) -> Failure {
    let harness = Harness::new(16, &[guests::MISBEHAVING]).await;
    let record = harness.run(orchestrator, orchestrator, input).await;
    harness.assert_quiescent().await;
    harness.stop().await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.expect("a failure");
    assert_eq!(failure.error_type, "GuestTrapped", "{failure}");
    assert!(!failure.message.contains('\n'), "the message is one line: {:?}", failure.message);
    assert!(!failure.message.contains("backtrace"), "no backtrace in the message: {:?}", failure.message);
    failure
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursion_that_overflows_the_data_stack_is_reported_as_a_stack_overflow() {
    let failure = trapped("deep_recursion", json!(1000)).await;
    assert!(
        failure.message.starts_with("orchestrator 'deep_recursion' trapped: stack overflow in "),
        "{}",
        failure.message
    );
    assert!(failure.message.contains("dig"), "the message names the function: {}", failure.message);
    let details = failure.details.expect("details");
    assert!(details.contains("wasm backtrace"), "{details}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recursion_that_exhausts_the_call_stack_is_reported_as_a_stack_overflow() {
    let failure = trapped("call_stack_overflow", json!(100_000_000u64)).await;
    assert!(
        failure.message.starts_with("orchestrator 'call_stack_overflow' trapped: stack overflow"),
        "{}",
        failure.message
    );
    assert!(failure.details.expect("details").contains("wasm backtrace"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_reported_by_its_message_and_place_with_the_backtrace_in_details() {
    let failure = trapped("panics", json!(null)).await;
    assert!(
        failure.message.starts_with("orchestrator 'panics' trapped: panicked at ")
            && failure.message.ends_with(": the misbehaving guest panics on purpose"),
        "{}",
        failure.message
    );
    let details = failure.details.expect("details");
    assert!(details.contains("wasm backtrace") && details.contains("guest stderr"), "{details}");
}
