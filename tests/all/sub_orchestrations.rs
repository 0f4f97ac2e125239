//! Sub-orchestrations (results, failures with their inner cause, retries, cascading terminate)
//! and continue-as-new (fresh history, carried events).

use crate::harness::{BOTH_PATHS, Harness, T0, kinds, output};
use reprise_core::{Event, RuntimeStatus};
use reprise_tests::guests;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_sums_the_outputs_of_its_children() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::SUB_ORCHESTRATIONS]).await;
        let record = h.run("parent", "parent_sum", json!([1, 2, 3, 4])).await;
        assert_eq!(output(&record), json!(20));
        let history = h.history("parent").await;
        assert_eq!(kinds(&history).iter().filter(|k| **k == "SubOrchestrationCompleted").count(), 4);
        // Children get ids derived from the parent's, and know their parent.
        let child = h.host.instance("parent:1:0").await.expect("the first child");
        assert_eq!(child.status, RuntimeStatus::Completed);
        assert_eq!(child.parent.as_ref().map(|p| p.instance_id.as_str()), Some("parent"));
        h.assert_quiescent().await;
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_failure_reaches_the_parent_with_its_inner_cause() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::SUB_ORCHESTRATIONS]).await;
        let record = h.run("failing", "parent_sum", json!([1, 13])).await;
        assert_eq!(record.status, RuntimeStatus::Failed);
        let failure = record.failure.unwrap();
        assert_eq!(failure.error_type, "SubOrchestrationFailed");
        assert!(failure.message.contains("child_double"), "{failure}");
        assert_eq!(failure.causes[0].error_type, "UnluckyNumber");

        let caught = output(&h.run("catching", "parent_catch", json!(13)).await);
        assert_eq!(caught["caught"], json!(true), "the parent matched the child's error type: {caught}");
        h.assert_quiescent().await;
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_child_is_retried_by_the_host_under_its_policy() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::SUB_ORCHESTRATIONS]).await;
        // The child fails until the logical clock reaches T0 + 10 s: attempts at T0 and T0 + 5 s
        // fail, the third at T0 + 10 s succeeds.
        h.start("retrying", "parent_retry", json!({"succeed_after": T0 + 10_000})).await;
        let retries = |history: &[reprise_core::HistoryEvent]| {
            history
                .iter()
                .filter_map(|e| match e.event {
                    Event::SubOrchestrationRetrying { next_attempt_at, .. } => Some(next_attempt_at),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        for expected in 1..=2 {
            h.until_history("retrying", |history| retries(history).len() >= expected).await;
            let next = *retries(&h.history("retrying").await).last().unwrap();
            h.clock.set(next);
        }
        let record = h.finished("retrying").await;
        assert_eq!(output(&record), json!(format!("ok at {}", T0 + 10_000)));
        assert_eq!(retries(&h.history("retrying").await), [T0 + 5_000, T0 + 10_000]);
        let child = h.host.instance("retrying:1:0").await.unwrap();
        assert_eq!(child.execution, 3, "each retry is a new execution of the child instance");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_cascades_to_children_only_when_asked() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::SUB_ORCHESTRATIONS]).await;
        h.start("keep-parent", "parent_of_waiter", json!("kept-child")).await;
        h.start("cut-parent", "parent_of_waiter", json!("cut-child")).await;
        for child in ["kept-child", "cut-child"] {
            h.until_history(child, |history| kinds(history).contains(&"EventWaitStarted")).await;
        }
        h.host.terminate("keep-parent", "stop the parent only", false).await.unwrap();
        h.host.terminate("cut-parent", "stop everything", true).await.unwrap();
        assert_eq!(h.finished("keep-parent").await.status, RuntimeStatus::Terminated);
        assert_eq!(h.finished("cut-parent").await.status, RuntimeStatus::Terminated);
        let cut = h.finished("cut-child").await;
        assert_eq!(cut.status, RuntimeStatus::Terminated);
        assert_eq!(cut.failure.unwrap().message, "stop everything");
        assert_eq!(h.host.instance("kept-child").await.unwrap().status, RuntimeStatus::Running);
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cascading_terminate_sent_while_the_parent_starts_its_child_misses_no_child() {
    let h = Harness::new(1024, &[guests::SUB_ORCHESTRATIONS]).await;
    for round in 0..10 {
        let (parent, child) = (format!("racing-parent-{round}"), format!("racing-child-{round}"));
        h.start(&parent, "parent_of_waiter", json!(child)).await;
        // At once: the parent's first episode (which starts the child) may be under way.
        h.host.terminate(&parent, "stop everything", true).await.unwrap();
        assert_eq!(h.finished(&parent).await.status, RuntimeStatus::Terminated);
        // Either the parent was stopped before it started the child, or the child is stopped
        // with it: never a child left running.
        if h.host.instance(&child).await.is_ok() {
            assert_eq!(h.finished(&child).await.status, RuntimeStatus::Terminated, "round {round}");
        }
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_as_new_restarts_with_a_fresh_history() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::SUB_ORCHESTRATIONS]).await;
        let record = h.run("counter", "counter", json!({"n": 0, "until": 5})).await;
        assert_eq!(output(&record), json!(5));
        assert_eq!(record.execution, 6, "one execution per count");
        let history = h.history("counter").await;
        assert!(history.len() <= 4, "the last execution's history holds only its own events: {:?}", kinds(&history));
        let first = h.host.store().history("counter", 1).unwrap();
        assert_eq!(kinds(&first).last(), Some(&"ExecutionContinuedAsNew"));
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_as_new_can_carry_unprocessed_events() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::SUB_ORCHESTRATIONS]).await;
        h.start("collector", "collector", json!({"seen": [], "expect": 3})).await;
        for item in 1..=3 {
            h.host.raise_event("collector", "item", &item.to_string()).await.unwrap();
        }
        let record = h.finished("collector").await;
        assert_eq!(output(&record), json!([1, 2, 3]), "no event was lost across executions, and none reordered");
        h.stop().await;
    }
}
