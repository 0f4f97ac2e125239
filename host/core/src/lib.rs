//! Core types of Reprise and its pure orchestration state machine.
//!
//! This crate owns the vocabulary every other part speaks: instance ids, payloads, failures,
//! history events, inbox messages, runtime statuses, schedules with their slots and the planner of
//! their fires ([`schedule`]), and the [`replay`] engine that checks an
//! orchestrator's commands against its recorded history and produces new events.
//!
//! It must never do I/O: no SQLite, no wasm, no clock, no threads. Everything here is a value in,
//! value out function, which is what makes it exhaustively testable.

pub mod entity;
pub mod failure;
pub mod flow;
pub mod history;
pub mod history_text;
pub mod http_exchange;
pub mod instance_id;
pub mod lineage;
pub mod message;
pub mod payload;
pub mod plan;
pub mod replay;
pub mod retry;
pub mod schedule;
pub mod status;
pub mod update;

#[cfg(test)]
mod decoding_tests;
#[cfg(any(test, feature = "strategies"))]
pub mod strategies;

pub use entity::{
    EntityCaller, EntityId, EntityIdError, EntityLockRequest, EntityOperation, LockHolder, is_entity_instance,
    locks_held_after,
};
pub use failure::{Failure, FailureCause};
pub use history::{Event, HistoryEvent};
pub use http_exchange::HttpExchange;
pub use instance_id::{InstanceId, InstanceIdError};
pub use lineage::ParentRef;
pub use message::{Message, OutgoingMessage};
pub use payload::{Payload, PayloadError, RawJson};
pub use retry::{ActivityOptions, RetryPolicy};
pub use status::RuntimeStatus;
pub use update::{UpdateAnswer, UpdateReply};

/// Milliseconds since the Unix epoch, UTC: the unit of every time the host records.
pub type Timestamp = u64;

/// The handle of a task scheduled by an orchestrator: its position among the instance's
/// scheduled tasks, from 0.
pub type TaskId = u64;

/// The key an activity attempt sees as its idempotency key: stable across attempts of one task,
/// distinct across tasks and executions.
pub fn idempotency_key(instance_id: &str, execution: u32, task_id: TaskId) -> String {
    format!("{instance_id}/{execution}/{task_id}")
}
