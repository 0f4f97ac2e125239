//! What the firer shows of a schedule: its row, its next fire times and its latest runs, for
//! `describe` on the command line and over HTTP.

use reprise_core::schedule::{RunKind, RunOutcome, Slots, utc_text};
use reprise_core::{RuntimeStatus, Timestamp};
use reprise_store::{ScheduleRecord, ScheduleRun};

/// How many fire times a view lists.
pub(super) const NEXT_FIRES: usize = 5;

/// A schedule as `describe` shows it.
#[derive(Debug, Clone)]
pub struct ScheduleView {
    /// Its row: definition, progress, counts.
    pub record: ScheduleRecord,
    /// Its next fire times (none once it has ended).
    pub next: Vec<FireTime>,
    /// Its latest runs, newest first.
    pub runs: Vec<ScheduledRun>,
}

/// A time, in UTC and on the wall clock of the schedule's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FireTime {
    /// Milliseconds since the Unix epoch.
    pub at: Timestamp,
    /// RFC 3339, UTC.
    pub utc: String,
    /// On the schedule's wall clock, with the zone's abbreviation (`2026-12-07 11:05:00 CET`).
    pub local: String,
}

impl FireTime {
    pub(super) fn new(at: Timestamp, slots: &Slots) -> FireTime {
        FireTime { at, utc: utc_text(at), local: slots.local_text(at) }
    }
}

/// One recorded run, with where its instance stands now.
#[derive(Debug, Clone)]
pub struct ScheduledRun {
    /// Its slot (`None` for a manual run).
    pub slot: Option<FireTime>,
    /// Who asked for it.
    pub kind: RunKind,
    /// What became of the slot.
    pub outcome: RunOutcome,
    /// The instance that runs it.
    pub instance_id: Option<String>,
    /// That instance's status now (`None` if it has none, or was purged).
    pub status: Option<RuntimeStatus>,
    /// When it was recorded.
    pub at: Timestamp,
}

impl ScheduledRun {
    pub(super) fn new(run: ScheduleRun, status: Option<RuntimeStatus>, slots: &Slots) -> ScheduledRun {
        ScheduledRun {
            slot: run.slot.map(|slot| FireTime::new(slot, slots)),
            kind: run.kind,
            outcome: run.outcome,
            instance_id: run.instance_id,
            status,
            at: run.at,
        }
    }
}

/// What a backfill did. A backfill starts every slot of its range that has no run yet, all at
/// once and whatever the overlap policy: it is an operator's explicit request for those runs
/// (Temporal's backfills apply an overlap policy; run them one at a time with several backfills
/// of one slot each if the orchestration cannot overlap). It leaves the schedule's cursor where
/// it was: the slots it starts are past, and a slot it started is never fired again, since its
/// instance id is taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backfilled {
    /// The slots in the range.
    pub slots: usize,
    /// The instances it started.
    pub started: Vec<String>,
    /// The slots that had a run already.
    pub already_started: usize,
}
