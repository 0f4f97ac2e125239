//! The episode runner: one episode of one instance, from its begun lock to its commit. For an
//! orchestration it delivers the messages to the orchestrator (parked in the cache, or replayed
//! from history), waits for it to block or finish, asks the planner what the episode writes and
//! has the store write it; for an entity it runs the batch of queued operations the planner
//! picks. Its lock is renewed while the episode runs, so a long replay keeps it.
//!
//! It owns the cache of parked orchestrators and what an episode does with it (take, park,
//! evict). It never decides what an episode writes (the planner in `reprise_core::plan` does),
//! never chooses which instance runs next (the scheduler does) and never runs an activity: what
//! the commit claimed, and who must hear of it, go back to its caller in an [`Outcome`].

mod entity;
mod orchestration;
mod upgrade;

pub(crate) use upgrade::RefusedUpgrades;

use crate::cache::InstanceCache;
use crate::clock::Clock;
use crate::config::ExecutorConfig;
use crate::metrics::{EpisodeOutcome, Metrics};
use crate::registry::Registry;
use crate::slots::{ActivitySlots, Permit};
use crate::store_access::StoreAccess;
use crate::telemetry;
use reprise_core::Timestamp;
use reprise_core::plan::AfterCommit;
use reprise_runtime::Runtime;
use reprise_store::{EpisodeStart, StoreError};
use std::sync::Arc;

/// What an episode leaves its caller to do.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The instance.
    pub(crate) instance_id: String,
    /// It could not run now: the instance should be left alone for a while.
    pub(crate) back_off: bool,
    /// Whether it committed.
    pub(crate) committed: bool,
    /// The after-commit actions left to the caller, in order (parking and logging are done).
    pub(crate) after: Vec<AfterCommit>,
    /// One activity slot per [`AfterCommit::Run`] of `after`, in the same order.
    pub(crate) permits: Vec<Permit>,
}

impl Outcome {
    fn nothing(instance_id: String, back_off: bool) -> Self {
        Outcome { instance_id, back_off, committed: false, after: Vec::new(), permits: Vec::new() }
    }
}

/// How an episode attempt went, before the lock is given back.
pub(crate) enum Step {
    /// It committed; what follows it.
    Committed(Vec<AfterCommit>, Vec<Permit>),
    /// Nothing was committed; a parked instance that was taken out for the episode is gone.
    Skipped,
    /// Nothing to do (another episode consumed the messages first): a parked instance is still
    /// parked, and in step with the store.
    Idle,
    /// It could not run now: the instance backs off.
    NotReady,
}

/// See the module docs.
pub(crate) struct EpisodeRunner {
    pub(crate) store: StoreAccess,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) cache: Arc<InstanceCache>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) slots: ActivitySlots,
    pub(crate) config: ExecutorConfig,
    /// The upgrades the `upgrade-if-compatible` policy found would not replay.
    pub(crate) refused: Arc<RefusedUpgrades>,
    pub(crate) metrics: Arc<Metrics>,
}

impl EpisodeRunner {
    /// Now, and when an instance lock taken now ends.
    pub(crate) fn lease(&self) -> (Timestamp, Timestamp) {
        let now = self.clock.now();
        (now, now + self.config.instance_lease.as_millis() as u64)
    }

    /// Takes the instance's lock and reads its messages, in one write. `None` if it does not
    /// exist or another owner holds it.
    pub(crate) async fn begin(&self, instance_id: &str) -> Result<Option<(EpisodeStart, Timestamp)>, StoreError> {
        let (now, lease_until) = self.lease();
        let owner = self.config.owner.clone();
        let id = instance_id.to_string();
        let begun =
            self.store.submit(|store, done| store.begin_episode_then(id, owner, (now, lease_until), done)).await?;
        Ok(begun.map(|start| (start, now)))
    }

    /// Runs the episode of an instance whose lock was taken at `now` (and its messages read) by
    /// `start`: an entity's batch, or an orchestration's episode.
    pub(crate) async fn run(&self, start: EpisodeStart, now: Timestamp) -> Outcome {
        let instance_id = start.instance.instance_id.clone();
        let is_entity = reprise_core::is_entity_instance(&instance_id);
        let started = std::time::Instant::now();
        let kind = if is_entity { "entity" } else { "orchestration" };
        let mut span = telemetry::episode(&instance_id, start.instance.execution, &start.instance.name, kind);
        let step = tokio::select! {
            step = async {
                if is_entity { self.entity_batch(start, now).await } else { self.orchestration(start, now).await }
            } => step,
            () = self.keep_locked(&instance_id) => Ok(Step::NotReady),
        };
        let outcome = match &step {
            Ok(Step::Committed(..)) => EpisodeOutcome::Committed,
            Ok(Step::Idle) => EpisodeOutcome::Idle,
            Ok(Step::Skipped) => EpisodeOutcome::Skipped,
            Ok(Step::NotReady) | Err(_) => EpisodeOutcome::Retried,
        };
        self.metrics.episode(kind, outcome, started.elapsed());
        if let Err(error) = &step {
            span.failed(&error.to_string());
        }
        let back_off = match step {
            Ok(Step::Committed(after, permits)) => {
                return Outcome { instance_id, back_off: false, committed: true, after, permits };
            }
            Ok(Step::Idle) => {
                // The list of ready instances is read before episodes commit, so an instance
                // whose episode just consumed its messages comes up again with none: it stays
                // parked (evicting it would send its next episode down the cold path).
                self.unlock(&instance_id).await;
                return Outcome::nothing(instance_id, false);
            }
            Ok(Step::Skipped) => false,
            Ok(Step::NotReady) => true,
            Err(error) => {
                tracing::error!(instance = %instance_id, "episode failed and will be retried: {error}");
                true
            }
        };
        // Nothing was committed: a parked orchestrator taken out for the episode is gone.
        self.cache.evict(&instance_id);
        self.unlock(&instance_id).await;
        Outcome::nothing(instance_id, back_off)
    }

    async fn unlock(&self, instance_id: &str) {
        let (id, owner) = (instance_id.to_string(), self.config.owner.clone());
        if let Err(error) = self.store.call(move |store| store.unlock_instance(&id, &owner)).await {
            tracing::warn!(instance = %instance_id, "cannot unlock instance: {error}");
        }
    }

    /// Renews the instance's lock every third of its lease, on the clock; returns only if the
    /// lock is lost (then the episode is abandoned: another host owns the instance).
    async fn keep_locked(&self, instance_id: &str) {
        let lease = self.config.instance_lease.as_millis() as u64;
        loop {
            self.clock.sleep_until(self.clock.now() + (lease / 3).max(1)).await;
            let (id, owner, now) = (instance_id.to_string(), self.config.owner.clone(), self.clock.now());
            match self.store.call(move |store| store.lock_instance(&id, &owner, now, now + lease)).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(instance = %instance_id, "lost the instance's lock; abandoning the episode");
                    return;
                }
                Err(error) => tracing::warn!(instance = %instance_id, "cannot renew the instance's lock: {error}"),
            }
        }
    }
}
