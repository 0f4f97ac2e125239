//! Durable entities: the seeds' Counter called and signalled from orchestrations and clients,
//! on the hot and the cold path.

use crate::harness::{BOTH_PATHS, Compare, Harness, T0, kinds, on_both_paths, output};
use reprise_core::{EntityId, InstanceId, InstanceIdError, RuntimeStatus};
use reprise_executor::ExecutorError;
use reprise_store::EntityFilter;
use reprise_tests::guests;
use serde_json::{Value, json};
use std::time::Duration;

fn counter(key: &str) -> EntityId {
    EntityId::new("Counter", key).unwrap()
}

/// The counter's value, once every operation queued for it has run.
async fn value(harness: &Harness, key: &str) -> Option<i64> {
    let record = tokio::time::timeout(Duration::from_secs(60), harness.host.wait_entity_idle(&counter(key)))
        .await
        .expect("the entity did not go idle within a minute")
        .expect("read the entity");
    record.and_then(|r| r.state).map(|state| {
        let state: Value = serde_json::from_str(&state).expect("the state is JSON");
        state["value"].as_i64().expect("the state has a value")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_failure_reaches_the_orchestrators_error_handling_and_changes_nothing() {
    // Seed 002: the entity's `add` throws; the orchestrator catches it and sees its type and
    // message, and the state is as it was.
    let (record, history) =
        on_both_paths(&[guests::ENTITIES], "caught", "entity_error_handling", json!("c1"), Compare::Exact).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{:?}", record.failure);
    let out = output(&record);
    assert_eq!(out["error_type"], json!("EntityOperationFailed"));
    assert_eq!(out["message"], json!("operation 'add' on entity @Counter@c1 failed: this is an entity exception"));
    assert_eq!(out["cause_type"], json!("InvalidOperation"));
    assert_eq!(out["cause_message"], json!("this is an entity exception"));
    assert_eq!(out["value_after"], json!(0));
    assert_eq!(
        kinds(&history),
        [
            "EpisodeStarted",
            "ExecutionStarted",
            "EntityCalled",
            "EpisodeStarted",
            "EntityFailed",
            "EntityCalled",
            "EpisodeStarted",
            "EntityCompleted",
            "ExecutionCompleted"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_counter_orchestration_reads_then_adds_on_both_paths() {
    for cache in BOTH_PATHS {
        let harness = Harness::new(cache, &[guests::ENTITIES]).await;
        for (round, expected_read) in [(1, 0), (2, 1), (3, 2)] {
            let record = harness.run(&format!("round-{round}"), "counter_orchestration", json!("shared")).await;
            assert_eq!(output(&record), json!(expected_read), "cache {cache}, round {round}");
        }
        assert_eq!(value(&harness, "shared").await, Some(3));
        harness.assert_quiescent().await;
        harness.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_adds_from_many_orchestrations_lose_no_update() {
    for cache in BOTH_PATHS {
        let harness = Harness::new(cache, &[guests::ENTITIES]).await;
        // 40 orchestrations x 25 adds: signals, fan-out calls and sequential calls, all at once.
        let modes = ["signal", "call", "sequential", "signal"];
        let mut ids = Vec::new();
        for i in 0..40 {
            let id = format!("adder-{i}");
            harness.start(&id, "add_many", json!({"key": "total", "count": 25, "mode": modes[i % 4]})).await;
            ids.push(id);
        }
        for id in &ids {
            let record = harness.finished(id).await;
            assert_eq!(record.status, RuntimeStatus::Completed, "{id}: {:?}", record.failure);
        }
        assert_eq!(value(&harness, "total").await, Some(1_000), "cache {cache}");
        let record = harness.host.entity(&counter("total")).await.unwrap().unwrap();
        assert_eq!(record.operations, 1_000, "every operation ran exactly once");
        harness.assert_quiescent().await;
        harness.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_signal_and_read_entities_and_bad_requests_are_refused() {
    let harness = Harness::new(1024, &[guests::ENTITIES]).await;
    let host = &harness.host;
    for amount in [5, 7] {
        host.signal_entity(&counter("client"), "add", &amount.to_string()).await.unwrap();
    }
    // A failing signal changes nothing and is not retried.
    host.signal_entity(&counter("client"), "add", "-3").await.unwrap();
    assert_eq!(value(&harness, "client").await, Some(12));
    let record = host.entity(&counter("client")).await.unwrap().unwrap();
    assert_eq!((record.operations, record.queued), (3, 0));

    let unknown = host.signal_entity(&EntityId::new("Timer", "t").unwrap(), "add", "1").await.unwrap_err();
    assert!(
        matches!(&unknown, ExecutorError::UnknownEntity { name, known } if name == "Timer" && known == "Account, Counter"),
        "{unknown}"
    );
    let bad_id = EntityId { name: "a@b".into(), key: "k".into() };
    assert!(matches!(host.signal_entity(&bad_id, "add", "1").await, Err(ExecutorError::InvalidEntityId(_))));
    assert!(matches!(host.signal_entity(&counter("x"), "add", "{").await, Err(ExecutorError::InvalidInput(_))));
    assert!(host.entity(&counter("never")).await.unwrap().is_none());

    // Entities are not orchestrations: the instance commands refuse them, and ids starting with
    // '@' cannot be taken by orchestrations.
    let refused = host.terminate("@Counter@client", "no", false).await.unwrap_err();
    assert!(matches!(refused, ExecutorError::NotAnOrchestration(_)), "{refused}");
    assert!(refused.to_string().contains("use the entity commands"), "{refused}");
    // An entity's id cannot even be given as an instance id: the checked id type refuses it.
    let taken = InstanceId::new("@Counter@client").map_err(ExecutorError::from);
    assert!(matches!(taken, Err(ExecutorError::InvalidInstanceId(InstanceIdError::EntityPrefix(_)))), "{taken:?}");
    let listed = instance_ids(&harness).await;
    assert!(listed.iter().all(|id| !id.starts_with('@')), "{listed:?}");

    // `delete` is built in: the entity is gone, and listing no longer shows it.
    host.signal_entity(&counter("client"), "delete", "null").await.unwrap();
    assert_eq!(value(&harness, "client").await, None);
    assert!(host.entities(EntityFilter::default()).await.unwrap().is_empty());
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_signal_entities_and_start_orchestrations_only_when_the_operation_succeeds() {
    let harness = Harness::new(1024, &[guests::ENTITIES]).await;
    let host = &harness.host;
    host.signal_entity(&counter("a"), "add_and_forward", &json!({"amount": 4, "to": "b"}).to_string()).await.unwrap();
    // A failing operation's signal is discarded with its state change.
    host.signal_entity(&counter("a"), "add_and_forward", &json!({"amount": -4, "to": "b"}).to_string()).await.unwrap();
    assert_eq!(value(&harness, "a").await, Some(4));
    assert_eq!(value(&harness, "b").await, Some(4));
    host.signal_entity(&counter("b"), "start_report", "null").await.unwrap();
    value(&harness, "b").await;
    let started = instance_ids(&harness).await;
    assert_eq!(started.len(), 1, "{started:?}");
    let report = harness.finished(&started[0]).await;
    assert_eq!(output(&report), json!("the counter reads 4"));
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entities_run_deterministically_and_calls_work_inside_any() {
    // The same operation on the same entity sees the same clock, GUIDs and random numbers, on a
    // fresh database and on the cold path alike: nothing comes from the machine.
    let mut stamps = Vec::new();
    for cache in BOTH_PATHS {
        let harness = Harness::new(cache, &[guests::ENTITIES]).await;
        harness.clock.set(T0 + 5_000);
        let input = json!({"key": "d", "operation": "stamp"});
        let record = harness.run("stamp", "call_operation", input).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{:?}", record.failure);
        stamps.push(output(&record));

        harness.host.signal_entity(&counter("r"), "add", "1").await.unwrap();
        let record = harness.run("race", "get_or_timeout", json!({"key": "r", "timeout_ms": 60_000})).await;
        assert_eq!(output(&record), json!(1), "the call won the race against the timer");
        harness.assert_quiescent().await;
        harness.stop().await;
    }
    assert_eq!(stamps[0]["now_ms"], json!(T0 + 5_000), "the entity's clock is the batch's logical time");
    assert_eq!(stamps[0], stamps[1]);
}

/// The ids of the orchestration instances in the store.
async fn instance_ids(harness: &Harness) -> Vec<String> {
    let listed = harness.host.store().list_instances(&Default::default()).expect("list instances");
    listed.into_iter().map(|record| record.instance_id).collect()
}

fn account(key: &str) -> EntityId {
    EntityId::new("Account", key).unwrap()
}

async fn balance(harness: &Harness, key: &str) -> i64 {
    let record = tokio::time::timeout(Duration::from_secs(60), harness.host.wait_entity_idle(&account(key)))
        .await
        .expect("the account did not go idle within a minute")
        .expect("read the account")
        .expect("the account exists");
    let state: Value = serde_json::from_str(record.state.as_deref().expect("a state")).expect("JSON");
    state["balance"].as_i64().expect("a balance")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_sections_make_check_then_act_atomic_across_entities() {
    for cache in BOTH_PATHS {
        let harness = Harness::new(cache, &[guests::ENTITIES]).await;
        harness.host.signal_entity(&account("alice"), "deposit", "100").await.unwrap();
        assert_eq!(balance(&harness, "alice").await, 100);
        // Ten concurrent transfers of 30 from alice (and ten of 1 back from bob, to contend on
        // both locks in both orders): each checks the balance, then withdraws, under the lock.
        let mut ids = Vec::new();
        for i in 0..10 {
            let out = format!("out-{i}");
            harness.start(&out, "transfer", json!({"from": "alice", "to": "bob", "amount": 30, "locked": true})).await;
            let back = format!("back-{i}");
            harness.start(&back, "transfer", json!({"from": "bob", "to": "alice", "amount": 1, "locked": true})).await;
            ids.extend([out, back]);
        }
        let mut outcomes = std::collections::BTreeMap::new();
        for id in &ids {
            let record = harness.finished(id).await;
            // Without the lock, a transfer whose check passed could find the money gone when it
            // withdraws, and fail with InsufficientFunds.
            assert_eq!(record.status, RuntimeStatus::Completed, "cache {cache}, {id}: {:?}", record.failure);
            let outcome = output(&record).as_str().expect("a string outcome").to_string();
            *outcomes.entry((id.split('-').next().unwrap().to_string(), outcome)).or_insert(0) += 1;
        }
        let (alice, bob) = (balance(&harness, "alice").await, balance(&harness, "bob").await);
        assert_eq!(alice + bob, 100, "money is neither created nor lost");
        let moved_out = outcomes.get(&("out".to_string(), "transferred".to_string())).copied().unwrap_or(0);
        let moved_back = outcomes.get(&("back".to_string(), "transferred".to_string())).copied().unwrap_or(0);
        assert_eq!(alice, 100 - 30 * moved_out + moved_back, "{outcomes:?}");
        assert!(moved_out >= 3, "at least three transfers of 30 fit in 100: {outcomes:?}");
        for key in ["alice", "bob"] {
            let record = harness.host.entity(&account(key)).await.unwrap().unwrap();
            assert_eq!(record.locked_by, None, "every lock was released");
        }
        harness.assert_quiescent().await;
        harness.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_entity_runs_its_holders_calls_first_and_the_others_after_the_release() {
    let harness = Harness::new(1024, &[guests::ENTITIES]).await;
    let host = &harness.host;
    let locked = counter("locked");
    harness.start("holder", "hold_lock", json!("locked")).await;
    let until_locked = async {
        loop {
            let committed = host.next_commit();
            if let Some(record) = host.entity(&locked).await.unwrap()
                && record.locked_by.is_some()
            {
                return record;
            }
            committed.await;
        }
    };
    let record = tokio::time::timeout(Duration::from_secs(60), until_locked).await.expect("the lock was taken");
    assert_eq!(record.locked_by.unwrap().instance_id, "holder");

    // A client's operation queues behind the lock...
    host.signal_entity(&locked, "add", "1").await.unwrap();
    // ...while the holder's own call runs ahead of it.
    host.raise_event("holder", "go", "null").await.unwrap();
    // (The first EntityCompleted is the grant of the lock, the second the result of the call.)
    harness
        .until_history("holder", |history| {
            history.iter().filter(|e| matches!(e.event, reprise_core::Event::EntityCompleted { .. })).count() == 2
        })
        .await;
    let record = host.entity(&locked).await.unwrap().unwrap();
    assert_eq!(record.state.as_deref(), Some(r#"{"value":100}"#));
    assert_eq!(record.queued, 1, "the client's operation waits for the release");

    // Terminating the holder releases the lock, and the waiting operation runs.
    host.terminate("holder", "test over", false).await.unwrap();
    assert_eq!(harness.finished("holder").await.status, RuntimeStatus::Terminated);
    assert_eq!(value(&harness, "locked").await, Some(101));
    assert_eq!(host.entity(&locked).await.unwrap().unwrap().locked_by, None);
    harness.assert_quiescent().await;
    harness.stop().await;
}
