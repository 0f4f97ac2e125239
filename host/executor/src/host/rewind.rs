//! The operator's rewind and restart, as [`Host`] offers them: reads the facts the planner
//! (`reprise_core::plan::rewind`) needs, walking down to the failed children a rewind takes with
//! it, has the store write the whole rewind in one transaction, and wakes what it wrote to.

use super::Host;
use crate::error::ExecutorError;
use reprise_core::plan::RewindCommit;
use reprise_core::plan::rewind::{self, Analysis, ChildAction, ChildFacts, ChildTask};
use reprise_core::{InstanceId, RuntimeStatus, Timestamp, is_entity_instance};
use reprise_store::{InstanceRecord, NewInstance, StoreError};
use std::collections::HashSet;

impl Host {
    /// Rewinds a Failed instance to before its failure: the activities and sub-orchestrations
    /// whose failures made it fail run again (a failed child is rewound too, under its own id;
    /// one that cannot be, or was terminated or purged, starts again), what succeeded is kept,
    /// and everything it still waited for is put back in flight (activities enqueued again,
    /// timers set again at their fire time). Its next episode records the rewind in its history.
    /// A refusal ([`ExecutorError::Rewind`]) changes nothing.
    pub async fn rewind(&self, instance_id: &str, reason: &str) -> Result<(), ExecutorError> {
        let root = self.instance(instance_id).await?;
        let now = self.engine.clock.now();
        let mut commit = RewindCommit { now, ..RewindCommit::default() };
        let mut visited = HashSet::new();
        let analysis = self.analyse(&root).await?;
        let mut pending = vec![(root, analysis)];
        while let Some((record, analysis)) = pending.pop() {
            if !visited.insert(record.instance_id.clone()) {
                continue;
            }
            let mut delivered = Vec::new();
            for child in &analysis.children {
                let facts = self.child_facts(&child.instance_id).await?;
                let action = rewind::child_action(
                    &record.instance_id,
                    record.execution,
                    child,
                    facts.as_ref().map(|(f, _)| f),
                    now,
                )?;
                match (action, facts) {
                    (ChildAction::Wait, _) => {}
                    (ChildAction::Deliver(message), _) => delivered.push(message),
                    (ChildAction::Restart(new), Some(_)) => commit.restarts.push(*new),
                    (ChildAction::Restart(new), None) => commit.created.push(*new),
                    (ChildAction::Rewind, Some((_, child_record))) => match self.analyse(&child_record).await {
                        Ok(child_analysis) => pending.push((child_record, child_analysis)),
                        Err(ExecutorError::Rewind(refusal)) if refusal.can_restart_instead() => {
                            tracing::info!(child = %child.instance_id, "the failed child cannot be rewound ({refusal}); it starts again");
                            commit.restarts.push(restart_child(&record, child, now));
                        }
                        Err(error) => return Err(error),
                    },
                    (ChildAction::Rewind, None) => commit.created.push(restart_child(&record, child, now)),
                }
            }
            let key = (record.instance_id.as_str(), record.execution, record.history_len);
            let flow = (self.engine.config.flow.as_ref(), now);
            commit.rewinds.push(rewind::instance_rewind(key, reason, analysis, delivered, flow));
        }

        let written = commit.clone();
        match self.engine.store.call(move |store| store.rewind(&written)).await {
            Ok(()) => {}
            Err(StoreError::Conflict { instance_id, reason }) => {
                return Err(ExecutorError::RewindRaced { instance_id, reason });
            }
            Err(error) => return Err(error.into()),
        }
        for rewound in &commit.rewinds {
            for message in &rewound.messages {
                self.engine.scheduler.announce(&message.instance_id, message.visible_at, now);
            }
        }
        for new in commit.restarts.iter().chain(&commit.created) {
            self.engine.scheduler.wake(new.instance_id.as_str());
        }
        self.engine.activities.trigger.request_poll();
        Ok(())
    }

    /// Starts the instance's orchestrator again with the same input (the input its current
    /// execution started with) and returns the id it runs under. With `new_id`, as a new
    /// instance with a new id, whatever the old one's status (it is left alone); otherwise under
    /// its own id, replacing it in one write, which only a finished instance (Completed, Failed,
    /// Terminated) allows. A sub-orchestration restarted under its own id keeps its parent link.
    pub async fn restart(&self, instance_id: &str, new_id: bool) -> Result<InstanceId, ExecutorError> {
        let record = self.instance(instance_id).await?;
        if new_id {
            let request = super::StartRequest {
                orchestrator: record.name,
                input: record.input.as_str().to_string(),
                instance_id: None,
            };
            return self.start(request).await;
        }
        if !record.status.is_terminal() {
            return Err(ExecutorError::RestartUnfinished { instance_id: record.instance_id, status: record.status });
        }
        let id = InstanceId::new(&record.instance_id)?;
        let new = NewInstance {
            instance_id: id.clone(),
            name: record.name,
            input: record.input,
            created_at: self.engine.clock.now(),
            parent: record.parent,
            if_taken: None,
        };
        match self.engine.store.call(move |store| store.restart(&new)).await {
            Ok(()) => {}
            Err(StoreError::NotFinished { instance_id, status }) => {
                return Err(ExecutorError::RestartUnfinished { instance_id, status });
            }
            Err(error) => return Err(error.into()),
        }
        self.engine.scheduler.wake(id.as_str());
        Ok(id)
    }

    /// What rewinding `record` undoes and must answer again, from its history.
    async fn analyse(&self, record: &InstanceRecord) -> Result<Analysis, ExecutorError> {
        if record.status != RuntimeStatus::Failed {
            let refusal =
                rewind::RewindRefusal::NotFailed { instance_id: record.instance_id.clone(), status: record.status };
            return Err(refusal.into());
        }
        let (id, execution) = (record.instance_id.clone(), record.execution);
        let history = self.engine.store.call(move |store| store.history(&id, execution)).await?;
        Ok(rewind::analyse(&record.instance_id, record.status, &history)?)
    }

    /// What became of a child: its facts for the planner and its row, if it exists.
    async fn child_facts(&self, child: &InstanceId) -> Result<Option<(ChildFacts, InstanceRecord)>, ExecutorError> {
        if is_entity_instance(child.as_str()) {
            return Ok(None);
        }
        let id = child.to_string();
        let record = self.engine.store.call(move |store| store.instance(&id)).await?;
        Ok(record.map(|record| {
            let facts =
                ChildFacts { status: record.status, parent: record.parent.clone(), output: record.output.clone() };
            (facts, record)
        }))
    }
}

/// A failed child that cannot be rewound, started again as its parent's call started it.
fn restart_child(parent: &InstanceRecord, child: &ChildTask, now: Timestamp) -> NewInstance {
    rewind::restart_child(&parent.instance_id, parent.execution, child, now)
}
