//! The orchestration worker: finds instances with messages and runs their episodes, a bounded
//! number at a time, never two for the same instance.

use crate::episode::{EpisodeEnd, run_episode};
use crate::host::Inner;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// The first wait before an instance whose episode could not run is tried again; it doubles up
/// to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait before such an instance is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Runs until `shutdown` turns true.
pub(crate) async fn orchestration_worker(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    let inflight: Arc<Mutex<HashSet<String>>> = Arc::default();
    // Instances whose last episode could not run, and when to try them again (so that a
    // persistent error does not spin a core).
    let backoff: Arc<Mutex<HashMap<String, (Instant, Duration)>>> = Arc::default();
    loop {
        inner.cache.evict_idle();
        let busy = inflight.lock().unwrap_or_else(|e| e.into_inner()).len();
        let free = inner.config.orchestration_concurrency.saturating_sub(busy);
        if free > 0 {
            let (owner, now) = (inner.config.owner.clone(), inner.clock.now());
            // Ask for enough to skip the ones already running here or backing off.
            let limit = free + busy + backoff.lock().unwrap_or_else(|e| e.into_inner()).len();
            match inner.store.call(move |store| store.ready_instances(&owner, now, limit)).await {
                Ok(ready) => {
                    let mut running = inflight.lock().unwrap_or_else(|e| e.into_inner());
                    let waiting = backoff.lock().unwrap_or_else(|e| e.into_inner());
                    let now = Instant::now();
                    let chosen: Vec<String> = ready
                        .into_iter()
                        .filter(|id| !running.contains(id) && waiting.get(id).is_none_or(|(at, _)| *at <= now))
                        .take(free)
                        .collect();
                    drop(waiting);
                    for id in chosen {
                        running.insert(id.clone());
                        let (inner, inflight, backoff) = (inner.clone(), inflight.clone(), backoff.clone());
                        tokio::spawn(async move {
                            let end = run_episode(inner.clone(), id.clone()).await;
                            let mut waiting = backoff.lock().unwrap_or_else(|e| e.into_inner());
                            match end {
                                EpisodeEnd::Done => {
                                    waiting.remove(&id);
                                }
                                EpisodeEnd::BackOff => {
                                    let delay =
                                        waiting.get(&id).map_or(MIN_BACKOFF, |(_, d)| (*d * 2).min(MAX_BACKOFF));
                                    waiting.insert(id.clone(), (Instant::now() + delay, delay));
                                }
                            }
                            drop(waiting);
                            inflight.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                            inner.wake_orchestrations.notify_one();
                        });
                    }
                }
                Err(error) => tracing::error!("cannot look for ready instances: {error}"),
            }
        }
        tokio::select! {
            _ = inner.wake_orchestrations.notified() => {}
            _ = tokio::time::sleep(until_next_due(&inner).await) => {}
            _ = shutdown.changed() => break,
        }
    }
}

/// How long to sleep: until the next timer or retry is due, at most one poll interval (work
/// written by other processes is found by polling).
pub(crate) async fn until_next_due(inner: &Arc<Inner>) -> std::time::Duration {
    let poll = inner.config.poll_interval;
    let now = inner.clock.now();
    match inner.store.call(move |store| store.next_due(now)).await {
        Ok(Some(due)) => poll.min(std::time::Duration::from_millis(due.saturating_sub(now))),
        Ok(None) => poll,
        Err(error) => {
            tracing::warn!("cannot look for the next due message: {error}");
            poll
        }
    }
}
