//! The wasm runtime of Reprise: wasmtime engines, loaded components, the deterministic sandbox
//! orchestrators and entities run in, the capability-limited sandbox activities run in, and resource limits.
//!
//! It owns everything that touches wasmtime, so that no other crate compiles it but the ones that
//! link this one. It runs a guest function when asked and reports how it ended; it never decides
//! what an episode is or writes, and never reads or writes the history store.
//!
//! | module | owns |
//! |---|---|
//! | `bindings` | the bindings generated from `wit/durable.wit`, and the conversions of their types |
//! | `state` | the one store data type of every guest, projected onto each host interface's context |
//! | `orchestration` | the `orchestration` interface, answered by the replay engine ([`OrchestrationSession`]) |
//! | `activity` | the activity sandbox (grants, WASI) and the `activity-context` interface |
//! | `entity` | the `entity-context` interface, and the effects an operation asks for |
//! | `linkers` | which interfaces each kind links, a component's pre-instantiation for each (`foreign`: the others' as traps) |
//! | `guest` | the one guest runner: stores, limits, instantiation, the call, classification |
//! | `component` | loading: compiling (through `compile_cache`), checking what it exports, listing its names |
//! | `virtual_wasi`, `observed` | the deterministic WASI of orchestrators and entities, and what it shares with the host |
//! | `error`, `trap` | how a guest call ends, in words a user can act on |
//! | `config`, `limits`, `pool` | engines, limits, instance pools |
//!
//! Each host interface is implemented once, by the generated trait on its context type: no
//! interface is restated by hand.

mod activity;
mod bindings;
mod compile_cache;
mod component;
mod config;
mod entity;
mod error;
mod foreign;
mod guest;
pub mod http;
mod limits;
mod linkers;
mod observed;
mod orchestration;
mod pool;
mod state;
mod trap;
mod virtual_wasi;

pub use activity::{ActivityGrants, ActivityInvocation, AttemptLimits};
pub use compile_cache::CompileSource;
pub use component::{LoadedComponent, content_hash};
pub use config::RuntimeConfig;
pub use entity::{OperationInvocation, OperationOutcome};
pub use error::{GuestError, LoadError};
pub use guest::{ActivityRun, OrchestratorInvocation, UpdateCheck};
pub use observed::GuestObserved;
pub use orchestration::{Delivery, GuestLog, OrchestrationSession, Yield};
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
    linkers: linkers::Linkers,
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
        let linkers = linkers::Linkers::new(&orchestrator_engine, &activity_engine)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        limits::start_ticker(
            vec![orchestrator_engine.weak(), activity_engine.weak()],
            config.epoch_tick,
            ticker_stop.clone(),
        );
        let compile_cache = config.compile_cache.clone().map(compile_cache::CompileCache::new);
        Ok(Runtime { config, orchestrator_engine, activity_engine, linkers, compile_cache, ticker_stop })
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

impl Runtime {
    /// Epoch ticks in `duration`, at least one.
    pub(crate) fn ticks(&self, duration: Duration) -> u64 {
        (duration.as_nanos() / self.config.epoch_tick.as_nanos().max(1)).max(1) as u64
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
