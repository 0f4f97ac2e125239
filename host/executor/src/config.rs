//! Executor settings.

use reprise_core::replay::HistoryLimits;
use reprise_runtime::{ActivityGrants, InstancePools};
use std::time::Duration;

/// How the executor runs. `Default` suits a single host; tests shrink the intervals.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Parked instances kept in memory (the hot path). 0 forces the cold path at every episode.
    pub cache_capacity: usize,
    /// A parked instance idle this long is evicted (and replayed when it is next needed).
    pub cache_idle: Duration,
    /// Episodes run at once. Most of an episode is spent waiting for its commit, so more
    /// episodes than cores share each commit (and its fsync).
    pub orchestration_concurrency: usize,
    /// Activity attempts run at once.
    pub activity_concurrency: usize,
    /// How long a claimed activity stays leased to this host without a renewal. A host that
    /// dies loses its leases after this long, and its tasks run again elsewhere.
    pub activity_lease: Duration,
    /// How long an instance stays locked to this host during an episode. A lock that outlives
    /// it is only a lost optimisation: commits check the history length, so two hosts running
    /// the same episode cannot both commit it.
    pub instance_lease: Duration,
    /// How often the workers look for work written by other processes (work written by this one
    /// wakes them at once).
    pub poll_interval: Duration,
    /// The longest one episode may take, replay included, before the instance fails: a guard
    /// against an orchestrator blocked outside the host's durable waits.
    pub episode_timeout: Duration,
    /// Identifies this host in locks and leases.
    pub owner: String,
    /// The largest payload (input, output, event data, custom status) the host accepts, in
    /// bytes: every payload is stored in history, and an unbounded one would let a guest exhaust
    /// the host's memory and disk.
    pub max_payload_bytes: usize,
    /// What activities may reach (nothing by default).
    pub grants: ActivityGrants,
    /// How large one execution's history may grow.
    pub history_limits: HistoryLimits,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            cache_capacity: 1024,
            cache_idle: Duration::from_secs(300),
            orchestration_concurrency: 32,
            activity_concurrency: 16,
            activity_lease: Duration::from_secs(15),
            instance_lease: Duration::from_secs(15),
            poll_interval: Duration::from_millis(250),
            episode_timeout: Duration::from_secs(300),
            owner: format!("reprise-{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            max_payload_bytes: 4 * 1024 * 1024,
            grants: ActivityGrants::default(),
            history_limits: HistoryLimits::default(),
        }
    }
}

impl ExecutorConfig {
    /// The instance pools a runtime needs to run this executor without evicting parked instances
    /// for want of a slot: one per parked instance, plus the episodes, entity operations and
    /// activity attempts that run at once (set them as `RuntimeConfig::pools`).
    pub fn instance_pools(&self) -> InstancePools {
        InstancePools::for_host(self.cache_capacity, self.orchestration_concurrency, self.activity_concurrency)
    }
}
