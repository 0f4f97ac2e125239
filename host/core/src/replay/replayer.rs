//! The [`Replayer`] state machine.

use super::command::{END_OF_HISTORY, describe_recorded};
use super::{Command, HistoryLimits, LimitExceeded, ReplayError, event_size};
use crate::failure::error_types;
use crate::update::DeliveredUpdate;
use crate::{
    ActivityOptions, EntityId, Event, Failure, HistoryEvent, InstanceId, Message, Payload, RetryPolicy, TaskId,
    Timestamp, UpdateReply,
};
use std::collections::{HashMap, VecDeque};

/// The outcome of a completed task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The task.
    pub task: TaskId,
    /// Its output, or its failure (as the orchestrator receives it).
    pub outcome: Result<Payload, Failure>,
}

/// The answer to a wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome<T> {
    /// The wait is satisfied.
    Ready(T),
    /// Nothing delivered so far satisfies it: call [`Replayer::advance`] and try again.
    Pending,
}

impl<T> WaitOutcome<T> {
    /// Maps a ready value, keeping `Pending` as it is.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> WaitOutcome<U> {
        match self {
            WaitOutcome::Ready(value) => WaitOutcome::Ready(f(value)),
            WaitOutcome::Pending => WaitOutcome::Pending,
        }
    }
}

/// What [`Replayer::advance`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// Opened the next recorded episode: still replaying.
    Replayed,
    /// Opened the next delivered episode: live.
    Live,
    /// Nothing left to open: the orchestrator is blocked until [`Replayer::deliver`] is called.
    Blocked,
}

/// How the execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terminal {
    /// The orchestrator returned an output.
    Completed(Payload),
    /// The orchestrator failed.
    Failed(Failure),
    /// The orchestrator restarted itself as a new execution.
    ContinuedAsNew {
        /// The new execution's input.
        input: Payload,
        /// Events it received and did not consume, to deliver to the new execution: (name, data).
        carried: Vec<(String, Payload)>,
        /// Whether events still in the inbox go to the new execution too.
        keep_events: bool,
    },
}

/// What the live episodes since the last [`Replayer::take_output`] produced, to be committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpisodeOutput {
    /// New history events, numbered after everything already taken.
    pub events: Vec<HistoryEvent>,
    /// The history length before these events (what the store must still have).
    pub base_len: u64,
    /// Set if the execution ended.
    pub terminal: Option<Terminal>,
}

/// One episode delivered but not yet opened.
#[derive(Debug, Clone)]
struct PendingEpisode {
    time: Timestamp,
    messages: Vec<Message>,
}

/// What a task handle stands for.
#[derive(Debug, Clone)]
enum TaskKind {
    Activity(String),
    SubOrchestration { name: String, instance_id: InstanceId },
    Timer(Timestamp),
    Event,
    Entity { entity: EntityId, operation: String },
    EntityLock,
}

/// Where the orchestrator is with its critical section.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LockState {
    /// Outside any critical section.
    Free,
    /// Asked for these locks with this task; not all held yet.
    Requested(TaskId, Vec<EntityId>),
    /// Holds these locks.
    Held(Vec<EntityId>),
}

#[derive(Debug, Clone)]
struct Delivered {
    order: u64,
    outcome: Result<Payload, Failure>,
}

/// A wait for every task of a set ([`Replayer::poll_all`]), kept across the episodes it spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllWait {
    tasks: Vec<TaskId>,
    /// Whether every handle was checked to be a scheduled task (an unknown one is an error).
    known: bool,
    /// How many tasks, from the front of `tasks`, are known to have completed.
    complete: usize,
}

impl AllWait {
    /// A wait for all of `tasks`, none of them checked yet.
    pub fn new(tasks: Vec<TaskId>) -> Self {
        AllWait { tasks, known: false, complete: 0 }
    }
}

/// The replay state of one execution of one instance. See the module docs.
#[derive(Debug)]
pub struct Replayer {
    instance_id: String,
    execution: u32,
    component: String,
    /// Recorded events not consumed yet (front = next).
    recorded: VecDeque<HistoryEvent>,
    /// Episodes delivered and not opened.
    pending: VecDeque<PendingEpisode>,
    /// Events appended since the last `take_output`.
    new_events: Vec<Event>,
    /// Length of history that is recorded or already taken for commit.
    taken_len: u64,
    /// Position of the next event (recorded or new).
    position: u64,
    live: bool,
    started: Option<(String, Payload)>,
    now: Timestamp,
    /// What each scheduled task is, by handle.
    scheduled: Vec<TaskKind>,
    /// Event waits not yet satisfied, oldest first: (task, event name).
    event_waits: VecDeque<(TaskId, String)>,
    /// Events delivered before anyone waited for them, per name, oldest first, with their
    /// arrival numbers.
    buffered_events: HashMap<String, VecDeque<(u64, Payload)>>,
    /// Events delivered so far (their arrival numbers count from 1).
    arrivals: u64,
    /// The event each completed event wait received: (arrival number, event name, data).
    event_results: HashMap<TaskId, (u64, String, Payload)>,
    /// Update waits not yet satisfied, oldest first: (task, update name).
    update_waits: VecDeque<(TaskId, String)>,
    /// Updates delivered before anyone waited for them, per name, oldest first: (id, input).
    buffered_updates: HashMap<String, VecDeque<(String, Payload)>>,
    /// Updates delivered in this execution, by id, and whether they have been answered.
    updates: HashMap<String, bool>,
    /// Tasks whose outcome a wait has returned to the orchestrator.
    observed: std::collections::HashSet<TaskId>,
    results: HashMap<TaskId, Delivered>,
    deliveries: u64,
    guids: u64,
    custom_status: Option<Payload>,
    continue_as_new: Option<(Payload, bool)>,
    terminal: Option<Terminal>,
    terminal_taken: bool,
    lock: LockState,
    limits: HistoryLimits,
    /// The size of the execution's history, recorded and new (see [`event_size`]).
    history_bytes: u64,
    /// Commands recorded in the live episode open now.
    episode_commands: u64,
    /// Where the live episode open now starts its commands in `new_events` (after its
    /// deliveries).
    episode_commands_start: usize,
    /// The recorded deliveries a rewind delivered in this episode gives again, right after its
    /// event (see `super::rewind`); set by [`Replayer::deliver`] when it accepts the rewind.
    rewound: Option<Vec<Event>>,
    /// The version of each change the orchestrator asked about (see [`Replayer::version`]).
    versions: HashMap<String, u32>,
}

impl Replayer {
    /// A replayer for `execution` of `instance_id`, pinned to `component`, over its recorded
    /// history (empty for a new instance).
    pub fn new(
        instance_id: impl Into<String>,
        execution: u32,
        component: impl Into<String>,
        history: Vec<HistoryEvent>,
    ) -> Result<Self, ReplayError> {
        for (expected, event) in history.iter().enumerate() {
            if event.seq != expected as u64 {
                return Err(ReplayError::CorruptHistory(format!(
                    "event at index {expected} has sequence number {}",
                    event.seq
                )));
            }
        }
        if let Some(first) = history.first()
            && !matches!(first.event, Event::EpisodeStarted { .. })
        {
            return Err(ReplayError::CorruptHistory(format!(
                "history starts with {} instead of EpisodeStarted",
                first.event.kind()
            )));
        }
        let taken_len = history.len() as u64;
        let history_bytes = history.iter().map(|e| event_size(&e.event)).sum();
        let history = super::rewind::arrange(history)?;
        Ok(Replayer {
            instance_id: instance_id.into(),
            execution,
            component: component.into(),
            recorded: history.into(),
            pending: VecDeque::new(),
            new_events: Vec::new(),
            taken_len,
            position: 0,
            live: false,
            started: None,
            now: 0,
            scheduled: Vec::new(),
            event_waits: VecDeque::new(),
            buffered_events: HashMap::new(),
            arrivals: 0,
            event_results: HashMap::new(),
            update_waits: VecDeque::new(),
            buffered_updates: HashMap::new(),
            updates: HashMap::new(),
            observed: std::collections::HashSet::new(),
            results: HashMap::new(),
            deliveries: 0,
            guids: 0,
            custom_status: None,
            continue_as_new: None,
            terminal: None,
            terminal_taken: false,
            lock: LockState::Free,
            limits: HistoryLimits::default(),
            history_bytes,
            episode_commands: 0,
            episode_commands_start: 0,
            rewound: None,
            versions: HashMap::new(),
        })
    }

    /// The limits new commands are held to (the defaults until set).
    pub fn with_limits(mut self, limits: HistoryLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The instance id.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// True while the current episode is one replayed from history.
    pub fn is_replaying(&self) -> bool {
        !self.live
    }

    /// The current episode's logical time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The orchestrator's name and input, once the first episode is open.
    pub fn started(&self) -> Option<(&str, &str)> {
        self.started.as_ref().map(|(name, input)| (name.as_str(), input.as_str()))
    }

    /// The length of history recorded or already taken for commit: what the store holds once
    /// every output taken so far is committed.
    pub fn history_len(&self) -> u64 {
        self.taken_len
    }

    /// The last custom status the orchestrator set (replayed calls included).
    pub fn custom_status(&self) -> Option<&Payload> {
        self.custom_status.as_ref()
    }

    /// The execution's end, once reached.
    pub fn terminal(&self) -> Option<&Terminal> {
        self.terminal.as_ref()
    }

    /// Queues an episode of new messages, delivered at logical time `time`. It is opened by
    /// [`Replayer::advance`] once recorded history is exhausted.
    ///
    /// A [`Message::Rewind`] is accepted only by a replayer that has not started on a history
    /// ending in a failure, which is how every rewound instance starts (a failed instance is never
    /// parked): its undone failures are taken out of what replay reads, and its episode takes it
    /// first, so that the deliveries it gives again come right after it, as they will on every
    /// later replay. Otherwise it is dropped.
    pub fn deliver(&mut self, time: Timestamp, mut messages: Vec<Message>) {
        if let Some(index) = messages.iter().position(|m| matches!(m, Message::Rewind { .. })) {
            let rewind = messages.remove(index);
            if let Message::Rewind { replay_from, undone, .. } = &rewind
                && self.accept_rewind(time, *replay_from, undone)
            {
                messages.insert(0, rewind);
            }
        }
        self.pending.push_back(PendingEpisode { time, messages });
    }

    /// How many recorded events have been replayed: the position of the next one.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The next recorded event not replayed yet, if any.
    pub fn next_recorded(&self) -> Option<&HistoryEvent> {
        self.recorded.front()
    }

    /// Arranges the recorded history as it will read once the rewind is recorded (see
    /// `super::rewind`), keeping what the rewind gives again for its event; false, changing
    /// nothing, if the rewind does not fit this replayer or its history.
    fn accept_rewind(&mut self, time: Timestamp, replay_from: u64, undone: &[u64]) -> bool {
        let ends_failed = self.recorded.iter().any(|e| {
            e.seq + 1 == self.taken_len && matches!(e.event, Event::ExecutionFailed { .. }) && undone.contains(&e.seq)
        });
        if self.live || self.position > 0 || !self.pending.is_empty() || self.rewound.is_some() || !ends_failed {
            return false;
        }
        let mut history: Vec<HistoryEvent> = self.recorded.iter().cloned().collect();
        history.sort_by_key(|e| e.seq);
        let rewind_at = self.taken_len + 1;
        history.push(HistoryEvent { seq: self.taken_len, event: Event::EpisodeStarted { time } });
        let event = Event::ExecutionRewound { reason: String::new(), replay_from, undone: undone.to_vec() };
        history.push(HistoryEvent { seq: rewind_at, event });
        let Ok(mut arranged) = super::rewind::arrange(history) else { return false };
        let Some(at) = arranged.iter().position(|e| e.seq == rewind_at) else { return false };
        let given_again = arranged.split_off(at + 1).into_iter().map(|e| e.event).collect();
        // The rewind and its episode's header are recorded live, not replayed.
        arranged.truncate(at.saturating_sub(1));
        self.recorded = arranged.into();
        self.rewound = Some(given_again);
        true
    }

    /// Opens the next episode. Called at the start (to open the first) and whenever a wait is
    /// pending. Fails if the recorded episode still holds commands the orchestrator did not issue.
    pub fn advance(&mut self) -> Result<Advance, ReplayError> {
        self.ensure_running()?;
        if let Some(next) = self.recorded.front() {
            if !matches!(next.event, Event::EpisodeStarted { .. }) {
                return Err(ReplayError::Nondeterminism {
                    position: next.seq,
                    recorded: describe_recorded(&next.event),
                    issued: Command::Wait.to_string(),
                });
            }
            self.open_recorded_episode()?;
            return Ok(Advance::Replayed);
        }
        match self.pending.pop_front() {
            Some(episode) => {
                self.open_live_episode(episode);
                Ok(Advance::Live)
            }
            None => Ok(Advance::Blocked),
        }
    }

    fn open_recorded_episode(&mut self) -> Result<(), ReplayError> {
        let Some(HistoryEvent { event: Event::EpisodeStarted { time }, .. }) = self.recorded.pop_front() else {
            unreachable!("advance checked the front event")
        };
        self.position += 1;
        self.now = time.max(self.now);
        // Everything recorded between the episode header and the first command was delivered.
        while let Some(next) = self.recorded.front() {
            match &next.event {
                event if is_delivery(event) => {
                    let event = self.recorded.pop_front().map(|e| e.event);
                    self.position += 1;
                    if let Some(event) = event {
                        self.apply_delivery(&event)?;
                    }
                }
                _ => break,
            }
        }
        Ok(())
    }

    fn open_live_episode(&mut self, episode: PendingEpisode) {
        self.live = true;
        self.episode_commands = 0;
        // Logical time never goes backwards, even if the host's clock does.
        self.now = episode.time.max(self.now);
        self.push(Event::EpisodeStarted { time: self.now });
        for message in episode.messages {
            if let Some(event) = self.message_to_event(message) {
                // Conversion only yields events the engine accepts.
                let _ = self.apply_delivery(&event);
                let rewound = matches!(event, Event::ExecutionRewound { .. });
                self.push(event);
                if rewound {
                    // Recorded already: given again, not recorded again.
                    for again in self.rewound.take().unwrap_or_default() {
                        let _ = self.apply_delivery(&again);
                    }
                }
            }
        }
        self.episode_commands_start = self.new_events.len();
    }

    /// Turns a message into the event that records its delivery, or `None` for a message that
    /// must be dropped: a second `Start`, or a result for a task that is unknown or already
    /// completed (at-least-once delivery can produce duplicates).
    fn message_to_event(&self, message: Message) -> Option<Event> {
        match message {
            Message::Start { name, input } => self.started.is_none().then(|| Event::ExecutionStarted {
                name,
                input,
                component: self.component.clone(),
            }),
            Message::ActivityCompleted { task_id, output } => {
                self.awaiting_result(task_id).then_some(Event::ActivityCompleted { task_id, output })
            }
            Message::ActivityFailed { task_id, failure } => match self.pending_task(task_id) {
                Some(TaskKind::Activity(name)) => {
                    Some(Event::ActivityFailed { task_id, failure: Failure::activity_failed(name, failure) })
                }
                _ => None,
            },
            Message::SubOrchestrationCompleted { task_id, output } => {
                matches!(self.pending_task(task_id), Some(TaskKind::SubOrchestration { .. }))
                    .then_some(Event::SubOrchestrationCompleted { task_id, output })
            }
            Message::SubOrchestrationFailed { task_id, failure } => match self.pending_task(task_id) {
                Some(TaskKind::SubOrchestration { name, instance_id }) => {
                    let message =
                        format!("sub-orchestration '{name}' (instance {instance_id}) failed: {}", failure.message);
                    let failure = Failure::wrapping(error_types::SUB_ORCHESTRATION_FAILED, message, failure);
                    Some(Event::SubOrchestrationFailed { task_id, failure })
                }
                _ => None,
            },
            Message::SubOrchestrationRetrying { task_id, attempt, failure, next_attempt_at } => {
                matches!(self.pending_task(task_id), Some(TaskKind::SubOrchestration { .. }))
                    .then_some(Event::SubOrchestrationRetrying { task_id, attempt, failure, next_attempt_at })
            }
            Message::ActivityRetrying { task_id, attempt, failure, next_attempt_at } => {
                matches!(self.pending_task(task_id), Some(TaskKind::Activity(_))).then_some(Event::ActivityRetrying {
                    task_id,
                    attempt,
                    failure,
                    next_attempt_at,
                })
            }
            Message::HttpRequestsMade { task_id, attempt, requests } => {
                matches!(self.pending_task(task_id), Some(TaskKind::Activity(_))).then_some(Event::HttpRequestsMade {
                    task_id,
                    attempt,
                    requests,
                })
            }
            Message::TimerFired { task_id } => {
                matches!(self.pending_task(task_id), Some(TaskKind::Timer(_))).then_some(Event::TimerFired { task_id })
            }
            Message::EventRaised { name, data } => Some(Event::EventRaised { name, data }),
            // Callers' retries are refused by the store; this guards against a duplicate anyway.
            Message::UpdateRequested { update_id, name, input } => {
                (!self.updates.contains_key(&update_id)).then_some(Event::UpdateReceived { update_id, name, input })
            }
            Message::EntityCompleted { task_id, output } => {
                matches!(self.pending_task(task_id), Some(TaskKind::Entity { .. } | TaskKind::EntityLock))
                    .then_some(Event::EntityCompleted { task_id, output })
            }
            Message::EntityFailed { task_id, failure } => match self.pending_task(task_id) {
                Some(TaskKind::Entity { entity, operation }) => Some(Event::EntityFailed {
                    task_id,
                    failure: Failure::entity_operation_failed(entity, operation, failure),
                }),
                _ => None,
            },
            // Operations and locks are for entities, whose instances never run an orchestrator.
            Message::EntityOperation(_) | Message::EntityLock(_) | Message::EntityUnlock { .. } => None,
            // Lifecycle messages are the executor's business, never the orchestrator's.
            Message::Terminate { .. } | Message::Suspend { .. } | Message::Resume { .. } => None,
            // Only a rewind that `deliver` accepted.
            Message::Rewind { reason, replay_from, undone } => {
                self.rewound.is_some().then_some(Event::ExecutionRewound { reason, replay_from, undone })
            }
        }
    }

    /// The kind of a scheduled task that has no result yet.
    fn pending_task(&self, task_id: TaskId) -> Option<&TaskKind> {
        self.scheduled.get(task_id as usize).filter(|_| !self.results.contains_key(&task_id))
    }

    fn awaiting_result(&self, task_id: TaskId) -> bool {
        self.pending_task(task_id).is_some()
    }

    fn apply_delivery(&mut self, event: &Event) -> Result<(), ReplayError> {
        match event {
            Event::ExecutionStarted { name, input, .. } => {
                self.started = Some((name.clone(), input.clone()));
            }
            Event::ActivityCompleted { task_id, output } => self.record_result(*task_id, Ok(output.clone()))?,
            Event::ActivityFailed { task_id, failure } => self.record_result(*task_id, Err(failure.clone()))?,
            Event::SubOrchestrationCompleted { task_id, output } => self.record_result(*task_id, Ok(output.clone()))?,
            Event::SubOrchestrationFailed { task_id, failure } => self.record_result(*task_id, Err(failure.clone()))?,
            Event::EntityCompleted { task_id, output } => {
                if let LockState::Requested(requested, entities) = &self.lock
                    && requested == task_id
                {
                    self.lock = LockState::Held(entities.clone());
                }
                self.record_result(*task_id, Ok(output.clone()))?
            }
            Event::EntityFailed { task_id, failure } => self.record_result(*task_id, Err(failure.clone()))?,
            Event::TimerFired { task_id } => {
                let Some(TaskKind::Timer(fire_at)) = self.scheduled.get(*task_id as usize) else {
                    return Err(ReplayError::CorruptHistory(format!("task {task_id} fired but is not a timer")));
                };
                let fire_at = *fire_at;
                self.record_result(*task_id, Ok(Payload::from_u64(fire_at)))?;
            }
            Event::EventRaised { name, data } => {
                self.arrivals += 1;
                match self.event_waits.iter().position(|(_, wanted)| wanted == name) {
                    Some(index) => {
                        let (task_id, _) = self.event_waits.remove(index).expect("position is in range");
                        self.event_results.insert(task_id, (self.arrivals, name.clone(), data.clone()));
                        self.record_result(task_id, Ok(data.clone()))?;
                    }
                    None => {
                        self.buffered_events.entry(name.clone()).or_default().push_back((self.arrivals, data.clone()))
                    }
                }
            }
            Event::UpdateReceived { update_id, name, input } => {
                self.updates.insert(update_id.clone(), false);
                match self.update_waits.iter().position(|(_, wanted)| wanted == name) {
                    Some(index) => {
                        let (task_id, _) = self.update_waits.remove(index).expect("position is in range");
                        let delivered = DeliveredUpdate { id: update_id, input }.to_payload();
                        self.record_result(task_id, Ok(delivered))?;
                    }
                    None => self
                        .buffered_updates
                        .entry(name.clone())
                        .or_default()
                        .push_back((update_id.clone(), input.clone())),
                }
            }
            // Audit and lifecycle records: nothing for the orchestrator to see.
            Event::ActivityRetrying { .. }
            | Event::HttpRequestsMade { .. }
            | Event::SubOrchestrationRetrying { .. }
            | Event::ExecutionSuspended { .. }
            | Event::ExecutionResumed { .. }
            | Event::ExecutionRewound { .. }
            | Event::ComponentUpgraded { .. } => {}
            other => {
                return Err(ReplayError::CorruptHistory(format!("{} is not a delivery", other.kind())));
            }
        }
        Ok(())
    }

    fn record_result(&mut self, task_id: TaskId, outcome: Result<Payload, Failure>) -> Result<(), ReplayError> {
        if task_id as usize >= self.scheduled.len() {
            return Err(ReplayError::CorruptHistory(format!("result for task {task_id}, which was never scheduled")));
        }
        self.deliveries += 1;
        self.results.insert(task_id, Delivered { order: self.deliveries, outcome });
        Ok(())
    }

    fn push(&mut self, event: Event) {
        self.history_bytes += event_size(&event);
        self.new_events.push(event);
        self.position += 1;
    }

    fn ensure_running(&self) -> Result<(), ReplayError> {
        if self.terminal.is_some() { Err(ReplayError::AlreadyFinished) } else { Ok(()) }
    }

    /// Checks a command against history while replaying; records it when live. `command`
    /// describes it for a nondeterminism error and is only built for one: replaying a long
    /// history must not copy every input for an error that does not happen.
    fn command(&mut self, command: impl FnOnce() -> Command, event: Event) -> Result<(), ReplayError> {
        self.ensure_running()?;
        if self.live {
            self.check_room(&event)?;
            self.episode_commands += 1;
            self.push(event);
            return Ok(());
        }
        let Some(next) = self.recorded.front() else {
            // History ends inside a replayed episode only where the recorded run blocked.
            return Err(ReplayError::Nondeterminism {
                position: self.position,
                recorded: END_OF_HISTORY.to_string(),
                issued: command().to_string(),
            });
        };
        let matches = same_command(&event, &next.event);
        if !matches {
            return Err(ReplayError::Nondeterminism {
                position: next.seq,
                recorded: describe_recorded(&next.event),
                issued: command().to_string(),
            });
        }
        self.recorded.pop_front();
        self.position += 1;
        Ok(())
    }

    /// Refuses a new command that would take the history past a limit. The end of the execution
    /// is never refused, so an orchestrator at its limit can still finish.
    fn check_room(&self, event: &Event) -> Result<(), ReplayError> {
        if matches!(
            event,
            Event::ExecutionCompleted { .. } | Event::ExecutionFailed { .. } | Event::ExecutionContinuedAsNew { .. }
        ) {
            return Ok(());
        }
        let limits = &self.limits;
        let exceeded = if self.episode_commands >= limits.max_episode_events {
            LimitExceeded::Episode(limits.max_episode_events)
        } else if self.taken_len + self.new_events.len() as u64 >= limits.max_events {
            LimitExceeded::Events(limits.max_events)
        } else if self.history_bytes + event_size(event) > limits.max_bytes {
            LimitExceeded::Bytes(limits.max_bytes)
        } else {
            return Ok(());
        };
        Err(ReplayError::LimitExceeded(exceeded))
    }

    /// The orchestrator schedules an activity; returns its handle.
    pub fn schedule_activity(
        &mut self,
        name: &str,
        input: Payload,
        options: ActivityOptions,
    ) -> Result<TaskId, ReplayError> {
        let task_id = self.scheduled.len() as TaskId;
        self.command(
            || Command::ScheduleActivity { name: name.to_string() },
            Event::ActivityScheduled { task_id, name: name.to_string(), input, options },
        )?;
        self.scheduled.push(TaskKind::Activity(name.to_string()));
        Ok(task_id)
    }

    /// The orchestrator starts a sub-orchestration; returns its handle. Without an id the child
    /// gets `<parent>:<execution>:<task>` ([`InstanceId::child`]), the same on every replay.
    pub fn schedule_sub_orchestration(
        &mut self,
        name: &str,
        instance_id: Option<InstanceId>,
        input: Payload,
        retry: Option<RetryPolicy>,
    ) -> Result<TaskId, ReplayError> {
        self.ensure_running()?;
        let task_id = self.scheduled.len() as TaskId;
        let child = match instance_id {
            Some(id) => id,
            None => InstanceId::child(&self.instance_id, self.execution, task_id)?,
        };
        self.command(
            || Command::ScheduleSubOrchestration { name: name.to_string() },
            Event::SubOrchestrationScheduled {
                task_id,
                name: name.to_string(),
                instance_id: child.clone(),
                input,
                retry,
            },
        )?;
        self.scheduled.push(TaskKind::SubOrchestration { name: name.to_string(), instance_id: child });
        Ok(task_id)
    }

    /// The orchestrator asks to restart as a new execution with `input` once it returns;
    /// `carry_events` keeps the events it received but did not consume.
    pub fn request_continue_as_new(&mut self, input: Payload, carry_events: bool) -> Result<(), ReplayError> {
        self.ensure_running()?;
        self.continue_as_new = Some((input, carry_events));
        Ok(())
    }

    /// Ends the execution as requested by [`Replayer::request_continue_as_new`], if it was;
    /// returns false if it was not requested.
    pub fn finish_continued(&mut self) -> Result<bool, ReplayError> {
        let Some((input, carry_events)) = self.continue_as_new.take() else { return Ok(false) };
        let carried = if carry_events { self.unprocessed_events() } else { Vec::new() };
        self.finish(
            Command::ContinueAsNew,
            Terminal::ContinuedAsNew { input: input.clone(), carried, keep_events: carry_events },
            Event::ExecutionContinuedAsNew { input },
        )?;
        Ok(true)
    }

    /// The events this execution received and its code never saw, in arrival order: those
    /// nobody waited for, and those that completed a wait the orchestrator abandoned (the loser
    /// of a race against a timer, say), as Durable Functions cancels such a wait.
    fn unprocessed_events(&self) -> Vec<(String, Payload)> {
        let mut events: Vec<(u64, &String, &Payload)> = self
            .buffered_events
            .iter()
            .flat_map(|(name, queue)| queue.iter().map(move |(arrival, data)| (*arrival, name, data)))
            .chain(
                self.event_results
                    .iter()
                    .filter(|(task, _)| !self.observed.contains(task))
                    .map(|(_, (arrival, name, data))| (*arrival, name, data)),
            )
            .collect();
        events.sort_by_key(|(arrival, _, _)| *arrival);
        events.into_iter().map(|(_, name, data)| (name.clone(), data.clone())).collect()
    }

    /// The orchestrator asks which version of change `change_id` to run, `max` being the newest
    /// its code knows. The answer never changes within an execution. Asked first in a live
    /// episode, it is `max`, recorded as [`Event::VersionMarked`]; on replay it is the recorded
    /// one; and where the history has no record at this point (it was written by code from
    /// before the change, which went on with other commands or stopped there) it is 0 and
    /// nothing is recorded, so the code takes the old path and issues the old commands. This is
    /// what lets a change that is not replay-compatible reach running instances (Temporal's
    /// patching). A version takes no task handle: old and new paths number their tasks alike.
    pub fn version(&mut self, change_id: &str, max: u32) -> Result<u32, ReplayError> {
        self.ensure_running()?;
        if let Some(&version) = self.versions.get(change_id) {
            return Ok(version);
        }
        let version = if self.live {
            let event = Event::VersionMarked { change_id: change_id.to_string(), version: max };
            self.check_room(&event)?;
            self.episode_commands += 1;
            self.push(event);
            max
        } else {
            match self.recorded.front().map(|e| &e.event) {
                Some(Event::VersionMarked { change_id: recorded, version }) if recorded == change_id => {
                    let version = *version;
                    self.recorded.pop_front();
                    self.position += 1;
                    version
                }
                _ => 0,
            }
        };
        self.versions.insert(change_id.to_string(), version);
        Ok(version)
    }

    /// The orchestrator schedules a durable timer firing at `fire_at`; returns its handle.
    pub fn schedule_timer(&mut self, fire_at: Timestamp) -> Result<TaskId, ReplayError> {
        let task_id = self.scheduled.len() as TaskId;
        self.command(|| Command::ScheduleTimer { fire_at }, Event::TimerScheduled { task_id, fire_at })?;
        self.scheduled.push(TaskKind::Timer(fire_at));
        Ok(task_id)
    }

    /// The orchestrator starts waiting for the external event `name`; returns the wait's handle.
    /// An event already buffered completes it at once.
    pub fn wait_for_event(&mut self, name: &str) -> Result<TaskId, ReplayError> {
        let task_id = self.scheduled.len() as TaskId;
        self.command(
            || Command::WaitForEvent { name: name.to_string() },
            Event::EventWaitStarted { task_id, name: name.to_string() },
        )?;
        self.scheduled.push(TaskKind::Event);
        let buffered = self.buffered_events.get_mut(name).and_then(VecDeque::pop_front);
        match buffered {
            Some((arrival, data)) => {
                self.event_results.insert(task_id, (arrival, name.to_string(), data.clone()));
                self.record_result(task_id, Ok(data))?
            }
            None => self.event_waits.push_back((task_id, name.to_string())),
        }
        Ok(task_id)
    }

    /// The orchestrator starts waiting for an update named `name`; returns the wait's handle,
    /// which completes with [`DeliveredUpdate::to_payload`]. Like event waits: updates that
    /// arrived before anyone waited are buffered, in order, and each completes one wait.
    pub fn wait_for_update(&mut self, name: &str) -> Result<TaskId, ReplayError> {
        let task_id = self.scheduled.len() as TaskId;
        self.command(
            || Command::WaitForUpdate { name: name.to_string() },
            Event::UpdateWaitStarted { task_id, name: name.to_string() },
        )?;
        self.scheduled.push(TaskKind::Event);
        match self.buffered_updates.get_mut(name).and_then(VecDeque::pop_front) {
            Some((update_id, input)) => {
                let delivered = DeliveredUpdate { id: &update_id, input: &input }.to_payload();
                self.record_result(task_id, Ok(delivered))?
            }
            None => self.update_waits.push_back((task_id, name.to_string())),
        }
        Ok(task_id)
    }

    /// The orchestrator answers an update it received. Each update is answered once; an unknown
    /// id, or a second answer, is refused (and ends the execution, as an unknown task does).
    pub fn reply_update(&mut self, update_id: &str, reply: UpdateReply) -> Result<(), ReplayError> {
        self.ensure_running()?;
        match self.updates.get_mut(update_id) {
            Some(answered @ false) => *answered = true,
            _ => return Err(ReplayError::UnknownUpdate(update_id.to_string())),
        }
        self.command(
            || Command::ReplyUpdate { update_id: update_id.to_string() },
            Event::UpdateReplied { update_id: update_id.to_string(), reply },
        )
    }

    /// The orchestrator raises an event on another instance.
    pub fn raise_event(&mut self, instance_id: &str, name: &str, data: Payload) -> Result<(), ReplayError> {
        self.command(
            || Command::RaiseEvent { instance_id: instance_id.to_string(), name: name.to_string() },
            Event::EventSent { instance_id: instance_id.to_string(), name: name.to_string(), data },
        )
    }

    /// The orchestrator calls an entity operation; returns the handle of the task that waits
    /// for its result. Inside a critical section, only the locked entities can be called (their
    /// operations then run ahead of everyone else's).
    pub fn call_entity(&mut self, entity: &EntityId, operation: &str, input: Payload) -> Result<TaskId, ReplayError> {
        let in_critical_section = match &self.lock {
            LockState::Free => false,
            LockState::Held(locked) if locked.contains(entity) => true,
            LockState::Held(locked) => {
                return Err(ReplayError::LockViolation(format!(
                    "inside a critical section only the locked entities can be called; {entity} is not one of [{}]",
                    list(locked)
                )));
            }
            LockState::Requested(..) => {
                return Err(ReplayError::LockViolation(
                    "wait for the locks (the task lock-entities returned) before calling entities".into(),
                ));
            }
        };
        let task_id = self.scheduled.len() as TaskId;
        self.command(
            || Command::CallEntity { entity: entity.clone(), operation: operation.to_string() },
            Event::EntityCalled {
                task_id,
                entity: entity.clone(),
                operation: operation.to_string(),
                input,
                in_critical_section,
            },
        )?;
        self.scheduled.push(TaskKind::Entity { entity: entity.clone(), operation: operation.to_string() });
        Ok(task_id)
    }

    /// The orchestrator signals an entity operation (one way).
    pub fn signal_entity(&mut self, entity: &EntityId, operation: &str, input: Payload) -> Result<(), ReplayError> {
        self.command(
            || Command::SignalEntity { entity: entity.clone(), operation: operation.to_string() },
            Event::EntitySignaled { entity: entity.clone(), operation: operation.to_string(), input },
        )
    }

    /// The orchestrator asks for the locks of `entities` (a critical section, as Durable
    /// Functions' `LockAsync`); returns the task that completes once all are held. Locks are
    /// taken one entity at a time in sorted order, so two critical sections can never deadlock.
    /// Critical sections do not nest.
    pub fn lock_entities(&mut self, entities: &[EntityId]) -> Result<TaskId, ReplayError> {
        if self.lock != LockState::Free {
            return Err(ReplayError::LockViolation(
                "critical sections cannot be nested: release the locks held before taking others".into(),
            ));
        }
        let mut sorted = entities.to_vec();
        sorted.sort();
        sorted.dedup();
        if sorted.is_empty() {
            return Err(ReplayError::LockViolation("a critical section needs at least one entity".into()));
        }
        let task_id = self.scheduled.len() as TaskId;
        self.command(
            || Command::LockEntities { entities: sorted.clone() },
            Event::EntityLockRequested { task_id, entities: sorted.clone() },
        )?;
        self.scheduled.push(TaskKind::EntityLock);
        self.lock = LockState::Requested(task_id, sorted);
        Ok(task_id)
    }

    /// The entities whose locks this execution holds or has asked for: what its end must
    /// release.
    pub fn locks_to_release(&self) -> Vec<EntityId> {
        match &self.lock {
            LockState::Free => Vec::new(),
            LockState::Requested(_, entities) | LockState::Held(entities) => entities.clone(),
        }
    }

    /// The orchestrator leaves its critical section, releasing its locks. Without one, nothing
    /// happens (so an explicit release and a release on scope exit can both be issued).
    pub fn unlock_entities(&mut self) -> Result<(), ReplayError> {
        match std::mem::replace(&mut self.lock, LockState::Free) {
            LockState::Free => Ok(()),
            LockState::Held(entities) => self.command(|| Command::UnlockEntities, Event::EntitiesUnlocked { entities }),
            requested @ LockState::Requested(..) => {
                self.lock = requested;
                Err(ReplayError::LockViolation("the locks are not held yet: wait for them before releasing".into()))
            }
        }
    }

    fn check_known(&self, tasks: &[TaskId]) -> Result<(), ReplayError> {
        match tasks.iter().find(|task| **task as usize >= self.scheduled.len()) {
            Some(unknown) => Err(ReplayError::UnknownTask(*unknown)),
            None => Ok(()),
        }
    }

    /// The first-delivered completion among `tasks`, if any has completed.
    pub fn wait_any(&mut self, tasks: &[TaskId]) -> Result<WaitOutcome<Completion>, ReplayError> {
        self.ensure_running()?;
        if tasks.is_empty() {
            return Err(ReplayError::EmptyWait);
        }
        self.check_known(tasks)?;
        let first = tasks
            .iter()
            .filter_map(|task| self.results.get(task).map(|delivered| (delivered.order, *task, delivered)))
            .min_by_key(|(order, _, _)| *order);
        Ok(match first {
            Some((_, task, delivered)) => {
                let completion = Completion { task, outcome: delivered.outcome.clone() };
                self.observed.insert(task);
                WaitOutcome::Ready(completion)
            }
            None => WaitOutcome::Pending,
        })
    }

    /// Every completion of `tasks`, in order, once all have completed. A caller that asks again
    /// after each [`Replayer::advance`] should use [`Replayer::poll_all`], which does not check
    /// the whole set again every time.
    pub fn wait_all(&mut self, tasks: &[TaskId]) -> Result<WaitOutcome<Vec<Completion>>, ReplayError> {
        self.poll_all(&mut AllWait::new(tasks.to_vec()))
    }

    /// Every completion of `wait`'s tasks, in order, once all have completed. Asked again after
    /// each [`Replayer::advance`], it checks only the tasks not yet seen complete: results are
    /// never taken back, so a task found complete stays complete, and a wait for n tasks costs
    /// O(n) over all the episodes it spans instead of O(n) per episode.
    pub fn poll_all(&mut self, wait: &mut AllWait) -> Result<WaitOutcome<Vec<Completion>>, ReplayError> {
        self.ensure_running()?;
        if !wait.known {
            self.check_known(&wait.tasks)?;
            wait.known = true;
        }
        while let Some(task) = wait.tasks.get(wait.complete) {
            if !self.results.contains_key(task) {
                return Ok(WaitOutcome::Pending);
            }
            wait.complete += 1;
        }
        let completions = wait
            .tasks
            .iter()
            .map(|task| Completion { task: *task, outcome: self.results[task].outcome.clone() })
            .collect();
        self.observed.extend(&wait.tasks);
        Ok(WaitOutcome::Ready(completions))
    }

    /// A new deterministic UUID (the same on every replay).
    pub fn new_guid(&mut self) -> String {
        self.guids += 1;
        let name = format!("{}/{}/{}", self.instance_id, self.execution, self.guids);
        uuid::Uuid::new_v5(&GUID_NAMESPACE, name.as_bytes()).to_string()
    }

    /// Sets the custom status.
    pub fn set_custom_status(&mut self, status: Option<Payload>) {
        self.custom_status = status;
    }

    /// The orchestrator returned `output`.
    pub fn complete(&mut self, output: Payload) -> Result<(), ReplayError> {
        if self.finish_continued()? {
            return Ok(());
        }
        let event = Event::ExecutionCompleted { output: output.clone() };
        self.finish(Command::Complete, Terminal::Completed(output), event)
    }

    /// The orchestrator returned `failure`.
    pub fn fail(&mut self, failure: Failure) -> Result<(), ReplayError> {
        if self.finish_continued()? {
            return Ok(());
        }
        let event = Event::ExecutionFailed { failure: failure.clone() };
        self.finish(Command::Fail, Terminal::Failed(failure), event)
    }

    fn finish(&mut self, command: Command, terminal: Terminal, event: Event) -> Result<(), ReplayError> {
        self.command(|| command, event)?;
        self.terminal = Some(terminal);
        Ok(())
    }

    /// Ends the execution with a failure the orchestrator did not choose (a trap, a CPU or memory
    /// limit, nondeterminism). Unlike [`Replayer::fail`] this is not checked against history: the
    /// host, not the orchestrator's code, decided it.
    pub fn abort(&mut self, failure: Failure) {
        if self.terminal.is_some() {
            return;
        }
        if !self.live {
            // Replayed events not yet consumed are dropped: the new events start where the
            // recorded history ends.
            self.position = self.taken_len + self.new_events.len() as u64;
            self.recorded.clear();
            self.live = true;
        }
        self.push(Event::ExecutionFailed { failure: failure.clone() });
        self.terminal = Some(Terminal::Failed(failure));
    }

    /// Ends the execution with `failure` because its current episode was refused (it would have
    /// taken the history past a limit): the commands the episode issued are dropped with it, so
    /// that none of the work refused is done (no task, no child, no message), and the history
    /// records the deliveries and the failure.
    pub fn refuse_episode(&mut self, failure: Failure) {
        if self.terminal.is_none() && self.live {
            self.new_events.truncate(self.episode_commands_start);
            self.position = self.taken_len + self.new_events.len() as u64;
        }
        self.abort(failure);
    }

    /// Takes the events of the live episodes since the last call, numbered for the store.
    pub fn take_output(&mut self) -> EpisodeOutput {
        let base_len = self.taken_len;
        let events: Vec<HistoryEvent> = self
            .new_events
            .drain(..)
            .enumerate()
            .map(|(index, event)| HistoryEvent { seq: base_len + index as u64, event })
            .collect();
        self.taken_len += events.len() as u64;
        self.episode_commands_start = 0;
        let terminal = if self.terminal_taken { None } else { self.terminal.clone() };
        self.terminal_taken |= terminal.is_some();
        EpisodeOutput { events, base_len, terminal }
    }
}

/// The namespace of [`Replayer::new_guid`]'s name-based UUIDs.
const GUID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_bytes([
    0x6b, 0x1e, 0x0c, 0x52, 0x8e, 0x1f, 0x4c, 0x3d, 0x9a, 0x57, 0x2f, 0x10, 0x9d, 0x44, 0x7e, 0x21,
]);

/// Events recorded as delivered at the start of an episode (before its commands).
pub(super) fn is_delivery(event: &Event) -> bool {
    matches!(
        event,
        Event::ExecutionStarted { .. }
            | Event::ActivityCompleted { .. }
            | Event::ActivityFailed { .. }
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
    )
}

/// Whether a new command is the one recorded. Kinds, positions and names must match; inputs,
/// timer times and event data may change (a fixed bug in how an input is built must not strand
/// every running instance), as in Durable Functions and Temporal.
fn same_command(new: &Event, recorded: &Event) -> bool {
    match (new, recorded) {
        (
            Event::ActivityScheduled { task_id, name, .. },
            Event::ActivityScheduled { task_id: recorded_task, name: recorded_name, .. },
        ) => task_id == recorded_task && name == recorded_name,
        (
            Event::SubOrchestrationScheduled { task_id, name, .. },
            Event::SubOrchestrationScheduled { task_id: recorded_task, name: recorded_name, .. },
        ) => task_id == recorded_task && name == recorded_name,
        (Event::ExecutionContinuedAsNew { .. }, Event::ExecutionContinuedAsNew { .. }) => true,
        (Event::TimerScheduled { task_id, .. }, Event::TimerScheduled { task_id: recorded_task, .. }) => {
            task_id == recorded_task
        }
        (
            Event::EventWaitStarted { task_id, name },
            Event::EventWaitStarted { task_id: recorded_task, name: recorded_name },
        ) => task_id == recorded_task && name == recorded_name,
        (
            Event::UpdateWaitStarted { task_id, name },
            Event::UpdateWaitStarted { task_id: recorded_task, name: recorded_name },
        ) => task_id == recorded_task && name == recorded_name,
        (Event::UpdateReplied { update_id, .. }, Event::UpdateReplied { update_id: recorded_id, .. }) => {
            update_id == recorded_id
        }
        (
            Event::EventSent { instance_id, name, .. },
            Event::EventSent { instance_id: recorded_instance, name: recorded_name, .. },
        ) => instance_id == recorded_instance && name == recorded_name,
        (
            Event::EntityCalled { task_id, entity, operation, .. },
            Event::EntityCalled { task_id: recorded_task, entity: recorded_entity, operation: recorded_op, .. },
        ) => task_id == recorded_task && entity == recorded_entity && operation == recorded_op,
        (
            Event::EntitySignaled { entity, operation, .. },
            Event::EntitySignaled { entity: recorded_entity, operation: recorded_op, .. },
        ) => entity == recorded_entity && operation == recorded_op,
        (
            Event::EntityLockRequested { task_id, entities },
            Event::EntityLockRequested { task_id: recorded_task, entities: recorded_entities },
        ) => task_id == recorded_task && entities == recorded_entities,
        (Event::EntitiesUnlocked { .. }, Event::EntitiesUnlocked { .. }) => true,
        (Event::ExecutionCompleted { .. }, Event::ExecutionCompleted { .. })
        | (Event::ExecutionFailed { .. }, Event::ExecutionFailed { .. }) => true,
        _ => false,
    }
}

/// Entity ids, comma-separated, for messages.
fn list(entities: &[EntityId]) -> String {
    entities.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}
