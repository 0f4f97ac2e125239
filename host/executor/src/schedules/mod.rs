//! The schedule firer: it fires the due slots of every schedule in the store, and the manual
//! runs and backfills operators ask for.
//!
//! At each tick (woken on the clock at the next slot it knows of, by a nudge when a schedule is
//! saved or resumed, and by its periodic poll, which sees other processes' schedules and the end
//! of a previous run that a buffered slot waits for) it reads each unpaused schedule, finds
//! whether its latest run has finished, asks the planner ([`reprise_core::schedule::plan`]) what
//! the due slots do, and has the store record the plan with the instances it starts in one
//! write ([`reprise_store::HistoryStore::fire_schedule`]). That write is checked against the
//! schedule's version: when another process decided first, the firer reads the schedule again
//! and decides anew, so that several hosts on one database fire each slot once. It returns the
//! instances it started or sent a termination to, for the workers to wake.
//!
//! It never runs an instance (the scheduler and the episode runner do, once woken) and never
//! decides a slot's fate itself: the planner does.

mod view;

pub use view::{Backfilled, FireTime, ScheduleView, ScheduledRun};

use crate::clock::Clock;
use crate::error::ExecutorError;
use crate::metrics::Metrics;
use crate::store_access::StoreAccess;
use crate::trigger::Trigger;
use reprise_core::schedule::{
    Action, Plan, Progress, RunKind, RunOutcome, ScheduleName, Slots, manual_instance_id, plan, slot_instance_id,
};
use reprise_core::{InstanceId, Message, Timestamp};
use reprise_store::{NewInstance, NewScheduleRun, ScheduleFire, ScheduleRecord, StoreError, StoreResult};
use std::sync::Arc;

/// How many times a write that lost a race to another process is decided again before the
/// firer leaves the schedule to its next tick.
const RACES: usize = 5;

/// The most runs one backfill write starts (a long backfill is several writes).
const BACKFILL_BATCH: usize = 500;

/// The reason recorded in the history of a run that `terminate-previous` ends.
const TERMINATE_REASON: &str = "terminated by its schedule: the next slot started (overlap policy terminate-previous)";

/// What one tick did.
#[derive(Debug, Default)]
pub(crate) struct Tick {
    /// The instances to wake: those started, and those sent a termination.
    pub(crate) wake: Vec<String>,
    /// The earliest next slot of the schedules it saw.
    pub(crate) next_due: Option<Timestamp>,
    /// Whether some schedule has more due slots than one plan takes: tick again at once.
    pub(crate) more: bool,
}

/// See the module docs.
pub(crate) struct ScheduleFirer {
    pub(crate) store: StoreAccess,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Arc<Metrics>,
    /// Wakes the schedule worker.
    pub(crate) trigger: Trigger,
}

impl ScheduleFirer {
    /// Fires the due slots of every unpaused schedule (see the module docs).
    pub(crate) async fn tick(&self) -> Tick {
        let mut tick = Tick::default();
        let schedules = match self.store.call(|store| store.list_schedules()).await {
            Ok(schedules) => schedules,
            Err(error) => {
                tracing::error!("cannot read the schedules: {error}");
                return tick;
            }
        };
        for record in schedules.into_iter().filter(|s| !s.paused) {
            let name = record.name.clone();
            match self.advance(record).await {
                Ok(Some(one)) => {
                    tick.wake.extend(one.wake);
                    tick.next_due = tick.next_due.into_iter().chain(one.next_due).min();
                    tick.more |= one.more;
                }
                Ok(None) => {}
                Err(error) => tracing::error!(schedule = %name, "cannot fire the schedule: {error}"),
            }
        }
        tick
    }

    /// Plans and records the due slots of one schedule, deciding again on every lost race.
    /// Returns what it did as a tick of its own; `None` if it was paused or deleted meanwhile.
    async fn advance(&self, mut record: ScheduleRecord) -> StoreResult<Option<Tick>> {
        let slots = match record.spec.validate() {
            Ok(slots) => slots,
            Err(error) => {
                // Saved by a build that read it otherwise: leave it, and say so.
                tracing::error!(schedule = %record.name, "the schedule's definition is refused: {error}");
                return Ok(None);
            }
        };
        for _ in 0..RACES {
            let now = self.clock.now();
            let progress = Progress {
                cursor: record.cursor,
                buffered: record.buffered,
                previous_unfinished: self.unfinished(record.last_instance.as_deref()).await?,
            };
            let planned = plan(&record.spec, &slots, &progress, now);
            if planned.is_empty(&progress) {
                return Ok(Some(Tick { wake: Vec::new(), next_due: slots.next_after(record.cursor), more: false }));
            }
            let (fire, wake) = fire_of(&record, &planned, now);
            let written = fire.clone();
            match self.store.call(move |store| store.fire_schedule(&written)).await {
                Ok(outcomes) => {
                    self.count(&record.name, &fire, &outcomes, planned.missed);
                    let started = started(&fire, &outcomes);
                    let wake = started.into_iter().chain(wake).collect();
                    return Ok(Some(Tick { wake, next_due: slots.next_after(planned.cursor), more: planned.more }));
                }
                Err(StoreError::Conflict { .. }) => {
                    let name = record.name.clone();
                    match self.store.call(move |store| store.schedule(&name)).await? {
                        Some(again) if !again.paused => record = again,
                        _ => return Ok(None),
                    }
                }
                Err(error) => return Err(error),
            }
        }
        tracing::warn!(schedule = %record.name, "other processes kept firing the schedule first; trying at the next tick");
        Ok(Some(Tick { wake: Vec::new(), next_due: None, more: true }))
    }

    /// Whether the instance exists and has not finished.
    async fn unfinished(&self, instance_id: Option<&str>) -> StoreResult<bool> {
        let Some(id) = instance_id.map(str::to_string) else { return Ok(false) };
        let record = self.store.call(move |store| store.instance(&id)).await?;
        Ok(record.is_some_and(|r| !r.status.is_terminal()))
    }

    /// Starts a run of the schedule now, whatever its overlap policy and even while paused: an
    /// operator's explicit request. Returns its instance id (`NAME@manual-N`).
    pub(crate) async fn trigger_now(&self, name: &ScheduleName) -> Result<InstanceId, ExecutorError> {
        for _ in 0..RACES {
            let record = self.record(name).await?;
            let now = self.clock.now();
            let n = record.manual + 1;
            let instance_id = manual_instance_id(name, n)?;
            let fire = ScheduleFire {
                name: name.clone(),
                expected_version: record.version,
                cursor: record.cursor,
                buffered: record.buffered,
                manual: n,
                missed: 0,
                runs: vec![start_run(&record, None, RunKind::Manual, instance_id.clone(), now, None)],
                now,
            };
            let written = fire.clone();
            match self.store.call(move |store| store.fire_schedule(&written)).await {
                Ok(outcomes) => {
                    self.count(name, &fire, &outcomes, 0);
                    // An id left by a schedule of the same name deleted before: count past it.
                    if outcomes == [RunOutcome::Started] {
                        return Ok(instance_id);
                    }
                }
                Err(StoreError::Conflict { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Err(ExecutorError::ScheduleBusy(name.to_string()))
    }

    /// Starts a run for every slot of the schedule in `[from, to)` that has none, all at once,
    /// whatever the overlap policy (see [`Backfilled`]). `to` may not be later than now.
    pub(crate) async fn backfill(
        &self,
        name: &ScheduleName,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Backfilled, Vec<String>), ExecutorError> {
        let now = self.clock.now();
        if to > now || from >= to {
            return Err(ExecutorError::BackfillRange(format!(
                "the range [{}, {}) must be non-empty and end at or before now ({})",
                reprise_core::schedule::utc_text(from),
                reprise_core::schedule::utc_text(to),
                reprise_core::schedule::utc_text(now)
            )));
        }
        let record = self.record(name).await?;
        let slots = record.spec.validate()?;
        let Some(all) = slots.between(from, to) else {
            return Err(ExecutorError::BackfillRange(format!(
                "the range holds more than {} slots; backfill it in shorter ranges",
                reprise_core::schedule::MAX_SLOTS_LISTED
            )));
        };
        let mut report = Backfilled { slots: all.len(), started: Vec::new(), already_started: 0 };
        for batch in all.chunks(BACKFILL_BATCH) {
            let mut done = false;
            for _ in 0..RACES {
                let record = self.record(name).await?;
                let now = self.clock.now();
                let runs = batch
                    .iter()
                    .map(|slot| {
                        Ok(start_run(
                            &record,
                            Some(*slot),
                            RunKind::Backfill,
                            slot_instance_id(name, *slot)?,
                            now,
                            None,
                        ))
                    })
                    .collect::<Result<Vec<_>, ExecutorError>>()?;
                let fire = ScheduleFire {
                    name: name.clone(),
                    expected_version: record.version,
                    cursor: record.cursor,
                    buffered: record.buffered,
                    manual: record.manual,
                    missed: 0,
                    runs,
                    now,
                };
                let written = fire.clone();
                match self.store.call(move |store| store.fire_schedule(&written)).await {
                    Ok(outcomes) => {
                        self.count(name, &fire, &outcomes, 0);
                        report.already_started += outcomes.iter().filter(|o| **o == RunOutcome::AlreadyStarted).count();
                        report.started.extend(started(&fire, &outcomes));
                        done = true;
                        break;
                    }
                    Err(StoreError::Conflict { .. }) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            if !done {
                return Err(ExecutorError::ScheduleBusy(name.to_string()));
            }
        }
        let wake = report.started.clone();
        Ok((report, wake))
    }

    /// The schedule with its next fire times and its latest runs (with their instances' status).
    pub(crate) async fn view(&self, name: &ScheduleName, runs: usize) -> Result<ScheduleView, ExecutorError> {
        let record = self.record(name).await?;
        let slots: Slots = record.spec.validate()?;
        let now = self.clock.now();
        let next = slots
            .upcoming(record.cursor.max(now), view::NEXT_FIRES)
            .into_iter()
            .map(|at| FireTime::new(at, &slots))
            .collect();
        let name = name.clone();
        let (recorded, statuses) = self
            .store
            .call(move |store| {
                let recorded = store.schedule_runs(&name, runs)?;
                let statuses = recorded
                    .iter()
                    .map(|run| match &run.instance_id {
                        Some(id) => Ok(store.instance(id)?.map(|r| r.status)),
                        None => Ok(None),
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok((recorded, statuses))
            })
            .await?;
        let runs =
            recorded.into_iter().zip(statuses).map(|(run, status)| ScheduledRun::new(run, status, &slots)).collect();
        Ok(ScheduleView { record, next, runs })
    }

    /// The schedule's row, or [`StoreError::ScheduleNotFound`].
    async fn record(&self, name: &ScheduleName) -> Result<ScheduleRecord, ExecutorError> {
        let asked = name.clone();
        self.store
            .call(move |store| store.schedule(&asked))
            .await?
            .ok_or_else(|| StoreError::ScheduleNotFound(name.to_string()).into())
    }

    /// Counts what a recorded fire did, in the metrics.
    fn count(&self, name: &ScheduleName, fire: &ScheduleFire, outcomes: &[RunOutcome], missed: u64) {
        for outcome in RunOutcome::ALL {
            let count = match outcome {
                RunOutcome::Missed => missed,
                _ => outcomes.iter().filter(|o| **o == outcome).count() as u64,
            };
            if count > 0 {
                self.metrics.schedule_fires(name.as_str(), outcome, count);
            }
        }
        for (run, outcome) in fire.runs.iter().zip(outcomes) {
            if *outcome == RunOutcome::Started {
                tracing::info!(schedule = %name, instance = ?run.start.as_ref().map(|s| s.instance_id.as_str()), kind = run.kind.as_str(), "schedule started a run");
            }
        }
    }
}

/// The write of `planned` for `record` at `now`, and the instances it sends a termination to.
fn fire_of(record: &ScheduleRecord, planned: &Plan, now: Timestamp) -> (ScheduleFire, Vec<String>) {
    let mut previous = record.last_instance.clone();
    let mut terminated = Vec::new();
    let mut runs = Vec::with_capacity(planned.actions.len());
    for action in &planned.actions {
        let run = match *action {
            Action::Start { slot, terminate_previous } => {
                let Ok(instance_id) = slot_instance_id(&record.name, slot) else {
                    // Names are checked to make valid ids; a slot cannot make one invalid.
                    continue;
                };
                let terminate = previous.clone().filter(|_| terminate_previous);
                terminated.extend(terminate.clone());
                previous = Some(instance_id.to_string());
                start_run(record, Some(slot), RunKind::Scheduled, instance_id, now, terminate)
            }
            Action::Buffer { slot } => NewScheduleRun {
                instance_id: slot_instance_id(&record.name, slot).ok().map(InstanceId::into_string),
                ..no_start(slot, RunOutcome::Buffered)
            },
            Action::Skip { slot } => no_start(slot, RunOutcome::Skipped),
            Action::Missed { slot } => no_start(slot, RunOutcome::Missed),
        };
        runs.push(run);
    }
    let fire = ScheduleFire {
        name: record.name.clone(),
        expected_version: record.version,
        cursor: planned.cursor,
        buffered: planned.buffered,
        manual: record.manual,
        missed: planned.missed,
        runs,
        now,
    };
    (fire, terminated)
}

/// A run that starts `instance_id` with the schedule's orchestrator and input, after
/// terminating `terminate`.
fn start_run(
    record: &ScheduleRecord,
    slot: Option<Timestamp>,
    kind: RunKind,
    instance_id: InstanceId,
    now: Timestamp,
    terminate: Option<String>,
) -> NewScheduleRun {
    NewScheduleRun {
        slot,
        kind,
        outcome: RunOutcome::Started,
        start: Some(NewInstance {
            instance_id,
            name: record.spec.orchestrator.clone(),
            input: record.spec.input.clone(),
            created_at: now,
            parent: None,
            if_taken: None,
        }),
        terminate: terminate
            .map(|id| (id, Message::Terminate { reason: TERMINATE_REASON.to_string(), cascade: false })),
        instance_id: None,
    }
}

/// A slot that starts nothing.
fn no_start(slot: Timestamp, outcome: RunOutcome) -> NewScheduleRun {
    NewScheduleRun {
        slot: Some(slot),
        kind: RunKind::Scheduled,
        outcome,
        start: None,
        terminate: None,
        instance_id: None,
    }
}

/// The instances the fire created.
fn started(fire: &ScheduleFire, outcomes: &[RunOutcome]) -> Vec<String> {
    fire.runs
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| **outcome == RunOutcome::Started)
        .filter_map(|(run, _)| run.start.as_ref().map(|s| s.instance_id.to_string()))
        .collect()
}
