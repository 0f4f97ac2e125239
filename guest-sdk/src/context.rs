//! The orchestrator's view of the host: deterministic time, ids, status, logs, and tasks
//! (activity calls, timers and external events).

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::__private::bindings::reprise::durable::types::{EntityId as WireEntityId, LogLevel};
use crate::entity::entity_operation_input;
use crate::host::orchestration;
use crate::options::millis;
use crate::task::TaskKind;
use crate::{ActivityOptions, Awaitable, EntityId, Failure, RetryPolicy, SubOrchestrationOptions, Task, Update};

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

    /// Which version of the change `change_id` this instance runs, `max` being the newest this
    /// code knows: the way to make a change that running instances could not replay (a step
    /// added, removed or reordered) and still upgrade them to the new component.
    ///
    /// An instance that reaches the call for the first time gets `max`, and its history records
    /// it; on replay it gets the recorded answer; an instance whose history was written by code
    /// from before the change gets 0, and takes the old path. The answer never changes within
    /// an execution. Keep the old branch until no instance can need it (`reprise replay-check`
    /// on the component without it tells when).
    ///
    /// ```ignore
    /// if ctx.version("send-receipt", 1) >= 1 {
    ///     ctx.call_activity("send_receipt", &order).wait()?;
    /// }
    /// ```
    pub fn version(&self, change_id: &str, max: u32) -> u32 {
        orchestration::version(change_id, max)
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
        let kind = TaskKind::Activity { name: name.to_owned() };
        match activity_input(name, input) {
            Ok(json) => Task::scheduled(kind, orchestration::schedule_activity(name, &json)),
            Err(failure) => Task::unscheduled(kind, failure),
        }
    }

    /// Schedules the named activity like [`Context::call_activity`], retried by the host with
    /// `policy`: Durable Functions' `CallActivityWithRetryAsync`.
    ///
    /// The task completes once: with the output of the first attempt that succeeds, or with the
    /// failure of the last attempt (of type [`ACTIVITY_FAILED`](Failure::ACTIVITY_FAILED), the
    /// activity's own failure as its first cause). The waits between attempts are durable: they
    /// survive host restarts, and the orchestrator is not run while they last.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use reprise_sdk::{Context, Failure, RetryPolicy};
    /// # fn f(ctx: &Context) -> Result<String, Failure> {
    /// // Three attempts in all, five seconds apart.
    /// let policy = RetryPolicy::new(3, Duration::from_secs(5));
    /// let output = ctx.call_activity_with_retry::<String, _>("flaky_activity", "demo", &policy).wait()?;
    /// # Ok(output) }
    /// ```
    ///
    /// If `input` cannot be serialized, or `policy` is invalid (see [`RetryPolicy::validate`]),
    /// nothing is scheduled and the task fails with [`INVALID_INPUT`](Failure::INVALID_INPUT) or
    /// [`INVALID_OPTIONS`](Failure::INVALID_OPTIONS) when waited on.
    pub fn call_activity_with_retry<O: DeserializeOwned, I: Serialize + ?Sized>(
        &self,
        name: &str,
        input: &I,
        policy: &RetryPolicy,
    ) -> Task<O> {
        self.call_activity_with_options(name, input, &ActivityOptions::new().retry(policy.clone()))
    }

    /// Schedules the named activity like [`Context::call_activity`], with a retry policy and/or
    /// a per-attempt timeout. An attempt that runs longer than the timeout is interrupted and
    /// fails with [`TIMED_OUT`](Failure::TIMED_OUT), which the retry policy retries like any
    /// other failure.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use reprise_sdk::{ActivityOptions, Context, Failure, RetryPolicy};
    /// # fn f(ctx: &Context) -> Result<String, Failure> {
    /// let options = ActivityOptions::new()
    ///     .timeout(Duration::from_secs(10))
    ///     .retry(RetryPolicy::new(2, Duration::from_secs(1)));
    /// match ctx.call_activity_with_options::<String, _>("render", &42, &options).wait() {
    ///     Ok(pdf) => Ok(pdf),
    ///     // Both attempts ran out of time.
    ///     Err(failure) if failure.is(Failure::TIMED_OUT) => Ok("too slow".into()),
    ///     Err(failure) => Err(failure),
    /// }
    /// # }
    /// ```
    ///
    /// If `input` cannot be serialized, or `options` are invalid (see
    /// [`ActivityOptions::validate`]), nothing is scheduled and the task fails with
    /// [`INVALID_INPUT`](Failure::INVALID_INPUT) or [`INVALID_OPTIONS`](Failure::INVALID_OPTIONS)
    /// when waited on.
    pub fn call_activity_with_options<O: DeserializeOwned, I: Serialize + ?Sized>(
        &self,
        name: &str,
        input: &I,
        options: &ActivityOptions,
    ) -> Task<O> {
        let kind = TaskKind::Activity { name: name.to_owned() };
        let checked = activity_input(name, input).and_then(|json| {
            options.validate().map_err(|failure| {
                Failure::new(
                    Failure::INVALID_OPTIONS,
                    format!("the options of activity '{name}' are invalid: {}", failure.message),
                )
            })?;
            Ok(json)
        });
        match checked {
            Ok(json) => {
                let id = orchestration::schedule_activity_with_options(name, &json, &options.to_wire());
                Task::scheduled(kind, id)
            }
            Err(failure) => Task::unscheduled(kind, failure),
        }
    }

    /// Starts the named orchestrator as a child instance with `input`, and returns its task at
    /// once. The task completes with the child's output; if the child fails, with a failure of
    /// type `SubOrchestrationFailed` whose first cause is the child's own failure
    /// (`failure.is("...")` finds it).
    ///
    /// ```no_run
    /// # use reprise_sdk::{Context, Failure};
    /// # fn run(ctx: &Context) -> Result<(), Failure> {
    /// let total: u64 = ctx.call_sub_orchestrator("sum_invoices", &vec![1, 2, 3]).wait()?;
    /// # Ok(()) }
    /// ```
    pub fn call_sub_orchestrator<O: DeserializeOwned, I: Serialize + ?Sized>(&self, name: &str, input: &I) -> Task<O> {
        self.call_sub_orchestrator_with(name, input, &SubOrchestrationOptions::new())
    }

    /// [`Context::call_sub_orchestrator`] with an instance id and/or a retry policy.
    pub fn call_sub_orchestrator_with<O: DeserializeOwned, I: Serialize + ?Sized>(
        &self,
        name: &str,
        input: &I,
        options: &SubOrchestrationOptions,
    ) -> Task<O> {
        let kind = TaskKind::SubOrchestration { name: name.to_owned() };
        let checked = serde_json::to_string(input)
            .map_err(|err| {
                Failure::new(
                    Failure::INVALID_INPUT,
                    format!("the input of sub-orchestration '{name}' could not be serialized to JSON: {err}"),
                )
            })
            .and_then(|json| {
                options.validate().map_err(|failure| {
                    Failure::new(
                        Failure::INVALID_OPTIONS,
                        format!("the options of sub-orchestration '{name}' are invalid: {}", failure.message),
                    )
                })?;
                Ok(json)
            });
        match checked {
            Ok(json) => {
                Task::scheduled(kind, orchestration::schedule_sub_orchestration(name, &json, &options.to_wire()))
            }
            Err(failure) => Task::unscheduled(kind, failure),
        }
    }

    /// Restarts this instance as a new execution with `input` and an empty history, and returns
    /// the value to return from the orchestrator: write `return ctx.continue_as_new(&next);`.
    /// Whatever the orchestrator returns after this call is ignored. Events received but not yet
    /// waited for are dropped; [`Context::continue_as_new_carrying_events`] keeps them.
    ///
    /// This is how an orchestrator loops forever (a monitor, an aggregator) without a history
    /// that grows forever.
    pub fn continue_as_new<O, I: Serialize + ?Sized>(&self, input: &I) -> Result<O, Failure> {
        self.restart(input, false)
    }

    /// [`Context::continue_as_new`], delivering the events received but not yet waited for to
    /// the new execution.
    pub fn continue_as_new_carrying_events<O, I: Serialize + ?Sized>(&self, input: &I) -> Result<O, Failure> {
        self.restart(input, true)
    }

    fn restart<O, I: Serialize + ?Sized>(&self, input: &I, carry_events: bool) -> Result<O, Failure> {
        let json = serde_json::to_string(input).map_err(|err| {
            Failure::new(
                Failure::INVALID_INPUT,
                format!("the continue-as-new input could not be serialized to JSON: {err}"),
            )
        })?;
        orchestration::continue_as_new(&json, carry_events);
        // The host ignores the return value once continue-as-new was requested.
        Err(Failure::new(Failure::CONTINUED_AS_NEW, "the orchestrator continued as new"))
    }

    /// Starts a durable timer that fires `delay` after [`Context::current_time`] (rounded up to
    /// whole milliseconds), and returns its task at once. The task completes with the fire time,
    /// in milliseconds since the Unix epoch. Since the current time is logical, the fire time is
    /// the same on every replay.
    ///
    /// The timer is stored with the instance: it survives host restarts, never fires early, and
    /// the orchestrator is not run while it waits. A timer still pending when the orchestrator
    /// finishes is cancelled, so a timer that lost a race needs no clean-up.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use reprise_sdk::{Context, Failure};
    /// # fn f(ctx: &Context) -> Result<(), Failure> {
    /// // Sleep durably for an hour (never loop on the clock: logical time stands still).
    /// ctx.timer(Duration::from_secs(3600)).wait()?;
    /// # Ok(()) }
    /// ```
    pub fn timer(&self, delay: Duration) -> Task<u64> {
        self.timer_at_millis(orchestration::current_time().saturating_add(millis(delay)))
    }

    /// Starts a durable timer that fires at `at` (rounded up to a whole millisecond; a time
    /// before the Unix epoch fires at once), like [`Context::timer`]. Compute `at` from
    /// [`Context::current_time`], never from a real clock.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use reprise_sdk::{Context, Failure};
    /// # fn f(ctx: &Context) -> Result<(), Failure> {
    /// let deadline = ctx.current_time() + Duration::from_secs(300);
    /// // ... some activities ...
    /// ctx.timer_at(deadline).wait()?;
    /// # Ok(()) }
    /// ```
    pub fn timer_at(&self, at: SystemTime) -> Task<u64> {
        self.timer_at_millis(at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, millis))
    }

    fn timer_at_millis(&self, fire_at: u64) -> Task<u64> {
        Task::scheduled(TaskKind::Timer { fire_at }, orchestration::schedule_timer(fire_at))
    }

    /// Starts waiting for the external event `name` and returns its task at once; the task
    /// completes with the event's data, deserialized into `T` (data that does not fit gives a
    /// failure of type [`INVALID_OUTPUT`](Failure::INVALID_OUTPUT)). Events are raised by
    /// clients of the host or by other orchestrators ([`Context::raise_event`]).
    ///
    /// Events raised before anyone waits for them are buffered, in order, and each event
    /// completes one wait: the oldest pending wait of its name. A wait that lost a race (to a
    /// timer, say) therefore stays pending and takes the next event of its name; to wait again
    /// after a timeout, keep waiting on the same task rather than starting a new wait. Human
    /// interaction with a timeout:
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use reprise_sdk::{Context, Failure};
    /// # fn f(ctx: &Context) -> Result<bool, Failure> {
    /// let approval = ctx.wait_for_event::<bool>("Approval");
    /// let timeout = ctx.timer(Duration::from_secs(24 * 3600));
    /// if ctx.first(&[&approval, &timeout]) == 0 {
    ///     approval.wait() // returns at once
    /// } else {
    ///     Ok(false) // nobody answered within a day
    /// }
    /// # }
    /// ```
    pub fn wait_for_event<T: DeserializeOwned>(&self, name: &str) -> Task<T> {
        Task::scheduled(TaskKind::Event { name: name.to_owned() }, orchestration::wait_for_event(name))
    }

    /// Starts waiting for an update named `name` and returns its task at once: a client's
    /// request that expects an answer (`reprise update ID NAME`, or `POST
    /// .../instances/{id}/update/{name}`). The task completes with the [`Update`], whose input
    /// is deserialized into `T`; answer it with [`Context::reply_update`]. Updates sent before
    /// anyone waits are buffered, in order, and each completes one wait, as events do. An
    /// update the execution never answers (it finishes, or continues as new, first) is
    /// reported to its caller as unanswered.
    ///
    /// ```no_run
    /// # use reprise_sdk::{Context, Failure};
    /// # fn f(ctx: &Context) -> Result<u32, Failure> {
    /// let update = ctx.wait_for_update::<u32>("add").wait()?;
    /// let total = 40 + update.input;
    /// ctx.reply_update(&update, Ok(total))?;
    /// # Ok(total) }
    /// ```
    ///
    /// An input that does not deserialize into `T` fails the wait with
    /// [`INVALID_INPUT`](Failure::INVALID_INPUT), and that update goes unanswered: wait for
    /// `Update<serde_json::Value>` to answer malformed inputs yourself, or refuse them before
    /// they are recorded with a validator (see [`export!`](crate::export!)).
    pub fn wait_for_update<T: DeserializeOwned>(&self, name: &str) -> Task<Update<T>> {
        Task::scheduled(TaskKind::Update { name: name.to_owned() }, orchestration::wait_for_update(name))
    }

    /// Answers an update with an output (serialized to JSON) or a failure. The answer is
    /// recorded in history and reaches the update's caller once the episode commits. Each
    /// update is answered once: answering it again ends the execution with a `GuestTrapped`
    /// failure.
    ///
    /// # Errors
    ///
    /// A failure of type [`INVALID_OUTPUT`](Failure::INVALID_OUTPUT) if the output cannot be
    /// serialized to JSON; nothing is answered then.
    pub fn reply_update<I, O: Serialize>(&self, update: &Update<I>, reply: Result<O, Failure>) -> Result<(), Failure> {
        match reply {
            Ok(output) => {
                let json = serde_json::to_string(&output).map_err(|err| {
                    Failure::new(
                        Failure::INVALID_OUTPUT,
                        format!("the answer to update '{}' could not be serialized to JSON: {err}", update.id),
                    )
                })?;
                orchestration::reply_update(&update.id, Ok(&json));
            }
            Err(failure) => orchestration::reply_update(&update.id, Err(&failure.into())),
        }
        Ok(())
    }

    /// Raises the event `name` with `data` (serialized to JSON) on the instance `instance_id`.
    /// The host records it in this instance's history and sends it once the current episode
    /// commits, so it is sent once however often the orchestrator is replayed. An instance that
    /// does not exist or has finished drops it.
    ///
    /// ```no_run
    /// # use reprise_sdk::{Context, Failure};
    /// # fn f(ctx: &Context, parent: String) -> Result<(), Failure> {
    /// ctx.raise_event(&parent, "JobCompleted", &serde_json::json!({ "rows": 42 }))?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A failure of type [`INVALID_INPUT`](Failure::INVALID_INPUT) if `data` cannot be
    /// serialized to JSON; nothing is raised then.
    pub fn raise_event<T: Serialize + ?Sized>(&self, instance_id: &str, name: &str, data: &T) -> Result<(), Failure> {
        let json = serde_json::to_string(data).map_err(|err| {
            Failure::new(
                Failure::INVALID_INPUT,
                format!("the data of event '{name}' could not be serialized to JSON: {err}"),
            )
        })?;
        orchestration::raise_event(instance_id, name, &json);
        Ok(())
    }

    /// Calls `operation` on the entity `entity` with `input` (serialized to JSON) and returns its
    /// task at once: Durable Functions' `CallEntityAsync`. The task completes with the
    /// operation's output, or fails with a failure of type
    /// [`ENTITY_OPERATION_FAILED`](Failure::ENTITY_OPERATION_FAILED) whose first cause is the
    /// operation's own failure. Operations on one entity run one at a time, in the order they
    /// arrive; the entity is created by its first operation.
    ///
    /// ```no_run
    /// # use reprise_sdk::{Context, EntityId, Failure};
    /// # fn f(ctx: &Context) -> Result<i64, Failure> {
    /// let counter = EntityId::new("Counter", "myCounter");
    /// let value = ctx.call_entity::<i64, _>(&counter, "get", &()).wait()?;
    /// if value < 10 {
    ///     ctx.call_entity::<i64, _>(&counter, "add", &1).wait()?;
    /// }
    /// # Ok(value) }
    /// ```
    ///
    /// If `input` cannot be serialized, nothing is sent and the task fails with
    /// [`INVALID_INPUT`](Failure::INVALID_INPUT) when waited on.
    pub fn call_entity<O: DeserializeOwned, I: Serialize + ?Sized>(
        &self,
        entity: &EntityId,
        operation: &str,
        input: &I,
    ) -> Task<O> {
        let kind = TaskKind::Entity { entity: entity.to_string(), operation: operation.to_owned() };
        match entity_operation_input(entity, operation, input) {
            Ok(json) => {
                Task::scheduled(kind, orchestration::call_entity(&WireEntityId::from(entity), operation, &json))
            }
            Err(failure) => Task::unscheduled(kind, failure),
        }
    }

    /// Sends `operation` with `input` to the entity `entity`, one way (Durable Functions'
    /// `SignalEntity`): nothing waits for it, and its failure is only logged by the host. Sent
    /// once the current episode commits, once however often the orchestrator is replayed.
    ///
    /// # Errors
    ///
    /// [`INVALID_INPUT`](Failure::INVALID_INPUT) if `input` cannot be serialized to JSON;
    /// nothing is sent then.
    pub fn signal_entity<I: Serialize + ?Sized>(
        &self,
        entity: &EntityId,
        operation: &str,
        input: &I,
    ) -> Result<(), Failure> {
        let json = entity_operation_input(entity, operation, input)?;
        orchestration::signal_entity(&WireEntityId::from(entity), operation, &json);
        Ok(())
    }

    /// Enters a critical section over `entities` (Durable Functions' `LockAsync`): waits until
    /// this orchestration holds the lock of every one of them, and returns a guard that releases
    /// them when dropped (or with [`CriticalSection::unlock`]). While it holds them, other
    /// callers' operations on these entities wait, and this orchestration's calls to them run
    /// ahead of the queue: a read-then-write over several entities is atomic.
    ///
    /// ```no_run
    /// # use reprise_sdk::{Context, EntityId, Failure};
    /// # fn transfer(ctx: &Context, amount: i64) -> Result<bool, Failure> {
    /// let (from, to) = (EntityId::new("Account", "alice"), EntityId::new("Account", "bob"));
    /// let section = ctx.lock(&[from.clone(), to.clone()])?;
    /// let balance = ctx.call_entity::<i64, _>(&from, "balance", &()).wait()?;
    /// if balance < amount {
    ///     return Ok(false); // the guard releases the locks
    /// }
    /// ctx.call_entity::<i64, _>(&from, "withdraw", &amount).wait()?;
    /// ctx.call_entity::<i64, _>(&to, "deposit", &amount).wait()?;
    /// section.unlock();
    /// # Ok(true) }
    /// ```
    ///
    /// Locks are taken one entity at a time in sorted order, so critical sections never deadlock
    /// each other. Inside one, only the locked entities may be called (calling another fails the
    /// instance with a `LockViolation`), and critical sections do not nest; signals are sent as
    /// usual and run after the section ends. However the orchestration ends, its locks are
    /// released.
    ///
    /// # Errors
    ///
    /// A failure if the host does not grant the locks (it does not fail them today; the
    /// `Result` keeps room for lock timeouts).
    pub fn lock(&self, entities: &[EntityId]) -> Result<CriticalSection<'_>, Failure> {
        let ids: Vec<WireEntityId> = entities.iter().map(WireEntityId::from).collect();
        let names: Vec<String> = entities.iter().map(ToString::to_string).collect();
        let kind = TaskKind::Lock { entities: names.join(", ") };
        Task::<serde::de::IgnoredAny>::scheduled(kind, orchestration::lock_entities(&ids)).wait()?;
        Ok(CriticalSection { _ctx: self, released: false })
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
    /// The tasks must have one output type; to race tasks of different types (an activity
    /// against a timer), use [`Context::first`].
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
            None => (0, Err(unawaited_completion(completion.task, &ids))),
        }
    }

    /// Waits until at least one of `tasks` has completed (one `wait-any` call to the host), and
    /// returns its index in `tasks`: a race between tasks of any output types, such as an
    /// activity and a timer, or an event and a timer. On a tie, the earliest in `tasks` wins.
    ///
    /// `first` only says who won: get the winner's outcome with its [`Task::wait`], which then
    /// returns at once. The other tasks stay usable and can still be waited on; a timer that
    /// lost is cancelled when the orchestrator finishes, and an activity that lost runs to its
    /// end, its result unused. A task that was never scheduled (see [`Task`]) counts as already
    /// completed, so the first such task wins at once (its `wait` gives its failure).
    ///
    /// The timeout pattern, `any(activity, timer)`:
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use reprise_sdk::{Context, Failure};
    /// # fn f(ctx: &Context) -> Result<String, Failure> {
    /// let work = ctx.call_activity::<String, _>("slow_work", &1_000);
    /// let timeout = ctx.timer(Duration::from_secs(30));
    /// match ctx.first(&[&work, &timeout]) {
    ///     0 => work.wait(),
    ///     _ => Ok("timed out".into()),
    /// }
    /// # }
    /// ```
    ///
    /// Should the host break its contract by delivering the completion of a task that was not
    /// awaited, `first` logs it as an error and returns 0: the first task's `wait` then waits
    /// for that task, so the orchestrator still sees true outcomes.
    ///
    /// # Panics
    ///
    /// If `tasks` is empty (there would be nothing to wait for).
    pub fn first(&self, tasks: &[&dyn Awaitable]) -> usize {
        assert!(!tasks.is_empty(), "Context::first needs at least one task to wait for");
        if let Some(index) = tasks.iter().position(|task| task.id().is_none()) {
            return index;
        }
        let ids: Vec<u64> = tasks.iter().filter_map(|task| task.id()).collect();
        let completion = orchestration::wait_any(&ids);
        ids.iter().position(|&id| id == completion.task).unwrap_or_else(|| {
            self.log_error(unawaited_completion(completion.task, &ids).to_string());
            0
        })
    }
}

/// `input` as JSON, or the failure of the activity call that cannot be scheduled.
fn activity_input<I: Serialize + ?Sized>(name: &str, input: &I) -> Result<String, Failure> {
    serde_json::to_string(input).map_err(|err| {
        Failure::new(
            Failure::INVALID_INPUT,
            format!("the input of activity '{name}' could not be serialized to JSON: {err}"),
        )
    })
}

/// The failure of a host that delivered the completion of a task nobody waited for.
fn unawaited_completion(task: u64, awaited: &[u64]) -> Failure {
    Failure::new(
        Failure::PROTOCOL_ERROR,
        format!("the host delivered the completion of task {task}, which was not awaited (awaited: {awaited:?})"),
    )
}

#[cfg(test)]
mod tests {
    //! What the context decides without a host: the tasks it refuses to schedule. (Every test
    //! here would trap on a call to the host, which native code does not have.)

    use std::collections::BTreeMap;

    use super::*;

    /// A value serde_json cannot serialize (its keys are not strings).
    fn unserializable() -> BTreeMap<(u8, u8), u8> {
        [((1, 2), 3)].into()
    }

    #[test]
    fn an_activity_with_an_unserializable_input_is_not_scheduled() {
        let ctx = Context::new();
        let policy = RetryPolicy::new(3, Duration::from_secs(1));
        for task in [
            ctx.call_activity::<u32, _>("count", &unserializable()),
            ctx.call_activity_with_retry::<u32, _>("count", &unserializable(), &policy),
            ctx.call_activity_with_options::<u32, _>("count", &unserializable(), &ActivityOptions::new()),
        ] {
            assert_eq!(task.id(), None);
            assert_eq!(task.kind(), &TaskKind::Activity { name: "count".into() });
            let failure = task.wait().unwrap_err();
            assert_eq!(failure.error_type, Failure::INVALID_INPUT);
            assert!(failure.message.starts_with("the input of activity 'count'"), "{failure}");
        }
    }

    #[test]
    fn an_activity_with_invalid_options_is_not_scheduled() {
        let ctx = Context::new();
        let zero_attempts = RetryPolicy::new(0, Duration::from_secs(1));
        let shrinking = ActivityOptions::new().retry(RetryPolicy::new(3, Duration::ZERO).backoff_coefficient(0.5));
        for task in [
            ctx.call_activity_with_retry::<u32, _>("count", &1, &zero_attempts),
            ctx.call_activity_with_options::<u32, _>("count", &1, &shrinking),
        ] {
            assert_eq!(task.id(), None);
            let failure = task.wait().unwrap_err();
            assert_eq!(failure.error_type, Failure::INVALID_OPTIONS);
            assert!(failure.message.starts_with("the options of activity 'count' are invalid: "), "{failure}");
        }
    }

    #[test]
    fn first_picks_an_unscheduled_task_without_the_host() {
        let ctx = Context::new();
        let broken = ctx.call_activity::<u32, _>("count", &unserializable());
        let timer = Task::<u64>::scheduled(TaskKind::Timer { fire_at: 1 }, 0);
        let event = Task::<String>::scheduled(TaskKind::Event { name: "Go".into() }, 1);
        assert_eq!(ctx.first(&[&timer, &event, &broken]), 2);
        assert_eq!(ctx.first(&[&broken, &timer]), 0);
    }

    #[test]
    #[should_panic(expected = "at least one task")]
    fn first_needs_a_task() {
        Context::new().first(&[]);
    }

    #[test]
    fn an_unserializable_event_is_not_raised() {
        let failure = Context::new().raise_event("other", "Go", &unserializable()).unwrap_err();
        assert_eq!(failure.error_type, Failure::INVALID_INPUT);
        assert!(failure.message.starts_with("the data of event 'Go' could not be serialized"), "{failure}");
    }
}

/// The locks of a critical section ([`Context::lock`]), released when this guard is dropped or
/// by [`CriticalSection::unlock`].
#[derive(Debug)]
#[must_use = "the locks are released as soon as the guard is dropped"]
pub struct CriticalSection<'a> {
    _ctx: &'a Context,
    released: bool,
}

impl CriticalSection<'_> {
    /// Releases the locks now.
    pub fn unlock(mut self) {
        self.release();
    }

    fn release(&mut self) {
        if !self.released {
            self.released = true;
            orchestration::unlock_entities();
        }
    }
}

impl Drop for CriticalSection<'_> {
    fn drop(&mut self) {
        self.release();
    }
}
