//! The operator's upgrade, as [`Host`] offers it: replays each instance's history on the new
//! component and rebinds, one store write per instance, those whose replay matches; the others
//! stay pinned, with the verdict that keeps them there.

use super::Host;
use crate::error::ExecutorError;
use crate::replay_check::{InstanceCheck, ReplayChecker, Verdict};
use reprise_core::RuntimeStatus;
use reprise_store::{ComponentUpgrade, StoreError};
use std::time::Duration;

/// How often an instance that was busy (an episode of it running elsewhere) or moved on while
/// it was checked is checked again before it is reported skipped.
const ROUNDS: usize = 3;

/// Upgrade writes in flight at once: enough for the store to commit them in large batches.
const WRITES_AT_ONCE: usize = 64;

/// What an upgrade did with one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeOutcome {
    /// Rebound to the new component, recorded in its history.
    Upgraded {
        /// The component it was pinned to.
        from: String,
    },
    /// Already pinned to the new component.
    AlreadyOn,
    /// It has not run yet, so it is pinned to nothing: its first episode pins the newest
    /// component that serves its orchestrator.
    NotStarted,
    /// It stays on its component: the replay on the new one did not match.
    StaysPinned {
        /// The component it stays on.
        on: String,
        /// What the replay showed.
        verdict: Verdict,
    },
    /// It could not be upgraded now and was left as it was (finished, or busy or moving on
    /// through every round); running the upgrade again tries it again.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// One instance's upgrade.
#[derive(Debug, Clone)]
pub struct InstanceUpgrade {
    /// The instance.
    pub instance_id: String,
    /// Its orchestrator.
    pub name: String,
    /// Its status when checked.
    pub status: RuntimeStatus,
    /// The outcome.
    pub outcome: UpgradeOutcome,
}

impl Host {
    /// Upgrades the instances `ids` to the component `to` (a hash the store knows: load or
    /// save it first): each one whose current execution's history replays on it (see
    /// [`ReplayChecker`], `concurrency` replays at once) is rebound in one store write that
    /// records `ComponentUpgraded` in its history; the others are left as they are. `progress`
    /// hears of each outcome as it is decided. Fails only if the component or the store cannot
    /// be read.
    pub async fn upgrade(
        &self,
        to: &str,
        ids: Vec<String>,
        concurrency: usize,
        mut progress: impl FnMut(&InstanceUpgrade),
    ) -> Result<Vec<InstanceUpgrade>, ExecutorError> {
        let component =
            self.registry.pinned(to).await?.ok_or_else(|| ExecutorError::UnknownComponent(to.to_string()))?;
        let checker = ReplayChecker::new(self.registry.runtime().clone(), component, &self.engine.config);
        let mut done: Vec<InstanceUpgrade> = Vec::new();
        let mut pending = ids;
        for round in 1..=ROUNDS {
            let checks = checker.check_instances(self.store(), pending, concurrency, |_| {}).await?;
            let mut again = Vec::new();
            // Decided many at once, so that the store's writer commits their writes together
            // (one fsync for a batch, not one per instance).
            let mut deciding = tokio::task::JoinSet::new();
            let mut decided = Vec::with_capacity(checks.len());
            for (index, check) in checks.into_iter().enumerate() {
                if deciding.len() >= WRITES_AT_ONCE
                    && let Some(done) = deciding.join_next().await
                {
                    decided.push(done.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic())));
                }
                let (host, to) = (self.clone(), to.to_string());
                deciding.spawn(async move {
                    let outcome = host.decide(&to, &check).await;
                    (index, check, outcome)
                });
            }
            while let Some(done) = deciding.join_next().await {
                decided.push(done.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic())));
            }
            decided.sort_by_key(|(index, _, _)| *index);
            for (_, check, outcome) in decided {
                match outcome? {
                    UpgradeOutcome::Skipped { .. } if round < ROUNDS => again.push(check.instance_id),
                    outcome => {
                        let upgrade = InstanceUpgrade {
                            instance_id: check.instance_id,
                            name: check.name,
                            status: check.status,
                            outcome,
                        };
                        progress(&upgrade);
                        done.push(upgrade);
                    }
                }
            }
            if again.is_empty() {
                break;
            }
            // An episode holds an instance for milliseconds: let it commit, then replay again
            // (real time: a pause of this command, nothing an instance sees).
            tokio::time::sleep(Duration::from_millis(100 * round as u64)).await;
            pending = again;
        }
        Ok(done)
    }

    /// What becomes of one checked instance, writing its upgrade if its replay matched.
    async fn decide(&self, to: &str, check: &InstanceCheck) -> Result<UpgradeOutcome, ExecutorError> {
        let Some(from) = check.pinned.clone() else { return Ok(UpgradeOutcome::NotStarted) };
        if from == to {
            return Ok(UpgradeOutcome::AlreadyOn);
        }
        if check.status.is_terminal() {
            let reason = format!("it has finished ({}); only unfinished instances are upgraded", check.status);
            return Ok(UpgradeOutcome::Skipped { reason });
        }
        if !check.replay.verdict.is_compatible() {
            return Ok(UpgradeOutcome::StaysPinned { on: from, verdict: check.replay.verdict.clone() });
        }
        let upgrade = ComponentUpgrade {
            instance_id: check.instance_id.clone(),
            execution: check.execution,
            expected_history_len: check.history_len,
            from: from.clone(),
            to: to.to_string(),
            owner: None,
            now: self.engine.clock.now(),
        };
        match self.engine.store.call(move |store| store.upgrade(&upgrade)).await {
            Ok(()) => {
                // A parked orchestrator here runs the old code: the next episode replays on the new.
                self.engine.episodes.cache.evict(&check.instance_id);
                Ok(UpgradeOutcome::Upgraded { from })
            }
            Err(StoreError::Conflict { reason, .. }) => Ok(UpgradeOutcome::Skipped { reason }),
            Err(StoreError::Finished { status, .. }) => {
                Ok(UpgradeOutcome::Skipped { reason: format!("it finished ({status}) while it was checked") })
            }
            Err(StoreError::InstanceNotFound(_)) => {
                Ok(UpgradeOutcome::Skipped { reason: "it was purged while it was checked".into() })
            }
            Err(error) => Err(error.into()),
        }
    }
}
