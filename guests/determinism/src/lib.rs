//! The determinism rules of the SDK docs, put to the test: an orchestrator that reads the clocks,
//! draws random numbers, iterates a `HashMap` and creates GUIDs with no care at all, before and
//! after an activity call (an episode boundary). The host virtualizes all of these, so the same
//! history gives the same output, whether the instance ran in one go or was replayed.
//!
//! Orchestrator `determinism_probe`: input anything (echoed back through the activity `echo`),
//! output `{"before": sample, "after": sample, "instant_elapsed_nanos": ..., "echoed": input}`,
//! where a sample holds the wall-clock and logical time, random numbers, a hash map's iteration
//! order and a GUID.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::RngExt;
use reprise_sdk::{ActivityContext, Context, Failure};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the orchestrator sees of its environment at one point.
#[derive(Debug, Serialize, Deserialize)]
struct Sample {
    /// `SystemTime::now()`, in ms since the Unix epoch.
    system_time_ms: u128,
    /// `Context::current_time()`, in ms since the Unix epoch.
    context_time_ms: u128,
    /// `rand::random::<u64>()` (the thread-local generator, seeded from the host).
    random_u64: u64,
    /// Three draws of `random_range(0..1000)` from the thread-local generator.
    random_range: Vec<u32>,
    /// The keys of a 20-entry `HashMap` (std's randomly seeded hasher), in iteration order.
    hash_map_order: Vec<u32>,
    /// `Context::new_guid()`.
    guid: String,
}

/// What `determinism_probe` returns.
#[derive(Debug, Serialize, Deserialize)]
struct Probe {
    before: Sample,
    after: Sample,
    /// `Instant::now()` after the activity, minus `Instant::now()` before it, in nanoseconds.
    instant_elapsed_nanos: u128,
    echoed: Value,
}

fn millis_since_epoch(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis())
}

fn sample(ctx: &Context) -> Sample {
    let mut rng = rand::rng();
    let map: HashMap<u32, u32> = (0..20).map(|k| (k, k * k)).collect();
    Sample {
        system_time_ms: millis_since_epoch(SystemTime::now()),
        context_time_ms: millis_since_epoch(ctx.current_time()),
        random_u64: rand::random(),
        random_range: (0..3).map(|_| rng.random_range(0..1000)).collect(),
        hash_map_order: map.keys().copied().collect(),
        guid: ctx.new_guid(),
    }
}

fn determinism_probe(ctx: &Context, input: Value) -> Result<Probe, Failure> {
    let started = Instant::now();
    let before = sample(ctx);
    // An activity call: the instance waits for it, so what follows may run in a later episode
    // (and is replayed from history).
    let echoed: Value = ctx.call_activity("echo", &input).wait()?;
    let after = sample(ctx);
    let instant_elapsed_nanos = Instant::now().duration_since(started).as_nanos();
    Ok(Probe { before, after, instant_elapsed_nanos, echoed })
}

fn echo(_ctx: &ActivityContext, input: Value) -> Result<Value, Failure> {
    Ok(input)
}

reprise_sdk::export! {
    orchestrators: [determinism_probe],
    activities: [echo],
}
