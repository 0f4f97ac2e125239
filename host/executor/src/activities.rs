//! The activity dispatcher: runs activity tasks with bounded concurrency in the activity
//! sandbox, renews their leases while they run, and records each attempt's result, which wakes
//! the instance it is for.
//!
//! A task reaches it two ways. The episode that schedules a task claims it in its own commit
//! when a slot is free here, and hands it over at once ([`run_claimed`]): no claim round trip,
//! no poll. The others (no slot was free, a retry came due, another process enqueued them, a
//! lease expired) are claimed from the store when the dispatcher polls it, which it does when
//! an episode left tasks unclaimed, when a retry comes due, and every poll interval.
//!
//! Delivery is at-least-once: if this host dies mid-attempt its lease expires and another claim
//! runs the task again, with the next attempt number.

use crate::host::Inner;
use crate::session::guest_failure;
use reprise_core::failure::error_types;
use reprise_core::{Failure, Payload, Timestamp};
use reprise_runtime::{ActivityInvocation, GuestError};
use reprise_store::{ActivityResult, ActivityTask, ActivityTaskKey, EpisodeStart, Recorded as StoreRecorded};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, watch};

/// Runs until `shutdown` turns true.
pub(crate) async fn activity_worker(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    let slots = inner.activity_slots.clone();
    let mut next_poll = Instant::now();
    loop {
        if let Some(pause) = inner.store.health.paused_for() {
            // The store takes no writes for now (see `store_health`): claim nothing.
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => break,
            }
            continue;
        }
        let free = slots.available_permits();
        if free > 0 && (inner.activity_trigger.take_poll(inner.clock.now()) || Instant::now() >= next_poll) {
            next_poll = Instant::now() + inner.config.poll_interval;
            // The slots first: episodes take slots too, and a claimed task must have one.
            let permits: Vec<OwnedSemaphorePermit> =
                std::iter::from_fn(|| slots.clone().try_acquire_owned().ok()).take(free).collect();
            let (owner, now, limit) = (inner.config.owner.clone(), inner.clock.now(), permits.len());
            let lease_until = now + inner.config.activity_lease.as_millis() as u64;
            match inner.store.call(move |store| store.claim_activities(&owner, now, lease_until, limit)).await {
                Ok(tasks) => {
                    if limit > 0 && tasks.len() == limit {
                        // There may be more work waiting: claim again as soon as a slot frees.
                        inner.activity_trigger.request_poll();
                    }
                    run_claimed(&inner, tasks.into_iter().zip(permits).collect());
                }
                Err(error) => tracing::error!("cannot claim activity tasks: {error}"),
            }
            crate::orchestrations::learn_next_due(&inner, &inner.activity_trigger).await;
        }
        let sleep = inner.activity_trigger.sleep_for(inner.clock.now(), next_poll);
        tokio::select! {
            () = inner.activity_trigger.notified() => {}
            () = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => break,
        }
    }
}

/// Runs claimed tasks (by an episode in its commit, or by the dispatcher), each in the slot
/// taken for it.
pub(crate) fn run_claimed(inner: &Arc<Inner>, claimed: Vec<(ActivityTask, OwnedSemaphorePermit)>) {
    for (task, permit) in claimed {
        tokio::spawn(run_task(inner.clone(), task, permit));
    }
}

async fn run_task(inner: Arc<Inner>, task: ActivityTask, slot: OwnedSemaphorePermit) {
    let key = task.key.clone();
    let result = attempt(&inner, task).await;
    let retry_at = match &result {
        ActivityResult::Retry { next_attempt_at, .. } => Some(*next_attempt_at),
        _ => None,
    };
    // Free the slot before the nudge, or the dispatcher could find none free and sleep.
    drop(slot);
    inner.activity_trigger.nudge();

    // If no episode of the instance runs and a slot is free for one, this task runs the next
    // episode itself: its lock is taken and its messages read by the very write that records
    // the result, and no worker has to be woken to find it.
    let id = key.instance_id.clone();
    let episode = inner.ready.running() < inner.config.orchestration_concurrency && inner.ready.start(&id);
    let begun = record(&inner, &key, &result, episode).await;
    if let Some(at) = retry_at {
        inner.activity_trigger.due_at(at);
    }
    match begun {
        Recorded::Begun(start, now) => crate::orchestrations::run_owned(inner.clone(), id, Some((*start, now))).await,
        Recorded::Written if !episode => inner.wake_instance(&id),
        Recorded::Written | Recorded::Not => {
            if episode {
                // The slot taken for the episode is not used: give it back (and run the
                // instance after all if it was woken meanwhile).
                inner.ready.finish(&id);
                inner.orchestration_trigger.nudge();
            }
        }
    }
}

/// What [`record`] did.
enum Recorded {
    /// The result is recorded and the instance's episode begun, at the time given.
    Begun(Box<EpisodeStart>, Timestamp),
    /// The result is recorded (and the episode, if asked for, could not begin here).
    Written,
    /// Nothing was recorded.
    Not,
}

/// The longest wait between two tries to record a result while the store is unavailable.
const MAX_RECORD_WAIT: std::time::Duration = std::time::Duration::from_secs(8);

/// Records an attempt's result and, if `begin`, begins its instance's next episode in the same
/// write. A failing database must not cost a result (and a second run of its side effects): it
/// tries a few times, within the lease; and for as long as the store says it is unavailable
/// for a while (a full disk), since recording needs only that the task is still leased to this
/// host, which no claim of this host takes away meanwhile (see `store_health`).
async fn record(inner: &Arc<Inner>, key: &ActivityTaskKey, result: &ActivityResult, begin: bool) -> Recorded {
    let mut delay = std::time::Duration::from_millis(100);
    let mut tries_left = 4;
    loop {
        let (owner, task, result) = (inner.config.owner.clone(), key.clone(), result.clone());
        let (now, lease_until) = crate::episode::lease(inner);
        let begin_until = begin.then_some(lease_until);
        let written = inner
            .store
            .submit(|store, done| store.record_activity_then(task, owner, (result, now, begin_until), done))
            .await;
        match written {
            Ok(StoreRecorded { recorded: true, episode: Some(start) }) => return Recorded::Begun(Box::new(start), now),
            Ok(StoreRecorded { recorded: true, episode: None }) => {
                if begin {
                    // Locked by another owner (whose episode will see the result), or gone.
                    inner.wake_instance(&key.instance_id);
                }
                return Recorded::Written;
            }
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

/// How long an attempt that the host could not start for want of resources waits before the
/// next, in milliseconds.
const TRANSIENT_RETRY_MS: u64 = 1_000;

/// Runs one attempt, renewing the lease while it runs.
async fn attempt(inner: &Arc<Inner>, task: ActivityTask) -> ActivityResult {
    let Some(component) = inner.registry.activity(&task.name) else {
        // Not retried: loading a component takes a host restart, which no retry waits for.
        return ActivityResult::Failed(Failure::new(
            error_types::ACTIVITY_NOT_FOUND,
            format!("no loaded component exports an activity named '{}'", task.name),
        ));
    };
    let invocation = ActivityInvocation {
        name: task.name.clone(),
        input: task.input.to_string(),
        instance_id: task.key.instance_id.clone(),
        task_id: task.key.task_id,
        attempt: task.attempt,
        idempotency_key: reprise_core::idempotency_key(&task.key.instance_id, task.key.execution, task.key.task_id),
        timeout: task.options.timeout_ms.map(std::time::Duration::from_millis),
    };
    let run = inner.runtime.run_activity(&component, invocation, &inner.config.grants);
    let renew = renew_lease(inner, &task);
    let outcome = tokio::select! {
        outcome = run => outcome,
        () = renew => return ActivityResult::Failed(Failure::new(error_types::GUEST_TRAPPED, "lease lost")),
    };
    let failure = match outcome {
        Ok(Ok(output)) => match Payload::parse(output, inner.config.max_payload_bytes) {
            Ok(output) => return ActivityResult::Completed(output),
            Err(error) => error.failure(&format!("the output of activity '{}'", task.name)),
        },
        Ok(Err(failure)) => failure,
        // The host lacked the resources to create the sandbox: not the activity's fault, so the
        // attempt is tried again shortly whatever the retry policy, once parked instances are
        // freed (the wait is recorded in history like any retry).
        Err(error @ GuestError::Instantiate(_)) => {
            let freed = inner.cache.make_room();
            tracing::warn!(
                instance = %task.key.instance_id, task = task.key.task_id,
                "cannot instantiate activity '{}' ({error}); evicted {freed} parked instance(s), will retry", task.name
            );
            let failure = guest_failure(&error);
            return ActivityResult::Retry { failure, next_attempt_at: inner.clock.now() + TRANSIENT_RETRY_MS };
        }
        Err(error) => guest_failure(&error),
    };
    // The host, not the orchestrator, decides whether to try again and when.
    let next = task
        .options
        .retry
        .as_ref()
        .and_then(|policy| policy.next_attempt(task.attempt, &failure, task.created_at, inner.clock.now()));
    match next {
        Some(next_attempt_at) => {
            tracing::info!(
                instance = %task.key.instance_id, task = task.key.task_id, attempt = task.attempt,
                "activity '{}' failed ({failure}); retrying at {next_attempt_at}", task.name
            );
            ActivityResult::Retry { failure, next_attempt_at }
        }
        None => ActivityResult::Failed(failure),
    }
}

/// Renews the task's lease every third of its length; returns only if the lease is lost.
async fn renew_lease(inner: &Arc<Inner>, task: &ActivityTask) {
    let lease = inner.config.activity_lease;
    loop {
        tokio::time::sleep(lease / 3).await;
        let (key, owner) = (task.key.clone(), inner.config.owner.clone());
        let until = inner.clock.now() + lease.as_millis() as u64;
        match inner.store.call(move |store| store.renew_activity(&key, &owner, until)).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(instance = %task.key.instance_id, task = task.key.task_id, "activity lease lost; abandoning the attempt");
                return;
            }
            Err(error) => tracing::warn!("cannot renew activity lease: {error}"),
        }
    }
}
