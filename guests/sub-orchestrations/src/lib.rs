//! Seed 002's sub-orchestration failures and Durable Functions' eternal orchestrations:
//!
//! - `parent_sum`: input `[i, ...]`, starts `child_double` for each item in parallel and returns
//!   the sum of their outputs; a failed child fails the parent (the child's failure is a cause).
//! - `parent_catch`: input `i`, calls `child_double(i)` and reports a failure instead of failing:
//!   `{"caught": bool, "message": ...}`.
//! - `parent_retry`: input `{"succeed_after": ms}`, calls `child_clock` with a retry policy of 3
//!   attempts 5 s apart; returns the child's output.
//! - `parent_of_waiter`: input an id, starts `child_waits` under that id and waits for it.
//! - `counter`: input `{"n": n, "until": m}`, continues as new with `n + 1` until `n == m`.
//! - `collector`: input `{"seen": [..], "expect": k}`, waits for one `item` event per execution
//!   and continues as new carrying the events not yet consumed, until it has `k`.
//!
//! `child_double(i)` doubles `i` with the activity `double`, and fails with `UnluckyNumber` for 13;
//! `child_clock` fails with `NotYet` while the logical time is before `succeed_after`;
//! `child_waits` waits for an event that never comes.

use reprise_sdk::{ActivityContext, Context, Failure, RetryPolicy, SubOrchestrationOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, UNIX_EPOCH};

fn parent_sum(ctx: &Context, items: Vec<u64>) -> Result<u64, Failure> {
    let children: Vec<_> = items.iter().map(|i| ctx.call_sub_orchestrator::<u64, _>("child_double", i)).collect();
    Ok(ctx.try_all(children)?.into_iter().sum())
}

/// What `parent_catch` returns.
#[derive(Serialize)]
struct Caught {
    caught: bool,
    message: String,
}

fn parent_catch(ctx: &Context, item: u64) -> Result<Caught, Failure> {
    match ctx.call_sub_orchestrator::<u64, _>("child_double", &item).wait() {
        Ok(value) => Ok(Caught { caught: false, message: value.to_string() }),
        Err(failure) => Ok(Caught { caught: failure.is("UnluckyNumber"), message: failure.message }),
    }
}

fn child_double(ctx: &Context, item: u64) -> Result<u64, Failure> {
    if item == 13 {
        return Err(Failure::new("UnluckyNumber", "13 is not processed here"));
    }
    ctx.call_activity("double", &item).wait()
}

fn double(_ctx: &ActivityContext, item: u64) -> Result<u64, Failure> {
    Ok(item * 2)
}

/// The input of `parent_retry` and `child_clock`.
#[derive(Serialize, Deserialize)]
struct Deadline {
    succeed_after: u64,
}

fn parent_retry(ctx: &Context, input: Deadline) -> Result<String, Failure> {
    let options = SubOrchestrationOptions::new().retry(RetryPolicy::new(3, Duration::from_secs(5)));
    ctx.call_sub_orchestrator_with("child_clock", &input, &options).wait()
}

fn child_clock(ctx: &Context, input: Deadline) -> Result<String, Failure> {
    let now = ctx.current_time().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    if now < input.succeed_after {
        return Err(Failure::new("NotYet", format!("it is {now}, before {}", input.succeed_after)));
    }
    Ok(format!("ok at {now}"))
}

fn parent_of_waiter(ctx: &Context, child_id: String) -> Result<Value, Failure> {
    let options = SubOrchestrationOptions::new().instance_id(child_id);
    ctx.call_sub_orchestrator_with("child_waits", &Value::Null, &options).wait()
}

fn child_waits(ctx: &Context, _input: Value) -> Result<Value, Failure> {
    ctx.wait_for_event("never").wait()
}

/// The input of `counter`.
#[derive(Serialize, Deserialize)]
struct Count {
    n: u64,
    until: u64,
}

fn counter(ctx: &Context, count: Count) -> Result<u64, Failure> {
    if count.n >= count.until {
        return Ok(count.n);
    }
    ctx.continue_as_new(&Count { n: count.n + 1, until: count.until })
}

/// The input of `collector`.
#[derive(Serialize, Deserialize)]
struct Collected {
    seen: Vec<Value>,
    expect: usize,
}

fn collector(ctx: &Context, mut collected: Collected) -> Result<Vec<Value>, Failure> {
    let item: Value = ctx.wait_for_event("item").wait()?;
    collected.seen.push(item);
    if collected.seen.len() >= collected.expect {
        return Ok(collected.seen);
    }
    ctx.continue_as_new_carrying_events(&collected)
}

reprise_sdk::export! {
    orchestrators: [parent_sum, parent_catch, child_double, parent_retry, child_clock, parent_of_waiter, child_waits, counter, collector],
    activities: [double],
}

#[cfg(test)]
mod tests;
