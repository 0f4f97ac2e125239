//! The executor of Reprise: it makes instances progress.
//!
//! It owns episodes (take an instance's messages, run its orchestrator until it blocks, commit),
//! entity batches (run the operations queued for an entity in order, commit the new state),
//! the cache of parked instances (the hot path) and the replay of evicted ones (the cold path),
//! the activity dispatcher with its leases, and the component registry that pins every instance
//! to the component it started on. Time comes from a [`Clock`], so tests move it by hand.
//!
//! It never touches SQLite or wasmtime directly: durable state goes through
//! [`reprise_store::HistoryStore`], guest code through [`reprise_runtime::Runtime`], and the rules
//! of replay are [`reprise_core::replay`]'s.

mod activities;
mod cache;
mod clock;
mod config;
mod entities;
mod episode;
mod error;
mod host;
mod orchestrations;
mod registry;
mod session;
mod store_access;
mod store_health;
mod wakeups;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::ExecutorConfig;
pub use error::ExecutorError;
pub use host::{Host, StartRequest, Workers};
pub use registry::ComponentSummary;
