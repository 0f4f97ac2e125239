//! Flow control of activities end to end: the `flow-control` guest's `hold` logs when each
//! attempt enters and leaves, and the tests replay the log to count how many were inside at once
//! (from the activity's side, so a bypass of the claim would show). Nothing here waits on real
//! time: a test holds an attempt open with a gate file, and a rate limit's wait passes on the
//! manual clock. Entity limits are held by the host's scheduler: the last test drives one on
//! the manual clock, and watches what runs through the entities' operation counts.

use crate::harness::{BOTH_PATHS, Harness, Options, output};
use reprise_core::entity::EntityId;
use reprise_core::flow::{FlowLimit, FlowLimits, KeyPointer, Rate};
use reprise_runtime::ActivityGrants;
use reprise_store::{PendingTask, TaskState};
use reprise_tests::guests;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A host whose activities log to `dir`, with `flow` limits and 8 activity slots (more than any
/// limit here, so that only the limits hold attempts back).
async fn host(dir: &Path, cache: usize, flow: FlowLimits) -> Harness {
    let grants = ActivityGrants { dirs: vec![(dir.to_path_buf(), "/log".into(), false)], ..ActivityGrants::default() };
    let options = Options { grants, flow, activity_concurrency: 8, ..Options::cache(cache) };
    Harness::with(options, &[guests::FLOW_CONTROL]).await
}

fn limit(name: &str, concurrency: Option<u32>, rate: Option<Rate>, key: Option<&str>) -> FlowLimits {
    let mut flow = FlowLimits::default();
    let key = key.map(|k| KeyPointer::new(k).unwrap());
    flow.set(name, FlowLimit::new(concurrency, rate, key).unwrap());
    flow
}

/// The most attempts inside `hold` at once, overall and per customer, replaying the log's
/// enters and exits in order; and how many attempts entered.
fn most_at_once(dir: &Path) -> (usize, BTreeMap<String, usize>, usize) {
    let text = std::fs::read_to_string(dir.join("flow.jsonl")).expect("the activities logged");
    let (mut inside, mut most, mut entered) = (0usize, 0usize, 0usize);
    let mut by_customer: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for line in text.lines() {
        let line: Value = serde_json::from_str(line).expect("a JSON line");
        let customer = line["customer"].as_str().unwrap_or("(none)").to_string();
        let (now, peak) = by_customer.entry(customer).or_default();
        if line.get("enter").is_some() {
            (inside, entered, *now) = (inside + 1, entered + 1, *now + 1);
            most = most.max(inside);
            *peak = (*peak).max(*now);
        } else {
            (inside, *now) = (inside - 1, *now - 1);
        }
    }
    assert_eq!(inside, 0, "every attempt that entered left");
    (most, by_customer.into_iter().map(|(c, (_, peak))| (c, peak)).collect(), entered)
}

fn holds(count: u64, customer: Option<&str>, ms: u64) -> Vec<Value> {
    (0..count).map(|n| json!({ "n": n, "customer": customer, "ms": ms })).collect()
}

/// Waits (at most a minute) until the instance's pending tasks satisfy `check`. It looks again
/// every few milliseconds: an attempt held open by a gate keeps the host from settling, and the
/// throttled marks are written by claims, which no commit announces.
async fn until_tasks(h: &Harness, id: &str, check: impl Fn(&[PendingTask]) -> bool) -> Vec<PendingTask> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let tasks = h.host.pending_tasks(id).await.expect("pending tasks");
        if check(&tasks) {
            return tasks;
        }
        assert!(tokio::time::Instant::now() < deadline, "the tasks of {id} never got there: {tasks:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn states(tasks: &[PendingTask]) -> Vec<&'static str> {
    tasks.iter().map(|t| t.state.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_attempts_against_a_limit_of_three_never_run_more_than_three_at_once() {
    for cache in BOTH_PATHS {
        let dir = tempfile::tempdir().unwrap();
        let h = host(dir.path(), cache, limit("hold", Some(3), None, None)).await;
        let record = h.run("hundred", "fan_out", json!({ "holds": holds(100, None, 2) })).await;
        assert_eq!(output(&record), json!({ "held": 100, "ticked": 0 }));
        let (most, _, entered) = most_at_once(dir.path());
        assert_eq!(entered, 100);
        assert!(most <= 3, "{most} attempts ran at once under a limit of 3 (cache {cache})");
        h.assert_quiescent().await;
        h.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commit_of_an_episode_never_starts_a_limited_task_past_its_limit() {
    // On the hot path, the commit that schedules tasks claims those it holds slots for and runs
    // them at once; 8 slots are free, so without the rule all 8 would start together.
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), 1024, limit("hold", Some(1), None, None)).await;
    let record = h.run("one", "fan_out", json!({ "holds": holds(8, None, 20) })).await;
    assert_eq!(output(&record), json!({ "held": 8, "ticked": 0 }));
    let (most, _, entered) = most_at_once(dir.path());
    assert_eq!((most, entered), (1, 8), "one at a time");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_limited_each_on_its_own_and_waiting_work_shows_as_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let h = host(dir.path(), 1024, limit("hold", Some(1), None, Some("/customer"))).await;
    // Customer A's first attempt stays open until the gate file exists.
    let mut a = holds(3, Some("A"), 0);
    a[0]["gate"] = json!("release-a");
    h.start("a", "fan_out", json!({ "holds": a })).await;
    let tasks = until_tasks(&h, "a", |t| states(t) == ["Running", "Throttled", "Throttled"]).await;
    assert_eq!(tasks[1].flow_key.as_deref(), Some(r#""A""#), "the key is the value at the pointer");

    // Customer B, and input without a customer, are not held up by A's limit.
    h.run("b", "fan_out", json!({ "holds": holds(3, Some("B"), 0) })).await;
    h.run("none", "fan_out", json!({ "holds": holds(2, None, 0) })).await;
    let tasks = h.host.pending_tasks("a").await.unwrap();
    assert_eq!(states(&tasks), ["Running", "Throttled", "Throttled"], "A still waits for its first attempt");
    assert!(matches!(tasks[1].state, TaskState::Throttled { .. }));
    let metrics = h.host.render_metrics().await;
    assert!(metrics.contains(r#"reprise_activity_tasks_throttled{activity="hold"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"reprise_activity_claims_deferred_total{activity="hold"}"#), "{metrics}");
    let failed = r#"reprise_activity_attempts_total{activity="hold",outcome="failed"}"#;
    assert!(!metrics.contains(failed), "throttling is not failing: {metrics}");

    std::fs::write(dir.path().join("release-a"), b"").unwrap();
    assert_eq!(output(&h.finished("a").await), json!({ "held": 3, "ticked": 0 }));
    let (_, by_customer, entered) = most_at_once(dir.path());
    assert_eq!(entered, 8);
    assert_eq!(by_customer, BTreeMap::from([("(none)".into(), 1), ("A".into(), 1), ("B".into(), 1)]));
    h.assert_quiescent().await;
    h.stop().await;
}

/// `reprise_worker_wakeups_total{worker="activities"}` in the host's metrics.
async fn activity_worker_wakeups(h: &Harness) -> u64 {
    let metrics = h.host.render_metrics().await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with(r#"reprise_worker_wakeups_total{worker="activities"}"#))
        .unwrap_or_else(|| panic!("no activity worker wake-ups in the metrics: {metrics}"));
    line.rsplit(' ').next().and_then(|n| n.parse().ok()).expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activity_worker_sleeps_while_every_slot_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let grants =
        ActivityGrants { dirs: vec![(dir.path().to_path_buf(), "/log".into(), false)], ..ActivityGrants::default() };
    // One slot, and a poll every 20 ms: while the slot is taken the worker may look once per
    // interval (for a slot freed without a nudge), never more.
    let interval = Duration::from_millis(20);
    let options = Options { grants, activity_concurrency: 1, poll_interval: interval, ..Options::cache(1024) };
    let h = Harness::with(options, &[guests::FLOW_CONTROL]).await;
    let mut held = holds(2, None, 0);
    held[0]["gate"] = json!("open");
    h.start("held", "fan_out", json!({ "holds": held })).await;
    until_tasks(&h, "held", |t| states(t) == ["Running", "Queued"]).await;
    let (before, since) = (activity_worker_wakeups(&h).await, std::time::Instant::now());
    // Real time must pass for a spin to show: this is the span observed, not a condition.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let woke = activity_worker_wakeups(&h).await - before;
    // At most one wake-up per interval elapsed (each sleeps a whole one), and a few nudges.
    let bound = since.elapsed().as_millis() as u64 / interval.as_millis() as u64 + 5;
    assert!(woke <= bound, "the activity worker woke {woke} times (at most {bound}) with its only slot taken");
    std::fs::write(dir.path().join("open"), b"").unwrap();
    assert_eq!(output(&h.finished("held").await), json!({ "held": 2, "ticked": 0 }));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_activity_waits_throttled_for_its_next_token_on_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    // One start per hour: on the manual clock, each wait is a move of the clock, not real time.
    let rate = Rate::parse("1/h", Some(1)).unwrap();
    let h = host(dir.path(), 1024, limit("tick", None, Some(rate), None)).await;
    h.start("ticks", "fan_out", json!({ "ticks": 3 })).await;
    let tasks = until_tasks(&h, "ticks", |t| states(t) == ["Throttled", "Throttled"]).await;
    assert!(tasks.iter().all(|t| t.attempts == 0), "held back before any attempt");
    h.settled().await;
    assert_eq!(states(&h.host.pending_tasks("ticks").await.unwrap()), ["Throttled", "Throttled"], "no token yet");

    // The next token is due an hour later: the worker sleeps on the clock until then.
    h.clock.advance(3_600_000);
    until_tasks(&h, "ticks", |t| states(t) == ["Throttled"]).await;
    h.clock.advance(3_600_000);
    assert_eq!(output(&h.finished("ticks").await), json!({ "held": 0, "ticked": 3 }));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_rate_limit_runs_one_batch_per_token_in_the_order_they_came() {
    let mut entity_flow = FlowLimits::default();
    entity_flow.set("Counter", FlowLimit::new(None, Some(Rate::parse("1/h", Some(1)).unwrap()), None).unwrap());
    let options = Options { entity_flow, ..Options::cache(1024) };
    let h = Harness::with(options, &[guests::ENTITIES]).await;
    let counter = |key: &str| EntityId::new("Counter", key).unwrap();
    for key in ["a", "b", "c"] {
        h.host.signal_entity(&counter(key), "add", "1").await.unwrap();
    }
    // Another entity name is not held up by Counter's limit.
    h.host.signal_entity(&EntityId::new("Account", "other").unwrap(), "deposit", "5").await.unwrap();
    h.settled().await;
    let ran = |key: &'static str| {
        let h = &h;
        async move { h.host.entity(&counter(key)).await.unwrap().map_or(0, |record| record.operations) }
    };
    assert_eq!((ran("a").await, ran("b").await, ran("c").await), (1, 0, 0), "one token: one batch");
    let throttled = |key: &'static str| {
        let h = &h;
        async move { h.host.entity_throttled(&h.host.entity(&counter(key)).await.unwrap().expect("it exists")) }
    };
    assert_eq!((throttled("a").await, throttled("b").await, throttled("c").await), (false, true, true));
    let account = h.host.entity(&EntityId::new("Account", "other").unwrap()).await.unwrap();
    assert_eq!(account.map(|r| r.operations), Some(1), "Account has no limit");
    let metrics = h.host.render_metrics().await;
    // b and c wait; so may a, woken twice (by its signal and by a poll that found the signal
    // first): that wake finds nothing to do when its turn comes, and gives its token back.
    let held = ["2", "3"]
        .iter()
        .any(|n| metrics.contains(&format!(r#"reprise_entity_batches_throttled{{entity="Counter"}} {n}"#)));
    assert!(held, "{metrics}");

    // The next token is an hour away on the clock: b, which came before c, runs then.
    h.clock.advance(3_600_000);
    let b = tokio::time::timeout(Duration::from_secs(60), h.host.wait_entity_idle(&counter("b"))).await;
    assert_eq!(b.expect("b ran within a minute").unwrap().map(|r| r.operations), Some(1));
    h.settled().await;
    assert_eq!(ran("c").await, 0, "c waits for the token after");
    h.clock.advance(3_600_000);
    let c = tokio::time::timeout(Duration::from_secs(60), h.host.wait_entity_idle(&counter("c"))).await;
    assert_eq!(c.expect("c ran within a minute").unwrap().map(|r| r.operations), Some(1));
    assert!(!throttled("c").await);
    h.stop().await;
}
