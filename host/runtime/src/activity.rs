//! The activity sandbox: real WASI (real clocks and random), but with nothing granted unless the
//! host's configuration grants it: no environment, no directories, no network by default.

use crate::Runtime;
use crate::bindings::activity::reprise::durable::activity_context;
use crate::bindings::activity::{Activity, ActivityPre};
use crate::component::LoadedComponent;
use crate::error::{GuestError, StopCause, classify};
use crate::foreign;
use crate::limits::GuestLimiter;
use crate::orchestrator::GuestObserved;
use crate::virtual_wasi::{LogStream, StreamKind};
use reprise_core::Failure;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

/// The capabilities granted to activities. The default grants nothing.
#[derive(Debug, Clone, Default)]
pub struct ActivityGrants {
    /// Environment variables the activity sees.
    pub env: Vec<(String, String)>,
    /// Host directories the activity may open: (host path, path the guest sees, read-only).
    pub dirs: Vec<(PathBuf, String, bool)>,
    /// Whether the activity may open TCP/UDP sockets and resolve names.
    pub network: bool,
}

/// One activity attempt to run.
#[derive(Debug, Clone)]
pub struct ActivityInvocation {
    /// The activity's name.
    pub name: String,
    /// Its JSON input.
    pub input: String,
    /// The instance that scheduled it.
    pub instance_id: String,
    /// Its task handle.
    pub task_id: u64,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// Stable across attempts of this task.
    pub idempotency_key: String,
    /// Stop the attempt after this long.
    pub timeout: Option<Duration>,
}

/// The store data of an activity.
pub(crate) struct ActivityState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: GuestLimiter,
    pub(crate) timed_out: bool,
    invocation: ActivityInvocation,
}

impl WasiView for ActivityState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl crate::bindings::orchestrator::reprise::durable::types::Host for ActivityState {}

impl activity_context::Host for ActivityState {
    async fn instance_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.invocation.instance_id.clone())
    }

    async fn task_id(&mut self) -> wasmtime::Result<u64> {
        Ok(self.invocation.task_id)
    }

    async fn attempt(&mut self) -> wasmtime::Result<u32> {
        Ok(self.invocation.attempt)
    }

    async fn idempotency_key(&mut self) -> wasmtime::Result<String> {
        Ok(self.invocation.idempotency_key.clone())
    }
}

/// The base linker: WASI, the activity-context interface, and the orchestration interface of
/// the `app` world, whose every call traps (only orchestrators may schedule durable work).
pub(crate) fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<ActivityState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    Activity::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// Pre-instantiates a component for activities. The orchestration and entity-context
/// interfaces an `app` component also imports trap if the activity calls them.
pub(crate) fn pre_instantiate(
    base: &Linker<ActivityState>,
    component: &Component,
) -> wasmtime::Result<ActivityPre<ActivityState>> {
    let foreign = [foreign::ORCHESTRATION, foreign::ENTITY_CONTEXT];
    let linker = foreign::linker_for(base, component, &foreign, "an activity")?;
    ActivityPre::new(linker.instantiate_pre(component)?)
}

impl Runtime {
    fn activity_store(
        &self,
        invocation: ActivityInvocation,
        grants: &ActivityGrants,
        observed: Arc<GuestObserved>,
    ) -> wasmtime::Result<Store<ActivityState>> {
        observed.limit_output(self.config.max_guest_output_bytes);
        let label: Arc<str> =
            Arc::from(format!("{}:{}#{}", invocation.name, invocation.instance_id, invocation.task_id));
        let stream = |kind| LogStream { kind, label: label.clone(), observed: observed.clone() };
        let mut builder = WasiCtx::builder();
        builder.stdout(stream(StreamKind::Stdout)).stderr(stream(StreamKind::Stderr));
        for (key, value) in &grants.env {
            builder.env(key, value);
        }
        for (host, guest, read_only) in &grants.dirs {
            let perms = if *read_only { FsPerms::ReadOnly } else { FsPerms::ReadWrite };
            builder.preopened_dir(host, guest, perms)?;
        }
        if grants.network {
            // The address check alone is not enough: TCP and UDP are off until allowed.
            builder.inherit_network().allow_tcp(true).allow_udp(true).allow_ip_name_lookup(true);
        } else {
            builder.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        }
        let timeout_ticks = invocation
            .timeout
            .map(|timeout| (timeout.as_nanos() / self.config.epoch_tick.as_nanos().max(1)).max(1) as u64);
        let state = ActivityState {
            wasi: builder.build(),
            table: ResourceTable::new(),
            limiter: GuestLimiter::new(self.config.max_memory_bytes),
            timed_out: false,
            invocation,
        };
        let mut store = Store::new(&self.activity_engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        let mut ticks = 0u64;
        store.epoch_deadline_callback(move |mut store| {
            ticks += 1;
            if timeout_ticks.is_some_and(|limit| ticks > limit) {
                store.data_mut().timed_out = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(store)
    }

    pub(crate) async fn list_activities(&self, pre: &ActivityPre<ActivityState>) -> wasmtime::Result<Vec<String>> {
        let invocation = ActivityInvocation {
            name: String::new(),
            input: String::new(),
            instance_id: String::new(),
            task_id: 0,
            attempt: 0,
            idempotency_key: String::new(),
            timeout: None,
        };
        let mut store = self.activity_store(invocation, &ActivityGrants::default(), GuestObserved::new())?;
        let instance = pre.instantiate_async(&mut store).await?;
        instance.reprise_durable_activities().call_names(&mut store).await
    }

    /// Runs one activity attempt: its output or failure, or how the guest was stopped.
    pub async fn run_activity(
        &self,
        component: &LoadedComponent,
        invocation: ActivityInvocation,
        grants: &ActivityGrants,
    ) -> Result<Result<String, Failure>, GuestError> {
        let Some(pre) = &component.activity_pre else {
            return Err(GuestError::NoSuchFunction(format!(
                "component {} ({}) exports no activities",
                component.hash, component.source
            )));
        };
        let observed = GuestObserved::new();
        observed.start_episode(0, false);
        let what = format!("activity '{}'", invocation.name);
        let timeout = invocation.timeout;
        let (name, input) = (invocation.name.clone(), invocation.input.clone());
        let mut store = self
            .activity_store(invocation, grants, observed.clone())
            .map_err(|e| GuestError::Sandbox(format!("preparing the sandbox of {what}: {e:#}")))?;
        let instance = match pre.instantiate_async(&mut store).await {
            Ok(instance) => instance,
            Err(e) if store.data().limiter.memory_exceeded => {
                return Err(GuestError::MemoryLimit(format!(
                    "{what} needs more memory than the limit of {} MiB to start: {e:#}",
                    self.config.max_memory_bytes / (1024 * 1024)
                )));
            }
            Err(e) => return Err(GuestError::Instantiate(format!("instantiating {what}: {e:#}"))),
        };
        let call = instance.reprise_durable_activities().call_run(&mut store, &name, &input);
        // Epochs stop wasm code that runs past the timeout; this stops a guest that waits past it
        // inside a host call (a sleep, a socket), which epochs cannot reach. Dropping the call
        // drops the guest with it.
        let result = match timeout {
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(GuestError::Timeout(format!(
                        "{what} ran past its timeout of {limit:?} and was stopped"
                    )));
                }
            },
            None => call.await,
        };
        match result {
            Ok(outcome) => Ok(outcome.map_err(Failure::from)),
            Err(error) => {
                let state = store.data();
                let (cause, detail) = if state.limiter.memory_exceeded {
                    (StopCause::Memory, format!("{} MiB", self.config.max_memory_bytes / (1024 * 1024)))
                } else if state.timed_out {
                    (StopCause::Timeout, format!("{:?}", timeout.unwrap_or_default()))
                } else {
                    (StopCause::Other, String::new())
                };
                Err(classify(error, cause, &what, &detail, &observed.stderr_tail()))
            }
        }
    }
}
