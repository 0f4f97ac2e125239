//! Resource limits: the memory limiter every guest store carries, and the epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{EngineWeak, ResourceLimiter};

/// Caps a guest's memory and remembers that it hit the cap, so that the trap it causes can be
/// reported as what it is rather than as a generic fault.
#[derive(Debug)]
pub(crate) struct GuestLimiter {
    max_memory: usize,
    pub(crate) memory_exceeded: bool,
}

impl GuestLimiter {
    pub(crate) fn new(max_memory: usize) -> Self {
        GuestLimiter { max_memory, memory_exceeded: false }
    }
}

impl ResourceLimiter for GuestLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory || maximum.is_some_and(|max| desired > max) {
            self.memory_exceeded = true;
            // Trap rather than return -1 from memory.grow: guests abort on allocation failure
            // anyway, and a trap carries a clear cause.
            wasmtime::bail!("memory limit of {} bytes exceeded (tried to grow to {desired})", self.max_memory);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000 && maximum.is_none_or(|max| desired <= max))
    }
}

/// Starts the thread that advances the engines' epochs every `tick` until `stop` is set or every
/// engine is gone.
pub(crate) fn start_ticker(engines: Vec<EngineWeak>, tick: Duration, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("reprise-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                let mut alive = false;
                for engine in engines.iter().filter_map(EngineWeak::upgrade) {
                    engine.increment_epoch();
                    alive = true;
                }
                if !alive {
                    break;
                }
            }
        })
        .expect("spawning the epoch ticker thread");
}
