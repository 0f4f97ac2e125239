//! The orchestration worker: runs the episodes of instances woken by this process and of those a
//! poll of the store finds ready, a bounded number at a time, never two for the same instance.

use crate::episode::{EpisodeEnd, run_begun, run_episode};
use crate::host::Inner;
use crate::wakeups::Trigger;
use reprise_core::Timestamp;
use reprise_store::EpisodeStart;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The first wait before an instance whose episode could not run is tried again; it doubles up
/// to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait before such an instance is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Instances whose last episode could not run, and when to try them again (so that a persistent
/// error does not spin a core).
#[derive(Debug, Default)]
pub(crate) struct Backoff(Mutex<HashMap<String, (Instant, Duration)>>);

impl Backoff {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Duration)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `instance_id` must not run before a later time.
    fn waiting(&self, instance_id: &str, at: Instant) -> bool {
        self.lock().get(instance_id).is_some_and(|(until, _)| *until > at)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// Records how an episode ended: a failed one doubles the instance's wait.
    fn record(&self, instance_id: &str, end: EpisodeEnd) {
        let mut waiting = self.lock();
        match end {
            EpisodeEnd::Done => {
                waiting.remove(instance_id);
            }
            EpisodeEnd::BackOff => {
                let delay = waiting.get(instance_id).map_or(MIN_BACKOFF, |(_, d)| (*d * 2).min(MAX_BACKOFF));
                waiting.insert(instance_id.to_string(), (Instant::now() + delay, delay));
            }
        }
    }
}

/// Runs until `shutdown` turns true.
pub(crate) async fn orchestration_worker(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    let mut next_poll = Instant::now();
    // Whether the last poll found as many ready instances as it could start: more may be
    // waiting, so a freed slot polls again instead of waiting for the interval.
    let mut backlog = false;
    loop {
        inner.cache.evict_idle();
        if let Some(pause) = inner.store.health.paused_for() {
            // The store takes no writes for now (see `store_health`): woken instances stay
            // queued, and the poll waits too.
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => break,
            }
            continue;
        }
        let concurrency = inner.config.orchestration_concurrency;
        let free = concurrency.saturating_sub(inner.ready.running());
        for id in inner.ready.take(free, |id| inner.backoff.waiting(id, Instant::now())) {
            spawn_episode(&inner, id);
        }

        let now = inner.clock.now();
        let free = concurrency.saturating_sub(inner.ready.running());
        let slot_for_backlog = backlog && free > 0 && !inner.ready.has_queued();
        if inner.orchestration_trigger.take_poll(now) || Instant::now() >= next_poll || slot_for_backlog {
            next_poll = Instant::now() + inner.config.poll_interval;
            backlog = poll(&inner, free).await;
        }

        let sleep = inner.orchestration_trigger.sleep_for(inner.clock.now(), next_poll);
        tokio::select! {
            () = inner.orchestration_trigger.notified() => {}
            () = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => break,
        }
    }
}

/// Asks the store for ready instances (up to `free` of them are started) and for the next time
/// work becomes due. Returns whether it found more than it could start.
async fn poll(inner: &Arc<Inner>, free: usize) -> bool {
    let mut backlog = false;
    if free > 0 {
        let (owner, now) = (inner.config.owner.clone(), inner.clock.now());
        // Ask for enough to skip the ones already running here or backing off.
        let skipped = inner.ready.running() + inner.backoff.len();
        let limit = free + skipped;
        match inner.store.call(move |store| store.ready_instances(&owner, now, limit)).await {
            Ok(ready) => {
                backlog = ready.len() >= limit;
                let at = Instant::now();
                let mut started = 0;
                for id in ready {
                    if started == free {
                        break;
                    }
                    if !inner.backoff.waiting(&id, at) && inner.ready.start(&id) {
                        spawn_episode(inner, id);
                        started += 1;
                    }
                }
            }
            Err(error) => tracing::error!("cannot look for ready instances: {error}"),
        }
    }
    learn_next_due(inner, &inner.orchestration_trigger).await;
    backlog
}

/// Asks the store when work next becomes due (a timer, a retry) and has `trigger` wake its
/// worker then: part of each poll of either worker.
pub(crate) async fn learn_next_due(inner: &Arc<Inner>, trigger: &Trigger) {
    let now = inner.clock.now();
    match inner.store.call(move |store| store.next_due(now)).await {
        Ok(Some(due)) => trigger.due_at(due),
        Ok(None) => {}
        Err(error) => tracing::warn!("cannot look for the next due timer or retry: {error}"),
    }
}

/// Runs an episode of `id` (already marked running) on its own task.
fn spawn_episode(inner: &Arc<Inner>, id: String) {
    tokio::spawn(run_owned(inner.clone(), id, None));
}

/// Runs an episode of `id`, already marked running in the ready queue (begun by `begun`, if the
/// caller took its lock and read its messages already), then frees its slot: records a back-off
/// if it could not run, and queues it again if it was woken meanwhile.
pub(crate) async fn run_owned(inner: Arc<Inner>, id: String, begun: Option<(EpisodeStart, Timestamp)>) {
    let end = match begun {
        Some((start, now)) => run_begun(inner.clone(), start, now).await,
        None => run_episode(inner.clone(), id.clone()).await,
    };
    inner.backoff.record(&id, end);
    inner.ready.finish(&id);
    inner.orchestration_trigger.nudge();
}
