//! Updates sent by clients to running instances: the validator's verdict before anything is
//! recorded, the request's write, and the wait for the orchestrator's answer (see
//! `reprise_core::update`). What an update does to the orchestrator is the replay engine's
//! business; this module only writes the request and reads the answer.

use super::Host;
use crate::error::ExecutorError;
use reprise_core::{Failure, RuntimeStatus, is_entity_instance};
use reprise_runtime::UpdateCheck;
use reprise_store::{NewUpdate, UpdateRecord};
use std::time::Duration;

/// A client's update for an instance.
#[derive(Debug, Clone)]
pub struct UpdateRequest {
    /// The instance it is for.
    pub instance_id: String,
    /// The update's name, which the orchestrator waits for.
    pub name: String,
    /// Its JSON input, as the caller gave it.
    pub input: String,
    /// Its id: the caller's, so that sending it again finds it instead of sending it twice; a
    /// new UUID if `None`.
    pub update_id: Option<String>,
    /// How long to wait for the answer; `Duration::ZERO` returns once the update is recorded.
    pub wait: Duration,
}

/// Where an update stands, as its caller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateState {
    /// Recorded, not answered yet.
    Pending,
    /// Answered by the orchestrator (with an output or a failure).
    Answered,
    /// The execution it was sent to ended without answering it (finished, or continued as new):
    /// it never will be.
    Unanswered {
        /// The instance's status now.
        status: RuntimeStatus,
    },
}

/// An update's record and where it stands.
#[derive(Debug, Clone)]
pub struct UpdateStatus {
    /// The record (its answer, once given).
    pub record: UpdateRecord,
    /// Where it stands.
    pub state: UpdateState,
}

impl Host {
    /// Sends an update to a running instance and waits up to `request.wait` for its answer.
    ///
    /// The instance's validator (the `update-validators` export of the component it is pinned
    /// to) is asked first: a refusal is [`ExecutorError::UpdateRefused`], and nothing is
    /// recorded. An update sent again under the same id is neither validated nor sent again:
    /// its record is read (and waited for) instead. The wait is woken by the commit that
    /// answers it; updates answered by another process are seen within the poll interval.
    pub async fn update(&self, request: UpdateRequest) -> Result<UpdateStatus, ExecutorError> {
        let UpdateRequest { instance_id, name, input, update_id, wait } = request;
        if is_entity_instance(&instance_id) {
            return Err(ExecutorError::NotAnOrchestration(instance_id));
        }
        let update_id = match update_id {
            Some(id) => {
                reprise_core::update::check_update_id(&id)?;
                id
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let input = self.payload(input)?;
        let known = self.update_record(&instance_id, &update_id).await?;
        if known.is_none() {
            let record = self.instance(&instance_id).await?;
            if !record.status.is_terminal()
                && let Err(failure) = self.validate(&record, &name, input.as_str()).await?
            {
                return Err(ExecutorError::UpdateRefused { instance_id, name, failure: Box::new(failure) });
            }
        }
        let update = NewUpdate { update_id: update_id.clone(), name, input };
        let (id, now) = (instance_id.clone(), self.engine.clock.now());
        let (_, sent) = self.engine.store.call(move |store| store.request_update(&id, &update, now)).await?;
        if sent {
            self.engine.scheduler.wake(&instance_id);
        }
        self.wait_for_answer(&instance_id, &update_id, wait).await
    }

    /// Where an update stands, waiting up to `wait` for its answer (`Duration::ZERO`: not at
    /// all). [`ExecutorError::UpdateNotFound`] if the instance has no update of that id.
    pub async fn update_status(
        &self,
        instance_id: &str,
        update_id: &str,
        wait: Duration,
    ) -> Result<UpdateStatus, ExecutorError> {
        self.wait_for_answer(instance_id, update_id, wait).await
    }

    async fn wait_for_answer(
        &self,
        instance_id: &str,
        update_id: &str,
        wait: Duration,
    ) -> Result<UpdateStatus, ExecutorError> {
        let deadline = tokio::time::Instant::now() + wait;
        let watch = self.engine.watchers.watch(instance_id);
        loop {
            let changed = watch.changed.notified();
            let status = self.read_update(instance_id, update_id).await?;
            let now = tokio::time::Instant::now();
            if status.state != UpdateState::Pending || now >= deadline {
                return Ok(status);
            }
            // The commit that answers it (or ends the instance) here wakes us at once; the
            // timeout covers other processes.
            let nap = self.engine.config.poll_interval.min(deadline - now);
            let _ = tokio::time::timeout(nap, changed).await;
        }
    }

    /// The update's record and state, read now.
    async fn read_update(&self, instance_id: &str, update_id: &str) -> Result<UpdateStatus, ExecutorError> {
        let Some(record) = self.update_record(instance_id, update_id).await? else {
            return Err(ExecutorError::UpdateNotFound {
                instance_id: instance_id.to_string(),
                update_id: update_id.to_string(),
            });
        };
        if record.reply.is_some() {
            return Ok(UpdateStatus { record, state: UpdateState::Answered });
        }
        let instance = self.instance(instance_id).await?;
        let ended = instance.status.is_terminal() || instance.execution > record.execution;
        let state = if ended { UpdateState::Unanswered { status: instance.status } } else { UpdateState::Pending };
        Ok(UpdateStatus { record, state })
    }

    async fn update_record(&self, instance_id: &str, update_id: &str) -> Result<Option<UpdateRecord>, ExecutorError> {
        let (id, update) = (instance_id.to_string(), update_id.to_string());
        Ok(self.engine.store.call(move |store| store.update(&id, &update)).await?)
    }

    /// The verdict of the instance's validator on an update: the component it is pinned to, or
    /// (before its first episode pins one) the loaded component that serves its orchestrator.
    /// With neither in reach, nothing can validate, and the update is accepted.
    async fn validate(
        &self,
        record: &reprise_store::InstanceRecord,
        name: &str,
        input: &str,
    ) -> Result<Result<(), Failure>, ExecutorError> {
        let hash = record.component.clone().or_else(|| self.registry.orchestrator(&record.name));
        let Some(hash) = hash else {
            tracing::debug!(instance = %record.instance_id, "no component to validate update '{name}' with; accepted");
            return Ok(Ok(()));
        };
        let Some(component) = self.registry.pinned(&hash).await? else {
            return Err(ExecutorError::UnknownComponent(hash));
        };
        let check = UpdateCheck {
            orchestrator: &record.name,
            update: name,
            input,
            custom_status: record.custom_status.as_ref().map(|status| status.as_str()),
            now_ms: self.engine.clock.now(),
        };
        match self.registry.runtime().validate_update(&component, check).await {
            Ok(verdict) => Ok(verdict),
            // A validator that cannot run refuses: the caller hears why, and nothing is recorded.
            Err(error) => Ok(Err(Failure::new(reprise_core::failure::error_types::GUEST_TRAPPED, error.to_string()))),
        }
    }
}
