//! Write Reprise orchestrators, activities and entities in Rust.
//!
//! Reprise is a durable orchestration host: an *orchestrator* is a function that schedules
//! *activities* (the side-effecting steps) and decides what to do with their results; the host
//! records every decision in an event history, so that after a crash or a restart it replays the
//! orchestrator from that history and carries on where it stopped. Both kinds of function live in
//! a WebAssembly component built from a Rust `cdylib` crate with this SDK, for the
//! `reprise:durable/app-validated` world (`app` with update validators).
//!
//! # A complete component
//!
//! ```no_run
//! use reprise_sdk::{ActivityContext, Context, Failure};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Payment {
//!     account: String,
//!     amount: u64,
//! }
//!
//! #[derive(Serialize, Deserialize)]
//! struct Outcome {
//!     status: String,
//! }
//!
//! /// The orchestrator: charges an account, and tells the customer how it went.
//! fn pay(ctx: &Context, payment: Payment) -> Result<Outcome, Failure> {
//!     ctx.set_custom_status("Charging")?;
//!     // Schedule the activity, then wait for its result.
//!     let charged = ctx.call_activity::<u64, _>("charge", &payment).wait();
//!     let status = match charged {
//!         Ok(balance) => format!("charged, balance {balance}"),
//!         // The activity's own failure is a cause of the failure delivered here.
//!         Err(failure) if failure.is("InsufficientFunds") => "declined".to_owned(),
//!         Err(failure) => return Err(failure),
//!     };
//!     ctx.call_activity::<(), _>("notify", &status).wait()?;
//!     Ok(Outcome { status })
//! }
//!
//! /// An activity: where the side effects go.
//! fn charge(_ctx: &ActivityContext, payment: Payment) -> Result<u64, Failure> {
//!     let balance: u64 = 100;
//!     balance.checked_sub(payment.amount).ok_or_else(|| {
//!         Failure::new("InsufficientFunds", format!("{} has {balance}", payment.account))
//!     })
//! }
//!
//! fn notify(_ctx: &ActivityContext, status: String) -> Result<(), Failure> {
//!     println!("payment {status}");
//!     Ok(())
//! }
//!
//! reprise_sdk::export! {
//!     orchestrators: [pay],
//!     activities: [charge, notify as "notify"],
//! }
//! # fn main() {}
//! ```
//!
//! The crate's `Cargo.toml` declares `crate-type = ["cdylib"]` and depends on `reprise-sdk` and
//! `serde`; build the component with
//!
//! ```text
//! cargo build --target wasm32-wasip2 --release
//! ```
//!
//! which writes `target/wasm32-wasip2/release/<crate>.wasm`, a component that any Reprise host
//! loads (no adapter or extra tool needed; `rustup target add wasm32-wasip2` once).
//!
//! # Functions and their JSON
//!
//! [`export!`] registers the functions by name. An orchestrator is a
//! `fn(&Context, I) -> Result<O, Failure>` and an activity a
//! `fn(&ActivityContext, I) -> Result<O, Failure>`, where the input `I` is any
//! `serde::de::DeserializeOwned` type and the output `O` any `serde::Serialize` type: every
//! payload crosses the host as JSON text, so components written in other languages can call
//! them. An input that does not deserialize fails the call with
//! [`Failure::INVALID_INPUT`]; an activity output that does not fit the type the orchestrator
//! asked for fails its task with [`Failure::INVALID_OUTPUT`].
//!
//! # Failures
//!
//! Functions fail by returning a [`Failure`]: a machine-matchable `error_type`, a message, and a
//! chain of causes. When an activity fails, the orchestrator receives a failure of type
//! `ActivityFailed` (message `activity 'NAME' failed: ...`) whose first cause is the activity's
//! own failure, so match with [`Failure::is`], which searches the whole chain:
//!
//! ```no_run
//! # use reprise_sdk::{Context, Failure};
//! # fn transfer(ctx: &Context, to: String) -> Result<String, Failure> {
//! match ctx.call_activity::<(), _>("credit_account", &to).wait() {
//!     Ok(()) => Ok("transferred".into()),
//!     Err(failure) if failure.is("AccountFrozen") => Ok("refunded".into()),
//!     Err(failure) => Err(failure), // the instance fails, with this failure
//! }
//! # }
//! ```
//!
//! A panic is not a failure: it traps the component, and the host records the trap.
//!
//! # Retries and timeouts
//!
//! The host retries a failed activity when it is scheduled with a [`RetryPolicy`] (Durable
//! Functions' `RetryOptions`), waiting durably between attempts; the orchestrator sees only the
//! final outcome: the output of the first attempt that succeeded, or the `ActivityFailed` failure
//! of the last attempt. [`ActivityOptions`] add a per-attempt timeout: an attempt that runs longer
//! is interrupted and fails with [`Failure::TIMED_OUT`], which the policy retries like any other
//! failure. An activity can tell the attempts apart with [`ActivityContext::attempt`].
//!
//! ```no_run
//! # use std::time::Duration;
//! # use reprise_sdk::{ActivityOptions, Context, Failure, RetryPolicy};
//! # fn f(ctx: &Context) -> Result<String, Failure> {
//! // Up to 3 attempts, 5 s apart (the seed's `RetryOptions(5 s, max 3)`).
//! let policy = RetryPolicy::new(3, Duration::from_secs(5));
//! let greeting = ctx.call_activity_with_retry::<String, _>("flaky_activity", "demo", &policy).wait()?;
//!
//! // Exponential backoff (1 s, 2 s, 4 s... capped at 10 s), never retrying a `Fatal` failure,
//! // and at most 30 s per attempt.
//! let options = ActivityOptions::new().timeout(Duration::from_secs(30)).retry(
//!     RetryPolicy::new(6, Duration::from_secs(1))
//!         .backoff_coefficient(2.0)
//!         .max_retry_interval(Duration::from_secs(10))
//!         .never_retry("Fatal"),
//! );
//! let report = ctx.call_activity_with_options::<String, _>("build_report", &greeting, &options).wait()?;
//! # Ok(report) }
//! ```
//!
//! # Timers and external events
//!
//! [`Context::timer`] (and [`Context::timer_at`]) start a durable timer: the instance sleeps in
//! the host's store, across restarts, and the orchestrator runs again when it fires.
//! [`Context::wait_for_event`] waits for an event raised on the instance by a client, or by
//! another orchestrator with [`Context::raise_event`]; the task completes with the event's data.
//! Both return [`Task`]s like activity calls, so they can be waited on, or raced.
//!
//! # Updates
//!
//! An update is a client's request that expects an answer (`reprise update ID NAME`, or `POST
//! .../instances/{id}/update/{name}`): [`Context::wait_for_update`] waits for one, and
//! [`Context::reply_update`] answers it; the caller waits for the answer. Both are recorded in
//! history, so the instance replays them. A validator (the `validators` section of [`export!`])
//! may refuse an update before it is recorded:
//!
//! ```no_run
//! use reprise_sdk::{Context, Failure, UpdateCheck};
//!
//! fn approval(ctx: &Context, _: ()) -> Result<String, Failure> {
//!     ctx.set_custom_status("waiting for approval")?;
//!     let update = ctx.wait_for_update::<String>("approve").wait()?;
//!     ctx.reply_update(&update, Ok(format!("approved by {}", update.input)))?;
//!     Ok(update.input)
//! }
//!
//! fn known_approver(_: &UpdateCheck, by: String) -> Result<(), Failure> {
//!     if by.is_empty() { Err(Failure::new("NoApprover", "say who approves")) } else { Ok(()) }
//! }
//!
//! reprise_sdk::export! { orchestrators: [approval], validators: [known_approver as "approve"] }
//! # fn main() {}
//! ```
//!
//! # Entities
//!
//! An entity is a small durable object addressed by a type name and a key ([`EntityId`]): the
//! host keeps its state, a value of a Rust type, and runs its operations, methods of that type,
//! one at a time and in the order they arrive. Orchestrators call them with
//! [`Context::call_entity`] (a task, like an activity call: it works in `all`, `any` and races)
//! or signal them one way with [`Context::signal_entity`]; clients signal them from the command
//! line or over HTTP.
//!
//! ```no_run
//! use reprise_sdk::{Context, EntityContext, EntityId, Failure};
//! use serde::{Deserialize, Serialize};
//!
//! /// The state; `Default` is the state of a new entity.
//! #[derive(Default, Serialize, Deserialize)]
//! struct Counter {
//!     value: i64,
//! }
//!
//! impl Counter {
//!     /// `&mut self`: the operation may change the state, committed if it succeeds.
//!     fn add(&mut self, _ctx: &EntityContext, amount: i64) -> Result<i64, Failure> {
//!         if amount < 0 {
//!             // The state is left as it was, and the caller gets the failure.
//!             return Err(Failure::new("InvalidOperation", "this is an entity exception"));
//!         }
//!         self.value += amount;
//!         Ok(self.value)
//!     }
//!
//!     /// `&self`: the operation only reads.
//!     fn get(&self, _ctx: &EntityContext, _: ()) -> Result<i64, Failure> {
//!         Ok(self.value)
//!     }
//! }
//!
//! fn count(ctx: &Context, key: String) -> Result<i64, Failure> {
//!     let counter = EntityId::new("Counter", key);
//!     match ctx.call_entity::<i64, _>(&counter, "add", &-1).wait() {
//!         Err(failure) if failure.is("InvalidOperation") => {} // an EntityOperationFailed
//!         other => { other?; }
//!     }
//!     ctx.signal_entity(&counter, "add", &1)?;
//!     ctx.call_entity::<i64, _>(&counter, "get", &()).wait()
//! }
//!
//! reprise_sdk::export! {
//!     orchestrators: [count],
//!     entities: [Counter { add, get }],
//! }
//! # fn main() {}
//! ```
//!
//! Entities run in the same deterministic sandbox as orchestrators, and each operation runs on a
//! fresh instance of the component: keep everything in the state, nothing in globals. An
//! operation's signals ([`EntityContext::signal_entity`]) and started orchestrations
//! ([`EntityContext::start_orchestration`]) are sent only if it succeeds. Every entity type has
//! a built-in `delete` operation; [`EntityContext::delete_state`] deletes from within another.
//!
//! # HTTP from activities
//!
//! [`http`] is a small blocking client over `wasi:http`, for activities: the host sends a request
//! only if one of the activity's grants allows it, and traps an orchestrator or an entity that
//! tries (they run without I/O).
//!
//! ```no_run
//! # use reprise_sdk::{ActivityContext, Failure, http};
//! fn status_of(_ctx: &ActivityContext, url: String) -> Result<u16, Failure> {
//!     // A denied request, or a failed exchange, fails the activity with `HttpError`.
//!     Ok(http::get(&url)?.status().as_u16())
//! }
//! ```
//!
//! # Determinism
//!
//! The host replays an orchestrator from its history many times, and each replay must take the
//! same decisions as the first run. The host makes that easy:
//!
//! - Time, randomness and hashing are virtual in an orchestrator. `SystemTime::now()` and
//!   [`Context::current_time`] return the logical time of the current episode, `Instant::now()`
//!   a virtual monotonic clock, and the random sources (the `rand` crate, `getrandom`, the seeds of
//!   `HashMap`) are seeded per instance: an orchestrator may use them all freely, and gets the same
//!   values on every replay.
//! - Because time is logical, it stands still within an episode: never loop on the clock waiting
//!   for time to pass (the loop would never end); wait on a durable [`Context::timer`] instead.
//! - An orchestrator has no files, no environment and no network: every input from the outside
//!   world, and every side effect, goes through an activity.
//! - Tasks are numbered in the order they are scheduled, so schedule them in an order that
//!   depends only on the input and on earlier results. Changing the order of the calls in the code
//!   of a running orchestrator breaks its replay (the host detects it).
//! - Activities run once per attempt (at least once overall) and may do anything their
//!   configuration allows; use [`ActivityContext::idempotency_key`] to make their side effects
//!   idempotent.
//!
//! # Waiting for several tasks
//!
//! Schedule all the tasks first, then wait: [`Context::all`] (fan-in, every outcome),
//! [`Context::try_all`] (every output, or the first failure) and [`Context::any`] (the first to
//! complete) each make one call to the host. They take tasks of one output type;
//! [`Context::first`] races tasks of any types (each a `&dyn` [`Awaitable`]) and returns the index
//! of the winner, whose [`Task::wait`] then returns at once. The timeout pattern
//! `any(activity, timer)`:
//!
//! ```no_run
//! # use std::time::Duration;
//! # use reprise_sdk::{Context, Failure};
//! # fn f(ctx: &Context) -> Result<String, Failure> {
//! let work = ctx.call_activity::<String, _>("slow_work", &5_000);
//! let timeout = ctx.timer(Duration::from_secs(2));
//! if ctx.first(&[&work, &timeout]) == 0 { work.wait() } else { Ok("timed out".into()) }
//! # }
//! ```
//!
//! and a fan-out:
//!
//! ```no_run
//! # use reprise_sdk::{Context, Failure};
//! # fn fan_out(ctx: &Context, n: u32) -> Result<u64, Failure> {
//! let tasks: Vec<_> = (0..n)
//!     .map(|i| ctx.call_activity::<u64, _>("process_item", &i))
//!     .collect();
//! let outputs = ctx.try_all(tasks)?;
//! Ok(outputs.iter().sum())
//! # }
//! ```

mod activity;
mod context;
mod entity;
mod export;
mod failure;
mod host;
pub mod http;
mod options;
mod task;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod update;

pub use activity::ActivityContext;
pub use context::{Context, CriticalSection, Level};
pub use entity::{EntityContext, EntityId, Operation};
pub use failure::{Failure, FailureCause};
pub use options::{ActivityOptions, RetryPolicy, SubOrchestrationOptions};
pub use task::{Awaitable, Task, TaskKind};
pub use update::{Update, UpdateCheck};

/// Support code for [`export!`]: not a public API.
#[doc(hidden)]
pub mod __private {
    /// The bindings wit-bindgen generates for the `reprise:durable/app-validated` world.
    #[allow(unsafe_code, missing_docs, clippy::all)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "app-validated",
            pub_export_macro: true,
            default_bindings_module: "reprise_sdk::__private::bindings",
        });
    }

    pub use crate::entity::{
        EntityEntry, Mutates, OperationEntry, Reads, dispatch_operation, entity_names, run_operation,
    };
    pub use crate::export::{
        Entry, Kind, assert_unique_names, assert_unique_operations, dispatch, dispatch_entity, names, run_activity,
        run_orchestrator,
    };
    pub use crate::update::{ValidatorEntry, assert_unique_validators, dispatch_validator, run_validator};
    pub use bindings::exports::reprise::durable::activities::Guest as ActivitiesGuest;
    pub use bindings::exports::reprise::durable::entities::Guest as EntitiesGuest;
    pub use bindings::exports::reprise::durable::orchestrators::Guest as OrchestratorsGuest;
    pub use bindings::exports::reprise::durable::update_validators::Guest as UpdateValidatorsGuest;
    pub use bindings::reprise::durable::types::Failure as WireFailure;
    pub use bindings::reprise::durable::types::OperationResult as WireOperationResult;
}
