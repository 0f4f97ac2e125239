//! The activity dispatcher: claims activity tasks from the store, runs attempts in the activity
//! sandbox with bounded concurrency, renews their leases while they run, and records each
//! attempt's result (with the next episode of its instance begun in the same write, when the
//! caller holds a slot for it).
//!
//! A task reaches an attempt two ways. The episode that schedules a task claims it in its own
//! commit when a slot is free here, and its caller hands it over at once: no claim round trip,
//! no poll. The others (no slot was free, a retry came due, another process enqueued them, a
//! lease expired) are claimed from the store when the activity worker polls it, which it does
//! when an episode left tasks unclaimed, when a retry comes due, and every poll interval.
//! Delivery is at-least-once: if this host dies mid-attempt its lease expires and another claim
//! runs the task again, with the next attempt number.
//!
//! Flow limits (`ExecutorConfig::flow`) are the store's to enforce, in the claim: the commit of an
//! episode never claims a limited task (the planner's rule), so every attempt of one goes through
//! a claim. A task held back waits in the queue, marked throttled; it is claimed when an attempt
//! of its activity ends here (the worker polls once the result is recorded), when the rate limit's
//! next token is due (the claim says when), or at the periodic poll (the attempt ended in another
//! process).
//!
//! It owns the activity slots' use, the attempts and the writes of their results. Whether a
//! failed attempt is tried again is the planner's (`reprise_core::plan::activity`); which
//! episode runs and when is the scheduler's; it never runs an episode.

use crate::cache::InstanceCache;
use crate::clock::Clock;
use crate::config::ExecutorConfig;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::session::guest_failure;
use crate::slots::{ActivitySlots, Permit};
use crate::store_access::StoreAccess;
use crate::telemetry;
use crate::trigger::Trigger;
use reprise_core::failure::error_types;
use reprise_core::plan::activity::{self, Attempt};
use reprise_core::{Failure, HttpExchange, Payload, Timestamp};
use reprise_runtime::{ActivityInvocation, ActivityRun, GuestError, Runtime};
use reprise_store::{ActivityResult, ActivityTask, ActivityTaskKey, EpisodeStart, Recorded as StoreRecorded};
use std::sync::Arc;
use std::time::Duration;

/// See the module docs.
pub(crate) struct ActivityDispatcher {
    pub(crate) store: StoreAccess,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) cache: Arc<InstanceCache>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) slots: ActivitySlots,
    /// Wakes the activity worker.
    pub(crate) trigger: Trigger,
    pub(crate) config: ExecutorConfig,
    pub(crate) metrics: Arc<Metrics>,
}

/// What [`ActivityDispatcher::claim`] took.
#[derive(Default)]
pub(crate) struct Claimed {
    /// The tasks, each with its slot.
    pub(crate) tasks: Vec<(ActivityTask, Permit)>,
    /// The claim took as many as it had slots for: more may be waiting.
    pub(crate) full: bool,
    /// When a rate limit that held tasks back has a token again.
    pub(crate) next_token_at: Option<Timestamp>,
}

/// What [`ActivityDispatcher::record`] did.
pub(crate) enum Recorded {
    /// The result is recorded and the instance's episode begun, at the time given.
    Begun(Box<EpisodeStart>, Timestamp),
    /// The result is recorded (and the episode, if asked for, could not begin here).
    Written,
    /// Nothing was recorded.
    Not,
}

/// The longest wait between two tries to record a result while the store is unavailable.
const MAX_RECORD_WAIT: Duration = Duration::from_secs(8);

impl ActivityDispatcher {
    /// Claims up to as many tasks as slots are free, each with its slot, within the flow
    /// limits. Returns them, whether the claim took as many as it could (more may be waiting),
    /// and when a rate limit that held tasks back has its next token.
    pub(crate) async fn claim(&self) -> Claimed {
        // The slots first: episodes take slots too, and a claimed task must have one.
        let permits = self.slots.take(self.slots.free());
        let (owner, now, limit) = (self.config.owner.clone(), self.clock.now(), permits.len());
        if limit == 0 {
            return Claimed::default();
        }
        let lease_until = now + self.config.activity_lease.as_millis() as u64;
        let flow = self.config.flow.clone();
        match self.store.call(move |store| store.claim_activities(&owner, now, lease_until, limit, &flow)).await {
            Ok(claim) => {
                self.metrics.deferred(&claim.deferred);
                Claimed {
                    full: claim.tasks.len() == limit,
                    tasks: claim.tasks.into_iter().zip(permits).collect(),
                    next_token_at: claim.next_token_at,
                }
            }
            Err(error) => {
                tracing::error!("cannot claim activity tasks: {error}");
                Claimed::default()
            }
        }
    }

    /// Whether the end of an attempt of activity `name` may let a throttled task through: its
    /// activity has a concurrency limit, and the attempt's lease was one of the live ones.
    pub(crate) fn frees_a_limit(&self, name: &str) -> bool {
        self.config.flow.of(name).is_some_and(|limit| limit.concurrency.is_some())
    }

    /// Runs one attempt of `task`, renewing its lease while it runs, and says what to record:
    /// its result and the HTTP requests it made.
    pub(crate) async fn attempt(&self, task: &ActivityTask) -> (ActivityResult, Vec<HttpExchange>) {
        let started = std::time::Instant::now();
        let key = &task.key;
        let mut span = telemetry::attempt(&key.instance_id, key.execution, &task.name, key.task_id, task.attempt);
        let attempted = self.attempt_unmeasured(task, span.traceparent()).await;
        let outcome = match &attempted.0 {
            ActivityResult::Completed(_) => "completed",
            ActivityResult::Failed(_) => "failed",
            ActivityResult::Retry { .. } => "retrying",
        };
        // The name is the one the call gave: bounded by what the loaded components export,
        // except for calls of activities no component exports, which count under one name.
        let unknown =
            matches!(&attempted.0, ActivityResult::Failed(f) if f.error_type == error_types::ACTIVITY_NOT_FOUND);
        let name = if unknown { "(unknown)" } else { task.name.as_str() };
        self.metrics.attempt(name, outcome, started.elapsed());
        if let ActivityResult::Failed(failure) | ActivityResult::Retry { failure, .. } = &attempted.0 {
            span.failed(&failure.to_string());
        }
        attempted
    }

    async fn attempt_unmeasured(
        &self,
        task: &ActivityTask,
        traceparent: Option<String>,
    ) -> (ActivityResult, Vec<HttpExchange>) {
        let Some((component, settings)) = self.registry.activity(&task.name) else {
            // Not retried: loading a component takes a host restart, which no retry waits for.
            let failure = Failure::new(
                error_types::ACTIVITY_NOT_FOUND,
                format!("no loaded component exports an activity named '{}'", task.name),
            );
            return (ActivityResult::Failed(failure), Vec::new());
        };
        // The deployment's defaults, where the call set no timeout or retry policy.
        let options = settings.effective(&task.options);
        let invocation = ActivityInvocation {
            name: task.name.clone(),
            input: task.input.to_string(),
            instance_id: task.key.instance_id.clone(),
            task_id: task.key.task_id,
            attempt: task.attempt,
            idempotency_key: reprise_core::idempotency_key(&task.key.instance_id, task.key.execution, task.key.task_id),
            timeout: options.timeout_ms.map(Duration::from_millis),
            traceparent,
        };
        let run = self.runtime.run_activity(&component, invocation, &settings.grants);
        let ActivityRun { outcome, http } = tokio::select! {
            run = run => run,
            () = self.renew_lease(task) => {
                return (ActivityResult::Failed(Failure::new(error_types::GUEST_TRAPPED, "lease lost")), Vec::new());
            }
        };
        let attempt = match outcome {
            Ok(Ok(output)) => match Payload::parse(output, self.config.max_payload_bytes) {
                Ok(output) => Attempt::Completed(output),
                Err(error) => Attempt::Failed(error.failure(&format!("the output of activity '{}'", task.name))),
            },
            Ok(Err(failure)) => Attempt::Failed(failure),
            // The host lacked the resources to create the sandbox: not the activity's fault,
            // so it is tried again shortly, once parked instances are freed (the wait is
            // recorded in history like any retry).
            Err(error @ GuestError::Instantiate(_)) => {
                let freed = self.cache.make_room();
                tracing::warn!(
                    instance = %task.key.instance_id, task = task.key.task_id,
                    "cannot instantiate activity '{}' ({error}); evicted {freed} parked instance(s), will retry", task.name
                );
                Attempt::NotStarted(guest_failure(&error))
            }
            Err(error) => Attempt::Failed(guest_failure(&error)),
        };
        let result = activity::result(task, options.retry.as_ref(), attempt, self.clock.now());
        if let ActivityResult::Retry { failure, next_attempt_at } = &result {
            tracing::info!(
                instance = %task.key.instance_id, task = task.key.task_id, attempt = task.attempt,
                "activity '{}' failed ({failure}); retrying at {next_attempt_at}", task.name
            );
        }
        (result, http)
    }

    /// Renews the task's lease every third of its length, on the clock; returns only if the
    /// lease is lost.
    async fn renew_lease(&self, task: &ActivityTask) {
        let lease = self.config.activity_lease.as_millis() as u64;
        loop {
            self.clock.sleep_until(self.clock.now() + (lease / 3).max(1)).await;
            let (key, owner) = (task.key.clone(), self.config.owner.clone());
            let until = self.clock.now() + lease;
            match self.store.call(move |store| store.renew_activity(&key, &owner, until)).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(instance = %task.key.instance_id, task = task.key.task_id, "activity lease lost; abandoning the attempt");
                    return;
                }
                Err(error) => tracing::warn!("cannot renew activity lease: {error}"),
            }
        }
    }

    /// Records an attempt's result and, if `begin`, begins its instance's next episode in the
    /// same write. A failing database must not cost a result (and a second run of its side
    /// effects): it tries a few times, within the lease; and for as long as the store says it is
    /// unavailable for a while (a full disk), since recording needs only that the task is still
    /// leased to this host, which no claim of this host takes away meanwhile.
    pub(crate) async fn record(
        &self,
        key: &ActivityTaskKey,
        (result, requests): &(ActivityResult, Vec<HttpExchange>),
        begin: bool,
    ) -> Recorded {
        let mut delay = Duration::from_millis(100);
        let mut tries_left = 4;
        loop {
            let (owner, task, result, requests) =
                (self.config.owner.clone(), key.clone(), result.clone(), requests.clone());
            let now = self.clock.now();
            let begin_until = begin.then(|| now + self.config.instance_lease.as_millis() as u64);
            let written = self
                .store
                .submit(|store, done| {
                    store.record_activity_then(task, owner, (result, requests, now, begin_until), done)
                })
                .await;
            match written {
                Ok(StoreRecorded { recorded: true, episode: Some(start) }) => {
                    return Recorded::Begun(Box::new(start), now);
                }
                // Locked by another owner (whose episode will see the result), or gone.
                Ok(StoreRecorded { recorded: true, episode: None }) => return Recorded::Written,
                Ok(StoreRecorded { recorded: false, .. }) => {
                    tracing::warn!(
                        instance = %key.instance_id, task = key.task_id,
                        "activity result dropped: its lease expired and the task was claimed again"
                    );
                    return Recorded::Not;
                }
                Err(error) if tries_left > 0 || error.is_retryable() => {
                    tracing::warn!(instance = %key.instance_id, task = key.task_id, "cannot record activity result, retrying: {error}");
                    if !error.is_retryable() {
                        tries_left -= 1;
                    }
                    // Real time: the host's pacing of its own retries.
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RECORD_WAIT);
                }
                Err(error) => {
                    tracing::error!(instance = %key.instance_id, task = key.task_id, "cannot record activity result: {error}");
                    return Recorded::Not;
                }
            }
        }
    }
}
