//! The one store data type of every guest, [`GuestState`]: the WASI context and resource table,
//! the memory limiter, the flags the runtime reads to say why a guest was stopped, and the
//! context of the guest's own host interface (`kind`: an orchestration session, an activity's
//! invocation, an entity operation's context, or nothing while a component lists its exports).
//!
//! Each generated host trait is implemented once, on its context type (see `orchestration`,
//! `activity`, `entity`); the linkers project a `GuestState` onto it, as wasmtime-wasi's
//! `WasiView` projects onto its context. This module owns the store data and never implements
//! a host interface itself.

use crate::limits::GuestLimiter;
use crate::observed::GuestObserved;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// See the module docs.
pub(crate) struct GuestState<K> {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: GuestLimiter,
    /// Set by the epoch callback when the guest ran past its CPU budget.
    pub(crate) cpu_exceeded: bool,
    /// Set by the epoch callback when an activity ran past its timeout.
    pub(crate) timed_out: bool,
    /// The context of the guest's own host interface.
    pub(crate) kind: K,
}

impl<K> GuestState<K> {
    /// The state of a guest with this WASI context, memory limit and interface context.
    pub(crate) fn new(wasi: WasiCtx, max_memory: usize, kind: K) -> Self {
        GuestState {
            wasi,
            table: ResourceTable::new(),
            limiter: GuestLimiter::new(max_memory),
            cpu_exceeded: false,
            timed_out: false,
            kind,
        }
    }
}

impl<K: Send + 'static> WasiView for GuestState<K> {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// How a guest's CPU is bounded, in epoch ticks.
pub(crate) enum Deadline {
    /// A budget per episode: the ticks are counted in `observed`, which each episode resets.
    Episode(u64, Arc<GuestObserved>),
    /// A budget for the whole call.
    Call(u64),
    /// A timeout for the whole call, if any: past it the call is stopped.
    Timeout(Option<u64>),
}

/// A store over `engine` for `state`, with its memory limit and `deadline`.
pub(crate) fn store<K: Send + 'static>(
    engine: &Engine,
    state: GuestState<K>,
    deadline: Deadline,
) -> Store<GuestState<K>> {
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.set_epoch_deadline(1);
    let mut used = 0u64;
    store.epoch_deadline_callback(move |mut store| {
        let over = match &deadline {
            Deadline::Episode(budget, observed) => observed.tick() > *budget,
            Deadline::Call(budget) => {
                used += 1;
                used > *budget
            }
            Deadline::Timeout(limit) => {
                used += 1;
                limit.is_some_and(|limit| used > limit)
            }
        };
        if over {
            let state = store.data_mut();
            match deadline {
                Deadline::Timeout(_) => state.timed_out = true,
                _ => state.cpu_exceeded = true,
            }
            return Ok(UpdateDeadline::Interrupt);
        }
        // A long computation yields to the async executor, so one guest cannot starve others.
        Ok(UpdateDeadline::Yield(1))
    });
    store
}
