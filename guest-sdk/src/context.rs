//! The orchestrator's view of the host: deterministic time, ids, status, logs and tasks.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__private::bindings::reprise::durable::orchestration;
use crate::__private::bindings::reprise::durable::types::LogLevel;
use crate::{Failure, Task};

/// What an orchestrator gets from the host, passed to it as `&Context`.
///
/// Every method is deterministic: on replay the host answers it from the instance's history, so
/// the orchestrator takes the same path again. `Context` is a zero-sized handle: the state lives
/// in the host.
#[derive(Debug)]
pub struct Context {
    _private: (),
}

/// The severity of a line written with [`Context::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Fine-grained diagnostics.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that the code handled.
    Warn,
    /// Something failed.
    Error,
}

impl From<Level> for LogLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        }
    }
}

impl Context {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }

    /// The id of the orchestration instance being run.
    pub fn instance_id(&self) -> String {
        orchestration::instance_id()
    }

    /// True while the orchestrator re-executes steps already recorded in its history. Use it to
    /// skip work that must not repeat on replay (metrics, say); never to change decisions.
    /// (Lines written with [`Context::log`] are already dropped on replay by the host.)
    pub fn is_replaying(&self) -> bool {
        orchestration::is_replaying()
    }

    /// The instance's logical time: the time at which the current episode started, as recorded
    /// in history. It is constant within an episode and the same on every replay;
    /// `SystemTime::now()` returns it too.
    pub fn current_time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(orchestration::current_time())
    }

    /// A new UUID, unique within the host and the same on every replay.
    pub fn new_guid(&self) -> String {
        orchestration::new_guid()
    }

    /// Sets the instance's custom status, a small JSON document that management tools show while
    /// the instance runs (for example `"Processing payment"`).
    ///
    /// # Errors
    ///
    /// A failure of type [`INVALID_INPUT`](Failure::INVALID_INPUT) if `status` cannot be
    /// serialized to JSON; the status is then left unchanged.
    pub fn set_custom_status<T: Serialize + ?Sized>(&self, status: &T) -> Result<(), Failure> {
        let json = serde_json::to_string(status).map_err(|err| {
            Failure::new(Failure::INVALID_INPUT, format!("the custom status could not be serialized to JSON: {err}"))
        })?;
        orchestration::set_custom_status(Some(&json));
        Ok(())
    }

    /// Clears the instance's custom status.
    pub fn clear_custom_status(&self) {
        orchestration::set_custom_status(None);
    }

    /// Writes a line to the host's log, tagged with the instance id. Lines written while
    /// replaying are dropped by the host, so each line appears once.
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        orchestration::log(level.into(), message.as_ref());
    }

    /// [`Context::log`] at [`Level::Debug`].
    pub fn log_debug(&self, message: impl AsRef<str>) {
        self.log(Level::Debug, message);
    }

    /// [`Context::log`] at [`Level::Info`].
    pub fn log_info(&self, message: impl AsRef<str>) {
        self.log(Level::Info, message);
    }

    /// [`Context::log`] at [`Level::Warn`].
    pub fn log_warn(&self, message: impl AsRef<str>) {
        self.log(Level::Warn, message);
    }

    /// [`Context::log`] at [`Level::Error`].
    pub fn log_error(&self, message: impl AsRef<str>) {
        self.log(Level::Error, message);
    }

    /// Schedules the named activity with `input` (serialized to JSON) and returns its task at
    /// once; the activity runs in the background. The activity may be exported by any component
    /// loaded in the host. Name the output type with a turbofish or on the binding:
    /// `ctx.call_activity::<Receipt, _>("charge", &order)`.
    ///
    /// If `input` cannot be serialized to JSON, nothing is scheduled and the returned task fails
    /// with a failure of type [`INVALID_INPUT`](Failure::INVALID_INPUT) when waited on (see
    /// [`Task`]). To ignore an activity's output, use `O = serde::de::IgnoredAny`.
    pub fn call_activity<O: DeserializeOwned, I: Serialize + ?Sized>(&self, name: &str, input: &I) -> Task<O> {
        match serde_json::to_string(input) {
            Ok(json) => Task::scheduled(name, orchestration::schedule_activity(name, &json)),
            Err(err) => Task::unscheduled(
                name,
                Failure::new(
                    Failure::INVALID_INPUT,
                    format!("the input of activity '{name}' could not be serialized to JSON: {err}"),
                ),
            ),
        }
    }

    /// Waits for every task (one `wait-all` call to the host), and returns their outcomes in the
    /// order of `tasks`: fan-in.
    pub fn all<O: DeserializeOwned>(&self, tasks: Vec<Task<O>>) -> Vec<Result<O, Failure>> {
        let ids: Vec<u64> = tasks.iter().filter_map(Task::id).collect();
        let completions = if ids.is_empty() { Vec::new() } else { orchestration::wait_all(&ids) };
        let delivered = completions.len();
        let mut completions = completions.into_iter();
        tasks
            .into_iter()
            .map(|task| match task.id() {
                None => task.wait(),
                Some(id) => match completions.next() {
                    Some(completion) => task.complete(id, completion),
                    None => Err(Failure::new(
                        Failure::PROTOCOL_ERROR,
                        format!("the host delivered {delivered} completions for {} awaited tasks", ids.len()),
                    )),
                },
            })
            .collect()
    }

    /// Like [`Context::all`], but returns the outputs of all the tasks, or the first failure in
    /// the order of `tasks`. It waits for every task even when one has failed.
    pub fn try_all<O: DeserializeOwned>(&self, tasks: Vec<Task<O>>) -> Result<Vec<O>, Failure> {
        self.all(tasks).into_iter().collect()
    }

    /// Waits until at least one of `tasks` has completed (one `wait-any` call to the host), and
    /// returns its index in `tasks` with its outcome. On a tie, the earliest in `tasks` wins.
    ///
    /// The tasks stay usable: waiting on the winner again returns the same outcome, and the
    /// others can still be waited on. A task that was never scheduled (see [`Task`]) counts as
    /// already completed, so the first such task wins at once.
    ///
    /// # Panics
    ///
    /// If `tasks` is empty (there would be nothing to wait for).
    pub fn any<O: DeserializeOwned>(&self, tasks: &[Task<O>]) -> (usize, Result<O, Failure>) {
        assert!(!tasks.is_empty(), "Context::any needs at least one task to wait for");
        if let Some((index, failure)) =
            tasks.iter().enumerate().find_map(|(i, task)| task.unscheduled_failure().map(|f| (i, f.clone())))
        {
            return (index, Err(failure));
        }
        let ids: Vec<u64> = tasks.iter().filter_map(Task::id).collect();
        let completion = orchestration::wait_any(&ids);
        match ids.iter().position(|&id| id == completion.task) {
            Some(index) => (index, tasks[index].complete(ids[index], completion)),
            None => (
                0,
                Err(Failure::new(
                    Failure::PROTOCOL_ERROR,
                    format!(
                        "the host delivered the completion of task {}, which was not awaited (awaited: {ids:?})",
                        completion.task
                    ),
                )),
            ),
        }
    }
}
