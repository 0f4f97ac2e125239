//! The orchestration worker: runs the episodes of instances woken by this process and of those a
//! poll of the store finds ready, a bounded number at a time, never two for the same instance.

use crate::episode::{EpisodeEnd, run_episode};
use crate::host::Inner;
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
type Backoff = Arc<Mutex<HashMap<String, (Instant, Duration)>>>;

/// Runs until `shutdown` turns true.
pub(crate) async fn orchestration_worker(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    let backoff: Backoff = Arc::default();
    let mut next_poll = Instant::now();
    // Whether the last poll found as many ready instances as it could start: more may be
    // waiting, so a freed slot polls again instead of waiting for the interval.
    let mut backlog = false;
    loop {
        inner.cache.evict_idle();
        let concurrency = inner.config.orchestration_concurrency;
        let backing_off = |id: &str| {
            let waiting = backoff.lock().unwrap_or_else(|e| e.into_inner());
            waiting.get(id).is_some_and(|(at, _)| *at > Instant::now())
        };
        let free = concurrency.saturating_sub(inner.ready.running());
        for id in inner.ready.take(free, backing_off) {
            spawn_episode(&inner, &backoff, id);
        }

        let now = inner.clock.now();
        let free = concurrency.saturating_sub(inner.ready.running());
        let slot_for_backlog = backlog && free > 0 && !inner.ready.has_queued();
        if inner.orchestration_trigger.take_poll(now) || Instant::now() >= next_poll || slot_for_backlog {
            next_poll = Instant::now() + inner.config.poll_interval;
            backlog = poll(&inner, &backoff, free).await;
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
async fn poll(inner: &Arc<Inner>, backoff: &Backoff, free: usize) -> bool {
    let mut backlog = false;
    if free > 0 {
        let (owner, now) = (inner.config.owner.clone(), inner.clock.now());
        // Ask for enough to skip the ones already running here or backing off.
        let skipped = inner.ready.running() + backoff.lock().unwrap_or_else(|e| e.into_inner()).len();
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
                    let waiting = backoff.lock().unwrap_or_else(|e| e.into_inner()).get(&id).is_some_and(|(t, _)| *t > at);
                    if !waiting && inner.ready.start(&id) {
                        spawn_episode(inner, backoff, id);
                        started += 1;
                    }
                }
            }
            Err(error) => tracing::error!("cannot look for ready instances: {error}"),
        }
    }
    let now = inner.clock.now();
    match inner.store.call(move |store| store.next_due(now)).await {
        Ok(Some(due)) => inner.orchestration_trigger.due_at(due),
        Ok(None) => {}
        Err(error) => tracing::warn!("cannot look for the next due message: {error}"),
    }
    backlog
}

/// Runs an episode of `id` (already marked running) on its own task, then frees its slot.
fn spawn_episode(inner: &Arc<Inner>, backoff: &Backoff, id: String) {
    let (inner, backoff) = (inner.clone(), backoff.clone());
    tokio::spawn(async move {
        let end = run_episode(inner.clone(), id.clone()).await;
        {
            let mut waiting = backoff.lock().unwrap_or_else(|e| e.into_inner());
            match end {
                EpisodeEnd::Done => {
                    waiting.remove(&id);
                }
                EpisodeEnd::BackOff => {
                    let delay = waiting.get(&id).map_or(MIN_BACKOFF, |(_, d)| (*d * 2).min(MAX_BACKOFF));
                    waiting.insert(id.clone(), (Instant::now() + delay, delay));
                }
            }
        }
        inner.ready.finish(&id);
        inner.orchestration_trigger.nudge();
    });
}
