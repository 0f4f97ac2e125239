//! The component registry: which loaded component serves which orchestrator, activity and entity
//! name, and the compiled components instances are pinned to.
//!
//! A name resolves to the most recently loaded component that exports it. Instances do not
//! resolve by name after their start: they carry the hash of their component, and
//! [`Registry::pinned`] finds it (loading its bytes from the store if it is not in memory), so a
//! new version never replays an old instance.

use crate::error::ExecutorError;
use crate::settings::{ActivitySettings, ComponentSettings};
use crate::store_access::StoreAccess;
use reprise_runtime::{CompileSource, LoadedComponent, Runtime};
use reprise_store::ComponentRecord;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// What a loaded component offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentSummary {
    /// Its content hash.
    pub hash: String,
    /// Where it came from.
    pub source: String,
    /// The orchestrators it exports.
    pub orchestrators: Vec<String>,
    /// The activities it exports.
    pub activities: Vec<String>,
    /// The entity types it exports.
    pub entities: Vec<String>,
    /// Whether it was compiled now or loaded from the compiled-component cache.
    pub compiled: CompileSource,
}

/// The kinds of names [`Registry::missing`] looks up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Export {
    Orchestrator,
    Entity,
}

#[derive(Default)]
struct Maps {
    by_hash: HashMap<String, Arc<LoadedComponent>>,
    orchestrators: HashMap<String, String>,
    activities: HashMap<String, String>,
    /// The settings each activity name runs with: its component's, given at its load.
    activity_settings: HashMap<String, Arc<ActivitySettings>>,
    entities: HashMap<String, String>,
}

/// See the module docs.
pub(crate) struct Registry {
    runtime: Arc<Runtime>,
    store: StoreAccess,
    maps: RwLock<Maps>,
}

impl Registry {
    pub(crate) fn new(runtime: Arc<Runtime>, store: StoreAccess) -> Self {
        Registry { runtime, store, maps: RwLock::new(Maps::default()) }
    }

    /// The runtime components are loaded on.
    pub(crate) fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads a component, saves it (bytes and exports) in the store, and makes it the one that
    /// serves the names it exports, its activities with `settings`.
    pub(crate) async fn load(
        &self,
        bytes: Vec<u8>,
        source: &str,
        now: u64,
        settings: &ComponentSettings,
    ) -> Result<ComponentSummary, ExecutorError> {
        let loaded = Arc::new(self.runtime.load(bytes.clone(), source).await?);
        let record = ComponentRecord {
            hash: loaded.hash.clone(),
            source: source.to_string(),
            bytes,
            orchestrators: loaded.orchestrators.clone(),
            activities: loaded.activities.clone(),
            entities: loaded.entities.clone(),
            loaded_at: now,
        };
        self.store.call(move |store| store.save_component(&record)).await?;
        let summary = ComponentSummary {
            hash: loaded.hash.clone(),
            source: loaded.source.clone(),
            orchestrators: loaded.orchestrators.clone(),
            activities: loaded.activities.clone(),
            entities: loaded.entities.clone(),
            compiled: loaded.compiled,
        };
        let mut maps = self.maps.write().unwrap_or_else(|e| e.into_inner());
        for name in &loaded.orchestrators {
            maps.orchestrators.insert(name.clone(), loaded.hash.clone());
        }
        for name in &loaded.activities {
            maps.activities.insert(name.clone(), loaded.hash.clone());
            maps.activity_settings.insert(name.clone(), settings.activity(name));
        }
        for name in &loaded.entities {
            maps.entities.insert(name.clone(), loaded.hash.clone());
        }
        maps.by_hash.insert(loaded.hash.clone(), loaded);
        Ok(summary)
    }

    /// The hash of the component serving orchestrator `name`.
    pub(crate) fn orchestrator(&self, name: &str) -> Option<String> {
        self.read().orchestrators.get(name).cloned()
    }

    /// The component serving activity `name`, and the settings it runs with.
    pub(crate) fn activity(&self, name: &str) -> Option<(Arc<LoadedComponent>, Arc<ActivitySettings>)> {
        let maps = self.read();
        let component = maps.activities.get(name).and_then(|hash| maps.by_hash.get(hash)).cloned()?;
        Some((component, maps.activity_settings.get(name).cloned().unwrap_or_default()))
    }

    /// The component serving entity type `name` in this process, if one does.
    pub(crate) fn entity(&self, name: &str) -> Option<Arc<LoadedComponent>> {
        let maps = self.read();
        maps.entities.get(name).and_then(|hash| maps.by_hash.get(hash)).cloned()
    }

    /// The component serving entity type `name`: the one loaded here, or else the newest one
    /// the store knows (loaded by another process sharing the database), loaded from its bytes.
    pub(crate) async fn entity_anywhere(&self, name: &str) -> Result<Option<Arc<LoadedComponent>>, ExecutorError> {
        if let Some(found) = self.entity(name) {
            return Ok(Some(found));
        }
        let components = self.store.call(|store| store.components()).await?;
        match components.into_iter().find(|c| c.entities.iter().any(|e| e == name)) {
            Some(record) => self.pinned(&record.hash).await,
            None => Ok(None),
        }
    }

    /// `None` if a component exports `name` as a `kind`: one loaded here, or one the store
    /// knows (loaded by another process sharing the database). Otherwise the names of that kind
    /// that do exist, sorted, for the caller's error.
    pub(crate) async fn missing(&self, kind: Export, name: &str) -> Result<Option<Vec<String>>, ExecutorError> {
        let of_kind = |c: &ComponentRecord| -> Vec<String> {
            match kind {
                Export::Orchestrator => c.orchestrators.clone(),
                Export::Entity => c.entities.clone(),
            }
        };
        let mut known: Vec<String> = {
            let maps = self.read();
            let here = match kind {
                Export::Orchestrator => &maps.orchestrators,
                Export::Entity => &maps.entities,
            };
            if here.contains_key(name) {
                return Ok(None);
            }
            here.keys().cloned().collect()
        };
        let components = self.store.call(|store| store.components()).await?;
        if components.iter().any(|c| of_kind(c).iter().any(|n| n == name)) {
            return Ok(None);
        }
        known.extend(components.iter().flat_map(of_kind));
        known.sort();
        known.dedup();
        Ok(Some(known))
    }

    /// The component with this hash, loaded from the store's copy if it is not in memory.
    /// `Ok(None)` if the store has no such component.
    pub(crate) async fn pinned(&self, hash: &str) -> Result<Option<Arc<LoadedComponent>>, ExecutorError> {
        if let Some(found) = self.read().by_hash.get(hash) {
            return Ok(Some(found.clone()));
        }
        let wanted = hash.to_string();
        let Some(bytes) = self.store.call(move |store| store.component_bytes(&wanted)).await? else {
            return Ok(None);
        };
        let loaded = Arc::new(self.runtime.load(bytes, &format!("stored component {hash}")).await?);
        let mut maps = self.maps.write().unwrap_or_else(|e| e.into_inner());
        Ok(Some(maps.by_hash.entry(hash.to_string()).or_insert(loaded).clone()))
    }
}
