//! Runtime limits and the two engine configurations.

use crate::pool::{self, InstancePools};
use std::path::PathBuf;
use std::time::Duration;
use wasmtime::{Config, Engine};

/// Limits and knobs of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The most linear memory one guest instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// The most CPU time an orchestrator may use in one episode (replay included) before its
    /// instance fails: a guard against endless loops, measured in epoch ticks.
    pub orchestrator_episode_cpu: Duration,
    /// How often the epoch ticker ticks.
    pub epoch_tick: Duration,
    /// The directory of compiled components (see `compile_cache`): a component loaded again,
    /// in this process or after a restart, skips compilation. `None` compiles every time.
    pub compile_cache: Option<PathBuf>,
    /// How many instances each engine pre-allocates room for (see [`InstancePools`]): size it
    /// from the executor's cache capacity and concurrency (`ExecutorConfig::instance_pools`).
    /// A full pool is not a limit on guests: the instantiation that finds it full fails as
    /// transient, and the executor frees parked instances and tries again. `None` maps every
    /// instance's memory and stack on demand (slower to instantiate, several kernel memory
    /// mappings per parked instance). The default suits the executor's default settings.
    pub pools: Option<InstancePools>,
    /// The most a guest may write to its stdout and stderr (which go to the host's log) in one
    /// episode or attempt; the rest is dropped, with one warning. A guest's output must not fill
    /// the host's disk with log lines.
    pub max_guest_output_bytes: u64,
    /// The largest component the runtime loads, in bytes: compiling one takes memory and time in
    /// proportion to its size (a Python component is about 18 MiB, a JavaScript one 12 MiB).
    pub max_component_bytes: u64,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_memory_bytes: 256 * 1024 * 1024,
            orchestrator_episode_cpu: Duration::from_secs(10),
            epoch_tick: Duration::from_millis(10),
            compile_cache: None,
            pools: Some(InstancePools::default()),
            max_guest_output_bytes: 1024 * 1024,
            max_component_bytes: 128 * 1024 * 1024,
        }
    }
}

fn base_config(pool_slots: Option<u32>) -> Config {
    let mut config = Config::new();
    config.allocation_strategy(pool::strategy(pool_slots));
    // Copy-on-write memory images stay on (wasmtime's default) although each costs a parked
    // instance two more kernel memory mappings: without them every instantiation copies the
    // guest's whole memory image (measured: a Python guest 8.4 ms instead of 1.0 ms, JavaScript
    // 2.0 ms instead of 0.56 ms; a Rust guest the same).
    config.wasm_component_model(true);
    // Epochs bound CPU use (orchestrators) and enforce timeouts (activities), and let a long
    // computation yield to the async executor so one guest cannot starve the others.
    config.epoch_interruption(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config
}

/// The orchestrator engine: everything that could differ between two runs of the same code on
/// different machines is made deterministic.
pub(crate) fn orchestrator_engine(runtime: &RuntimeConfig) -> anyhow::Result<Engine> {
    let mut config = base_config(runtime.pools.map(|pools| pools.deterministic));
    config.cranelift_nan_canonicalization(true);
    config.relaxed_simd_deterministic(true);
    Ok(Engine::new(&config)?)
}

/// The activity engine: ordinary wasm semantics.
pub(crate) fn activity_engine(runtime: &RuntimeConfig) -> anyhow::Result<Engine> {
    Ok(Engine::new(&base_config(runtime.pools.map(|pools| pools.activities)))?)
}
