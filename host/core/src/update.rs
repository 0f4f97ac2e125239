//! Updates: requests a client sends to a running instance, which its orchestrator handles and
//! answers (Temporal's workflow updates).
//!
//! An update travels as a message ([`crate::Message::UpdateRequested`]) and is recorded like an
//! external event when delivered ([`crate::Event::UpdateReceived`]); the orchestrator waits for
//! updates of a name (`wait-for-update`, [`crate::Event::UpdateWaitStarted`]) and answers each
//! one once (`reply-update`, [`crate::Event::UpdateReplied`]), so a replay takes the same path
//! and the answer is written once, with the episode that gives it. This module holds the
//! values and the rules shared by every side: the id rules, the reply's shape, and what a
//! waiting caller is told.

use crate::{Failure, Payload};
use serde::{Deserialize, Serialize};

/// The longest update id accepted, in bytes.
pub const MAX_UPDATE_ID_LEN: usize = 256;

/// Why a string cannot be an update id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateIdError {
    /// The id is empty.
    #[error("an update id cannot be empty")]
    Empty,
    /// The id holds a control character.
    #[error("invalid update id {0:?}: it holds a control character")]
    ControlCharacter(String),
    /// The id is too long.
    #[error("invalid update id: it is {0} bytes long, more than the limit of {MAX_UPDATE_ID_LEN}")]
    TooLong(usize),
}

/// Checks an update id chosen by a caller: not empty, no control characters (ids are shown in
/// terminals and URLs), at most [`MAX_UPDATE_ID_LEN`] bytes.
pub fn check_update_id(id: &str) -> Result<(), UpdateIdError> {
    if id.is_empty() {
        return Err(UpdateIdError::Empty);
    }
    if id.len() > MAX_UPDATE_ID_LEN {
        return Err(UpdateIdError::TooLong(id.len()));
    }
    if id.chars().any(char::is_control) {
        return Err(UpdateIdError::ControlCharacter(id.to_string()));
    }
    Ok(())
}

/// The answer an orchestrator gave an update: its JSON output, or a failure (the handler
/// refused it, or failed). Written `{"output": ...}` or `{"failure": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateReply {
    /// The handler's output.
    Output(Payload),
    /// The handler's failure.
    Failure(Failure),
}

impl UpdateReply {
    /// The reply as a result.
    pub fn into_result(self) -> Result<Payload, Failure> {
        match self {
            UpdateReply::Output(output) => Ok(output),
            UpdateReply::Failure(failure) => Err(failure),
        }
    }
}

impl From<Result<Payload, Failure>> for UpdateReply {
    fn from(result: Result<Payload, Failure>) -> Self {
        match result {
            Ok(output) => UpdateReply::Output(output),
            Err(failure) => UpdateReply::Failure(failure),
        }
    }
}

/// What the orchestrator's wait for an update completes with: the update's id (to answer it
/// with) and its input. Serialized as the task's JSON output, `{"id": ..., "input": ...}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredUpdate<'a> {
    /// The update's id.
    pub id: &'a str,
    /// Its JSON input.
    pub input: &'a Payload,
}

impl DeliveredUpdate<'_> {
    /// The task output the orchestrator receives. The input is embedded verbatim (it was
    /// checked to be JSON when it was sent), so its numbers keep their exact text.
    pub fn to_payload(&self) -> Payload {
        let id = serde_json::to_string(self.id).expect("a string serializes");
        Payload::stored(format!("{{\"id\":{id},\"input\":{}}}", self.input.as_str()))
    }
}

/// One reply an episode gives, for the store to keep where the caller finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateAnswer {
    /// The update answered.
    pub update_id: String,
    /// The reply.
    pub reply: UpdateReply,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_ids_follow_the_rules() {
        assert_eq!(check_update_id(""), Err(UpdateIdError::Empty));
        assert!(matches!(check_update_id("a\nb"), Err(UpdateIdError::ControlCharacter(_))));
        assert!(matches!(check_update_id(&"x".repeat(MAX_UPDATE_ID_LEN + 1)), Err(UpdateIdError::TooLong(_))));
        assert_eq!(check_update_id("approve-1"), Ok(()));
    }

    #[test]
    fn a_delivered_update_keeps_its_input_verbatim() {
        let input = Payload::stored("{\"amount\":1.50}");
        let payload = DeliveredUpdate { id: "u\"1", input: &input }.to_payload();
        assert_eq!(payload.as_str(), "{\"id\":\"u\\\"1\",\"input\":{\"amount\":1.50}}");
        let parsed: serde_json::Value = serde_json::from_str(payload.as_str()).unwrap();
        assert_eq!(parsed["id"], "u\"1");
    }

    #[test]
    fn replies_are_written_by_their_kind() {
        let reply = UpdateReply::Output(Payload::stored("true"));
        // Payloads are stored as their JSON text, as in history events.
        assert_eq!(serde_json::to_string(&reply).unwrap(), "{\"output\":\"true\"}");
        let back: UpdateReply =
            serde_json::from_str("{\"failure\":{\"error_type\":\"No\",\"message\":\"m\"}}").unwrap();
        assert!(matches!(back, UpdateReply::Failure(f) if f.error_type == "No"));
    }
}
