//! Unit tests of orchestrations, in plain `cargo test` on the host target: no wasm build, no
//! `reprise` binary, milliseconds per test.
//!
//! A [`Harness`] is the world of one test: the activities the orchestrator calls (the real ones
//! of a component, or closures, or fixed outcomes per attempt), its entities (with their state in
//! memory), its sub-orchestrations, and a virtual clock. [`Harness::start`] runs an orchestrator
//! and returns a [`Run`], which the test drives (raise an event, advance the clock, terminate)
//! and inspects between steps (status, custom status, output or failure, the commands issued,
//! the history, the activity attempts).
//!
//! The harness is the host, minus wasm and SQLite: the orchestrator's calls are answered by the
//! host's own replay engine, and every decision after an episode (which tasks and messages its
//! events become, when a failed activity is tried again and when, how a child's end reaches its
//! parent, which entity operations run under a lock) is made by the host's own planner, from
//! `reprise-core`. So a retry policy waits exactly as long as on the host, a failure reaches the
//! orchestrator wrapped as on the host, and a history the harness records is one the host would
//! replay.
//!
//! ```
//! use reprise_sdk::testing::{Harness, Status};
//! use reprise_sdk::{ActivityContext, Context, Failure};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Serialize, Deserialize, Clone)]
//! # struct Transfer { from: String, to: String, amount: u64 }
//!
//! /// Seed 002's compensation: debit, credit, and refund the debit if the credit fails.
//! fn transfer(ctx: &Context, t: Transfer) -> Result<String, Failure> {
//!     ctx.call_activity::<(), _>("debit", &t).wait()?;
//!     match ctx.call_activity::<(), _>("credit", &t).wait() {
//!         Ok(()) => Ok("transferred".into()),
//!         Err(failure) => {
//!             ctx.call_activity::<(), _>("refund", &t).wait()?;
//!             Ok(format!("refunded: {}", failure.message))
//!         }
//!     }
//! }
//!
//! let run = Harness::new()
//!     .activity("debit", |_: &ActivityContext, _: Transfer| Ok(()))
//!     .activity("credit", |_: &ActivityContext, t: Transfer| {
//!         Err::<(), _>(Failure::new("AccountFrozen", format!("{} is frozen", t.to)))
//!     })
//!     .activity("refund", |_: &ActivityContext, _: Transfer| Ok(()))
//!     .start(transfer, &Transfer { from: "alice".into(), to: "bob".into(), amount: 25 });
//!
//! assert_eq!(run.status(), Status::Completed);
//! assert_eq!(run.output::<String>().unwrap(), "refunded: activity 'credit' failed: bob is frozen");
//! let called: Vec<&str> = run.activity_calls().iter().map(|c| c.name.as_str()).collect();
//! assert_eq!(called, ["debit", "credit", "refund"]);
//! ```
//!
//! # Time
//!
//! Activities run as soon as they are scheduled, in zero virtual time, and the orchestrator gets
//! their results at once; the clock moves only when the test says: [`Run::advance`] fires every
//! timer and every retry due on the way, each at its own time, and [`Run::run_to_completion`]
//! skips ahead until the orchestration finishes. A 30-day timer costs nothing. The clock starts
//! at [`Harness::start_time`] (2023-11-14T22:13:20Z unless set).
//!
//! # A component's real code
//!
//! [`Harness::component`] with [`component!`](crate::component) adds everything the crate's
//! [`export!`](crate::export) exports: its activities (so a test can run the real ones), its
//! entity types (so entity calls reach real state) and its orchestrators (for
//! sub-orchestrations). A closure given with [`Harness::activity`] replaces the real activity
//! of that name.
//!
//! # Histories from production
//!
//! [`replay`] checks the current code against a history the host recorded (`reprise history ID
//! --json`, or a repro bundle), and fails with the host's own nondeterminism error, naming the
//! position, where the code no longer takes the recorded path. [`Recorded`] reads such a history
//! to run the same scenario in the harness ([`Harness::like`]) and check that it makes the same
//! decisions ([`Run::assert_same_commands`]).
//!
//! # Every order
//!
//! [`Harness::explore`] runs an orchestration under every order in which its completions may
//! arrive (activities in any order, a timer before or after a slow activity, an event at any
//! point), or a seeded sample of them when there are too many, and reports the orders under
//! which the test's assertions fail. See [`Explorer`].
//!
//! # What differs from the host
//!
//! - The code runs natively, not in the sandbox: an orchestrator's `SystemTime::now()` or
//!   random numbers are not virtual here (use [`Context::current_time`](crate::Context::current_time)
//!   and [`Context::new_guid`](crate::Context::new_guid), which are), and nothing stops it from
//!   reading files. The determinism of such code is what the host checks, not the harness.
//! - An activity's timeout (`ActivityOptions::timeout`) cannot interrupt native code: to test
//!   a timeout, give an outcome of type `TimedOut` with [`Harness::activity_results`].
//! - A panic in an activity fails the test (it is taken for the test's own assertion), where
//!   the host would record a trapped attempt; a panic in an orchestrator fails the instance with
//!   `GuestTrapped`, as a trap does on the host.
//! - Deployment defaults (a default retry policy from `reprise.toml`) and sandbox limits do not
//!   apply. An orchestrator that runs for 10 s ([`Harness::episode_limit`]) without calling the
//!   host (an endless loop) fails the test, where the host would stop it at its CPU limit.

mod convert;
mod explore;
mod guest;
mod replay;
mod run;
pub(crate) mod seam;
mod world;

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reprise_core::Payload;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use explore::{Exploration, Explorer, FailedOrder};
pub use guest::LogLine;
pub use replay::{Recorded, Replayed, replay};
pub use reprise_core::{Event, HistoryEvent};
pub use run::{Run, Status};
pub use world::ActivityCall;

use guest::OrchestratorFn;
use world::{ActivityFn, Functions, World};

use crate::__private::{EntityEntry, Entry};
use crate::{ActivityContext, Context, EntityId, Failure};

/// The default start of the virtual clock: 2023-11-14T22:13:20Z (the time the golden histories
/// of this project were written at).
pub const DEFAULT_START_MS: u64 = 1_700_000_000_000;

/// Everything a component exports, as [`component!`](crate::component) gives it: what
/// [`Harness::component`] adds.
#[derive(Clone, Copy)]
pub struct Component {
    orchestrators: &'static [Entry],
    activities: &'static [Entry],
    entities: &'static [EntityEntry],
}

impl Component {
    #[doc(hidden)]
    pub const fn new(
        orchestrators: &'static [Entry],
        activities: &'static [Entry],
        entities: &'static [EntityEntry],
    ) -> Self {
        Component { orchestrators, activities, entities }
    }
}

/// The world of one test: its activities, orchestrators, entities and clock. See the
/// [module docs](self).
#[derive(Clone)]
pub struct Harness {
    functions: Functions,
    start_ms: u64,
    instance_id: String,
    entity_states: Vec<(reprise_core::EntityId, Option<Payload>)>,
    episode_limit: Duration,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    /// A world with no activities, no entities and the clock at [`DEFAULT_START_MS`].
    pub fn new() -> Self {
        Harness {
            functions: Functions::default(),
            start_ms: DEFAULT_START_MS,
            instance_id: "test-instance".to_string(),
            entity_states: Vec::new(),
            episode_limit: Duration::from_secs(10),
        }
    }

    /// Adds a component's orchestrators, activities and entity types (see
    /// [`component!`](crate::component)). A function given by name with
    /// [`Harness::activity`] or [`Harness::orchestrator`], before or after, takes precedence.
    pub fn component(mut self, component: Component) -> Self {
        for entry in component.orchestrators {
            let run = entry.run;
            self.functions.orchestrators.entry(entry.name.to_string()).or_insert_with(|| Arc::new(run));
        }
        for entry in component.activities {
            let run = entry.run;
            self.functions.activities.entry(entry.name.to_string()).or_insert_with(|| Rc::new(run));
        }
        self.functions.entities.push(component.entities);
        self
    }

    /// The code of the activity `name` in this test: any `Fn(&ActivityContext, I) -> Result<O,
    /// Failure>`, a closure or the real activity function. It runs once per attempt
    /// ([`ActivityContext::attempt`] tells which), and its failures go through the call's retry
    /// policy as on the host.
    pub fn activity<I, O, F>(mut self, name: &str, function: F) -> Self
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(&ActivityContext, I) -> Result<O, Failure> + 'static,
    {
        let owned = name.to_string();
        let run: ActivityFn = Rc::new(move |input: &str| crate::__private::run_activity(&owned, &function, input));
        self.functions.activities.insert(name.to_string(), run);
        self
    }

    /// Fixed outcomes of the activity `name`, one per attempt of each call: a call's first
    /// attempt gets the first, its retries the next ones, the last repeating (every call starts
    /// again from the first). The way to test retries: `[Err(..), Err(..), Ok(..)]` succeeds on
    /// the third attempt.
    ///
    /// # Panics
    ///
    /// If `outcomes` is empty, or an output does not serialize to JSON.
    pub fn activity_results<O: Serialize>(
        mut self,
        name: &str,
        outcomes: impl IntoIterator<Item = Result<O, Failure>>,
    ) -> Self {
        let outcomes: Vec<Result<String, Failure>> = outcomes
            .into_iter()
            .map(|outcome| outcome.map(|output| serde_json::to_string(&output).expect("the output serializes to JSON")))
            .collect();
        assert!(!outcomes.is_empty(), "reprise_sdk::testing: activity_results('{name}') needs at least one outcome");
        let run: ActivityFn = Rc::new(move |_: &str| {
            let attempt = ActivityContext::new().attempt() as usize;
            outcomes[attempt.saturating_sub(1).min(outcomes.len() - 1)].clone()
        });
        self.functions.activities.insert(name.to_string(), run);
        self
    }

    /// The orchestrator `name`, for the sub-orchestrations (and the orchestrations entities
    /// start) of this test.
    pub fn orchestrator<I, O, F>(mut self, name: &str, function: F) -> Self
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(&Context, I) -> Result<O, Failure> + Send + Sync + 'static,
    {
        self.functions.orchestrators.insert(name.to_string(), orchestrator_fn(name, function));
        self
    }

    /// The state `entity` starts the test with.
    ///
    /// # Panics
    ///
    /// If `state` does not serialize to JSON, or `entity` is not a valid entity id.
    pub fn entity_state<T: Serialize + ?Sized>(mut self, entity: &EntityId, state: &T) -> Self {
        let state = serde_json::to_string(state).expect("the entity's state serializes to JSON");
        let id = reprise_core::EntityId::new(entity.name.clone(), entity.key.clone())
            .unwrap_or_else(|error| panic!("reprise_sdk::testing: {error}"));
        self.entity_states.push((id, Some(Payload::stored(state))));
        self
    }

    /// Where the virtual clock starts.
    pub fn start_time(mut self, time: SystemTime) -> Self {
        self.start_ms = time.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self
    }

    /// The instance id and the clock of a recorded history, to run its scenario again: see
    /// [`Run::assert_same_commands`].
    pub fn like(mut self, recorded: &Recorded) -> Self {
        if let Some(id) = recorded.instance_id() {
            self.instance_id = id.to_string();
        }
        if let Some(start) = recorded.start_time() {
            self.start_ms = start;
        }
        self
    }

    /// How long an orchestrator may run between two calls to the host before the test fails
    /// (10 s by default): the host stops such code at its CPU limit, and the harness, which
    /// cannot stop a thread, fails the test rather than hang it.
    pub fn episode_limit(mut self, limit: Duration) -> Self {
        self.episode_limit = limit;
        self
    }

    /// The id of the instance under test (`test-instance` by default).
    pub fn instance_id(mut self, id: &str) -> Self {
        self.instance_id = id.to_string();
        self
    }

    /// Starts `orchestrator` with `input` and runs it until it is idle: finished, or waiting
    /// for a timer, a retry or an event. Its name in the history is the function's own.
    ///
    /// # Panics
    ///
    /// If `input` does not serialize to JSON.
    pub fn start<I, O, F, T>(&self, orchestrator: F, input: &T) -> Run
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(&Context, I) -> Result<O, Failure> + Send + Sync + 'static,
        T: Serialize + ?Sized,
    {
        let name = function_name::<F>();
        let function = orchestrator_fn(&name, orchestrator);
        self.start_with(&name, function, input)
    }

    /// Starts the orchestrator registered (or exported by a component) as `name`.
    ///
    /// # Panics
    ///
    /// If there is none of that name, or `input` does not serialize to JSON.
    pub fn start_named<T: Serialize + ?Sized>(&self, name: &str, input: &T) -> Run {
        let function = self.functions.orchestrators.get(name).cloned().unwrap_or_else(|| {
            let known: Vec<&str> = self.functions.orchestrators.keys().map(String::as_str).collect();
            panic!("reprise_sdk::testing: no orchestrator named '{name}' is registered (registered: {known:?})")
        });
        self.start_with(name, function, input)
    }

    /// Runs the scenario of a recorded history again: its orchestrator (registered by name, or
    /// exported by a component) with its input, instance id and start time, the events it
    /// received raised at the times it received them, and, if the recorded execution ended,
    /// run to its end. Then [`Run::assert_same_commands`] checks that the harness decided what
    /// the host did.
    ///
    /// # Panics
    ///
    /// If the history has no start, or its orchestrator is not registered.
    pub fn rerun(&self, recorded: &Recorded) -> Run {
        let (name, input) =
            recorded.started().expect("reprise_sdk::testing: the history has no ExecutionStarted event");
        let input = serde_json::value::RawValue::from_string(input.to_string()).expect("a recorded input is JSON");
        let mut run = self.clone().like(recorded).start_named(name, &input);
        let mut time = self.start_ms;
        for event in recorded.events() {
            match &event.event {
                reprise_core::Event::EpisodeStarted { time: at } => time = *at,
                reprise_core::Event::EventRaised { name, data } => {
                    run.world.advance_to(time);
                    let data =
                        serde_json::value::RawValue::from_string(data.to_string()).expect("recorded data is JSON");
                    run.raise_event(name, &data);
                }
                _ => {}
            }
        }
        let ended = recorded.events().iter().any(|e| {
            matches!(
                e.event,
                reprise_core::Event::ExecutionCompleted { .. }
                    | reprise_core::Event::ExecutionFailed { .. }
                    | reprise_core::Event::ExecutionContinuedAsNew { .. }
            )
        });
        if ended {
            run.run_to_completion();
        }
        run
    }

    fn start_with<T: Serialize + ?Sized>(&self, name: &str, function: OrchestratorFn, input: &T) -> Run {
        let input = serde_json::to_string(input).expect("the input serializes to JSON");
        let mut world = self.world_with(name, function);
        let root = self.root_id();
        world.create_root(&root, name, &input, false);
        world.settle();
        Run { world, root }
    }

    /// Sets up an exploration of `orchestrator` with `input` under every order of its
    /// completions: see [`Explorer`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use reprise_sdk::testing::Harness;
    /// use reprise_sdk::{ActivityContext, Context, Failure};
    ///
    /// /// A race between an activity and a 10-second timeout.
    /// fn fetch_or_give_up(ctx: &Context, _: ()) -> Result<String, Failure> {
    ///     let work = ctx.call_activity::<String, _>("fetch", &());
    ///     let timeout = ctx.timer(Duration::from_secs(10));
    ///     Ok(if ctx.first(&[&work, &timeout]) == 0 { work.wait()? } else { "gave up".into() })
    /// }
    ///
    /// let harness = Harness::new().activity("fetch", |_: &ActivityContext, _: ()| Ok("data".to_string()));
    /// let found = harness.explore(fetch_or_give_up, &()).check(|run| {
    ///     let output: String = run.output().unwrap();
    ///     assert!(output == "data" || output == "gave up", "{output}");
    /// });
    /// found.assert_all_pass();
    /// assert!(found.exhaustive);
    /// // The activity ends first; or the clock reaches the timeout first, and then the activity
    /// // ends or the timer fires.
    /// assert_eq!(found.runs, 3);
    /// ```
    ///
    /// # Panics
    ///
    /// If `input` does not serialize to JSON.
    pub fn explore<I, O, F, T>(&self, orchestrator: F, input: &T) -> Explorer<'_>
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(&Context, I) -> Result<O, Failure> + Send + Sync + 'static,
        T: Serialize + ?Sized,
    {
        let name = function_name::<F>();
        let function = orchestrator_fn(&name, orchestrator);
        let input = serde_json::to_string(input).expect("the input serializes to JSON");
        Explorer::new(self, name, function, input)
    }

    pub(crate) fn root_id(&self) -> String {
        self.instance_id.clone()
    }

    /// A fresh world with this harness's code and entity states, where `name` runs `function`.
    pub(crate) fn world_with(&self, name: &str, function: OrchestratorFn) -> World {
        let mut functions = self.functions.clone();
        functions.orchestrators.insert(name.to_string(), function);
        let mut world = World::new(self.start_ms, functions);
        world.episode_limit = self.episode_limit;
        for (entity, state) in &self.entity_states {
            world.set_entity_state(entity, state.clone());
        }
        world
    }
}

/// An orchestrator function as the harness runs it, from JSON to JSON.
pub(crate) fn orchestrator_fn<I, O, F>(name: &str, function: F) -> OrchestratorFn
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(&Context, I) -> Result<O, Failure> + Send + Sync + 'static,
{
    let name = name.to_string();
    Arc::new(move |input: &str| crate::__private::run_orchestrator(&name, &function, input))
}

/// The name a function item goes by (`transfer_funds` for `my_crate::transfer_funds`); a
/// closure is `orchestrator`.
fn function_name<F>() -> String {
    let full = std::any::type_name::<F>();
    let last = full.rsplit("::").next().unwrap_or(full);
    if last.contains('{') || last.is_empty() { "orchestrator".to_string() } else { last.to_string() }
}

#[cfg(test)]
mod tests;
