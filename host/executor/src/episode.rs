//! One episode of one instance: lock it, deliver its messages to its orchestrator (parked in the
//! cache, or replayed from history), wait for the orchestrator to block or finish, and commit
//! everything it did in one store transaction.

use crate::error::ExecutorError;
use crate::host::Inner;
use crate::session::{Delivery, LiveInstance, Yield};
use reprise_core::failure::error_types;
use reprise_core::replay::{Replayer, Terminal};
use reprise_core::{
    EntityCaller, EntityId, EntityLockRequest, EntityOperation, Event, Failure, HistoryEvent, LockHolder, Message,
    OutgoingMessage, ParentRef, Payload, RuntimeStatus, Timestamp,
};
use reprise_store::{
    ActivityTask, ActivityTaskKey, ContinueAsNew, EpisodeCommit, EpisodeStart, InboxMessage, InstanceRecord,
    NewActivityTask, NewInstance, StoreError,
};
use std::sync::Arc;
use tokio::sync::OwnedSemaphorePermit;

/// How an episode attempt ended, for the worker's scheduling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpisodeEnd {
    /// It committed, or there was nothing to do.
    Done,
    /// It could not run now (an error, a guest that died, messages before the start): the
    /// worker should leave the instance alone for a while instead of retrying at once.
    BackOff,
}

/// What [`episode_locked`] did.
pub(crate) enum Step {
    Committed,
    /// Nothing was committed; a parked instance that was taken out for the episode is gone.
    Skipped,
    /// Nothing to do (another episode consumed the messages first): a parked instance is still
    /// parked, and in step with the store.
    Idle,
    NotReady,
}

/// Runs one episode of `instance_id` if it has messages and no other owner holds it. Errors are
/// logged: the instance's messages stay in its inbox, and a later episode tries again. The
/// instance's lock is renewed while the episode runs, so a long replay keeps it.
pub(crate) async fn run_episode(inner: Arc<Inner>, instance_id: String) -> EpisodeEnd {
    let (now, lease_until) = lease(&inner);
    let owner = inner.config.owner.clone();
    let begun = inner
        .store
        .submit(|store, done| store.begin_episode_then(instance_id.clone(), owner, (now, lease_until), done));
    match begun.await {
        Ok(Some(start)) => run_begun(inner, start, now).await,
        Ok(None) => EpisodeEnd::Done,
        Err(error) => {
            tracing::error!(instance = %instance_id, "cannot lock instance: {error}");
            EpisodeEnd::BackOff
        }
    }
}

/// Now, and when an instance lock taken now ends.
pub(crate) fn lease(inner: &Inner) -> (Timestamp, Timestamp) {
    let now = inner.clock.now();
    (now, now + inner.config.instance_lease.as_millis() as u64)
}

/// Runs the episode of an instance whose lock was taken at `now` (and its messages read) by
/// `start`.
pub(crate) async fn run_begun(inner: Arc<Inner>, start: EpisodeStart, now: Timestamp) -> EpisodeEnd {
    let instance_id = start.instance.instance_id.clone();
    let owner = inner.config.owner.clone();
    let step = tokio::select! {
        step = episode_locked(&inner, start, now) => step,
        () = keep_locked(&inner, &instance_id) => Ok(Step::NotReady),
    };
    let (committed, end) = match step {
        Ok(Step::Committed) => (true, EpisodeEnd::Done),
        Ok(Step::Idle) => {
            // The worker's list of ready instances is read before episodes commit, so an
            // instance whose episode just consumed its messages comes up again with none: it
            // stays parked (evicting it would send its next episode down the cold path).
            let (id, owner) = (instance_id.clone(), owner.clone());
            if let Err(error) = inner.store.call(move |store| store.unlock_instance(&id, &owner)).await {
                tracing::warn!(instance = %instance_id, "cannot unlock instance: {error}");
            }
            return EpisodeEnd::Done;
        }
        Ok(Step::Skipped) => (false, EpisodeEnd::Done),
        Ok(Step::NotReady) => (false, EpisodeEnd::BackOff),
        Err(error) => {
            tracing::error!(instance = %instance_id, "episode failed and will be retried: {error}");
            (false, EpisodeEnd::BackOff)
        }
    };
    if !committed {
        inner.cache.evict(&instance_id);
        let id = instance_id.clone();
        if let Err(error) = inner.store.call(move |store| store.unlock_instance(&id, &owner)).await {
            tracing::warn!(instance = %instance_id, "cannot unlock instance: {error}");
        }
    }
    end
}

/// Renews the instance's lock every third of its lease; returns only if the lock is lost (then
/// the episode is abandoned: another host owns the instance).
async fn keep_locked(inner: &Arc<Inner>, instance_id: &str) {
    let lease = inner.config.instance_lease;
    loop {
        tokio::time::sleep(lease / 3).await;
        let (id, owner, now) = (instance_id.to_string(), inner.config.owner.clone(), inner.clock.now());
        let until = now + lease.as_millis() as u64;
        match inner.store.call(move |store| store.lock_instance(&id, &owner, now, until)).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(instance = %instance_id, "lost the instance's lock; abandoning the episode");
                return;
            }
            Err(error) => tracing::warn!(instance = %instance_id, "cannot renew the instance's lock: {error}"),
        }
    }
}

/// The episode proper, with the lock held.
async fn episode_locked(inner: &Arc<Inner>, start: EpisodeStart, now: u64) -> Result<Step, StoreError> {
    let EpisodeStart { instance, messages } = start;
    if reprise_core::is_entity_instance(&instance.instance_id) {
        return crate::entities::run_batch(inner, &instance.instance_id, messages, now).await;
    }
    let instance_id = instance.instance_id.as_str();
    if instance.status.is_terminal() {
        return Ok(Step::Skipped);
    }
    if messages.is_empty() {
        return Ok(Step::Idle);
    }
    if messages.iter().any(|m| m.message.is_control()) {
        let step = committed(lifecycle(inner, &instance, &messages, now).await)?;
        if matches!(step, Step::Committed) && messages.iter().any(|m| !m.message.is_control()) {
            // The other messages wait in the inbox for the next episode: run it next.
            inner.wake_instance(instance_id);
        }
        return Ok(step);
    }
    if instance.status == RuntimeStatus::Suspended {
        // A suspended instance keeps its messages until it is resumed.
        return Ok(Step::Idle);
    }
    if instance.history_len == 0 && !messages.iter().any(|m| matches!(m.message, Message::Start { .. })) {
        // Messages for an execution whose start is not due yet (a child waiting to be retried):
        // they wait for it.
        return Ok(Step::NotReady);
    }
    let consumed: Vec<i64> = messages.iter().map(|m| m.id).collect();

    let audit_only = messages
        .iter()
        .all(|m| matches!(m.message, Message::ActivityRetrying { .. } | Message::SubOrchestrationRetrying { .. }));
    let (mut live, pin) = match hot(inner, &instance, &messages, now) {
        Some(live) => (live, None),
        // Retry records change nothing the orchestrator can see: record them without replaying it.
        None if audit_only && instance.history_len > 0 => {
            return committed(audit(inner, &instance, &messages, now).await);
        }
        None => match cold(inner, &instance, messages, now).await? {
            Ok(started) => started,
            Err(failure) => {
                return committed(fail_without_guest(inner, &instance, consumed, failure, now).await);
            }
        },
    };

    let yielded = match tokio::time::timeout(inner.config.episode_timeout, live.next_yield()).await {
        Ok(Some(yielded)) => yielded,
        Ok(None) => {
            // The guest could not be instantiated (the host is out of memory or mappings, most
            // likely because of the instances parked here) or its task died: free a quarter of
            // the parked instances, and try this one again after a back-off.
            let freed = inner.cache.make_room();
            tracing::warn!(
                instance = %instance_id,
                "the orchestrator's task ended without finishing its episode; evicted {freed} parked instance(s)"
            );
            return Ok(Step::NotReady);
        }
        Err(_) if live.replayer.lock().unwrap_or_else(|e| e.into_inner()).is_replaying() => {
            // A long replay is not the orchestrator's fault: try again later rather than fail it.
            tracing::warn!(instance = %instance_id, "the replay did not finish within the episode timeout");
            return Ok(Step::NotReady);
        }
        Err(_) => {
            let failure = Failure::new(
                error_types::GUEST_TRAPPED,
                format!(
                    "the episode did not finish within {:?}: the orchestrator is blocked outside the host's durable \
                     waits (sleeping, or polling a WASI stream) or its replay is too long",
                    inner.config.episode_timeout
                ),
            );
            let replayer = live.replayer.clone();
            drop(live);
            let yielded = {
                let mut replayer = replayer.lock().unwrap_or_else(|e| e.into_inner());
                replayer.abort(failure);
                Yield { output: replayer.take_output(), custom_status: replayer.custom_status().cloned() }
            };
            return committed(commit(inner, &instance, None, consumed, yielded, pin, None).await);
        }
    };
    committed(commit(inner, &instance, Some(live), consumed, yielded, pin, None).await)
}

pub(crate) fn committed(result: Result<bool, StoreError>) -> Result<Step, StoreError> {
    result.map(|done| if done { Step::Committed } else { Step::Skipped })
}

/// An episode of retry records only, committed without running the orchestrator: a blocked
/// orchestrator's waits are not answered by them, so replaying it would change nothing.
async fn audit(
    inner: &Arc<Inner>,
    instance: &InstanceRecord,
    messages: &[InboxMessage],
    now: u64,
) -> Result<bool, StoreError> {
    let mut events = vec![Event::EpisodeStarted { time: now }];
    for message in messages {
        events.push(match message.message.clone() {
            Message::ActivityRetrying { task_id, attempt, failure, next_attempt_at } => {
                Event::ActivityRetrying { task_id, attempt, failure, next_attempt_at }
            }
            Message::SubOrchestrationRetrying { task_id, attempt, failure, next_attempt_at } => {
                Event::SubOrchestrationRetrying { task_id, attempt, failure, next_attempt_at }
            }
            _ => unreachable!("only retry records reach an audit episode"),
        });
    }
    let yielded = guestless(instance, events, None);
    let consumed = messages.iter().map(|m| m.id).collect();
    commit(inner, instance, None, consumed, yielded, None, Some((instance.status, None))).await
}

/// An episode of lifecycle messages (terminate, suspend, resume), handled without running the
/// orchestrator: they act on the instance, not on its waits. Other messages stay in the inbox
/// for the next episode (or, once terminated, are dropped with the instance's other work).
async fn lifecycle(
    inner: &Arc<Inner>,
    instance: &InstanceRecord,
    messages: &[InboxMessage],
    now: u64,
) -> Result<bool, StoreError> {
    inner.cache.evict(&instance.instance_id);
    let mut status = instance.status;
    let mut events = vec![Event::EpisodeStarted { time: now }];
    let mut consumed = Vec::new();
    let mut terminated = None;
    for message in messages.iter().filter(|m| m.message.is_control()) {
        consumed.push(message.id);
        match &message.message {
            Message::Terminate { reason, cascade } => {
                events.push(Event::ExecutionTerminated { reason: reason.clone(), cascade: *cascade });
                terminated = Some(Failure::new(error_types::TERMINATED, reason.clone()));
                status = RuntimeStatus::Terminated;
                break;
            }
            Message::Suspend { reason } if status != RuntimeStatus::Suspended => {
                events.push(Event::ExecutionSuspended { reason: reason.clone() });
                status = RuntimeStatus::Suspended;
            }
            Message::Resume { reason } if status == RuntimeStatus::Suspended => {
                events.push(Event::ExecutionResumed { reason: reason.clone() });
                status = RuntimeStatus::Running;
            }
            // Suspending a suspended instance or resuming a running one changes nothing.
            _ => {}
        }
    }
    if status == RuntimeStatus::Terminated {
        consumed = messages.iter().map(|m| m.id).collect();
    }
    let yielded = guestless(instance, events, terminated.clone().map(Terminal::Failed));
    commit(inner, instance, None, consumed, yielded, None, Some((status, terminated))).await
}

/// The hot path: the instance's orchestrator is parked in the cache, in step with the store.
fn hot(inner: &Inner, instance: &InstanceRecord, messages: &[InboxMessage], now: u64) -> Option<LiveInstance> {
    let live = inner.cache.take(&instance.instance_id)?;
    if live.execution != instance.execution
        || live.history_len() != instance.history_len
        || live.created_at != instance.created_at
    {
        // Another host moved the instance on while it was parked here, or purged it and created
        // another under the same id.
        return None;
    }
    let delivery = Delivery { time: now, messages: messages.iter().map(|m| m.message.clone()).collect() };
    live.deliver(delivery).then_some(live)
}

/// The cold path: a fresh instance of the pinned component, replaying the history. The inner
/// `Err` is a failure that ends the instance without running any guest code.
async fn cold(
    inner: &Arc<Inner>,
    instance: &InstanceRecord,
    messages: Vec<InboxMessage>,
    now: u64,
) -> Result<Result<(LiveInstance, Option<String>), Failure>, StoreError> {
    let (hash, pin) = match &instance.component {
        Some(hash) => (hash.clone(), None),
        None => match orchestrator_component(inner, &instance.name).await? {
            Some(hash) => (hash.clone(), Some(hash)),
            None => {
                return Ok(Err(Failure::new(
                    error_types::ORCHESTRATOR_NOT_FOUND,
                    format!(
                        "no loaded component exports an orchestrator named '{}'; load one with --component",
                        instance.name
                    ),
                )));
            }
        },
    };
    let component = match inner.registry.pinned(&hash).await {
        Ok(Some(component)) => component,
        Ok(None) => {
            return Ok(Err(Failure::new(
                error_types::COMPONENT_UNAVAILABLE,
                format!("the component this instance is pinned to ({hash}) is not in the store"),
            )));
        }
        // A store hiccup is retried; a component that no longer compiles is final.
        Err(ExecutorError::Store(error)) => return Err(error),
        Err(error) => {
            return Ok(Err(Failure::new(
                error_types::COMPONENT_UNAVAILABLE,
                format!("the component this instance is pinned to ({hash}) cannot be loaded: {error}"),
            )));
        }
    };
    let history = if instance.history_len > 0 {
        let (id, execution) = (instance.instance_id.clone(), instance.execution);
        inner.store.call(move |store| store.history(&id, execution)).await?
    } else {
        Vec::new()
    };
    let mut replayer = match Replayer::new(instance.instance_id.clone(), instance.execution, hash, history) {
        Ok(replayer) => replayer.with_limits(inner.config.history_limits),
        Err(error) => {
            return Ok(Err(Failure::new(error_types::GUEST_TRAPPED, error.to_string())));
        }
    };
    replayer.deliver(now, messages.into_iter().map(|m| m.message).collect());
    let live = LiveInstance::start(
        inner.runtime.clone(),
        component,
        instance.instance_id.clone(),
        (instance.execution, instance.created_at),
        replayer,
        inner.config.max_payload_bytes,
    );
    Ok(Ok((live, pin)))
}

/// The hash of the component that serves orchestrator `name`: the one loaded in this process, or
/// else the newest one the store knows (loaded by another process sharing the database).
async fn orchestrator_component(inner: &Arc<Inner>, name: &str) -> Result<Option<String>, StoreError> {
    if let Some(hash) = inner.registry.orchestrator(name) {
        return Ok(Some(hash));
    }
    let components = inner.store.call(|store| store.components()).await?;
    Ok(components.into_iter().find(|c| c.orchestrators.iter().any(|o| o == name)).map(|c| c.hash))
}

/// Ends an instance whose orchestrator cannot run at all, recording why in its history.
async fn fail_without_guest(
    inner: &Arc<Inner>,
    instance: &InstanceRecord,
    consumed: Vec<i64>,
    failure: Failure,
    now: u64,
) -> Result<bool, StoreError> {
    let mut events = vec![Event::EpisodeStarted { time: now }];
    if instance.history_len == 0 {
        events.push(Event::ExecutionStarted {
            name: instance.name.clone(),
            input: instance.input.clone(),
            component: String::new(),
        });
    }
    events.push(Event::ExecutionFailed { failure: failure.clone() });
    let yielded = guestless(instance, events, Some(Terminal::Failed(failure)));
    commit(inner, instance, None, consumed, yielded, None, None).await
}

/// The output of an episode the host writes without running the orchestrator: `events`
/// numbered after the instance's history.
fn guestless(instance: &InstanceRecord, events: Vec<Event>, terminal: Option<Terminal>) -> Yield {
    let base_len = instance.history_len;
    let events = events
        .into_iter()
        .enumerate()
        .map(|(index, event)| HistoryEvent { seq: base_len + index as u64, event })
        .collect();
    let output = reprise_core::replay::EpisodeOutput { events, base_len, terminal };
    Yield { output, custom_status: instance.custom_status.clone() }
}

/// Commits an episode and parks the instance if it is still running. `lifecycle` overrides the
/// status (and failure) an orchestrator's episode would give.
#[allow(clippy::too_many_arguments)]
async fn commit(
    inner: &Arc<Inner>,
    instance: &InstanceRecord,
    live: Option<LiveInstance>,
    consumed: Vec<i64>,
    yielded: Yield,
    pin: Option<String>,
    lifecycle: Option<(RuntimeStatus, Option<Failure>)>,
) -> Result<bool, StoreError> {
    let Yield { output, custom_status } = yielded;
    let now = inner.clock.now();
    let mut new_activities = Vec::new();
    let mut new_instances = Vec::new();
    let mut outgoing = Vec::new();
    let mut continue_as_new = None;
    for event in &output.events {
        match &event.event {
            Event::ActivityScheduled { task_id, name, input, options } => new_activities.push(NewActivityTask {
                task_id: *task_id,
                name: name.clone(),
                input: input.clone(),
                options: options.clone(),
                claimed_until: None,
            }),
            // A timer is a message to the instance itself, delayed until it fires.
            Event::TimerScheduled { task_id, fire_at } => outgoing.push(OutgoingMessage {
                instance_id: instance.instance_id.clone(),
                message: Message::TimerFired { task_id: *task_id },
                visible_at: *fire_at,
                execution: None,
            }),
            Event::SubOrchestrationScheduled { task_id, name, instance_id: child, input, retry } => {
                new_instances.push(NewInstance {
                    instance_id: child.clone(),
                    name: name.clone(),
                    input: input.clone(),
                    created_at: now,
                    parent: Some(ParentRef {
                        instance_id: instance.instance_id.clone(),
                        execution: instance.execution,
                        task_id: *task_id,
                        retry: retry.clone(),
                        attempt: 1,
                        first_started: now,
                    }),
                })
            }
            Event::EventSent { instance_id, name, data } => outgoing.push(OutgoingMessage {
                instance_id: instance_id.clone(),
                message: Message::EventRaised { name: name.clone(), data: data.clone() },
                visible_at: now,
                execution: None,
            }),
            // An entity operation is a message to the entity's instance, which its first
            // operation creates; a call carries where its result goes.
            Event::EntityCalled { task_id, entity, operation, input, in_critical_section } => {
                outgoing.push(OutgoingMessage {
                    instance_id: entity.instance_id(),
                    message: Message::EntityOperation(EntityOperation {
                        operation: operation.clone(),
                        input: input.clone(),
                        caller: Some(EntityCaller {
                            instance_id: instance.instance_id.clone(),
                            execution: instance.execution,
                            task_id: *task_id,
                        }),
                        in_critical_section: *in_critical_section,
                    }),
                    visible_at: now,
                    execution: None,
                })
            }
            Event::EntitySignaled { entity, operation, input } => outgoing.push(OutgoingMessage {
                instance_id: entity.instance_id(),
                message: Message::EntityOperation(EntityOperation {
                    operation: operation.clone(),
                    input: input.clone(),
                    caller: None,
                    in_critical_section: false,
                }),
                visible_at: now,
                execution: None,
            }),
            // Locks are taken one entity after the other, in the (sorted) order of the request:
            // the request goes to the first, which passes it on once it holds its lock.
            Event::EntityLockRequested { task_id, entities } => {
                if let Some((first, rest)) = entities.split_first() {
                    let caller = EntityCaller {
                        instance_id: instance.instance_id.clone(),
                        execution: instance.execution,
                        task_id: *task_id,
                    };
                    outgoing.push(OutgoingMessage {
                        instance_id: first.instance_id(),
                        message: Message::EntityLock(EntityLockRequest { caller, remaining: rest.to_vec() }),
                        visible_at: now,
                        execution: None,
                    });
                }
            }
            Event::EntitiesUnlocked { entities } => outgoing.extend(unlocks(instance, entities, now)),
            _ => {}
        }
    }
    let (mut status, result, mut failure) = match (lifecycle, output.terminal) {
        (Some((status, failure)), _) => (status, None, failure),
        (None, None) => (RuntimeStatus::Running, None, None),
        (None, Some(Terminal::Completed(result))) => (RuntimeStatus::Completed, Some(result), None),
        (None, Some(Terminal::Failed(failure))) => (RuntimeStatus::Failed, None, Some(failure)),
        (None, Some(Terminal::ContinuedAsNew { input, carried, keep_events })) => {
            let carry = carried.into_iter().map(|(name, data)| Message::EventRaised { name, data }).collect();
            continue_as_new =
                Some(ContinueAsNew { input, carry, keep_pending_events: keep_events, start_at: now, parent: None });
            (RuntimeStatus::ContinuedAsNew, None, None)
        }
    };
    if let Some(parent) = &instance.parent
        && status.is_terminal()
        && parent_awaits(inner, parent).await?
    {
        // Only the execution that started the child waits for it.
        let to_parent = |message| OutgoingMessage {
            instance_id: parent.instance_id.clone(),
            message,
            visible_at: now,
            execution: Some(parent.execution),
        };
        let task_id = parent.task_id;
        match (status, failure.clone()) {
            (RuntimeStatus::Completed, _) => outgoing.push(to_parent(Message::SubOrchestrationCompleted {
                task_id,
                output: result.clone().unwrap_or_else(Payload::null),
            })),
            (_, failure_or_none) => {
                let child_failure = failure_or_none.unwrap_or_else(|| {
                    Failure::new(error_types::TERMINATED, format!("{} ended as {status}", instance.instance_id))
                });
                let retry_at = match status {
                    RuntimeStatus::Failed => parent.retry.as_ref().and_then(|policy| {
                        policy.next_attempt(parent.attempt, &child_failure, parent.first_started, now)
                    }),
                    _ => None,
                };
                match retry_at {
                    // A retry restarts the child as a new execution once the wait has passed;
                    // the parent only hears of it for audit.
                    Some(next_attempt_at) => {
                        outgoing.push(to_parent(Message::SubOrchestrationRetrying {
                            task_id,
                            attempt: parent.attempt,
                            failure: child_failure,
                            next_attempt_at,
                        }));
                        continue_as_new = Some(ContinueAsNew {
                            input: instance.input.clone(),
                            carry: Vec::new(),
                            keep_pending_events: false,
                            start_at: next_attempt_at,
                            parent: Some(ParentRef { attempt: parent.attempt + 1, ..parent.clone() }),
                        });
                        status = RuntimeStatus::ContinuedAsNew;
                        failure = None;
                    }
                    None => {
                        outgoing.push(to_parent(Message::SubOrchestrationFailed { task_id, failure: child_failure }))
                    }
                }
            }
        }
    }
    if let Some(reason) = output.events.iter().find_map(|e| match &e.event {
        Event::ExecutionTerminated { reason, cascade: true } => Some(reason.clone()),
        _ => None,
    }) {
        // Its children are terminated by the same commit, which holds its lock: a child it
        // started is either committed by now, and listed here, or never started.
        let id = instance.instance_id.clone();
        for child in inner.store.call(move |store| store.children(&id)).await? {
            let message = Message::Terminate { reason: reason.clone(), cascade: true };
            outgoing.push(OutgoingMessage { instance_id: child, message, visible_at: now, execution: None });
        }
    }
    if status.is_terminal() || continue_as_new.is_some() {
        // An execution that ends leaves its critical section, whichever way it ends.
        let held = match &live {
            Some(live) => live.replayer.lock().unwrap_or_else(|e| e.into_inner()).locks_to_release(),
            None => locks_in_history(inner, instance, &output.events).await?,
        };
        outgoing.extend(unlocks(instance, &held, now));
    }
    // Who must hear of this commit once it is durable: the instances it sends to or starts (or
    // restarts), and the activity dispatcher for the tasks it schedules but does not run.
    let mut announced: Vec<(String, Timestamp)> =
        outgoing.iter().map(|m| (m.instance_id.clone(), m.visible_at)).collect();
    announced.extend(new_instances.iter().map(|child| (child.instance_id.to_string(), now)));
    if !new_instances.is_empty() {
        // A child whose id is taken fails its parent's task by a message to the parent.
        announced.push((instance.instance_id.clone(), now));
    }
    if let Some(next) = &continue_as_new {
        announced.push((instance.instance_id.clone(), next.start_at));
    }
    let claimed = if status == RuntimeStatus::Running && continue_as_new.is_none() {
        claim_locally(inner, instance, &mut new_activities, now)
    } else {
        Vec::new()
    };
    let unclaimed = new_activities.len() > claimed.len();
    let commit = EpisodeCommit {
        instance_id: instance.instance_id.clone(),
        execution: instance.execution,
        owner: inner.config.owner.clone(),
        expected_history_len: output.base_len,
        new_events: output.events,
        new_activities,
        consumed_messages: consumed,
        status,
        output: result,
        failure: failure.clone(),
        custom_status,
        component: pin,
        outgoing,
        new_instances,
        continue_as_new,
        now,
    };
    match inner.store.submit(|store, done| store.commit_episode_then(commit, done)).await {
        Ok(()) => {}
        Err(StoreError::Conflict { reason, .. }) => {
            tracing::warn!(instance = %instance.instance_id, "episode discarded, the instance moved on: {reason}");
            return Ok(false);
        }
        Err(error) => return Err(error),
    }
    if let Some(failure) = &failure {
        tracing::warn!(instance = %instance.instance_id, "instance failed: {failure}");
    }
    crate::activities::run_claimed(inner, claimed);
    if unclaimed {
        inner.activity_trigger.request_poll();
    }
    inner.announce(announced.iter().map(|(id, at)| (id.as_str(), *at)), now);
    if status == RuntimeStatus::Running
        && let Some(live) = live
    {
        inner.cache.park(instance.instance_id.clone(), live);
    }
    if status.is_terminal() {
        // Clients wait for an orchestration to finish (see `Host::wait`), not for its steps.
        inner.watchers.committed(&instance.instance_id);
    }
    Ok(true)
}

/// Claims, in the episode's own commit, the new tasks this host can run at once (their activity
/// is loaded here and a slot is free), in the order they were scheduled: each gets a lease and
/// its slot, and starts as soon as the commit is durable. The rest wait for the dispatcher.
fn claim_locally(
    inner: &Arc<Inner>,
    instance: &InstanceRecord,
    tasks: &mut [NewActivityTask],
    now: Timestamp,
) -> Vec<(ActivityTask, OwnedSemaphorePermit)> {
    let lease_until = now + inner.config.activity_lease.as_millis() as u64;
    let mut claimed = Vec::new();
    for task in tasks {
        if inner.registry.activity(&task.name).is_none() {
            continue;
        }
        let Ok(permit) = inner.activity_slots.clone().try_acquire_owned() else {
            break;
        };
        task.claimed_until = Some(lease_until);
        let key = ActivityTaskKey {
            instance_id: instance.instance_id.clone(),
            execution: instance.execution,
            task_id: task.task_id,
        };
        let claim = ActivityTask {
            key,
            name: task.name.clone(),
            input: task.input.clone(),
            options: task.options.clone(),
            attempt: 1,
            created_at: now,
            lease_until,
        };
        claimed.push((claim, permit));
    }
    claimed
}

/// Whether the parent still runs the execution that started this child: a parent that
/// continued as new (or finished) no longer has the task, and the result is dropped.
async fn parent_awaits(inner: &Arc<Inner>, parent: &ParentRef) -> Result<bool, StoreError> {
    let id = parent.instance_id.clone();
    let record = inner.store.call(move |store| store.instance(&id)).await?;
    Ok(record.is_some_and(|p| p.execution == parent.execution && !p.status.is_terminal()))
}

/// The messages that release `entities` from the critical section of `instance`'s current
/// execution.
fn unlocks<'a>(
    instance: &'a InstanceRecord,
    entities: &'a [EntityId],
    now: u64,
) -> impl Iterator<Item = OutgoingMessage> + 'a {
    let holder = LockHolder { instance_id: instance.instance_id.clone(), execution: instance.execution };
    entities.iter().map(move |entity| OutgoingMessage {
        instance_id: entity.instance_id(),
        message: Message::EntityUnlock { holder: holder.clone() },
        visible_at: now,
        execution: None,
    })
}

/// The locks an execution that ends without its orchestrator (terminated, or failed by the host)
/// holds or has asked for, from its recorded history and the episode's new events.
async fn locks_in_history(
    inner: &Arc<Inner>,
    instance: &InstanceRecord,
    new_events: &[HistoryEvent],
) -> Result<Vec<EntityId>, StoreError> {
    let recorded = if instance.history_len > 0 {
        let (id, execution) = (instance.instance_id.clone(), instance.execution);
        inner.store.call(move |store| store.history(&id, execution)).await?
    } else {
        Vec::new()
    };
    Ok(reprise_core::locks_held_after(recorded.iter().chain(new_events).map(|e| &e.event)))
}
