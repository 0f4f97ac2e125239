//! The orchestrator sandbox: a linker whose WASI is virtual (logical clocks, seeded random, no
//! environment, files or network, output to the log) plus the `orchestration` interface, which
//! forwards every call to the caller's [`OrchestrationHost`].

use crate::Runtime;
use crate::bindings::orchestrator::reprise::durable::orchestration;
use crate::bindings::orchestrator::reprise::durable::types::{
    ActivityOptions as WitActivityOptions, Completion as WitCompletion, LogLevel, RetryPolicy as WitRetryPolicy,
    SubOrchestrationOptions as WitSubOrchestrationOptions,
};
use crate::bindings::orchestrator::{Orchestrator, OrchestratorPre};
use crate::bindings::{WitEntityId, WitFailure};
use crate::component::LoadedComponent;
use crate::error::{GuestError, StopCause, classify};
use crate::foreign;
use crate::limits::GuestLimiter;
use crate::virtual_wasi::deterministic_wasi;
use reprise_core::replay::Completion;
use reprise_core::{ActivityOptions, EntityId, Failure, RetryPolicy};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use wasmtime::component::{Component, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// A boxed future, as [`OrchestrationHost::wait`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What an orchestrator waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitRequest {
    /// The first of these tasks to complete.
    Any(Vec<u64>),
    /// All of these tasks.
    All(Vec<u64>),
}

/// The host side of the `orchestration` interface, provided by whoever runs the orchestrator
/// (the executor). An `Err` from any method ends the guest with a trap; the runtime reports it
/// as [`GuestError::Host`] carrying that error.
pub trait OrchestrationHost: Send + 'static {
    /// The instance id.
    fn instance_id(&self) -> String;
    /// True while replaying recorded history.
    fn is_replaying(&self) -> bool;
    /// The current episode's logical time, in ms since the epoch.
    fn current_time(&self) -> u64;
    /// A deterministic UUID.
    fn new_guid(&mut self) -> String;
    /// Sets or clears the custom status.
    fn set_custom_status(&mut self, status: Option<String>);
    /// A log line from the guest.
    fn log(&mut self, level: LogLevel, message: String);
    /// Schedules an activity; returns its handle.
    fn schedule_activity(&mut self, name: String, input: String, options: ActivityOptions) -> anyhow::Result<u64>;
    /// Starts a sub-orchestration; returns its handle.
    fn schedule_sub_orchestration(
        &mut self,
        name: String,
        instance_id: Option<String>,
        input: String,
        retry: Option<RetryPolicy>,
    ) -> anyhow::Result<u64>;
    /// Asks to restart as a new execution once the orchestrator returns.
    fn continue_as_new(&mut self, input: String, carry_events: bool) -> anyhow::Result<()>;
    /// Schedules a durable timer; returns its handle.
    fn schedule_timer(&mut self, fire_at: u64) -> anyhow::Result<u64>;
    /// Starts waiting for an external event; returns the wait's handle.
    fn wait_for_event(&mut self, name: String) -> anyhow::Result<u64>;
    /// Raises an event on another instance.
    fn raise_event(&mut self, instance_id: String, name: String, data: String) -> anyhow::Result<()>;
    /// Calls an entity operation; returns the handle of the task that waits for its result.
    fn call_entity(&mut self, entity: EntityId, operation: String, input: String) -> anyhow::Result<u64>;
    /// Signals an entity operation (one way).
    fn signal_entity(&mut self, entity: EntityId, operation: String, input: String) -> anyhow::Result<()>;
    /// Asks for the locks of a critical section; returns the task that completes once all are
    /// held.
    fn lock_entities(&mut self, entities: Vec<EntityId>) -> anyhow::Result<u64>;
    /// Releases the locks of the current critical section.
    fn unlock_entities(&mut self) -> anyhow::Result<()>;
    /// Waits; for `Any` the result holds exactly one completion.
    fn wait(&mut self, request: WaitRequest) -> BoxFuture<'_, anyhow::Result<Vec<Completion>>>;
}

/// State the host shares with an orchestrator's virtual WASI: the logical time, whether it is
/// replaying, and the CPU it used in the current episode.
#[derive(Debug, Default)]
pub struct GuestObserved {
    now_ms: AtomicU64,
    replaying: AtomicBool,
    episode_ticks: AtomicU64,
    stderr_tail: Mutex<String>,
    /// The bytes of output the guest may still write to the log in this episode.
    output_left: AtomicU64,
    /// What `output_left` starts each episode at.
    output_limit: AtomicU64,
}

impl GuestObserved {
    /// Fresh state: time 0, replaying.
    pub fn new() -> Arc<Self> {
        Arc::new(GuestObserved {
            replaying: AtomicBool::new(true),
            output_left: AtomicU64::new(u64::MAX),
            output_limit: AtomicU64::new(u64::MAX),
            ..Default::default()
        })
    }

    /// The logical time the guest's clocks read.
    pub fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::Relaxed)
    }

    /// Whether the guest is replaying (its output is then silenced).
    pub fn is_replaying(&self) -> bool {
        self.replaying.load(Ordering::Relaxed)
    }

    /// Starts an episode: sets the clocks and the replay flag, and resets the CPU budget.
    pub fn start_episode(&self, now_ms: u64, replaying: bool) {
        self.now_ms.store(now_ms, Ordering::Relaxed);
        self.replaying.store(replaying, Ordering::Relaxed);
        self.episode_ticks.store(0, Ordering::Relaxed);
        self.output_left.store(self.output_limit.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Caps the output the guest may write to the log per episode (or attempt).
    pub(crate) fn limit_output(&self, bytes: u64) {
        self.output_limit.store(bytes, Ordering::Relaxed);
        self.output_left.store(bytes, Ordering::Relaxed);
    }

    /// Takes `bytes` from the guest's output budget: `Some(true)` if they fit, `Some(false)` for
    /// the write that spends it (the caller says that the rest is dropped), `None` once spent.
    pub(crate) fn spend_output(&self, bytes: u64) -> Option<bool> {
        let before = self
            .output_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| (left > 0).then(|| left.saturating_sub(bytes)))
            .ok()?;
        Some(before >= bytes)
    }

    /// Whether the guest has spent its output budget.
    pub(crate) fn output_spent(&self) -> bool {
        self.output_left.load(Ordering::Relaxed) == 0
    }

    /// Keeps the last lines a guest wrote to stderr (a panic message, usually) for error reports.
    pub(crate) fn remember_stderr(&self, line: &str) {
        let mut tail = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.push_str(line);
        tail.push('\n');
        if tail.len() > 4096 {
            let cut = tail.len() - 4096;
            let cut = (cut..tail.len()).find(|i| tail.is_char_boundary(*i)).unwrap_or(tail.len());
            tail.drain(..cut);
        }
    }

    /// The last lines the guest wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner()).trim_end().to_string()
    }
}

/// One orchestrator run to start.
pub struct OrchestratorInvocation {
    /// The instance id (for logs).
    pub instance_id: String,
    /// The orchestrator to run.
    pub name: String,
    /// Its JSON input.
    pub input: String,
    /// The seed of the guest's random sources: the same for every run of one execution.
    pub seed: u64,
    /// State shared with the caller.
    pub observed: Arc<GuestObserved>,
}

/// The store data of an orchestrator.
pub(crate) struct OrchestratorState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: GuestLimiter,
    pub(crate) cpu_exceeded: bool,
    host: Box<dyn OrchestrationHost>,
}

impl WasiView for OrchestratorState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Carries an error from the [`OrchestrationHost`] through the guest's trap unchanged.
#[derive(Debug)]
pub(crate) struct HostTrap(pub(crate) anyhow::Error);

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for HostTrap {}

pub(crate) fn trap(error: anyhow::Error) -> wasmtime::Error {
    wasmtime::Error::new(HostTrap(error))
}

impl crate::bindings::orchestrator::reprise::durable::types::Host for OrchestratorState {}

impl orchestration::Host for OrchestratorState {
    async fn instance_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.host.instance_id())
    }

    async fn is_replaying(&mut self) -> wasmtime::Result<bool> {
        Ok(self.host.is_replaying())
    }

    async fn current_time(&mut self) -> wasmtime::Result<u64> {
        Ok(self.host.current_time())
    }

    async fn new_guid(&mut self) -> wasmtime::Result<String> {
        Ok(self.host.new_guid())
    }

    async fn set_custom_status(&mut self, status: Option<String>) -> wasmtime::Result<()> {
        self.host.set_custom_status(status);
        Ok(())
    }

    async fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.host.log(level, message);
        Ok(())
    }

    async fn schedule_activity(&mut self, name: String, input: String) -> wasmtime::Result<u64> {
        self.host.schedule_activity(name, input, ActivityOptions::default()).map_err(trap)
    }

    async fn schedule_activity_with_options(
        &mut self,
        name: String,
        input: String,
        options: WitActivityOptions,
    ) -> wasmtime::Result<u64> {
        let options = activity_options(options).map_err(trap)?;
        self.host.schedule_activity(name, input, options).map_err(trap)
    }

    async fn schedule_timer(&mut self, fire_at: u64) -> wasmtime::Result<u64> {
        self.host.schedule_timer(fire_at).map_err(trap)
    }

    async fn schedule_sub_orchestration(
        &mut self,
        name: String,
        input: String,
        options: WitSubOrchestrationOptions,
    ) -> wasmtime::Result<u64> {
        let retry = options.retry.map(retry_policy);
        if let Some(policy) = &retry {
            policy.validate().map_err(|e| trap(e.into()))?;
        }
        self.host.schedule_sub_orchestration(name, options.instance_id, input, retry).map_err(trap)
    }

    async fn continue_as_new(&mut self, input: String, carry_unprocessed_events: bool) -> wasmtime::Result<()> {
        self.host.continue_as_new(input, carry_unprocessed_events).map_err(trap)
    }

    async fn wait_for_event(&mut self, name: String) -> wasmtime::Result<u64> {
        self.host.wait_for_event(name).map_err(trap)
    }

    async fn raise_event(&mut self, instance_id: String, name: String, data: String) -> wasmtime::Result<()> {
        self.host.raise_event(instance_id, name, data).map_err(trap)
    }

    async fn call_entity(&mut self, entity: WitEntityId, operation: String, input: String) -> wasmtime::Result<u64> {
        let entity = checked_entity(entity)?;
        self.host.call_entity(entity, operation, input).map_err(trap)
    }

    async fn signal_entity(&mut self, entity: WitEntityId, operation: String, input: String) -> wasmtime::Result<()> {
        let entity = checked_entity(entity)?;
        self.host.signal_entity(entity, operation, input).map_err(trap)
    }

    async fn lock_entities(&mut self, entities: Vec<WitEntityId>) -> wasmtime::Result<u64> {
        let entities = entities.into_iter().map(checked_entity).collect::<wasmtime::Result<Vec<_>>>()?;
        self.host.lock_entities(entities).map_err(trap)
    }

    async fn unlock_entities(&mut self) -> wasmtime::Result<()> {
        self.host.unlock_entities().map_err(trap)
    }

    async fn wait_all(&mut self, tasks: Vec<u64>) -> wasmtime::Result<Vec<WitCompletion>> {
        let done = self.host.wait(WaitRequest::All(tasks)).await.map_err(trap)?;
        Ok(done.into_iter().map(to_wit).collect())
    }

    async fn wait_any(&mut self, tasks: Vec<u64>) -> wasmtime::Result<WitCompletion> {
        let done = self.host.wait(WaitRequest::Any(tasks)).await.map_err(trap)?;
        done.into_iter()
            .next()
            .map(to_wit)
            .ok_or_else(|| trap(anyhow::anyhow!("the host answered wait-any with no completion")))
    }
}

/// The core form of an entity address a guest gave, checked: a bad one traps with the reason.
pub(crate) fn checked_entity(entity: WitEntityId) -> wasmtime::Result<EntityId> {
    let entity = EntityId::from(entity);
    entity.validate().map_err(|e| trap(e.into()))?;
    Ok(entity)
}

/// The core form of the options a guest gave, checked.
fn activity_options(options: WitActivityOptions) -> anyhow::Result<ActivityOptions> {
    let retry = options.retry.map(retry_policy);
    if let Some(policy) = &retry {
        policy.validate()?;
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
    let outcome = completion.outcome.map(reprise_core::Payload::into_string).map_err(WitFailure::from);
    WitCompletion { task: completion.task, outcome }
}

/// The base linker: virtual WASI and the orchestration interface (the other interfaces of the
/// `app` world are defined per component, see [`pre_instantiate`]).
pub(crate) fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<OrchestratorState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Orchestrator::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    forbid_sleeping(&mut linker)?;
    Ok(linker)
}

/// Replaces the monotonic clock's timers with traps. Logical time stands still within an
/// episode, and a real sleep would hold the episode (and an orchestration slot) for nothing: an
/// orchestrator waits with a durable timer.
fn forbid_sleeping(linker: &mut Linker<OrchestratorState>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    for name in ["subscribe-duration", "subscribe-instant"] {
        clock.func_wrap(name, |_store, (_time,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            Err(trap(anyhow::anyhow!(
                "an orchestrator cannot sleep or wait on the clock (its time only moves between episodes); \
                 use a durable timer (ctx.timer) instead"
            )))
        })?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// The monotonic clock interface of the WASI version the linker provides.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Pre-instantiates a component for orchestrators. The activity-context and entity-context
/// interfaces an `app` component also imports trap if the orchestrator calls them.
pub(crate) fn pre_instantiate(
    base: &Linker<OrchestratorState>,
    component: &Component,
) -> wasmtime::Result<OrchestratorPre<OrchestratorState>> {
    let foreign = [foreign::ACTIVITY_CONTEXT, foreign::ENTITY_CONTEXT];
    let linker = foreign::linker_for(base, component, &foreign, "an orchestrator")?;
    OrchestratorPre::new(linker.instantiate_pre(component)?)
}

/// The host used while listing a component's exports: the guest must not call the host then.
struct ListingHost;

impl OrchestrationHost for ListingHost {
    fn instance_id(&self) -> String {
        String::new()
    }
    fn is_replaying(&self) -> bool {
        true
    }
    fn current_time(&self) -> u64 {
        0
    }
    fn new_guid(&mut self) -> String {
        String::new()
    }
    fn set_custom_status(&mut self, _status: Option<String>) {}
    fn log(&mut self, _level: LogLevel, _message: String) {}
    fn schedule_activity(&mut self, _name: String, _input: String, _options: ActivityOptions) -> anyhow::Result<u64> {
        anyhow::bail!("an orchestrator may not schedule work while the host lists its exports")
    }
    fn schedule_timer(&mut self, _fire_at: u64) -> anyhow::Result<u64> {
        anyhow::bail!("an orchestrator may not schedule work while the host lists its exports")
    }
    fn schedule_sub_orchestration(
        &mut self,
        _name: String,
        _instance_id: Option<String>,
        _input: String,
        _retry: Option<RetryPolicy>,
    ) -> anyhow::Result<u64> {
        anyhow::bail!("an orchestrator may not schedule work while the host lists its exports")
    }
    fn continue_as_new(&mut self, _input: String, _carry_events: bool) -> anyhow::Result<()> {
        anyhow::bail!("an orchestrator may not continue as new while the host lists its exports")
    }
    fn wait_for_event(&mut self, _name: String) -> anyhow::Result<u64> {
        anyhow::bail!("an orchestrator may not schedule work while the host lists its exports")
    }
    fn raise_event(&mut self, _instance_id: String, _name: String, _data: String) -> anyhow::Result<()> {
        anyhow::bail!("an orchestrator may not raise events while the host lists its exports")
    }
    fn call_entity(&mut self, _entity: EntityId, _operation: String, _input: String) -> anyhow::Result<u64> {
        anyhow::bail!("an orchestrator may not call entities while the host lists its exports")
    }
    fn signal_entity(&mut self, _entity: EntityId, _operation: String, _input: String) -> anyhow::Result<()> {
        anyhow::bail!("an orchestrator may not signal entities while the host lists its exports")
    }
    fn lock_entities(&mut self, _entities: Vec<EntityId>) -> anyhow::Result<u64> {
        anyhow::bail!("an orchestrator may not lock entities while the host lists its exports")
    }
    fn unlock_entities(&mut self) -> anyhow::Result<()> {
        anyhow::bail!("an orchestrator may not unlock entities while the host lists its exports")
    }
    fn wait(&mut self, _request: WaitRequest) -> BoxFuture<'_, anyhow::Result<Vec<Completion>>> {
        Box::pin(async { anyhow::bail!("an orchestrator may not wait while the host lists its exports") })
    }
}

impl Runtime {
    fn orchestrator_store(
        &self,
        label: &str,
        seed: u64,
        observed: Arc<GuestObserved>,
        host: Box<dyn OrchestrationHost>,
    ) -> Store<OrchestratorState> {
        observed.limit_output(self.config.max_guest_output_bytes);
        let wasi = deterministic_wasi(label, seed, &observed);
        let state = OrchestratorState {
            wasi,
            table: ResourceTable::new(),
            limiter: GuestLimiter::new(self.config.max_memory_bytes),
            cpu_exceeded: false,
            host,
        };
        let mut store = Store::new(&self.orchestrator_engine, state);
        store.limiter(|state| &mut state.limiter);
        let budget =
            (self.config.orchestrator_episode_cpu.as_nanos() / self.config.epoch_tick.as_nanos().max(1)).max(1) as u64;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut store| {
            let used = observed.episode_ticks.fetch_add(1, Ordering::Relaxed) + 1;
            if used > budget {
                store.data_mut().cpu_exceeded = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    pub(crate) async fn list_orchestrators(
        &self,
        pre: &OrchestratorPre<OrchestratorState>,
    ) -> wasmtime::Result<Vec<String>> {
        let mut store = self.orchestrator_store("listing", 0, GuestObserved::new(), Box::new(ListingHost));
        let instance = pre.instantiate_async(&mut store).await?;
        instance.reprise_durable_orchestrators().call_names(&mut store).await
    }

    /// Instantiates `component`'s orchestrators in a fresh sandbox and calls their `names`
    /// export: the smallest complete trip into a guest (a new store, an instance from the
    /// pre-instantiated component, one call), which is what an instance that is not cached pays
    /// before its replay. Benchmarks time it; hosts have no other use for it.
    pub async fn orchestrator_names(&self, component: &LoadedComponent) -> Result<Vec<String>, GuestError> {
        let Some(pre) = &component.orchestrator_pre else {
            return Err(GuestError::NoSuchFunction(format!(
                "component {} ({}) exports no orchestrators",
                component.hash, component.source
            )));
        };
        self.list_orchestrators(pre).await.map_err(|e| GuestError::Instantiate(format!("{e:#}")))
    }

    /// Runs an orchestrator to its end: its output or failure, or how the guest was stopped.
    pub async fn run_orchestrator(
        &self,
        component: &LoadedComponent,
        invocation: OrchestratorInvocation,
        host: Box<dyn OrchestrationHost>,
    ) -> Result<Result<String, Failure>, GuestError> {
        let Some(pre) = &component.orchestrator_pre else {
            return Err(GuestError::NoSuchFunction(format!(
                "component {} ({}) exports no orchestrators",
                component.hash, component.source
            )));
        };
        let label = format!("{}:{}", invocation.name, invocation.instance_id);
        let observed = invocation.observed.clone();
        let mut store = self.orchestrator_store(&label, invocation.seed, invocation.observed, host);
        let instance = match pre.instantiate_async(&mut store).await {
            Ok(instance) => instance,
            // The guest asked for more memory than it may have: its own doing.
            Err(e) if store.data().limiter.memory_exceeded => {
                return Err(GuestError::MemoryLimit(format!(
                    "orchestrator '{}' needs more memory than the limit of {} MiB to start: {e:#}",
                    invocation.name,
                    self.config.max_memory_bytes / (1024 * 1024)
                )));
            }
            Err(e) => {
                return Err(GuestError::Instantiate(format!(
                    "instantiating orchestrator '{}': {e:#}",
                    invocation.name
                )));
            }
        };
        let result =
            instance.reprise_durable_orchestrators().call_run(&mut store, &invocation.name, &invocation.input).await;
        match result {
            Ok(outcome) => Ok(outcome.map_err(Failure::from)),
            Err(error) => {
                let state = store.data();
                let (cause, detail) = if state.limiter.memory_exceeded {
                    (StopCause::Memory, format!("{} MiB", self.config.max_memory_bytes / (1024 * 1024)))
                } else if state.cpu_exceeded {
                    (StopCause::Cpu, format!("{:?}", self.config.orchestrator_episode_cpu))
                } else {
                    (StopCause::Other, String::new())
                };
                let what = format!("orchestrator '{}'", invocation.name);
                Err(classify(error, cause, &what, &detail, &observed.stderr_tail()))
            }
        }
    }
}
