//! Schedules, as [`Host`] offers them: checks a definition where it enters (the trigger, the
//! orchestrator, the input), saves it, and hands firing to the schedule firer; manual runs and
//! backfills wake the instances they start.
//!
//! Pause and resume: a paused schedule fires nothing, and a resume moves its cursor to now, so
//! the slots that came while it was paused are never fired, not even those within the catch-up
//! window (a pause means "no runs until I say so"; `backfill` runs them if they are wanted).

use super::Host;
use crate::error::ExecutorError;
use crate::registry::Export;
use crate::schedules::{Backfilled, ScheduleView};
use reprise_core::schedule::{ScheduleName, ScheduleSpec};
use reprise_core::{InstanceId, Timestamp};
use reprise_store::{NewSchedule, ScheduleRecord};

/// How many runs a view lists.
const VIEW_RUNS: usize = 10;

impl Host {
    /// Creates a schedule; refused if the name is taken, the trigger does not parse or never
    /// fires, no loaded component exports the orchestrator, or the input is not JSON within
    /// the payload limit. Its first slot is the first after now (or at its `start_at`).
    pub async fn create_schedule(
        &self,
        name: &ScheduleName,
        spec: ScheduleSpec,
        paused: bool,
    ) -> Result<ScheduleRecord, ExecutorError> {
        self.save_schedule(name, spec, paused, false).await?;
        self.schedule_record(name).await
    }

    /// Creates a schedule, or gives an existing one of that name this definition, keeping its
    /// progress, runs and paused state (`paused` applies to a new one only): what a deployment
    /// file does at every start. Returns whether it was created.
    pub async fn apply_schedule(
        &self,
        name: &ScheduleName,
        spec: ScheduleSpec,
        paused: bool,
    ) -> Result<bool, ExecutorError> {
        self.save_schedule(name, spec, paused, true).await
    }

    async fn save_schedule(
        &self,
        name: &ScheduleName,
        mut spec: ScheduleSpec,
        paused: bool,
        replace: bool,
    ) -> Result<bool, ExecutorError> {
        spec.validate()?;
        spec.input = self.payload(spec.input.into_string())?;
        if let Some(known) = self.registry.missing(Export::Orchestrator, &spec.orchestrator).await? {
            let known = if known.is_empty() { "none (no component loaded)".to_string() } else { known.join(", ") };
            return Err(ExecutorError::UnknownOrchestrator { name: spec.orchestrator, known });
        }
        let new = NewSchedule { name: name.clone(), spec, paused, now: self.engine.clock.now() };
        let created = self.engine.store.call(move |store| store.save_schedule(&new, replace)).await?;
        self.engine.schedules.trigger.request_poll();
        Ok(created)
    }

    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<Vec<ScheduleRecord>, ExecutorError> {
        Ok(self.engine.store.call(|store| store.list_schedules()).await?)
    }

    /// One schedule's row.
    pub async fn schedule_record(&self, name: &ScheduleName) -> Result<ScheduleRecord, ExecutorError> {
        let asked = name.clone();
        self.engine
            .store
            .call(move |store| store.schedule(&asked))
            .await?
            .ok_or_else(|| reprise_store::StoreError::ScheduleNotFound(name.to_string()).into())
    }

    /// Every schedule, by name, each with its next fire times and its latest runs.
    pub async fn describe_schedules(&self) -> Result<Vec<ScheduleView>, ExecutorError> {
        let mut views = Vec::new();
        for record in self.schedules().await? {
            views.push(self.describe_schedule(&record.name).await?);
        }
        Ok(views)
    }

    /// A schedule with its next fire times and its latest runs.
    pub async fn describe_schedule(&self, name: &ScheduleName) -> Result<ScheduleView, ExecutorError> {
        self.engine.schedules.view(name, VIEW_RUNS).await
    }

    /// Pauses a schedule: it fires nothing until resumed (see the module docs).
    pub async fn pause_schedule(&self, name: &ScheduleName) -> Result<(), ExecutorError> {
        let (name, now) = (name.clone(), self.engine.clock.now());
        Ok(self.engine.store.call(move |store| store.set_schedule_paused(&name, true, None, now)).await?)
    }

    /// Resumes a paused schedule from now: the slots that came while it was paused are not
    /// fired (see the module docs).
    pub async fn resume_schedule(&self, name: &ScheduleName) -> Result<(), ExecutorError> {
        let (name, now) = (name.clone(), self.engine.clock.now());
        self.engine.store.call(move |store| store.set_schedule_paused(&name, false, Some(now), now)).await?;
        self.engine.schedules.trigger.request_poll();
        Ok(())
    }

    /// Starts a run of the schedule now (`NAME@manual-N`), whatever its overlap policy and even
    /// while it is paused, and returns its id.
    pub async fn trigger_schedule(&self, name: &ScheduleName) -> Result<InstanceId, ExecutorError> {
        let instance_id = self.engine.schedules.trigger_now(name).await?;
        self.engine.scheduler.wake(instance_id.as_str());
        Ok(instance_id)
    }

    /// Starts a run for each slot of the schedule in `[from, to)` that has none (see
    /// [`Backfilled`]).
    pub async fn backfill_schedule(
        &self,
        name: &ScheduleName,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Backfilled, ExecutorError> {
        let (report, wake) = self.engine.schedules.backfill(name, from, to).await?;
        for instance_id in &wake {
            self.engine.scheduler.wake(instance_id);
        }
        Ok(report)
    }

    /// Deletes a schedule and its recorded runs; the instances it started are left alone.
    pub async fn delete_schedule(&self, name: &ScheduleName) -> Result<(), ExecutorError> {
        let name = name.clone();
        Ok(self.engine.store.call(move |store| store.delete_schedule(&name)).await?)
    }
}
