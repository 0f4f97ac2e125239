//! Host-side scheduling: retries, durable timers, activity timeouts, external events, and the
//! instance lifecycle (terminate, suspend/resume, purge). Time is the harness's manual clock, so
//! a five-second retry interval takes no real time.

use crate::harness::{BOTH_PATHS, Harness, Options, T0, kinds, output, test_runtime};
use reprise_core::{Event, HistoryEvent, RuntimeStatus};
use reprise_executor::ExecutorError;
use reprise_runtime::{InstancePools, RuntimeConfig};
use reprise_store::{PurgeFilter, StoreError};
use reprise_tests::guests;
use serde_json::json;
use std::time::Duration;

fn retries(history: &[HistoryEvent]) -> Vec<(u32, u64)> {
    history
        .iter()
        .filter_map(|e| match &e.event {
            Event::ActivityRetrying { attempt, next_attempt_at, .. } => Some((*attempt, *next_attempt_at)),
            _ => None,
        })
        .collect()
}

/// The time of the episode that recorded the event at `index`.
fn episode_time(history: &[HistoryEvent], index: usize) -> u64 {
    history[..index]
        .iter()
        .rev()
        .find_map(|e| match e.event {
            Event::EpisodeStarted { time } => Some(time),
            _ => None,
        })
        .expect("an episode precedes every event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_a_flaky_activity_succeeds_within_its_retry_policy() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::RETRY_PATTERN]).await;
        h.start("retry", "retry_orchestrator", json!({"input": "demo", "fail_times": 2})).await;
        let record = h.finished_moving_time("retry").await;
        assert_eq!(output(&record), json!("Succeeded with payload: demo"));
        let history = h.history("retry").await;
        // Two failed attempts recorded for audit, each followed by the seed's 5 s wait.
        assert_eq!(retries(&history), [(1, T0 + 5_000), (2, T0 + 10_000)]);
        // The orchestrator saw one result: the third attempt's.
        let completed: Vec<_> = history.iter().filter(|e| matches!(e.event, Event::ActivityCompleted { .. })).collect();
        assert_eq!(completed.len(), 1);
        assert!(!kinds(&history).contains(&"ActivityFailed"));
        h.assert_quiescent().await;
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_exhausted_attempts_fail_with_the_transient_message() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::RETRY_PATTERN]).await;
        h.start("retry", "retry_orchestrator", json!({"input": "demo", "fail_times": 10, "max_attempts": 3})).await;
        let record = h.finished_moving_time("retry").await;
        assert_eq!(record.status, RuntimeStatus::Failed);
        let failure = record.failure.unwrap();
        assert!(failure.is("TransientFailure"), "{failure}");
        assert!(failure.to_string().contains("Transient activity failure. Please retry."), "{failure}");
        let history = h.history("retry").await;
        assert_eq!(retries(&history).len(), 2, "3 attempts: 2 retries, then the failure");
        h.assert_quiescent().await;
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_is_capped_and_non_retryable_errors_are_not_retried() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::RETRY_PATTERN]).await;
        let input = json!({
            "fail_times": 4, "max_attempts": 6, "first_retry_ms": 1_000, "backoff": 2.0,
            "max_retry_ms": 3_000, "never_retry": ["Fatal"]
        });
        h.start("backoff", "retry_with_backoff", input).await;
        let record = h.finished_moving_time("backoff").await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{:?}", record.failure);
        // Delay n = min(first × coefficient^(n−1), max): 1 s, 2 s, 3 s (not 4 s), 3 s.
        let at: Vec<u64> = retries(&h.history("backoff").await).iter().map(|r| r.1).collect();
        let delays: Vec<u64> =
            at.iter().scan(T0, |previous, next| Some(next - std::mem::replace(previous, *next))).collect();
        assert_eq!(delays, [1_000, 2_000, 3_000, 3_000]);

        h.start("fatal", "retry_with_backoff", json!({"fatal": true, "max_attempts": 5, "never_retry": ["Fatal"]}))
            .await;
        let record = h.finished_moving_time("fatal").await;
        assert_eq!(record.status, RuntimeStatus::Failed);
        assert!(retries(&h.history("fatal").await).is_empty(), "a non-retryable error is not retried");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_004_polling_waits_on_durable_timers_that_never_fire_early() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::TIMEOUTS_AND_POLLING]).await;
        let input = json!({"ready_after": 3, "interval_ms": 60_000, "deadline_ms": 600_000});
        h.start("poll", "poll_until_done", input).await;
        let record = h.finished_moving_time("poll").await;
        assert_eq!(output(&record)["polls"], json!(3));
        let history = h.history("poll").await;
        let mut timers = 0;
        for (index, event) in history.iter().enumerate() {
            if let Event::TimerFired { task_id } = event.event {
                let fire_at = history
                    .iter()
                    .find_map(|e| match e.event {
                        Event::TimerScheduled { task_id: t, fire_at } if t == task_id => Some(fire_at),
                        _ => None,
                    })
                    .unwrap();
                assert!(episode_time(&history, index) >= fire_at, "a timer fired early");
                timers += 1;
            }
        }
        assert_eq!(timers, 2, "a timer between each of the three polls");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_004_polling_gives_up_at_its_deadline() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::TIMEOUTS_AND_POLLING]).await;
        let input = json!({"ready_after": 100, "interval_ms": 60_000, "deadline_ms": 150_000});
        h.start("late", "poll_until_done", input).await;
        let record = h.finished_moving_time("late").await;
        assert_eq!(record.status, RuntimeStatus::Failed);
        assert!(record.failure.unwrap().is("PollingDeadlineExceeded"));
        h.assert_quiescent().await;
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_002_a_timer_beats_a_slow_activity_whose_late_result_is_dropped() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::TIMEOUTS_AND_POLLING]).await;
        h.start("race", "race_with_timer", json!({"work_ms": 800, "timeout_ms": 100})).await;
        let record = h.finished_moving_time("race").await;
        assert_eq!(output(&record), json!("timed out"));
        // The activity finishes later; its result must not disturb the finished instance.
        h.settled().await;
        let after = h.host.instance("race").await.unwrap();
        assert_eq!(after.status, RuntimeStatus::Completed);
        assert_eq!(after.history_len, record.history_len);
        h.assert_quiescent().await;
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_timeout_stops_the_attempt_and_the_retry_policy_sees_it() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::TIMEOUTS_AND_POLLING]).await;
        let started = std::time::Instant::now();
        h.start("slow", "activity_timeout", json!({"work_ms": 30_000, "timeout_ms": 200, "max_attempts": 2})).await;
        let record = h.finished_moving_time("slow").await;
        assert!(started.elapsed() < Duration::from_secs(20), "the 30 s attempts were interrupted");
        assert_eq!(record.status, RuntimeStatus::Failed);
        let failure = record.failure.unwrap();
        assert!(failure.is("TimedOut"), "{failure}");
        assert_eq!(retries(&h.history("slow").await).len(), 1, "the timeout was retried once");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_the_callback_event_completes_the_job() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::CALLBACK_WITH_TIMEOUT]).await;
        h.start("job", "run_job", json!({"job": "build", "timeout_ms": 30_000, "max_retries": 2})).await;
        h.until_history("job", |h| h.iter().any(|e| matches!(e.event, Event::EventWaitStarted { .. }))).await;
        h.host.raise_event("job", "JobCompleted", r#"{"rows": 7}"#).await.unwrap();
        let record = h.finished("job").await;
        let out = output(&record);
        assert_eq!(out["status"], json!("completed"));
        assert_eq!(out["attempts"], json!(1));
        assert_eq!(out["result"], json!({"rows": 7}));
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_a_missing_callback_times_out_and_the_job_is_retried() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::CALLBACK_WITH_TIMEOUT]).await;
        h.start("job", "run_job", json!({"job": "build", "timeout_ms": 30_000, "max_retries": 2})).await;
        let waits = |n: usize| {
            move |h: &[HistoryEvent]| {
                h.iter().filter(|e| matches!(e.event, Event::EventWaitStarted { .. })).count() >= n
            }
        };
        h.until_history("job", waits(1)).await;
        h.clock.advance(30_000);
        h.until_history("job", waits(2)).await;
        assert!(h.host.instance("job").await.unwrap().custom_status.unwrap().contains("retrying"));
        h.host.raise_event("job", "JobCompleted", "\"late but fine\"").await.unwrap();
        let out = output(&h.finished("job").await);
        assert_eq!(out["attempts"], json!(2));

        // With no callback at all, every attempt times out.
        h.start("never", "run_job", json!({"job": "build", "timeout_ms": 1_000, "max_retries": 1})).await;
        let record = h.finished_moving_time("never").await;
        assert_eq!(record.status, RuntimeStatus::Failed);
        assert!(record.failure.unwrap().is("JobTimedOut"));
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_buffered_until_awaited_and_can_come_from_another_orchestration() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::CALLBACK_WITH_TIMEOUT]).await;
        // Raised at once, before the orchestrator has sent its job and started waiting.
        h.start("early", "run_job", json!({"job": "build", "timeout_ms": 30_000, "max_retries": 0})).await;
        h.host.raise_event("early", "JobCompleted", "1").await.unwrap();
        assert_eq!(output(&h.finished("early").await)["result"], json!(1));

        h.start("waiting", "run_job", json!({"job": "build", "timeout_ms": 30_000, "max_retries": 0})).await;
        let notify = json!({"target": "waiting", "name": "JobCompleted", "data": {"from": "notifier"}});
        let notifier = h.run("notifier", "notify_other", notify).await;
        assert_eq!(output(&notifier), json!("sent"));
        assert_eq!(output(&h.finished("waiting").await)["result"], json!({"from": "notifier"}));
        let sent = h.history("notifier").await;
        assert!(kinds(&sent).contains(&"EventSent"));

        let error = h.host.raise_event("nobody", "JobCompleted", "1").await.unwrap_err();
        assert!(matches!(error, ExecutorError::Store(StoreError::InstanceNotFound(_))), "{error}");
        let error = h.host.raise_event("waiting", "JobCompleted", "{bad").await.unwrap_err();
        assert!(matches!(error, ExecutorError::InvalidInput(_)), "{error}");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_buffers_resume_continues_terminate_ends_and_purge_deletes() {
    for cache in BOTH_PATHS {
        let h = Harness::new(cache, &[guests::TIMEOUTS_AND_POLLING]).await;
        let input = json!({"ready_after": 2, "interval_ms": 60_000, "deadline_ms": 600_000});
        h.start("life", "poll_until_done", input.clone()).await;
        let timer_set = |h: &[HistoryEvent]| h.iter().any(|e| matches!(e.event, Event::TimerScheduled { .. }));
        h.until_history("life", timer_set).await;

        h.host.suspend("life", "maintenance").await.unwrap();
        h.until_history("life", |h| kinds(h).contains(&"ExecutionSuspended")).await;
        assert_eq!(h.host.instance("life").await.unwrap().status, RuntimeStatus::Suspended);
        let frozen = h.history("life").await.len();
        h.clock.advance(120_000);
        h.settled().await;
        assert_eq!(h.history("life").await.len(), frozen, "a suspended instance makes no progress");

        h.host.resume("life", "done").await.unwrap();
        let record = h.finished("life").await;
        assert_eq!(output(&record)["polls"], json!(2), "the buffered timer was delivered after resuming");

        h.start("doomed", "poll_until_done", input).await;
        h.until_history("doomed", timer_set).await;
        h.host.terminate("doomed", "no longer needed", false).await.unwrap();
        let record = h.finished("doomed").await;
        assert_eq!(record.status, RuntimeStatus::Terminated);
        assert_eq!(record.failure.unwrap().message, "no longer needed");
        assert!(kinds(&h.history("doomed").await).contains(&"ExecutionTerminated"));
        h.assert_quiescent().await;

        let error = h.host.terminate("doomed", "again", false).await.unwrap_err();
        assert!(matches!(error, ExecutorError::Store(StoreError::Finished { .. })), "{error}");
        let purged =
            h.host.purge(PurgeFilter { instance_id: Some("doomed".into()), ..Default::default() }).await.unwrap();
        assert_eq!(purged, 1);
        assert!(matches!(h.host.instance("doomed").await, Err(ExecutorError::InstanceNotFound(_))));
        let purged = h.host.purge(PurgeFilter { statuses: vec![RuntimeStatus::Completed], ..Default::default() }).await;
        assert_eq!(purged.unwrap(), 1, "the completed instance");
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_waiting_on_the_hot_path_stay_parked_and_resume_without_replay() {
    let h = Harness::new(1024, &[guests::CHAIN]).await;
    let ids: Vec<String> = (0..300).map(|i| format!("waiter-{i}")).collect();
    for id in &ids {
        h.start(id, "fan_out_then_wait", json!({"tasks": 2})).await;
    }
    for id in &ids {
        h.until_history(id, |history| kinds(history).contains(&"EventWaitStarted")).await;
    }
    // The worker's list of ready instances lags behind the commits, so it offers instances
    // whose messages are gone; such an empty turn must not evict the parked instance. Once
    // settled, every such turn is over, and each instance has no message left and waits for "go".
    h.settled().await;
    for id in &ids {
        assert!(h.host.store().messages(id, u64::MAX).unwrap().is_empty(), "{id} kept messages");
    }
    assert_eq!(h.host.cached_instances(), ids.len(), "every waiting instance is parked");
    for id in &ids {
        h.host.raise_event(id, "go", "null").await.unwrap();
    }
    for id in &ids {
        assert_eq!(output(&h.finished(id).await), json!(2));
    }
    h.stop().await;
}

/// A full instance pool is not a limit on instances: an orchestrator (or activity) that finds no
/// free slot is tried again once parked instances are evicted, and every instance completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_instance_pool_evicts_parked_instances_instead_of_failing_them() {
    const SLOTS: u32 = 6;
    let pools = InstancePools { deterministic: SLOTS, activities: 3 };
    let options = Options {
        cache: 1024,
        runtime: RuntimeConfig { pools: Some(pools), ..test_runtime() },
        activity_concurrency: 2,
        ..Options::cache(1024)
    };
    let h = Harness::with(options, &[guests::CHAIN]).await;
    let ids: Vec<String> = (0..40).map(|i| format!("crowded-{i}")).collect();
    for id in &ids {
        h.start(id, "fan_out_then_wait", json!({"tasks": 2})).await;
    }
    for id in &ids {
        h.until_history(id, |history| kinds(history).contains(&"EventWaitStarted")).await;
    }
    let parked = h.host.cached_instances();
    assert!(parked <= SLOTS as usize, "{parked} instances parked in a pool of {SLOTS} slots");
    for id in &ids {
        h.host.raise_event(id, "go", "null").await.unwrap();
    }
    for id in &ids {
        let record = h.finished(id).await;
        assert_eq!(record.status, RuntimeStatus::Completed, "{id}: {:?}", record.failure);
        assert_eq!(output(&record), json!(2));
    }
    h.stop().await;
}
