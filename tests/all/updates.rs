//! Updates end to end (`guests/updates`): a client's request that the orchestrator answers,
//! on both paths, across a restart of the host, refused by the validator before anything is
//! recorded, sent twice under one id, left unanswered, and not answered in time; and the same
//! account written with the Python and JavaScript SDKs (`py_account`, `js_account`).

use crate::harness::{BOTH_PATHS, Harness, Options, output};
use reprise_core::{Event, RuntimeStatus, UpdateReply};
use reprise_executor::{ExecutorError, UpdateRequest, UpdateState, UpdateStatus};
use reprise_tests::guests;
use serde_json::{Value, json};
use std::time::Duration;

/// Sends `name` with `input` to `id` and waits up to a minute for the answer.
async fn update(h: &Harness, id: &str, name: &str, input: Value, update_id: Option<&str>) -> UpdateStatus {
    let request = UpdateRequest {
        instance_id: id.into(),
        name: name.into(),
        input: input.to_string(),
        update_id: update_id.map(str::to_string),
        wait: Duration::from_secs(60),
    };
    h.host.update(request).await.expect("send the update")
}

/// The output an answered update carries, as JSON.
fn answer(status: &UpdateStatus) -> Value {
    assert_eq!(status.state, UpdateState::Answered, "{status:?}");
    match status.record.reply.as_ref().expect("answered") {
        UpdateReply::Output(output) => serde_json::from_str(output.as_str()).unwrap(),
        UpdateReply::Failure(failure) => panic!("the update failed: {failure}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_orchestrator_answers_each_update_and_history_records_both() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::UPDATES]).await;
        h.start("acct", "account", json!({"limit": 100})).await;
        // Sent before the orchestrator waits: buffered, like an event.
        assert_eq!(answer(&update(&h, "acct", "deposit", json!(5), None).await), json!(5));
        assert_eq!(answer(&update(&h, "acct", "deposit", json!(7), Some("second")).await), json!(12));

        let unlucky = update(&h, "acct", "deposit", json!(13), None).await;
        match unlucky.record.reply {
            Some(UpdateReply::Failure(failure)) => assert_eq!(failure.error_type, "Unlucky"),
            other => panic!("13 must be answered with a failure, got {other:?}"),
        }

        assert_eq!(answer(&update(&h, "acct", "close", json!(null), None).await), json!(12));
        let record = h.finished("acct").await;
        assert_eq!(output(&record), json!({"balance": 12, "deposits": 2}));

        let history = h.history("acct").await;
        let received: Vec<&str> = history
            .iter()
            .filter_map(|e| match &e.event {
                Event::UpdateReceived { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(received, ["deposit", "deposit", "deposit", "close"]);
        let replied = history.iter().filter(|e| matches!(e.event, Event::UpdateReplied { .. })).count();
        assert_eq!(replied, 4, "every update is answered once");
        assert!(
            history.iter().any(|e| matches!(&e.event, Event::UpdateReplied { update_id, .. } if update_id == "second"))
        );
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_survives_a_restart_of_the_host_and_is_answered_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reprise.db");
    let h = Harness::on(&db, Options::cache(1024), &[guests::UPDATES]).await;
    h.start("acct", "account", json!({"limit": 100})).await;
    assert_eq!(answer(&update(&h, "acct", "deposit", json!(2), None).await), json!(2));
    h.stop().await;

    // Recorded while no host runs: the next one replays the instance and answers it.
    let offline = Harness::on(&db, Options::cache(0), &[]).await;
    let pending = offline.host.update(UpdateRequest {
        instance_id: "acct".into(),
        name: "deposit".into(),
        input: "3".into(),
        update_id: Some("while-down".into()),
        wait: Duration::ZERO,
    });
    let pending = pending.await.expect("record the update");
    assert_eq!(pending.state, UpdateState::Pending);
    offline.stop().await;

    let h = Harness::on(&db, Options::cache(0), &[guests::UPDATES]).await;
    let status = h.host.update_status("acct", "while-down", Duration::from_secs(60)).await.unwrap();
    assert_eq!(answer(&status), json!(5));
    assert_eq!(answer(&update(&h, "acct", "close", json!(null), None).await), json!(5));
    assert_eq!(output(&h.finished("acct").await), json!({"balance": 5, "deposits": 2}));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_validator_refuses_before_anything_is_recorded() {
    let h = Harness::new(1024, &[guests::UPDATES]).await;
    h.start("acct", "account", json!({"limit": 10})).await;
    assert_eq!(answer(&update(&h, "acct", "deposit", json!(1), None).await), json!(1));
    let before = h.history("acct").await.len();

    let send = |input: Value| UpdateRequest {
        instance_id: "acct".into(),
        name: "deposit".into(),
        input: input.to_string(),
        update_id: Some("refused".into()),
        wait: Duration::from_secs(60),
    };
    for (input, error_type) in [(json!(0), "NotPositive"), (json!("ten"), "InvalidInput")] {
        match h.host.update(send(input)).await {
            Err(ExecutorError::UpdateRefused { failure, .. }) => assert_eq!(failure.error_type, error_type),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert!(
        h.host.update_status("acct", "refused", Duration::ZERO).await.is_err(),
        "a refused update leaves no record"
    );
    h.settled().await;
    assert_eq!(h.history("acct").await.len(), before, "a refused update leaves no trace in history");

    // The validator reads what the orchestrator published: once the balance reaches the limit
    // the account is closed, and deposits are refused by the validator.
    assert_eq!(answer(&update(&h, "acct", "deposit", json!(9), None).await), json!(10));
    h.finished("acct").await;
    let refused = h.host.update(send(json!(1))).await;
    assert!(matches!(refused, Err(ExecutorError::Store(reprise_store::StoreError::Finished { .. }))), "{refused:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_sent_twice_under_one_id_is_recorded_once() {
    let h = Harness::new(1024, &[guests::UPDATES]).await;
    h.start("acct", "account", json!({"limit": 100})).await;
    let first = update(&h, "acct", "deposit", json!(4), Some("once")).await;
    let again = update(&h, "acct", "deposit", json!(4), Some("once")).await;
    assert_eq!(answer(&first), json!(4));
    assert_eq!(answer(&again), json!(4), "the retry finds the first answer");
    let conflict = h
        .host
        .update(UpdateRequest {
            instance_id: "acct".into(),
            name: "deposit".into(),
            input: "5".into(),
            update_id: Some("once".into()),
            wait: Duration::ZERO,
        })
        .await;
    assert!(matches!(conflict, Err(ExecutorError::Store(reprise_store::StoreError::Conflict { .. }))), "{conflict:?}");
    let received = h.history("acct").await.iter().filter(|e| matches!(e.event, Event::UpdateReceived { .. })).count();
    assert_eq!(received, 1);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_the_instance_never_answers_is_reported_so_and_a_short_wait_returns_pending() {
    let h = Harness::new(1024, &[guests::UPDATES]).await;
    h.start("deaf", "deaf", json!(null)).await;
    let request = UpdateRequest {
        instance_id: "deaf".into(),
        name: "deposit".into(),
        input: "1".into(),
        update_id: Some("ignored".into()),
        wait: Duration::from_millis(50),
    };
    let pending = h.host.update(request).await.unwrap();
    assert_eq!(pending.state, UpdateState::Pending, "not answered in time");
    assert!(pending.record.reply.is_none());

    h.host.raise_event("deaf", "stop", "null").await.unwrap();
    assert_eq!(h.finished("deaf").await.status, RuntimeStatus::Completed);
    let status = h.host.update_status("deaf", "ignored", Duration::from_secs(60)).await.unwrap();
    assert_eq!(status.state, UpdateState::Unanswered { status: RuntimeStatus::Completed });
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_javascript_orchestrators_answer_updates_and_their_validators_refuse() {
    for (orchestrator, component) in
        [("py_account", guests::PY_MIXED_LANGUAGES.path()), ("js_account", guests::JS_FAN_OUT.path())]
    {
        for cache in BOTH_PATHS {
            let h = Harness::new(cache, &[component]).await;
            let id = format!("{orchestrator}-{cache}");
            h.start(&id, orchestrator, json!({"limit": 20})).await;
            assert_eq!(answer(&update(&h, &id, "deposit", json!(5), None).await), json!(5), "{orchestrator}");
            let unlucky = update(&h, &id, "deposit", json!(13), None).await;
            match unlucky.record.reply {
                Some(UpdateReply::Failure(failure)) => assert_eq!(failure.error_type, "Unlucky", "{orchestrator}"),
                other => panic!("{orchestrator}: 13 must be answered with a failure, got {other:?}"),
            }
            let before = h.history(&id).await.len();
            for (input, error_type) in
                [(json!(0), "NotPositive"), (json!(2.5), "NotPositive"), (json!("{"), "NotPositive")]
            {
                let request = UpdateRequest {
                    instance_id: id.clone(),
                    name: "deposit".into(),
                    input: input.to_string(),
                    update_id: None,
                    wait: Duration::from_secs(60),
                };
                match h.host.update(request).await {
                    Err(ExecutorError::UpdateRefused { failure, .. }) => {
                        assert_eq!(failure.error_type, error_type, "{orchestrator}: {input}")
                    }
                    other => panic!("{orchestrator}: {input} must be refused, got {other:?}"),
                }
            }
            h.settled().await;
            assert_eq!(h.history(&id).await.len(), before, "{orchestrator}: a refused update leaves no trace");
            // Reaching the limit closes the account: the answer comes with the end.
            assert_eq!(answer(&update(&h, &id, "deposit", json!(15), None).await), json!(20), "{orchestrator}");
            let record = h.finished(&id).await;
            assert_eq!(output(&record), json!({"balance": 20, "deposits": 2}), "{orchestrator}");
            let history = h.history(&id).await;
            let replied = history.iter().filter(|e| matches!(e.event, Event::UpdateReplied { .. })).count();
            assert_eq!(replied, 3, "{orchestrator}: every update recorded is answered once");
            h.stop().await;
        }
    }
}
