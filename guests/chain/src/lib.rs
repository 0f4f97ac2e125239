//! Seed 003 (resilient workflows, resuming from the last checkpoint) at scale: a chain of steps
//! where each step feeds the next, and a fan-out of no-op steps.
//!
//! - `chain`: input `{"steps": n, "delay_ms": d}`, runs `step` n times in sequence, each given the
//!   previous step's output; output `{"steps": n, "last": value}` where `value` is `n`.
//! - `fan_out`: input `{"tasks": n}`, schedules n `noop` activities at once and waits for all;
//!   output the number that completed.
//! - `fan_out_then_wait`: the same, then waits for the event `go` (data `null`) and returns the number that
//!   completed: an instance that parks with a history of any length (replay and memory
//!   benchmarks; `{"tasks": 0}` parks at once).
//!
//! `step` sleeps `delay_ms` (a stand-in for real work, so that a test can kill the host mid-way)
//! and returns its input plus one; `noop` returns at once.

use std::time::Duration;

use reprise_sdk::{ActivityContext, Context, Failure};
use serde::{Deserialize, Serialize};

/// The input of `chain`.
#[derive(Debug, Deserialize)]
struct Chain {
    steps: u32,
    #[serde(default)]
    delay_ms: u64,
}

/// What `chain` returns.
#[derive(Debug, Serialize)]
struct ChainResult {
    steps: u32,
    last: u64,
}

/// The input of one `step`.
#[derive(Debug, Serialize, Deserialize)]
struct Step {
    value: u64,
    delay_ms: u64,
}

fn chain(ctx: &Context, input: Chain) -> Result<ChainResult, Failure> {
    let mut value = 0;
    for _ in 0..input.steps {
        value = ctx.call_activity("step", &Step { value, delay_ms: input.delay_ms }).wait()?;
    }
    Ok(ChainResult { steps: input.steps, last: value })
}

/// The input of `fan_out`.
#[derive(Debug, Deserialize)]
struct FanOut {
    tasks: u32,
}

fn fan_out(ctx: &Context, input: FanOut) -> Result<usize, Failure> {
    let tasks: Vec<_> = (0..input.tasks).map(|i| ctx.call_activity::<u32, _>("noop", &i)).collect();
    Ok(ctx.try_all(tasks)?.len())
}

fn fan_out_then_wait(ctx: &Context, input: FanOut) -> Result<usize, Failure> {
    let completed = fan_out(ctx, input)?;
    ctx.wait_for_event::<()>("go").wait()?;
    Ok(completed)
}

fn step(_ctx: &ActivityContext, step: Step) -> Result<u64, Failure> {
    if step.delay_ms > 0 {
        std::thread::sleep(Duration::from_millis(step.delay_ms));
    }
    Ok(step.value + 1)
}

fn noop(_ctx: &ActivityContext, input: u32) -> Result<u32, Failure> {
    Ok(input)
}

reprise_sdk::export! {
    orchestrators: [chain, fan_out, fan_out_then_wait],
    activities: [step, noop],
}
