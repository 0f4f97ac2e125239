//! [`Host`]: the executor's public face. It loads components, starts instances, runs the workers
//! and waits for instances to finish.

use crate::activities::activity_worker;
use crate::cache::InstanceCache;
use crate::clock::Clock;
use crate::config::ExecutorConfig;
use crate::error::ExecutorError;
use crate::orchestrations::{Backoff, orchestration_worker};
use crate::registry::{ComponentSummary, Export, Registry};
use crate::store_access::StoreAccess;
use crate::wakeups::{ReadyQueue, Trigger, Watchers};
use reprise_core::{EntityId, EntityOperation, InstanceId, Message, Payload, Timestamp, is_entity_instance};
use reprise_runtime::Runtime;
use reprise_store::{EntityFilter, EntityRecord, HistoryStore, InstanceRecord, NewInstance, PurgeFilter};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

/// What the host shares with its workers and episodes.
pub(crate) struct Inner {
    pub(crate) store: StoreAccess,
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: ExecutorConfig,
    pub(crate) registry: Registry,
    pub(crate) cache: InstanceCache,
    /// Instances woken by this process, and the episodes running.
    pub(crate) ready: ReadyQueue,
    /// Instances whose last episode could not run, and until when they wait.
    pub(crate) backoff: Backoff,
    /// Wakes the orchestration worker.
    pub(crate) orchestration_trigger: Trigger,
    /// Wakes the activity dispatcher.
    pub(crate) activity_trigger: Trigger,
    /// The activity attempts that may run at once, shared by the dispatcher's claims and the
    /// episodes that claim the tasks they schedule.
    pub(crate) activity_slots: Arc<Semaphore>,
    /// Clients waiting for an instance to change.
    pub(crate) watchers: Watchers,
}

impl Inner {
    /// Tells the orchestration worker that `instance_id` has new work (committed already).
    pub(crate) fn wake_instance(&self, instance_id: &str) {
        self.ready.wake(instance_id);
        self.orchestration_trigger.nudge();
    }

    /// Tells the workers of messages committed for instances: those visible at `now` wake their
    /// instance, the others make the worker poll when they become due.
    pub(crate) fn announce<'a>(&self, messages: impl IntoIterator<Item = (&'a str, Timestamp)>, now: Timestamp) {
        for (instance_id, visible_at) in messages {
            if visible_at <= now {
                self.wake_instance(instance_id);
            } else {
                self.orchestration_trigger.due_at(visible_at);
            }
        }
    }
}

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
    inner: Arc<Inner>,
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
        let activity_slots = Arc::new(Semaphore::new(config.activity_concurrency));
        let inner = Inner {
            registry: Registry::new(runtime.clone(), store.clone()),
            cache: InstanceCache::new(config.cache_capacity, config.cache_idle),
            store,
            runtime,
            clock,
            config,
            ready: ReadyQueue::default(),
            backoff: Backoff::default(),
            orchestration_trigger: Trigger::new(),
            activity_trigger: Trigger::new(),
            activity_slots,
            watchers: Watchers::default(),
        };
        Host { inner: Arc::new(inner) }
    }

    /// Loads a component from a file and records it in the store.
    pub async fn load_component_file(&self, path: &Path) -> Result<ComponentSummary, ExecutorError> {
        let read_error = |source| ExecutorError::ReadComponent { path: path.display().to_string(), source };
        let size = tokio::fs::metadata(path).await.map_err(read_error)?.len();
        self.inner.runtime.check_component_size(size, &path.display().to_string())?;
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|source| ExecutorError::ReadComponent { path: path.display().to_string(), source })?;
        self.load_component(bytes, &path.display().to_string()).await
    }

    /// Loads a component from bytes and records it in the store.
    pub async fn load_component(&self, bytes: Vec<u8>, source: &str) -> Result<ComponentSummary, ExecutorError> {
        self.inner.registry.load(bytes, source, self.inner.clock.now()).await
    }

    /// Creates an instance of a loaded orchestrator (or one a component recorded in the store
    /// exports) and returns its id.
    pub async fn start(&self, request: StartRequest) -> Result<InstanceId, ExecutorError> {
        let input = self.payload(request.input)?;
        if let Some(known) = self.inner.registry.missing(Export::Orchestrator, &request.orchestrator).await? {
            let known = if known.is_empty() { "none (no component loaded)".to_string() } else { known.join(", ") };
            return Err(ExecutorError::UnknownOrchestrator { name: request.orchestrator, known });
        }
        let instance_id = request.instance_id.unwrap_or_else(InstanceId::generate);
        let new = NewInstance {
            instance_id: instance_id.clone(),
            name: request.orchestrator,
            input,
            created_at: self.inner.clock.now(),
            parent: None,
        };
        self.inner.store.call(move |store| store.create_instance(&new)).await?;
        self.inner.wake_instance(instance_id.as_str());
        Ok(instance_id)
    }

    /// Starts the orchestration worker and the activity dispatcher.
    pub fn spawn_workers(&self) -> Workers {
        let (shutdown, receiver) = watch::channel(false);
        let handles = vec![
            tokio::spawn(orchestration_worker(self.inner.clone(), receiver.clone())),
            tokio::spawn(activity_worker(self.inner.clone(), receiver)),
        ];
        Workers { shutdown, handles }
    }

    /// An orchestration instance's row (an entity's id is refused: see [`Host::entity`]).
    pub async fn instance(&self, instance_id: &str) -> Result<InstanceRecord, ExecutorError> {
        if is_entity_instance(instance_id) {
            return Err(ExecutorError::NotAnOrchestration(instance_id.to_string()));
        }
        let id = instance_id.to_string();
        self.inner
            .store
            .call(move |store| store.instance(&id))
            .await?
            .ok_or_else(|| ExecutorError::InstanceNotFound(instance_id.to_string()))
    }

    /// Waits until the instance reaches a terminal status (the workers must be running) and
    /// returns its row.
    pub async fn wait(&self, instance_id: &str) -> Result<InstanceRecord, ExecutorError> {
        let watch = self.inner.watchers.watch(instance_id);
        loop {
            let changed = watch.changed.notified();
            let record = self.instance(instance_id).await?;
            if record.status.is_terminal() {
                return Ok(record);
            }
            // The commit that finishes it here wakes us at once; the timeout covers other
            // processes.
            let _ = tokio::time::timeout(self.inner.config.poll_interval, changed).await;
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
        Ok(Payload::parse(text, self.inner.config.max_payload_bytes)?)
    }

    async fn send(&self, instance_id: &str, message: Message) -> Result<(), ExecutorError> {
        if is_entity_instance(instance_id) {
            return Err(ExecutorError::NotAnOrchestration(instance_id.to_string()));
        }
        let (id, now) = (instance_id.to_string(), self.inner.clock.now());
        self.inner.store.call(move |store| store.enqueue_message(&id, &message, now, now)).await?;
        self.inner.wake_instance(instance_id);
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
        let (address, now) = (entity.clone(), self.inner.clock.now());
        self.inner.store.call(move |store| store.signal_entity(&address, &operation, now, now)).await?;
        self.inner.wake_instance(&entity.instance_id());
        Ok(())
    }

    /// An entity's state and queue, if it exists.
    pub async fn entity(&self, entity: &EntityId) -> Result<Option<EntityRecord>, ExecutorError> {
        entity.validate()?;
        let entity = entity.clone();
        Ok(self.inner.store.call(move |store| store.entity(&entity)).await?)
    }

    /// The entities matching `filter`, by name then key.
    pub async fn entities(&self, filter: EntityFilter) -> Result<Vec<EntityRecord>, ExecutorError> {
        Ok(self.inner.store.call(move |store| store.list_entities(&filter)).await?)
    }

    /// Waits until the entity has run every operation queued for it when this is called (and
    /// any queued since), then returns it (the workers must be running). `None` if it does not
    /// exist (or was deleted by its last operation).
    pub async fn wait_entity_idle(&self, entity: &EntityId) -> Result<Option<EntityRecord>, ExecutorError> {
        let watch = self.inner.watchers.watch(&entity.instance_id());
        loop {
            let changed = watch.changed.notified();
            match self.entity(entity).await? {
                Some(record) if record.queued > 0 => {}
                other => return Ok(other),
            }
            let _ = tokio::time::timeout(self.inner.config.poll_interval, changed).await;
        }
    }

    async fn check_entity_type(&self, name: &str) -> Result<(), ExecutorError> {
        match self.inner.registry.missing(Export::Entity, name).await? {
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
        Ok(self.inner.store.call(move |store| store.purge(&filter)).await?)
    }

    /// Parked instances in the cache (the hot path).
    pub fn cached_instances(&self) -> usize {
        self.inner.cache.len()
    }

    /// The shared store.
    pub fn store(&self) -> Arc<dyn HistoryStore> {
        self.inner.store.store.clone()
    }
}
