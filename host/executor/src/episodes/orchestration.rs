//! An orchestration's episode: triage of its messages, the hot path (a parked orchestrator) or
//! the cold path (a fresh one replaying its history), the wait for it to block or finish, and
//! the commit the planner decides.

use super::{EpisodeRunner, Step};
use crate::error::ExecutorError;
use crate::session::LiveInstance;
use reprise_core::failure::error_types;
use reprise_core::plan::episode::{Claims, Episode, Facts, Instance};
use reprise_core::plan::lifecycle::{self, Guestless};
use reprise_core::plan::triage::{Triage, triage};
use reprise_core::plan::{self, AfterCommit};
use reprise_core::replay::Replayer;
use reprise_core::{EntityId, Event, Failure, Message, ParentRef, RuntimeStatus, Timestamp};
use reprise_runtime::{Delivery, Yield};
use reprise_store::{EpisodeStart, InboxMessage, InstanceRecord, StoreError};

impl EpisodeRunner {
    /// The episode proper, with the lock held.
    pub(super) async fn orchestration(&self, start: EpisodeStart, now: Timestamp) -> Result<Step, StoreError> {
        let EpisodeStart { instance, messages } = start;
        let delivered: Vec<&Message> = messages.iter().map(|m| &m.message).collect();
        match triage(instance.status, instance.history_len, &delivered) {
            Triage::Finished => Ok(Step::Skipped),
            Triage::Idle => Ok(Step::Idle),
            Triage::NotStarted => Ok(Step::NotReady),
            Triage::Lifecycle { more } => {
                self.cache.evict(&instance.instance_id);
                let pairs: Vec<(i64, &Message)> = messages.iter().map(|m| (m.id, &m.message)).collect();
                let episode = lifecycle::lifecycle(instance.status, instance.history_len, &pairs, now);
                let mut step = self.commit_guestless(&instance, episode).await?;
                if let Step::Committed(after, _) = &mut step
                    && more
                {
                    // The other messages wait in the inbox for the next episode: run it next.
                    after.push(AfterCommit::Wake { instance_id: instance.instance_id.clone(), at: now });
                }
                Ok(step)
            }
            Triage::Run { audit_only } => {
                let instance = self.upgrade_if_compatible(instance).await?;
                let consumed: Vec<i64> = messages.iter().map(|m| m.id).collect();
                let started = std::time::Instant::now();
                let (live, pin, cold) = match self.hot(&instance, &messages, now) {
                    Some(live) => (live, None, false),
                    // Retry records change nothing the orchestrator can see: record them
                    // without replaying it.
                    None if audit_only => {
                        let pairs: Vec<(i64, &Message)> = messages.iter().map(|m| (m.id, &m.message)).collect();
                        let episode = lifecycle::audit(instance.status, instance.history_len, &pairs, now);
                        return self.commit_guestless(&instance, episode).await;
                    }
                    None => match self.cold(&instance, messages, now).await? {
                        Ok((live, pin)) => (live, pin, true),
                        Err(failure) => {
                            let episode = lifecycle::failed_without_guest(
                                (&instance.name, &instance.input),
                                instance.history_len,
                                consumed,
                                failure,
                                now,
                            );
                            return self.commit_guestless(&instance, episode).await;
                        }
                    },
                };
                let step = self.finish(&instance, live, consumed, pin).await;
                if cold {
                    self.metrics.replay(started.elapsed());
                }
                step
            }
        }
    }

    /// Waits for the orchestrator to end its episode, and commits it.
    async fn finish(
        &self,
        instance: &InstanceRecord,
        mut live: LiveInstance,
        consumed: Vec<i64>,
        pin: Option<String>,
    ) -> Result<Step, StoreError> {
        let instance_id = instance.instance_id.as_str();
        // Real time: a watchdog on the guest, not part of the instance's logical time.
        let yielded = match tokio::time::timeout(self.config.episode_timeout, live.next_yield()).await {
            Ok(Some(yielded)) => yielded,
            Ok(None) => {
                // The guest could not be instantiated (the host is out of memory or mappings,
                // most likely because of the instances parked here) or its task died: free a
                // quarter of the parked instances, and try this one again after a back-off.
                let freed = self.cache.make_room();
                tracing::warn!(
                    instance = %instance_id,
                    "the orchestrator's task ended without finishing its episode; evicted {freed} parked instance(s)"
                );
                return Ok(Step::NotReady);
            }
            Err(_) if live.replayer.lock().unwrap_or_else(|e| e.into_inner()).is_replaying() => {
                // A long replay is not the orchestrator's fault: try again later rather than fail it.
                tracing::warn!(instance = %instance_id, "the replay did not finish within the episode timeout");
                return Ok(Step::NotReady);
            }
            Err(_) => {
                let failure = Failure::new(
                    error_types::GUEST_TRAPPED,
                    format!(
                        "the episode did not finish within {:?}: the orchestrator is blocked outside the host's durable \
                         waits (sleeping, or polling a WASI stream) or its replay is too long",
                        self.config.episode_timeout
                    ),
                );
                let replayer = live.replayer.clone();
                drop(live);
                let yielded = {
                    let mut replayer = replayer.lock().unwrap_or_else(|e| e.into_inner());
                    replayer.abort(failure);
                    Yield { output: replayer.take_output(), custom_status: replayer.custom_status().cloned() }
                };
                return self.commit(instance, None, consumed, yielded, pin, None).await;
            }
        };
        self.commit(instance, Some(live), consumed, yielded, pin, None).await
    }

    /// The hot path: the instance's orchestrator is parked in the cache, in step with the store.
    fn hot(&self, instance: &InstanceRecord, messages: &[InboxMessage], now: Timestamp) -> Option<LiveInstance> {
        let live = self.cache.take(&instance.instance_id)?;
        if live.execution != instance.execution
            || live.history_len() != instance.history_len
            || live.created_at != instance.created_at
        {
            // Another host moved the instance on while it was parked here, or purged it and
            // created another under the same id.
            self.cache.stale();
            return None;
        }
        let delivery = Delivery { time: now, messages: messages.iter().map(|m| m.message.clone()).collect() };
        if !live.deliver(delivery) {
            self.cache.stale();
            return None;
        }
        Some(live)
    }

    /// The cold path: a fresh instance of the pinned component, replaying the history. The inner
    /// `Err` is a failure that ends the instance without running any guest code.
    async fn cold(
        &self,
        instance: &InstanceRecord,
        messages: Vec<InboxMessage>,
        now: Timestamp,
    ) -> Result<Result<(LiveInstance, Option<String>), Failure>, StoreError> {
        let (hash, pin) = match &instance.component {
            Some(hash) => (hash.clone(), None),
            None => match self.orchestrator_component(&instance.name).await? {
                Some(hash) => (hash.clone(), Some(hash)),
                None => {
                    return Ok(Err(Failure::new(
                        error_types::ORCHESTRATOR_NOT_FOUND,
                        format!(
                            "no loaded component exports an orchestrator named '{}'; load one with --component",
                            instance.name
                        ),
                    )));
                }
            },
        };
        let component = match self.registry.pinned(&hash).await {
            Ok(Some(component)) => component,
            Ok(None) => {
                return Ok(Err(Failure::new(
                    error_types::COMPONENT_UNAVAILABLE,
                    format!("the component this instance is pinned to ({hash}) is not in the store"),
                )));
            }
            // A store hiccup is retried; a component that no longer compiles is final.
            Err(ExecutorError::Store(error)) => return Err(error),
            Err(error) => {
                return Ok(Err(Failure::new(
                    error_types::COMPONENT_UNAVAILABLE,
                    format!("the component this instance is pinned to ({hash}) cannot be loaded: {error}"),
                )));
            }
        };
        let history = if instance.history_len > 0 {
            let (id, execution) = (instance.instance_id.clone(), instance.execution);
            self.store.call(move |store| store.history(&id, execution)).await?
        } else {
            Vec::new()
        };
        let mut replayer = match Replayer::new(instance.instance_id.clone(), instance.execution, hash, history) {
            Ok(replayer) => replayer.with_limits(self.config.history_limits),
            Err(error) => {
                return Ok(Err(Failure::new(error_types::GUEST_TRAPPED, error.to_string())));
            }
        };
        replayer.deliver(now, messages.into_iter().map(|m| m.message).collect());
        let live = LiveInstance::start(
            self.runtime.clone(),
            component,
            instance.instance_id.clone(),
            (instance.execution, instance.created_at),
            replayer,
            self.config.max_payload_bytes,
        );
        Ok(Ok((live, pin)))
    }

    /// The hash of the component that serves orchestrator `name`: the one loaded in this
    /// process, or else the newest one the store knows (loaded by another process sharing the
    /// database).
    async fn orchestrator_component(&self, name: &str) -> Result<Option<String>, StoreError> {
        if let Some(hash) = self.registry.orchestrator(name) {
            return Ok(Some(hash));
        }
        let components = self.store.call(|store| store.components()).await?;
        Ok(components.into_iter().find(|c| c.orchestrators.iter().any(|o| o == name)).map(|c| c.hash))
    }

    /// Commits an episode the host wrote without the orchestrator.
    async fn commit_guestless(&self, instance: &InstanceRecord, episode: Guestless) -> Result<Step, StoreError> {
        let Guestless { output, consumed, status } = episode;
        let yielded = Yield { output, custom_status: instance.custom_status.clone() };
        self.commit(instance, None, consumed, yielded, None, status).await
    }

    /// Reads the facts the planner needs for the episode, asks it for the commit, writes it,
    /// and parks the orchestrator if it runs on. `status` overrides the status an
    /// orchestrator's end would give (a lifecycle episode).
    async fn commit(
        &self,
        instance: &InstanceRecord,
        live: Option<LiveInstance>,
        consumed: Vec<i64>,
        yielded: Yield,
        pin: Option<String>,
        status: Option<(RuntimeStatus, Option<Failure>)>,
    ) -> Result<Step, StoreError> {
        let Yield { output, custom_status } = yielded;
        let now = self.clock.now();
        let new_tasks = match (&output.terminal, &status) {
            (None, None) => output.events.iter().filter(|e| matches!(e.event, Event::ActivityScheduled { .. })).count(),
            _ => 0,
        };
        let episode = Episode {
            instance: Instance {
                id: &instance.instance_id,
                execution: instance.execution,
                input: &instance.input,
                parent: instance.parent.as_ref(),
            },
            owner: &self.config.owner,
            now,
            output,
            custom_status,
            consumed,
            pin,
            status,
        };
        let needs = plan::episode::needs(&episode);
        let mut facts = Facts::default();
        if needs.parent
            && let Some(parent) = &instance.parent
        {
            facts.parent_awaits = self.parent_awaits(parent).await?;
        }
        if needs.children {
            let id = instance.instance_id.clone();
            facts.children = self.store.call(move |store| store.children(&id)).await?;
        }
        if needs.locks {
            facts.locks_held = match &live {
                Some(live) => live.replayer.lock().unwrap_or_else(|e| e.into_inner()).locks_to_release(),
                None => self.locks_in_history(instance, &episode.output.events).await?,
            };
        }
        // The slots first: the tasks the commit claims for this host must have one each.
        let mut permits = self.slots.take(new_tasks);
        let registry = &self.registry;
        let runs_here = |name: &str| registry.activity(name).is_some();
        let lease_until = now + self.config.activity_lease.as_millis() as u64;
        let claims = Claims { slots: permits.len(), lease_until, runs_here: &runs_here, flow: &self.config.flow };
        let planned = plan::episode::plan(episode, facts, claims);
        permits.truncate(planned.after.iter().filter(|a| matches!(a, AfterCommit::Run(_))).count());

        let ended = planned.commit.status;
        let retries = planned
            .commit
            .outgoing
            .iter()
            .filter(|m| matches!(m.message, Message::SubOrchestrationRetrying { .. }))
            .count();
        match self.store.submit(|store, done| store.commit_episode_then(planned.commit, done)).await {
            Ok(()) => {
                self.metrics.sub_orchestration_retries(retries);
                if ended.is_terminal() || ended == RuntimeStatus::ContinuedAsNew {
                    let execution = (instance.instance_id.as_str(), instance.execution, instance.name.as_str());
                    crate::telemetry::execution_ended(execution, instance.created_at, ended, now);
                }
            }
            Err(StoreError::Conflict { reason, .. }) => {
                tracing::warn!(instance = %instance.instance_id, "episode discarded, the instance moved on: {reason}");
                return Ok(Step::Skipped);
            }
            Err(error) => return Err(error),
        }
        let mut after = Vec::with_capacity(planned.after.len());
        let mut live = live;
        for action in planned.after {
            match action {
                AfterCommit::Park => {
                    if let Some(live) = live.take() {
                        self.cache.park(instance.instance_id.clone(), live);
                    }
                }
                AfterCommit::Failed(failure) => {
                    tracing::warn!(instance = %instance.instance_id, "instance failed: {failure}");
                }
                other => after.push(other),
            }
        }
        Ok(Step::Committed(after, permits))
    }

    /// Whether the parent still runs the execution that started this child: a parent that
    /// continued as new (or finished) no longer has the task, and the result is dropped.
    async fn parent_awaits(&self, parent: &ParentRef) -> Result<bool, StoreError> {
        let id = parent.instance_id.clone();
        let record = self.store.call(move |store| store.instance(&id)).await?;
        Ok(record.is_some_and(|p| p.execution == parent.execution && !p.status.is_terminal()))
    }

    /// The locks an execution that ends without its orchestrator (terminated, or failed by the
    /// host) holds or has asked for, from its recorded history and the episode's new events.
    async fn locks_in_history(
        &self,
        instance: &InstanceRecord,
        new_events: &[reprise_core::HistoryEvent],
    ) -> Result<Vec<EntityId>, StoreError> {
        let recorded = if instance.history_len > 0 {
            let (id, execution) = (instance.instance_id.clone(), instance.execution);
            self.store.call(move |store| store.history(&id, execution)).await?
        } else {
            Vec::new()
        };
        Ok(reprise_core::locks_held_after(recorded.iter().chain(new_events).map(|e| &e.event)))
    }
}
