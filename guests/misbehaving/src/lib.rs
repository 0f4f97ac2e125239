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
//! - `deep_recursion(depth)`: recurses with 64 KiB stack frames until its data stack runs past
//!   the bottom of linear memory.
//! - `call_stack_overflow(depth)`: recurses with small frames until the wasm call stack is
//!   exhausted.
//! - `sub_with_id(id)`: starts the sub-orchestration `echo_input` with the instance id given
//!   (which may be one the host refuses, such as `""`).
//! - `big_sub_input(bytes)` / `big_continue_as_new(bytes)`: a sub-orchestration's input, or the
//!   next execution's input, of that many bytes.
//! - `echo_raw(any)`: passes its input, untouched by any parse into numbers, through the
//!   activity `echo_raw` and the entity `Keeper` and returns what came back:
//!   `{"activity": ..., "entity": ...}`.
//!
//! - `schedule_many(count)`: schedules `count` activities in one episode, then waits for them.
//! - `start_many(count)`: starts `count` sub-orchestrations in one episode, then waits for them.
//! - `grow_history({"steps", "bytes"})`: `steps` activities one after the other, each with an
//!   input of `bytes` bytes: a history that keeps growing.
//!
//! The activities `echo` and `echo_raw` return their input (`echo_raw` without parsing it). The
//! entity `Keeper` keeps a raw JSON value: `set(value)`, `get()`. Every orchestrator accepts any
//! JSON input.

use std::hint::black_box;

use reprise_sdk::{ActivityContext, Context, EntityContext, EntityId, Failure, SubOrchestrationOptions};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

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

/// One level of `deep_recursion`: a 64 KiB frame on the data stack (the array's address is
/// taken, so it cannot live in wasm locals).
fn dig(depth: u32) -> u64 {
    let mut frame = [0u8; 64 * 1024];
    let frame = black_box(&mut frame);
    frame[depth as usize % 1024] = depth as u8;
    if depth == 0 {
        return u64::from(frame[0]);
    }
    dig(depth - 1) + u64::from(frame[(depth as usize * 31) % 1024])
}

fn deep_recursion(_ctx: &Context, depth: u32) -> Result<u64, Failure> {
    Ok(dig(depth))
}

/// One level of `call_stack_overflow`: a small frame, so the wasm call stack runs out first.
fn descend(depth: u64) -> u64 {
    if depth == 0 { 0 } else { descend(black_box(depth - 1)).wrapping_add(1) }
}

fn call_stack_overflow(_ctx: &Context, depth: u64) -> Result<u64, Failure> {
    Ok(descend(depth))
}

fn sub_with_id(ctx: &Context, id: String) -> Result<Value, Failure> {
    let options = SubOrchestrationOptions::new().instance_id(id);
    ctx.call_sub_orchestrator_with("echo_input", &Value::Null, &options).wait()
}

fn big_sub_input(ctx: &Context, bytes: usize) -> Result<Value, Failure> {
    ctx.call_sub_orchestrator("echo_input", &"x".repeat(bytes)).wait()
}

fn big_continue_as_new(ctx: &Context, bytes: usize) -> Result<(), Failure> {
    ctx.continue_as_new(&"x".repeat(bytes))
}

/// What `echo_raw` returns: its input as the activity and the entity gave it back.
#[derive(Serialize)]
struct Echoes {
    activity: Box<RawValue>,
    entity: Option<Box<RawValue>>,
}

fn echo_raw(ctx: &Context, input: Box<RawValue>) -> Result<Echoes, Failure> {
    let activity: Box<RawValue> = ctx.call_activity("echo_raw", &input).wait()?;
    let keeper = EntityId::new("Keeper", ctx.instance_id());
    ctx.call_entity::<(), _>(&keeper, "set", &input).wait()?;
    let entity = ctx.call_entity(&keeper, "get", &()).wait()?;
    Ok(Echoes { activity, entity })
}

fn echo_raw_activity(_ctx: &ActivityContext, input: Box<RawValue>) -> Result<Box<RawValue>, Failure> {
    Ok(input)
}

/// An entity that keeps one JSON value as it came.
#[derive(Default, Serialize, Deserialize)]
struct Keeper {
    value: Option<Box<RawValue>>,
}

impl Keeper {
    fn set(&mut self, _ctx: &EntityContext, value: Box<RawValue>) -> Result<(), Failure> {
        self.value = Some(value);
        Ok(())
    }

    fn get(&self, _ctx: &EntityContext, _: ()) -> Result<Option<Box<RawValue>>, Failure> {
        Ok(self.value.clone())
    }
}

fn schedule_many(ctx: &Context, count: u64) -> Result<u64, Failure> {
    let tasks: Vec<_> = (0..count).map(|i| ctx.call_activity::<u64, _>("echo", &i)).collect();
    Ok(ctx.try_all(tasks)?.into_iter().sum())
}

fn start_many(ctx: &Context, count: u64) -> Result<u64, Failure> {
    let tasks: Vec<_> = (0..count).map(|i| ctx.call_sub_orchestrator::<u64, _>("echo_input", &i)).collect();
    Ok(ctx.try_all(tasks)?.into_iter().sum())
}

/// The input of `grow_history`.
#[derive(Deserialize)]
struct Growth {
    steps: u64,
    bytes: usize,
}

fn grow_history(ctx: &Context, growth: Growth) -> Result<u64, Failure> {
    let input = "x".repeat(growth.bytes);
    for _ in 0..growth.steps {
        ctx.call_activity::<Value, _>("echo", &input).wait()?;
    }
    Ok(growth.steps)
}

reprise_sdk::export! {
    orchestrators: [
        schedule_many,
        start_many,
        grow_history,
        spin_forever,
        eat_memory,
        panics,
        echo_input,
        call_named,
        sleeps,
        deep_recursion,
        call_stack_overflow,
        sub_with_id,
        big_sub_input,
        big_continue_as_new,
        echo_raw,
    ],
    activities: [echo, echo_raw_activity as "echo_raw"],
    entities: [Keeper { set, get }],
}
