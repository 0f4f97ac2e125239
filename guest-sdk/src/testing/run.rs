//! [`Run`]: one orchestration under test, driven by the test (events, time) and inspected
//! between steps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reprise_core::history_text;
use reprise_core::replay::describe_recorded;
use reprise_core::{Event, HistoryEvent, Message, OutgoingMessage, Payload, RuntimeStatus};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::convert;
use super::guest::LogLine;
use super::world::{ActivityCall, World};
use crate::{EntityId, Failure};

/// Where an orchestration instance stands: the host's own status, as `reprise status` shows it.
pub use reprise_core::RuntimeStatus as Status;

/// One orchestration under test, started by [`Harness::start`](super::Harness::start).
///
/// Every step (starting it, [`raise_event`](Run::raise_event), [`advance`](Run::advance))
/// runs everything that becomes due (activities, the episodes they complete, entity operations,
/// sub-orchestrations) until the orchestration is idle at the current virtual time: finished,
/// or waiting for a timer, a retry or an event. Between steps, read its status, custom status,
/// commands and history.
pub struct Run {
    pub(crate) world: World,
    pub(crate) root: String,
}

impl Run {
    /// The instance's id.
    pub fn instance_id(&self) -> &str {
        &self.root
    }

    fn instance(&self, id: &str) -> &super::world::Instance {
        self.world.instances.get(id).unwrap_or_else(|| panic!("reprise_sdk::testing: no instance '{id}' was started"))
    }

    /// Where the instance stands.
    pub fn status(&self) -> Status {
        self.instance(&self.root).status
    }

    /// Where another instance of the test (a sub-orchestration, one an entity started) stands;
    /// `None` if there is none of that id.
    pub fn status_of(&self, instance_id: &str) -> Option<Status> {
        self.world.instances.get(instance_id).map(|i| i.status)
    }

    /// True once the instance completed, failed or was terminated.
    pub fn is_finished(&self) -> bool {
        self.instance(&self.root).status.is_terminal()
    }

    /// The instance's output, or the failure it ended with.
    ///
    /// # Panics
    ///
    /// If it has not finished (saying what it waits for), or if its output does not
    /// deserialize into `T`.
    pub fn output<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        let instance = self.instance(&self.root);
        match instance.status {
            RuntimeStatus::Completed => {
                let text = instance.output.as_ref().map_or("null", Payload::as_str);
                Ok(serde_json::from_str(text).unwrap_or_else(|e| {
                    panic!("reprise_sdk::testing: the output {text} does not deserialize into the type asked for: {e}")
                }))
            }
            RuntimeStatus::Failed | RuntimeStatus::Terminated => {
                Err(self.failure().expect("a failed instance has a failure"))
            }
            status => panic!(
                "reprise_sdk::testing: the orchestration has not finished: it is {status}, {}; \
                 call Run::run_to_completion, Run::advance or Run::raise_event first",
                self.waiting_for()
            ),
        }
    }

    /// The failure the instance ended with, if it failed or was terminated.
    pub fn failure(&self) -> Option<Failure> {
        self.instance(&self.root).failure.clone().map(convert::failure_from_core)
    }

    /// The instance's custom status, if it set one.
    ///
    /// # Panics
    ///
    /// If it does not deserialize into `T`.
    pub fn custom_status<T: DeserializeOwned>(&self) -> Option<T> {
        let status = self.instance(&self.root).custom_status.as_ref()?;
        Some(serde_json::from_str(status.as_str()).unwrap_or_else(|e| {
            panic!("reprise_sdk::testing: the custom status {status} does not deserialize into the type asked for: {e}")
        }))
    }

    /// The virtual clock's time.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.world.now)
    }

    /// Raises the event `name` on the instance, and runs until it is idle again.
    ///
    /// # Panics
    ///
    /// If `data` does not serialize to JSON.
    pub fn raise_event<T: Serialize + ?Sized>(&mut self, name: &str, data: &T) -> &mut Self {
        let data = serde_json::to_string(data).expect("the event's data serializes to JSON");
        self.send(Message::EventRaised { name: name.to_string(), data: Payload::stored(data) });
        self
    }

    /// Sends the update `name` with `input` to the instance, runs until it is idle again, and
    /// returns the orchestrator's answer: `None` if it has not answered (yet; it may once time
    /// moves, and then [`Run::answer`] has it). The update gets the id `update-N`, N counting
    /// the updates the instance received. Validators are not run here: they are plain
    /// functions, tested with [`UpdateCheck::new`](crate::UpdateCheck::new).
    ///
    /// # Panics
    ///
    /// If `input` does not serialize to JSON.
    pub fn update<T: Serialize + ?Sized, O: DeserializeOwned>(
        &mut self,
        name: &str,
        input: &T,
    ) -> Option<Result<O, Failure>> {
        let input = serde_json::to_string(input).expect("the update's input serializes to JSON");
        let received = self.history().iter().filter(|e| matches!(e.event, Event::UpdateReceived { .. })).count();
        let update_id = format!("update-{}", received + 1);
        self.send(Message::UpdateRequested {
            update_id: update_id.clone(),
            name: name.to_string(),
            input: Payload::stored(input),
        });
        self.answer(&update_id)
    }

    /// The orchestrator's answer to the update `update_id`, if it gave one in the current
    /// execution, deserialized into `O` (a mismatch is an [`INVALID_OUTPUT`](Failure::INVALID_OUTPUT)
    /// failure).
    pub fn answer<O: DeserializeOwned>(&self, update_id: &str) -> Option<Result<O, Failure>> {
        self.history().iter().find_map(|e| match &e.event {
            Event::UpdateReplied { update_id: id, reply } if id == update_id => Some(match reply {
                reprise_core::UpdateReply::Output(output) => serde_json::from_str(output.as_str()).map_err(|err| {
                    Failure::new(
                        Failure::INVALID_OUTPUT,
                        format!("the answer to update '{update_id}' does not fit: {err}"),
                    )
                }),
                reprise_core::UpdateReply::Failure(failure) => Err(convert::failure_from_core(failure.clone())),
            }),
            _ => None,
        })
    }

    /// Moves the virtual clock forward by `duration`, firing every timer and starting every
    /// retry that becomes due on the way, each at its own time. A 30-day timer costs nothing.
    pub fn advance(&mut self, duration: Duration) -> &mut Self {
        let target = self.world.now.saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        self.world.advance_to(target);
        self
    }

    /// Skips time (timers, waits between retries) until the instance finishes.
    ///
    /// # Panics
    ///
    /// If it waits for something nothing will deliver: an event the test has not raised, an
    /// entity lock never released.
    pub fn run_to_completion(&mut self) -> &mut Self {
        self.world.settle();
        while !self.is_finished() {
            match self.world.next_due() {
                Some(at) => self.world.advance_to(at),
                None => panic!(
                    "reprise_sdk::testing: the orchestration cannot finish: it is {}, {}, and nothing else is due \
                     (no timer, no retry); raise what it waits for with Run::raise_event",
                    self.instance(&self.root).status,
                    self.waiting_for()
                ),
            }
        }
        self
    }

    /// Terminates the instance, as `reprise terminate` does.
    pub fn terminate(&mut self, reason: &str) -> &mut Self {
        self.send(Message::Terminate { reason: reason.to_string(), cascade: false })
    }

    /// Suspends the instance, as `reprise suspend` does: it keeps what it receives until resumed.
    pub fn suspend(&mut self, reason: &str) -> &mut Self {
        self.send(Message::Suspend { reason: reason.to_string() })
    }

    /// Resumes a suspended instance.
    pub fn resume(&mut self, reason: &str) -> &mut Self {
        self.send(Message::Resume { reason: reason.to_string() })
    }

    /// Signals an operation to an entity, as `reprise signal` does.
    ///
    /// # Panics
    ///
    /// If `input` does not serialize to JSON.
    pub fn signal_entity<T: Serialize + ?Sized>(&mut self, entity: &EntityId, operation: &str, input: &T) -> &mut Self {
        let input = serde_json::to_string(input).expect("the operation's input serializes to JSON");
        let message = Message::EntityOperation(reprise_core::EntityOperation {
            operation: operation.to_string(),
            input: Payload::stored(input),
            caller: None,
            in_critical_section: false,
        });
        let now = self.world.now;
        let instance_id = reprise_core::EntityId { name: entity.name.clone(), key: entity.key.clone() }.instance_id();
        self.world.send(OutgoingMessage { instance_id, message, visible_at: now, execution: None });
        self.world.settle();
        self
    }

    fn send(&mut self, message: Message) -> &mut Self {
        let now = self.world.now;
        self.world.send(OutgoingMessage { instance_id: self.root.clone(), message, visible_at: now, execution: None });
        self.world.settle();
        self
    }

    /// The current execution's history, as the host would have recorded it.
    pub fn history(&self) -> &[HistoryEvent] {
        &self.instance(&self.root).history
    }

    /// The history of another instance of the test (a sub-orchestration).
    pub fn history_of(&self, instance_id: &str) -> &[HistoryEvent] {
        &self.instance(instance_id).history
    }

    /// The current execution's history as `reprise history ID --json` prints it, which
    /// [`replay`](super::replay) reads back.
    pub fn history_json(&self) -> String {
        let events: Vec<_> = self.history().iter().map(history_text::render_event).collect();
        serde_json::to_string_pretty(&events).expect("a history serializes")
    }

    /// The orchestrator's decisions in its current execution, in order, in the words of the
    /// host's nondeterminism errors: `schedule activity 'debit' (task 0)`, `schedule a timer
    /// (task 1)`, `complete the orchestration`...
    pub fn commands(&self) -> Vec<String> {
        commands_of(self.history()).iter().map(describe_recorded).collect()
    }

    /// The events of [`Run::commands`], whole (inputs, options, fire times), to compare with a
    /// history the host recorded: see [`Run::assert_same_commands`].
    pub fn command_events(&self) -> Vec<Event> {
        commands_of(self.history())
    }

    /// Checks that the orchestrator decided here exactly what it decided in `recorded`, a
    /// history the host wrote for the same scenario (same input, same events, same activity
    /// outcomes): the same commands with the same inputs, options and fire times, in the same
    /// order.
    ///
    /// # Panics
    ///
    /// At the first decision that differs, naming both.
    pub fn assert_same_commands(&self, recorded: &super::Recorded) {
        let here = self.command_events();
        let there = recorded.command_events();
        for (index, (a, b)) in here.iter().zip(&there).enumerate() {
            assert!(
                a == b,
                "decision {index} differs: the host recorded [{}] {b:?}, the harness made [{}] {a:?}",
                describe_recorded(b),
                describe_recorded(a)
            );
        }
        assert!(
            here.len() == there.len(),
            "the host recorded {} decisions, the harness made {} (the host's last: {:?}; the harness's last: {:?})",
            there.len(),
            here.len(),
            there.last().map(describe_recorded),
            here.last().map(describe_recorded)
        );
    }

    /// Every activity attempt the harness ran, in order.
    pub fn activity_calls(&self) -> &[ActivityCall] {
        &self.world.calls
    }

    /// The attempts of the activity `name`, in order.
    pub fn calls_of(&self, name: &str) -> Vec<&ActivityCall> {
        self.world.calls.iter().filter(|c| c.name == name).collect()
    }

    /// The lines orchestrators and entities logged.
    pub fn logs(&self) -> Vec<LogLine> {
        self.world.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The state of an entity, if it has one.
    ///
    /// # Panics
    ///
    /// If it does not deserialize into `T`.
    pub fn entity_state<T: DeserializeOwned>(&self, entity: &EntityId) -> Option<T> {
        let id = reprise_core::EntityId { name: entity.name.clone(), key: entity.key.clone() }.instance_id();
        let state = self.world.entities.get(&id)?.state.as_ref()?;
        Some(serde_json::from_str(state.as_str()).unwrap_or_else(|e| {
            panic!("reprise_sdk::testing: the state {state} of {id} does not deserialize into the type asked for: {e}")
        }))
    }

    /// The failures of operations signalled to entities (no caller hears of those), in order:
    /// the entity, the operation, the failure.
    pub fn signal_failures(&self) -> Vec<(EntityId, String, Failure)> {
        let sdk = |e: &reprise_core::EntityId| EntityId::new(e.name.clone(), e.key.clone());
        self.world.signal_failures.iter().map(|(e, op, f)| (sdk(e), op.clone(), f.clone())).collect()
    }

    /// What the instance waits for, in words (for messages).
    pub fn waiting_for(&self) -> String {
        let history = self.history();
        let done: std::collections::HashSet<u64> = history.iter().filter_map(|e| e.event.ended_task()).collect();
        // Each event raised completes the oldest wait for its name, even one started later.
        let mut raised: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for event in history {
            if let Event::EventRaised { name, .. } = &event.event {
                *raised.entry(name.as_str()).or_default() += 1;
            }
        }
        let mut open = Vec::new();
        for event in history.iter().filter(|e| e.event.is_command()) {
            let pending = match &event.event {
                Event::EventWaitStarted { name, .. } => match raised.get_mut(name.as_str()) {
                    Some(count) if *count > 0 => {
                        *count -= 1;
                        false
                    }
                    _ => true,
                },
                other => scheduled_task(other).is_some_and(|task| !done.contains(&task)),
            };
            if pending {
                open.push(describe_recorded(&event.event));
            }
        }
        if open.is_empty() {
            return "waiting for nothing it scheduled".to_string();
        }
        format!("waiting on: {}", open.join("; "))
    }
}

/// The events of `history` that the orchestrator's code decided, in order.
pub(crate) fn commands_of(history: &[HistoryEvent]) -> Vec<Event> {
    history
        .iter()
        .filter(|e| {
            e.event.is_command()
                || matches!(
                    e.event,
                    Event::VersionMarked { .. }
                        | Event::ExecutionCompleted { .. }
                        | Event::ExecutionFailed { .. }
                        | Event::ExecutionContinuedAsNew { .. }
                )
        })
        .map(|e| e.event.clone())
        .collect()
}

fn scheduled_task(event: &Event) -> Option<u64> {
    match event {
        Event::ActivityScheduled { task_id, .. }
        | Event::SubOrchestrationScheduled { task_id, .. }
        | Event::TimerScheduled { task_id, .. }
        | Event::EntityCalled { task_id, .. }
        | Event::EntityLockRequested { task_id, .. } => Some(*task_id),
        _ => None,
    }
}
