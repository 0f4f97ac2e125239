//! The entity sandbox: the orchestrators' deterministic WASI (logical clock, seeded random, no
//! environment, files or network) plus the `entity-context` interface, which forwards every
//! effect to the caller's [`EntityHost`].
//!
//! Each operation runs in a fresh instance of the component: an operation is then a function of
//! the entity's state, its input, its logical time and its seed alone, whatever ran before it in
//! the same batch (a guest cannot keep anything in globals between operations), and a trap in one
//! operation cannot leave the next one a broken instance. With pre-instantiation a fresh instance
//! costs tens of microseconds for a Rust guest.
//!
//! The runtime never decides what an operation's effects mean: the host collects them, and keeps
//! or discards them with the operation's outcome.

use crate::LogLevel;
use crate::Runtime;
use crate::bindings::WitEntityId;
use crate::bindings::entity::reprise::durable::entity_context;
use crate::bindings::entity::{Entity, EntityPre};
use crate::component::LoadedComponent;
use crate::error::{GuestError, StopCause, classify};
use crate::foreign;
use crate::limits::GuestLimiter;
use crate::orchestrator::{GuestObserved, checked_entity, trap};
use crate::virtual_wasi::deterministic_wasi;
use reprise_core::{EntityId, Failure};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The host side of the `entity-context` interface, provided by whoever runs the operation (the
/// executor). An `Err` ends the operation with a trap, reported as [`GuestError::Host`].
pub trait EntityHost: Send + 'static {
    /// A deterministic UUID.
    fn new_guid(&mut self) -> String;
    /// A log line from the guest.
    fn log(&mut self, level: LogLevel, message: String);
    /// Sends an operation to an entity once the current operation commits.
    fn signal_entity(&mut self, entity: EntityId, operation: String, input: String) -> anyhow::Result<()>;
    /// Starts an orchestration once the current operation commits; returns its instance id.
    fn start_orchestration(
        &mut self,
        name: String,
        input: String,
        instance_id: Option<String>,
    ) -> anyhow::Result<String>;
}

/// One entity operation to run.
pub struct OperationInvocation {
    /// The entity it runs on.
    pub entity: EntityId,
    /// The operation's name.
    pub operation: String,
    /// Its JSON input.
    pub input: String,
    /// The entity's current state, if it has one.
    pub state: Option<String>,
    /// The logical time the guest's clocks read.
    pub now_ms: u64,
    /// The seed of the guest's random sources (the same for a rerun of the same operation).
    pub seed: u64,
}

/// What an operation that succeeded returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationOutcome {
    /// The entity's new state; `None` deletes it.
    pub state: Option<String>,
    /// The operation's output.
    pub output: String,
}

/// The store data of an entity operation.
pub(crate) struct EntityState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: GuestLimiter,
    cpu_exceeded: Arc<AtomicBool>,
    entity: EntityId,
    now_ms: u64,
    host: Box<dyn EntityHost>,
}

impl WasiView for EntityState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl crate::bindings::orchestrator::reprise::durable::types::Host for EntityState {}

impl entity_context::Host for EntityState {
    async fn id(&mut self) -> wasmtime::Result<WitEntityId> {
        Ok(self.entity.clone().into())
    }

    async fn current_time(&mut self) -> wasmtime::Result<u64> {
        Ok(self.now_ms)
    }

    async fn new_guid(&mut self) -> wasmtime::Result<String> {
        Ok(self.host.new_guid())
    }

    async fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.host.log(level, message);
        Ok(())
    }

    async fn signal_entity(&mut self, entity: WitEntityId, operation: String, input: String) -> wasmtime::Result<()> {
        let entity = checked_entity(entity)?;
        self.host.signal_entity(entity, operation, input).map_err(trap)
    }

    async fn start_orchestration(
        &mut self,
        name: String,
        input: String,
        instance_id: Option<String>,
    ) -> wasmtime::Result<String> {
        self.host.start_orchestration(name, input, instance_id).map_err(trap)
    }
}

/// The entity linker: deterministic WASI and the entity context. An `app` component also
/// imports the orchestration and activity-context interfaces; for an entity those are defined
/// per component as traps (see [`pre_instantiate`]).
pub(crate) fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<EntityState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Entity::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// Pre-instantiates a component for entities. The orchestration and activity-context
/// interfaces an `app` component also imports trap if an operation calls them.
pub(crate) fn pre_instantiate(
    base: &Linker<EntityState>,
    component: &Component,
) -> wasmtime::Result<EntityPre<EntityState>> {
    let linker =
        foreign::linker_for(base, component, &[foreign::ORCHESTRATION, foreign::ACTIVITY_CONTEXT], "an entity")?;
    EntityPre::new(linker.instantiate_pre(component)?)
}

/// The host used while listing a component's entity types: the guest must not call it then.
struct ListingHost;

impl EntityHost for ListingHost {
    fn new_guid(&mut self) -> String {
        String::new()
    }
    fn log(&mut self, _level: LogLevel, _message: String) {}
    fn signal_entity(&mut self, _entity: EntityId, _operation: String, _input: String) -> anyhow::Result<()> {
        anyhow::bail!("an entity may not signal while the host lists its exports")
    }
    fn start_orchestration(&mut self, _: String, _: String, _: Option<String>) -> anyhow::Result<String> {
        anyhow::bail!("an entity may not start orchestrations while the host lists its exports")
    }
}

impl Runtime {
    fn entity_store(
        &self,
        invocation: &OperationInvocation,
        observed: &Arc<GuestObserved>,
        host: Box<dyn EntityHost>,
    ) -> Store<EntityState> {
        observed.limit_output(self.config.max_guest_output_bytes);
        observed.start_episode(invocation.now_ms, false);
        let label = format!("{}:{}", invocation.entity, invocation.operation);
        let cpu_exceeded = Arc::new(AtomicBool::new(false));
        let state = EntityState {
            wasi: deterministic_wasi(&label, invocation.seed, observed),
            table: ResourceTable::new(),
            limiter: GuestLimiter::new(self.config.max_memory_bytes),
            cpu_exceeded: cpu_exceeded.clone(),
            entity: invocation.entity.clone(),
            now_ms: invocation.now_ms,
            host,
        };
        let mut store = Store::new(&self.orchestrator_engine, state);
        store.limiter(|state| &mut state.limiter);
        // An operation gets the CPU budget of an orchestrator's episode.
        let budget =
            (self.config.orchestrator_episode_cpu.as_nanos() / self.config.epoch_tick.as_nanos().max(1)).max(1) as u64;
        let mut used = 0u64;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_store| {
            used += 1;
            if used > budget {
                cpu_exceeded.store(true, Ordering::Relaxed);
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }

    pub(crate) async fn list_entities(&self, pre: &EntityPre<EntityState>) -> wasmtime::Result<Vec<String>> {
        let invocation = OperationInvocation {
            entity: EntityId { name: "listing".into(), key: "listing".into() },
            operation: String::new(),
            input: String::new(),
            state: None,
            now_ms: 0,
            seed: 0,
        };
        let mut store = self.entity_store(&invocation, &GuestObserved::new(), Box::new(ListingHost));
        let instance = pre.instantiate_async(&mut store).await?;
        instance.reprise_durable_entities().call_names(&mut store).await
    }

    /// Runs one operation on a fresh instance: its outcome or failure, or how the guest was
    /// stopped (then the operation failed, and the state is unchanged).
    pub async fn run_entity_operation(
        &self,
        component: &LoadedComponent,
        invocation: OperationInvocation,
        host: Box<dyn EntityHost>,
    ) -> Result<Result<OperationOutcome, Failure>, GuestError> {
        let Some(pre) = &component.entity_pre else {
            return Err(GuestError::NoSuchFunction(format!(
                "component {} ({}) exports no entities",
                component.hash, component.source
            )));
        };
        let observed = GuestObserved::new();
        let mut store = self.entity_store(&invocation, &observed, host);
        let what = format!("operation '{}' on entity {}", invocation.operation, invocation.entity);
        let instance = match pre.instantiate_async(&mut store).await {
            Ok(instance) => instance,
            Err(e) if store.data().limiter.memory_exceeded => {
                return Err(GuestError::MemoryLimit(format!(
                    "entity {} needs more memory than the limit of {} MiB to start: {e:#}",
                    invocation.entity,
                    self.config.max_memory_bytes / (1024 * 1024)
                )));
            }
            Err(e) => {
                return Err(GuestError::Instantiate(format!("instantiating entity {}: {e:#}", invocation.entity)));
            }
        };
        let result = instance
            .reprise_durable_entities()
            .call_run(
                &mut store,
                &invocation.entity.name,
                &invocation.operation,
                &invocation.input,
                invocation.state.as_ref(),
            )
            .await;
        match result {
            Ok(outcome) => Ok(outcome
                .map(|result| OperationOutcome { state: result.state, output: result.output })
                .map_err(Failure::from)),
            Err(error) => {
                let state = store.data();
                let (cause, detail) = if state.limiter.memory_exceeded {
                    (StopCause::Memory, format!("{} MiB", self.config.max_memory_bytes / (1024 * 1024)))
                } else if state.cpu_exceeded.load(Ordering::Relaxed) {
                    (StopCause::Cpu, format!("{:?}", self.config.orchestrator_episode_cpu))
                } else {
                    (StopCause::Other, String::new())
                };
                Err(classify(error, cause, &what, &detail, &observed.stderr_tail()))
            }
        }
    }
}
