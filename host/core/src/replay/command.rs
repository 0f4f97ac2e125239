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
