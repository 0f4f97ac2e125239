//! One orchestrator running under the harness: the thread it runs on, and the host that answers
//! its calls from the replay engine exactly as the host's own session does
//! (`host/runtime/src/orchestration.rs`): each command is checked against recorded history or
//! recorded as new, each wait is answered from what was delivered, and when a wait cannot be
//! answered the episode's output goes back to the harness while the thread waits, parked inside
//! the call, for the next delivery.
//!
//! A refusal of the replay engine ends the orchestrator as a trap does in a component: the call
//! unwinds the thread (without the panic hook's noise), and the execution fails with the
//! engine's own failure.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use reprise_core::failure::error_types;
use reprise_core::replay::{Advance, AllWait, Completion, EpisodeOutput, ReplayError, Replayer, WaitOutcome};
use reprise_core::{EntityId, Failure as CoreFailure, InstanceId, Payload, Timestamp, UpdateReply};

use super::convert;
use super::seam::{self, OrchestrationHost};
use crate::__private::bindings::reprise::durable::types as wire;

/// The largest payload the harness accepts, as the host's default (4 MiB).
pub(crate) const MAX_PAYLOAD: usize = 4 * 1024 * 1024;

/// An orchestrator, from its JSON input to its JSON output.
pub(crate) type OrchestratorFn = Arc<dyn Fn(&str) -> Result<String, crate::Failure> + Send + Sync>;

/// New messages for a parked orchestrator: one episode.
pub(crate) struct Delivery {
    pub(crate) time: Timestamp,
    pub(crate) messages: Vec<reprise_core::Message>,
}

/// What the orchestrator's thread reports at the end of an episode.
pub(crate) struct Yield {
    pub(crate) output: EpisodeOutput,
    pub(crate) custom_status: Option<Payload>,
}

/// A line the orchestrator logged outside replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The instance that logged it.
    pub instance_id: String,
    /// Its severity.
    pub level: crate::Level,
    /// The line.
    pub message: String,
}

/// How a host call ends the orchestrator, carried by the unwinding thread.
enum Trap {
    /// The harness dropped the instance.
    Evicted,
    /// The replay engine refused a call.
    Replay(ReplayError),
    /// The host refused what the orchestrator handed it (a payload that is not JSON).
    Refused(String),
}

fn trap(trap: Trap) -> ! {
    resume_unwind(Box::new(trap))
}

fn lock(replayer: &Mutex<Replayer>) -> MutexGuard<'_, Replayer> {
    replayer.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running orchestrator: parked between episodes, or finished.
pub(crate) struct Guest {
    replayer: Arc<Mutex<Replayer>>,
    deliveries: Option<mpsc::Sender<Delivery>>,
    yields: mpsc::Receiver<Yield>,
    thread: Option<JoinHandle<()>>,
    /// How long one episode may run without reaching the host.
    limit: Duration,
}

impl Drop for Guest {
    fn drop(&mut self) {
        // Closing the channel ends a parked orchestrator (see `Trap::Evicted`).
        self.deliveries.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Guest {
    /// Starts `function` over `replayer`, whose history and first delivery are given, and returns
    /// at the end of its first episode.
    pub(crate) fn start(
        instance_id: String,
        replayer: Replayer,
        function: OrchestratorFn,
        (logs, limit): (Arc<Mutex<Vec<LogLine>>>, Duration),
    ) -> (Guest, Yield) {
        let replayer = Arc::new(Mutex::new(replayer));
        let (deliveries_tx, deliveries_rx) = mpsc::channel();
        let (yields_tx, yields_rx) = mpsc::channel();
        let session = Session {
            instance_id: instance_id.clone(),
            replayer: replayer.clone(),
            deliveries: deliveries_rx,
            yields: yields_tx.clone(),
            logs,
        };
        let thread = std::thread::Builder::new()
            .name(format!("orchestrator {instance_id}"))
            .spawn(move || run(session, function, yields_tx))
            .expect("the harness could not start a thread for the orchestrator");
        let mut guest =
            Guest { replayer, deliveries: Some(deliveries_tx), yields: yields_rx, thread: Some(thread), limit };
        let first = guest.next_yield();
        (guest, first)
    }

    /// Delivers an episode and returns at its end.
    pub(crate) fn deliver(&mut self, delivery: Delivery) -> Yield {
        if let Some(deliveries) = &self.deliveries {
            let _ = deliveries.send(delivery);
        }
        self.next_yield()
    }

    fn next_yield(&mut self) -> Yield {
        match self.yields.recv_timeout(self.limit) {
            Ok(episode) => episode,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // The host would stop such code at its CPU limit; a thread cannot be stopped, so
                // it is left behind, and the test fails instead of hanging.
                self.thread.take();
                panic!(
                    "reprise_sdk::testing: the orchestrator ran for {:?} without reaching the host (an endless \
                     loop? a wait on something other than a task?); Harness::episode_limit sets how long it may",
                    self.limit
                )
            }
            // The thread ended without a report: only a bug of the harness gets here.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("reprise_sdk::testing: the orchestrator's thread ended without reporting its episode")
            }
        }
    }

    /// The locks the execution holds or asked for, which its end releases.
    pub(crate) fn locks_to_release(&self) -> Vec<EntityId> {
        lock(&self.replayer).locks_to_release()
    }
}

/// The orchestrator's thread: opens the first episode, runs the function to its end, records
/// the end and reports the last episode (as the host's guest task does).
fn run(session: Session, function: OrchestratorFn, yields: mpsc::Sender<Yield>) {
    let replayer = session.replayer.clone();
    let session = Rc::new(session);
    let _installed = seam::install(seam::Host::Orchestration(session.clone()));
    let ran = catch_unwind(AssertUnwindSafe(|| open(&replayer).map(|input| function(&input))));
    let mut guard = lock(&replayer);
    match ran {
        Ok(Ok(Ok(output))) => match Payload::parse(output, MAX_PAYLOAD) {
            Ok(output) => {
                if let Err(error) = guard.complete(output) {
                    guard.abort(error.failure());
                }
            }
            Err(error) => guard.abort(error.failure("the orchestrator's output")),
        },
        Ok(Ok(Err(failure))) => {
            if let Err(error) = guard.fail(convert::failure_to_core(failure)) {
                guard.abort(error.failure());
            }
        }
        Ok(Err(failure)) => {
            if let Err(error) = guard.fail(failure) {
                guard.abort(error.failure());
            }
        }
        Err(panic) => match panic.downcast::<Trap>() {
            Ok(trap) => match *trap {
                Trap::Evicted => return,
                // A command past a limit refuses the whole episode, as on the host.
                Trap::Replay(error @ ReplayError::LimitExceeded(_)) => guard.refuse_episode(error.failure()),
                Trap::Replay(error) => guard.abort(error.failure()),
                Trap::Refused(message) => guard.abort(CoreFailure::new(error_types::GUEST_TRAPPED, message)),
            },
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic with a payload that is not text".into());
                guard.abort(CoreFailure::new(
                    error_types::GUEST_TRAPPED,
                    format!("the orchestrator panicked: {message}"),
                ));
            }
        },
    }
    let output = guard.take_output();
    let custom_status = guard.custom_status().cloned();
    drop(guard);
    let _ = yields.send(Yield { output, custom_status });
}

/// Opens episodes until the one that starts the execution: the orchestrator's input.
fn open(replayer: &Mutex<Replayer>) -> Result<String, CoreFailure> {
    let mut guard = lock(replayer);
    loop {
        match guard.advance() {
            Ok(Advance::Blocked) => {
                return Err(CoreFailure::new(
                    error_types::GUEST_TRAPPED,
                    "the instance has no start event: its history holds none and no Start message was delivered",
                ));
            }
            Ok(_) => {
                if let Some((_, input)) = guard.started() {
                    return Ok(input.to_string());
                }
            }
            Err(error) => return Err(error.failure()),
        }
    }
}

/// The host side of one orchestrator under test. See the module docs.
struct Session {
    instance_id: String,
    replayer: Arc<Mutex<Replayer>>,
    deliveries: mpsc::Receiver<Delivery>,
    yields: mpsc::Sender<Yield>,
    logs: Arc<Mutex<Vec<LogLine>>>,
}

/// A wait being answered; a wait-all keeps its progress across episodes.
enum Pending {
    Any(Vec<u64>),
    All(AllWait),
}

impl Session {
    fn replayer(&self) -> MutexGuard<'_, Replayer> {
        lock(&self.replayer)
    }

    fn payload(&self, what: impl FnOnce() -> String, text: &str) -> Payload {
        Payload::parse(text, MAX_PAYLOAD).unwrap_or_else(|error| trap(Trap::Refused(format!("{} is {error}", what()))))
    }

    fn replayed<T>(result: Result<T, ReplayError>) -> T {
        result.unwrap_or_else(|error| trap(Trap::Replay(error)))
    }

    fn wait(&self, mut request: Pending) -> Vec<Completion> {
        loop {
            let episode_end = {
                let mut replayer = self.replayer();
                let answer = match &mut request {
                    Pending::Any(tasks) => Self::replayed(replayer.wait_any(tasks)).map(|done| vec![done]),
                    Pending::All(wait) => Self::replayed(replayer.poll_all(wait)),
                };
                if let WaitOutcome::Ready(done) = answer {
                    return done;
                }
                match Self::replayed(replayer.advance()) {
                    Advance::Blocked => {
                        Some(Yield { output: replayer.take_output(), custom_status: replayer.custom_status().cloned() })
                    }
                    Advance::Replayed | Advance::Live => None,
                }
            };
            if let Some(episode_end) = episode_end {
                let _ = self.yields.send(episode_end);
                let delivery = self.deliveries.recv().unwrap_or_else(|_| trap(Trap::Evicted));
                self.replayer().deliver(delivery.time, delivery.messages);
            }
        }
    }

    fn entity(entity: &wire::EntityId) -> EntityId {
        let entity = EntityId { name: entity.name.clone(), key: entity.key.clone() };
        if let Err(error) = entity.validate() {
            trap(Trap::Refused(error.to_string()));
        }
        entity
    }
}

impl OrchestrationHost for Session {
    fn instance_id(&self) -> String {
        self.instance_id.clone()
    }

    fn is_replaying(&self) -> bool {
        self.replayer().is_replaying()
    }

    fn current_time(&self) -> u64 {
        self.replayer().now()
    }

    fn new_guid(&self) -> String {
        self.replayer().new_guid()
    }

    fn version(&self, change_id: &str, max: u32) -> u32 {
        Self::replayed(self.replayer().version(change_id, max))
    }

    fn set_custom_status(&self, status: Option<&str>) {
        // The host ignores (and logs) a status that is not JSON; so does the harness.
        if let Ok(status) = status.map(|text| Payload::parse(text, MAX_PAYLOAD)).transpose() {
            self.replayer().set_custom_status(status);
        }
    }

    fn log(&self, level: wire::LogLevel, message: &str) {
        if self.replayer().is_replaying() {
            return;
        }
        let line =
            LogLine { instance_id: self.instance_id.clone(), level: convert::level(level), message: message.into() };
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    fn schedule_activity(&self, name: &str, input: &str, options: Option<&wire::ActivityOptions>) -> u64 {
        let options = match options {
            Some(options) => convert::activity_options(options).unwrap_or_else(|message| trap(Trap::Refused(message))),
            None => Default::default(),
        };
        let input = self.payload(|| format!("the input of activity '{name}'"), input);
        Self::replayed(self.replayer().schedule_activity(name, input, options))
    }

    fn schedule_sub_orchestration(&self, name: &str, input: &str, options: &wire::SubOrchestrationOptions) -> u64 {
        let retry = options.retry.as_ref().map(convert::retry_policy);
        if let Some(policy) = &retry
            && let Err(error) = policy.validate()
        {
            trap(Trap::Refused(error.to_string()));
        }
        let input = self.payload(|| format!("the input of sub-orchestration '{name}'"), input);
        let instance_id =
            options.instance_id.clone().map(InstanceId::new).transpose().unwrap_or_else(|error| {
                trap(Trap::Refused(format!("sub-orchestration '{name}' cannot start: {error}")))
            });
        Self::replayed(self.replayer().schedule_sub_orchestration(name, instance_id, input, retry))
    }

    fn continue_as_new(&self, input: &str, carry_unprocessed_events: bool) {
        let input = self.payload(|| "the input of continue-as-new".into(), input);
        Self::replayed(self.replayer().request_continue_as_new(input, carry_unprocessed_events))
    }

    fn schedule_timer(&self, fire_at: u64) -> u64 {
        Self::replayed(self.replayer().schedule_timer(fire_at))
    }

    fn wait_for_event(&self, name: &str) -> u64 {
        Self::replayed(self.replayer().wait_for_event(name))
    }

    fn wait_for_update(&self, name: &str) -> u64 {
        Self::replayed(self.replayer().wait_for_update(name))
    }

    fn reply_update(&self, update_id: &str, reply: Result<&str, &wire::Failure>) {
        let reply = match reply {
            Ok(output) => UpdateReply::Output(self.payload(|| format!("the answer to update '{update_id}'"), output)),
            Err(failure) => UpdateReply::Failure(convert::failure_to_core(crate::Failure::from(failure.clone()))),
        };
        Self::replayed(self.replayer().reply_update(update_id, reply))
    }

    fn raise_event(&self, instance_id: &str, name: &str, data: &str) {
        let data = self.payload(|| format!("the data of event '{name}'"), data);
        Self::replayed(self.replayer().raise_event(instance_id, name, data))
    }

    fn call_entity(&self, entity: &wire::EntityId, operation: &str, input: &str) -> u64 {
        let entity = Self::entity(entity);
        let input = self.payload(|| format!("the input of operation '{operation}' on {entity}"), input);
        Self::replayed(self.replayer().call_entity(&entity, operation, input))
    }

    fn signal_entity(&self, entity: &wire::EntityId, operation: &str, input: &str) {
        let entity = Self::entity(entity);
        let input = self.payload(|| format!("the input of operation '{operation}' on {entity}"), input);
        Self::replayed(self.replayer().signal_entity(&entity, operation, input))
    }

    fn lock_entities(&self, entities: &[wire::EntityId]) -> u64 {
        let entities: Vec<EntityId> = entities.iter().map(Self::entity).collect();
        Self::replayed(self.replayer().lock_entities(&entities))
    }

    fn unlock_entities(&self) {
        Self::replayed(self.replayer().unlock_entities())
    }

    fn wait_all(&self, tasks: &[u64]) -> Vec<wire::Completion> {
        self.wait(Pending::All(AllWait::new(tasks.to_vec()))).into_iter().map(convert::completion).collect()
    }

    fn wait_any(&self, tasks: &[u64]) -> wire::Completion {
        let done = self.wait(Pending::Any(tasks.to_vec()));
        done.into_iter()
            .next()
            .map(convert::completion)
            .unwrap_or_else(|| trap(Trap::Refused("the host answered wait-any with no completion".into())))
    }
}
