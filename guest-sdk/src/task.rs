//! Durable tasks: the handles of activity calls scheduled by an orchestrator.

use std::any::type_name;
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::__private::bindings::reprise::durable::{orchestration, types::Completion};
use crate::Failure;

/// The handle of an activity call scheduled by an orchestrator, whose output is an `O`.
///
/// [`Context::call_activity`](crate::Context::call_activity) returns it at once; the activity
/// runs in the background. Get its outcome with [`Task::wait`], or wait for several tasks with
/// [`Context::all`](crate::Context::all), [`Context::try_all`](crate::Context::try_all) or
/// [`Context::any`](crate::Context::any).
///
/// A task whose input could not be serialized to JSON was never scheduled: it has no
/// [`id`](Task::id), and waiting on it gives a failure of type
/// [`INVALID_INPUT`](Failure::INVALID_INPUT) at once, without a call to the host. (Serialization
/// is a pure function of the input, so this happens the same way on every replay.)
#[must_use = "a task does nothing for the orchestrator until it is waited on (the activity runs anyway)"]
pub struct Task<O> {
    /// The activity's name, for messages.
    activity: String,
    state: State,
    output: PhantomData<fn() -> O>,
}

enum State {
    /// Scheduled with the host, under this handle.
    Scheduled(u64),
    /// Never scheduled: its input could not be serialized.
    Unscheduled(Failure),
}

impl<O> Task<O> {
    pub(crate) fn scheduled(activity: &str, id: u64) -> Self {
        Self { activity: activity.to_owned(), state: State::Scheduled(id), output: PhantomData }
    }

    pub(crate) fn unscheduled(activity: &str, failure: Failure) -> Self {
        Self { activity: activity.to_owned(), state: State::Unscheduled(failure), output: PhantomData }
    }

    /// The host's handle of this task: tasks are numbered from 0 in the order the orchestrator
    /// schedules them, the same on every replay. `None` if the task was never scheduled because
    /// its input could not be serialized.
    pub fn id(&self) -> Option<u64> {
        match self.state {
            State::Scheduled(id) => Some(id),
            State::Unscheduled(_) => None,
        }
    }

    /// The name of the activity this task calls.
    pub fn activity(&self) -> &str {
        &self.activity
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
    /// Blocks until the activity has completed, and returns its output or its failure.
    ///
    /// The failure of an activity arrives as a failure of type
    /// [`ACTIVITY_FAILED`](Failure::ACTIVITY_FAILED) whose first cause is the activity's own
    /// failure: match it with [`Failure::is`]. An output that does not deserialize into `O`
    /// gives a failure of type [`INVALID_OUTPUT`](Failure::INVALID_OUTPUT).
    ///
    /// This is one `wait-any` call on this task's handle. Waiting on a task that already
    /// completed (for example the winner of [`Context::any`](crate::Context::any)) returns the
    /// same outcome again.
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
                    "the host delivered the completion of task {} while task {id} (activity '{}') was awaited",
                    completion.task, self.activity
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
                format!("the output of activity '{}' is not a valid {}: {err}", self.activity, type_name::<O>()),
            )
            .with_details(payload)
        })
    }
}

impl<O> fmt::Debug for Task<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Task");
        s.field("activity", &self.activity);
        match &self.state {
            State::Scheduled(id) => s.field("id", id),
            State::Unscheduled(failure) => s.field("unscheduled", failure),
        };
        s.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_deserializes_the_output() {
        let task = Task::<Vec<u32>>::scheduled("numbers", 4);
        assert_eq!(task.id(), Some(4));
        assert_eq!(task.decode(Ok("[1,2]".into())), Ok(vec![1, 2]));
    }

    #[test]
    fn decode_passes_failures_through() {
        let task = Task::<u32>::scheduled("numbers", 0);
        let failure = Failure::new("ActivityFailed", "boom");
        assert_eq!(task.decode(Err(failure.clone())), Err(failure));
    }

    #[test]
    fn decode_reports_an_output_of_the_wrong_type() {
        let task = Task::<u32>::scheduled("numbers", 0);
        let failure = task.decode(Ok("\"seven\"".into())).unwrap_err();
        assert_eq!(failure.error_type, "InvalidOutput");
        assert!(failure.message.contains("'numbers'"), "{failure}");
        assert!(failure.message.contains("u32"), "{failure}");
        assert_eq!(failure.details.as_deref(), Some("\"seven\""));
    }

    #[test]
    fn complete_rejects_a_completion_of_another_task() {
        let task = Task::<u32>::scheduled("numbers", 1);
        let completion = Completion { task: 2, outcome: Ok("1".into()) };
        let failure = task.complete(1, completion).unwrap_err();
        assert_eq!(failure.error_type, "ProtocolError");
    }

    #[test]
    fn an_unscheduled_task_fails_without_the_host() {
        let task = Task::<u32>::unscheduled("numbers", Failure::new("InvalidInput", "bad"));
        assert_eq!(task.id(), None);
        assert_eq!(task.wait(), Err(Failure::new("InvalidInput", "bad")));
    }
}
