//! Activity options and the retry policy: when the host tries a failed activity again.

use crate::{Failure, Timestamp};
use serde::{Deserialize, Serialize};

/// Durable Functions' RetryOptions, decided by the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// The wait after the first failed attempt, in ms.
    pub first_retry_interval_ms: u64,
    /// How much each wait grows over the previous one.
    pub backoff_coefficient: f64,
    /// The longest wait between attempts, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_interval_ms: Option<u64>,
    /// Give up once this long has passed since the first attempt started, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_timeout_ms: Option<u64>,
    /// Error types never retried (matched against the failure and its causes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_retryable_errors: Vec<String>,
}

impl Eq for RetryPolicy {}

/// Why a policy refuses a policy value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPolicy {
    /// `max_attempts` is 0.
    #[error("a retry policy needs max_attempts of at least 1 (1 means no retry)")]
    NoAttempts,
    /// The coefficient is below 1 or not a number.
    #[error("a retry policy's backoff_coefficient must be a number of at least 1.0, not {0}")]
    Coefficient(String),
}

impl RetryPolicy {
    /// Checks the values a guest gave.
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        if self.max_attempts == 0 {
            return Err(InvalidPolicy::NoAttempts);
        }
        if !(self.backoff_coefficient >= 1.0 && self.backoff_coefficient.is_finite()) {
            return Err(InvalidPolicy::Coefficient(self.backoff_coefficient.to_string()));
        }
        Ok(())
    }

    /// The wait after failed attempt `attempt` (from 1): `min(first × coefficient^(attempt−1),
    /// max interval)`.
    pub fn delay_after(&self, attempt: u32) -> u64 {
        let exponent = attempt.saturating_sub(1).min(1024) as i32;
        let delay = self.first_retry_interval_ms as f64 * self.backoff_coefficient.powi(exponent);
        let capped = match self.max_retry_interval_ms {
            Some(max) => delay.min(max as f64),
            None => delay,
        };
        if capped.is_finite() { capped.min(u64::MAX as f64) as u64 } else { u64::MAX }
    }

    /// When to run the next attempt after `attempt` failed with `failure` at `now`, for a task
    /// whose first attempt started at `first_started`; `None` if the policy gives up.
    pub fn next_attempt(
        &self,
        attempt: u32,
        failure: &Failure,
        first_started: Timestamp,
        now: Timestamp,
    ) -> Option<Timestamp> {
        if attempt >= self.max_attempts || self.is_non_retryable(failure) {
            return None;
        }
        let next = now.saturating_add(self.delay_after(attempt));
        match self.retry_timeout_ms {
            Some(timeout) if next.saturating_sub(first_started) > timeout => None,
            _ => Some(next),
        }
    }

    fn is_non_retryable(&self, failure: &Failure) -> bool {
        self.non_retryable_errors
            .iter()
            .any(|kind| failure.error_type == *kind || failure.causes.iter().any(|cause| cause.error_type == *kind))
    }
}

/// How an activity is scheduled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityOptions {
    /// Retry failed attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Stop an attempt after this long, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl ActivityOptions {
    /// True when nothing differs from the default (no retry, no timeout).
    pub fn is_default(&self) -> bool {
        self.retry.is_none() && self.timeout_ms.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32, first: u64, coefficient: f64, max: Option<u64>) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            first_retry_interval_ms: first,
            backoff_coefficient: coefficient,
            max_retry_interval_ms: max,
            retry_timeout_ms: None,
            non_retryable_errors: vec![],
        }
    }

    #[test]
    fn delays_grow_by_the_coefficient_up_to_the_maximum() {
        let p = policy(10, 100, 2.0, Some(1_000));
        let delays: Vec<u64> = (1..=6).map(|n| p.delay_after(n)).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(policy(3, 5_000, 1.0, None).delay_after(2), 5_000);
    }

    #[test]
    fn attempts_stop_at_the_maximum() {
        let p = policy(3, 10, 1.0, None);
        let f = Failure::new("E", "m");
        assert_eq!(p.next_attempt(1, &f, 0, 100), Some(110));
        assert_eq!(p.next_attempt(2, &f, 0, 200), Some(210));
        assert_eq!(p.next_attempt(3, &f, 0, 300), None);
        assert_eq!(policy(1, 10, 1.0, None).next_attempt(1, &f, 0, 0), None, "1 attempt means no retry");
    }

    #[test]
    fn non_retryable_errors_match_the_failure_or_its_causes() {
        let mut p = policy(5, 10, 1.0, None);
        p.non_retryable_errors = vec!["AccountFrozen".into()];
        let wrapped = Failure::wrapping("Outer", "x", Failure::new("AccountFrozen", "frozen"));
        assert_eq!(p.next_attempt(1, &wrapped, 0, 0), None);
        assert_eq!(p.next_attempt(1, &Failure::new("Other", "x"), 0, 0), Some(10));
    }

    #[test]
    fn the_retry_timeout_bounds_the_whole_sequence() {
        let mut p = policy(10, 1_000, 1.0, None);
        p.retry_timeout_ms = Some(2_500);
        let f = Failure::new("E", "m");
        assert_eq!(p.next_attempt(1, &f, 0, 1_000), Some(2_000));
        assert_eq!(p.next_attempt(2, &f, 0, 2_000), None, "the third attempt would start after 3 s");
    }

    #[test]
    fn bad_policies_are_refused() {
        assert_eq!(policy(0, 1, 1.0, None).validate(), Err(InvalidPolicy::NoAttempts));
        assert!(policy(2, 1, 0.5, None).validate().is_err());
        assert!(policy(2, 1, f64::NAN, None).validate().is_err());
        assert!(policy(2, 1, 1.5, None).validate().is_ok());
    }

    #[test]
    fn huge_delays_saturate() {
        assert_eq!(policy(99, u64::MAX / 2, 10.0, None).delay_after(50), u64::MAX);
    }
}
