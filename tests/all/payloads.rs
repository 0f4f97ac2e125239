//! Payloads come out exactly as they went in, on every path (the host's records, history,
//! activity input and output, entity state, the CLI, the HTTP API), and every payload a guest
//! or a client hands the host is checked at the boundary: one JSON document, within the limit.

use crate::harness::{Harness, Options, number_tokens};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use reprise_core::{Event, RuntimeStatus};
use reprise_tests::guests;
use serde_json::json;

/// Number tokens of every kind JSON allows: shortest and non-shortest doubles, integers beyond
/// 2^53 and beyond u64, exponents (with a sign, upper case, beyond f64's range).
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| format!("{x:?}")),
        any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| format!("{x:e}")),
        any::<u128>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| format!("{n}.000")),
        ("-?[1-9][0-9]{0,25}", "[0-9]{1,25}", "[eE][+-]?[0-9]{1,3}").prop_map(|(i, f, e)| format!("{i}.{f}{e}")),
    ]
}

/// The payload `[n1,n2,...]` of `numbers`.
fn array(numbers: &[String]) -> String {
    format!("[{}]", numbers.join(","))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_go_through_history_activities_and_entities_unchanged() {
    let harness = Harness::new(64, &[guests::MISBEHAVING]).await;
    // Each case is a real instance, so the cases are drawn here and run one after the other (a
    // failing one is named by its input in the assertion's message).
    let mut runner = TestRunner::new(Config::default());
    let strategy = proptest::collection::vec(number(), 1..10);
    let mut case = 0;
    for _ in 0..12 {
        let numbers = strategy.new_tree(&mut runner).expect("a case").current();
        case += 1;
        let input = array(&numbers);
        let id = format!("numbers-{case}");
        let request = reprise_executor::StartRequest {
            orchestrator: "echo_raw".into(),
            input: input.clone(),
            instance_id: Some(reprise_core::InstanceId::new(&id).unwrap()),
        };
        harness.host.start(request).await.expect("start");
        let record = harness.finished(&id).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{:?}", record.failure);
        assert_eq!(record.input.as_str(), input, "the stored input");
        let output = record.output.expect("output");
        assert_eq!(output.as_str(), format!(r#"{{"activity":{input},"entity":{input}}}"#), "activity and entity");
        let history = harness.history(&id).await;
        let scheduled = history.iter().find_map(|e| match &e.event {
            Event::ActivityScheduled { input, .. } => Some(input.as_str().to_string()),
            _ => None,
        });
        assert_eq!(scheduled.as_deref(), Some(input.as_str()), "the activity's recorded input");
        let completed = history.iter().find_map(|e| match &e.event {
            Event::ActivityCompleted { output, .. } => Some(output.as_str().to_string()),
            _ => None,
        });
        assert_eq!(completed.as_deref(), Some(input.as_str()), "the activity's recorded output");
        let keeper = reprise_core::EntityId::new("Keeper", &id).unwrap();
        let state = harness.host.entity(&keeper).await.unwrap().expect("the entity").state.expect("state");
        assert_eq!(state.as_str(), format!(r#"{{"value":{input}}}"#), "the entity's state");
        assert_eq!(number_tokens(&input), numbers, "the test reads numbers back as it wrote them");
    }
    harness.stop().await;
}

#[test]
fn number_tokens_are_read_outside_strings() {
    assert_eq!(number_tokens(r#"{"a1":[1.50,-2e+3],"b":"x9"}"#), ["1.50", "-2e+3"]);
}

fn limited(bytes: usize) -> Options {
    Options { max_payload_bytes: bytes, ..Options::cache(16) }
}

/// Runs `orchestrator` and returns its failure.
async fn failure_of(
    harness: &Harness,
    id: &str,
    orchestrator: &str,
    input: serde_json::Value,
) -> reprise_core::Failure {
    let record = harness.run(id, orchestrator, input).await;
    assert_eq!(record.status, RuntimeStatus::Failed, "{id}: {:?}", record.output);
    record.failure.expect("a failure")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_orchestration_input_or_a_continue_as_new_input_beyond_the_limit_fails_naming_it() {
    let harness = Harness::with(limited(1000), &[guests::MISBEHAVING]).await;
    let sub = failure_of(&harness, "big-sub", "big_sub_input", json!(5000)).await;
    assert!(sub.message.contains("the input of sub-orchestration 'echo_input' is 5002 bytes"), "{sub}");
    assert!(sub.message.contains("limit of 1000 bytes"), "{sub}");
    let next = failure_of(&harness, "big-next", "big_continue_as_new", json!(5000)).await;
    assert!(next.message.contains("the input of continue-as-new is 5002 bytes"), "{next}");
    // Below the limit both go through.
    let record = harness.run("small-sub", "big_sub_input", json!(10)).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{:?}", record.failure);
    harness.assert_quiescent().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_orchestration_id_the_host_refuses_fails_the_parent_and_starts_nothing() {
    let harness = Harness::new(16, &[guests::MISBEHAVING]).await;
    let empty = failure_of(&harness, "empty-id", "sub_with_id", json!("")).await;
    assert!(empty.message.contains("an instance id cannot be empty"), "{empty}");
    let entity = failure_of(&harness, "entity-id", "sub_with_id", json!("@Counter@x")).await;
    assert!(entity.message.contains("reserved for entities"), "{entity}");
    let listed = harness.host.store().list_instances(&Default::default()).unwrap();
    assert_eq!(listed.len(), 2, "no child was created: {listed:?}");
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_that_are_not_json_are_refused_where_a_guest_hands_them_over() {
    let harness = Harness::new(16, &[guests::HOSTILE]).await;
    let output = failure_of(&harness, "orchestrator-output", "output_not_json", json!(null)).await;
    assert_eq!(output.error_type, "InvalidPayload", "{output}");
    assert!(output.message.starts_with("the orchestrator's output is not valid JSON"), "{output}");

    let activity = failure_of(&harness, "activity-output", "call", json!("output_not_json")).await;
    assert_eq!(activity.causes[0].error_type, "InvalidPayload", "{activity}");
    assert!(activity.causes[0].message.starts_with("the output of activity 'output_not_json' is not valid JSON"));

    // A custom status that is not JSON is dropped (with a warning), and the instance goes on.
    let record = harness.run("status", "status_not_json", json!(null)).await;
    assert_eq!(record.status, RuntimeStatus::Completed);
    assert_eq!(record.custom_status, None);

    // An entity operation that returns a state that is not JSON fails, and the state is kept
    // (it had none, so the entity is left without one).
    let entity = failure_of(&harness, "entity-state", "call_broken", json!("one")).await;
    assert_eq!(entity.causes[0].error_type, "InvalidPayload", "{entity}");
    assert!(
        entity.causes[0].message.starts_with("the new state of operation 'anything' is not valid JSON"),
        "{entity}"
    );
    let broken = reprise_core::EntityId::new("Broken", "one").unwrap();
    assert_eq!(harness.host.wait_entity_idle(&broken).await.unwrap().and_then(|r| r.state), None);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_with_ten_thousand_exports_loads_and_each_is_callable() {
    let harness = Harness::new(16, &[guests::HOSTILE]).await;
    assert_eq!(harness.loaded[0].activities.len(), 10_001);
    let record = harness.run("many", "call", json!("many_9999")).await;
    assert_eq!(record.output.as_deref(), Some("9999"));
    harness.stop().await;
}
