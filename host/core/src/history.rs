//! History events: the append-only record of everything an instance decided and observed.
//!
//! The layout of one execution's history is a sequence of episodes. Each episode starts with
//! [`Event::EpisodeStarted`] (its logical time), then lists what was delivered to the
//! orchestrator in that episode (`ExecutionStarted` in the first, completions after), then the
//! commands the orchestrator issued before it blocked or finished.

use crate::{
    ActivityOptions, EntityId, Failure, HttpExchange, InstanceId, Payload, RetryPolicy, TaskId, Timestamp, UpdateReply,
};
use serde::{Deserialize, Serialize};

/// One recorded event with its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// Position in the execution's history, from 0.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// An episode began; the orchestrator's clock reads `time` throughout it.
    EpisodeStarted {
        /// The episode's logical time.
        time: Timestamp,
    },
    /// The instance started: which orchestrator, with what input, on which component.
    ExecutionStarted {
        /// The orchestrator's name.
        name: String,
        /// Its JSON input.
        input: Payload,
        /// The content hash of the component the instance is pinned to.
        component: String,
    },
    /// The orchestrator scheduled an activity.
    ActivityScheduled {
        /// The task's handle.
        task_id: TaskId,
        /// The activity's name.
        name: String,
        /// Its JSON input.
        input: Payload,
        /// Its retry policy and timeout, if any.
        #[serde(default, skip_serializing_if = "ActivityOptions::is_default")]
        options: ActivityOptions,
    },
    /// An activity attempt failed and the host scheduled another (audit: the orchestrator is not
    /// woken).
    ActivityRetrying {
        /// The task's handle.
        task_id: TaskId,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// Its failure (the activity's own).
        failure: Failure,
        /// When the next attempt is due.
        next_attempt_at: Timestamp,
    },
    /// The HTTP requests one activity attempt made (audit: the orchestrator is not woken).
    /// Recorded just before the attempt's result (`ActivityRetrying`, `ActivityCompleted` or
    /// `ActivityFailed`), and only for an attempt that made requests.
    HttpRequestsMade {
        /// The task's handle.
        task_id: TaskId,
        /// The attempt, from 1.
        attempt: u32,
        /// Its requests, in the order they were made.
        requests: Vec<HttpExchange>,
    },
    /// The orchestrator started a sub-orchestration.
    SubOrchestrationScheduled {
        /// The task's handle.
        task_id: TaskId,
        /// The child orchestrator's name.
        name: String,
        /// The child instance's id.
        instance_id: InstanceId,
        /// Its JSON input.
        input: Payload,
        /// Its retry policy, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry: Option<RetryPolicy>,
    },
    /// A sub-orchestration completed.
    SubOrchestrationCompleted {
        /// The task's handle.
        task_id: TaskId,
        /// Its JSON output.
        output: Payload,
    },
    /// A sub-orchestration failed (after its last attempt).
    SubOrchestrationFailed {
        /// The task's handle.
        task_id: TaskId,
        /// The failure, as the orchestrator receives it.
        failure: Failure,
    },
    /// A sub-orchestration failed and runs again (audit: the orchestrator is not woken).
    SubOrchestrationRetrying {
        /// The task's handle.
        task_id: TaskId,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// The child's failure.
        failure: Failure,
        /// When the next attempt starts.
        next_attempt_at: Timestamp,
    },
    /// The orchestrator restarted itself with a new input: this execution's history ends here.
    ExecutionContinuedAsNew {
        /// The next execution's input.
        input: Payload,
    },
    /// The orchestrator scheduled a durable timer.
    TimerScheduled {
        /// The timer's task handle.
        task_id: TaskId,
        /// When it fires.
        fire_at: Timestamp,
    },
    /// A durable timer fired.
    TimerFired {
        /// The timer's task handle.
        task_id: TaskId,
    },
    /// The orchestrator started waiting for an external event.
    EventWaitStarted {
        /// The wait's task handle.
        task_id: TaskId,
        /// The event's name.
        name: String,
    },
    /// An external event was delivered to the instance.
    EventRaised {
        /// The event's name.
        name: String,
        /// Its JSON data.
        data: Payload,
    },
    /// The orchestrator started waiting for an update (see [`crate::update`]).
    UpdateWaitStarted {
        /// The wait's task handle.
        task_id: TaskId,
        /// The update's name.
        name: String,
    },
    /// A client's update was delivered to the instance.
    UpdateReceived {
        /// The update's id.
        update_id: String,
        /// The update's name.
        name: String,
        /// Its JSON input.
        input: Payload,
    },
    /// The orchestrator answered an update; the answer reaches its caller once the episode
    /// commits.
    UpdateReplied {
        /// The update answered.
        update_id: String,
        /// The answer.
        reply: UpdateReply,
    },
    /// The orchestrator raised an event on another instance.
    EventSent {
        /// The target instance.
        instance_id: String,
        /// The event's name.
        name: String,
        /// Its JSON data.
        data: Payload,
    },
    /// The orchestrator called an entity operation and waits for its result.
    EntityCalled {
        /// The task's handle.
        task_id: TaskId,
        /// The entity.
        entity: EntityId,
        /// The operation's name.
        operation: String,
        /// Its JSON input.
        input: Payload,
        /// Called inside a critical section that holds the entity's lock.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        in_critical_section: bool,
    },
    /// The orchestrator asked for the locks of a critical section; the task completes once all
    /// are held.
    EntityLockRequested {
        /// The task's handle.
        task_id: TaskId,
        /// The entities, sorted and without duplicates (the order locks are taken in).
        entities: Vec<EntityId>,
    },
    /// The orchestrator left its critical section, releasing the locks.
    EntitiesUnlocked {
        /// The entities released.
        entities: Vec<EntityId>,
    },
    /// The orchestrator signalled an entity operation (one way).
    EntitySignaled {
        /// The entity.
        entity: EntityId,
        /// The operation's name.
        operation: String,
        /// Its JSON input.
        input: Payload,
    },
    /// An entity operation the orchestrator called returned an output.
    EntityCompleted {
        /// The task's handle.
        task_id: TaskId,
        /// Its JSON output.
        output: Payload,
    },
    /// An entity operation the orchestrator called failed.
    EntityFailed {
        /// The task's handle.
        task_id: TaskId,
        /// The failure, as the orchestrator receives it.
        failure: Failure,
    },
    /// An operator suspended the instance.
    ExecutionSuspended {
        /// Why.
        reason: String,
    },
    /// An operator resumed the instance.
    ExecutionResumed {
        /// Why.
        reason: String,
    },
    /// An operator rewound the failed instance: the failure events listed in `undone` are
    /// treated by replay as never having happened (their tasks are in flight again), and the
    /// deliveries recorded from `replay_from` on (those the orchestrator received after its
    /// last command, before it failed) are delivered again right after this event, in their
    /// order. Both are decided once, when the rewind is asked for, and recorded here, so that
    /// replay obeys the record instead of re-deriving it (a rule changed by a later build can
    /// never change how an old history replays). See `replay::rewind`.
    ExecutionRewound {
        /// Why.
        reason: String,
        /// The first position whose deliveries are delivered again after this event.
        replay_from: u64,
        /// The positions of the failure events undone: the `ActivityFailed` and
        /// `SubOrchestrationFailed` events the orchestrator received after its last command,
        /// and the `ExecutionFailed` that ended it.
        undone: Vec<u64>,
    },
    /// An operator (`reprise upgrade`) or the host (the `upgrade-if-compatible` policy) rebound
    /// the instance to another component, after replaying its history on it: what follows runs
    /// on `to`. Recorded alone in an episode of its own; nothing for the orchestrator to see.
    ComponentUpgraded {
        /// The content hash of the component it ran on until here.
        from: String,
        /// The content hash of the component it runs on from here.
        to: String,
    },
    /// The orchestrator asked which version of a change to run (`version(change_id, max)`) and,
    /// asking for the first time in a live episode, got `version`, its newest. Replay answers
    /// the same from this record; a history without it predates the change and gets 0.
    VersionMarked {
        /// The name the code gives the change.
        change_id: String,
        /// The version chosen.
        version: u32,
    },
    /// An operator terminated the instance.
    ExecutionTerminated {
        /// Why.
        reason: String,
        /// Its running sub-orchestrations were terminated with it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        cascade: bool,
    },
    /// An activity returned an output.
    ActivityCompleted {
        /// The task's handle.
        task_id: TaskId,
        /// Its JSON output.
        output: Payload,
    },
    /// An activity failed (after its last attempt).
    ActivityFailed {
        /// The task's handle.
        task_id: TaskId,
        /// The failure, as the orchestrator receives it.
        failure: Failure,
    },
    /// The orchestrator returned an output.
    ExecutionCompleted {
        /// Its JSON output.
        output: Payload,
    },
    /// The orchestrator failed.
    ExecutionFailed {
        /// The failure that ended it.
        failure: Failure,
    },
}

impl Event {
    /// The event's type name, as stored and shown.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::EpisodeStarted { .. } => "EpisodeStarted",
            Event::ExecutionStarted { .. } => "ExecutionStarted",
            Event::ActivityScheduled { .. } => "ActivityScheduled",
            Event::ActivityCompleted { .. } => "ActivityCompleted",
            Event::ActivityFailed { .. } => "ActivityFailed",
            Event::ExecutionCompleted { .. } => "ExecutionCompleted",
            Event::ExecutionFailed { .. } => "ExecutionFailed",
            Event::ActivityRetrying { .. } => "ActivityRetrying",
            Event::HttpRequestsMade { .. } => "HttpRequestsMade",
            Event::SubOrchestrationScheduled { .. } => "SubOrchestrationScheduled",
            Event::SubOrchestrationCompleted { .. } => "SubOrchestrationCompleted",
            Event::SubOrchestrationFailed { .. } => "SubOrchestrationFailed",
            Event::SubOrchestrationRetrying { .. } => "SubOrchestrationRetrying",
            Event::ExecutionContinuedAsNew { .. } => "ExecutionContinuedAsNew",
            Event::TimerScheduled { .. } => "TimerScheduled",
            Event::TimerFired { .. } => "TimerFired",
            Event::EventWaitStarted { .. } => "EventWaitStarted",
            Event::EventRaised { .. } => "EventRaised",
            Event::UpdateWaitStarted { .. } => "UpdateWaitStarted",
            Event::UpdateReceived { .. } => "UpdateReceived",
            Event::UpdateReplied { .. } => "UpdateReplied",
            Event::EventSent { .. } => "EventSent",
            Event::EntityCalled { .. } => "EntityCalled",
            Event::EntitySignaled { .. } => "EntitySignaled",
            Event::EntityCompleted { .. } => "EntityCompleted",
            Event::EntityLockRequested { .. } => "EntityLockRequested",
            Event::EntitiesUnlocked { .. } => "EntitiesUnlocked",
            Event::EntityFailed { .. } => "EntityFailed",
            Event::ExecutionSuspended { .. } => "ExecutionSuspended",
            Event::ExecutionResumed { .. } => "ExecutionResumed",
            Event::ExecutionTerminated { .. } => "ExecutionTerminated",
            Event::ExecutionRewound { .. } => "ExecutionRewound",
            Event::ComponentUpgraded { .. } => "ComponentUpgraded",
            Event::VersionMarked { .. } => "VersionMarked",
        }
    }

    /// The task an event ends: the result of an activity, a sub-orchestration or an entity
    /// call (completed or failed for good), or a timer's firing. Not a retry, which leaves the
    /// task open, and not a raised event, which ends a wait by its name.
    pub fn ended_task(&self) -> Option<TaskId> {
        match self {
            Event::ActivityCompleted { task_id, .. }
            | Event::ActivityFailed { task_id, .. }
            | Event::SubOrchestrationCompleted { task_id, .. }
            | Event::SubOrchestrationFailed { task_id, .. }
            | Event::TimerFired { task_id }
            | Event::EntityCompleted { task_id, .. }
            | Event::EntityFailed { task_id, .. } => Some(*task_id),
            _ => None,
        }
    }

    /// True for the events that the orchestrator's own code caused (commands), which replay
    /// checks position by position.
    pub fn is_command(&self) -> bool {
        matches!(
            self,
            Event::ActivityScheduled { .. }
                | Event::SubOrchestrationScheduled { .. }
                | Event::TimerScheduled { .. }
                | Event::EventWaitStarted { .. }
                | Event::UpdateWaitStarted { .. }
                | Event::UpdateReplied { .. }
                | Event::EventSent { .. }
                | Event::EntityCalled { .. }
                | Event::EntitySignaled { .. }
                | Event::EntityLockRequested { .. }
                | Event::EntitiesUnlocked { .. }
        )
    }
}
