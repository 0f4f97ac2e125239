//! Durable tasks: the handles of the activity calls, timers and event waits of an orchestrator.

use std::any::type_name;
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::__private::bindings::reprise::durable::types::Completion;
use crate::Failure;
use crate::host::orchestration;

/// The handle of a durable task scheduled by an orchestrator, whose output is an `O`: an activity
/// call ([`Context::call_activity`](crate::Context::call_activity) and its variants), a durable
/// timer ([`Context::timer`](crate::Context::timer), whose output is its fire time) or a wait for
/// an external event ([`Context::wait_for_event`](crate::Context::wait_for_event), whose output
/// is the event's data).
///
/// The context returns the task at once; the work goes on in the host. Get its outcome with
/// [`Task::wait`], or wait for several tasks with [`Context::all`](crate::Context::all),
/// [`Context::try_all`](crate::Context::try_all), [`Context::any`](crate::Context::any) (tasks of
/// one output type) or [`Context::first`](crate::Context::first) (tasks of any output types).
///
/// An activity task whose input could not be serialized to JSON, or whose options the host would
/// refuse, was never scheduled: it has no [`id`](Task::id), and waiting on it gives a failure of
/// type [`INVALID_INPUT`](Failure::INVALID_INPUT) (or
/// [`INVALID_OPTIONS`](Failure::INVALID_OPTIONS)) at once, without a call to the host.
/// (Serialization and validation are pure functions of their input, so this happens the same way
/// on every replay.)
#[must_use = "a task does nothing for the orchestrator until it is waited on (the host runs it anyway)"]
pub struct Task<O> {
    /// What the task is, for messages.
    kind: TaskKind,
    state: State,
    output: PhantomData<fn() -> O>,
}

/// What a [`Task`] stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskKind {
    /// A call of the named activity.
    Activity {
        /// The activity's name.
        name: String,
    },
    /// A durable timer.
    Timer {
        /// When it fires: logical time, in milliseconds since the Unix epoch.
        fire_at: u64,
    },
    /// A call of the named orchestrator as a child instance.
    SubOrchestration {
        /// The child orchestrator's name.
        name: String,
    },
    /// A wait for the named external event.
    Event {
        /// The event's name.
        name: String,
    },
    /// A wait for the named update.
    Update {
        /// The update's name.
        name: String,
    },
    /// The locks of a critical section.
    Lock {
        /// The entities, as `@name@key`, comma-separated.
        entities: String,
    },
    /// A call of an entity operation.
    Entity {
        /// The entity, as `@name@key`.
        entity: String,
        /// The operation's name.
        operation: String,
    },
}

impl TaskKind {
    /// What the output of the task is called, in messages.
    fn output_name(&self) -> String {
        match self {
            TaskKind::Activity { name } => format!("the output of activity '{name}'"),
            TaskKind::Timer { fire_at } => format!("the completion of the timer firing at {fire_at}"),
            TaskKind::SubOrchestration { name } => format!("the output of sub-orchestration '{name}'"),
            TaskKind::Event { name } => format!("the data of event '{name}'"),
            TaskKind::Update { name } => format!("the input of update '{name}'"),
            TaskKind::Entity { entity, operation } => format!("the output of operation '{operation}' on {entity}"),
            TaskKind::Lock { entities } => format!("the grant of the locks of [{entities}]"),
        }
    }
}

impl fmt::Display for TaskKind {
    /// `activity 'NAME'`, `timer firing at MS` or `event 'NAME'`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskKind::Activity { name } => write!(f, "activity '{name}'"),
            TaskKind::Timer { fire_at } => write!(f, "timer firing at {fire_at}"),
            TaskKind::Event { name } => write!(f, "event '{name}'"),
            TaskKind::Update { name } => write!(f, "update '{name}'"),
            TaskKind::SubOrchestration { name } => write!(f, "sub-orchestration '{name}'"),
            TaskKind::Entity { entity, operation } => write!(f, "operation '{operation}' on {entity}"),
            TaskKind::Lock { entities } => write!(f, "locks of [{entities}]"),
        }
    }
}

enum State {
    /// Scheduled with the host, under this handle.
    Scheduled(u64),
    /// Never scheduled: its input could not be serialized, or its options are invalid.
    Unscheduled(Failure),
}

impl<O> Task<O> {
    pub(crate) fn scheduled(kind: TaskKind, id: u64) -> Self {
        Self { kind, state: State::Scheduled(id), output: PhantomData }
    }

    pub(crate) fn unscheduled(kind: TaskKind, failure: Failure) -> Self {
        Self { kind, state: State::Unscheduled(failure), output: PhantomData }
    }

    /// The host's handle of this task: tasks are numbered from 0 in the order the orchestrator
    /// schedules them, the same on every replay. `None` if the task was never scheduled (see
    /// [`Task`]).
    pub fn id(&self) -> Option<u64> {
        match self.state {
            State::Scheduled(id) => Some(id),
            State::Unscheduled(_) => None,
        }
    }

    /// What this task stands for: an activity call, a timer or an event wait.
    ///
    /// ```no_run
    /// # use reprise_sdk::{Context, TaskKind};
    /// # fn f(ctx: &Context) {
    /// let task = ctx.wait_for_event::<String>("Approval");
    /// assert_eq!(task.kind(), &TaskKind::Event { name: "Approval".into() });
    /// # }
    /// ```
    pub fn kind(&self) -> &TaskKind {
        &self.kind
    }

    /// The failure of a task that was never scheduled.
    pub(crate) fn unscheduled_failure(&self) -> Option<&Failure> {
        match &self.state {
            State::Scheduled(_) => None,
            State::Unscheduled(failure) => Some(failure),
        }
    }
}

impl<O: DeserializeOwned> Task<O> {
    /// Blocks until the task has completed, and returns its output or its failure.
    ///
    /// The failure of an activity arrives as a failure of type
    /// [`ACTIVITY_FAILED`](Failure::ACTIVITY_FAILED) whose first cause is the activity's own
    /// failure (with a retry policy, the failure of the last attempt): match it with
    /// [`Failure::is`]. An output that does not deserialize into `O` gives a failure of type
    /// [`INVALID_OUTPUT`](Failure::INVALID_OUTPUT).
    ///
    /// This is one `wait-any` call on this task's handle. Waiting on a task that already
    /// completed (for example the winner of [`Context::any`](crate::Context::any) or
    /// [`Context::first`](crate::Context::first)) returns the same outcome again, at once.
    pub fn wait(self) -> Result<O, Failure> {
        match self.state {
            State::Unscheduled(failure) => Err(failure),
            State::Scheduled(id) => {
                let completion = orchestration::wait_any(&[id]);
                self.complete(id, completion)
            }
        }
    }

    /// Turns the completion the host delivered for this task (handle `id`) into its outcome.
    pub(crate) fn complete(&self, id: u64, completion: Completion) -> Result<O, Failure> {
        if completion.task != id {
            return Err(Failure::new(
                Failure::PROTOCOL_ERROR,
                format!(
                    "the host delivered the completion of task {} while task {id} ({}) was awaited",
                    completion.task, self.kind
                ),
            ));
        }
        self.decode(completion.outcome.map_err(Failure::from))
    }

    /// Deserializes a JSON outcome into `O`.
    pub(crate) fn decode(&self, outcome: Result<String, Failure>) -> Result<O, Failure> {
        let payload = outcome?;
        serde_json::from_str(&payload).map_err(|err| {
            Failure::new(
                Failure::INVALID_OUTPUT,
                format!("{} is not a valid {}: {err}", self.kind.output_name(), type_name::<O>()),
            )
            .with_details(payload)
        })
    }
}

impl<O> fmt::Debug for Task<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Task");
        s.field("kind", &self.kind);
        match &self.state {
            State::Scheduled(id) => s.field("id", id),
            State::Unscheduled(failure) => s.field("unscheduled", failure),
        };
        s.finish()
    }
}

/// A task of any output type, for [`Context::first`](crate::Context::first), which races tasks
/// of different types (an activity against a timer, say). Every [`Task`] implements it, and only
/// they do (the trait is sealed).
///
/// ```no_run
/// # use std::time::Duration;
/// # use reprise_sdk::{Awaitable, Context, Failure};
/// # fn f(ctx: &Context) -> Result<(), Failure> {
/// let report = ctx.call_activity::<String, _>("build_report", &42);
/// let timeout = ctx.timer(Duration::from_secs(30));
/// let tasks: [&dyn Awaitable; 2] = [&report, &timeout];
/// assert_eq!(tasks[1].id(), timeout.id());
/// # Ok(()) }
/// ```
pub trait Awaitable: sealed::Sealed {
    /// The host's handle of the task, as [`Task::id`]: `None` if it was never scheduled.
    fn id(&self) -> Option<u64>;
}

impl<O> Awaitable for Task<O> {
    fn id(&self) -> Option<u64> {
        Task::id(self)
    }
}

mod sealed {
    /// Keeps [`Awaitable`](super::Awaitable) for the SDK's own tasks, whose handles came from the
    /// host.
    pub trait Sealed {}

    impl<O> Sealed for super::Task<O> {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(name: &str) -> TaskKind {
        TaskKind::Activity { name: name.to_owned() }
    }

    #[test]
    fn decode_deserializes_the_output() {
        let task = Task::<Vec<u32>>::scheduled(activity("numbers"), 4);
        assert_eq!(task.id(), Some(4));
        assert_eq!(task.decode(Ok("[1,2]".into())), Ok(vec![1, 2]));
    }

    #[test]
    fn decode_passes_failures_through() {
        let task = Task::<u32>::scheduled(activity("numbers"), 0);
        let failure = Failure::new("ActivityFailed", "boom");
        assert_eq!(task.decode(Err(failure.clone())), Err(failure));
    }

    #[test]
    fn decode_reports_an_output_of_the_wrong_type() {
        let task = Task::<u32>::scheduled(activity("numbers"), 0);
        let failure = task.decode(Ok("\"seven\"".into())).unwrap_err();
        assert_eq!(failure.error_type, "InvalidOutput");
        assert!(failure.message.contains("'numbers'"), "{failure}");
        assert!(failure.message.contains("u32"), "{failure}");
        assert_eq!(failure.details.as_deref(), Some("\"seven\""));
    }

    #[test]
    fn complete_rejects_a_completion_of_another_task() {
        let task = Task::<u32>::scheduled(activity("numbers"), 1);
        let completion = Completion { task: 2, outcome: Ok("1".into()) };
        let failure = task.complete(1, completion).unwrap_err();
        assert_eq!(failure.error_type, "ProtocolError");
    }

    #[test]
    fn an_unscheduled_task_fails_without_the_host() {
        let task = Task::<u32>::unscheduled(activity("numbers"), Failure::new("InvalidInput", "bad"));
        assert_eq!(task.id(), None);
        assert_eq!(task.wait(), Err(Failure::new("InvalidInput", "bad")));
    }

    #[test]
    fn decode_names_events_and_timers_in_its_failures() {
        let event = Task::<u32>::scheduled(TaskKind::Event { name: "Approval".into() }, 3);
        let failure = event.decode(Ok("true".into())).unwrap_err();
        assert_eq!(failure.error_type, "InvalidOutput");
        assert!(failure.message.starts_with("the data of event 'Approval' is not a valid u32"), "{failure}");
        assert_eq!(event.decode(Ok("7".into())), Ok(7));

        let timer = Task::<u64>::scheduled(TaskKind::Timer { fire_at: 1_700_000_000_000 }, 4);
        assert_eq!(timer.decode(Ok("1700000000000".into())), Ok(1_700_000_000_000));
        let failure = timer.decode(Ok("null".into())).unwrap_err();
        assert!(failure.message.contains("timer firing at 1700000000000"), "{failure}");
    }

    #[test]
    fn kinds_display_what_the_task_is() {
        assert_eq!(activity("charge").to_string(), "activity 'charge'");
        assert_eq!(TaskKind::Timer { fire_at: 5 }.to_string(), "timer firing at 5");
        assert_eq!(TaskKind::Event { name: "Go".into() }.to_string(), "event 'Go'");
        let task = Task::<()>::scheduled(TaskKind::Event { name: "Go".into() }, 0);
        assert_eq!(task.kind(), &TaskKind::Event { name: "Go".into() });
        let completion = Completion { task: 9, outcome: Ok("null".into()) };
        let failure = task.complete(0, completion).unwrap_err();
        assert!(failure.message.contains("(event 'Go')"), "{failure}");
    }

    #[test]
    fn every_task_is_awaitable_whatever_its_output() {
        let number = Task::<u32>::scheduled(activity("numbers"), 2);
        let timer = Task::<u64>::scheduled(TaskKind::Timer { fire_at: 10 }, 3);
        let unscheduled = Task::<String>::unscheduled(activity("text"), Failure::new("InvalidInput", "bad"));
        let tasks: [&dyn Awaitable; 3] = [&number, &timer, &unscheduled];
        let ids: Vec<_> = tasks.iter().map(|task| task.id()).collect();
        assert_eq!(ids, [Some(2), Some(3), None]);
    }
}
