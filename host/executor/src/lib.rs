//! The executor of Reprise: it makes instances progress.
//!
//! It is made of a few owners, each with one job and its own handles, composed by the workers:
//!
//! | owner | module | owns |
//! |---|---|---|
//! | [`Host`] | `host` | the public face: builds the owners, loads components, writes what clients ask (rewinds, restarts and upgrades included), waits for instances |
//! | scheduler | `scheduler` | which instance's episode runs next: the queue of woken instances, the back-off, the episode slots (RAII), the worker's trigger |
//! | episode runner | `episodes` | one episode from its lock to its commit: triage, the `upgrade-if-compatible` policy, hot and cold path, the cache of parked orchestrators, entity batches, lease renewal |
//! | activity dispatcher | `activities` | claims, attempts in the sandbox, lease renewal, the writes of results |
//! | workers | `workers` | the worker loops (orchestrations, activities, schedules), and the routes between the owners (an episode's after-commit actions, an activity's result to its instance's next episode) |
//! | registry | `registry` | which loaded component serves which name; the compiled components instances are pinned to |
//! | watchers | `watchers` | the clients and tools waiting for instances to change |
//! | schedule firer | `schedules` | the due slots of schedules (planned by [`reprise_core::schedule`], recorded with the runs they start in one store write), manual runs and backfills |
//! | replay checker | `replay_check` | whether a component takes recorded histories over: replays them on it without delivering or writing anything, and the verdicts (shared, like the registry: the host's upgrades and the episode runner's policy ask it) |
//!
//! and leaves that several owners share: the clock (`clock`), the activity slots (`slots`),
//! the workers' trigger (`trigger`), the count of work in flight (`in_flight`, which
//! [`Host::settled`] waits on), the store's handle and its health (`store_access`,
//! `store_health`), the cache of parked instances (`cache`), the format of repro bundles
//! (`bundle`) and the session a running orchestrator talks to (`session`). The modules import
//! each other in one direction only: the workers and the host know the owners, the owners know
//! the leaves, and no owner knows another but the two shared ones, the registry and the replay
//! checker (`tests/all/structure.rs` checks it, from the sources).
//!
//! Every decision about what an episode, an attempt or an entity batch writes is the planner's
//! ([`reprise_core::plan`]): the executor reads the facts, asks for the plan, has the store
//! persist it and performs its after-commit actions. It never touches SQLite or wasmtime
//! directly: durable state goes through [`reprise_store::HistoryStore`], guest code through
//! [`reprise_runtime::Runtime`], and time through a [`Clock`], so tests move it by hand.

mod activities;
mod bundle;
mod cache;
mod clock;
mod config;
mod episodes;
mod error;
mod host;
mod in_flight;
mod metrics;
mod registry;
mod replay_check;
mod scheduler;
mod schedules;
mod session;
mod settings;
mod slots;
mod store_access;
mod store_health;
pub mod telemetry;
mod trigger;
mod watchers;
mod workers;

pub use bundle::{
    BUNDLE_FORMAT, BUNDLE_VERSION, Bundle, BundleConfig, BundleError, BundledComponent, ExecutionHistory,
};
pub use clock::{Clock, ManualClock, Sleep, SystemClock};
pub use config::{ExecutorConfig, UpgradePolicies, UpgradePolicy};
pub use error::ExecutorError;
pub use host::{
    Host, InstanceUpgrade, StartRequest, UpdateRequest, UpdateState, UpdateStatus, UpgradeOutcome, Workers,
};
pub use metrics::Metrics;
pub use registry::ComponentSummary;
pub use replay_check::{InstanceCheck, Replay, ReplayChecker, Verdict};
pub use schedules::{Backfilled, FireTime, ScheduleView, ScheduledRun};
pub use settings::{ActivitySettings, ComponentSettings};
