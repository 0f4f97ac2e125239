//! Bad input of every kind gets a clear error and leaves the database consistent.

use crate::harness::{Harness, Options, output};
use reprise_core::RuntimeStatus;
use reprise_core::replay::HistoryLimits;
use reprise_executor::{ExecutorError, StartRequest};
use reprise_runtime::{InstancePools, LoadError, PoolError, Runtime, RuntimeConfig};
use reprise_store::InstanceFilter;
use reprise_tests::guests;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

fn request(orchestrator: &str, input: &str) -> StartRequest {
    StartRequest { orchestrator: orchestrator.into(), input: input.into(), instance_id: None }
}

fn instance_count(harness: &Harness) -> usize {
    harness.host.store().list_instances(&InstanceFilter::default()).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_json_is_refused_and_nothing_is_written() {
    let harness = Harness::new(0, &[guests::MISBEHAVING]).await;
    let error = harness.host.start(request("echo_input", "{not json")).await.unwrap_err();
    assert!(matches!(error, ExecutorError::InvalidInput(_)), "{error}");
    assert!(error.to_string().contains("not valid JSON"), "{error}");
    assert_eq!(instance_count(&harness), 0);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_orchestrator_is_refused_with_the_known_names() {
    let harness = Harness::new(0, &[guests::ORDER_PROCESSING]).await;
    let error = harness.host.start(request("process_ordr", "null")).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, ExecutorError::UnknownOrchestrator { .. }), "{text}");
    assert!(text.contains("'process_ordr'") && text.contains("process_order"), "{text}");
    assert_eq!(instance_count(&harness), 0);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_of_the_wrong_shape_fails_the_instance_with_invalid_input() {
    let harness = Harness::new(0, &[guests::TRANSFER_FUNDS]).await;
    let record = harness.run("shape", "transfer_funds", json!(42)).await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.unwrap();
    assert_eq!(failure.error_type, "InvalidInput", "{failure}");
    harness.assert_quiescent().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_activity_is_delivered_as_a_failure_the_orchestrator_sees() {
    let harness = Harness::new(0, &[guests::MISBEHAVING]).await;
    let record = harness.run("missing", "call_named", json!({"activity": "no_such_activity", "input": 1})).await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.unwrap();
    assert_eq!(failure.error_type, "ActivityFailed");
    assert_eq!(failure.causes[0].error_type, "ActivityNotFound");
    assert!(failure.causes[0].message.contains("no_such_activity"), "{failure}");
    harness.assert_quiescent().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_wasm_is_refused() {
    let harness = Harness::new(0, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.wasm");
    std::fs::write(&path, b"#!/bin/sh\necho definitely not wasm\n").unwrap();
    let error = harness.host.load_component_file(&path).await.unwrap_err();
    assert!(matches!(error, ExecutorError::Load(LoadError::NotAComponent { .. })), "{error}");
    assert!(error.to_string().contains("wasm32-wasip2"), "the error says how to build a component: {error}");
    let missing = harness.host.load_component_file(Path::new("/nonexistent/x.wasm")).await.unwrap_err();
    assert!(matches!(missing, ExecutorError::ReadComponent { .. }), "{missing}");
    assert!(harness.host.store().components().unwrap().is_empty());
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_of_the_wrong_world_is_refused_naming_what_it_exports() {
    let harness = Harness::new(0, &[]).await;
    let error = harness.host.load_component_file(Path::new(guests::NOT_A_DURABLE_COMPONENT)).await.unwrap_err();
    assert!(matches!(error, ExecutorError::Load(LoadError::WrongWorld { .. })), "{error}");
    let text = error.to_string();
    assert!(text.contains("reprise:durable/orchestrators@0.1.0") && text.contains("wasi:cli/run"), "{text}");
    harness.stop().await;
}

fn tight_limits() -> Options {
    let runtime = RuntimeConfig {
        max_memory_bytes: 64 * 1024 * 1024,
        orchestrator_episode_cpu: Duration::from_millis(1500),
        ..crate::harness::test_runtime()
    };
    Options { runtime, ..Options::cache(16) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_fails_its_instance_while_the_host_serves_others() {
    let harness = Harness::with(tight_limits(), &[guests::MISBEHAVING, guests::ORDER_PROCESSING]).await;
    harness.start("spinner", "spin_forever", json!(null)).await;
    let order = harness.run("order", "process_order", json!("order-9")).await;
    assert_eq!(output(&order)["success"], json!(true), "the host kept serving while a guest spun");
    let spinner = harness.finished("spinner").await;
    assert_eq!(spinner.status, RuntimeStatus::Failed);
    let failure = spinner.failure.unwrap();
    assert_eq!(failure.error_type, "CpuLimitExceeded", "{failure}");
    assert!(failure.message.contains("stuck in a loop"), "{failure}");
    harness.assert_quiescent().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_allocation_fails_with_the_memory_limit() {
    let harness = Harness::with(tight_limits(), &[guests::MISBEHAVING]).await;
    let record = harness.run("hog", "eat_memory", json!(null)).await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.unwrap();
    assert_eq!(failure.error_type, "MemoryLimitExceeded", "{failure}");
    assert!(failure.message.contains("64 MiB"), "{failure}");
    harness.assert_quiescent().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_orchestrator_fails_with_its_panic_message() {
    let harness = Harness::new(16, &[guests::MISBEHAVING]).await;
    let record = harness.run("panic", "panics", json!(null)).await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.unwrap();
    assert_eq!(failure.error_type, "GuestTrapped", "{failure}");
    assert!(failure.message.contains("panicked"), "the guest's panic message is kept: {failure}");
    harness.assert_quiescent().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_payload_is_refused_and_nothing_is_written() {
    let harness = Harness::new(0, &[guests::MISBEHAVING]).await;
    let huge = serde_json::to_string(&"x".repeat(5 * 1024 * 1024)).unwrap();
    let error = harness.host.start(request("echo_input", &huge)).await.unwrap_err();
    assert!(matches!(error, ExecutorError::PayloadTooLarge { .. }), "{error}");
    assert!(error.to_string().contains("instead of the data"), "the error says what to do: {error}");
    assert_eq!(instance_count(&harness), 0);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestrator_that_sleeps_fails_at_once_pointing_to_durable_timers() {
    let harness = Harness::new(0, &[guests::MISBEHAVING]).await;
    let started = std::time::Instant::now();
    let record = harness.run("sleeper", "sleeps", json!(null)).await;
    assert!(started.elapsed() < Duration::from_secs(30), "the sleep did not hold the episode");
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.unwrap();
    assert!(failure.message.contains("durable timer"), "{failure}");
    harness.assert_quiescent().await;
    harness.stop().await;
}

#[test]
fn instance_pools_beyond_the_address_space_are_refused_naming_the_cache_size() {
    let config = RuntimeConfig { pools: Some(InstancePools::for_host(1_000_000, 8, 16)), ..RuntimeConfig::default() };
    let error = Runtime::new(config).err().expect("a million pool slots do not fit in a process");
    assert!(matches!(error.downcast_ref::<PoolError>(), Some(PoolError::TooLarge { .. })), "{error:#}");
    assert!(error.to_string().contains("--cache-size"), "{error:#}");
}

/// The failure of an instance that ran into one of the host's limits, checked to name it.
fn limit_failure(record: &reprise_store::InstanceRecord, flag: &str) -> reprise_core::Failure {
    assert_eq!(record.status, RuntimeStatus::Failed, "{:?}", record.output);
    let failure = record.failure.clone().expect("a failure");
    assert_eq!(failure.error_type, "HistoryLimitExceeded", "{failure}");
    assert!(failure.message.contains(flag), "the failure names {flag}: {failure}");
    failure
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_activities_in_one_episode_are_refused_while_the_host_serves_others() {
    let harness = Harness::new(16, &[guests::MISBEHAVING, guests::ORDER_PROCESSING]).await;
    harness.start("million", "schedule_many", json!(1_000_000)).await;
    let order = harness.run("order", "process_order", json!("order-10")).await;
    assert_eq!(output(&order)["success"], json!(true), "the host kept serving");
    let record = harness.finished("million").await;
    limit_failure(&record, "--max-episode-events");
    let history = harness.history("million").await;
    assert!(history.iter().all(|e| e.event.kind() != "ActivityScheduled"), "none of the refused work is recorded");
    harness.assert_quiescent().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_sub_orchestrations_in_one_episode_are_refused_and_none_starts() {
    let harness = Harness::new(16, &[guests::MISBEHAVING]).await;
    let record = harness.run("crowd", "start_many", json!(100_000)).await;
    limit_failure(&record, "--max-episode-events");
    let instances = harness.host.store().list_instances(&InstanceFilter::default()).unwrap();
    assert_eq!(instances.len(), 1, "no child was started");
    harness.assert_quiescent().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_that_grows_past_its_limits_fails_naming_them() {
    let limits = HistoryLimits { max_bytes: 200_000, max_events: 40, ..HistoryLimits::default() };
    let harness = Harness::with(Options { history_limits: limits, ..Options::cache(16) }, &[guests::MISBEHAVING]).await;
    // Each step adds about 20 KB (its input in the schedule, its output in the result).
    let record = harness.run("heavy", "grow_history", json!({"steps": 100, "bytes": 10_000})).await;
    let failure = limit_failure(&record, "--max-history-bytes");
    assert!(failure.message.contains("200000 bytes"), "{failure}");
    // Each step adds 3 events (episode, schedule, result): 40 events is 12 steps or so.
    let record = harness.run("long", "grow_history", json!({"steps": 100, "bytes": 1})).await;
    limit_failure(&record, "--max-history-events");
    let history = harness.history("long").await;
    // Commands stop at the limit; the last episode's deliveries (its start and the result it
    // received) and the failure are recorded beyond it: they happened.
    assert!(history.len() <= 40 + 3, "the limit holds: {}", history.len());
    harness.assert_quiescent().await;
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_that_writes_a_gibibyte_to_stdout_is_capped_and_completes() {
    let harness = Harness::new(16, &[guests::CAPABILITIES]).await;
    let gib: u64 = 1 << 30;
    let input = json!({"activity": "write_stdout", "input": gib});
    let record = harness.run("chatty", "call", input).await;
    assert_eq!(output(&record), json!(gib), "the activity wrote it all, and went on");
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_beyond_the_size_limit_is_refused_before_it_is_read() {
    let harness = Harness::new(0, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.wasm");
    // 200 MB, sparse: nothing is written, and nothing would be read if the check came late.
    std::fs::File::create(&path).unwrap().set_len(200 * 1000 * 1000).unwrap();
    let error = harness.host.load_component_file(&path).await.unwrap_err();
    assert!(matches!(error, ExecutorError::Load(LoadError::TooLarge { .. })), "{error}");
    let text = error.to_string();
    assert!(text.contains("200000000 bytes") && text.contains("--max-component-bytes"), "{text}");
    assert!(harness.host.store().components().unwrap().is_empty());
    harness.stop().await;
}
