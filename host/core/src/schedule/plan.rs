//! The planner of a schedule's fires: given where the schedule stands ([`Progress`]) and the
//! time, what each due slot does ([`Plan`]). Pure: the executor gathers the facts (the progress
//! the store holds, whether the previous run has finished) and has the store record the plan, in
//! one transaction with the runs it starts.
//!
//! The rules, in order:
//! 1. A slot that waits (`buffer-one`) starts as soon as the previous run has finished.
//! 2. Every slot after the cursor and at or before now is due, oldest first. One older than the
//!    catch-up window (`now - catch_up`) is missed: it is counted, and the latest
//!    [`MAX_MISSED_RECORDED`] of them are recorded, but nothing runs.
//! 3. A due slot in the window starts a run when the previous run has finished; otherwise the
//!    overlap policy decides: `skip` skips it, `buffer-one` makes it wait (or skips it if one
//!    waits already), `allow` starts it, `terminate-previous` terminates the previous run and
//!    starts it. A run started by the plan is the previous run of the next slot in the same plan,
//!    so a host that catches up on five slots under `skip` starts the first and skips four.
//! 4. The cursor moves to the last slot handled, so no slot is ever planned twice.

use super::{Overlap, ScheduleSpec, Slots};
use crate::Timestamp;

/// The most slots one plan handles in the window; the executor plans again at once if more are
/// due ([`Plan::more`]).
pub const MAX_ACTIONS: usize = 1_000;

/// The most missed slots one plan counts one by one; past it, the cursor jumps to the window's
/// start and the slots jumped over are not counted.
pub const MAX_MISSED_COUNTED: u64 = 10_000;

/// The missed slots one plan records as runs (the latest ones); the others are only counted.
pub const MAX_MISSED_RECORDED: usize = 100;

/// Where a schedule stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Every slot at or before this time has been handled (started, skipped, buffered, missed).
    pub cursor: Timestamp,
    /// The slot waiting for the previous run to end (`buffer-one`).
    pub buffered: Option<Timestamp>,
    /// Whether the schedule's latest run has not finished yet.
    pub previous_unfinished: bool,
}

/// What one slot does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start the slot's run, after terminating the previous run if `terminate_previous`.
    Start {
        /// The slot.
        slot: Timestamp,
        /// Whether the previous run is terminated first (`terminate-previous`).
        terminate_previous: bool,
    },
    /// The slot waits for the previous run to end.
    Buffer {
        /// The slot.
        slot: Timestamp,
    },
    /// The slot is skipped: the previous run is unfinished.
    Skip {
        /// The slot.
        slot: Timestamp,
    },
    /// The slot was older than the catch-up window.
    Missed {
        /// The slot.
        slot: Timestamp,
    },
}

/// What to record for a schedule now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What each slot does, oldest first (of the missed slots, only the latest
    /// [`MAX_MISSED_RECORDED`]).
    pub actions: Vec<Action>,
    /// How many slots were missed (recorded or not).
    pub missed: u64,
    /// The new cursor.
    pub cursor: Timestamp,
    /// The slot waiting afterwards.
    pub buffered: Option<Timestamp>,
    /// Whether more slots were due than one plan handles: plan again at once.
    pub more: bool,
}

impl Plan {
    /// Whether the plan changes nothing.
    pub fn is_empty(&self, progress: &Progress) -> bool {
        self.actions.is_empty()
            && self.missed == 0
            && self.cursor == progress.cursor
            && self.buffered == progress.buffered
    }
}

/// Plans the due slots of `spec` (whose slots are `slots`) at `now`; see the module docs.
pub fn plan(spec: &ScheduleSpec, slots: &Slots, progress: &Progress, now: Timestamp) -> Plan {
    let mut running = progress.previous_unfinished;
    let mut buffered = progress.buffered;
    let mut actions = Vec::new();
    if let Some(slot) = buffered.filter(|_| !running) {
        actions.push(Action::Start { slot, terminate_previous: false });
        running = true;
        buffered = None;
    }
    let window_start = now.saturating_sub(spec.catch_up_ms);
    let mut cursor = progress.cursor;
    let mut missed = 0;
    let mut missed_slots = Vec::new();
    let mut handled = 0;
    let more = loop {
        let Some(slot) = slots.next_after(cursor).filter(|slot| *slot <= now) else { break false };
        if handled == MAX_ACTIONS {
            break true;
        }
        if slot < window_start {
            if missed == MAX_MISSED_COUNTED {
                // Jump over the rest of the outage: the slots before the window are all missed.
                cursor = cursor.max(window_start - 1);
                continue;
            }
            missed += 1;
            missed_slots.push(slot);
            if missed_slots.len() > MAX_MISSED_RECORDED {
                missed_slots.remove(0);
            }
            cursor = slot;
            continue;
        }
        cursor = slot;
        handled += 1;
        let action = match (running, spec.overlap) {
            (false, _) | (true, Overlap::Allow) => Action::Start { slot, terminate_previous: false },
            (true, Overlap::TerminatePrevious) => Action::Start { slot, terminate_previous: true },
            (true, Overlap::Skip) => Action::Skip { slot },
            (true, Overlap::BufferOne) if buffered.is_none() => {
                buffered = Some(slot);
                Action::Buffer { slot }
            }
            (true, Overlap::BufferOne) => Action::Skip { slot },
        };
        if matches!(action, Action::Start { .. }) {
            running = true;
        }
        actions.push(action);
    };
    // Missed slots are older than every slot of the window: they come first.
    let mut all: Vec<Action> = missed_slots.into_iter().map(|slot| Action::Missed { slot }).collect();
    all.extend(actions);
    Plan { actions: all, missed, cursor, buffered, more }
}
