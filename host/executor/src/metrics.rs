//! The host's metrics, in Prometheus's text format ([`Metrics::render`], served at `/metrics`).
//!
//! It owns the metric families, their names, labels and buckets, and the readings taken when
//! they are scraped (the cache's counts, the store's writes, instances by status, waits pending,
//! tasks throttled by a flow limit).
//! Each host has a registry of its own, not a process-wide one, so that two hosts in a process
//! (the tests) never mix their figures. Observability reads, never steers: nothing here changes
//! what an instance does, and a reading that fails is left out of the scrape, logged, never an
//! error for the host.
//!
//! Names follow Prometheus's conventions: the `reprise_` prefix, base units (`_seconds`,
//! `_bytes`), `_total` for counters; label values are bounded (activity, entity and route names
//! come from the loaded components and the router, never from instance ids or inputs).

use crate::cache::CacheCounts;
use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use reprise_core::RuntimeStatus;
use reprise_store::{StoreCounts, WriteStats};
use std::sync::Mutex;
use std::time::Duration;

/// Buckets for episodes, attempts and requests: 100 us to 30 s.
const SECONDS_BUCKETS: [f64; 16] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0];

/// See the module docs.
pub struct Metrics {
    registry: Registry,
    episodes: IntCounterVec,
    episode_seconds: HistogramVec,
    replays: IntCounter,
    replay_seconds: Histogram,
    attempts: IntCounterVec,
    attempt_seconds: HistogramVec,
    retries: IntCounterVec,
    claims_deferred: IntCounterVec,
    entity_operations: IntCounterVec,
    worker_wakeups: IntCounterVec,
    schedule_fires: IntCounterVec,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
    // Read at each scrape.
    cache_instances: IntGauge,
    cache_hits: IntCounter,
    cache_misses: IntCounter,
    cache_evictions: IntCounter,
    commits: IntCounter,
    fsyncs: IntCounter,
    writes: IntCounter,
    writer_busy: prometheus::Counter,
    writer_queue: IntGauge,
    instances: IntGaugeVec,
    timers_pending: IntGauge,
    activities_pending: IntGauge,
    activities_throttled: IntGaugeVec,
    entities_throttled: IntGaugeVec,
    entity_batches_deferred: IntCounterVec,
    /// The readings of the monotonic sources at the last scrape, so that each scrape adds what
    /// moved since (a Prometheus counter only goes up by increments).
    last: Mutex<Readings>,
}

/// The monotonic sources as last read.
#[derive(Debug, Default, Clone)]
struct Readings {
    cache: Option<CacheCounts>,
    writes: Option<WriteStats>,
    /// The activities with throttled tasks at the last scrape (set to 0 once they have none).
    throttled: Vec<String>,
    /// Entity batches held back so far, by entity name, at the last scrape.
    entity_deferred: std::collections::BTreeMap<String, u64>,
}

/// How an episode ended, for `reprise_episodes_total`'s `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpisodeOutcome {
    /// It committed.
    Committed,
    /// It had nothing to do.
    Idle,
    /// It could not run now, or failed and will run again.
    Retried,
    /// It stopped without committing (the instance had finished, or was moved on elsewhere).
    Skipped,
}

impl EpisodeOutcome {
    fn label(self) -> &'static str {
        match self {
            EpisodeOutcome::Committed => "committed",
            EpisodeOutcome::Idle => "idle",
            EpisodeOutcome::Retried => "retried",
            EpisodeOutcome::Skipped => "skipped",
        }
    }
}

impl Metrics {
    /// A host's metrics, every family registered and at zero.
    pub(crate) fn new() -> Metrics {
        let registry = Registry::new();
        let seconds = |name: &str, help: &str| HistogramOpts::new(name, help).buckets(SECONDS_BUCKETS.to_vec());
        let metrics = Metrics {
            episodes: IntCounterVec::new(
                Opts::new("reprise_episodes_total", "Episodes run, by kind (orchestration, entity) and outcome."),
                &["kind", "outcome"],
            )
            .expect("valid metric"),
            episode_seconds: HistogramVec::new(
                seconds("reprise_episode_duration_seconds", "Time from an episode's lock to its commit, by kind."),
                &["kind"],
            )
            .expect("valid metric"),
            replays: IntCounter::new(
                "reprise_replays_total",
                "Orchestration episodes on the cold path: a fresh guest replaying the instance's history.",
            )
            .expect("valid metric"),
            replay_seconds: Histogram::with_opts(seconds(
                "reprise_replay_duration_seconds",
                "Time of a cold-path episode: instantiating, replaying the history, running the episode.",
            ))
            .expect("valid metric"),
            attempts: IntCounterVec::new(
                Opts::new(
                    "reprise_activity_attempts_total",
                    "Activity attempts, by activity and outcome (completed, failed, retrying).",
                ),
                &["activity", "outcome"],
            )
            .expect("valid metric"),
            attempt_seconds: HistogramVec::new(
                seconds("reprise_activity_attempt_duration_seconds", "Time of an activity attempt, by activity."),
                &["activity"],
            )
            .expect("valid metric"),
            retries: IntCounterVec::new(
                Opts::new("reprise_retries_scheduled_total", "Retries the host scheduled, by kind of task."),
                &["kind"],
            )
            .expect("valid metric"),
            claims_deferred: IntCounterVec::new(
                Opts::new(
                    "reprise_activity_claims_deferred_total",
                    "Claimable activity tasks a claim of this host passed over because their activity (and key) was at its flow limit, by activity.",
                ),
                &["activity"],
            )
            .expect("valid metric"),
            entity_operations: IntCounterVec::new(
                Opts::new("reprise_entity_operations_total", "Entity operations run, by entity name."),
                &["entity"],
            )
            .expect("valid metric"),
            schedule_fires: IntCounterVec::new(
                Opts::new(
                    "reprise_schedule_fires_total",
                    "Slots and manual runs of schedules, by schedule and outcome (started, already-started, skipped, buffered, missed).",
                ),
                &["schedule", "outcome"],
            )
            .expect("valid metric"),
            http_requests: IntCounterVec::new(
                Opts::new("reprise_http_requests_total", "HTTP API requests, by route, method and status code."),
                &["route", "method", "status"],
            )
            .expect("valid metric"),
            http_seconds: HistogramVec::new(
                seconds("reprise_http_request_duration_seconds", "Time to answer an HTTP API request, by route."),
                &["route"],
            )
            .expect("valid metric"),
            cache_instances: IntGauge::new("reprise_cache_instances", "Instances parked in the cache (the hot path).")
                .expect("valid metric"),
            cache_hits: IntCounter::new("reprise_cache_hits_total", "Episodes that found their instance parked.")
                .expect("valid metric"),
            cache_misses: IntCounter::new(
                "reprise_cache_misses_total",
                "Episodes that did not find their instance parked (the cache on), and replayed it.",
            )
            .expect("valid metric"),
            cache_evictions: IntCounter::new(
                "reprise_cache_evictions_total",
                "Parked instances dropped before their next episode (capacity, idle time, memory).",
            )
            .expect("valid metric"),
            commits: IntCounter::new("reprise_store_commits_total", "Commits of the store's writer.")
                .expect("valid metric"),
            fsyncs: IntCounter::new(
                "reprise_store_fsyncs_total",
                "Commits at the store's configured durability (one fsync each under synchronous=FULL).",
            )
            .expect("valid metric"),
            writes: IntCounter::new("reprise_store_writes_total", "Store writes (requests) those commits carried.")
                .expect("valid metric"),
            writer_busy: prometheus::Counter::new(
                "reprise_store_writer_busy_seconds_total",
                "Time the store's writer spent running writes and commits, fsyncs included.",
            )
            .expect("valid metric"),
            writer_queue: IntGauge::new(
                "reprise_store_writer_queue_depth",
                "Writes waiting for the store's writer at the scrape.",
            )
            .expect("valid metric"),
            instances: IntGaugeVec::new(
                Opts::new("reprise_instances", "Orchestration instances in the store, by runtime status."),
                &["status"],
            )
            .expect("valid metric"),
            timers_pending: IntGauge::new(
                "reprise_timers_pending",
                "Messages due later: durable timers, and waits before retried sub-orchestrations.",
            )
            .expect("valid metric"),
            activities_pending: IntGauge::new(
                "reprise_activity_tasks_pending",
                "Activity tasks queued or waiting for a retry, not under a worker's lease.",
            )
            .expect("valid metric"),
            activities_throttled: IntGaugeVec::new(
                Opts::new(
                    "reprise_activity_tasks_throttled",
                    "Activity tasks waiting because their activity (and key) is at its flow limit, by activity.",
                ),
                &["activity"],
            )
            .expect("valid metric"),
            entities_throttled: IntGaugeVec::new(
                Opts::new(
                    "reprise_entity_batches_throttled",
                    "Entities whose next batch waits because their entity name is at its flow limit in this host, by entity name.",
                ),
                &["entity"],
            )
            .expect("valid metric"),
            entity_batches_deferred: IntCounterVec::new(
                Opts::new(
                    "reprise_entity_batches_deferred_total",
                    "Entity batches this host held back for their entity name's flow limit, by entity name.",
                ),
                &["entity"],
            )
            .expect("valid metric"),
            worker_wakeups: IntCounterVec::new(
                Opts::new(
                    "reprise_worker_wakeups_total",
                    "Times each of this host's workers (orchestrations, activities, schedules) woke from its wait, for work, a due time or its periodic poll.",
                ),
                &["worker"],
            )
            .expect("valid metric"),
            registry,
            last: Mutex::new(Readings::default()),
        };
        metrics.register_all();
        // The labels known ahead show from the first scrape, at zero, so that a rate over them
        // has a start (Prometheus's advice: initialise what you can).
        for kind in ["orchestration", "entity"] {
            metrics.episode_seconds.with_label_values(&[kind]);
            for outcome in
                [EpisodeOutcome::Committed, EpisodeOutcome::Idle, EpisodeOutcome::Retried, EpisodeOutcome::Skipped]
            {
                metrics.episodes.with_label_values(&[kind, outcome.label()]);
            }
        }
        for kind in ["activity", "sub_orchestration"] {
            metrics.retries.with_label_values(&[kind]);
        }
        for worker in ["orchestrations", "activities", "schedules"] {
            metrics.worker_wakeups.with_label_values(&[worker]);
        }
        metrics
    }

    fn register_all(&self) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.episodes.clone()),
            Box::new(self.episode_seconds.clone()),
            Box::new(self.replays.clone()),
            Box::new(self.replay_seconds.clone()),
            Box::new(self.attempts.clone()),
            Box::new(self.attempt_seconds.clone()),
            Box::new(self.retries.clone()),
            Box::new(self.claims_deferred.clone()),
            Box::new(self.entity_operations.clone()),
            Box::new(self.worker_wakeups.clone()),
            Box::new(self.schedule_fires.clone()),
            Box::new(self.http_requests.clone()),
            Box::new(self.http_seconds.clone()),
            Box::new(self.cache_instances.clone()),
            Box::new(self.cache_hits.clone()),
            Box::new(self.cache_misses.clone()),
            Box::new(self.cache_evictions.clone()),
            Box::new(self.commits.clone()),
            Box::new(self.fsyncs.clone()),
            Box::new(self.writes.clone()),
            Box::new(self.writer_busy.clone()),
            Box::new(self.writer_queue.clone()),
            Box::new(self.instances.clone()),
            Box::new(self.timers_pending.clone()),
            Box::new(self.activities_pending.clone()),
            Box::new(self.activities_throttled.clone()),
            Box::new(self.entities_throttled.clone()),
            Box::new(self.entity_batches_deferred.clone()),
        ];
        for collector in collectors {
            // Names are unique by construction; a clash is a bug caught by the tests.
            self.registry.register(collector).expect("metric names are unique");
        }
    }

    /// Counts an episode of `kind` ("orchestration" or "entity") that took `took`.
    pub(crate) fn episode(&self, kind: &str, outcome: EpisodeOutcome, took: Duration) {
        self.episodes.with_label_values(&[kind, outcome.label()]).inc();
        self.episode_seconds.with_label_values(&[kind]).observe(took.as_secs_f64());
    }

    /// Counts a cold-path episode that took `took`.
    pub(crate) fn replay(&self, took: Duration) {
        self.replays.inc();
        self.replay_seconds.observe(took.as_secs_f64());
    }

    /// Counts an attempt of `activity` that ended as `outcome` ("completed", "failed",
    /// "retrying") after `took`.
    pub(crate) fn attempt(&self, activity: &str, outcome: &str, took: Duration) {
        self.attempts.with_label_values(&[activity, outcome]).inc();
        self.attempt_seconds.with_label_values(&[activity]).observe(took.as_secs_f64());
        if outcome == "retrying" {
            self.retries.with_label_values(&["activity"]).inc();
        }
    }

    /// Counts retries of sub-orchestrations an episode scheduled.
    pub(crate) fn sub_orchestration_retries(&self, count: usize) {
        if count > 0 {
            self.retries.with_label_values(&["sub_orchestration"]).inc_by(count as u64);
        }
    }

    /// Shows the limited activities' families from the first scrape, at zero.
    pub(crate) fn limited(&self, activities: impl IntoIterator<Item = impl AsRef<str>>) {
        for activity in activities {
            self.claims_deferred.with_label_values(&[activity.as_ref()]);
            self.activities_throttled.with_label_values(&[activity.as_ref()]);
        }
    }

    /// Counts the tasks a claim passed over for their activity's flow limit, by activity.
    pub(crate) fn deferred(&self, by_activity: &std::collections::BTreeMap<String, u64>) {
        for (activity, count) in by_activity {
            self.claims_deferred.with_label_values(&[activity]).inc_by(*count);
        }
    }

    /// Counts a wake-up of the worker `worker`.
    pub(crate) fn worker_woke(&self, worker: &str) {
        self.worker_wakeups.with_label_values(&[worker]).inc();
    }

    /// Counts `count` operations run on entities named `entity`.
    pub(crate) fn entity_operations(&self, entity: &str, count: usize) {
        self.entity_operations.with_label_values(&[entity]).inc_by(count as u64);
    }

    /// Counts `count` slots (or manual runs) of `schedule` that ended as `outcome`.
    pub(crate) fn schedule_fires(&self, schedule: &str, outcome: reprise_core::schedule::RunOutcome, count: u64) {
        self.schedule_fires.with_label_values(&[schedule, outcome.as_str()]).inc_by(count);
    }

    /// Counts an HTTP request to `route` (the router's pattern, not the path) answered with
    /// `status` after `took`.
    pub fn http_request(&self, route: &str, method: &str, status: u16, took: Duration) {
        self.http_requests.with_label_values(&[route, method, &status.to_string()]).inc();
        self.http_seconds.with_label_values(&[route]).observe(took.as_secs_f64());
    }

    /// The metrics in Prometheus's text format, with the readings of `now`.
    pub(crate) fn render(&self, now: Now) -> String {
        self.read(now);
        let mut text = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut text) {
            tracing::warn!("cannot encode the metrics: {error}");
        }
        String::from_utf8(text).unwrap_or_default()
    }

    /// Sets the scraped families from the readings.
    fn read(&self, now: Now) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        self.cache_instances.set(now.cache_len as i64);
        let before = last.cache.unwrap_or(CacheCounts { hits: 0, misses: 0, evictions: 0 });
        self.cache_hits.inc_by(now.cache.hits.saturating_sub(before.hits));
        self.cache_misses.inc_by(now.cache.misses.saturating_sub(before.misses));
        self.cache_evictions.inc_by(now.cache.evictions.saturating_sub(before.evictions));
        last.cache = Some(now.cache);
        if let Some(stats) = now.writes {
            let before = last.writes.unwrap_or_default();
            self.commits.inc_by(stats.commits.saturating_sub(before.commits));
            self.fsyncs.inc_by(stats.durable_commits.saturating_sub(before.durable_commits));
            self.writes.inc_by(stats.requests.saturating_sub(before.requests));
            self.writer_busy.inc_by(stats.busy.saturating_sub(before.busy).as_secs_f64());
            self.writer_queue.set(stats.queued as i64);
            last.writes = Some(stats);
        }
        if let Some(counts) = now.store {
            for status in RuntimeStatus::ALL {
                let count = counts.instances.iter().find(|(s, _)| *s == status).map_or(0, |(_, n)| *n);
                self.instances.with_label_values(&[status.as_str()]).set(count as i64);
            }
            self.timers_pending.set(counts.timers_pending as i64);
            self.activities_pending.set(counts.activity_tasks_pending as i64);
            for gone in last.throttled.iter().filter(|n| !counts.activity_tasks_throttled.iter().any(|(m, _)| m == *n))
            {
                self.activities_throttled.with_label_values(&[gone]).set(0);
            }
            for (activity, count) in &counts.activity_tasks_throttled {
                self.activities_throttled.with_label_values(&[activity]).set(*count as i64);
            }
            last.throttled = counts.activity_tasks_throttled.iter().map(|(name, _)| name.clone()).collect();
        }
        for throttle in &now.entities {
            self.entities_throttled.with_label_values(&[&throttle.name]).set(throttle.held as i64);
            let before = last.entity_deferred.insert(throttle.name.clone(), throttle.deferred).unwrap_or(0);
            self.entity_batches_deferred
                .with_label_values(&[&throttle.name])
                .inc_by(throttle.deferred.saturating_sub(before));
        }
    }
}

/// What a scrape reads from the host's parts.
pub(crate) struct Now {
    pub(crate) cache_len: usize,
    pub(crate) cache: CacheCounts,
    /// The store's writer's counts, if the store has a writer of its own.
    pub(crate) writes: Option<WriteStats>,
    /// The store's counts, if they could be read.
    pub(crate) store: Option<StoreCounts>,
    /// The flow limits' figures of each limited entity name (all of them, at zero too).
    pub(crate) entities: Vec<crate::scheduler::EntityThrottle>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(hits: u64) -> Now {
        Now {
            cache_len: 2,
            cache: CacheCounts { hits, misses: 1, evictions: 0 },
            writes: None,
            store: None,
            entities: Vec::new(),
        }
    }

    #[test]
    fn every_family_registers_and_renders_with_its_type() {
        let metrics = Metrics::new();
        metrics.episode("orchestration", EpisodeOutcome::Committed, Duration::from_millis(3));
        metrics.attempt("charge", "retrying", Duration::from_millis(1));
        metrics.schedule_fires("nightly", reprise_core::schedule::RunOutcome::Skipped, 2);
        let text = metrics.render(reading(1));
        assert!(text.contains("# TYPE reprise_episodes_total counter"), "{text}");
        assert!(text.contains(r#"reprise_episodes_total{kind="orchestration",outcome="committed"} 1"#), "{text}");
        assert!(text.contains("# TYPE reprise_episode_duration_seconds histogram"), "{text}");
        assert!(text.contains(r#"reprise_activity_attempts_total{activity="charge",outcome="retrying"} 1"#));
        assert!(text.contains(r#"reprise_retries_scheduled_total{kind="activity"} 1"#));
        assert!(text.contains("reprise_cache_instances 2"));
        assert!(text.contains(r#"reprise_schedule_fires_total{outcome="skipped",schedule="nightly"} 2"#), "{text}");
    }

    #[test]
    fn throttled_tasks_are_read_at_scrape_and_fall_back_to_zero() {
        let metrics = Metrics::new();
        metrics.limited(["charge"]);
        metrics.deferred(&[("charge".to_string(), 4)].into_iter().collect());
        let with = |throttled: Vec<(String, u64)>| Now {
            store: Some(StoreCounts { activity_tasks_throttled: throttled, ..StoreCounts::default() }),
            ..reading(0)
        };
        let text = metrics.render(with(vec![("charge".into(), 7), ("email".into(), 2)]));
        assert!(text.contains(r#"reprise_activity_tasks_throttled{activity="charge"} 7"#), "{text}");
        assert!(text.contains(r#"reprise_activity_tasks_throttled{activity="email"} 2"#), "{text}");
        assert!(text.contains(r#"reprise_activity_claims_deferred_total{activity="charge"} 4"#), "{text}");
        let text = metrics.render(with(vec![("charge".into(), 1)]));
        assert!(text.contains(r#"reprise_activity_tasks_throttled{activity="email"} 0"#), "{text}");
    }

    #[test]
    fn entity_throttles_show_as_a_gauge_and_a_counter_that_only_goes_up() {
        let metrics = Metrics::new();
        let gpu = |held, deferred| crate::scheduler::EntityThrottle { name: "Gpu".into(), held, deferred };
        let text = metrics.render(Now { entities: vec![gpu(3, 5)], ..reading(0) });
        assert!(text.contains(r#"reprise_entity_batches_throttled{entity="Gpu"} 3"#), "{text}");
        assert!(text.contains(r#"reprise_entity_batches_deferred_total{entity="Gpu"} 5"#), "{text}");
        let text = metrics.render(Now { entities: vec![gpu(0, 6)], ..reading(0) });
        assert!(text.contains(r#"reprise_entity_batches_throttled{entity="Gpu"} 0"#), "{text}");
        assert!(text.contains(r#"reprise_entity_batches_deferred_total{entity="Gpu"} 6"#), "{text}");
    }

    #[test]
    fn counters_read_at_scrape_add_what_moved_since_the_last_one() {
        let metrics = Metrics::new();
        assert!(metrics.render(reading(5)).contains("reprise_cache_hits_total 5"));
        assert!(metrics.render(reading(5)).contains("reprise_cache_hits_total 5"));
        assert!(metrics.render(reading(8)).contains("reprise_cache_hits_total 8"));
    }
}
