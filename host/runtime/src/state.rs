//! The one store data type of every guest, [`GuestState`]: the WASI context and resource table,
//! the memory limiter, the flags the runtime reads to say why a guest was stopped, and the
//! context of the guest's own host interface (`kind`: an orchestration session, an activity's
//! invocation, an entity operation's context, or nothing while a component lists its exports).
//!
//! Each generated host trait is implemented once, on its context type (see `orchestration`,
//! `activity`, `entity`); the linkers project a `GuestState` onto it, as wasmtime-wasi's
//! `WasiView` projects onto its context. This module owns the store data and never implements
//! a host interface itself.

use crate::http::outgoing::NoHttp;
use crate::limits::GuestLimiter;
use crate::observed::GuestObserved;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// See the module docs.
pub(crate) struct GuestState<K> {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    /// What the guest's outgoing requests go through: an activity's grants, or a refusal.
    http_hooks: Box<dyn WasiHttpHooks>,
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
            http: WasiHttpCtx::new(),
            http_hooks: Box::new(NoHttp),
            limiter: GuestLimiter::new(max_memory),
            cpu_exceeded: false,
            timed_out: false,
            kind,
        }
    }
}

impl<K> GuestState<K> {
    /// The same state, its outgoing requests going through `hooks`.
    pub(crate) fn with_http(mut self, hooks: impl WasiHttpHooks + 'static) -> Self {
        self.http_hooks = Box::new(hooks);
        self
    }
}

impl<K: Send + 'static> WasiHttpView for GuestState<K> {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: self.http_hooks.as_mut() }
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
