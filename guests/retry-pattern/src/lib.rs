//! Seed 000, the durable retry pattern: `call_activity_with_retry` with `RetryOptions(5 s, max 3)`
//! on a flaky activity. The host, not the orchestrator, waits and retries; the orchestrator sees
//! only the final outcome, and every failed attempt is recorded in history for audit.
//!
//! - `retry_orchestrator`: input `{"input": "demo", "fail_times": k, "max_attempts": m,
//!   "first_retry_ms": f}` (every field optional: `input` "default", k = 0, m = 3, f = 5000, as in
//!   the seed; a `null` input takes every default). Calls `flaky_activity` with
//!   `RetryPolicy::new(m, f ms)`; output `"Succeeded with payload: <input>"`, or, if all m attempts
//!   fail, the instance fails with `ActivityFailed` caused by the last attempt's
//!   `TransientFailure`.
//! - `retry_with_backoff`: input `{"fail_times": k, "max_attempts": m, "first_retry_ms": f,
//!   "backoff": c, "max_retry_ms": x, "retry_timeout_ms": t, "never_retry": ["Fatal"],
//!   "fatal": false, "input": "demo"}` (defaults k = 0, m = 3, f = 5000, c = 1.0, no cap, no
//!   overall timeout, nothing exempt, not fatal, "demo"): calls `flaky_activity` (or
//!   `fatal_activity` if `fatal` is true) with a policy that sets every field, and outputs the
//!   activity's output (the same string as `retry_orchestrator`).
//!
//! The activities are deterministic functions of their input and of the attempt number:
//!
//! - `flaky_activity`: input `{"input": text, "fail_times": k}`; while
//!   [`attempt`](reprise_sdk::ActivityContext::attempt) `<= k` it fails with `TransientFailure`
//!   ("Transient activity failure. Please retry.", details `attempt N`), then it returns
//!   `"Succeeded with payload: <text>"`. (The seed fails at random; here the failures are chosen
//!   by the input, so tests know the outcome.)
//! - `fatal_activity`: same input; always fails with `Fatal` (message `fatal failure on attempt
//!   N`), which `retry_with_backoff` lists in `never_retry`, so it is attempted once.

use std::time::Duration;

use reprise_sdk::{ActivityContext, Context, Failure, RetryPolicy};
use serde::{Deserialize, Serialize};

/// The input of `retry_orchestrator`.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct RetryRequest {
    input: String,
    fail_times: u32,
    max_attempts: u32,
    first_retry_ms: u64,
}

impl Default for RetryRequest {
    fn default() -> Self {
        Self { input: "default".to_owned(), fail_times: 0, max_attempts: 3, first_retry_ms: 5_000 }
    }
}

/// The input of `retry_with_backoff`.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct BackoffRequest {
    fail_times: u32,
    max_attempts: u32,
    first_retry_ms: u64,
    backoff: f64,
    max_retry_ms: Option<u64>,
    retry_timeout_ms: Option<u64>,
    never_retry: Vec<String>,
    fatal: bool,
    input: String,
}

impl Default for BackoffRequest {
    fn default() -> Self {
        Self {
            fail_times: 0,
            max_attempts: 3,
            first_retry_ms: 5_000,
            backoff: 1.0,
            max_retry_ms: None,
            retry_timeout_ms: None,
            never_retry: Vec::new(),
            fatal: false,
            input: "demo".to_owned(),
        }
    }
}

/// The input of `flaky_activity` and `fatal_activity`.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    input: String,
    #[serde(default)]
    fail_times: u32,
}

fn retry_orchestrator(ctx: &Context, request: Option<RetryRequest>) -> Result<String, Failure> {
    let request = request.unwrap_or_default();
    // Retry decisions are the host's: the orchestrator only states the policy.
    let policy = RetryPolicy::new(request.max_attempts, Duration::from_millis(request.first_retry_ms));
    let payload = Payload { input: request.input, fail_times: request.fail_times };
    ctx.call_activity_with_retry("flaky_activity", &payload, &policy).wait()
}

fn retry_with_backoff(ctx: &Context, request: Option<BackoffRequest>) -> Result<String, Failure> {
    let request = request.unwrap_or_default();
    let mut policy = RetryPolicy::new(request.max_attempts, Duration::from_millis(request.first_retry_ms))
        .backoff_coefficient(request.backoff);
    if let Some(max) = request.max_retry_ms {
        policy = policy.max_retry_interval(Duration::from_millis(max));
    }
    if let Some(timeout) = request.retry_timeout_ms {
        policy = policy.retry_timeout(Duration::from_millis(timeout));
    }
    for error_type in request.never_retry {
        policy = policy.never_retry(error_type);
    }
    let activity = if request.fatal { "fatal_activity" } else { "flaky_activity" };
    let payload = Payload { input: request.input, fail_times: request.fail_times };
    let outcome = ctx.call_activity_with_retry::<String, _>(activity, &payload, &policy).wait();
    if let Err(failure) = &outcome {
        ctx.log_warn(format!("'{activity}' gave up: {failure}"));
    }
    outcome
}

fn flaky_activity(ctx: &ActivityContext, payload: Payload) -> Result<String, Failure> {
    let attempt = ctx.attempt();
    if attempt <= payload.fail_times {
        return Err(Failure::new("TransientFailure", "Transient activity failure. Please retry.")
            .with_details(format!("attempt {attempt}")));
    }
    Ok(format!("Succeeded with payload: {}", payload.input))
}

fn fatal_activity(ctx: &ActivityContext, _payload: Payload) -> Result<String, Failure> {
    Err(Failure::new("Fatal", format!("fatal failure on attempt {}", ctx.attempt())))
}

reprise_sdk::export! {
    orchestrators: [retry_orchestrator, retry_with_backoff],
    activities: [flaky_activity, fatal_activity],
}

#[cfg(test)]
mod tests;
