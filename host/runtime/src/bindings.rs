//! Host bindings generated from `wit/durable.wit`, one module per world.
//!
//! Every import is async (the orchestrator's waits suspend the guest on its fiber) and trappable
//! (a host call can end the guest: nondeterminism, eviction).

/// Bindings of the `orchestrator` world.
pub(crate) mod orchestrator {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "orchestrator",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// Bindings of the `activity` world, sharing the `types` interface with the orchestrator's.
pub(crate) mod activity {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "activity",
        imports: { default: async | trappable },
        exports: { default: async },
        with: { "reprise:durable/types": super::orchestrator::reprise::durable::types },
    });
}

/// Bindings of the `entity` world, sharing the `types` interface with the orchestrator's.
pub(crate) mod entity {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "entity",
        imports: { default: async | trappable },
        exports: { default: async },
        with: { "reprise:durable/types": super::orchestrator::reprise::durable::types },
    });
}

/// Bindings of the `update-validator` world, sharing the `types` interface with the
/// orchestrator's.
pub(crate) mod update_validator {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "update-validator",
        exports: { default: async },
        with: { "reprise:durable/types": super::orchestrator::reprise::durable::types },
    });
}

use reprise_core::{EntityId, Failure, FailureCause};

pub(crate) type WitEntityId = orchestrator::reprise::durable::types::EntityId;

/// The core form of an entity address a guest gave, checked: a bad one traps with the reason.
pub(crate) fn checked_entity(entity: WitEntityId) -> wasmtime::Result<EntityId> {
    let entity = EntityId::from(entity);
    entity.validate().map_err(|e| crate::error::trap(crate::error::HostEnd::Refused(e.to_string())))?;
    Ok(entity)
}

impl From<WitEntityId> for EntityId {
    fn from(id: WitEntityId) -> Self {
        EntityId { name: id.name, key: id.key }
    }
}

impl From<EntityId> for WitEntityId {
    fn from(id: EntityId) -> Self {
        WitEntityId { name: id.name, key: id.key }
    }
}

pub(crate) type WitFailure = orchestrator::reprise::durable::types::Failure;
pub(crate) type WitCause = orchestrator::reprise::durable::types::FailureCause;

impl From<WitFailure> for Failure {
    fn from(f: WitFailure) -> Self {
        Failure {
            error_type: f.error_type,
            message: f.message,
            details: f.details,
            causes: f
                .causes
                .into_iter()
                .map(|c| FailureCause { error_type: c.error_type, message: c.message, details: c.details })
                .collect(),
        }
    }
}

impl From<Failure> for WitFailure {
    fn from(f: Failure) -> Self {
        WitFailure {
            error_type: f.error_type,
            message: f.message,
            details: f.details,
            causes: f
                .causes
                .into_iter()
                .map(|c| WitCause { error_type: c.error_type, message: c.message, details: c.details })
                .collect(),
        }
    }
}
