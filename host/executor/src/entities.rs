//! Entity batches: run the operations queued for one entity, one at a time and in order, and
//! commit the new state with every result and message in one store transaction.
//!
//! An entity's instance is locked like an orchestration's (the orchestration worker schedules
//! both, see `episode`), so one host runs one batch of an entity at a time. Each operation runs
//! on a fresh guest instance with the entity's current state; an operation that fails leaves the
//! state as it was and its signals and starts are discarded, and its failure goes to its caller.
//! Nothing is visible before the batch commits, and a batch that does not commit (a crash, a
//! lost lock) is run again from the same state: each operation is applied exactly once.
//!
//! Critical sections: a lock request ([`Message::EntityLock`]) that reaches an unlocked entity
//! makes its caller the holder, and goes on to the next entity of the request (or, from the last,
//! tells the caller it holds them all). While held, the entity runs only its holder's operations
//! and leaves the others in its queue; the holder's release ends the batch, so that the next one
//! runs the waiting operations in their order. The store keeps a locked entity as suspended, so
//! that others' operations do not make it ready.
//!
//! This module owns the rules of a batch; the store persists it and the runtime runs the guest.

use crate::episode::Step;
use crate::host::Inner;
use crate::session::{guest_failure, seed};
use reprise_core::failure::error_types;
use reprise_core::{
    EntityCaller, EntityId, EntityLockRequest, EntityOperation, Failure, InstanceId, Message, OutgoingMessage, Payload,
};
use reprise_runtime::{EntityHost, GuestError, LoadedComponent, LogLevel, OperationInvocation};
use reprise_store::{EntityCommit, InboxMessage, NewInstance, StoreError};
use std::sync::{Arc, Mutex};

/// The most operations one batch runs; the rest wait for the next batch (at once), so that one
/// busy entity commits regularly and its callers hear back.
const MAX_BATCH: usize = 1_000;

/// Runs one batch of the entity stored as `instance_id`, whose lock the caller holds.
pub(crate) async fn run_batch(
    inner: &Arc<Inner>,
    instance_id: &str,
    messages: Vec<InboxMessage>,
    now: u64,
) -> Result<Step, StoreError> {
    let entity = match EntityId::from_instance_id(instance_id) {
        Ok(entity) => entity,
        Err(error) => {
            tracing::error!(instance = %instance_id, "not a valid entity instance: {error}");
            return Ok(Step::Skipped);
        }
    };
    if messages.is_empty() {
        return Ok(Step::Idle);
    }
    let address = entity.clone();
    let Some(record) = inner.store.call(move |store| store.entity(&address)).await? else {
        return Ok(Step::Skipped);
    };
    let component = match inner.registry.entity_anywhere(&entity.name).await {
        Ok(component) => component.ok_or_else(|| {
            Failure::new(
                error_types::ENTITY_NOT_FOUND,
                format!("no loaded component exports an entity named '{}'; load one with --component", entity.name),
            )
        }),
        Err(crate::ExecutorError::Store(error)) => return Err(error),
        Err(error) => Err(Failure::new(
            error_types::COMPONENT_UNAVAILABLE,
            format!("the component that exports entity '{}' cannot be loaded: {error}", entity.name),
        )),
    };

    let mut batch = Batch { state: record.state, outgoing: Vec::new(), new_instances: Vec::new() };
    let mut locked_by = record.locked_by;
    let mut consumed = Vec::new();
    let mut operations = 0u64;
    let queued = messages.len();
    for message in messages.into_iter().take(MAX_BATCH) {
        match message.message {
            Message::EntityUnlock { holder } => {
                consumed.push(message.id);
                if locked_by.as_ref() == Some(&holder) {
                    locked_by = None;
                    // The operations that waited for the lock come before what follows in the
                    // queue: end the batch, and the next one runs them in order.
                    break;
                }
            }
            // A lock request waits, in the queue, for the holder to release the entity.
            Message::EntityLock(_) if locked_by.is_some() => {}
            Message::EntityLock(request) => {
                consumed.push(message.id);
                if caller_waits(inner, &request.caller).await? {
                    locked_by = Some(request.caller.holder());
                    batch.outgoing.push(next_lock_step(request, now));
                } else {
                    tracing::info!(entity = %entity, caller = %request.caller.instance_id, "lock not granted: its caller no longer waits");
                }
            }
            Message::EntityOperation(operation) => {
                let allowed = match &locked_by {
                    None => true,
                    Some(holder) => {
                        operation.in_critical_section
                            && operation.caller.as_ref().is_some_and(|c| c.holder() == *holder)
                    }
                };
                if !allowed {
                    // Another caller's operation waits until the critical section ends.
                    continue;
                }
                consumed.push(message.id);
                let number = record.operations + operations;
                operations += 1;
                let outcome = match &component {
                    Ok(component) => match batch.run(inner, component, &entity, &operation, number, now).await {
                        Ok(outcome) => outcome,
                        Err(Transient(message)) => {
                            // Nothing of the batch is committed: it runs again, whole, later.
                            let freed = inner.cache.make_room();
                            tracing::warn!(
                                entity = %entity,
                                "cannot run the batch now ({message}); evicted {freed} parked instance(s), will retry"
                            );
                            return Ok(Step::NotReady);
                        }
                    },
                    Err(failure) => Err(failure.clone()),
                };
                match (&operation.caller, outcome) {
                    (Some(caller), outcome) => batch.outgoing.push(reply(caller, outcome, now)),
                    (None, Ok(_)) => {}
                    (None, Err(failure)) => {
                        tracing::warn!(entity = %entity, "signalled operation '{}' failed: {failure}", operation.operation)
                    }
                }
            }
            other => {
                consumed.push(message.id);
                tracing::warn!(entity = %entity, "dropped a message that is not for an entity: {other:?}");
            }
        }
    }
    if consumed.is_empty() {
        // Everything waits for a lock holder's release.
        return Ok(Step::Idle);
    }

    let mut announced: Vec<(String, u64)> =
        batch.outgoing.iter().map(|m| (m.instance_id.clone(), m.visible_at)).collect();
    announced.extend(batch.new_instances.iter().map(|child| (child.instance_id.to_string(), now)));
    // Operations beyond this batch, or queued behind a lock this batch released, run next.
    let more_queued = consumed.len() < queued;
    let commit = EntityCommit {
        entity: entity.clone(),
        owner: inner.config.owner.clone(),
        consumed_messages: consumed,
        state: batch.state,
        locked_by,
        operations,
        outgoing: batch.outgoing,
        new_instances: batch.new_instances,
        now,
    };
    match inner.store.call(move |store| store.commit_entity_batch(&commit)).await {
        Ok(()) => {}
        Err(StoreError::Conflict { reason, .. }) => {
            tracing::warn!(entity = %entity, "batch discarded, the entity moved on: {reason}");
            return Ok(Step::Skipped);
        }
        Err(error) => return Err(error),
    }
    inner.announce(announced.iter().map(|(id, at)| (id.as_str(), *at)), now);
    if more_queued {
        inner.wake_instance(instance_id);
    }
    inner.watchers.committed(instance_id);
    Ok(Step::Committed)
}

/// A batch that cannot run now for want of host resources (an instance could not be created).
struct Transient(String);

/// Whether the execution that asked for a lock still waits for it: a lock granted to an
/// orchestration that has ended (or moved to its next execution) would never be released.
async fn caller_waits(inner: &Arc<Inner>, caller: &EntityCaller) -> Result<bool, StoreError> {
    let id = caller.instance_id.clone();
    let record = inner.store.call(move |store| store.instance(&id)).await?;
    Ok(record.is_some_and(|r| r.execution == caller.execution && !r.status.is_terminal()))
}

/// After this entity's lock is taken: the request goes on to the next entity, or, from the
/// last, the caller learns that it holds them all.
fn next_lock_step(request: EntityLockRequest, now: u64) -> OutgoingMessage {
    let EntityLockRequest { caller, remaining } = request;
    match remaining.split_first() {
        Some((next, rest)) => OutgoingMessage {
            instance_id: next.instance_id(),
            message: Message::EntityLock(EntityLockRequest { caller, remaining: rest.to_vec() }),
            visible_at: now,
            execution: None,
        },
        None => reply(&caller, Ok(Payload::null()), now),
    }
}

/// The result of a called operation, for the execution that called it.
fn reply(caller: &EntityCaller, outcome: Result<Payload, Failure>, now: u64) -> OutgoingMessage {
    let task_id = caller.task_id;
    let message = match outcome {
        Ok(output) => Message::EntityCompleted { task_id, output },
        Err(failure) => Message::EntityFailed { task_id, failure },
    };
    OutgoingMessage {
        instance_id: caller.instance_id.clone(),
        message,
        visible_at: now,
        execution: Some(caller.execution),
    }
}

/// The state of a batch between operations.
struct Batch {
    state: Option<Payload>,
    outgoing: Vec<OutgoingMessage>,
    new_instances: Vec<NewInstance>,
}

impl Batch {
    /// Runs operation number `number` of the entity; on success applies its state and keeps its
    /// effects, on failure keeps nothing.
    async fn run(
        &mut self,
        inner: &Arc<Inner>,
        component: &LoadedComponent,
        entity: &EntityId,
        operation: &EntityOperation,
        number: u64,
        now: u64,
    ) -> Result<Result<Payload, Failure>, Transient> {
        let effects = Arc::new(Mutex::new(Effects::default()));
        let host = OperationHost {
            entity: entity.clone(),
            number,
            guids: 0,
            now,
            max_payload: inner.config.max_payload_bytes,
            effects: effects.clone(),
        };
        let invocation = OperationInvocation {
            entity: entity.clone(),
            operation: operation.operation.clone(),
            input: operation.input.to_string(),
            state: self.state.as_ref().map(ToString::to_string),
            now_ms: now,
            seed: seed(&format!("{entity}#{number}"), 0),
        };
        let outcome = match inner.runtime.run_entity_operation(component, invocation, Box::new(host)).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(failure)) => return Ok(Err(failure)),
            Err(GuestError::Instantiate(message)) => return Err(Transient(message)),
            Err(error) => return Ok(Err(guest_failure(&error))),
        };
        // An operation's state or output that is not JSON or is too large fails the operation
        // instead, and the entity keeps its previous state.
        let limit = inner.config.max_payload_bytes;
        let checked = |what: &str, text: String| {
            Payload::parse(text, limit)
                .map_err(|error| error.failure(&format!("{what} of operation '{}'", operation.operation)))
        };
        let state = match outcome.state.map(|state| checked("the new state", state)).transpose() {
            Ok(state) => state,
            Err(failure) => return Ok(Err(failure)),
        };
        let output = match checked("the output", outcome.output) {
            Ok(output) => output,
            Err(failure) => return Ok(Err(failure)),
        };
        let effects = std::mem::take(&mut *effects.lock().unwrap_or_else(|e| e.into_inner()));
        self.state = state;
        self.outgoing.extend(effects.outgoing);
        self.new_instances.extend(effects.new_instances);
        Ok(Ok(output))
    }
}

/// What one operation asked for, kept only if it succeeds.
#[derive(Default)]
struct Effects {
    outgoing: Vec<OutgoingMessage>,
    new_instances: Vec<NewInstance>,
}

/// The `entity-context` of one operation.
struct OperationHost {
    entity: EntityId,
    number: u64,
    guids: u64,
    now: u64,
    max_payload: usize,
    effects: Arc<Mutex<Effects>>,
}

impl OperationHost {
    /// Checks a payload the operation hands the host; a bad one ends the operation with a trap
    /// naming it.
    fn payload(&self, what: &str, text: String) -> anyhow::Result<Payload> {
        Payload::parse(text, self.max_payload).map_err(|error| anyhow::anyhow!("{what} is {error}"))
    }

    /// A UUID derived from the entity, the operation's number and `what`: the same when a batch
    /// is run again.
    fn derived_id(&mut self, what: &str) -> String {
        self.guids += 1;
        let name = format!("{}/{}/{what}/{}", self.entity, self.number, self.guids);
        uuid::Uuid::new_v5(&ENTITY_NAMESPACE, name.as_bytes()).to_string()
    }
}

/// The namespace of the UUIDs entities derive.
const ENTITY_NAMESPACE: uuid::Uuid = uuid::Uuid::from_bytes([
    0x1d, 0x7c, 0x4e, 0x90, 0x35, 0x2b, 0x4f, 0x61, 0xa8, 0x0e, 0x6c, 0x93, 0x52, 0xd4, 0x18, 0xb7,
]);

impl EntityHost for OperationHost {
    fn new_guid(&mut self) -> String {
        self.derived_id("guid")
    }

    fn log(&mut self, level: LogLevel, message: String) {
        let entity = &self.entity;
        match level {
            LogLevel::Debug => tracing::debug!(target: "reprise::entity", %entity, "{message}"),
            LogLevel::Info => tracing::info!(target: "reprise::entity", %entity, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "reprise::entity", %entity, "{message}"),
            LogLevel::Error => tracing::error!(target: "reprise::entity", %entity, "{message}"),
        }
    }

    fn signal_entity(&mut self, entity: EntityId, operation: String, input: String) -> anyhow::Result<()> {
        let input = self.payload(&format!("the input of operation '{operation}' on {entity}"), input)?;
        let message =
            Message::EntityOperation(EntityOperation { operation, input, caller: None, in_critical_section: false });
        let outgoing =
            OutgoingMessage { instance_id: entity.instance_id(), message, visible_at: self.now, execution: None };
        self.effects.lock().unwrap_or_else(|e| e.into_inner()).outgoing.push(outgoing);
        Ok(())
    }

    fn start_orchestration(
        &mut self,
        name: String,
        input: String,
        instance_id: Option<String>,
    ) -> anyhow::Result<String> {
        let input = self.payload(&format!("the input of orchestrator '{name}'"), input)?;
        let instance_id = match instance_id {
            Some(id) => InstanceId::new(id)?,
            None => InstanceId::new(self.derived_id("instance"))?,
        };
        let new = NewInstance { instance_id: instance_id.clone(), name, input, created_at: self.now, parent: None };
        self.effects.lock().unwrap_or_else(|e| e.into_inner()).new_instances.push(new);
        Ok(instance_id.into_string())
    }
}
