//! Between the SDK's types, the WIT bindings' and the host core's: the harness speaks the core's
//! language to the replay engine and the planner, and the SDK's to the code under test.

use reprise_core::replay::Completion;
use reprise_core::{ActivityOptions, Failure as CoreFailure, FailureCause as CoreCause, RetryPolicy};

use crate::__private::bindings::reprise::durable::types as wire;
use crate::{Failure, FailureCause, Level};

/// An SDK failure as the core records it.
pub(crate) fn failure_to_core(failure: Failure) -> CoreFailure {
    let causes = failure
        .causes
        .into_iter()
        .map(|c| CoreCause { error_type: c.error_type, message: c.message, details: c.details })
        .collect();
    CoreFailure { error_type: failure.error_type, message: failure.message, details: failure.details, causes }
}

/// A recorded failure as the SDK shows it.
pub(crate) fn failure_from_core(failure: CoreFailure) -> Failure {
    let mut sdk = Failure::new(failure.error_type, failure.message);
    sdk.details = failure.details;
    sdk.causes = failure
        .causes
        .into_iter()
        .map(|c| FailureCause { error_type: c.error_type, message: c.message, details: c.details })
        .collect();
    sdk
}

/// A completion as the bindings return it to the SDK.
pub(crate) fn completion(completion: Completion) -> wire::Completion {
    let outcome = completion.outcome.map(|p| p.into_string()).map_err(|f| wire::Failure::from(failure_from_core(f)));
    wire::Completion { task: completion.task, outcome }
}

/// The retry policy a call gave, in the core's form.
pub(crate) fn retry_policy(p: &wire::RetryPolicy) -> RetryPolicy {
    RetryPolicy {
        max_attempts: p.max_attempts,
        first_retry_interval_ms: p.first_retry_interval_ms,
        backoff_coefficient: p.backoff_coefficient,
        max_retry_interval_ms: p.max_retry_interval_ms,
        retry_timeout_ms: p.retry_timeout_ms,
        non_retryable_errors: p.non_retryable_errors.clone(),
    }
}

/// An activity call's options, checked as the host checks them.
pub(crate) fn activity_options(options: &wire::ActivityOptions) -> Result<ActivityOptions, String> {
    let retry = options.retry.as_ref().map(retry_policy);
    if let Some(policy) = &retry {
        policy.validate().map_err(|e| e.to_string())?;
    }
    Ok(ActivityOptions { retry, timeout_ms: options.timeout_ms })
}

/// A log level of the bindings as the SDK names it.
pub(crate) fn level(level: wire::LogLevel) -> Level {
    match level {
        wire::LogLevel::Debug => Level::Debug,
        wire::LogLevel::Info => Level::Info,
        wire::LogLevel::Warn => Level::Warn,
        wire::LogLevel::Error => Level::Error,
    }
}
