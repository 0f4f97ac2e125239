//! The `upgrade-if-compatible` policy at the start of an episode: an instance pinned to an older
//! component than the one this host loaded for its orchestrator is replayed on the newer one
//! and, if the replay matches, rebound there before the episode runs (the same store write as
//! `reprise upgrade`, under the episode's own lock). One that diverges stays pinned, says why
//! once in the log, and is not checked again for the same component and execution.

use super::EpisodeRunner;
use crate::config::UpgradePolicy;
use crate::replay_check::ReplayChecker;
use reprise_store::{ComponentUpgrade, InstanceRecord, StoreError};
use std::collections::HashSet;
use std::sync::Mutex;

/// Past this many remembered refusals the memory is cleared: at worst an instance is checked
/// once more.
const MAX_REMEMBERED: usize = 65_536;

/// The (instance, execution, component) triples whose replay did not match: checking them again
/// would replay the same history prefix to the same verdict at every episode.
#[derive(Debug, Default)]
pub(crate) struct RefusedUpgrades(Mutex<HashSet<(String, u32, String)>>);

impl RefusedUpgrades {
    fn contains(&self, key: &(String, u32, String)) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).contains(key)
    }

    fn insert(&self, key: (String, u32, String)) {
        let mut refused = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if refused.len() >= MAX_REMEMBERED {
            refused.clear();
        }
        refused.insert(key);
    }
}

impl EpisodeRunner {
    /// The instance as the episode must run it: rebound to the newest component this host
    /// serves its orchestrator with, when its policy asks for that and its history replays
    /// there; otherwise as it was.
    pub(super) async fn upgrade_if_compatible(&self, instance: InstanceRecord) -> Result<InstanceRecord, StoreError> {
        if self.config.upgrades.of(&instance.name) != UpgradePolicy::UpgradeIfCompatible {
            return Ok(instance);
        }
        let (Some(from), Some(to)) = (instance.component.clone(), self.registry.orchestrator(&instance.name)) else {
            return Ok(instance);
        };
        let key = (instance.instance_id.clone(), instance.execution, to.clone());
        if from == to || self.refused.contains(&key) {
            return Ok(instance);
        }
        let component = match self.registry.pinned(&to).await {
            Ok(Some(component)) => component,
            // The registry serves this hash, so it is loaded: nothing to do but stay.
            _ => return Ok(instance),
        };
        let (id, execution) = (instance.instance_id.clone(), instance.execution);
        let history = self.store.call(move |store| store.history(&id, execution)).await?;
        let history_len = history.len() as u64;
        if history_len != instance.history_len {
            return Ok(instance);
        }
        let checker = ReplayChecker::new(self.runtime.clone(), component, &self.config);
        let replay = checker.check((&instance.instance_id, instance.execution), &instance.name, history, false).await;
        if !replay.verdict.is_compatible() {
            tracing::warn!(
                instance = %instance.instance_id,
                from = %short(&from),
                to = %short(&to),
                "stays on its component, the newer one does not replay its history: {}",
                replay.verdict
            );
            self.refused.insert(key);
            return Ok(instance);
        }
        let upgrade = ComponentUpgrade {
            instance_id: instance.instance_id.clone(),
            execution: instance.execution,
            expected_history_len: history_len,
            from: from.clone(),
            to: to.clone(),
            owner: Some(self.config.owner.clone()),
            now: self.clock.now(),
        };
        match self.store.call(move |store| store.upgrade(&upgrade)).await {
            Ok(()) => {}
            // Moved on or taken over meanwhile: this episode's own commit will find out.
            Err(StoreError::Conflict { reason, .. }) => {
                tracing::debug!(instance = %instance.instance_id, "not upgraded: {reason}");
                return Ok(instance);
            }
            Err(error) => return Err(error),
        }
        tracing::info!(instance = %instance.instance_id, from = %short(&from), to = %short(&to), "upgraded to the newer component");
        self.cache.evict(&instance.instance_id);
        let id = instance.instance_id.clone();
        Ok(self.store.call(move |store| store.instance(&id)).await?.unwrap_or(instance))
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
