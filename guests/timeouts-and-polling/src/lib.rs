//! Seed 002 (timeouts: `any(activity, timer)`, and activity timeouts with automatic retries) and
//! seed 004 (the async HTTP pattern: poll a status with a durable timer until done, within a
//! deadline).
//!
//! - `race_with_timer`: input `{"work_ms": w, "timeout_ms": t}`: starts `slow_work` (w ms of
//!   work) and a durable timer of t ms, and outputs `"done"` if the activity finished first, else
//!   `"timed out"` (the activity then runs to its end, its result unused).
//! - `activity_timeout`: input `{"work_ms": w, "timeout_ms": t, "max_attempts": m}` (m defaults
//!   to 1): calls `slow_work` with a per-attempt timeout of t ms and up to m attempts 10 ms apart,
//!   and outputs its output (`"done"`). If every attempt runs out of time, the instance fails with
//!   `ActivityFailed`, caused by the last attempt's `TimedOut`.
//! - `poll_until_done`: input `{"ready_after": k, "interval_ms": i, "deadline_ms": d}`: polls
//!   `check_status` every i ms (a durable timer between polls), setting the custom status
//!   `"poll n"` before poll n; outputs `{"polls": n}` once poll n reports done, or fails with
//!   `PollingDeadlineExceeded` when the next poll would come later than d ms after the start.
//!
//! The activities are deterministic: `slow_work` (input: a number of milliseconds) sleeps that
//! long and returns `"done"`; `check_status` (input `{"poll": n, "ready_after": k}`) returns
//! `{"done": n >= k}`.

use std::time::Duration;

use reprise_sdk::{ActivityContext, ActivityOptions, Context, Failure, RetryPolicy};
use serde::{Deserialize, Serialize};

/// The input of `race_with_timer`.
#[derive(Debug, Deserialize)]
struct Race {
    work_ms: u64,
    timeout_ms: u64,
}

fn race_with_timer(ctx: &Context, race: Race) -> Result<String, Failure> {
    let work = ctx.call_activity::<String, _>("slow_work", &race.work_ms);
    let timeout = ctx.timer(Duration::from_millis(race.timeout_ms));
    match ctx.first(&[&work, &timeout]) {
        0 => work.wait(),
        _ => Ok("timed out".to_owned()),
    }
}

/// The input of `activity_timeout`.
#[derive(Debug, Deserialize)]
struct TimedWork {
    work_ms: u64,
    timeout_ms: u64,
    #[serde(default = "one")]
    max_attempts: u32,
}

fn one() -> u32 {
    1
}

fn activity_timeout(ctx: &Context, work: TimedWork) -> Result<String, Failure> {
    let options = ActivityOptions::new()
        .timeout(Duration::from_millis(work.timeout_ms))
        .retry(RetryPolicy::new(work.max_attempts, Duration::from_millis(10)));
    ctx.call_activity_with_options("slow_work", &work.work_ms, &options).wait()
}

/// The input of `poll_until_done`.
#[derive(Debug, Deserialize)]
struct Polling {
    ready_after: u32,
    interval_ms: u64,
    deadline_ms: u64,
}

/// The input of `check_status`.
#[derive(Debug, Serialize, Deserialize)]
struct Check {
    poll: u32,
    ready_after: u32,
}

/// What `check_status` returns.
#[derive(Debug, Serialize, Deserialize)]
struct Status {
    done: bool,
}

/// What `poll_until_done` returns.
#[derive(Debug, Serialize)]
struct Polled {
    polls: u32,
}

fn poll_until_done(ctx: &Context, polling: Polling) -> Result<Polled, Failure> {
    let interval = Duration::from_millis(polling.interval_ms);
    let deadline = Duration::from_millis(polling.deadline_ms);
    // Logical time: on replay, this is the time of the first episode again.
    let start = ctx.current_time();
    let mut poll = 0;
    loop {
        poll += 1;
        ctx.set_custom_status(&format!("poll {poll}"))?;
        let check = Check { poll, ready_after: polling.ready_after };
        let status: Status = ctx.call_activity("check_status", &check).wait()?;
        if status.done {
            return Ok(Polled { polls: poll });
        }
        let elapsed = ctx.current_time().duration_since(start).unwrap_or_default();
        if elapsed.saturating_add(interval) > deadline {
            return Err(Failure::new(
                "PollingDeadlineExceeded",
                format!("not done after {poll} polls, and the deadline of {} ms is near", polling.deadline_ms),
            ));
        }
        ctx.timer(interval).wait()?;
    }
}

fn slow_work(_ctx: &ActivityContext, work_ms: u64) -> Result<String, Failure> {
    std::thread::sleep(Duration::from_millis(work_ms));
    Ok("done".to_owned())
}

fn check_status(_ctx: &ActivityContext, check: Check) -> Result<Status, Failure> {
    Ok(Status { done: check.poll >= check.ready_after })
}

reprise_sdk::export! {
    orchestrators: [race_with_timer, activity_timeout, poll_until_done],
    activities: [slow_work, check_status],
}

#[cfg(test)]
mod tests;
