//! [`Host`]: the executor's public face. It builds the owners (scheduler, episode runner,
//! activity dispatcher, registry, watchers, schedule firer) from its settings, loads components, starts and
//! manages instances, runs the workers and waits for instances to finish. It decides nothing an
//! episode does: it writes what a client asks (a start, an event, a lifecycle message) and wakes
//! the instance it wrote to.

use crate::activities::ActivityDispatcher;
use crate::cache::InstanceCache;
use crate::clock::Clock;
use crate::config::ExecutorConfig;
use crate::episodes::EpisodeRunner;
use crate::error::ExecutorError;
use crate::in_flight::InFlight;
use crate::metrics::{self, Metrics};
use crate::registry::{ComponentSummary, Export, Registry};
use crate::scheduler::Scheduler;
use crate::schedules::ScheduleFirer;
use crate::settings::{ActivitySettings, ComponentSettings};
use crate::slots::ActivitySlots;
use crate::store_access::StoreAccess;
use crate::trigger::Trigger;
use crate::watchers::Watchers;
use crate::workers::{self, Engine};
use reprise_core::{EntityId, EntityOperation, InstanceId, Message, Payload, is_entity_instance};
use reprise_runtime::Runtime;
use reprise_store::{EntityFilter, EntityRecord, HistoryStore, InstanceRecord, NewInstance, PendingTask, PurgeFilter};
use std::path::Path;

mod rewind;
mod schedules;
mod updates;
mod upgrade;

use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
pub use updates::{UpdateRequest, UpdateState, UpdateStatus};
pub use upgrade::{InstanceUpgrade, UpgradeOutcome};

/// A request to start an instance.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// The orchestrator to run.
    pub orchestrator: String,
    /// Its JSON input, as the caller gave it (checked by [`Host::start`] against the host's
    /// payload limit).
    pub input: String,
    /// The instance id; a new UUID if `None`.
    pub instance_id: Option<InstanceId>,
}

/// A durable orchestration host. Cheap to clone; every clone drives the same state.
#[derive(Clone)]
pub struct Host {
    engine: Arc<Engine>,
    registry: Arc<Registry>,
}

/// The running workers of a host. Dropping it does not stop them; [`Workers::shutdown`] does.
pub struct Workers {
    shutdown: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Stops the workers after their current step. Episodes and attempts under way finish on
    /// their own tasks; anything not committed is redone by the next host.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

impl Host {
    /// A host over `store`, running guests on `runtime`, reading time from `clock`.
    pub fn new(
        store: Arc<dyn HistoryStore>,
        runtime: Arc<Runtime>,
        clock: Arc<dyn Clock>,
        config: ExecutorConfig,
    ) -> Self {
        let store = StoreAccess::new(store);
        let registry = Arc::new(Registry::new(runtime.clone(), store.clone()));
        let cache = Arc::new(InstanceCache::new(config.cache_capacity, config.cache_idle));
        let slots = ActivitySlots::new(config.activity_concurrency);
        let metrics = Arc::new(Metrics::new());
        metrics.limited(config.flow.iter().map(|(name, _)| name));
        let episodes = EpisodeRunner {
            store: store.clone(),
            runtime: runtime.clone(),
            registry: registry.clone(),
            cache: cache.clone(),
            clock: clock.clone(),
            slots: slots.clone(),
            config: config.clone(),
            refused: Default::default(),
            metrics: metrics.clone(),
        };
        let activities = ActivityDispatcher {
            store: store.clone(),
            runtime,
            registry: registry.clone(),
            cache,
            clock: clock.clone(),
            slots,
            trigger: Trigger::new(),
            config: config.clone(),
            metrics: metrics.clone(),
        };
        let schedules = ScheduleFirer {
            store: store.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            trigger: Trigger::new(),
        };
        let engine = Engine {
            scheduler: Scheduler::new(config.orchestration_concurrency, config.entity_flow.clone()),
            schedules,
            config,
            clock,
            store,
            episodes,
            activities,
            watchers: Arc::new(Watchers::default()),
            in_flight: InFlight::default(),
            metrics,
        };
        Host { engine: Arc::new(engine), registry }
    }

    /// Loads a component from a file and records it in the store.
    pub async fn load_component_file(&self, path: &Path) -> Result<ComponentSummary, ExecutorError> {
        self.load_component_file_with(path, &self.configured_settings()).await
    }

    /// Loads a component from a file, its activities running with `settings` (the deployment
    /// file's, with the flags' grants merged in), and records it in the store.
    pub async fn load_component_file_with(
        &self,
        path: &Path,
        settings: &ComponentSettings,
    ) -> Result<ComponentSummary, ExecutorError> {
        let read_error = |source| ExecutorError::ReadComponent { path: path.display().to_string(), source };
        let size = tokio::fs::metadata(path).await.map_err(read_error)?.len();
        self.registry.runtime().check_component_size(size, &path.display().to_string())?;
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| ExecutorError::ReadComponent { path: path.display().to_string(), source })?;
        self.registry.load(bytes, &path.display().to_string(), self.engine.clock.now(), settings).await
    }

    /// Loads a component from bytes and records it in the store; its activities get the
    /// configuration's grants.
    pub async fn load_component(&self, bytes: Vec<u8>, source: &str) -> Result<ComponentSummary, ExecutorError> {
        self.registry.load(bytes, source, self.engine.clock.now(), &self.configured_settings()).await
    }

    /// The settings of a component loaded without its own: the configuration's grants for
    /// every activity.
    fn configured_settings(&self) -> ComponentSettings {
        ComponentSettings::uniform(ActivitySettings {
            grants: self.engine.config.grants.clone(),
            ..ActivitySettings::default()
        })
    }

    /// Creates an instance of a loaded orchestrator (or one a component recorded in the store
    /// exports) and returns its id.
    pub async fn start(&self, request: StartRequest) -> Result<InstanceId, ExecutorError> {
        let input = self.payload(request.input)?;
        if let Some(known) = self.registry.missing(Export::Orchestrator, &request.orchestrator).await? {
            let known = if known.is_empty() { "none (no component loaded)".to_string() } else { known.join(", ") };
            return Err(ExecutorError::UnknownOrchestrator { name: request.orchestrator, known });
        }
        let instance_id = request.instance_id.unwrap_or_else(InstanceId::generate);
        let new = NewInstance {
            instance_id: instance_id.clone(),
            name: request.orchestrator,
            input,
            created_at: self.engine.clock.now(),
            parent: None,
            if_taken: None,
        };
        self.engine.store.call(move |store| store.create_instance(&new)).await?;
        self.engine.scheduler.wake(instance_id.as_str());
        Ok(instance_id)
    }

    /// Starts the orchestration worker, the activity dispatcher and the schedule worker.
    pub fn spawn_workers(&self) -> Workers {
        let (shutdown, receiver) = watch::channel(false);
        let handles = vec![
            tokio::spawn(workers::orchestration_worker(self.engine.clone(), receiver.clone())),
            tokio::spawn(workers::activity_worker(self.engine.clone(), receiver.clone())),
            tokio::spawn(workers::schedule_worker(self.engine.clone(), receiver)),
        ];
        Workers { shutdown, handles }
    }

    /// The activity tasks of an instance's current execution still in the queue, by task id,
    /// and where each stands now (queued, throttled by a flow limit, running, waiting for a
    /// retry). An unknown instance has none.
    pub async fn pending_tasks(&self, instance_id: &str) -> Result<Vec<PendingTask>, ExecutorError> {
        let (id, now) = (instance_id.to_string(), self.engine.clock.now());
        Ok(self.engine.store.call(move |store| store.pending_tasks(&id, now)).await?)
    }

    /// An orchestration instance's row (an entity's id is refused: see [`Host::entity`]).
    pub async fn instance(&self, instance_id: &str) -> Result<InstanceRecord, ExecutorError> {
        if is_entity_instance(instance_id) {
            return Err(ExecutorError::NotAnOrchestration(instance_id.to_string()));
        }
        let id = instance_id.to_string();
        self.engine
            .store
            .call(move |store| store.instance(&id))
            .await?
            .ok_or_else(|| ExecutorError::InstanceNotFound(instance_id.to_string()))
    }

    /// Waits until the instance reaches a terminal status (the workers must be running) and
    /// returns its row.
    pub async fn wait(&self, instance_id: &str) -> Result<InstanceRecord, ExecutorError> {
        let watch = self.engine.watchers.watch(instance_id);
        loop {
            let changed = watch.changed.notified();
            let record = self.instance(instance_id).await?;
            if record.status.is_terminal() {
                return Ok(record);
            }
            // The commit that finishes it here wakes us at once; the timeout covers other
            // processes.
            let _ = tokio::time::timeout(self.engine.config.poll_interval, changed).await;
        }
    }

    /// Raises an external event on an instance; it is buffered until the orchestrator waits for
    /// it.
    pub async fn raise_event(&self, instance_id: &str, name: &str, data: &str) -> Result<(), ExecutorError> {
        let data = self.payload(data.to_string())?;
        self.send(instance_id, Message::EventRaised { name: name.to_string(), data }).await
    }

    /// Terminates an instance: it ends at once with status Terminated, whatever it is waiting for.
    /// With `cascade`, its running sub-orchestrations (and theirs) are terminated too, by the
    /// episode that terminates it (so a child it is starting at this very moment is not missed);
    /// otherwise they run on, and their results are dropped.
    pub async fn terminate(&self, instance_id: &str, reason: &str, cascade: bool) -> Result<(), ExecutorError> {
        self.send(instance_id, Message::Terminate { reason: reason.to_string(), cascade }).await
    }

    /// Suspends an instance: it keeps its messages and makes no progress until resumed.
    pub async fn suspend(&self, instance_id: &str, reason: &str) -> Result<(), ExecutorError> {
        self.send(instance_id, Message::Suspend { reason: reason.to_string() }).await
    }

    /// Resumes a suspended instance.
    pub async fn resume(&self, instance_id: &str, reason: &str) -> Result<(), ExecutorError> {
        self.send(instance_id, Message::Resume { reason: reason.to_string() }).await
    }

    /// A client's payload, checked against the host's limit.
    fn payload(&self, text: String) -> Result<Payload, ExecutorError> {
        Ok(Payload::parse(text, self.engine.config.max_payload_bytes)?)
    }

    async fn send(&self, instance_id: &str, message: Message) -> Result<(), ExecutorError> {
        if is_entity_instance(instance_id) {
            return Err(ExecutorError::NotAnOrchestration(instance_id.to_string()));
        }
        let (id, now) = (instance_id.to_string(), self.engine.clock.now());
        self.engine.store.call(move |store| store.enqueue_message(&id, &message, now, now)).await?;
        self.engine.scheduler.wake(instance_id);
        Ok(())
    }

    /// Sends `operation` with `input` to an entity, one way (a client's signal). The entity is
    /// created by its first operation; its type must be exported by a loaded component (or one
    /// recorded in the store). The operation runs after those already queued for the entity.
    pub async fn signal_entity(&self, entity: &EntityId, operation: &str, input: &str) -> Result<(), ExecutorError> {
        entity.validate()?;
        let input = self.payload(input.to_string())?;
        self.check_entity_type(&entity.name).await?;
        let operation =
            EntityOperation { operation: operation.to_string(), input, caller: None, in_critical_section: false };
        let (address, now) = (entity.clone(), self.engine.clock.now());
        self.engine.store.call(move |store| store.signal_entity(&address, &operation, now, now)).await?;
        self.engine.scheduler.wake(&entity.instance_id());
        Ok(())
    }

    /// An entity's state and queue, if it exists.
    pub async fn entity(&self, entity: &EntityId) -> Result<Option<EntityRecord>, ExecutorError> {
        entity.validate()?;
        let entity = entity.clone();
        Ok(self.engine.store.call(move |store| store.entity(&entity)).await?)
    }

    /// Whether the entity's next batch waits for its name's flow limit in this host
    /// ([`ExecutorConfig::entity_flow`]): it has operations queued, and the scheduler holds it.
    pub fn entity_throttled(&self, record: &EntityRecord) -> bool {
        record.queued > 0 && self.engine.scheduler.is_throttled(&record.entity.instance_id())
    }

    /// The entities matching `filter`, by name then key.
    pub async fn entities(&self, filter: EntityFilter) -> Result<Vec<EntityRecord>, ExecutorError> {
        Ok(self.engine.store.call(move |store| store.list_entities(&filter)).await?)
    }

    /// Waits until the entity has run every operation queued for it when this is called (and
    /// any queued since), then returns it (the workers must be running). `None` if it does not
    /// exist (or was deleted by its last operation).
    pub async fn wait_entity_idle(&self, entity: &EntityId) -> Result<Option<EntityRecord>, ExecutorError> {
        let watch = self.engine.watchers.watch(&entity.instance_id());
        loop {
            let changed = watch.changed.notified();
            match self.entity(entity).await? {
                Some(record) if record.queued > 0 => {}
                other => return Ok(other),
            }
            let _ = tokio::time::timeout(self.engine.config.poll_interval, changed).await;
        }
    }

    async fn check_entity_type(&self, name: &str) -> Result<(), ExecutorError> {
        match self.registry.missing(Export::Entity, name).await? {
            None => Ok(()),
            Some(known) => {
                let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                Err(ExecutorError::UnknownEntity { name: name.to_string(), known })
            }
        }
    }

    /// Deletes finished instances (and their histories) that match `filter`; returns how many.
    pub async fn purge(&self, filter: PurgeFilter) -> Result<usize, ExecutorError> {
        if let Some(id) = filter.instance_id.as_deref().filter(|id| is_entity_instance(id)) {
            return Err(ExecutorError::NotAnOrchestration(id.to_string()));
        }
        Ok(self.engine.store.call(move |store| store.purge(&filter)).await?)
    }

    /// Now, on the host's clock.
    pub fn now(&self) -> reprise_core::Timestamp {
        self.engine.clock.now()
    }

    /// The host's metrics, for the parts outside the executor that count too (the HTTP API).
    pub fn metrics(&self) -> &Metrics {
        &self.engine.metrics
    }

    /// The host's metrics in Prometheus's text format, read now. A store that cannot be read
    /// leaves its counts out of this scrape (logged), rather than failing it.
    pub async fn render_metrics(&self) -> String {
        let now = self.engine.clock.now();
        let counts = match self.engine.store.call(move |store| store.counts(now)).await {
            Ok(counts) => Some(counts),
            Err(error) => {
                tracing::warn!("cannot count the store's instances for the metrics: {error}");
                None
            }
        };
        let cache = &self.engine.episodes.cache;
        let reading = metrics::Now {
            cache_len: cache.len(),
            cache: cache.counts(),
            writes: self.engine.store.store.writer_stats(),
            store: counts,
            entities: self.engine.scheduler.entity_throttles(),
        };
        self.engine.metrics.render(reading)
    }

    /// Parked instances in the cache (the hot path).
    pub fn cached_instances(&self) -> usize {
        self.engine.episodes.cache.len()
    }

    /// The shared store.
    pub fn store(&self) -> Arc<dyn HistoryStore> {
        self.engine.store.store.clone()
    }

    /// Resolves at the next commit this host makes, of any instance, after the call (not after
    /// the first poll): for tools and tests that follow an instance's progress without polling
    /// the store. Check what you wait for after calling it, then await it.
    pub fn next_commit(&self) -> impl std::future::Future<Output = ()> + Send + '_ {
        self.engine.watchers.any_commit()
    }

    /// Resolves once this process has nothing left to do now: after the call, each worker
    /// polled the store (the schedule worker firing the slots due on the clock) while no episode
    /// or activity attempt ran, found nothing to start, and no woken instance waits for a slot. Work due later on the clock (a timer not yet
    /// due) does not count. For absence checks ("this changes nothing") that would otherwise
    /// sleep and hope; it waits forever while the store takes no writes (the workers do not
    /// poll then) or while an attempt never ends, so bound it with a timeout.
    pub async fn settled(&self) {
        let engine = &self.engine;
        loop {
            engine.in_flight.none().await;
            // Settled only after a whole round of polls during which nothing ran: work that
            // ended during the round may have left more behind it (an episode that schedules a
            // task it does not run asks the dispatcher for a poll as it ends), after the poll
            // that would have found it.
            let started = engine.in_flight.started();
            engine.schedules.trigger.fresh_poll().await;
            engine.scheduler.trigger.fresh_poll().await;
            engine.activities.trigger.fresh_poll().await;
            let quiet = engine.in_flight.count() == 0 && engine.in_flight.started() == started;
            if quiet && !engine.scheduler.has_queued() {
                return;
            }
        }
    }
}
