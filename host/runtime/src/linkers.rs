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
//! Every kind links `wasi:http`, so that a component whose activities make requests loads for
//! its orchestrators and entities too; theirs cannot send one: the outgoing handler traps,
//! saying that the request belongs in an activity.
//!
//! This module owns which interfaces each kind links; it never runs a guest.

use crate::activity::ActivityInvocation;
use crate::bindings::activity::{Activity, ActivityPre};
use crate::bindings::entity::{Entity, EntityPre};
use crate::bindings::orchestrator::{Orchestrator, OrchestratorPre};
use crate::bindings::update_validator::UpdateValidatorPre;
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
/// The outgoing HTTP interface of the `wasi:http` version the linkers provide.
const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler@0.2.12";

/// WASI and `wasi:http`, over `engine`.
fn wasi_linker<K: Send + 'static>(engine: &Engine) -> anyhow::Result<Linker<GuestState<K>>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    Ok(linker)
}

impl Linkers {
    /// The linkers over the two engines.
    pub(crate) fn new(deterministic: &Engine, activities: &Engine) -> anyhow::Result<Self> {
        let mut orchestrator = wasi_linker::<OrchestrationSession>(deterministic)?;
        Orchestrator::add_to_linker::<_, HasSelf<OrchestrationSession>>(&mut orchestrator, |state| &mut state.kind)?;
        forbid_sleeping(&mut orchestrator)?;
        forbid_http(&mut orchestrator, "an orchestrator")?;

        let mut entity = wasi_linker::<OperationContext>(deterministic)?;
        Entity::add_to_linker::<_, HasSelf<OperationContext>>(&mut entity, |state| &mut state.kind)?;
        forbid_http(&mut entity, "an entity")?;

        let mut activity = wasi_linker::<ActivityInvocation>(activities)?;
        Activity::add_to_linker::<_, HasSelf<ActivityInvocation>>(&mut activity, |state| &mut state.kind)?;

        let mut listing_deterministic = wasi_linker::<Listing>(deterministic)?;
        forbid_http(&mut listing_deterministic, "a component listing its exports")?;
        let mut listing_activity = wasi_linker::<Listing>(activities)?;
        forbid_http(&mut listing_activity, "a component listing its exports")?;
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

    /// `component` pre-instantiated for validating updates, on the deterministic engine: every
    /// host interface traps (a validator only reads its arguments).
    pub(crate) fn update_validator(
        &self,
        component: &Component,
    ) -> wasmtime::Result<UpdateValidatorPre<GuestState<Listing>>> {
        let linker = foreign::linker_for(&self.listing_deterministic, component, &foreign::ALL, "an update validator")?;
        UpdateValidatorPre::new(linker.instantiate_pre(component)?)
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

/// Replaces the outgoing HTTP handler with a trap: `who` must stay without I/O.
fn forbid_http<K: 'static>(linker: &mut Linker<GuestState<K>>, who: &'static str) -> anyhow::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(OUTGOING_HANDLER)?.func_new("handle", move |_store, _ty, _params, _results| {
        Err(trap(HostEnd::Refused(format!(
            "{who} cannot make HTTP requests (it runs without I/O, so that it replays); make the request in an \
             activity, and call the activity"
        ))))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}
