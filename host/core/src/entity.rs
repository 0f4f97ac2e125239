//! Entity addresses and the operations sent to entities.
//!
//! An entity is a small durable object addressed by its type name and a key. The host keeps
//! its state and runs one operation at a time on it, in the order the operations arrive. It is
//! stored as an instance whose id is [`EntityId::instance_id`] (`@name@key`, as in Durable
//! Functions), so that it shares the inbox, the lock and the crash guarantees of orchestration
//! instances; ids that start with `@` are therefore reserved for entities.

use crate::{Payload, TaskId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The first character of every entity's instance id, which orchestration ids may not use.
pub const ENTITY_ID_PREFIX: char = '@';

/// The address of an entity: its type name and its key within that type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityId {
    /// The entity type's name, as its component exports it (never contains `@`).
    pub name: String,
    /// The key within the type (never empty).
    pub key: String,
}

/// Why a string is not a valid entity address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntityIdError {
    /// The type name is empty.
    #[error("an entity's name cannot be empty")]
    EmptyName,
    /// The type name contains `@`, which separates name and key in the instance id.
    #[error("an entity's name cannot contain '@' (got '{0}')")]
    AtInName(String),
    /// The key is empty.
    #[error("an entity's key cannot be empty")]
    EmptyKey,
    /// An instance id that is not of the form `@name@key`.
    #[error("'{0}' is not an entity id: entity ids have the form @name@key")]
    NotAnEntityId(String),
}

impl EntityId {
    /// A checked entity address.
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Result<Self, EntityIdError> {
        let id = EntityId { name: name.into(), key: key.into() };
        id.validate()?;
        Ok(id)
    }

    /// Checks the rules of [`EntityId::new`] on a value built by hand (or decoded).
    pub fn validate(&self) -> Result<(), EntityIdError> {
        if self.name.is_empty() {
            return Err(EntityIdError::EmptyName);
        }
        if self.name.contains(ENTITY_ID_PREFIX) {
            return Err(EntityIdError::AtInName(self.name.clone()));
        }
        if self.key.is_empty() {
            return Err(EntityIdError::EmptyKey);
        }
        Ok(())
    }

    /// The id of the instance that stores this entity: `@name@key`.
    pub fn instance_id(&self) -> String {
        format!("{ENTITY_ID_PREFIX}{}{ENTITY_ID_PREFIX}{}", self.name, self.key)
    }

    /// Reads an entity's instance id back (`@name@key`; the key may itself contain `@`).
    pub fn from_instance_id(instance_id: &str) -> Result<Self, EntityIdError> {
        let not_one = || EntityIdError::NotAnEntityId(instance_id.to_string());
        let rest = instance_id.strip_prefix(ENTITY_ID_PREFIX).ok_or_else(not_one)?;
        let (name, key) = rest.split_once(ENTITY_ID_PREFIX).ok_or_else(not_one)?;
        EntityId::new(name, key)
    }
}

/// True if `instance_id` names an entity rather than an orchestration.
pub fn is_entity_instance(instance_id: &str) -> bool {
    instance_id.starts_with(ENTITY_ID_PREFIX)
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ENTITY_ID_PREFIX}{}{ENTITY_ID_PREFIX}{}", self.name, self.key)
    }
}

/// Who waits for an entity operation's result: one task of one execution of an orchestration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCaller {
    /// The calling orchestration instance.
    pub instance_id: String,
    /// Its execution that made the call (a result for an older execution is dropped).
    pub execution: u32,
    /// The task that waits for the result.
    pub task_id: TaskId,
}

/// One operation for an entity, as queued in its inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityOperation {
    /// The operation's name (for example `add`).
    pub operation: String,
    /// Its JSON input.
    pub input: Payload,
    /// The orchestration waiting for the result; `None` for a signal (one way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<EntityCaller>,
    /// Sent from inside the caller's critical section: the entity, locked by the caller, runs it
    /// ahead of the operations queued by others.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_critical_section: bool,
}

/// The orchestration execution that holds (or asks for) an entity's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The orchestration instance.
    pub instance_id: String,
    /// Its execution (a new execution holds nothing).
    pub execution: u32,
}

/// A request for the locks of a critical section, as it travels from entity to entity: each
/// entity, in the sorted order of the request, takes its lock for `caller` and sends the request
/// on to the next; the last one tells the caller that all are held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityLockRequest {
    /// The orchestration that asks, and the task that waits for the locks.
    pub caller: EntityCaller,
    /// The entities still to lock after this one, in order.
    pub remaining: Vec<EntityId>,
}

impl EntityCaller {
    /// The lock holder this caller is.
    pub fn holder(&self) -> LockHolder {
        LockHolder { instance_id: self.instance_id.clone(), execution: self.execution }
    }
}

/// The entities whose locks an execution holds or has asked for at the end of `events` (its
/// history, in order): what must be released when it ends.
pub fn locks_held_after<'a>(events: impl IntoIterator<Item = &'a crate::Event>) -> Vec<EntityId> {
    let mut held = Vec::new();
    for event in events {
        match event {
            crate::Event::EntityLockRequested { entities, .. } => held = entities.clone(),
            crate::Event::EntitiesUnlocked { .. } => held.clear(),
            _ => {}
        }
    }
    held
}

/// The namespace of the UUIDs entities derive.
const ENTITY_NAMESPACE: uuid::Uuid = uuid::Uuid::from_bytes([
    0x1d, 0x7c, 0x4e, 0x90, 0x35, 0x2b, 0x4f, 0x61, 0xa8, 0x0e, 0x6c, 0x93, 0x52, 0xd4, 0x18, 0xb7,
]);

/// The `count`th UUID of kind `what` (`guid`, `instance`) that operation number `number` of
/// `entity` derives: the same when a batch is run again, by any host or test harness.
pub fn derived_id(entity: &EntityId, number: u64, what: &str, count: u64) -> String {
    let name = format!("{entity}/{number}/{what}/{count}");
    uuid::Uuid::new_v5(&ENTITY_NAMESPACE, name.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_round_trip_even_with_at_in_the_key() {
        let id = EntityId::new("Counter", "team@example").unwrap();
        assert_eq!(id.instance_id(), "@Counter@team@example");
        assert_eq!(EntityId::from_instance_id(&id.instance_id()).unwrap(), id);
        assert!(is_entity_instance(&id.instance_id()));
        assert!(!is_entity_instance("order-42"));
    }

    #[test]
    fn bad_addresses_are_refused_with_the_reason() {
        assert_eq!(EntityId::new("", "k"), Err(EntityIdError::EmptyName));
        assert_eq!(EntityId::new("a@b", "k"), Err(EntityIdError::AtInName("a@b".into())));
        assert_eq!(EntityId::new("Counter", ""), Err(EntityIdError::EmptyKey));
        assert!(matches!(EntityId::from_instance_id("Counter@k"), Err(EntityIdError::NotAnEntityId(_))));
        assert!(matches!(EntityId::from_instance_id("@Counter"), Err(EntityIdError::NotAnEntityId(_))));
        assert_eq!(EntityId::from_instance_id("@Counter@"), Err(EntityIdError::EmptyKey));
    }
}
