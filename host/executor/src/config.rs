//! Executor settings.

use reprise_core::flow::FlowLimits;
use reprise_core::replay::HistoryLimits;
use reprise_runtime::{ActivityGrants, InstancePools};
use std::sync::Arc;
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
    /// Whether instances move to the newest component loaded for their orchestrator.
    pub upgrades: UpgradePolicies,
    /// The flow limits of activities (at most so many at once, so many starts per second, per
    /// key): the store's claim enforces them across every process on the database, each process
    /// with the limits it was given.
    pub flow: Arc<FlowLimits>,
    /// The flow limits of entities, by entity name (at most so many batches at once, so many
    /// batch starts per second; keys are not used): enforced by this process's scheduler, so
    /// per process, not across the processes on one database.
    pub entity_flow: Arc<FlowLimits>,
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
            upgrades: UpgradePolicies::default(),
            flow: Arc::new(FlowLimits::default()),
            entity_flow: Arc::new(FlowLimits::default()),
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

/// What the host does with an instance pinned to an older component than the one it loaded
/// for the instance's orchestrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpgradePolicy {
    /// It stays on the component it started on until it ends (an operator may still move it
    /// with `reprise upgrade`).
    #[default]
    Pinned,
    /// At its next episode, the host replays its history on the newest component and, if the
    /// replay matches, rebinds it there (recording `ComponentUpgraded`); otherwise it stays
    /// pinned, and the host logs why.
    UpgradeIfCompatible,
}

impl UpgradePolicy {
    /// The policy's name, as written in flags.
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradePolicy::Pinned => "pinned",
            UpgradePolicy::UpgradeIfCompatible => "upgrade-if-compatible",
        }
    }
}

impl std::fmt::Display for UpgradePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for UpgradePolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "pinned" => Ok(UpgradePolicy::Pinned),
            "upgrade-if-compatible" => Ok(UpgradePolicy::UpgradeIfCompatible),
            other => Err(format!("unknown upgrade policy '{other}': use pinned or upgrade-if-compatible")),
        }
    }
}

/// The upgrade policy of each orchestrator: one for all, and exceptions by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradePolicies {
    /// The policy of orchestrators not named in `by_orchestrator`.
    pub default: UpgradePolicy,
    /// Policies by orchestrator name.
    pub by_orchestrator: std::collections::BTreeMap<String, UpgradePolicy>,
}

impl UpgradePolicies {
    /// The policy of orchestrator `name`.
    pub fn of(&self, name: &str) -> UpgradePolicy {
        self.by_orchestrator.get(name).copied().unwrap_or(self.default)
    }

    /// Whether any orchestrator is upgraded by the host.
    pub fn any_upgrade(&self) -> bool {
        self.default == UpgradePolicy::UpgradeIfCompatible
            || self.by_orchestrator.values().any(|p| *p == UpgradePolicy::UpgradeIfCompatible)
    }

    /// Adds one setting, written `POLICY` (every orchestrator) or `NAME=POLICY` (one); later
    /// settings win.
    pub fn set(&mut self, setting: &str) -> Result<(), String> {
        match setting.split_once('=') {
            Some((name, policy)) if !name.is_empty() => {
                self.by_orchestrator.insert(name.to_string(), policy.parse()?);
            }
            Some(_) => return Err(format!("'{setting}' names no orchestrator before '='; write NAME=POLICY")),
            None => self.default = setting.parse()?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_set_for_all_or_by_name_and_bad_ones_are_refused() {
        let mut policies = UpgradePolicies::default();
        assert_eq!(policies.of("any"), UpgradePolicy::Pinned);
        assert!(!policies.any_upgrade());
        policies.set("billing=upgrade-if-compatible").unwrap();
        assert_eq!(policies.of("billing"), UpgradePolicy::UpgradeIfCompatible);
        assert_eq!(policies.of("other"), UpgradePolicy::Pinned);
        policies.set("upgrade-if-compatible").unwrap();
        policies.set("legacy=pinned").unwrap();
        assert_eq!(policies.of("other"), UpgradePolicy::UpgradeIfCompatible);
        assert_eq!(policies.of("legacy"), UpgradePolicy::Pinned);
        assert!(policies.set("upgrade").unwrap_err().contains("use pinned or upgrade-if-compatible"));
        assert!(policies.set("=pinned").unwrap_err().contains("NAME=POLICY"));
    }
}
