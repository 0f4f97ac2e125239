//! Loading components: compile, check what they export, list their functions.

use crate::Runtime;
use crate::activity::{ActivityGrants, ActivityInvocation, activity_wasi};
use crate::bindings::update_validator::UpdateValidatorPre;
use crate::bindings::{activity::ActivityPre, entity::EntityPre, orchestrator::OrchestratorPre};
use crate::compile_cache::{CompileCache, CompileSource};
use crate::entity::OperationContext;
use crate::error::LoadError;
use crate::linkers::Listing;
use crate::observed::GuestObserved;
use crate::orchestration::OrchestrationSession;
use crate::state::{Deadline, GuestState, store};
use crate::virtual_wasi::deterministic_wasi;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The export name of the orchestrators interface.
pub(crate) const ORCHESTRATORS_EXPORT: &str = "reprise:durable/orchestrators@0.1.0";
/// The export name of the activities interface.
pub(crate) const ACTIVITIES_EXPORT: &str = "reprise:durable/activities@0.1.0";
/// The export name of the entities interface.
pub(crate) const ENTITIES_EXPORT: &str = "reprise:durable/entities@0.1.0";
/// The export name of the update validators' interface.
pub(crate) const UPDATE_VALIDATORS_EXPORT: &str = "reprise:durable/update-validators@0.1.0";

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
    pub(crate) orchestrator_pre: Option<OrchestratorPre<GuestState<OrchestrationSession>>>,
    pub(crate) activity_pre: Option<ActivityPre<GuestState<ActivityInvocation>>>,
    pub(crate) entity_pre: Option<EntityPre<GuestState<OperationContext>>>,
    pub(crate) update_validator_pre: Option<UpdateValidatorPre<GuestState<Listing>>>,
}

impl LoadedComponent {
    /// Whether it validates the updates sent to its orchestrators' instances (it exports
    /// `update-validators`); one that does not accepts every update.
    pub fn validates_updates(&self) -> bool {
        self.update_validator_pre.is_some()
    }
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
        let (activity_component, orchestrator_component, has_orchestrators, has_entities, has_validators, compiled) =
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
                let has_validators = has_orchestrators && exports.iter().any(|e| e == UPDATE_VALIDATORS_EXPORT);
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
                    has_validators,
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
            update_validator_pre: None,
        };
        if let Some(component) = &orchestrator_component
            && has_orchestrators
        {
            loaded.orchestrator_pre = Some(self.linkers.orchestrator(component).map_err(instantiate_error)?);
            loaded.orchestrators = self.list(component, Exports::Orchestrators).await.map_err(instantiate_error)?;
            if has_validators {
                loaded.update_validator_pre =
                    Some(self.linkers.update_validator(component).map_err(instantiate_error)?);
            }
        }
        if let Some(component) = &orchestrator_component
            && has_entities
        {
            loaded.entity_pre = Some(self.linkers.entity(component).map_err(instantiate_error)?);
            loaded.entities = self.list(component, Exports::Entities).await.map_err(instantiate_error)?;
        }
        if let Some(component) = activity_component {
            loaded.activity_pre = Some(self.linkers.activity(&component).map_err(instantiate_error)?);
            loaded.activities = self.list(&component, Exports::Activities).await.map_err(instantiate_error)?;
        }
        Ok(loaded)
    }
}

/// The exports a component lists.
#[derive(Debug, Clone, Copy)]
enum Exports {
    Orchestrators,
    Activities,
    Entities,
}

impl Runtime {
    /// The names `component` (compiled for the kind's engine) exports of a kind, from an
    /// instance in which every host interface traps: listing must not reach the host.
    async fn list(&self, component: &Component, exports: Exports) -> wasmtime::Result<Vec<String>> {
        let deterministic = !matches!(exports, Exports::Activities);
        let pre = self.linkers.listing(component, deterministic)?;
        let observed = GuestObserved::new();
        let wasi = match exports {
            Exports::Activities => activity_wasi(&ActivityInvocation::none(), &ActivityGrants::default(), &observed)?,
            _ => deterministic_wasi("listing", 0, &observed),
        };
        let engine = if deterministic { &self.orchestrator_engine } else { &self.activity_engine };
        let state = GuestState::<Listing>::new(wasi, self.config.max_memory_bytes, ());
        // Listing runs the guest's start-up code: it gets an episode's CPU budget.
        let budget = self.ticks(self.config.orchestrator_episode_cpu);
        let mut store = store(engine, state, Deadline::Call(budget));
        match exports {
            Exports::Orchestrators => {
                let instance = OrchestratorPre::new(pre)?.instantiate_async(&mut store).await?;
                instance.reprise_durable_orchestrators().call_names(&mut store).await
            }
            Exports::Activities => {
                let instance = ActivityPre::new(pre)?.instantiate_async(&mut store).await?;
                instance.reprise_durable_activities().call_names(&mut store).await
            }
            Exports::Entities => {
                let instance = EntityPre::new(pre)?.instantiate_async(&mut store).await?;
                instance.reprise_durable_entities().call_names(&mut store).await
            }
        }
    }

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
