//! An entity's batch: the operations queued for it, run one at a time and in order on fresh
//! guest instances, committed with the new state, every result and every message in one store
//! transaction. Which messages run, under which lock, and what the batch writes are the
//! planner's (`reprise_core::plan::entity`); this module reads the facts it needs, runs the
//! operations it asks for, and has the store write the batch.
//!
//! An operation that fails leaves the state as it was and its signals and starts are discarded;
//! its failure goes to its caller. Nothing is visible before the batch commits, and a batch that
//! does not commit (a crash, a lost lock) is run again from the same state: each operation is
//! applied exactly once.

use super::{EpisodeRunner, Step};
use crate::session::{guest_failure, seed};
use reprise_core::failure::error_types;
use reprise_core::plan::entity::{Applied, Batch, MAX_BATCH, Offer};
use reprise_core::{EntityCaller, EntityId, EntityOperation, Failure, Message, Payload, Timestamp};
use reprise_runtime::{GuestError, LoadedComponent, OperationInvocation};
use reprise_store::{EpisodeStart, StoreError};
use std::collections::HashSet;

/// A batch that cannot run now for want of host resources (an instance could not be created).
struct Transient(String);

impl EpisodeRunner {
    /// Runs one batch of the entity of `start`, whose lock is held.
    pub(super) async fn entity_batch(&self, start: EpisodeStart, now: Timestamp) -> Result<Step, StoreError> {
        let EpisodeStart { instance, messages } = start;
        let instance_id = instance.instance_id.as_str();
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
        let Some(record) = self.store.call(move |store| store.entity(&address)).await? else {
            return Ok(Step::Skipped);
        };
        let component = match self.registry.entity_anywhere(&entity.name).await {
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
        let waiting = self.waiting_callers(&messages).await?;
        let caller_waits = |caller: &EntityCaller| waiting.contains(&(caller.instance_id.clone(), caller.execution));

        let mut batch =
            Batch::new(entity.clone(), (record.state, record.locked_by, record.operations), messages.len(), now);
        let mut ran = 0;
        for message in messages {
            match batch.offer(message.id, message.message, &caller_waits) {
                Offer::Run { operation, number } => {
                    ran += 1;
                    let outcome = match &component {
                        Ok(component) => {
                            match self.operation(component, &entity, &operation, number, batch.state(), now).await {
                                Ok(outcome) => outcome,
                                Err(Transient(message)) => {
                                    // Nothing of the batch is committed: it runs again, whole, later.
                                    let freed = self.cache.make_room();
                                    tracing::warn!(
                                        entity = %entity,
                                        "cannot run the batch now ({message}); evicted {freed} parked instance(s), will retry"
                                    );
                                    return Ok(Step::NotReady);
                                }
                            }
                        }
                        Err(failure) => Err(failure.clone()),
                    };
                    if let Some(failure) = batch.ran(&operation, outcome) {
                        tracing::warn!(entity = %entity, "signalled operation '{}' failed: {failure}", operation.operation);
                    }
                }
                Offer::NotGranted(caller) => {
                    tracing::info!(entity = %entity, caller = %caller.instance_id, "lock not granted: its caller no longer waits");
                }
                Offer::Dropped(other) => {
                    tracing::warn!(entity = %entity, "dropped a message that is not for an entity: {other:?}");
                }
                Offer::Next => {}
                Offer::End => break,
            }
        }
        let Some((commit, after)) = batch.finish(&self.config.owner) else {
            // Everything waits for a lock holder's release.
            return Ok(Step::Idle);
        };
        match self.store.call(move |store| store.commit_entity_batch(&commit)).await {
            Ok(()) => {
                self.metrics.entity_operations(&entity.name, ran);
                Ok(Step::Committed(after, Vec::new()))
            }
            Err(StoreError::Conflict { reason, .. }) => {
                tracing::warn!(entity = %entity, "batch discarded, the entity moved on: {reason}");
                Ok(Step::Skipped)
            }
            Err(error) => Err(error),
        }
    }

    /// The callers of the lock requests among the batch's messages that still wait for their
    /// locks (they run the execution that asked, and have not finished): a fact the planner's
    /// batch needs, read before it starts.
    async fn waiting_callers(
        &self,
        messages: &[reprise_store::InboxMessage],
    ) -> Result<HashSet<(String, u32)>, StoreError> {
        let callers: HashSet<(String, u32)> = messages
            .iter()
            .take(MAX_BATCH)
            .filter_map(|m| match &m.message {
                Message::EntityLock(request) => Some((request.caller.instance_id.clone(), request.caller.execution)),
                _ => None,
            })
            .collect();
        let mut waiting = HashSet::new();
        for (instance_id, execution) in callers {
            let id = instance_id.clone();
            let record = self.store.call(move |store| store.instance(&id)).await?;
            if record.is_some_and(|r| r.execution == execution && !r.status.is_terminal()) {
                waiting.insert((instance_id, execution));
            }
        }
        Ok(waiting)
    }

    /// Runs operation number `number` of the entity on its current `state`: what it applies
    /// (its new state, its output and the effects it asked for), or its failure.
    async fn operation(
        &self,
        component: &LoadedComponent,
        entity: &EntityId,
        operation: &EntityOperation,
        number: u64,
        state: Option<&Payload>,
        now: Timestamp,
    ) -> Result<Result<Applied, Failure>, Transient> {
        let invocation = OperationInvocation {
            entity: entity.clone(),
            operation: operation.operation.clone(),
            input: operation.input.to_string(),
            state: state.map(ToString::to_string),
            now_ms: now,
            seed: seed(&format!("{entity}#{number}"), 0),
            number,
            max_payload: self.config.max_payload_bytes,
        };
        let outcome = match self.runtime.run_entity_operation(component, invocation).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(failure)) => return Ok(Err(failure)),
            Err(GuestError::Instantiate(message)) => return Err(Transient(message)),
            Err(error) => return Ok(Err(guest_failure(&error))),
        };
        // An operation's state or output that is not JSON or is too large fails the operation
        // instead, and the entity keeps its previous state.
        let limit = self.config.max_payload_bytes;
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
        Ok(Ok(Applied { state, output, outgoing: outcome.outgoing, new_instances: outcome.new_instances }))
    }
}
