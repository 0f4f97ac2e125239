//! Rewind: which failures of a failed instance a rewind undoes, what it must put back in flight
//! so that every task left without an answer gets one, and what becomes of its failed or
//! finished sub-orchestrations.
//!
//! The rule, decided here once and recorded in the rewind's event (replay then obeys the record,
//! see `replay::rewind`): the failures undone are the `ActivityFailed` and
//! `SubOrchestrationFailed` deliveries the orchestrator received after its last command, and the
//! `ExecutionFailed` that ended it. Those are the failures it could only have given up on: a
//! failure it received before issuing more commands was handled by its code (a compensation, a
//! fallback), and undoing it would contradict what the code then did. An instance that failed
//! with no such failure (its code returned an error, or trapped, on its own) is refused: replaying
//! it would fail it the same way, which a restart says more honestly.
//!
//! Once undone, every task the execution scheduled and never got an answer for is answered
//! again: activities are enqueued again as fresh tasks (attempt 1: their retry policy applies
//! anew), timers are set again at their original fire time (those already past fire at once),
//! and sub-orchestrations follow what became of the child (see [`child_action`]). A rewind never
//! runs again what succeeded: those results stay in history and replay. Event waits need nothing
//! (events are raised by clients). An entity call in flight, or a critical section, is refused:
//! the call's result may have been dropped while the instance was failed, and calling again would
//! apply the operation twice; the section's locks were released when it failed.

use crate::flow::FlowLimits;
use crate::plan::writes::{InstanceRewind, NewActivityTask, NewInstance};
use crate::{
    Event, HistoryEvent, InstanceId, Message, OutgoingMessage, ParentRef, Payload, RetryPolicy, RuntimeStatus, TaskId,
    Timestamp, locks_held_after,
};
use std::collections::{BTreeMap, HashSet};

/// Why an instance cannot be rewound. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewindRefusal {
    /// Only a failed instance can be rewound.
    #[error("instance '{instance_id}' is {status}; only a Failed instance can be rewound")]
    NotFailed {
        /// The instance.
        instance_id: String,
        /// Its status.
        status: RuntimeStatus,
    },
    /// Its failure came from its own code, not from a task that failed.
    #[error(
        "instance '{instance_id}' failed in its orchestrator's own code ({failure}), not because an activity or a sub-orchestration failed: a rewind would fail it the same way; restart it instead"
    )]
    NothingToUndo {
        /// The instance.
        instance_id: String,
        /// Its failure, in one line.
        failure: String,
    },
    /// It failed inside a critical section.
    #[error(
        "instance '{instance_id}' failed inside a critical section, whose locks were released when it failed: it cannot be rewound; restart it instead"
    )]
    InCriticalSection {
        /// The instance.
        instance_id: String,
    },
    /// It failed while an entity operation it called had not answered.
    #[error(
        "instance '{instance_id}' failed while waiting for the result of '{operation}' on entity {entity}: that result may have been dropped, and calling the entity again could apply the operation twice, so it cannot be rewound; restart it instead"
    )]
    EntityCallInFlight {
        /// The instance.
        instance_id: String,
        /// The entity called.
        entity: String,
        /// The operation.
        operation: String,
    },
    /// A sub-orchestration's id now names an instance that is not that child.
    #[error(
        "sub-orchestration '{child}' of instance '{instance_id}' was replaced by another instance with the same id: it cannot be rewound"
    )]
    ChildReplaced {
        /// The instance.
        instance_id: String,
        /// The child's id.
        child: String,
    },
    /// The history does not have the shape of a failed execution's.
    #[error("the history of instance '{instance_id}' cannot be rewound: {reason}")]
    History {
        /// The instance.
        instance_id: String,
        /// What is wrong.
        reason: String,
    },
}

impl RewindRefusal {
    /// Whether a failed child refused for this reason can be started again from the beginning
    /// instead (a rewind of its parent does that): the child failed by itself, so running it again
    /// from its start is the only way to run it again.
    pub fn can_restart_instead(&self) -> bool {
        matches!(
            self,
            RewindRefusal::NothingToUndo { .. }
                | RewindRefusal::InCriticalSection { .. }
                | RewindRefusal::EntityCallInFlight { .. }
        )
    }
}

/// A sub-orchestration of the rewound execution that has no answer once the rewind undoes its
/// failures: what the executor must look up before [`child_action`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildTask {
    /// The parent's task for it.
    pub task_id: TaskId,
    /// The child's id.
    pub instance_id: InstanceId,
    /// The child orchestrator.
    pub name: String,
    /// Its input.
    pub input: Payload,
    /// The call's retry policy.
    pub retry: Option<RetryPolicy>,
}

/// What the rewind of one failed instance undoes and what it must answer again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The first position whose deliveries are given again after the rewind.
    pub replay_from: u64,
    /// The failure events undone (the last is the `ExecutionFailed`).
    pub undone: Vec<u64>,
    /// The activities to enqueue again.
    pub activities: Vec<NewActivityTask>,
    /// The timers to set again: (task, original fire time).
    pub timers: Vec<(TaskId, Timestamp)>,
    /// The sub-orchestrations without an answer.
    pub children: Vec<ChildTask>,
}

/// What a task of the execution was scheduled as.
enum Scheduled {
    Activity(NewActivityTask),
    Timer(Timestamp),
    Child(ChildTask),
    Entity { entity: String, operation: String },
    Other,
}

/// Decides what rewinding `instance_id` (with `status` and the history of its current
/// execution) undoes and must answer again; see the module docs.
pub fn analyse(instance_id: &str, status: RuntimeStatus, history: &[HistoryEvent]) -> Result<Analysis, RewindRefusal> {
    if status != RuntimeStatus::Failed {
        return Err(RewindRefusal::NotFailed { instance_id: instance_id.to_string(), status });
    }
    let refuse = |reason: &str| RewindRefusal::History { instance_id: instance_id.to_string(), reason: reason.into() };
    let Some(HistoryEvent { seq: failed_at, event: Event::ExecutionFailed { failure } }) = history.last() else {
        return Err(refuse("it does not end with the instance's failure"));
    };
    // What earlier rewinds undid stays undone.
    let mut undone: HashSet<u64> = history
        .iter()
        .filter_map(|e| match &e.event {
            Event::ExecutionRewound { undone, .. } => Some(undone.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect();
    let last_command = history.iter().rev().find(|e| e.event.is_command()).map(|e| e.seq);
    let replay_from = last_command.map_or(0, |seq| seq + 1);
    let mut newly: Vec<u64> = history
        .iter()
        .filter(|e| e.seq >= replay_from && !undone.contains(&e.seq))
        .filter(|e| matches!(e.event, Event::ActivityFailed { .. } | Event::SubOrchestrationFailed { .. }))
        .map(|e| e.seq)
        .collect();
    if newly.is_empty() {
        return Err(RewindRefusal::NothingToUndo {
            instance_id: instance_id.to_string(),
            failure: failure.to_string(),
        });
    }
    if !locks_held_after(history.iter().map(|e| &e.event)).is_empty() {
        return Err(RewindRefusal::InCriticalSection { instance_id: instance_id.to_string() });
    }
    newly.push(*failed_at);
    undone.extend(&newly);

    let mut scheduled: BTreeMap<TaskId, Scheduled> = BTreeMap::new();
    for recorded in history.iter().filter(|e| !undone.contains(&e.seq)) {
        match &recorded.event {
            Event::ActivityScheduled { task_id, name, input, options } => {
                let task = NewActivityTask {
                    task_id: *task_id,
                    name: name.clone(),
                    input: input.clone(),
                    options: options.clone(),
                    claimed_until: None,
                    flow_key: None,
                };
                scheduled.insert(*task_id, Scheduled::Activity(task));
            }
            Event::TimerScheduled { task_id, fire_at } => {
                scheduled.insert(*task_id, Scheduled::Timer(*fire_at));
            }
            Event::SubOrchestrationScheduled { task_id, name, instance_id, input, retry } => {
                let child = ChildTask {
                    task_id: *task_id,
                    instance_id: instance_id.clone(),
                    name: name.clone(),
                    input: input.clone(),
                    retry: retry.clone(),
                };
                scheduled.insert(*task_id, Scheduled::Child(child));
            }
            Event::EntityCalled { task_id, entity, operation, .. } => {
                let entity = entity.to_string();
                scheduled.insert(*task_id, Scheduled::Entity { entity, operation: operation.clone() });
            }
            Event::EventWaitStarted { task_id, .. }
            | Event::UpdateWaitStarted { task_id, .. }
            | Event::EntityLockRequested { task_id, .. } => {
                scheduled.insert(*task_id, Scheduled::Other);
            }
            other => {
                if let Some(task_id) = other.ended_task() {
                    scheduled.remove(&task_id);
                }
            }
        }
    }

    let mut analysis =
        Analysis { replay_from, undone: newly, activities: Vec::new(), timers: Vec::new(), children: Vec::new() };
    for (task_id, task) in scheduled {
        match task {
            Scheduled::Activity(task) => analysis.activities.push(task),
            Scheduled::Timer(fire_at) => analysis.timers.push((task_id, fire_at)),
            Scheduled::Child(child) => analysis.children.push(child),
            Scheduled::Entity { entity, operation } => {
                return Err(RewindRefusal::EntityCallInFlight {
                    instance_id: instance_id.to_string(),
                    entity,
                    operation,
                });
            }
            Scheduled::Other => {}
        }
    }
    Ok(analysis)
}

/// What became of a child, as the executor reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildFacts {
    /// Its status.
    pub status: RuntimeStatus,
    /// Its parent link.
    pub parent: Option<ParentRef>,
    /// Its output, if it completed.
    pub output: Option<Payload>,
}

/// What a rewind does with a sub-orchestration of the rewound execution that has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildAction {
    /// It still runs: its end will reach the parent, which waits for it again.
    Wait,
    /// It completed while the parent was failed (its result was dropped then): deliver it.
    Deliver(OutgoingMessage),
    /// It failed: rewind it too (recursively, under its own id), or, if it cannot be rewound,
    /// start it again.
    Rewind,
    /// It was terminated or purged: start it again from the beginning under its own id.
    Restart(Box<NewInstance>),
}

/// What to do with `child`, a task of execution `execution` of `parent` left without an answer
/// by the rewind, given what became of it (`None`: it no longer exists).
///
/// A failed child is rewound rather than started again, for the reason the parent is: what it
/// did successfully stays done.
pub fn child_action(
    parent: &str,
    execution: u32,
    child: &ChildTask,
    facts: Option<&ChildFacts>,
    now: Timestamp,
) -> Result<ChildAction, RewindRefusal> {
    let Some(facts) = facts else {
        return Ok(ChildAction::Restart(Box::new(restart_child(parent, execution, child, now))));
    };
    let ours = facts
        .parent
        .as_ref()
        .is_some_and(|p| p.instance_id == parent && p.execution == execution && p.task_id == child.task_id);
    if !ours {
        return Err(RewindRefusal::ChildReplaced {
            instance_id: parent.to_string(),
            child: child.instance_id.to_string(),
        });
    }
    Ok(match facts.status {
        RuntimeStatus::Completed => ChildAction::Deliver(OutgoingMessage {
            instance_id: parent.to_string(),
            message: Message::SubOrchestrationCompleted {
                task_id: child.task_id,
                output: facts.output.clone().unwrap_or_else(Payload::null),
            },
            visible_at: now,
            execution: Some(execution),
        }),
        RuntimeStatus::Failed => ChildAction::Rewind,
        RuntimeStatus::Terminated => ChildAction::Restart(Box::new(restart_child(parent, execution, child, now))),
        RuntimeStatus::Pending | RuntimeStatus::Running | RuntimeStatus::Suspended | RuntimeStatus::ContinuedAsNew => {
            ChildAction::Wait
        }
    })
}

/// The child started again under its own id, as its parent's call started it (attempt 1).
pub fn restart_child(parent: &str, execution: u32, child: &ChildTask, now: Timestamp) -> NewInstance {
    NewInstance {
        instance_id: child.instance_id.clone(),
        name: child.name.clone(),
        input: child.input.clone(),
        created_at: now,
        parent: Some(ParentRef {
            instance_id: parent.to_string(),
            execution,
            task_id: child.task_id,
            retry: child.retry.clone(),
            attempt: 1,
            first_started: now,
        }),
        if_taken: None,
    }
}

/// What the rewind of one instance writes: it runs again (with the `Rewind` message its next
/// episode records), its activities are enqueued again, its timers set again, and the results of
/// children that completed meanwhile delivered (`delivered`, from [`child_action`]). Each
/// activity gets its key under `flow` again, as its first enqueue did.
pub fn instance_rewind(
    (instance_id, execution, history_len): (&str, u32, u64),
    reason: &str,
    analysis: Analysis,
    delivered: Vec<OutgoingMessage>,
    (flow, now): (&FlowLimits, Timestamp),
) -> InstanceRewind {
    let to_self = |message, visible_at| OutgoingMessage {
        instance_id: instance_id.to_string(),
        message,
        visible_at,
        execution: Some(execution),
    };
    let Analysis { replay_from, undone, mut activities, timers, .. } = analysis;
    for task in &mut activities {
        task.flow_key = flow.key_of(&task.name, &task.input);
    }
    // The rewind first: the episode that records it must be the first to run.
    let mut messages = vec![to_self(Message::Rewind { reason: reason.to_string(), replay_from, undone }, now)];
    messages.extend(timers.into_iter().map(|(task_id, fire_at)| to_self(Message::TimerFired { task_id }, fire_at)));
    messages.extend(delivered);
    InstanceRewind {
        instance_id: instance_id.to_string(),
        execution,
        expected_history_len: history_len,
        activities,
        messages,
    }
}

#[cfg(test)]
#[path = "rewind_tests.rs"]
mod tests;
