//! Flow control of activities: per activity name, at most so many attempts at once and at most so
//! many starts per period, optionally per key taken from the task's input.
//!
//! It owns the limits as values ([`FlowLimits`]), the key of a task ([`FlowLimits::key_of`]) and
//! the arithmetic of the rate limit's token bucket ([`Rate::take`]). The planner stores each new
//! task's key with it and never claims a limited task in an episode's commit; a store enforces
//! the limits in its claim transaction, counting live leases and keeping each bucket's state, so
//! the limits hold across every process on the same database. It never does I/O and never reads
//! a clock: the store passes the claim's time in.
//!
//! The key of a task is the JSON value at the limit's pointer in its input, as compact JSON text
//! (`"c-7"` for a string, `42` for a number: the string `"42"` and the number `42` are two keys).
//! A task whose input has no value there (or `null`) shares the one "no key" group of its
//! activity, which has the same limits as any key.

use crate::{Payload, Timestamp};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The limits of every limited activity, by name. Activities it does not name run unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowLimits {
    by_activity: BTreeMap<String, FlowLimit>,
}

/// No limits at all: every activity runs as slots allow.
pub static NO_LIMITS: FlowLimits = FlowLimits { by_activity: BTreeMap::new() };

impl FlowLimits {
    /// Sets the limits of activity `name`, replacing any it had.
    pub fn set(&mut self, name: impl Into<String>, limit: FlowLimit) {
        self.by_activity.insert(name.into(), limit);
    }

    /// The limits of activity `name`, if it has any.
    pub fn of(&self, name: &str) -> Option<&FlowLimit> {
        self.by_activity.get(name)
    }

    /// Whether activity `name` has a limit: its tasks are claimed only by a store's claim, which
    /// enforces it, never in the commit of the episode that schedules them.
    pub fn is_limited(&self, name: &str) -> bool {
        self.by_activity.contains_key(name)
    }

    /// Whether no activity is limited.
    pub fn is_empty(&self) -> bool {
        self.by_activity.is_empty()
    }

    /// The limited activities and their limits, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FlowLimit)> {
        self.by_activity.iter().map(|(name, limit)| (name.as_str(), limit))
    }

    /// The key a task of activity `name` with this input is limited under (see the module
    /// docs): `None` if the activity has no key pointer, or its input has no value there.
    pub fn key_of(&self, name: &str, input: &Payload) -> Option<String> {
        let pointer = self.of(name)?.key.as_ref()?;
        let value: serde_json::Value = serde_json::from_str(input.as_str()).ok()?;
        match value.pointer(pointer.as_str())? {
            serde_json::Value::Null => None,
            found => Some(found.to_string()),
        }
    }
}

/// The limits of one activity. At least one of `concurrency` and `rate` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLimit {
    /// At most this many attempts at once (live leases), per key.
    pub concurrency: Option<u32>,
    /// At most this many starts per period, per key.
    pub rate: Option<Rate>,
    /// Where in the input the key is; without it, the limits apply to all tasks of the activity
    /// together.
    pub key: Option<KeyPointer>,
}

/// Why a limit is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowLimitError {
    /// A limit with neither `concurrency` nor `rate`.
    #[error("a limit needs `concurrency` or `rate` (or both); a key alone limits nothing")]
    Empty,
    /// A concurrency of 0 would never run anything.
    #[error("concurrency must be at least 1 (0 would never run the activity)")]
    ZeroConcurrency,
    /// A rate that is not `N/PERIOD`.
    #[error("rate `{0}` is not a rate; write it as \"20/s\", \"100/m\", \"1000/h\" or \"5/30s\"")]
    Rate(String),
    /// A burst of 0 would never start anything.
    #[error("burst must be at least 1 (0 would never start the activity)")]
    ZeroBurst,
    /// A key that is not a JSON pointer.
    #[error("key `{0}` is not a JSON pointer; write it as \"/customer_id\" or \"/order/customer\"")]
    Key(String),
}

impl FlowLimit {
    /// A limit, checked: at least one of `concurrency` and `rate`, neither of them zero.
    pub fn new(
        concurrency: Option<u32>,
        rate: Option<Rate>,
        key: Option<KeyPointer>,
    ) -> Result<FlowLimit, FlowLimitError> {
        if concurrency.is_none() && rate.is_none() {
            return Err(FlowLimitError::Empty);
        }
        if concurrency == Some(0) {
            return Err(FlowLimitError::ZeroConcurrency);
        }
        Ok(FlowLimit { concurrency, rate, key })
    }
}

impl fmt::Display for FlowLimit {
    /// As the `--limit` flag writes it, without the name: `concurrency:3,rate:20/s,burst:20,key:/id`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(n) = self.concurrency {
            parts.push(format!("concurrency:{n}"));
        }
        if let Some(rate) = &self.rate {
            parts.push(format!("rate:{rate}"));
            parts.push(format!("burst:{}", rate.burst));
        }
        if let Some(key) = &self.key {
            parts.push(format!("key:{key}"));
        }
        f.write_str(&parts.join(","))
    }
}

/// A JSON pointer (RFC 6901): empty (the whole input) or `/`-separated tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPointer(String);

impl KeyPointer {
    /// The pointer, checked.
    pub fn new(pointer: &str) -> Result<KeyPointer, FlowLimitError> {
        if pointer.is_empty() || pointer.starts_with('/') {
            Ok(KeyPointer(pointer.to_string()))
        } else {
            Err(FlowLimitError::Key(pointer.to_string()))
        }
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// At most `starts` starts per `per`, with up to `burst` at once after a quiet spell: a token
/// bucket of `burst` tokens, refilled by one token every `per / starts`, one token per start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Starts per period.
    pub starts: u32,
    /// The period.
    pub per: Duration,
    /// The bucket's size: how many starts may go at once.
    pub burst: u32,
}

impl Rate {
    /// Reads `N/PERIOD`: `20/s`, `100/m`, `1000/h`, or a duration such as `5/30s`. The burst is
    /// `burst`, or one period's worth (`N`) when it is `None`.
    pub fn parse(text: &str, burst: Option<u32>) -> Result<Rate, FlowLimitError> {
        let refused = || FlowLimitError::Rate(text.to_string());
        let (starts, period) = text.split_once('/').ok_or_else(refused)?;
        let starts: u32 = starts.trim().parse().map_err(|_| refused())?;
        let per = match period.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            other => humantime::parse_duration(other).map_err(|_| refused())?,
        };
        if starts == 0 || per.as_micros() < u128::from(starts) {
            return Err(refused());
        }
        let burst = burst.unwrap_or(starts);
        if burst == 0 {
            return Err(FlowLimitError::ZeroBurst);
        }
        Ok(Rate { starts, per, burst })
    }

    /// The time between two tokens, in microseconds (at least 1).
    fn interval_us(&self) -> u64 {
        ((self.per.as_micros() / u128::from(self.starts.max(1))) as u64).max(1)
    }

    /// Puts back the token a [`Rate::take`] took, for a start that ran nothing.
    pub fn give_back(&self, bucket: Bucket) -> Bucket {
        Bucket { full_at_us: bucket.full_at_us.saturating_sub(self.interval_us()) }
    }

    /// Takes one token at `now` from a bucket whose state is `full_at` (see [`Bucket`]): the
    /// bucket's new state if a token was there, or else the first time (in milliseconds, rounded
    /// up) at which one will be.
    pub fn take(&self, bucket: Bucket, now: Timestamp) -> Result<Bucket, Timestamp> {
        let interval = self.interval_us();
        let now_us = now.saturating_mul(1000);
        // The bucket lacks (full_at - now) / interval tokens; one may be taken while it lacks
        // at most burst - 1 of them.
        let slack = interval.saturating_mul(u64::from(self.burst).saturating_sub(1));
        let first_token_us = bucket.full_at_us.saturating_sub(slack);
        if now_us >= first_token_us {
            Ok(Bucket { full_at_us: bucket.full_at_us.max(now_us) + interval })
        } else {
            Err(first_token_us.div_ceil(1000))
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.as_secs() {
            1 if self.per.subsec_nanos() == 0 => write!(f, "{}/s", self.starts),
            60 if self.per.subsec_nanos() == 0 => write!(f, "{}/m", self.starts),
            3600 if self.per.subsec_nanos() == 0 => write!(f, "{}/h", self.starts),
            _ => write!(f, "{}/{}", self.starts, humantime::format_duration(self.per)),
        }
    }
}

/// The durable state of one token bucket: the time, in microseconds since the epoch, at which it
/// is full again (a bucket full since any time before now is the same as one full at 0). One
/// number instead of a count and a time, so that refilling is arithmetic at the next take and
/// nothing has to run between claims.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// When the bucket holds `burst` tokens again.
    pub full_at_us: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(key: Option<&str>) -> FlowLimits {
        let mut limits = FlowLimits::default();
        let key = key.map(|k| KeyPointer::new(k).unwrap());
        limits.set("charge", FlowLimit::new(Some(3), None, key).unwrap());
        limits
    }

    #[test]
    fn the_key_is_the_json_value_at_the_pointer_and_missing_values_share_no_key() {
        let limits = limits(Some("/customer/id"));
        let key = |input: &str| limits.key_of("charge", &Payload::stored(input));
        assert_eq!(key(r#"{"customer":{"id":"c-7"}}"#).as_deref(), Some(r#""c-7""#));
        assert_eq!(key(r#"{"customer":{"id":42}}"#).as_deref(), Some("42"), "a number is its JSON text");
        assert_eq!(key(r#"{"customer":{}}"#), None, "missing: the no-key group");
        assert_eq!(key(r#"{"customer":{"id":null}}"#), None, "null: the no-key group");
        assert_eq!(key("[1]"), None);
        assert_eq!(limits.key_of("refund", &Payload::stored(r#"{"customer":{"id":1}}"#)), None, "not limited");
        assert_eq!(self::limits(None).key_of("charge", &Payload::stored(r#"{"customer":{"id":1}}"#)), None);
    }

    #[test]
    fn limits_and_rates_are_checked() {
        assert_eq!(FlowLimit::new(None, None, None), Err(FlowLimitError::Empty));
        assert_eq!(FlowLimit::new(Some(0), None, None), Err(FlowLimitError::ZeroConcurrency));
        assert!(KeyPointer::new("customer_id").is_err());
        let rate = Rate::parse("20/s", None).unwrap();
        assert_eq!((rate.starts, rate.per, rate.burst), (20, Duration::from_secs(1), 20));
        assert_eq!(Rate::parse("5/30s", Some(1)).unwrap().per, Duration::from_secs(30));
        assert_eq!(Rate::parse("100/m", None).unwrap().to_string(), "100/m");
        for bad in ["20", "0/s", "x/s", "20/fortnight", "20/"] {
            assert!(matches!(Rate::parse(bad, None), Err(FlowLimitError::Rate(_))), "{bad}");
        }
        assert_eq!(Rate::parse("1/s", Some(0)), Err(FlowLimitError::ZeroBurst));
        let limit = FlowLimit::new(Some(3), Some(rate), Some(KeyPointer::new("/id").unwrap())).unwrap();
        assert_eq!(limit.to_string(), "concurrency:3,rate:20/s,burst:20,key:/id");
    }

    #[test]
    fn a_bucket_gives_its_burst_then_one_token_per_interval() {
        let rate = Rate::parse("20/s", Some(3)).unwrap();
        let mut bucket = Bucket::default();
        let now = 1_000_000;
        for _ in 0..3 {
            bucket = rate.take(bucket, now).expect("the burst");
        }
        assert_eq!(rate.take(bucket, now), Err(now + 50), "empty: the next token comes one interval later");
        assert_eq!(rate.take(bucket, now + 49), Err(now + 50));
        bucket = rate.take(bucket, now + 50).expect("refilled by one");
        assert_eq!(rate.take(bucket, now + 50), Err(now + 100));
        // A quiet spell fills the bucket up to its burst, not beyond.
        let later = now + 60_000;
        for _ in 0..3 {
            bucket = rate.take(bucket, later).expect("full again");
        }
        assert!(rate.take(bucket, later).is_err());
    }

    #[test]
    fn a_bucket_keeps_a_fractional_interval_exact_over_many_tokens() {
        // 3 per second: 333_333 µs apart. Claims come at whole milliseconds, late by a fraction;
        // a bucket of 2 absorbs the lateness, so 300 tokens after the burst take 100 s, not 100.2.
        let rate = Rate::parse("3/s", Some(2)).unwrap();
        let (mut bucket, mut now, mut taken) = (Bucket::default(), 0u64, 0);
        while taken < 302 {
            match rate.take(bucket, now) {
                Ok(next) => {
                    bucket = next;
                    taken += 1;
                }
                Err(at) => now = at,
            }
        }
        assert_eq!(now, 100_000);
    }
}
