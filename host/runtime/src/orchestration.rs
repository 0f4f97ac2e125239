//! The `orchestration` interface, implemented once, on an orchestrator's session: every call is
//! answered by the replay engine (`reprise_core::replay`), which checks each command against the
//! recorded history or records it as new, and answers each wait from the completions delivered
//! so far.
//!
//! When a wait cannot be answered, the session opens the next episode; when there is none, it
//! sends the episode's output to whoever runs the orchestrator ([`Yield`]) and waits, parked
//! inside the host call, for the next [`Delivery`]: that parked guest is the hot path. Closing
//! the delivery channel ends the guest ([`HostEnd::Evicted`]).
//!
//! It owns the translation between the WIT calls and the replayer's, and the payload and id
//! checks of what a guest hands the host. It never decides what an episode writes and never
//! touches the store: the episode's output goes back as a value.

use crate::bindings::orchestrator::reprise::durable::orchestration;
use crate::bindings::orchestrator::reprise::durable::types::{
    self as wit, ActivityOptions as WitActivityOptions, Completion as WitCompletion, LogLevel,
    RetryPolicy as WitRetryPolicy, SubOrchestrationOptions as WitSubOrchestrationOptions,
};
use crate::bindings::{WitEntityId, WitFailure, checked_entity};
use crate::error::{HostEnd, trap};
use crate::observed::GuestObserved;
use reprise_core::replay::{Advance, AllWait, Completion, EpisodeOutput, Replayer, WaitOutcome};
use reprise_core::{ActivityOptions, InstanceId, Message, Payload, RetryPolicy, Timestamp, UpdateReply};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// New messages for a parked orchestrator: one episode.
#[derive(Debug)]
pub struct Delivery {
    /// The episode's logical time.
    pub time: Timestamp,
    /// The messages delivered in it.
    pub messages: Vec<Message>,
}

/// What a session reports at the end of an episode.
#[derive(Debug)]
pub struct Yield {
    /// The events the episode recorded.
    pub output: EpisodeOutput,
    /// The custom status after it.
    pub custom_status: Option<Payload>,
}

/// The host side of one running orchestrator. See the module docs.
pub struct OrchestrationSession {
    instance_id: String,
    replayer: Arc<Mutex<Replayer>>,
    observed: Arc<GuestObserved>,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    yields: mpsc::UnboundedSender<Yield>,
    max_payload: usize,
    captured_logs: Option<Arc<Mutex<Vec<GuestLog>>>>,
}

/// A line an orchestrator logged, captured with where in its history it was (see
/// [`OrchestrationSession::capture_logs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestLog {
    /// How many recorded events had been replayed when it was logged.
    pub position: u64,
    /// Its severity.
    pub level: LogLevel,
    /// The line.
    pub message: String,
}

impl OrchestrationSession {
    /// A session answering from `replayer`, reporting episodes to `yields` and waiting for
    /// `deliveries`; payloads above `max_payload` bytes are refused.
    pub fn new(
        instance_id: String,
        replayer: Arc<Mutex<Replayer>>,
        observed: Arc<GuestObserved>,
        (deliveries, yields): (mpsc::UnboundedReceiver<Delivery>, mpsc::UnboundedSender<Yield>),
        max_payload: usize,
    ) -> Self {
        OrchestrationSession { instance_id, replayer, observed, deliveries, yields, max_payload, captured_logs: None }
    }

    /// Sends the orchestrator's log lines to `sink` instead of the host's log, replayed ones
    /// included (which the host's log leaves out, as they were logged when first run): a tool
    /// replaying a history shows what the code said at each step.
    pub fn capture_logs(mut self, sink: Arc<Mutex<Vec<GuestLog>>>) -> Self {
        self.captured_logs = Some(sink);
        self
    }

    /// A session with nothing to answer, for a call that must not reach the host (listing an
    /// orchestrator's names): a wait ends the guest as evicted.
    pub(crate) fn idle() -> Self {
        let replayer = Replayer::new("", 1, "", Vec::new()).expect("an empty history is well formed");
        let (_, deliveries) = mpsc::unbounded_channel();
        let (yields, _) = mpsc::unbounded_channel();
        OrchestrationSession::new(
            String::new(),
            Arc::new(Mutex::new(replayer)),
            GuestObserved::new(),
            (deliveries, yields),
            0,
        )
    }

    fn replayer(&self) -> std::sync::MutexGuard<'_, Replayer> {
        self.replayer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks a payload the guest hands the host: one JSON document, no larger than the host
    /// accepts. `what` names it in the error; it is only built for a bad one (this runs on every
    /// scheduled task, replayed ones included).
    fn payload(&self, what: impl FnOnce() -> String, text: String) -> wasmtime::Result<Payload> {
        Payload::parse(text, self.max_payload).map_err(|error| trap(HostEnd::Refused(format!("{} is {error}", what()))))
    }

    /// Opens episodes until the wait is answered, yielding to the caller each time the guest must
    /// block for new messages.
    async fn wait(&mut self, mut request: Pending) -> wasmtime::Result<Vec<Completion>> {
        loop {
            let episode_end = {
                let mut replayer = self.replayer();
                let answer = match &mut request {
                    Pending::Any(tasks) => replayer.wait_any(tasks).map_err(replay)?.map(|done| vec![done]),
                    Pending::All(wait) => replayer.poll_all(wait).map_err(replay)?,
                };
                if let WaitOutcome::Ready(done) = answer {
                    return Ok(done);
                }
                match replayer.advance().map_err(replay)? {
                    Advance::Blocked => {
                        Some(Yield { output: replayer.take_output(), custom_status: replayer.custom_status().cloned() })
                    }
                    Advance::Replayed | Advance::Live => {
                        self.observed.start_episode(replayer.now(), replayer.is_replaying());
                        None
                    }
                }
            };
            if let Some(episode_end) = episode_end {
                // The caller may have gone away; then the next receive ends us.
                let _ = self.yields.send(episode_end);
                let delivery = self.deliveries.recv().await.ok_or_else(|| trap(HostEnd::Evicted))?;
                self.replayer().deliver(delivery.time, delivery.messages);
            }
        }
    }
}

/// A replay engine's refusal, as the trap that ends the guest.
fn replay(error: reprise_core::replay::ReplayError) -> wasmtime::Error {
    trap(HostEnd::Replay(error))
}

/// A wait being answered, in the form the replayer polls: a wait-all keeps its progress, so a
/// fan-in over many tasks and many episodes is not checked from its start each time.
enum Pending {
    Any(Vec<u64>),
    All(AllWait),
}

impl wit::Host for OrchestrationSession {}

impl orchestration::Host for OrchestrationSession {
    async fn instance_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.instance_id.clone())
    }

    async fn is_replaying(&mut self) -> wasmtime::Result<bool> {
        Ok(self.replayer().is_replaying())
    }

    async fn current_time(&mut self) -> wasmtime::Result<u64> {
        Ok(self.replayer().now())
    }

    async fn new_guid(&mut self) -> wasmtime::Result<String> {
        Ok(self.replayer().new_guid())
    }

    async fn version(&mut self, change_id: String, max: u32) -> wasmtime::Result<u32> {
        self.replayer().version(&change_id, max).map_err(replay)
    }

    async fn set_custom_status(&mut self, status: Option<String>) -> wasmtime::Result<()> {
        match status.map(|text| Payload::parse(text, self.max_payload)).transpose() {
            Ok(status) => self.replayer().set_custom_status(status),
            Err(error) => tracing::warn!(instance = %self.instance_id, "custom status ignored: it is {error}"),
        }
        Ok(())
    }

    async fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        if let Some(sink) = &self.captured_logs {
            let position = self.replayer().position();
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(GuestLog { position, level, message });
            return Ok(());
        }
        if self.replayer().is_replaying() {
            return Ok(());
        }
        let id = &self.instance_id;
        match level {
            LogLevel::Debug => tracing::debug!(target: "reprise::orchestrator", instance = %id, "{message}"),
            LogLevel::Info => tracing::info!(target: "reprise::orchestrator", instance = %id, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "reprise::orchestrator", instance = %id, "{message}"),
            LogLevel::Error => tracing::error!(target: "reprise::orchestrator", instance = %id, "{message}"),
        }
        Ok(())
    }

    async fn schedule_activity(&mut self, name: String, input: String) -> wasmtime::Result<u64> {
        let input = self.payload(|| format!("the input of activity '{name}'"), input)?;
        self.replayer().schedule_activity(&name, input, ActivityOptions::default()).map_err(replay)
    }

    async fn schedule_activity_with_options(
        &mut self,
        name: String,
        input: String,
        options: WitActivityOptions,
    ) -> wasmtime::Result<u64> {
        let options = activity_options(options)?;
        let input = self.payload(|| format!("the input of activity '{name}'"), input)?;
        self.replayer().schedule_activity(&name, input, options).map_err(replay)
    }

    async fn schedule_timer(&mut self, fire_at: u64) -> wasmtime::Result<u64> {
        self.replayer().schedule_timer(fire_at).map_err(replay)
    }

    async fn schedule_sub_orchestration(
        &mut self,
        name: String,
        input: String,
        options: WitSubOrchestrationOptions,
    ) -> wasmtime::Result<u64> {
        let retry = options.retry.map(retry_policy);
        if let Some(policy) = &retry {
            policy.validate().map_err(|e| trap(HostEnd::Refused(e.to_string())))?;
        }
        let input = self.payload(|| format!("the input of sub-orchestration '{name}'"), input)?;
        let instance_id = options
            .instance_id
            .map(InstanceId::new)
            .transpose()
            .map_err(|error| trap(HostEnd::Refused(format!("sub-orchestration '{name}' cannot start: {error}"))))?;
        self.replayer().schedule_sub_orchestration(&name, instance_id, input, retry).map_err(replay)
    }

    async fn continue_as_new(&mut self, input: String, carry_unprocessed_events: bool) -> wasmtime::Result<()> {
        let input = self.payload(|| "the input of continue-as-new".into(), input)?;
        self.replayer().request_continue_as_new(input, carry_unprocessed_events).map_err(replay)
    }

    async fn wait_for_event(&mut self, name: String) -> wasmtime::Result<u64> {
        self.replayer().wait_for_event(&name).map_err(replay)
    }

    async fn wait_for_update(&mut self, name: String) -> wasmtime::Result<u64> {
        self.replayer().wait_for_update(&name).map_err(replay)
    }

    async fn reply_update(&mut self, update_id: String, reply: Result<String, WitFailure>) -> wasmtime::Result<()> {
        let reply = match reply {
            Ok(output) => UpdateReply::Output(self.payload(|| format!("the answer to update '{update_id}'"), output)?),
            Err(failure) => UpdateReply::Failure(failure.into()),
        };
        self.replayer().reply_update(&update_id, reply).map_err(replay)
    }

    async fn raise_event(&mut self, instance_id: String, name: String, data: String) -> wasmtime::Result<()> {
        let data = self.payload(|| format!("the data of event '{name}'"), data)?;
        self.replayer().raise_event(&instance_id, &name, data).map_err(replay)
    }

    async fn call_entity(&mut self, entity: WitEntityId, operation: String, input: String) -> wasmtime::Result<u64> {
        let entity = checked_entity(entity)?;
        let input = self.payload(|| format!("the input of operation '{operation}' on {entity}"), input)?;
        self.replayer().call_entity(&entity, &operation, input).map_err(replay)
    }

    async fn signal_entity(&mut self, entity: WitEntityId, operation: String, input: String) -> wasmtime::Result<()> {
        let entity = checked_entity(entity)?;
        let input = self.payload(|| format!("the input of operation '{operation}' on {entity}"), input)?;
        self.replayer().signal_entity(&entity, &operation, input).map_err(replay)
    }

    async fn lock_entities(&mut self, entities: Vec<WitEntityId>) -> wasmtime::Result<u64> {
        let entities = entities.into_iter().map(checked_entity).collect::<wasmtime::Result<Vec<_>>>()?;
        self.replayer().lock_entities(&entities).map_err(replay)
    }

    async fn unlock_entities(&mut self) -> wasmtime::Result<()> {
        self.replayer().unlock_entities().map_err(replay)
    }

    async fn wait_all(&mut self, tasks: Vec<u64>) -> wasmtime::Result<Vec<WitCompletion>> {
        let done = self.wait(Pending::All(AllWait::new(tasks))).await?;
        Ok(done.into_iter().map(to_wit).collect())
    }

    async fn wait_any(&mut self, tasks: Vec<u64>) -> wasmtime::Result<WitCompletion> {
        let done = self.wait(Pending::Any(tasks)).await?;
        done.into_iter()
            .next()
            .map(to_wit)
            .ok_or_else(|| trap(HostEnd::Refused("the host answered wait-any with no completion".into())))
    }
}

/// The core form of the options a guest gave, checked.
fn activity_options(options: WitActivityOptions) -> wasmtime::Result<ActivityOptions> {
    let retry = options.retry.map(retry_policy);
    if let Some(policy) = &retry {
        policy.validate().map_err(|e| trap(HostEnd::Refused(e.to_string())))?;
    }
    Ok(ActivityOptions { retry, timeout_ms: options.timeout_ms })
}

fn retry_policy(p: WitRetryPolicy) -> RetryPolicy {
    RetryPolicy {
        max_attempts: p.max_attempts,
        first_retry_interval_ms: p.first_retry_interval_ms,
        backoff_coefficient: p.backoff_coefficient,
        max_retry_interval_ms: p.max_retry_interval_ms,
        retry_timeout_ms: p.retry_timeout_ms,
        non_retryable_errors: p.non_retryable_errors,
    }
}

fn to_wit(completion: Completion) -> WitCompletion {
    let outcome = completion.outcome.map(Payload::into_string).map_err(WitFailure::from);
    WitCompletion { task: completion.task, outcome }
}
