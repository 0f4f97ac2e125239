//! The activity dispatcher: claims activity tasks with a lease, runs them with bounded
//! concurrency in the activity sandbox, renews the lease while they run, and records each
//! attempt's result, which wakes the orchestration worker.
//!
//! Delivery is at-least-once: if this host dies mid-attempt its lease expires and another claim
//! runs the task again, with the next attempt number.

use crate::host::Inner;
use crate::session::guest_failure;
use reprise_core::Failure;
use reprise_core::failure::error_types;
use reprise_runtime::{ActivityInvocation, GuestError};
use reprise_store::{ActivityResult, ActivityTask};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// Runs until `shutdown` turns true.
pub(crate) async fn activity_worker(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(inner.config.activity_concurrency));
    loop {
        let free = slots.available_permits();
        let mut claimed_all = false;
        if free > 0 {
            let (owner, now) = (inner.config.owner.clone(), inner.clock.now());
            let lease_until = now + inner.config.activity_lease.as_millis() as u64;
            match inner.store.call(move |store| store.claim_activities(&owner, now, lease_until, free)).await {
                Ok(tasks) => {
                    claimed_all = tasks.len() == free;
                    for task in tasks {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            break;
                        };
                        tokio::spawn(run_task(inner.clone(), task, permit));
                    }
                }
                Err(error) => tracing::error!("cannot claim activity tasks: {error}"),
            }
        }
        if claimed_all {
            // There may be more work waiting: look again as soon as a slot frees up.
            tokio::task::yield_now().await;
        }
        tokio::select! {
            _ = inner.wake_activities.notified() => {}
            _ = tokio::time::sleep(crate::orchestrations::until_next_due(&inner).await) => {}
            _ = shutdown.changed() => break,
        }
    }
}

async fn run_task(inner: Arc<Inner>, task: ActivityTask, _slot: OwnedSemaphorePermit) {
    let key = task.key.clone();
    let result = attempt(&inner, task).await;
    // A busy database must not cost a result (and a second run of its side effects): try a few
    // times, within the lease.
    let mut delay = std::time::Duration::from_millis(100);
    for tries_left in (0..5).rev() {
        let (owner, now, recorded_key, recorded) =
            (inner.config.owner.clone(), inner.clock.now(), key.clone(), result.clone());
        match inner.store.call(move |store| store.complete_activity(&recorded_key, &owner, &recorded, now)).await {
            Ok(true) => inner.wake_orchestrations.notify_one(),
            Ok(false) => tracing::warn!(
                instance = %key.instance_id, task = key.task_id,
                "activity result dropped: its lease expired and the task was claimed again"
            ),
            Err(error) if tries_left > 0 => {
                tracing::warn!(instance = %key.instance_id, task = key.task_id, "cannot record activity result, retrying: {error}");
                tokio::time::sleep(delay).await;
                delay *= 2;
                continue;
            }
            Err(error) => {
                tracing::error!(instance = %key.instance_id, task = key.task_id, "cannot record activity result: {error}")
            }
        }
        break;
    }
    inner.wake_activities.notify_one();
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
        input: task.input.clone(),
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
    let limit = inner.config.max_payload_bytes;
    let failure = match outcome {
        Ok(Ok(output)) if output.len() > limit => Failure::new(
            error_types::PAYLOAD_TOO_LARGE,
            format!("the output of activity '{}' is {} bytes, more than the limit of {limit}", task.name, output.len()),
        ),
        Ok(Ok(output)) => return ActivityResult::Completed(output),
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
