//! The slots of a schedule: the times its trigger fires, within its start and end.
//!
//! Cron expressions are read by the `croner` crate in the schedule's time zone (`chrono-tz`, the
//! IANA database compiled in), which follows Vixie cron across daylight-saving changes, as its
//! documentation states: a time that the change skips (02:30 on the night clocks jump from 02:00
//! to 03:00) fires at the first instant after the gap (03:00), once; a time that happens twice
//! (02:30 on the night clocks fall back from 03:00 to 02:00) fires once, at its first occurrence,
//! for an expression at fixed times, while an expression with wildcards in its time fields
//! (every minute) fires on both passes, as the wall clock shows them. Interval triggers ignore
//! the wall clock: they fire at the multiples of their interval since the Unix epoch.

use super::{ScheduleError, ScheduleSpec, Trigger};
use crate::Timestamp;
use chrono::{DateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// The most slots one call lists (a backfill over years of a per-second schedule is refused
/// rather than held in memory).
pub const MAX_SLOTS_LISTED: usize = 10_000;

/// A checked trigger with its bounds, ready to compute slots.
#[derive(Debug, Clone)]
pub struct Slots {
    every: Every,
    start_at: Option<Timestamp>,
    end_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
enum Every {
    Cron(Box<Cron>, Tz),
    Interval(u64),
}

/// A time from which every cron expression that can match matches within croner's search
/// horizon: the check that an expression fires at all.
const VALIDATION_ORIGIN: Timestamp = 1_704_067_200_000; // 2024-01-01T00:00:00Z

impl Slots {
    /// Parses the spec's trigger (see [`ScheduleSpec::validate`], which also checks the bounds).
    pub(super) fn new(spec: &ScheduleSpec) -> Result<Slots, ScheduleError> {
        let every = match &spec.trigger {
            Trigger::Cron { expression, timezone } => {
                let tz: Tz = timezone.parse().map_err(|_| ScheduleError::Timezone(timezone.clone()))?;
                let cron = CronParser::builder()
                    .seconds(Seconds::Optional)
                    // 5 or 6 fields: a seventh (a year) would make a 6-field expression ambiguous
                    // to a reader.
                    .year(Year::Disallowed)
                    .build()
                    .parse(expression)
                    .map_err(|e| ScheduleError::Cron { expression: expression.clone(), reason: e.to_string() })?;
                let every = Every::Cron(Box::new(cron), tz);
                if next_cron(&every, VALIDATION_ORIGIN).is_none() {
                    return Err(ScheduleError::NeverFires(expression.clone()));
                }
                every
            }
            Trigger::Every { interval_ms } if *interval_ms < super::MIN_INTERVAL_MS => {
                return Err(ScheduleError::Interval(*interval_ms));
            }
            Trigger::Every { interval_ms } => Every::Interval(*interval_ms),
        };
        Ok(Slots { every, start_at: spec.start_at, end_at: spec.end_at })
    }

    /// The first slot strictly after `after`, if the schedule fires again.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        // A slot at `start_at` itself counts: look from just before it.
        let after = match self.start_at {
            Some(start) if start > after => start - 1,
            _ => after,
        };
        let next = match &self.every {
            Every::Interval(interval) => (after / interval).checked_add(1)?.checked_mul(*interval)?,
            cron => next_cron(cron, after)?,
        };
        match self.end_at {
            Some(end) if next >= end => None,
            _ => Some(next),
        }
    }

    /// The next `count` slots after `after`.
    pub fn upcoming(&self, after: Timestamp, count: usize) -> Vec<Timestamp> {
        std::iter::successors(self.next_after(after), |slot| self.next_after(*slot)).take(count).collect()
    }

    /// The slots in `[from, to)`, at most [`MAX_SLOTS_LISTED`]; `None` if there are more.
    pub fn between(&self, from: Timestamp, to: Timestamp) -> Option<Vec<Timestamp>> {
        let first = self.next_after(from.checked_sub(1)?);
        let slots: Vec<Timestamp> = std::iter::successors(first, |slot| self.next_after(*slot))
            .take_while(|slot| *slot < to)
            .take(MAX_SLOTS_LISTED + 1)
            .collect();
        (slots.len() <= MAX_SLOTS_LISTED).then_some(slots)
    }

    /// `slot` on the wall clock of the schedule's time zone (UTC for an interval), as
    /// `2026-12-07 11:05:00 CET`.
    pub fn local_text(&self, slot: Timestamp) -> String {
        let Some(utc) = DateTime::<Utc>::from_timestamp_millis(slot as i64) else { return slot.to_string() };
        match &self.every {
            Every::Cron(_, tz) => utc.with_timezone(tz).format("%Y-%m-%d %H:%M:%S %Z").to_string(),
            Every::Interval(_) => utc.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }
    }
}

/// The first time strictly after `after` that the cron expression matches, in its time zone.
fn next_cron(every: &Every, after: Timestamp) -> Option<Timestamp> {
    let Every::Cron(cron, tz) = every else { return None };
    // Slots are whole seconds: the first one after `after` is the first one after its second.
    let second = i64::try_from(after / 1000).ok()?;
    let origin = tz.timestamp_opt(second, 0).single()?;
    let next = cron.find_next_occurrence(&origin, false).ok()?;
    u64::try_from(next.timestamp_millis()).ok()
}
