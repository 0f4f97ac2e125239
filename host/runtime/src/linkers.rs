//! The linkers of each kind of guest, and a component's pre-instantiation for each.
//!
//! A kind's base linker has WASI (the deterministic one for orchestrators and entities, whose
//! clocks and random sources the store's WASI context makes virtual) and its own host interface,
//! projected from the [`GuestState`] onto the interface's context. Per component, the host
//! interfaces of the other kinds that it imports (an `app` component imports all three) are
//! defined as traps ([`crate::foreign`]): a guest that calls the wrong one fails with a clear
//! error instead of a link error. Listing a component's exports uses the same mechanism, with
//! every host interface foreign: a guest that calls the host while it is listed traps.
//!
//! This module owns which interfaces each kind links; it never runs a guest.

use crate::activity::ActivityInvocation;
use crate::bindings::activity::{Activity, ActivityPre};
use crate::bindings::entity::{Entity, EntityPre};
use crate::bindings::orchestrator::{Orchestrator, OrchestratorPre};
use crate::entity::OperationContext;
use crate::error::{HostEnd, trap};
use crate::foreign;
use crate::orchestration::OrchestrationSession;
use crate::state::GuestState;
use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker, Resource};
use wasmtime_wasi::p2::DynPollable;

/// A component's own store data while it lists its exports: no host interface.
pub(crate) type Listing = ();

/// The base linkers of every kind.
pub(crate) struct Linkers {
    orchestrator: Linker<GuestState<OrchestrationSession>>,
    entity: Linker<GuestState<OperationContext>>,
    activity: Linker<GuestState<ActivityInvocation>>,
    /// WASI only, on the deterministic engine and on the activity engine.
    listing_deterministic: Linker<GuestState<Listing>>,
    listing_activity: Linker<GuestState<Listing>>,
}

/// The monotonic clock interface of the WASI version the linkers provide.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

impl Linkers {
    /// The linkers over the two engines.
    pub(crate) fn new(deterministic: &Engine, activities: &Engine) -> anyhow::Result<Self> {
        let mut orchestrator: Linker<GuestState<OrchestrationSession>> = Linker::new(deterministic);
        wasmtime_wasi::p2::add_to_linker_async(&mut orchestrator)?;
        Orchestrator::add_to_linker::<_, HasSelf<OrchestrationSession>>(&mut orchestrator, |state| &mut state.kind)?;
        forbid_sleeping(&mut orchestrator)?;

        let mut entity: Linker<GuestState<OperationContext>> = Linker::new(deterministic);
        wasmtime_wasi::p2::add_to_linker_async(&mut entity)?;
        Entity::add_to_linker::<_, HasSelf<OperationContext>>(&mut entity, |state| &mut state.kind)?;

        let mut activity: Linker<GuestState<ActivityInvocation>> = Linker::new(activities);
        wasmtime_wasi::p2::add_to_linker_async(&mut activity)?;
        Activity::add_to_linker::<_, HasSelf<ActivityInvocation>>(&mut activity, |state| &mut state.kind)?;

        let mut listing_deterministic: Linker<GuestState<Listing>> = Linker::new(deterministic);
        wasmtime_wasi::p2::add_to_linker_async(&mut listing_deterministic)?;
        let mut listing_activity: Linker<GuestState<Listing>> = Linker::new(activities);
        wasmtime_wasi::p2::add_to_linker_async(&mut listing_activity)?;
        Ok(Linkers { orchestrator, entity, activity, listing_deterministic, listing_activity })
    }

    /// `component` pre-instantiated for orchestrators: the activity and entity interfaces trap.
    pub(crate) fn orchestrator(
        &self,
        component: &Component,
    ) -> wasmtime::Result<OrchestratorPre<GuestState<OrchestrationSession>>> {
        let foreign = [foreign::ACTIVITY_CONTEXT, foreign::ENTITY_CONTEXT];
        let linker = foreign::linker_for(&self.orchestrator, component, &foreign, "an orchestrator")?;
        OrchestratorPre::new(linker.instantiate_pre(component)?)
    }

    /// `component` pre-instantiated for entities: the orchestration and activity interfaces trap.
    pub(crate) fn entity(&self, component: &Component) -> wasmtime::Result<EntityPre<GuestState<OperationContext>>> {
        let foreign = [foreign::ORCHESTRATION, foreign::ACTIVITY_CONTEXT];
        let linker = foreign::linker_for(&self.entity, component, &foreign, "an entity")?;
        EntityPre::new(linker.instantiate_pre(component)?)
    }

    /// `component` pre-instantiated for activities: the orchestration and entity interfaces trap.
    pub(crate) fn activity(
        &self,
        component: &Component,
    ) -> wasmtime::Result<ActivityPre<GuestState<ActivityInvocation>>> {
        let foreign = [foreign::ORCHESTRATION, foreign::ENTITY_CONTEXT];
        let linker = foreign::linker_for(&self.activity, component, &foreign, "an activity")?;
        ActivityPre::new(linker.instantiate_pre(component)?)
    }

    /// `component` pre-instantiated for listing its exports (every host interface traps), on
    /// the deterministic engine (`deterministic`) or the activity engine.
    pub(crate) fn listing(
        &self,
        component: &Component,
        deterministic: bool,
    ) -> wasmtime::Result<wasmtime::component::InstancePre<GuestState<Listing>>> {
        let base = if deterministic { &self.listing_deterministic } else { &self.listing_activity };
        let linker = foreign::linker_for(base, component, &foreign::ALL, "a component listing its exports")?;
        linker.instantiate_pre(component)
    }
}

/// Replaces the monotonic clock's timers with traps. Logical time stands still within an
/// episode, and a real sleep would hold the episode (and an orchestration slot) for nothing: an
/// orchestrator waits with a durable timer.
fn forbid_sleeping(linker: &mut Linker<GuestState<OrchestrationSession>>) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    for name in ["subscribe-duration", "subscribe-instant"] {
        clock.func_wrap(name, |_store, (_time,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            Err(trap(HostEnd::Refused(
                "an orchestrator cannot sleep or wait on the clock (its time only moves between episodes); use a \
                 durable timer (ctx.timer) instead"
                    .into(),
            )))
        })?;
    }
    linker.allow_shadowing(false);
    Ok(())
}
