//! How an activity is scheduled: its retry policy and its per-attempt timeout.

use std::time::Duration;

use crate::__private::bindings::reprise::durable::types as wire;
use crate::Failure;

/// How the host retries a failed activity, as Durable Functions' `RetryOptions`.
///
/// The host, not the orchestrator, waits between attempts and retries: the orchestrator's task
/// completes once, with the output of the first attempt that succeeded, or with the failure of
/// the last attempt (of type [`ACTIVITY_FAILED`](Failure::ACTIVITY_FAILED), the activity's own
/// failure as its first cause). Every failed attempt is recorded in the instance's history.
///
/// The wait before attempt `n + 1` is
/// `min(first_retry_interval × backoff_coefficient^(n − 1), max_retry_interval)`.
///
/// ```
/// use std::time::Duration;
/// use reprise_sdk::RetryPolicy;
///
/// // Up to 5 attempts, waiting 1 s, 2 s, 4 s, then 5 s (the cap) between them; give up after
/// // a minute whatever the count, and never retry a `Fatal` failure.
/// let policy = RetryPolicy::new(5, Duration::from_secs(1))
///     .backoff_coefficient(2.0)
///     .max_retry_interval(Duration::from_secs(5))
///     .retry_timeout(Duration::from_secs(60))
///     .never_retry("Fatal");
/// assert!(policy.validate().is_ok());
/// ```
///
/// Durations are rounded up to whole milliseconds. A policy the host would refuse (see
/// [`RetryPolicy::validate`]) is not sent to it: the activity is not scheduled and its task fails
/// with [`INVALID_OPTIONS`](Failure::INVALID_OPTIONS) when waited on.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    first_retry_interval_ms: u64,
    backoff_coefficient: f64,
    max_retry_interval_ms: Option<u64>,
    retry_timeout_ms: Option<u64>,
    non_retryable_errors: Vec<String>,
}

impl RetryPolicy {
    /// A policy of `max_attempts` attempts in all, the first one included (so 1 means no retry),
    /// waiting `first_retry_interval` after each failed attempt: a backoff coefficient of 1.0, no
    /// cap on the wait, no overall timeout, and every error type retried.
    pub fn new(max_attempts: u32, first_retry_interval: Duration) -> Self {
        Self {
            max_attempts,
            first_retry_interval_ms: millis(first_retry_interval),
            backoff_coefficient: 1.0,
            max_retry_interval_ms: None,
            retry_timeout_ms: None,
            non_retryable_errors: Vec::new(),
        }
    }

    /// How much each wait grows over the previous one: 2.0 doubles it after every failed
    /// attempt, 1.0 (the default) keeps it constant. At least 1.0.
    #[must_use]
    pub fn backoff_coefficient(mut self, coefficient: f64) -> Self {
        self.backoff_coefficient = coefficient;
        self
    }

    /// The longest wait between two attempts, however large the backoff makes it.
    #[must_use]
    pub fn max_retry_interval(mut self, interval: Duration) -> Self {
        self.max_retry_interval_ms = Some(millis(interval));
        self
    }

    /// Gives up once this long has passed since the first attempt started, whatever the attempt
    /// count: no attempt starts later than that.
    #[must_use]
    pub fn retry_timeout(mut self, timeout: Duration) -> Self {
        self.retry_timeout_ms = Some(millis(timeout));
        self
    }

    /// Never retries a failure of this error type: the host matches it against the failure the
    /// activity returned and that failure's causes. Call it once per error type.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use reprise_sdk::RetryPolicy;
    /// let policy = RetryPolicy::new(3, Duration::from_secs(5))
    ///     .never_retry("InsufficientFunds")
    ///     .never_retry("AccountFrozen");
    /// ```
    #[must_use]
    pub fn never_retry(mut self, error_type: impl Into<String>) -> Self {
        self.non_retryable_errors.push(error_type.into());
        self
    }

    /// Checks the values the host requires: at least one attempt, and a backoff coefficient
    /// that is a finite number of at least 1.0.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use reprise_sdk::RetryPolicy;
    /// let failure = RetryPolicy::new(0, Duration::from_secs(1)).validate().unwrap_err();
    /// assert_eq!(failure.error_type, "InvalidOptions");
    /// assert!(RetryPolicy::new(3, Duration::ZERO).backoff_coefficient(0.5).validate().is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A failure of type [`INVALID_OPTIONS`](Failure::INVALID_OPTIONS) naming the bad value.
    pub fn validate(&self) -> Result<(), Failure> {
        if self.max_attempts == 0 {
            return Err(Failure::new(
                Failure::INVALID_OPTIONS,
                "a retry policy needs max_attempts of at least 1 (1 means no retry)",
            ));
        }
        if !(self.backoff_coefficient.is_finite() && self.backoff_coefficient >= 1.0) {
            return Err(Failure::new(
                Failure::INVALID_OPTIONS,
                format!(
                    "a retry policy's backoff coefficient must be a finite number of at least 1.0, not {}",
                    self.backoff_coefficient
                ),
            ));
        }
        Ok(())
    }

    /// The WIT record.
    pub(crate) fn to_wire(&self) -> wire::RetryPolicy {
        wire::RetryPolicy {
            max_attempts: self.max_attempts,
            first_retry_interval_ms: self.first_retry_interval_ms,
            backoff_coefficient: self.backoff_coefficient,
            max_retry_interval_ms: self.max_retry_interval_ms,
            retry_timeout_ms: self.retry_timeout_ms,
            non_retryable_errors: self.non_retryable_errors.clone(),
        }
    }
}

/// How an activity is scheduled by
/// [`Context::call_activity_with_options`](crate::Context::call_activity_with_options): a retry
/// policy and/or a per-attempt timeout.
///
/// An attempt that runs longer than the timeout is interrupted by the host and fails with the
/// error type [`TIMED_OUT`](Failure::TIMED_OUT); the retry policy sees that failure like any
/// other, so each attempt gets the full timeout.
///
/// ```
/// use std::time::Duration;
/// use reprise_sdk::{ActivityOptions, RetryPolicy};
///
/// // Three attempts of at most 2 s each, 100 ms apart.
/// let options = ActivityOptions::new()
///     .timeout(Duration::from_secs(2))
///     .retry(RetryPolicy::new(3, Duration::from_millis(100)));
/// ```
///
/// The default (`ActivityOptions::new()`) runs the activity once, without a timeout, like
/// [`Context::call_activity`](crate::Context::call_activity).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityOptions {
    retry: Option<RetryPolicy>,
    timeout_ms: Option<u64>,
}

impl ActivityOptions {
    /// No retry and no timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries failed attempts with `policy`.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Interrupts an attempt that runs longer than `timeout` (rounded up to whole milliseconds);
    /// the attempt then fails with [`TIMED_OUT`](Failure::TIMED_OUT).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_ms = Some(millis(timeout));
        self
    }

    /// Checks the retry policy, if any, with [`RetryPolicy::validate`].
    ///
    /// # Errors
    ///
    /// A failure of type [`INVALID_OPTIONS`](Failure::INVALID_OPTIONS) naming the bad value.
    pub fn validate(&self) -> Result<(), Failure> {
        self.retry.as_ref().map_or(Ok(()), RetryPolicy::validate)
    }

    /// The WIT record.
    pub(crate) fn to_wire(&self) -> wire::ActivityOptions {
        wire::ActivityOptions { retry: self.retry.as_ref().map(RetryPolicy::to_wire), timeout_ms: self.timeout_ms }
    }
}

impl From<RetryPolicy> for ActivityOptions {
    /// Options that retry with `policy`, without a timeout.
    fn from(policy: RetryPolicy) -> Self {
        Self::new().retry(policy)
    }
}

/// `duration` in whole milliseconds, rounded up (so that a timer never fires early), saturated
/// at `u64::MAX`.
pub(crate) fn millis(duration: Duration) -> u64 {
    let mut ms = duration.as_millis();
    if !duration.subsec_nanos().is_multiple_of(1_000_000) {
        ms += 1;
    }
    u64::try_from(ms).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_eq(a: &wire::RetryPolicy, b: &wire::RetryPolicy) -> bool {
        a.max_attempts == b.max_attempts
            && a.first_retry_interval_ms == b.first_retry_interval_ms
            && a.backoff_coefficient.to_bits() == b.backoff_coefficient.to_bits()
            && a.max_retry_interval_ms == b.max_retry_interval_ms
            && a.retry_timeout_ms == b.retry_timeout_ms
            && a.non_retryable_errors == b.non_retryable_errors
    }

    #[test]
    fn new_gives_the_seed_defaults() {
        let wire = RetryPolicy::new(3, Duration::from_secs(5)).to_wire();
        let expected = wire::RetryPolicy {
            max_attempts: 3,
            first_retry_interval_ms: 5_000,
            backoff_coefficient: 1.0,
            max_retry_interval_ms: None,
            retry_timeout_ms: None,
            non_retryable_errors: vec![],
        };
        assert!(wire_eq(&wire, &expected), "{wire:?}");
    }

    #[test]
    fn every_builder_method_sets_its_field() {
        let policy = RetryPolicy::new(5, Duration::from_millis(250))
            .backoff_coefficient(2.5)
            .max_retry_interval(Duration::from_secs(2))
            .retry_timeout(Duration::from_secs(30))
            .never_retry("Fatal")
            .never_retry(String::from("AccountFrozen"));
        let expected = wire::RetryPolicy {
            max_attempts: 5,
            first_retry_interval_ms: 250,
            backoff_coefficient: 2.5,
            max_retry_interval_ms: Some(2_000),
            retry_timeout_ms: Some(30_000),
            non_retryable_errors: vec!["Fatal".into(), "AccountFrozen".into()],
        };
        let wire = policy.to_wire();
        assert!(wire_eq(&wire, &expected), "{wire:?}");
        assert_eq!(policy.validate(), Ok(()));
    }

    #[test]
    fn later_calls_replace_earlier_ones() {
        let policy = RetryPolicy::new(2, Duration::ZERO)
            .backoff_coefficient(3.0)
            .backoff_coefficient(1.5)
            .max_retry_interval(Duration::from_secs(9))
            .max_retry_interval(Duration::from_secs(1));
        let wire = policy.to_wire();
        assert_eq!(wire.backoff_coefficient, 1.5);
        assert_eq!(wire.max_retry_interval_ms, Some(1_000));
        assert_eq!(wire.first_retry_interval_ms, 0);
    }

    #[test]
    fn durations_round_up_to_whole_milliseconds_and_saturate() {
        assert_eq!(millis(Duration::ZERO), 0);
        assert_eq!(millis(Duration::from_millis(7)), 7);
        assert_eq!(millis(Duration::from_micros(1)), 1);
        assert_eq!(millis(Duration::from_micros(1_500)), 2);
        assert_eq!(millis(Duration::from_nanos(2_000_000_001)), 2_001);
        assert_eq!(millis(Duration::MAX), u64::MAX);
        assert_eq!(RetryPolicy::new(1, Duration::from_micros(10)).to_wire().first_retry_interval_ms, 1);
    }

    #[test]
    fn bad_policies_are_refused() {
        let zero = RetryPolicy::new(0, Duration::from_secs(1)).validate().unwrap_err();
        assert_eq!(zero.error_type, Failure::INVALID_OPTIONS);
        assert!(zero.message.contains("max_attempts"), "{zero}");
        for coefficient in [0.5, 0.0, -1.0, f64::NAN, f64::INFINITY] {
            let failure = RetryPolicy::new(3, Duration::ZERO).backoff_coefficient(coefficient).validate().unwrap_err();
            assert_eq!(failure.error_type, Failure::INVALID_OPTIONS, "{coefficient}");
            assert!(failure.message.contains("backoff coefficient"), "{failure}");
        }
        assert_eq!(RetryPolicy::new(1, Duration::ZERO).backoff_coefficient(1.0).validate(), Ok(()));
    }

    #[test]
    fn options_carry_the_policy_and_the_timeout() {
        let wire = ActivityOptions::new().to_wire();
        assert!(wire.retry.is_none() && wire.timeout_ms.is_none());

        let options =
            ActivityOptions::new().timeout(Duration::from_millis(1_500)).retry(RetryPolicy::new(4, Duration::ZERO));
        let wire = options.to_wire();
        assert_eq!(wire.timeout_ms, Some(1_500));
        assert_eq!(wire.retry.as_ref().map(|r| r.max_attempts), Some(4));
        assert_eq!(options.validate(), Ok(()));

        let from: ActivityOptions = RetryPolicy::new(2, Duration::from_secs(1)).into();
        assert_eq!(from, ActivityOptions::new().retry(RetryPolicy::new(2, Duration::from_secs(1))));
    }

    #[test]
    fn options_validate_their_policy() {
        let options = ActivityOptions::new().retry(RetryPolicy::new(0, Duration::ZERO));
        assert_eq!(options.validate().unwrap_err().error_type, Failure::INVALID_OPTIONS);
        assert_eq!(ActivityOptions::new().timeout(Duration::ZERO).validate(), Ok(()));
    }
}

/// How a sub-orchestration is started by
/// [`Context::call_sub_orchestrator_with`](crate::Context::call_sub_orchestrator_with): the child's
/// instance id and a retry policy.
///
/// A retry restarts the child instance (a new execution, same id) with its original input once
/// the policy's wait has passed; the parent sees only the final outcome.
///
/// ```
/// use std::time::Duration;
/// use reprise_sdk::{RetryPolicy, SubOrchestrationOptions};
///
/// let options = SubOrchestrationOptions::new()
///     .instance_id("invoice-42")
///     .retry(RetryPolicy::new(3, Duration::from_secs(5)));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubOrchestrationOptions {
    instance_id: Option<String>,
    retry: Option<RetryPolicy>,
}

impl SubOrchestrationOptions {
    /// No fixed id (the host derives one from the parent's), no retry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The child instance's id (it must not be taken).
    pub fn instance_id(mut self, instance_id: impl Into<String>) -> Self {
        self.instance_id = Some(instance_id.into());
        self
    }

    /// Retry the child when it fails.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Checks the retry policy, if any.
    pub fn validate(&self) -> Result<(), Failure> {
        self.retry.as_ref().map_or(Ok(()), RetryPolicy::validate)
    }

    /// The WIT record.
    pub(crate) fn to_wire(&self) -> wire::SubOrchestrationOptions {
        wire::SubOrchestrationOptions {
            instance_id: self.instance_id.clone(),
            retry: self.retry.as_ref().map(RetryPolicy::to_wire),
        }
    }
}
