//! The host interfaces a component imports for another kind of guest.
//!
//! A component built for the `app` world (what the Rust SDK builds) imports the orchestration,
//! activity-context and entity-context interfaces together, and each sandbox provides only its
//! own. The others are defined, per component, as functions that trap with a message naming the
//! interface and the function: instantiation succeeds, and a guest that calls the wrong one (an
//! activity asking for an orchestrator's timer) fails with a clear error instead of a link error.
//!
//! (`Linker::define_unknown_imports_as_traps` would be shorter, but it matches names exactly and
//! would shadow the WASI interfaces a guest imports at an older 0.2 version, which the linker
//! otherwise serves by semver.) This module never decides which interfaces a sandbox owns: its
//! callers pass the foreign ones.

use crate::error::{HostEnd, trap};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};

/// The orchestrators' host interface.
pub(crate) const ORCHESTRATION: &str = "reprise:durable/orchestration@";
/// The activities' host interface.
pub(crate) const ACTIVITY_CONTEXT: &str = "reprise:durable/activity-context@";
/// The entities' host interface.
pub(crate) const ENTITY_CONTEXT: &str = "reprise:durable/entity-context@";
/// Every host interface of `reprise:durable`: what a component listing its exports may not call.
pub(crate) const ALL: [&str; 3] = [ORCHESTRATION, ACTIVITY_CONTEXT, ENTITY_CONTEXT];

/// A copy of `base` in which every function of the interfaces `component` imports whose names
/// start with one of `foreign` traps, saying that `guest` (for example "an activity") called it.
pub(crate) fn linker_for<T: 'static>(
    base: &Linker<T>,
    component: &Component,
    foreign: &[&str],
    guest: &str,
) -> wasmtime::Result<Linker<T>> {
    let mut linker = base.clone();
    let engine = component.engine();
    let ty = component.component_type();
    for (name, import) in ty.imports(engine) {
        let ComponentItem::ComponentInstance(instance) = import.ty else { continue };
        if !foreign.iter().any(|prefix| name.starts_with(prefix)) {
            continue;
        }
        let mut defined = linker.instance(name)?;
        for (function, export) in instance.exports(engine) {
            if let ComponentItem::ComponentFunc(_) = export.ty {
                let message = format!("{guest} called {name}#{function}, which is not for it");
                defined.func_new(function, move |_store, _ty, _params, _results| {
                    Err(trap(HostEnd::Refused(message.clone())))
                })?;
            }
        }
    }
    Ok(linker)
}
