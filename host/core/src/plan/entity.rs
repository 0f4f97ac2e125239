//! An entity's batch: which of its queued messages run now, in what order, and what the batch
//! writes. The executor offers the messages one by one ([`Batch::offer`]); for each operation
//! the batch asks to run, it runs the operation on the entity's current state and reports the
//! outcome ([`Batch::ran`]); [`Batch::finish`] gives the one commit and what follows it.
//!
//! Critical sections: a lock request ([`Message::EntityLock`]) that reaches an unlocked entity
//! makes its caller the holder (if the caller still waits for it) and goes on to the next entity
//! of the request, or, from the last, tells the caller that it holds them all. While held, the
//! entity runs only its holder's operations and leaves the others in its queue; the holder's
//! release ends the batch, so that the next one runs the waiting operations in their order.

use super::AfterCommit;
use super::writes::{EntityCommit, NewInstance};
use crate::{
    EntityCaller, EntityId, EntityLockRequest, EntityOperation, Failure, LockHolder, Message, OutgoingMessage, Payload,
    Timestamp,
};

/// The most operations one batch runs; the rest wait for the next batch (at once), so that one
/// busy entity commits regularly and its callers hear back.
pub const MAX_BATCH: usize = 1_000;

/// What an operation that succeeded leaves: the new state, its output, and the effects it asked
/// for (kept only because it succeeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The entity's state after it; `None` deletes the state.
    pub state: Option<Payload>,
    /// Its output, for its caller.
    pub output: Payload,
    /// The signals it sent.
    pub outgoing: Vec<OutgoingMessage>,
    /// The orchestrations it started.
    pub new_instances: Vec<NewInstance>,
}

/// What to do with an offered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// Run this operation, number `number` of the entity's life, on [`Batch::state`], and report
    /// its outcome with [`Batch::ran`].
    Run {
        /// The operation.
        operation: EntityOperation,
        /// Its number among every operation the entity ran (a seed for its determinism).
        number: u64,
    },
    /// Nothing to run: the message was consumed, or it waits in the queue for a lock's release.
    Next,
    /// A lock request was consumed without granting the lock: its caller no longer waits.
    NotGranted(EntityCaller),
    /// A message that is not for an entity was consumed and dropped.
    Dropped(Message),
    /// The batch ends: this message and the ones after it wait for the next batch.
    End,
}

/// One batch of an entity's operations. See the module docs.
#[derive(Debug)]
pub struct Batch {
    entity: EntityId,
    now: Timestamp,
    state: Option<Payload>,
    locked_by: Option<LockHolder>,
    operations_before: u64,
    operations: u64,
    consumed: Vec<i64>,
    outgoing: Vec<OutgoingMessage>,
    new_instances: Vec<NewInstance>,
    offered: usize,
    queued: usize,
    ended: bool,
}

impl Batch {
    /// A batch of `entity`, whose state, lock holder and count of operations run so far are
    /// those given, with `queued` messages in its inbox, at `now`.
    pub fn new(
        entity: EntityId,
        (state, locked_by, operations_before): (Option<Payload>, Option<LockHolder>, u64),
        queued: usize,
        now: Timestamp,
    ) -> Self {
        Batch {
            entity,
            now,
            state,
            locked_by,
            operations_before,
            operations: 0,
            consumed: Vec::new(),
            outgoing: Vec::new(),
            new_instances: Vec::new(),
            offered: 0,
            queued,
            ended: false,
        }
    }

    /// The entity's state now (after the operations run so far).
    pub fn state(&self) -> Option<&Payload> {
        self.state.as_ref()
    }

    /// Offers the next queued message (its inbox id and the message). `caller_waits` says
    /// whether a lock request's caller still runs the execution that asked.
    pub fn offer(&mut self, id: i64, message: Message, caller_waits: &dyn Fn(&EntityCaller) -> bool) -> Offer {
        if self.ended || self.offered == MAX_BATCH {
            self.ended = true;
            return Offer::End;
        }
        self.offered += 1;
        match message {
            Message::EntityUnlock { holder } => {
                self.consumed.push(id);
                if self.locked_by.as_ref() == Some(&holder) {
                    self.locked_by = None;
                    // The operations that waited for the lock come before what follows in the
                    // queue: end the batch, and the next one runs them in order.
                    self.ended = true;
                }
                Offer::Next
            }
            // A lock request waits, in the queue, for the holder to release the entity.
            Message::EntityLock(_) if self.locked_by.is_some() => Offer::Next,
            Message::EntityLock(request) => {
                self.consumed.push(id);
                if caller_waits(&request.caller) {
                    // A lock granted to an orchestration that has ended (or moved to its next
                    // execution) would never be released: it is granted only to a waiting one.
                    self.locked_by = Some(request.caller.holder());
                    let next = next_lock_step(request, self.now);
                    self.outgoing.push(next);
                    Offer::Next
                } else {
                    Offer::NotGranted(request.caller)
                }
            }
            Message::EntityOperation(operation) => {
                let allowed = match &self.locked_by {
                    None => true,
                    Some(holder) => {
                        operation.in_critical_section
                            && operation.caller.as_ref().is_some_and(|c| c.holder() == *holder)
                    }
                };
                if !allowed {
                    // Another caller's operation waits until the critical section ends.
                    return Offer::Next;
                }
                self.consumed.push(id);
                let number = self.operations_before + self.operations;
                self.operations += 1;
                Offer::Run { operation, number }
            }
            other => {
                self.consumed.push(id);
                Offer::Dropped(other)
            }
        }
    }

    /// Reports the outcome of the operation [`Batch::offer`] asked to run: a success applies its
    /// state and keeps its effects, a failure keeps nothing; the caller, if any, gets the
    /// output or the failure. Returns the failure of a signalled operation (no one hears of it
    /// otherwise).
    pub fn ran(&mut self, operation: &EntityOperation, outcome: Result<Applied, Failure>) -> Option<Failure> {
        let reply = match outcome {
            Ok(applied) => {
                self.state = applied.state;
                self.outgoing.extend(applied.outgoing);
                self.new_instances.extend(applied.new_instances);
                Ok(applied.output)
            }
            Err(failure) => Err(failure),
        };
        match (&operation.caller, reply) {
            (Some(caller), reply) => {
                self.outgoing.push(reply_to(caller, reply, self.now));
                None
            }
            (None, Ok(_)) => None,
            (None, Err(failure)) => Some(failure),
        }
    }

    /// The batch's commit for `owner` and what follows it, or `None` if it consumed nothing
    /// (everything waits for a lock holder's release).
    pub fn finish(self, owner: &str) -> Option<(EntityCommit, Vec<AfterCommit>)> {
        if self.consumed.is_empty() {
            return None;
        }
        let wake = |instance_id: &str, at| AfterCommit::Wake { instance_id: instance_id.to_string(), at };
        let mut after: Vec<AfterCommit> = self.outgoing.iter().map(|m| wake(&m.instance_id, m.visible_at)).collect();
        after.extend(self.new_instances.iter().map(|child| wake(child.instance_id.as_str(), self.now)));
        // Operations beyond this batch, or queued behind a lock it released, run next.
        if self.consumed.len() < self.queued {
            after.push(wake(&self.entity.instance_id(), self.now));
        }
        after.push(AfterCommit::Notify);
        let commit = EntityCommit {
            entity: self.entity,
            owner: owner.to_string(),
            consumed_messages: self.consumed,
            state: self.state,
            locked_by: self.locked_by,
            operations: self.operations,
            outgoing: self.outgoing,
            new_instances: self.new_instances,
            now: self.now,
        };
        Some((commit, after))
    }
}

/// After an entity's lock is taken: the request goes on to the next entity, or, from the last,
/// the caller learns that it holds them all.
fn next_lock_step(request: EntityLockRequest, now: Timestamp) -> OutgoingMessage {
    let EntityLockRequest { caller, remaining } = request;
    match remaining.split_first() {
        Some((next, rest)) => OutgoingMessage {
            instance_id: next.instance_id(),
            message: Message::EntityLock(EntityLockRequest { caller, remaining: rest.to_vec() }),
            visible_at: now,
            execution: None,
        },
        None => reply_to(&caller, Ok(Payload::null()), now),
    }
}

/// The result of a called operation, for the execution that called it.
fn reply_to(caller: &EntityCaller, outcome: Result<Payload, Failure>, now: Timestamp) -> OutgoingMessage {
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
