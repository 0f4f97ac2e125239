//! A running orchestrator: the guest task, and the [`OrchestrationHost`] it calls, which answers
//! through the replay engine and hands each finished episode back to the executor.
//!
//! The guest runs in its own tokio task. Whenever it blocks on something not yet delivered, the
//! session sends the episode's output ([`Yield::Blocked`]) and waits, parked inside the host call,
//! for the next delivery: that parked task is the hot path. Dropping the [`LiveInstance`] closes
//! the delivery channel, which ends the guest.

use reprise_core::failure::error_types;
use reprise_core::replay::{Advance, AllWait, Completion, EpisodeOutput, ReplayError, Replayer, WaitOutcome};
use reprise_core::{ActivityOptions, EntityId, Failure, InstanceId, Message, Payload, RetryPolicy, Timestamp};
use reprise_runtime::{
    BoxFuture, GuestError, GuestObserved, LoadedComponent, LogLevel, OrchestrationHost, OrchestratorInvocation,
    Runtime, WaitRequest,
};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// New messages for a parked orchestrator: one episode.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) time: Timestamp,
    pub(crate) messages: Vec<Message>,
}

/// What a session reports at the end of an episode.
#[derive(Debug)]
pub(crate) struct Yield {
    pub(crate) output: EpisodeOutput,
    pub(crate) custom_status: Option<Payload>,
}

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
        let (deliveries_tx, deliveries_rx) = mpsc::unbounded_channel();
        let (yields_tx, yields_rx) = mpsc::unbounded_channel();
        let session = Session {
            instance_id: instance_id.clone(),
            replayer: replayer.clone(),
            observed: GuestObserved::new(),
            deliveries: deliveries_rx,
            yields: yields_tx.clone(),
            max_payload,
        };
        let task = tokio::spawn(run_guest(runtime, component, instance_id, execution, session, yields_tx));
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

/// The host's answer to an orchestrator's calls.
struct Session {
    instance_id: String,
    replayer: Arc<Mutex<Replayer>>,
    observed: Arc<GuestObserved>,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    yields: mpsc::UnboundedSender<Yield>,
    max_payload: usize,
}

impl Session {
    /// Checks a payload the guest hands the host: one JSON document, no larger than the host
    /// accepts (every payload is stored in history, and an unbounded one would let a guest
    /// exhaust the host's memory and disk). A bad one ends the guest with a trap naming it.
    ///
    /// `what` names the payload in the error; it is only built for a bad one (this runs on
    /// every scheduled task, replayed ones included).
    fn payload(&self, what: impl FnOnce() -> String, text: String) -> anyhow::Result<Payload> {
        Payload::parse(text, self.max_payload).map_err(|error| anyhow::anyhow!("{} is {error}", what()))
    }
}

/// Why the session ended the guest. Carried through the guest's trap back to [`run_guest`].
#[derive(Debug, thiserror::Error)]
enum SessionEnd {
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error("the instance was evicted from the cache")]
    Evicted,
}

impl Session {
    /// Opens episodes until the wait is answered, yielding to the executor each time the guest
    /// must block for new messages.
    async fn wait(&mut self, request: WaitRequest) -> Result<Vec<Completion>, SessionEnd> {
        // A wait-all is polled once per episode until it is answered: it keeps its progress, so
        // a fan-in over many tasks and many episodes is not checked from its start each time.
        let mut request = match request {
            WaitRequest::Any(tasks) => Pending::Any(tasks),
            WaitRequest::All(tasks) => Pending::All(AllWait::new(tasks)),
        };
        loop {
            let advance = {
                let mut replayer = lock(&self.replayer);
                let answer = match &mut request {
                    Pending::Any(tasks) => replayer.wait_any(tasks)?.map(|done| vec![done]),
                    Pending::All(wait) => replayer.poll_all(wait)?,
                };
                if let WaitOutcome::Ready(done) = answer {
                    return Ok(done);
                }
                let advance = replayer.advance()?;
                if advance != Advance::Blocked {
                    self.observed.start_episode(replayer.now(), replayer.is_replaying());
                }
                if advance == Advance::Blocked {
                    let output = replayer.take_output();
                    let custom_status = replayer.custom_status().cloned();
                    Some(Yield { output, custom_status })
                } else {
                    None
                }
            };
            if let Some(episode_end) = advance {
                // The executor may have gone away; then the next recv ends us.
                let _ = self.yields.send(episode_end);
                let delivery = self.deliveries.recv().await.ok_or(SessionEnd::Evicted)?;
                lock(&self.replayer).deliver(delivery.time, delivery.messages);
            }
        }
    }
}

/// A wait being answered, in the form the replayer polls.
enum Pending {
    Any(Vec<u64>),
    All(AllWait),
}

impl OrchestrationHost for Session {
    fn instance_id(&self) -> String {
        self.instance_id.clone()
    }

    fn is_replaying(&self) -> bool {
        lock(&self.replayer).is_replaying()
    }

    fn current_time(&self) -> u64 {
        lock(&self.replayer).now()
    }

    fn new_guid(&mut self) -> String {
        lock(&self.replayer).new_guid()
    }

    fn set_custom_status(&mut self, status: Option<String>) {
        let status = match status.map(|text| Payload::parse(text, self.max_payload)).transpose() {
            Ok(status) => status,
            Err(error) => {
                tracing::warn!(instance = %self.instance_id, "custom status ignored: it is {error}");
                return;
            }
        };
        lock(&self.replayer).set_custom_status(status);
    }

    fn log(&mut self, level: LogLevel, message: String) {
        if lock(&self.replayer).is_replaying() {
            return;
        }
        let id = &self.instance_id;
        match level {
            LogLevel::Debug => {
                tracing::debug!(target: "reprise::orchestrator", instance = %id, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "reprise::orchestrator", instance = %id, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "reprise::orchestrator", instance = %id, "{message}")
            }
            LogLevel::Error => {
                tracing::error!(target: "reprise::orchestrator", instance = %id, "{message}")
            }
        }
    }

    fn schedule_activity(&mut self, name: String, input: String, options: ActivityOptions) -> anyhow::Result<u64> {
        let input = self.payload(|| format!("the input of activity '{name}'"), input)?;
        Ok(lock(&self.replayer).schedule_activity(&name, input, options).map_err(SessionEnd::from)?)
    }

    fn schedule_sub_orchestration(
        &mut self,
        name: String,
        instance_id: Option<String>,
        input: String,
        retry: Option<RetryPolicy>,
    ) -> anyhow::Result<u64> {
        let input = self.payload(|| format!("the input of sub-orchestration '{name}'"), input)?;
        let instance_id = instance_id
            .map(InstanceId::new)
            .transpose()
            .map_err(|error| anyhow::anyhow!("sub-orchestration '{name}' cannot start: {error}"))?;
        let mut replayer = lock(&self.replayer);
        Ok(replayer.schedule_sub_orchestration(&name, instance_id, input, retry).map_err(SessionEnd::from)?)
    }

    fn continue_as_new(&mut self, input: String, carry_events: bool) -> anyhow::Result<()> {
        let input = self.payload(|| "the input of continue-as-new".into(), input)?;
        Ok(lock(&self.replayer).request_continue_as_new(input, carry_events).map_err(SessionEnd::from)?)
    }

    fn schedule_timer(&mut self, fire_at: u64) -> anyhow::Result<u64> {
        Ok(lock(&self.replayer).schedule_timer(fire_at).map_err(SessionEnd::from)?)
    }

    fn wait_for_event(&mut self, name: String) -> anyhow::Result<u64> {
        Ok(lock(&self.replayer).wait_for_event(&name).map_err(SessionEnd::from)?)
    }

    fn raise_event(&mut self, instance_id: String, name: String, data: String) -> anyhow::Result<()> {
        let data = self.payload(|| format!("the data of event '{name}'"), data)?;
        Ok(lock(&self.replayer).raise_event(&instance_id, &name, data).map_err(SessionEnd::from)?)
    }

    fn call_entity(&mut self, entity: EntityId, operation: String, input: String) -> anyhow::Result<u64> {
        let input = self.payload(|| format!("the input of operation '{operation}' on {entity}"), input)?;
        Ok(lock(&self.replayer).call_entity(&entity, &operation, input).map_err(SessionEnd::from)?)
    }

    fn signal_entity(&mut self, entity: EntityId, operation: String, input: String) -> anyhow::Result<()> {
        let input = self.payload(|| format!("the input of operation '{operation}' on {entity}"), input)?;
        Ok(lock(&self.replayer).signal_entity(&entity, &operation, input).map_err(SessionEnd::from)?)
    }

    fn lock_entities(&mut self, entities: Vec<EntityId>) -> anyhow::Result<u64> {
        Ok(lock(&self.replayer).lock_entities(&entities).map_err(SessionEnd::from)?)
    }

    fn unlock_entities(&mut self) -> anyhow::Result<()> {
        Ok(lock(&self.replayer).unlock_entities().map_err(SessionEnd::from)?)
    }

    fn wait(&mut self, request: WaitRequest) -> BoxFuture<'_, anyhow::Result<Vec<Completion>>> {
        Box::pin(async move { Ok(Session::wait(self, request).await?) })
    }
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

/// The guest task: opens the first episode, runs the orchestrator to its end, records the end
/// and reports the last episode.
async fn run_guest(
    runtime: Arc<Runtime>,
    component: Arc<LoadedComponent>,
    instance_id: String,
    execution: u32,
    session: Session,
    yields: mpsc::UnboundedSender<Yield>,
) {
    let replayer = session.replayer.clone();
    let observed = session.observed.clone();
    let max_payload = session.max_payload;
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
    let result = match opened {
        Ok((name, input)) => {
            let invocation = OrchestratorInvocation {
                instance_id: instance_id.clone(),
                name,
                input,
                seed: seed(&instance_id, execution),
                observed,
            };
            runtime.run_orchestrator(&component, invocation, Box::new(session)).await
        }
        Err(failure) => Ok(Err(failure)),
    };
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
        Err(GuestError::Host(error)) => match error.downcast::<SessionEnd>() {
            Ok(SessionEnd::Evicted) => return,
            // A command past a limit refuses the whole episode: none of its work is done.
            Ok(SessionEnd::Replay(replay @ ReplayError::LimitExceeded(_))) => {
                guard.refuse_episode(replay_failure(&replay))
            }
            Ok(SessionEnd::Replay(replay)) => guard.abort(replay_failure(&replay)),
            Err(other) => guard.abort(Failure::new(error_types::GUEST_TRAPPED, format!("{other:#}"))),
        },
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
fn replay_failure(error: &ReplayError) -> Failure {
    let error_type = match error {
        ReplayError::Nondeterminism { .. } => error_types::NONDETERMINISM,
        ReplayError::LockViolation(_) => error_types::LOCK_VIOLATION,
        ReplayError::LimitExceeded(_) => error_types::HISTORY_LIMIT_EXCEEDED,
        _ => error_types::GUEST_TRAPPED,
    };
    Failure::new(error_type, error.to_string())
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
        | GuestError::Host(_) => error_types::GUEST_TRAPPED,
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
