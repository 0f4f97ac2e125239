//! Seed 001 over real HTTP: call an external job service with a timeout limit and a retry limit,
//! and wait for the service to call back. The worked example of `reprise_sdk::http` (the
//! simulated version is `guests/callback-with-timeout`).
//!
//! The orchestrator `run_job` takes `{"job": "...", "service": "http://127.0.0.1:PORT",
//! "callback": "http://127.0.0.1:APIPORT", "timeout_ms": t, "max_retries": n}` (`timeout_ms`
//! defaults to 30000, `max_retries` to 2). For attempt k from 1 to n + 1:
//!
//! 1. It calls the activity `submit_job` with `{"service", "callback", "job", "attempt": k}`,
//!    under a retry policy of 3 attempts 1 s apart. The activity sends
//!    `POST {service}/jobs` with the JSON body `{"job": ..., "attempt": k, "callback":
//!    "{callback}/runtime/webhooks/durabletask/instances/{instance_id}/raiseEvent/JobCompleted"}`
//!    (the Reprise HTTP API's route that raises an event on this instance) and an
//!    `idempotency-key` header that is the same for every try of one attempt, and returns the
//!    service's JSON reply (`{"id": "..."}`). A 4xx reply fails with `JobRejected`, which the
//!    policy does not retry (the service would reject the job again); a 5xx reply or a
//!    transport error fails with `HttpError`, which it retries.
//! 2. Once the job is submitted, it races the event `JobCompleted` (the callback) against a
//!    durable timer of t ms. On the event, it outputs `{"status": "completed", "attempts": k,
//!    "job_id": <the "id" of the service's last reply>, "result": <the event's data>}`.
//! 3. On a timeout, or a submit that failed for good, it sets the custom status
//!    `"retrying after timeout (attempt k)"` or `"retrying after a failed submit (attempt k)"`
//!    and tries again. After the last attempt, it fails with `JobTimedOut` ("no callback after
//!    N attempts"), whose cause is the last submit's failure if that one failed.
//!
//! While it waits, the custom status reads `"waiting for job ID (attempt k)"` (ID as JSON, so a
//! string id is quoted); a completed job clears it.
//!
//! The activity needs a grant for `POST {service}/jobs`; the orchestrator needs none (it never
//! makes a request itself: only activities may).
//!
//! Each attempt starts its own wait for `JobCompleted`, but races every wait started so far: the
//! host gives an event to the oldest pending wait of its name, and the waits of earlier attempts
//! lost their races to timers without being consumed, so the callback lands in the first of
//! them. (A late callback for an earlier attempt's job therefore completes the job too.) Racing
//! only the newest wait would miss the callback and time out again.

use std::time::Duration;

use reprise_sdk::http;
use reprise_sdk::{ActivityContext, Awaitable, Context, Failure, RetryPolicy, Task};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The input of `run_job`.
#[derive(Debug, Deserialize)]
struct JobRequest {
    job: String,
    /// The job service's base URL.
    service: String,
    /// The base URL of the Reprise HTTP API, for the service's callback.
    callback: String,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_max_retries")]
    max_retries: u32,
}

fn default_timeout_ms() -> u64 {
    30_000
}

fn default_max_retries() -> u32 {
    2
}

/// The input of `submit_job`.
#[derive(Debug, Serialize, Deserialize)]
struct SubmitJob {
    service: String,
    callback: String,
    job: String,
    attempt: u32,
}

/// What `run_job` returns.
#[derive(Debug, Serialize)]
struct JobResult {
    status: &'static str,
    attempts: u32,
    job_id: Value,
    result: Value,
}

/// How each submit is retried: a service that is down or overloaded (5xx, or no answer) may be
/// back a second later; one that rejected the job (4xx) would reject it again, and a request
/// outside the activity's grants (which the host reports as `HttpDenied`) would be denied again.
fn submit_policy() -> RetryPolicy {
    RetryPolicy::new(3, Duration::from_secs(1)).never_retry("JobRejected").never_retry("HttpDenied")
}

fn run_job(ctx: &Context, request: JobRequest) -> Result<JobResult, Failure> {
    let attempts = request.max_retries.saturating_add(1);
    let timeout = Duration::from_millis(request.timeout_ms);
    // Every wait started so far: any of them may receive the callback (see the module's
    // documentation).
    let mut callbacks: Vec<Task<Value>> = Vec::new();
    let mut failed_submit = None;
    for attempt in 1..=attempts {
        let submit = SubmitJob {
            service: request.service.clone(),
            callback: request.callback.clone(),
            job: request.job.clone(),
            attempt,
        };
        let retry_status =
            match ctx.call_activity_with_retry::<Value, _>("submit_job", &submit, &submit_policy()).wait() {
                Ok(reply) => {
                    failed_submit = None;
                    let job_id = reply.get("id").cloned().unwrap_or(Value::Null);
                    ctx.set_custom_status(&format!("waiting for job {job_id} (attempt {attempt})"))?;
                    callbacks.push(ctx.wait_for_event("JobCompleted"));
                    let timer = ctx.timer(timeout);
                    let mut racers: Vec<&dyn Awaitable> = callbacks.iter().map(|c| c as &dyn Awaitable).collect();
                    racers.push(&timer);
                    let winner = ctx.first(&racers);
                    if winner < callbacks.len() {
                        let result = callbacks.swap_remove(winner).wait()?;
                        ctx.clear_custom_status();
                        return Ok(JobResult { status: "completed", attempts: attempt, job_id, result });
                    }
                    ctx.log_warn(format!("no callback for job {job_id} within {} ms", request.timeout_ms));
                    format!("retrying after timeout (attempt {attempt})")
                }
                Err(failure) => {
                    ctx.log_warn(format!("attempt {attempt} could not submit the job: {failure}"));
                    failed_submit = Some(failure);
                    format!("retrying after a failed submit (attempt {attempt})")
                }
            };
        if attempt < attempts {
            ctx.set_custom_status(&retry_status)?;
        }
    }
    let failure = Failure::new("JobTimedOut", format!("no callback after {attempts} attempts"));
    Err(match failed_submit {
        Some(cause) => failure.caused_by(cause),
        None => failure,
    })
}

fn submit_job(ctx: &ActivityContext, submit: SubmitJob) -> Result<Value, Failure> {
    let callback = format!(
        "{}/runtime/webhooks/durabletask/instances/{}/raiseEvent/JobCompleted",
        submit.callback.trim_end_matches('/'),
        path_segment(&ctx.instance_id()),
    );
    let response = http::post(format!("{}/jobs", submit.service.trim_end_matches('/')))
        // The same for every try of this attempt, so that the service can tell a retry of a
        // request it already took from a new job.
        .header("idempotency-key", ctx.idempotency_key())
        .json(&json!({ "job": submit.job, "attempt": submit.attempt, "callback": callback }))?
        .send()?;
    let status = response.status();
    if status.is_client_error() {
        let reply = response.text()?;
        return Err(Failure::new(
            "JobRejected",
            format!("the service rejected job '{}': {status} {reply}", submit.job),
        ));
    }
    if !status.is_success() {
        let reply = response.text()?;
        return Err(Failure::new(Failure::HTTP_ERROR, format!("the service answered {status}: {reply}")));
    }
    Ok(response.json()?)
}

/// `text` made safe as one segment of a URL path: every byte but the unreserved ones
/// (`A-Z a-z 0-9 - . _ ~`) percent-encoded, so an instance id such as `job 1/2` stays one
/// segment.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(byte).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

reprise_sdk::export! {
    orchestrators: [run_job],
    activities: [submit_job],
}
