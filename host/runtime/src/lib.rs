//! The wasm runtime of Reprise: wasmtime engines, loaded components, the deterministic sandbox
//! orchestrators and entities run in, the capability-limited sandbox activities run in, and resource limits.
//!
//! It owns everything that touches wasmtime, so that no other crate compiles it but the ones that
//! link this one. It runs a guest function when asked and reports how it ended; it never decides
//! what an episode is, never reads or writes the history store, and never interprets the
//! orchestration commands a guest issues: those go to the [`OrchestrationHost`] its caller
//! provides.

mod activity;
mod bindings;
mod compile_cache;
mod component;
mod config;
mod entity;
mod error;
mod foreign;
mod limits;
mod orchestrator;
mod pool;
mod trap;
mod virtual_wasi;

pub use activity::{ActivityGrants, ActivityInvocation};
pub use compile_cache::CompileSource;
pub use component::{LoadedComponent, content_hash};
pub use config::RuntimeConfig;
pub use entity::{EntityHost, OperationInvocation, OperationOutcome};
pub use error::{GuestError, LoadError};
pub use orchestrator::{BoxFuture, GuestObserved, OrchestrationHost, OrchestratorInvocation, WaitRequest};
pub use pool::{InstancePools, MAX_POOL_SLOTS, PoolError};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::Engine;

/// The orchestrator's log severity, as declared in the WIT.
pub use bindings::orchestrator::reprise::durable::types::LogLevel;

/// Engines, linkers and limits shared by every guest this host runs.
pub struct Runtime {
    config: RuntimeConfig,
    orchestrator_engine: Engine,
    activity_engine: Engine,
    orchestrator_linker: wasmtime::component::Linker<orchestrator::OrchestratorState>,
    activity_linker: wasmtime::component::Linker<activity::ActivityState>,
    entity_linker: wasmtime::component::Linker<entity::EntityState>,
    compile_cache: Option<compile_cache::CompileCache>,
    ticker_stop: Arc<AtomicBool>,
}

impl Runtime {
    /// Creates the engines and linkers, and starts the epoch ticker that enforces CPU budgets and
    /// timeouts.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        if let Some(pools) = &config.pools {
            pools.check()?;
        }
        let orchestrator_engine = config::orchestrator_engine(&config)?;
        let activity_engine = config::activity_engine(&config)?;
        let orchestrator_linker = orchestrator::linker(&orchestrator_engine)?;
        let activity_linker = activity::linker(&activity_engine)?;
        let entity_linker = entity::linker(&orchestrator_engine)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        limits::start_ticker(
            vec![orchestrator_engine.weak(), activity_engine.weak()],
            config.epoch_tick,
            ticker_stop.clone(),
        );
        let compile_cache = config.compile_cache.clone().map(compile_cache::CompileCache::new);
        Ok(Runtime {
            config,
            orchestrator_engine,
            activity_engine,
            orchestrator_linker,
            activity_linker,
            entity_linker,
            compile_cache,
            ticker_stop,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// How often the epoch ticker ticks: the granularity of CPU budgets and timeouts.
    pub fn epoch_tick(&self) -> Duration {
        self.config.epoch_tick
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
