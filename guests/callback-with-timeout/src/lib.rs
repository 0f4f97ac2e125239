//! Seed 001, calling an external system with a timeout limit and a retry limit, and waiting for
//! the system to call back: the orchestrator sends a job, then races the callback (an external
//! event) against a durable timer, and sends the job again after a timeout or a rejection.
//!
//! - `run_job`: input `{"job": "...", "timeout_ms": t, "max_retries": n}` (`timeout_ms` defaults
//!   to 30000, `max_retries` to 2). For attempt 1 to n + 1: calls `send_job`, then waits for the
//!   event `JobCompleted` or a timer of t ms, whichever comes first. On the event, outputs
//!   `{"status": "completed", "attempts": attempt, "result": <the event's data>}`. On a timeout
//!   or a rejected send, sets the custom status `"retrying after timeout (attempt k)"` (k, the
//!   attempt that just failed) and tries again. After the last attempt, fails with `JobTimedOut`
//!   ("no callback after N attempts", with the last rejection as its cause if the last send was
//!   rejected).
//! - `notify_other`: input `{"target": instance_id, "name": event name, "data": any JSON}`: raises
//!   the event on the other instance (for example `JobCompleted` on a `run_job` instance) and
//!   outputs `"sent"`.
//!
//! The activity `send_job` (input `{"job": "...", "attempt": k}`) stands for the call to the
//! external system: it returns the job id `"<job>-<k>"`, or fails with `JobRejected` when the job
//! contains `reject`.
//!
//! Each attempt starts its own wait for `JobCompleted`, but races every wait started so far: the
//! host gives an event to the oldest pending wait of its name, and the waits of earlier attempts
//! lost their races to timers without being consumed, so the callback lands in the first of
//! them. (A late callback for an earlier attempt's job therefore completes the job too.) Racing
//! only the newest wait would miss the callback and time out again.

use std::time::Duration;

use reprise_sdk::{ActivityContext, Awaitable, Context, Failure, Task};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The input of `run_job`.
#[derive(Debug, Deserialize)]
struct JobRequest {
    job: String,
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

/// The input of `send_job`.
#[derive(Debug, Serialize, Deserialize)]
struct SendJob {
    job: String,
    attempt: u32,
}

/// What `run_job` returns.
#[derive(Debug, Serialize)]
struct JobResult {
    status: &'static str,
    attempts: u32,
    result: Value,
}

fn run_job(ctx: &Context, request: JobRequest) -> Result<JobResult, Failure> {
    let attempts = request.max_retries.saturating_add(1);
    let timeout = Duration::from_millis(request.timeout_ms);
    // Every wait started so far: any of them may receive the callback (see the module's
    // documentation).
    let mut callbacks: Vec<Task<Value>> = Vec::new();
    let mut rejection = None;
    for attempt in 1..=attempts {
        let send = SendJob { job: request.job.clone(), attempt };
        match ctx.call_activity::<String, _>("send_job", &send).wait() {
            Ok(job_id) => {
                rejection = None;
                ctx.log_info(format!("sent job {job_id}, waiting up to {} ms", request.timeout_ms));
                callbacks.push(ctx.wait_for_event("JobCompleted"));
                let timer = ctx.timer(timeout);
                let mut racers: Vec<&dyn Awaitable> = callbacks.iter().map(|c| c as &dyn Awaitable).collect();
                racers.push(&timer);
                let winner = ctx.first(&racers);
                if winner < callbacks.len() {
                    let result = callbacks.swap_remove(winner).wait()?;
                    return Ok(JobResult { status: "completed", attempts: attempt, result });
                }
                ctx.log_warn(format!("no callback for job {job_id} within {} ms", request.timeout_ms));
            }
            Err(failure) => {
                ctx.log_warn(format!("attempt {attempt} could not send the job: {failure}"));
                rejection = Some(failure);
            }
        }
        if attempt < attempts {
            ctx.set_custom_status(&format!("retrying after timeout (attempt {attempt})"))?;
        }
    }
    let failure = Failure::new("JobTimedOut", format!("no callback after {attempts} attempts"));
    Err(match rejection {
        Some(cause) => failure.caused_by(cause),
        None => failure,
    })
}

/// The input of `notify_other`.
#[derive(Debug, Deserialize)]
struct Notification {
    target: String,
    name: String,
    #[serde(default)]
    data: Value,
}

fn notify_other(ctx: &Context, notification: Notification) -> Result<String, Failure> {
    ctx.raise_event(&notification.target, &notification.name, &notification.data)?;
    Ok("sent".to_owned())
}

fn send_job(_ctx: &ActivityContext, send: SendJob) -> Result<String, Failure> {
    if send.job.contains("reject") {
        return Err(Failure::new("JobRejected", format!("the external system rejected job '{}'", send.job)));
    }
    Ok(format!("{}-{}", send.job, send.attempt))
}

reprise_sdk::export! {
    orchestrators: [run_job, notify_other],
    activities: [send_job],
}

#[cfg(test)]
mod tests;
