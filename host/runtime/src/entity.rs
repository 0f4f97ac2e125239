//! The entity sandbox's host interface, `entity-context`, implemented once, on an operation's
//! context. An entity runs in the orchestrators' deterministic WASI (logical clock, seeded
//! random, no environment, files or network); each operation runs in a fresh instance of the
//! component, so that it is a function of the entity's state, its input, its logical time and
//! its seed alone, whatever ran before it in the same batch.
//!
//! The effects an operation asks for (signals to entities, orchestrations to start) are checked
//! here and collected as values, for the operation's outcome: whoever runs the batch keeps them
//! only if the operation succeeds. This module never decides what an effect means.

use crate::LogLevel;
use crate::bindings::entity::reprise::durable::entity_context;
use crate::bindings::orchestrator::reprise::durable::types as wit;
use crate::bindings::{WitEntityId, checked_entity};
use crate::error::{HostEnd, trap};
use reprise_core::plan::NewInstance;
use reprise_core::{EntityId, EntityOperation, InstanceId, Message, OutgoingMessage, Payload, Timestamp};

/// One entity operation to run.
pub struct OperationInvocation {
    /// The entity it runs on.
    pub entity: EntityId,
    /// The operation's name.
    pub operation: String,
    /// Its JSON input.
    pub input: String,
    /// The entity's current state, if it has one.
    pub state: Option<String>,
    /// The logical time the guest's clocks read.
    pub now_ms: u64,
    /// The seed of the guest's random sources (the same for a rerun of the same operation).
    pub seed: u64,
    /// The operation's number among every operation the entity ran: the ids it derives are
    /// the same when a batch runs again.
    pub number: u64,
    /// The largest payload the operation may hand the host, in bytes.
    pub max_payload: usize,
}

/// What an operation that succeeded returned, and the effects it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationOutcome {
    /// The entity's new state; `None` deletes it.
    pub state: Option<String>,
    /// The operation's output.
    pub output: String,
    /// The operations it signalled to entities.
    pub outgoing: Vec<OutgoingMessage>,
    /// The orchestrations it started.
    pub new_instances: Vec<NewInstance>,
}

/// The host side of one operation. See the module docs.
pub(crate) struct OperationContext {
    entity: EntityId,
    number: u64,
    guids: u64,
    now: Timestamp,
    max_payload: usize,
    pub(crate) outgoing: Vec<OutgoingMessage>,
    pub(crate) new_instances: Vec<NewInstance>,
}

impl OperationContext {
    /// The context of `invocation`.
    pub(crate) fn new(invocation: &OperationInvocation) -> Self {
        OperationContext {
            entity: invocation.entity.clone(),
            number: invocation.number,
            guids: 0,
            now: invocation.now_ms,
            max_payload: invocation.max_payload,
            outgoing: Vec::new(),
            new_instances: Vec::new(),
        }
    }

    /// Checks a payload the operation hands the host; a bad one ends the operation with a trap
    /// naming it.
    fn payload(&self, what: &str, text: String) -> wasmtime::Result<Payload> {
        Payload::parse(text, self.max_payload).map_err(|error| trap(HostEnd::Refused(format!("{what} is {error}"))))
    }

    /// A UUID derived from the entity, the operation's number and `what`: the same when a batch
    /// is run again.
    fn derived_id(&mut self, what: &str) -> String {
        self.guids += 1;
        reprise_core::entity::derived_id(&self.entity, self.number, what, self.guids)
    }
}

impl wit::Host for OperationContext {}

impl entity_context::Host for OperationContext {
    async fn id(&mut self) -> wasmtime::Result<WitEntityId> {
        Ok(self.entity.clone().into())
    }

    async fn current_time(&mut self) -> wasmtime::Result<u64> {
        Ok(self.now)
    }

    async fn new_guid(&mut self) -> wasmtime::Result<String> {
        Ok(self.derived_id("guid"))
    }

    async fn log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        let entity = &self.entity;
        match level {
            LogLevel::Debug => tracing::debug!(target: "reprise::entity", %entity, "{message}"),
            LogLevel::Info => tracing::info!(target: "reprise::entity", %entity, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "reprise::entity", %entity, "{message}"),
            LogLevel::Error => tracing::error!(target: "reprise::entity", %entity, "{message}"),
        }
        Ok(())
    }

    async fn signal_entity(&mut self, entity: WitEntityId, operation: String, input: String) -> wasmtime::Result<()> {
        let entity = checked_entity(entity)?;
        let input = self.payload(&format!("the input of operation '{operation}' on {entity}"), input)?;
        let message =
            Message::EntityOperation(EntityOperation { operation, input, caller: None, in_critical_section: false });
        self.outgoing.push(OutgoingMessage {
            instance_id: entity.instance_id(),
            message,
            visible_at: self.now,
            execution: None,
        });
        Ok(())
    }

    async fn start_orchestration(
        &mut self,
        name: String,
        input: String,
        instance_id: Option<String>,
    ) -> wasmtime::Result<String> {
        let input = self.payload(&format!("the input of orchestrator '{name}'"), input)?;
        let id = match instance_id {
            Some(id) => id,
            None => self.derived_id("instance"),
        };
        let instance_id = InstanceId::new(id).map_err(|error| trap(HostEnd::Refused(error.to_string())))?;
        self.new_instances.push(NewInstance {
            instance_id: instance_id.clone(),
            name,
            input,
            created_at: self.now,
            parent: None,
            if_taken: None,
        });
        Ok(instance_id.into_string())
    }
}
