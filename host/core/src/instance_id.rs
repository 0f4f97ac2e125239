//! Instance ids of orchestrations, checked once where they enter.
//!
//! An id chosen by a caller (a client's start, an orchestrator naming its sub-orchestration, an
//! entity starting an orchestration) becomes an [`InstanceId`] through [`InstanceId::new`], which
//! holds the rules every entry point shares: not empty, not starting with `@` (reserved for
//! entities, see [`crate::entity`]), no control characters (ids are shown in terminals, logs and
//! URLs), at most [`InstanceId::MAX_LEN`] bytes. Every instance the host creates carries one, so no
//! path can create an instance under an id another path would refuse.

use crate::entity::ENTITY_ID_PREFIX;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A checked orchestration instance id. See the module docs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(String);

/// Why a string cannot be an orchestration instance id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceIdError {
    /// The id is empty.
    #[error("an instance id cannot be empty")]
    Empty,
    /// The id starts with `@`, the prefix of entity ids.
    #[error("invalid instance id '{0}': ids that start with '@' are reserved for entities")]
    EntityPrefix(String),
    /// The id holds a control character (a newline, a tab...).
    #[error("invalid instance id {0:?}: it holds a control character")]
    ControlCharacter(String),
    /// The id is longer than the host accepts.
    #[error("invalid instance id '{prefix}...': it is {len} bytes long, more than the limit of {max}")]
    TooLong {
        /// Its first characters.
        prefix: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl InstanceId {
    /// The longest id accepted, in bytes.
    pub const MAX_LEN: usize = 1024;

    /// Checks `id` against the rules in the module docs.
    pub fn new(id: impl Into<String>) -> Result<InstanceId, InstanceIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(InstanceIdError::Empty);
        }
        if id.starts_with(ENTITY_ID_PREFIX) {
            return Err(InstanceIdError::EntityPrefix(id));
        }
        if id.len() > Self::MAX_LEN {
            let prefix = id.chars().take(40).collect();
            return Err(InstanceIdError::TooLong { prefix, len: id.len(), max: Self::MAX_LEN });
        }
        if id.chars().any(char::is_control) {
            return Err(InstanceIdError::ControlCharacter(id));
        }
        Ok(InstanceId(id))
    }

    /// A new random id (a UUID).
    pub fn generate() -> InstanceId {
        InstanceId(uuid::Uuid::new_v4().to_string())
    }

    /// The id of the sub-orchestration that task `task_id` of `execution` of `parent` starts
    /// without naming one: `<parent>:<execution>:<task>`, the same on every replay.
    pub fn child(parent: &str, execution: u32, task_id: crate::TaskId) -> Result<InstanceId, InstanceIdError> {
        InstanceId::new(format!("{parent}:{execution}:{task_id}"))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as owned text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for InstanceId {
    type Err = InstanceIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InstanceId::new(s)
    }
}

impl AsRef<str> for InstanceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<InstanceId> for String {
    fn from(id: InstanceId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_with_the_reason() {
        assert_eq!(InstanceId::new("order-42").unwrap().as_str(), "order-42");
        assert_eq!(InstanceId::new(""), Err(InstanceIdError::Empty));
        assert!(matches!(InstanceId::new("@Counter@x"), Err(InstanceIdError::EntityPrefix(_))));
        assert!(matches!(InstanceId::new("a\nb"), Err(InstanceIdError::ControlCharacter(_))));
        let long = "x".repeat(InstanceId::MAX_LEN + 1);
        let error = InstanceId::new(long).unwrap_err();
        assert!(error.to_string().contains("1025 bytes long"), "{error}");
        assert!(InstanceId::new("x".repeat(InstanceId::MAX_LEN)).is_ok());
        assert!(InstanceId::new("with/slash?and space").is_ok(), "URLs percent-encode these");
    }

    #[test]
    fn child_ids_follow_their_parent() {
        assert_eq!(InstanceId::child("p", 2, 7).unwrap().as_str(), "p:2:7");
        assert!(InstanceId::child(&"p".repeat(InstanceId::MAX_LEN), 1, 0).is_err());
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let (a, b) = (InstanceId::generate(), InstanceId::generate());
        assert_ne!(a, b);
        assert!(InstanceId::new(a.as_str()).is_ok());
    }
}
