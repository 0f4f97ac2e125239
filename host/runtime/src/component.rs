//! Loading components: compile, check what they export, list their functions.

use crate::bindings::{activity::ActivityPre, entity::EntityPre, orchestrator::OrchestratorPre};
use crate::compile_cache::{CompileCache, CompileSource};
use crate::error::LoadError;
use crate::{Runtime, activity, entity, orchestrator};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The export name of the orchestrators interface.
pub(crate) const ORCHESTRATORS_EXPORT: &str = "reprise:durable/orchestrators@0.1.0";
/// The export name of the activities interface.
pub(crate) const ACTIVITIES_EXPORT: &str = "reprise:durable/activities@0.1.0";
/// The export name of the entities interface.
pub(crate) const ENTITIES_EXPORT: &str = "reprise:durable/entities@0.1.0";

/// The content hash that pins instances to a component: hex SHA-256 of its bytes.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A compiled component, ready to instantiate, with the names of what it exports.
pub struct LoadedComponent {
    /// Its content hash.
    pub hash: String,
    /// Where it was loaded from.
    pub source: String,
    /// The orchestrators it exports.
    pub orchestrators: Vec<String>,
    /// The activities it exports.
    pub activities: Vec<String>,
    /// The entity types it exports.
    pub entities: Vec<String>,
    /// Whether its machine code came from the compiled-component cache or was compiled now
    /// (for both engines, the least cached of the two).
    pub compiled: CompileSource,
    pub(crate) orchestrator_pre: Option<OrchestratorPre<orchestrator::OrchestratorState>>,
    pub(crate) activity_pre: Option<ActivityPre<activity::ActivityState>>,
    pub(crate) entity_pre: Option<EntityPre<entity::EntityState>>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("hash", &self.hash)
            .field("source", &self.source)
            .field("orchestrators", &self.orchestrators)
            .field("activities", &self.activities)
            .field("entities", &self.entities)
            .field("compiled", &self.compiled)
            .finish()
    }
}

impl Runtime {
    /// Compiles a component, checks that it exports orchestrators, activities and/or entities,
    /// and lists them. Compilation runs on a blocking thread.
    pub async fn load(&self, bytes: Vec<u8>, source: &str) -> Result<LoadedComponent, LoadError> {
        self.check_component_size(bytes.len() as u64, source)?;
        let hash = content_hash(&bytes);
        let source_name = source.to_string();
        let activity_engine = self.activity_engine.clone();
        let orchestrator_engine = self.orchestrator_engine.clone();
        let cache = self.compile_cache.clone();
        let name = source_name.clone();
        let key = hash.clone();
        let (activity_component, orchestrator_component, has_orchestrators, has_entities, compiled) =
            tokio::task::spawn_blocking(move || {
                let not_a_component = |e: wasmtime::Error| LoadError::NotAComponent {
                    source_name: name.clone(),
                    reason: format!("{e:#}"),
                };
                let (for_activities, mut compiled) =
                    compile(cache.as_ref(), &activity_engine, "activity", &key, &bytes).map_err(not_a_component)?;
                let exports: Vec<String> = for_activities
                    .component_type()
                    .exports(&activity_engine)
                    .map(|(name, _)| name.to_string())
                    .collect();
                let has_orchestrators = exports.iter().any(|e| e == ORCHESTRATORS_EXPORT);
                let has_activities = exports.iter().any(|e| e == ACTIVITIES_EXPORT);
                let has_entities = exports.iter().any(|e| e == ENTITIES_EXPORT);
                if !has_orchestrators && !has_activities && !has_entities {
                    let exports = if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") };
                    return Err(LoadError::WrongWorld { source_name: name.clone(), exports });
                }
                // Orchestrators and entities share the deterministic engine.
                let for_orchestrators = if has_orchestrators || has_entities {
                    let (component, source) =
                        compile(cache.as_ref(), &orchestrator_engine, "orchestrator", &key, &bytes)
                            .map_err(not_a_component)?;
                    if source != CompileSource::Cache {
                        compiled = source;
                    }
                    Some(component)
                } else {
                    None
                };
                Ok((
                    has_activities.then_some(for_activities),
                    for_orchestrators,
                    has_orchestrators,
                    has_entities,
                    compiled,
                ))
            })
            .await
            .map_err(|e| LoadError::Instantiate { source_name: source_name.clone(), reason: e.to_string() })??;

        let instantiate_error =
            |e: wasmtime::Error| LoadError::Instantiate { source_name: source_name.clone(), reason: format!("{e:#}") };
        let mut loaded = LoadedComponent {
            hash,
            source: source_name.clone(),
            orchestrators: Vec::new(),
            activities: Vec::new(),
            entities: Vec::new(),
            compiled,
            orchestrator_pre: None,
            activity_pre: None,
            entity_pre: None,
        };
        if let Some(component) = &orchestrator_component
            && has_orchestrators
        {
            let pre = orchestrator::pre_instantiate(&self.orchestrator_linker, component).map_err(instantiate_error)?;
            loaded.orchestrators = self.list_orchestrators(&pre).await.map_err(instantiate_error)?;
            loaded.orchestrator_pre = Some(pre);
        }
        if let Some(component) = &orchestrator_component
            && has_entities
        {
            let pre = entity::pre_instantiate(&self.entity_linker, component).map_err(instantiate_error)?;
            loaded.entities = self.list_entities(&pre).await.map_err(instantiate_error)?;
            loaded.entity_pre = Some(pre);
        }
        if let Some(component) = activity_component {
            let pre = activity::pre_instantiate(&self.activity_linker, &component).map_err(instantiate_error)?;
            loaded.activities = self.list_activities(&pre).await.map_err(instantiate_error)?;
            loaded.activity_pre = Some(pre);
        }
        Ok(loaded)
    }
}

impl Runtime {
    /// Refuses a component of `size` bytes if it is larger than the runtime loads: callers that
    /// read a file check its size before reading it.
    pub fn check_component_size(&self, size: u64, source: &str) -> Result<(), LoadError> {
        let limit = self.config.max_component_bytes;
        if size > limit {
            return Err(LoadError::TooLarge { source_name: source.to_string(), size, limit });
        }
        Ok(())
    }
}

/// Compiles `bytes` for `engine`, through the cache if there is one. A component that is not
/// valid is never written to the cache: its compilation fails first.
fn compile(
    cache: Option<&CompileCache>,
    engine: &Engine,
    engine_name: &str,
    hash: &str,
    bytes: &[u8],
) -> wasmtime::Result<(Component, CompileSource)> {
    let compile_now = || Component::new(engine, bytes);
    match cache {
        Some(cache) => cache.load_or_compile(engine, engine_name, hash, compile_now),
        None => Ok((compile_now()?, CompileSource::Compiled)),
    }
}
