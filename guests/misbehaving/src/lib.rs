//! Orchestrators that break the rules, to test the host's guards (no seed pattern: the opposite
//! of one).
//!
//! - `spin_forever`: loops forever without calling the host (the host must interrupt it).
//! - `eat_memory`: allocates and touches 16 MiB chunks forever, keeping them all (the host's
//!   memory limit must stop it).
//! - `panics`: panics with a message (a trap, not a failure).
//! - `sleeps`: sleeps an hour with `std::thread::sleep` (the host refuses: only durable timers
//!   wait).
//! - `echo_input`: returns its input unchanged; any JSON is accepted, so malformed JSON reaches
//!   the SDK's `InvalidInput` path.
//!
//! - `call_named`: input `{"activity": name, "input": value}`, calls that activity (which may not
//!   exist) and returns its output, or fails with its failure.
//!
//! The activity `echo` returns its input. Every orchestrator accepts any JSON input.

use std::hint::black_box;

use reprise_sdk::{ActivityContext, Context, Failure};
use serde::de::IgnoredAny;
use serde_json::Value;

/// The size of the chunks `eat_memory` allocates.
const CHUNK: usize = 16 << 20;

/// The size of a WebAssembly page: `eat_memory` writes one byte per page.
const PAGE: usize = 64 << 10;

fn spin_forever(_ctx: &Context, _input: IgnoredAny) -> Result<(), Failure> {
    let mut counter = 0u64;
    loop {
        // `black_box` keeps the optimizer from proving the loop useless.
        counter = black_box(counter.wrapping_add(1));
    }
}

fn eat_memory(_ctx: &Context, _input: IgnoredAny) -> Result<(), Failure> {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        for (i, byte) in chunk.iter_mut().step_by(PAGE).enumerate() {
            *byte = black_box(i as u8 | 1);
        }
        kept.push(black_box(chunk));
    }
}

fn sleeps(_ctx: &Context, _input: IgnoredAny) -> Result<(), Failure> {
    // Breaks the rules: an orchestrator's time moves only between episodes.
    std::thread::sleep(std::time::Duration::from_secs(3600));
    Ok(())
}

fn panics(_ctx: &Context, _input: IgnoredAny) -> Result<(), Failure> {
    panic!("the misbehaving guest panics on purpose");
}

fn echo_input(_ctx: &Context, input: Value) -> Result<Value, Failure> {
    Ok(input)
}

/// The input of `call_named`.
#[derive(serde::Deserialize)]
struct Call {
    activity: String,
    input: Value,
}

fn call_named(ctx: &Context, call: Call) -> Result<Value, Failure> {
    ctx.call_activity(&call.activity, &call.input).wait()
}

fn echo(_ctx: &ActivityContext, input: Value) -> Result<Value, Failure> {
    Ok(input)
}

reprise_sdk::export! {
    orchestrators: [spin_forever, eat_memory, panics, echo_input, call_named, sleeps],
    activities: [echo],
}
