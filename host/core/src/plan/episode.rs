//! The commit of an orchestration's episode: what its events become (activity tasks, timers,
//! sub-orchestrations, messages to other instances and to entities), how its end is told to a
//! waiting parent (or turned into the child's retry), what a cascading terminate reaches, which
//! locks an ending execution releases, which new tasks this host runs at once, and who must hear
//! of the commit once it is durable.
//!
//! Two steps, so that the executor reads only what an episode needs: [`needs`] says which facts
//! the decision depends on (is the parent still waiting, which children are running, which
//! locks are held), the executor reads them, and [`plan`] decides.

use super::AfterCommit;
use super::writes::{ActivityTask, ActivityTaskKey, ContinueAsNew, EpisodeCommit, NewActivityTask, NewInstance};
use crate::failure::error_types;
use crate::flow::FlowLimits;
use crate::replay::{EpisodeOutput, Terminal};
use crate::{
    EntityCaller, EntityId, EntityLockRequest, EntityOperation, Event, Failure, LockHolder, Message, OutgoingMessage,
    ParentRef, Payload, RuntimeStatus, Timestamp, UpdateAnswer,
};

/// The instance whose episode is committed, as the episode found it.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    /// Its id.
    pub id: &'a str,
    /// Its current execution.
    pub execution: u32,
    /// Its input (a retried child starts again with it).
    pub input: &'a Payload,
    /// The parent that started it, if it is a sub-orchestration.
    pub parent: Option<&'a ParentRef>,
}

/// One episode to commit.
#[derive(Debug, Clone)]
pub struct Episode<'a> {
    /// The instance.
    pub instance: Instance<'a>,
    /// The host that holds its lock and commits.
    pub owner: &'a str,
    /// The commit's time.
    pub now: Timestamp,
    /// What the episode recorded (the replayer's output, or a guestless episode's).
    pub output: EpisodeOutput,
    /// The custom status after the episode.
    pub custom_status: Option<Payload>,
    /// The inbox messages it consumed.
    pub consumed: Vec<i64>,
    /// The component to pin the instance to (its first episode).
    pub pin: Option<String>,
    /// A status decided by the host rather than by the orchestrator's end (a lifecycle episode),
    /// with the failure of a terminated instance.
    pub status: Option<(RuntimeStatus, Option<Failure>)>,
}

/// The facts a plan depends on beyond the episode itself, as [`needs`] asks for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// Whether the parent still runs the execution that started this child (read the parent).
    pub parent: bool,
    /// The instance's running children (a cascading terminate reaches them).
    pub children: bool,
    /// The entities whose locks the execution holds or asked for (it ends, and releases them).
    pub locks: bool,
}

/// The facts [`needs`] asked for (the others are left at their defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The parent runs the execution that started this child, and has not finished.
    pub parent_awaits: bool,
    /// Ids of the instance's running children.
    pub children: Vec<String>,
    /// The entities whose locks the execution holds or asked for.
    pub locks_held: Vec<EntityId>,
}

/// Which new activity tasks the commit may claim for this host, to run them at once, and the
/// flow limits every new task is enqueued under.
pub struct Claims<'a> {
    /// Activity slots the executor holds for them: at most this many are claimed.
    pub slots: usize,
    /// When a claim's lease ends.
    pub lease_until: Timestamp,
    /// Whether this host can run an activity (a loaded component exports it).
    pub runs_here: &'a dyn Fn(&str) -> bool,
    /// The flow limits: each new task is enqueued with its key under them, and a task of a
    /// limited activity is never claimed by the commit (which would start it past its limits):
    /// it waits for the dispatcher's claim, which enforces them.
    pub flow: &'a FlowLimits,
}

/// What an episode writes and what follows its commit.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodePlan {
    /// The one transaction.
    pub commit: EpisodeCommit,
    /// What to do once it is durable, in order.
    pub after: Vec<AfterCommit>,
}

/// How the execution stands after the episode, before a parent's retry is considered.
fn ending(episode: &Episode<'_>) -> RuntimeStatus {
    match (&episode.status, &episode.output.terminal) {
        (Some((status, _)), _) => *status,
        (None, None) => RuntimeStatus::Running,
        (None, Some(Terminal::Completed(_))) => RuntimeStatus::Completed,
        (None, Some(Terminal::Failed(_))) => RuntimeStatus::Failed,
        (None, Some(Terminal::ContinuedAsNew { .. })) => RuntimeStatus::ContinuedAsNew,
    }
}

/// The reason of the episode's cascading terminate, if it terminates with `cascade`.
fn cascade(events: &[crate::HistoryEvent]) -> Option<&str> {
    events.iter().find_map(|e| match &e.event {
        Event::ExecutionTerminated { reason, cascade: true } => Some(reason.as_str()),
        _ => None,
    })
}

/// The facts [`plan`] needs for `episode`.
pub fn needs(episode: &Episode<'_>) -> Needs {
    let status = ending(episode);
    Needs {
        parent: episode.instance.parent.is_some() && status.is_terminal(),
        children: cascade(&episode.output.events).is_some(),
        locks: status.is_terminal() || status == RuntimeStatus::ContinuedAsNew,
    }
}

/// Plans the commit of `episode` (see the module docs), given the facts [`needs`] asked for.
pub fn plan(episode: Episode<'_>, facts: Facts, claims: Claims<'_>) -> EpisodePlan {
    let Episode { instance, owner, now, output, custom_status, consumed, pin, status: decided } = episode;
    let EpisodeOutput { events, base_len, terminal } = output;
    let ends = terminal.is_some() || decided.as_ref().is_some_and(|(s, _)| s.is_terminal());
    let mut writes = Writes::new(instance, now, claims.flow);
    for event in &events {
        writes.add(event, ends);
    }
    let cascading = cascade(&events).map(str::to_string);

    let (mut status, result, mut failure, mut continue_as_new) = match (decided, terminal) {
        (Some((status, failure)), _) => (status, None, failure, None),
        (None, None) => (RuntimeStatus::Running, None, None, None),
        (None, Some(Terminal::Completed(result))) => (RuntimeStatus::Completed, Some(result), None, None),
        (None, Some(Terminal::Failed(failure))) => (RuntimeStatus::Failed, None, Some(failure), None),
        (None, Some(Terminal::ContinuedAsNew { input, carried, keep_events })) => {
            let carry = carried.into_iter().map(|(name, data)| Message::EventRaised { name, data }).collect();
            let next = ContinueAsNew { input, carry, keep_pending_events: keep_events, start_at: now, parent: None };
            (RuntimeStatus::ContinuedAsNew, None, None, Some(next))
        }
    };

    if let Some(parent) = instance.parent
        && status.is_terminal()
        && facts.parent_awaits
    {
        match tell_parent(instance, parent, status, result.as_ref(), failure.as_ref(), now) {
            ToParent::Result(message) => writes.outgoing.push(message),
            ToParent::Retry(record, next) => {
                // A retry restarts the child as a new execution once the wait has passed; the
                // parent only hears of it for audit.
                writes.outgoing.push(record);
                continue_as_new = Some(next);
                status = RuntimeStatus::ContinuedAsNew;
                failure = None;
            }
        }
    }

    if let Some(reason) = cascading {
        // The children are terminated by the same commit, which holds the instance's lock: a
        // child it started is either committed by now, and listed, or never started.
        for child in &facts.children {
            let message = Message::Terminate { reason: reason.clone(), cascade: true };
            writes.outgoing.push(OutgoingMessage {
                instance_id: child.clone(),
                message,
                visible_at: now,
                execution: None,
            });
        }
    }

    if status.is_terminal() || continue_as_new.is_some() {
        // An execution that ends leaves its critical section, whichever way it ends.
        writes.outgoing.extend(unlocks(instance, &facts.locks_held, now));
    }

    let running = status == RuntimeStatus::Running && continue_as_new.is_none();
    let claimed = if running { claim(instance, &mut writes.activities, &claims, now) } else { Vec::new() };
    let unclaimed = writes.activities.len() > claimed.len();

    // Who must hear of the commit once it is durable: the instances it sends to or starts (or
    // restarts), and the dispatcher for the tasks it schedules but does not run.
    let mut after: Vec<AfterCommit> = claimed.into_iter().map(AfterCommit::Run).collect();
    if unclaimed {
        after.push(AfterCommit::PollActivities);
    }
    let wake = |instance_id: &str, at| AfterCommit::Wake { instance_id: instance_id.to_string(), at };
    after.extend(writes.outgoing.iter().map(|m| wake(&m.instance_id, m.visible_at)));
    after.extend(writes.children.iter().map(|child| wake(child.instance_id.as_str(), now)));
    if !writes.children.is_empty() {
        // A child whose id is taken fails its parent's task by a message to the parent.
        after.push(wake(instance.id, now));
    }
    if let Some(next) = &continue_as_new {
        after.push(wake(instance.id, next.start_at));
    }
    if let Some(failure) = &failure {
        after.push(AfterCommit::Failed(failure.clone()));
    }
    if running {
        after.push(AfterCommit::Park);
    }
    if status.is_terminal() || continue_as_new.is_some() || !writes.answers.is_empty() {
        // Clients wait for an orchestration to finish, or for an update's answer (which an
        // execution that ends, or continues as new, will never give), not for its other steps.
        after.push(AfterCommit::Notify);
    }

    let commit = EpisodeCommit {
        instance_id: instance.id.to_string(),
        execution: instance.execution,
        owner: owner.to_string(),
        expected_history_len: base_len,
        new_events: events,
        new_activities: writes.activities,
        outgoing: writes.outgoing,
        consumed_messages: consumed,
        new_instances: writes.children,
        update_replies: writes.answers,
        continue_as_new,
        status,
        output: result,
        failure,
        custom_status,
        component: pin,
        now,
    };
    EpisodePlan { commit, after }
}

/// What the episode's events write, gathered event by event.
struct Writes<'a> {
    instance: Instance<'a>,
    now: Timestamp,
    flow: &'a FlowLimits,
    activities: Vec<NewActivityTask>,
    outgoing: Vec<OutgoingMessage>,
    children: Vec<NewInstance>,
    answers: Vec<UpdateAnswer>,
}

impl<'a> Writes<'a> {
    fn new(instance: Instance<'a>, now: Timestamp, flow: &'a FlowLimits) -> Self {
        Writes {
            instance,
            now,
            flow,
            activities: Vec::new(),
            outgoing: Vec::new(),
            children: Vec::new(),
            answers: Vec::new(),
        }
    }

    fn caller(&self, task_id: u64) -> EntityCaller {
        EntityCaller { instance_id: self.instance.id.to_string(), execution: self.instance.execution, task_id }
    }

    fn send(&mut self, instance_id: String, message: Message) {
        self.outgoing.push(OutgoingMessage { instance_id, message, visible_at: self.now, execution: None });
    }

    /// What `event` writes. In an episode that `ends` the execution, its activity tasks and its
    /// timers are not written at all: the commit would delete them with the execution's other
    /// work (sub-orchestrations it starts and messages it sends to others do go out).
    fn add(&mut self, event: &crate::HistoryEvent, ends: bool) {
        let now = self.now;
        match &event.event {
            Event::ActivityScheduled { .. } | Event::TimerScheduled { .. } if ends => {}
            Event::ActivityScheduled { task_id, name, input, options } => self.activities.push(NewActivityTask {
                task_id: *task_id,
                name: name.clone(),
                input: input.clone(),
                options: options.clone(),
                claimed_until: None,
                flow_key: self.flow.key_of(name, input),
            }),
            // A timer is a message to the instance itself, delayed until it fires.
            Event::TimerScheduled { task_id, fire_at } => self.outgoing.push(OutgoingMessage {
                instance_id: self.instance.id.to_string(),
                message: Message::TimerFired { task_id: *task_id },
                visible_at: *fire_at,
                execution: None,
            }),
            Event::SubOrchestrationScheduled { task_id, name, instance_id: child, input, retry } => {
                let parent = ParentRef {
                    instance_id: self.instance.id.to_string(),
                    execution: self.instance.execution,
                    task_id: *task_id,
                    retry: retry.clone(),
                    attempt: 1,
                    first_started: now,
                };
                let taken =
                    Failure::new(error_types::INSTANCE_EXISTS, format!("an instance with id '{child}' already exists"));
                let if_taken = OutgoingMessage {
                    instance_id: self.instance.id.to_string(),
                    message: Message::SubOrchestrationFailed { task_id: *task_id, failure: taken },
                    visible_at: now,
                    execution: Some(self.instance.execution),
                };
                self.children.push(NewInstance {
                    instance_id: child.clone(),
                    name: name.clone(),
                    input: input.clone(),
                    created_at: now,
                    parent: Some(parent),
                    if_taken: Some(if_taken),
                });
            }
            // An answer is kept whatever the episode does next: its caller waits for it even if
            // the instance ends in the same episode.
            Event::UpdateReplied { update_id, reply } => {
                self.answers.push(UpdateAnswer { update_id: update_id.clone(), reply: reply.clone() })
            }
            Event::EventSent { instance_id, name, data } => {
                self.send(instance_id.clone(), Message::EventRaised { name: name.clone(), data: data.clone() })
            }
            // An entity operation is a message to the entity's instance, which its first
            // operation creates; a call carries where its result goes.
            Event::EntityCalled { task_id, entity, operation, input, in_critical_section } => {
                let operation = EntityOperation {
                    operation: operation.clone(),
                    input: input.clone(),
                    caller: Some(self.caller(*task_id)),
                    in_critical_section: *in_critical_section,
                };
                self.send(entity.instance_id(), Message::EntityOperation(operation))
            }
            Event::EntitySignaled { entity, operation, input } => {
                let operation = EntityOperation {
                    operation: operation.clone(),
                    input: input.clone(),
                    caller: None,
                    in_critical_section: false,
                };
                self.send(entity.instance_id(), Message::EntityOperation(operation))
            }
            // Locks are taken one entity after the other, in the (sorted) order of the request:
            // the request goes to the first, which passes it on once it holds its lock.
            Event::EntityLockRequested { task_id, entities } => {
                if let Some((first, rest)) = entities.split_first() {
                    let request = EntityLockRequest { caller: self.caller(*task_id), remaining: rest.to_vec() };
                    self.send(first.instance_id(), Message::EntityLock(request));
                }
            }
            Event::EntitiesUnlocked { entities } => {
                let released: Vec<OutgoingMessage> = unlocks(self.instance, entities, now).collect();
                self.outgoing.extend(released);
            }
            _ => {}
        }
    }
}

/// What an ending child tells its waiting parent.
enum ToParent {
    /// Its result or its (last) failure.
    Result(OutgoingMessage),
    /// The record of a failed attempt, and the child's restart for the next one.
    Retry(OutgoingMessage, ContinueAsNew),
}

/// How the end of `instance` (a child of `parent` ending with `status`) reaches its parent: its
/// output, or its failure, which the call's retry policy may turn into another attempt. Only the
/// execution that started the child waits for it.
fn tell_parent(
    instance: Instance<'_>,
    parent: &ParentRef,
    status: RuntimeStatus,
    result: Option<&Payload>,
    failure: Option<&Failure>,
    now: Timestamp,
) -> ToParent {
    let to_parent = |message| OutgoingMessage {
        instance_id: parent.instance_id.clone(),
        message,
        visible_at: now,
        execution: Some(parent.execution),
    };
    let task_id = parent.task_id;
    if status == RuntimeStatus::Completed {
        let output = result.cloned().unwrap_or_else(Payload::null);
        return ToParent::Result(to_parent(Message::SubOrchestrationCompleted { task_id, output }));
    }
    let child_failure = failure
        .cloned()
        .unwrap_or_else(|| Failure::new(error_types::TERMINATED, format!("{} ended as {status}", instance.id)));
    let retry_at = match status {
        RuntimeStatus::Failed => parent
            .retry
            .as_ref()
            .and_then(|policy| policy.next_attempt(parent.attempt, &child_failure, parent.first_started, now)),
        _ => None,
    };
    match retry_at {
        Some(next_attempt_at) => {
            let record = to_parent(Message::SubOrchestrationRetrying {
                task_id,
                attempt: parent.attempt,
                failure: child_failure,
                next_attempt_at,
            });
            let next = ContinueAsNew {
                input: instance.input.clone(),
                carry: Vec::new(),
                keep_pending_events: false,
                start_at: next_attempt_at,
                parent: Some(ParentRef { attempt: parent.attempt + 1, ..parent.clone() }),
            };
            ToParent::Retry(record, next)
        }
        None => ToParent::Result(to_parent(Message::SubOrchestrationFailed { task_id, failure: child_failure })),
    }
}

/// Claims, in the episode's own commit, the new tasks this host can run at once (their activity
/// runs here, has no flow limit, and a slot is held), in the order they were scheduled: each
/// gets a lease, and starts as soon as the commit is durable. The rest wait for the dispatcher.
fn claim(
    instance: Instance<'_>,
    tasks: &mut [NewActivityTask],
    claims: &Claims<'_>,
    now: Timestamp,
) -> Vec<ActivityTask> {
    let mut claimed = Vec::new();
    for task in tasks.iter_mut() {
        if claimed.len() == claims.slots {
            break;
        }
        if !(claims.runs_here)(&task.name) || claims.flow.is_limited(&task.name) {
            continue;
        }
        task.claimed_until = Some(claims.lease_until);
        claimed.push(ActivityTask {
            key: ActivityTaskKey {
                instance_id: instance.id.to_string(),
                execution: instance.execution,
                task_id: task.task_id,
            },
            name: task.name.clone(),
            input: task.input.clone(),
            options: task.options.clone(),
            attempt: 1,
            created_at: now,
            lease_until: claims.lease_until,
        });
    }
    claimed
}

/// The messages that release `entities` from the critical section of `instance`'s execution.
fn unlocks<'a>(
    instance: Instance<'a>,
    entities: &'a [EntityId],
    now: Timestamp,
) -> impl Iterator<Item = OutgoingMessage> + 'a {
    let holder = LockHolder { instance_id: instance.id.to_string(), execution: instance.execution };
    entities.iter().map(move |entity| OutgoingMessage {
        instance_id: entity.instance_id(),
        message: Message::EntityUnlock { holder: holder.clone() },
        visible_at: now,
        execution: None,
    })
}
