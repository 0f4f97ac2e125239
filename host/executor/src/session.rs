//! A running orchestrator: the guest's task, the channels an episode is delivered on and
//! reported back on, and how the orchestrator's end is recorded.
//!
//! The guest runs in its own tokio task, its calls answered by the runtime's
//! [`OrchestrationSession`] over the replay engine. Whenever it blocks on something not yet
//! delivered, the session sends the episode's output ([`Yield`]) and waits, parked inside the
//! host call, for the next [`Delivery`]: that parked task is the hot path. Dropping the
//! [`LiveInstance`] closes the delivery channel, which ends the guest.

use reprise_core::failure::error_types;
use reprise_core::replay::{Advance, ReplayError, Replayer};
use reprise_core::{Failure, Payload};
use reprise_runtime::{
    Delivery, GuestError, GuestObserved, LoadedComponent, OrchestrationSession, OrchestratorInvocation, Runtime, Yield,
};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A started orchestrator, parked between episodes or running one.
pub(crate) struct LiveInstance {
    pub(crate) execution: u32,
    /// When the instance it runs was created: an instance purged and created again under the
    /// same id (by another process, say) is another incarnation, which this one must not serve.
    pub(crate) created_at: u64,
    pub(crate) replayer: Arc<Mutex<Replayer>>,
    deliveries: mpsc::UnboundedSender<Delivery>,
    yields: mpsc::UnboundedReceiver<Yield>,
    task: JoinHandle<()>,
}

impl Drop for LiveInstance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LiveInstance {
    /// Starts the guest over `replayer` (its history and first delivery already given).
    pub(crate) fn start(
        runtime: Arc<Runtime>,
        component: Arc<LoadedComponent>,
        instance_id: String,
        (execution, created_at): (u32, u64),
        replayer: Replayer,
        max_payload: usize,
    ) -> LiveInstance {
        let replayer = Arc::new(Mutex::new(replayer));
        let observed = GuestObserved::new();
        let (deliveries_tx, deliveries_rx) = mpsc::unbounded_channel();
        let (yields_tx, yields_rx) = mpsc::unbounded_channel();
        let session = OrchestrationSession::new(
            instance_id.clone(),
            replayer.clone(),
            observed.clone(),
            (deliveries_rx, yields_tx.clone()),
            max_payload,
        );
        let task = tokio::spawn(run_guest(
            runtime,
            component,
            (instance_id, execution),
            (replayer.clone(), observed, max_payload),
            session,
            yields_tx,
        ));
        LiveInstance { execution, created_at, replayer, deliveries: deliveries_tx, yields: yields_rx, task }
    }

    /// Delivers an episode to the parked guest.
    pub(crate) fn deliver(&self, delivery: Delivery) -> bool {
        self.deliveries.send(delivery).is_ok()
    }

    /// Waits for the guest to finish its episode. `None` if the guest task ended without
    /// reporting (it was evicted or crashed).
    pub(crate) async fn next_yield(&mut self) -> Option<Yield> {
        self.yields.recv().await
    }

    /// The history length the replayer believes the store holds.
    pub(crate) fn history_len(&self) -> u64 {
        lock(&self.replayer).history_len()
    }
}

fn lock(replayer: &Mutex<Replayer>) -> std::sync::MutexGuard<'_, Replayer> {
    replayer.lock().unwrap_or_else(|e| e.into_inner())
}

/// A stable 64-bit seed for an execution's random sources (FNV-1a: fixed forever, unlike std's
/// hashers, so replays after a host upgrade draw the same numbers).
pub(crate) fn seed(instance_id: &str, execution: u32) -> u64 {
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in instance_id.bytes().chain(execution.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    hash
}

/// How a guest run ended, before anything is recorded of it.
pub(crate) type RunEnd = Result<Result<String, Failure>, GuestError>;

/// Opens the first episode and runs the orchestrator to its end (or until it is evicted).
/// Shared by the guest task of a live instance and by replay checks, which must see the same
/// guest the host would run.
pub(crate) async fn open_and_run(
    runtime: Arc<Runtime>,
    component: Arc<LoadedComponent>,
    (instance_id, execution): (String, u32),
    (replayer, observed): (Arc<Mutex<Replayer>>, Arc<GuestObserved>),
    session: OrchestrationSession,
) -> RunEnd {
    let opened = {
        let mut guard = lock(&replayer);
        // Episodes before the start are possible (an instance suspended before it ran).
        loop {
            match guard.advance() {
                Ok(Advance::Blocked) => {
                    break Err(Failure::new(
                        error_types::GUEST_TRAPPED,
                        "the instance has no start event: its history holds none and no Start message was delivered",
                    ));
                }
                Ok(_) => {
                    if let Some((name, input)) = guard.started() {
                        observed.start_episode(guard.now(), guard.is_replaying());
                        break Ok((name.to_string(), input.to_string()));
                    }
                }
                Err(error) => break Err(replay_failure(&error)),
            }
        }
    };
    match opened {
        Ok((name, input)) => {
            let invocation = OrchestratorInvocation {
                instance_id: instance_id.clone(),
                name,
                input,
                seed: seed(&instance_id, execution),
                observed,
            };
            runtime.run_orchestrator(&component, invocation, session).await
        }
        Err(failure) => Ok(Err(failure)),
    }
}

/// The guest task: runs the orchestrator to its end, records the end and reports the last
/// episode.
async fn run_guest(
    runtime: Arc<Runtime>,
    component: Arc<LoadedComponent>,
    (instance_id, execution): (String, u32),
    (replayer, observed, max_payload): (Arc<Mutex<Replayer>>, Arc<GuestObserved>, usize),
    session: OrchestrationSession,
    yields: mpsc::UnboundedSender<Yield>,
) {
    let result =
        open_and_run(runtime, component, (instance_id.clone(), execution), (replayer.clone(), observed), session).await;
    let mut guard = lock(&replayer);
    match result {
        Ok(Ok(output)) => match Payload::parse(output, max_payload) {
            Ok(output) => {
                if let Err(error) = guard.complete(output) {
                    guard.abort(replay_failure(&error));
                }
            }
            Err(error) => guard.abort(error.failure("the orchestrator's output")),
        },
        Ok(Err(failure)) => {
            if let Err(error) = guard.fail(failure) {
                guard.abort(replay_failure(&error));
            }
        }
        Err(GuestError::Evicted) => return,
        // A command past a limit refuses the whole episode: none of its work is done.
        Err(GuestError::Replay(replay @ ReplayError::LimitExceeded(_))) => {
            guard.refuse_episode(replay_failure(&replay))
        }
        Err(GuestError::Replay(replay)) => guard.abort(replay_failure(&replay)),
        // The host ran out of resources to instantiate the guest: the instance is not at fault,
        // so nothing is recorded; the episode ends without an answer and is tried again later
        // (see `episode`, which frees parked instances).
        Err(GuestError::Instantiate(message)) => {
            tracing::warn!(instance = %instance_id, "cannot instantiate the orchestrator, will retry: {message}");
            return;
        }
        Err(error) => guard.abort(guest_failure(&error)),
    }
    let output = guard.take_output();
    let custom_status = guard.custom_status().cloned();
    let _ = yields.send(Yield { output, custom_status });
}

/// The failure an instance ends with when replay refuses a call.
pub(crate) fn replay_failure(error: &ReplayError) -> Failure {
    error.failure()
}

/// The failure a guest that was stopped ends with.
pub(crate) fn guest_failure(error: &GuestError) -> Failure {
    let error_type = match error {
        GuestError::CpuLimit(_) => error_types::CPU_LIMIT_EXCEEDED,
        GuestError::MemoryLimit(_) => error_types::MEMORY_LIMIT_EXCEEDED,
        GuestError::Timeout(_) => error_types::TIMED_OUT,
        GuestError::NoSuchFunction(_)
        | GuestError::Instantiate(_)
        | GuestError::Sandbox(_)
        | GuestError::Trap { .. }
        | GuestError::Refused(_)
        | GuestError::Evicted => error_types::GUEST_TRAPPED,
        GuestError::Replay(replay) => return replay_failure(replay),
    };
    let failure = Failure::new(error_type, error.to_string());
    match error.details() {
        Some(details) => failure.with_details(details),
        None => failure,
    }
}

#[cfg(test)]
mod tests {
    use super::seed;

    #[test]
    fn seeds_are_stable_and_distinct() {
        // Fixed forever: a replay after an upgrade must draw the same random numbers.
        assert_eq!(seed("order-1", 1), seed("order-1", 1));
        assert_ne!(seed("order-1", 1), seed("order-1", 2));
        assert_ne!(seed("order-1", 1), seed("order-2", 1));
    }
}
