//! The planner: every decision about what an episode, an activity attempt or an entity batch
//! writes and what happens after the write, as pure functions from values to values.
//!
//! The executor reads the facts a decision needs from the store, asks the planner, has the store
//! persist the plan's write in one transaction, then performs the plan's after-commit actions
//! (run the tasks it claimed, wake the instances it wrote to, park the orchestrator, tell the
//! waiters). The planner owns the rules: which events become which tasks and messages, when a
//! sub-orchestration is retried and how its parent hears of it, what a terminate cascades to,
//! which locks an ending execution releases, what a lifecycle message does, when an activity is
//! tried again, how an entity's queue is served under a lock. It never does I/O: no store, no
//! wasm, no clock, no threads (times come in as values); which is why each rule is tested here,
//! case by case and by property, without a database.
//!
//! | module | decides |
//! |---|---|
//! | [`writes`] | nothing: the values a store persists |
//! | [`triage`] | what kind of episode the messages of an instance call for |
//! | [`episode`] | the commit of an orchestration's episode and what follows it |
//! | [`lifecycle`] | the episodes the host writes without running the orchestrator |
//! | [`rewind`] | what a rewind undoes, puts back in flight, and does with the children |
//! | [`activity`] | what an activity attempt's outcome writes (a result, or a retry) |
//! | [`entity`] | which queued operations an entity runs, and what its batch writes |

pub mod activity;
pub mod entity;
pub mod episode;
pub mod lifecycle;
pub mod rewind;
pub mod triage;
pub mod writes;

#[cfg(test)]
mod tests;

pub use writes::{
    ActivityResult, ActivityTask, ActivityTaskKey, ContinueAsNew, EntityCommit, EpisodeCommit, InstanceRewind,
    NewActivityTask, NewInstance, RewindCommit,
};

use crate::{Failure, Timestamp};

/// What the executor does once a plan's write is durable, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterCommit {
    /// Run this activity task now: the commit claimed it for this host (a slot was held for it).
    Run(ActivityTask),
    /// The commit left activity tasks for the dispatcher to claim.
    PollActivities,
    /// The commit wrote work for this instance (a message, its creation), visible from `at`.
    Wake {
        /// The instance.
        instance_id: String,
        /// When the work becomes visible.
        at: Timestamp,
    },
    /// The orchestrator runs on: keep it parked for its next episode.
    Park,
    /// The instance (or entity batch) reached what its waiters wait for.
    Notify,
    /// The instance failed with this.
    Failed(Failure),
}
