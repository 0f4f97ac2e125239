//! Schedules: what starts an orchestration on a cron expression or a fixed interval, and the pure
//! decisions about its fires.
//!
//! It owns the vocabulary of schedules (their names, [`ScheduleSpec`] with its [`Trigger`],
//! [`Overlap`] policy and catch-up window, the [`RunOutcome`] of each slot), the computation of
//! slots (`slots`: the times a trigger fires, in its time zone, across daylight-saving changes)
//! and the planner (`plan`: given where a schedule stands and what time it is, which slots start
//! a run, which are skipped, buffered or missed). The executor reads the facts, asks the planner
//! and has the store record the plan in one transaction.
//!
//! Like the rest of this crate it never does I/O: the time zone database is compiled in
//! (`chrono-tz`), and every time is given by the caller.
//!
//! # Instance ids
//! A run of a slot is the instance [`slot_instance_id`]: `NAME@2026-12-07T10:05:00Z` (the slot
//! in UTC, to the second, or to the millisecond for an interval that is not whole seconds). The
//! id is the same for every host that fires the slot, so a second create of it is refused by the
//! store, and a slot never runs twice. A run started by hand is `NAME@manual-N`, N counting the
//! schedule's manual runs from 1.

mod plan;
mod slots;
#[cfg(test)]
mod tests;

pub use plan::{Action, MAX_ACTIONS, MAX_MISSED_COUNTED, MAX_MISSED_RECORDED, Plan, Progress, plan};
pub use slots::{MAX_SLOTS_LISTED, Slots};

use crate::{InstanceId, InstanceIdError, Payload, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The catch-up window of a schedule that sets none: a host that was down for less than this
/// fires the slots it missed when it comes back.
pub const DEFAULT_CATCH_UP_MS: u64 = 60_000;

/// The shortest interval of an `every` trigger.
pub const MIN_INTERVAL_MS: u64 = 1_000;

/// The longest schedule name, in bytes (the instance ids derived from it stay short).
pub const MAX_NAME_LEN: usize = 200;

/// A checked schedule name: 1 to [`MAX_NAME_LEN`] letters, digits, `-`, `_` and `.`, so that it
/// reads well in a URL, a shell and an instance id, and never holds the `@` that ends it there.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScheduleName(String);

impl ScheduleName {
    /// Checks `name` against the rules above.
    pub fn new(name: impl Into<String>) -> Result<ScheduleName, ScheduleError> {
        let name = name.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(allowed) {
            return Err(ScheduleError::Name(name));
        }
        Ok(ScheduleName(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ScheduleName {
    type Error = ScheduleError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        ScheduleName::new(name)
    }
}

impl From<ScheduleName> for String {
    fn from(name: ScheduleName) -> String {
        name.0
    }
}

impl FromStr for ScheduleName {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ScheduleName::new(s)
    }
}

impl fmt::Display for ScheduleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ScheduleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Trigger {
    /// At the times a cron expression matches, read in a time zone: 6 fields (`sec min hour
    /// day-of-month month day-of-week`) or 5 (no seconds: at second 0).
    Cron {
        /// The expression, as given.
        expression: String,
        /// An IANA time zone name (`Europe/Paris`), or `UTC`.
        timezone: String,
    },
    /// Every `interval_ms`, at the multiples of the interval since the Unix epoch (so `30s` fires
    /// at :00 and :30 of every minute, on every host alike).
    Every {
        /// The interval, in milliseconds (at least [`MIN_INTERVAL_MS`]).
        interval_ms: u64,
    },
}

/// What a slot does when the schedule's previous run has not finished (Temporal's overlap
/// policies).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overlap {
    /// The slot is skipped (recorded as skipped).
    #[default]
    Skip,
    /// The slot waits for the running one to end, then starts; while one waits, later slots are
    /// skipped.
    BufferOne,
    /// The slot starts anyway: runs may overlap.
    Allow,
    /// The running one is terminated, and the slot starts.
    TerminatePrevious,
}

impl Overlap {
    /// Every policy, by its name.
    pub const ALL: [Overlap; 4] = [Overlap::Skip, Overlap::BufferOne, Overlap::Allow, Overlap::TerminatePrevious];

    /// The policy's name, as the command line and the files spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::BufferOne => "buffer-one",
            Overlap::Allow => "allow",
            Overlap::TerminatePrevious => "terminate-previous",
        }
    }
}

impl FromStr for Overlap {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Overlap::ALL.into_iter().find(|o| o.as_str() == s).ok_or_else(|| ScheduleError::Overlap(s.to_string()))
    }
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that defines a schedule (its progress is the store's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// The orchestrator each run starts.
    pub orchestrator: String,
    /// The input of each run.
    pub input: Payload,
    /// When it fires.
    pub trigger: Trigger,
    /// What a slot does while the previous run is unfinished.
    #[serde(default)]
    pub overlap: Overlap,
    /// How late a slot may still be fired after its time (a host that was down, a busy host);
    /// older slots are recorded as missed.
    pub catch_up_ms: u64,
    /// No slot before this time.
    #[serde(default)]
    pub start_at: Option<Timestamp>,
    /// No slot at or after this time.
    #[serde(default)]
    pub end_at: Option<Timestamp>,
}

impl ScheduleSpec {
    /// Checks the spec: a trigger that parses and fires at least once, bounds in order. Returns
    /// its slots.
    pub fn validate(&self) -> Result<Slots, ScheduleError> {
        if let (Some(start), Some(end)) = (self.start_at, self.end_at)
            && end <= start
        {
            return Err(ScheduleError::Bounds);
        }
        Slots::new(self)
    }
}

/// The parts of a schedule's definition as a caller gives them, checked into a
/// [`ScheduleSpec`] by [`ScheduleParts::spec`]: the one place where the command line, the HTTP
/// API and the deployment file agree on what a definition may say.
#[derive(Debug, Clone, Default)]
pub struct ScheduleParts {
    /// The orchestrator each run starts.
    pub orchestrator: String,
    /// The input of each run (JSON text; checked by the host against its payload limit).
    pub input: Option<Payload>,
    /// A cron expression.
    pub cron: Option<String>,
    /// An interval (`30s`).
    pub every: Option<String>,
    /// The cron expression's time zone (UTC if not given).
    pub timezone: Option<String>,
    /// The overlap policy's name (`skip` if not given).
    pub overlap: Option<String>,
    /// The catch-up window (`1h`; [`DEFAULT_CATCH_UP_MS`] if not given).
    pub catch_up: Option<String>,
    /// No slot before this RFC 3339 time.
    pub start_at: Option<String>,
    /// No slot at or after this RFC 3339 time.
    pub end_at: Option<String>,
}

impl ScheduleParts {
    /// The checked spec (see [`ScheduleSpec::validate`] for the checks of the trigger).
    pub fn spec(self) -> Result<ScheduleSpec, ScheduleError> {
        let trigger = match (self.cron, self.every) {
            (Some(expression), None) => {
                Trigger::Cron { expression, timezone: self.timezone.unwrap_or_else(|| "UTC".to_string()) }
            }
            (None, Some(every)) if self.timezone.is_none() => {
                Trigger::Every { interval_ms: parse_duration_ms(&every)? }
            }
            (None, Some(_)) => return Err(ScheduleError::TimezoneWithInterval),
            _ => return Err(ScheduleError::Trigger),
        };
        let spec = ScheduleSpec {
            orchestrator: self.orchestrator,
            input: self.input.unwrap_or_else(Payload::null),
            trigger,
            overlap: self.overlap.as_deref().map(str::parse).transpose()?.unwrap_or_default(),
            catch_up_ms: self.catch_up.as_deref().map(parse_duration_ms).transpose()?.unwrap_or(DEFAULT_CATCH_UP_MS),
            start_at: self.start_at.as_deref().map(parse_time).transpose()?,
            end_at: self.end_at.as_deref().map(parse_time).transpose()?,
        };
        spec.validate()?;
        Ok(spec)
    }
}

/// An RFC 3339 time (`Z` or an offset) as milliseconds since the Unix epoch.
pub fn parse_time(text: &str) -> Result<Timestamp, ScheduleError> {
    let time = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| ScheduleError::Time(text.to_string()))?;
    u64::try_from(time.timestamp_millis()).map_err(|_| ScheduleError::Time(text.to_string()))
}

/// A duration (`30s`, `1h 30m`) in milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, ScheduleError> {
    let duration = humantime::parse_duration(text).map_err(|_| ScheduleError::Duration(text.to_string()))?;
    u64::try_from(duration.as_millis()).map_err(|_| ScheduleError::Duration(text.to_string()))
}

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunKind {
    /// The schedule, at its slot.
    Scheduled,
    /// An operator, now (`trigger`).
    Manual,
    /// An operator, for a past slot (`backfill`).
    Backfill,
}

impl RunKind {
    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Scheduled => "scheduled",
            RunKind::Manual => "manual",
            RunKind::Backfill => "backfill",
        }
    }
}

impl FromStr for RunKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [RunKind::Scheduled, RunKind::Manual, RunKind::Backfill]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown run kind '{s}'"))
    }
}

/// What became of one slot (or manual run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    /// Its instance was created.
    Started,
    /// Its instance existed already: another host, an earlier try or a backfill fired it.
    AlreadyStarted,
    /// The previous run was unfinished and the policy is `skip` (or one slot waits already).
    Skipped,
    /// It waits for the previous run to end (`buffer-one`).
    Buffered,
    /// It was older than the catch-up window when a host could fire it.
    Missed,
}

impl RunOutcome {
    /// Every outcome.
    pub const ALL: [RunOutcome; 5] = [
        RunOutcome::Started,
        RunOutcome::AlreadyStarted,
        RunOutcome::Skipped,
        RunOutcome::Buffered,
        RunOutcome::Missed,
    ];

    /// The outcome's name (in the store, the metrics and the JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Started => "started",
            RunOutcome::AlreadyStarted => "already-started",
            RunOutcome::Skipped => "skipped",
            RunOutcome::Buffered => "buffered",
            RunOutcome::Missed => "missed",
        }
    }
}

impl FromStr for RunOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunOutcome::ALL.into_iter().find(|o| o.as_str() == s).ok_or_else(|| format!("unknown run outcome '{s}'"))
    }
}

/// Why a schedule is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The name breaks the rules of [`ScheduleName`].
    #[error(
        "invalid schedule name '{0}': use 1 to 200 letters, digits, '-', '_' or '.' (the name starts each run's instance id)"
    )]
    Name(String),
    /// The cron expression does not parse.
    #[error(
        "invalid cron expression '{expression}': {reason}; write 6 fields (sec min hour day-of-month month day-of-week, e.g. \"0 */5 * * * *\") or 5 (no seconds, e.g. \"*/5 * * * *\")"
    )]
    Cron {
        /// The expression.
        expression: String,
        /// The parser's words.
        reason: String,
    },
    /// The cron expression never matches (February 30th).
    #[error("the cron expression '{0}' never fires: no time matches it")]
    NeverFires(String),
    /// The time zone is not in the IANA database.
    #[error("unknown time zone '{0}': give an IANA time zone name such as Europe/Paris, America/New_York or UTC")]
    Timezone(String),
    /// The interval is shorter than [`MIN_INTERVAL_MS`].
    #[error("the interval {0} ms is too short: a schedule fires at most once a second (give --every 1s or more)")]
    Interval(u64),
    /// The overlap policy is unknown.
    #[error("unknown overlap policy '{0}': use skip, buffer-one, allow or terminate-previous")]
    Overlap(String),
    /// `end_at` is not after `start_at`.
    #[error("the schedule's end (--end-at) must be after its start (--start-at)")]
    Bounds,
    /// Neither or both of a cron expression and an interval were given.
    #[error("give exactly one of a cron expression (--cron, \"cron\") and an interval (--every, \"every\")")]
    Trigger,
    /// A time zone was given for an interval, which ignores the wall clock.
    #[error("a time zone applies to a cron expression only: an interval fires at fixed multiples of its length")]
    TimezoneWithInterval,
    /// A time does not parse.
    #[error("'{0}' is not an RFC 3339 time; write it as 2026-12-07T10:00:00Z or 2026-12-07T11:00:00+01:00")]
    Time(String),
    /// A duration does not parse.
    #[error("'{0}' is not a duration; write it as 30s, 5m, 1h or 1d")]
    Duration(String),
    /// A derived instance id is refused by the instance id rules.
    #[error("{0}")]
    InstanceId(#[from] InstanceIdError),
}

/// The instance id of the run of `slot` (see the module docs).
pub fn slot_instance_id(name: &ScheduleName, slot: Timestamp) -> Result<InstanceId, ScheduleError> {
    Ok(InstanceId::new(format!("{name}@{}", utc_text(slot)))?)
}

/// The instance id of the `n`-th manual run (see the module docs).
pub fn manual_instance_id(name: &ScheduleName, n: u64) -> Result<InstanceId, ScheduleError> {
    Ok(InstanceId::new(format!("{name}@manual-{n}"))?)
}

/// `slot` as RFC 3339 UTC, to the second (or the millisecond when it has some).
pub fn utc_text(slot: Timestamp) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(slot);
    if slot.is_multiple_of(1000) {
        humantime::format_rfc3339_seconds(time).to_string()
    } else {
        humantime::format_rfc3339_millis(time).to_string()
    }
}
