//! The commands an orchestrator issues, described for nondeterminism errors.

use crate::Event;
use std::fmt;

/// What the orchestrator's code did at a point where replay compares it with history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Scheduled an activity.
    ScheduleActivity {
        /// The activity's name.
        name: String,
    },
    /// Started a sub-orchestration.
    ScheduleSubOrchestration {
        /// The child orchestrator's name.
        name: String,
    },
    /// Restarted itself as a new execution.
    ContinueAsNew,
    /// Scheduled a durable timer.
    ScheduleTimer {
        /// When it fires.
        fire_at: crate::Timestamp,
    },
    /// Started waiting for an external event.
    WaitForEvent {
        /// The event's name.
        name: String,
    },
    /// Started waiting for an update.
    WaitForUpdate {
        /// The update's name.
        name: String,
    },
    /// Answered an update.
    ReplyUpdate {
        /// The update's id.
        update_id: String,
    },
    /// Raised an event on another instance.
    RaiseEvent {
        /// The target instance.
        instance_id: String,
        /// The event's name.
        name: String,
    },
    /// Called an entity operation.
    CallEntity {
        /// The entity.
        entity: crate::EntityId,
        /// The operation.
        operation: String,
    },
    /// Signalled an entity operation.
    SignalEntity {
        /// The entity.
        entity: crate::EntityId,
        /// The operation.
        operation: String,
    },
    /// Asked for the locks of a critical section.
    LockEntities {
        /// The entities, sorted.
        entities: Vec<crate::EntityId>,
    },
    /// Left its critical section.
    UnlockEntities,
    /// Waited for tasks that have not completed.
    Wait,
    /// Returned an output.
    Complete,
    /// Returned a failure.
    Fail,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::ScheduleActivity { name, .. } => write!(f, "schedule activity '{name}'"),
            Command::ScheduleSubOrchestration { name } => write!(f, "start sub-orchestration '{name}'"),
            Command::ContinueAsNew => f.write_str("continue as new"),
            Command::ScheduleTimer { .. } => f.write_str("schedule a timer"),
            Command::WaitForEvent { name } => write!(f, "wait for event '{name}'"),
            Command::WaitForUpdate { name } => write!(f, "wait for update '{name}'"),
            Command::ReplyUpdate { update_id } => write!(f, "answer update '{update_id}'"),
            Command::RaiseEvent { instance_id, name } => write!(f, "raise event '{name}' on instance '{instance_id}'"),
            Command::CallEntity { entity, operation } => write!(f, "call operation '{operation}' on entity {entity}"),
            Command::SignalEntity { entity, operation } => {
                write!(f, "signal operation '{operation}' on entity {entity}")
            }
            Command::LockEntities { entities } => {
                let names: Vec<String> = entities.iter().map(ToString::to_string).collect();
                write!(f, "lock entities [{}]", names.join(", "))
            }
            Command::UnlockEntities => f.write_str("release the locks of its critical section"),
            Command::Wait => f.write_str("wait for a task that has not completed"),
            Command::Complete => f.write_str("complete the orchestration"),
            Command::Fail => f.write_str("fail the orchestration"),
        }
    }
}

impl Command {
    /// The command a recorded event is the record of, or `None` for an event that records none
    /// (a delivery, the start of an episode, a version chosen, a termination): what tools that
    /// compare histories (the SDK harnesses' agreement with the host) list as its decisions.
    pub fn recorded_in(event: &Event) -> Option<Command> {
        Some(match event {
            Event::ActivityScheduled { name, .. } => Command::ScheduleActivity { name: name.clone() },
            Event::SubOrchestrationScheduled { name, .. } => Command::ScheduleSubOrchestration { name: name.clone() },
            Event::ExecutionContinuedAsNew { .. } => Command::ContinueAsNew,
            Event::TimerScheduled { fire_at, .. } => Command::ScheduleTimer { fire_at: *fire_at },
            Event::EventWaitStarted { name, .. } => Command::WaitForEvent { name: name.clone() },
            Event::UpdateWaitStarted { name, .. } => Command::WaitForUpdate { name: name.clone() },
            Event::UpdateReplied { update_id, .. } => Command::ReplyUpdate { update_id: update_id.clone() },
            Event::EventSent { instance_id, name, .. } => {
                Command::RaiseEvent { instance_id: instance_id.clone(), name: name.clone() }
            }
            Event::EntityCalled { entity, operation, .. } => {
                Command::CallEntity { entity: entity.clone(), operation: operation.clone() }
            }
            Event::EntitySignaled { entity, operation, .. } => {
                Command::SignalEntity { entity: entity.clone(), operation: operation.clone() }
            }
            Event::EntityLockRequested { entities, .. } => Command::LockEntities { entities: entities.clone() },
            Event::EntitiesUnlocked { .. } => Command::UnlockEntities,
            Event::ExecutionCompleted { .. } => Command::Complete,
            Event::ExecutionFailed { .. } => Command::Fail,
            // Named one by one: a new kind of event must be placed on one side or the other.
            Event::EpisodeStarted { .. }
            | Event::ExecutionStarted { .. }
            | Event::ActivityRetrying { .. }
            | Event::HttpRequestsMade { .. }
            | Event::SubOrchestrationCompleted { .. }
            | Event::SubOrchestrationFailed { .. }
            | Event::SubOrchestrationRetrying { .. }
            | Event::TimerFired { .. }
            | Event::EventRaised { .. }
            | Event::UpdateReceived { .. }
            | Event::EntityCompleted { .. }
            | Event::EntityFailed { .. }
            | Event::ExecutionSuspended { .. }
            | Event::ExecutionResumed { .. }
            | Event::ExecutionRewound { .. }
            | Event::ComponentUpgraded { .. }
            | Event::VersionMarked { .. }
            | Event::ExecutionTerminated { .. }
            | Event::ActivityCompleted { .. }
            | Event::ActivityFailed { .. } => return None,
        })
    }
}

/// Describes a recorded event the way [`Command`] describes a new one, so that a nondeterminism
/// error reads as "recorded X, issued Y".
pub fn describe_recorded(event: &Event) -> String {
    match event {
        Event::ActivityScheduled { task_id, name, .. } => {
            format!("schedule activity '{name}' (task {task_id})")
        }
        Event::TimerScheduled { task_id, .. } => format!("schedule a timer (task {task_id})"),
        Event::SubOrchestrationScheduled { task_id, name, .. } => {
            format!("start sub-orchestration '{name}' (task {task_id})")
        }
        Event::ExecutionContinuedAsNew { .. } => "continue as new".to_string(),
        Event::EventWaitStarted { task_id, name } => format!("wait for event '{name}' (task {task_id})"),
        Event::UpdateWaitStarted { task_id, name } => format!("wait for update '{name}' (task {task_id})"),
        Event::UpdateReplied { update_id, .. } => format!("answer update '{update_id}'"),
        Event::EventSent { instance_id, name, .. } => format!("raise event '{name}' on instance '{instance_id}'"),
        Event::EntityCalled { task_id, entity, operation, .. } => {
            format!("call operation '{operation}' on entity {entity} (task {task_id})")
        }
        Event::EntitySignaled { entity, operation, .. } => format!("signal operation '{operation}' on entity {entity}"),
        Event::EntityLockRequested { task_id, entities } => {
            let names: Vec<String> = entities.iter().map(ToString::to_string).collect();
            format!("lock entities [{}] (task {task_id})", names.join(", "))
        }
        Event::EntitiesUnlocked { .. } => "release the locks of its critical section".to_string(),
        Event::VersionMarked { change_id, version } => format!("choose version {version} of change '{change_id}'"),
        Event::EpisodeStarted { .. } => "wait for a task that had not completed".to_string(),
        Event::ExecutionCompleted { .. } => "complete the orchestration".to_string(),
        Event::ExecutionFailed { .. } => "fail the orchestration".to_string(),
        other => format!("event {}", other.kind()),
    }
}

/// Describes the end of recorded history: the recorded run blocked there.
pub(crate) const END_OF_HISTORY: &str = "wait for a task that had not completed (end of recorded history)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_command_reads_as_the_new_one_and_a_delivery_is_none() {
        let wait = Event::UpdateWaitStarted { task_id: 2, name: "approve".into() };
        assert_eq!(Command::recorded_in(&wait).map(|c| c.to_string()).as_deref(), Some("wait for update 'approve'"));
        assert_eq!(describe_recorded(&wait), "wait for update 'approve' (task 2)");
        assert_eq!(Command::recorded_in(&Event::TimerFired { task_id: 0 }), None);
        assert_eq!(
            Command::recorded_in(&Event::ExecutionCompleted { output: crate::Payload::null() }),
            Some(Command::Complete)
        );
    }
}
