//! The workload of the fault suite (`cargo xtask torture`, `tests/torture/`): orchestrators
//! that together use every durable pattern the host offers, run while the host is killed over
//! and over. Each orchestrator's output is a pure function of its input, whatever the crashes,
//! so that the checker computes what every instance must have returned (the formulas are
//! mirrored in `tests/torture/workload.rs`; change both together).
//!
//! Activities (each attempt appends one JSON line to `/log/activities.jsonl`, a directory the
//! host grants with `--activity-dir HOST:/log`: `{"key", "attempt", "activity", "result"}`,
//! `result` being `{"ok": output}` or `{"err": {"type", "message"}}`; an attempt that cannot
//! write its line fails with `LogUnavailable`):
//! - `work({"v", "i", "salt", "sleep_ms"})`: sleeps `sleep_ms` (real time, to widen the moments
//!   a kill can land in), returns `mix(v, i, salt) = (v * 31 + i * 7 + salt) % 1_000_003`.
//! - `flaky({"value", "fail_first", "fatal"})`: fails with `Fatal` if `fatal`; otherwise fails
//!   with `Transient` while its attempt number is at most `fail_first`, then returns
//!   `value + 1000`.
//!
//! Entity `Counter` (state `{"sum", "applied": {op id: times applied}}`):
//! - `add({"op", "amount"})`: adds `amount` and counts `op` as applied once more; returns
//!   `{"sum", "times"}` (`times`: how often `op` has now been applied, which is 1 unless an
//!   operation ran twice).
//! - `get()`: the sum.
//! - `reject({"op", "amount"})`: changes the state like `add`, then fails with `Rejected`: the
//!   host must discard the change.
//!
//! Orchestrators (outputs in brackets):
//! - `chain({"steps", "salt", "sleep_ms"})`: `steps` sequential `work`, each fed the previous
//!   output, from 1 (`{"last"}`).
//! - `fan_out({"items", "fail_every", "salt"})`: `items` activities at once: item `i` is a
//!   `flaky` that fails with `Fatal` when `fail_every > 0` and `i % fail_every == 0`, else
//!   `work(i, i, salt)`; failures are caught (`{"ok_sum", "failed"}`).
//! - `retry({"value", "fail_first", "fatal"})`: `flaky` with a retry policy of 60 attempts from
//!   50 ms, backoff 2, at most 500 ms apart, never retrying `Fatal` (`{"value"}`; with `fatal`
//!   the instance fails with `ActivityFailed` caused by `Fatal`).
//! - `timers({"count", "ms", "salt"})`: `count` times a durable timer of `ms`, then `work`; then
//!   races an event that never comes against a last timer (`{"last", "timed_out": true}`).
//! - `events({"values", "go"})`: waits for the events `ev0`, `ev1`... in order (data: numbers,
//!   raised by the harness in any order), then races the event `go` against a timer of an hour
//!   (`{"sum", "go"}`).
//! - `parent({"children", "salt", "retry_after_ms"})`: `children` sub-orchestrations `child`
//!   at once, then `child_fail` (caught), then `child_retry` with a retry policy, which fails
//!   until `retry_after_ms` after the parent's current time (`{"sum", "caught", "retried"}`).
//!   `child({"v", "salt"})` runs `work` twice (`mix(mix(v, 0, salt), 1, salt)`); `child_fail`
//!   fails with `ChildFailed`; `child_retry({"succeed_after"})` fails with `NotYet` before that
//!   time, then returns `"ok"`.
//! - `entities({"keys", "signals", "calls", "amount"})`: signals `add` to the counters, calls
//!   `add` on them all at once, then calls `reject` and catches its failure
//!   (`{"times": [..], "rejected": true}`). Signal `i` goes to `keys[i % len]` with amount
//!   `(i + 1) * amount`, op id `<instance>/s<i>`; call `i` likewise with op id `<instance>/c<i>`;
//!   the reject goes to `keys[0]` with op id `<instance>/r`.
//! - `critical({"a", "b", "amount"})`: in a critical section over both counters, reads both,
//!   adds `amount` to `a` (op `<instance>/a`) and `-amount` to `b` (op `<instance>/b`), and
//!   checks that no other operation ran in between (`{"atomic": true}`).
//! - `eternal({"n", "until", "acc", "salt", "key"})`: `acc = work(acc, n, salt)`, signals
//!   `add` of 1 to the counter `key` (op `<instance>/e<n>`), then continues as new with `n + 1`
//!   until `n == until` (`{"acc"}`).

use std::io::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use reprise_sdk::{ActivityContext, Context, EntityContext, EntityId, Failure, RetryPolicy, SubOrchestrationOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The side-effect log, in the directory the host grants to activities.
const LOG: &str = "/log/activities.jsonl";

/// The deterministic step every `work` computes.
fn mix(v: u64, i: u64, salt: u64) -> u64 {
    (v.wrapping_mul(31).wrapping_add(i * 7).wrapping_add(salt)) % 1_000_003
}

/// Appends the attempt's line to the log: one `write_all` of a whole line to a file opened for
/// appending, so lines of attempts running at once never mix.
fn log_attempt(ctx: &ActivityContext, activity: &str, result: &Result<Value, Failure>) -> Result<(), Failure> {
    let result = match result {
        Ok(output) => json!({ "ok": output }),
        Err(failure) => json!({ "err": { "type": failure.error_type, "message": failure.message } }),
    };
    let line = json!({
        "key": ctx.idempotency_key(),
        "attempt": ctx.attempt(),
        "activity": activity,
        "result": result,
    });
    let mut text = line.to_string();
    text.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOG)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|err| Failure::new("LogUnavailable", format!("cannot append to {LOG}: {err}")))
}

/// Runs an activity's body and logs its outcome, whatever it is.
fn logged<O: Serialize>(
    ctx: &ActivityContext,
    activity: &str,
    body: impl FnOnce() -> Result<O, Failure>,
) -> Result<Value, Failure> {
    let result = body()
        .and_then(|output| serde_json::to_value(output).map_err(|err| Failure::new("InvalidOutput", err.to_string())));
    log_attempt(ctx, activity, &result)?;
    result
}

/// The input of `work`.
#[derive(Debug, Serialize, Deserialize)]
struct Work {
    v: u64,
    i: u64,
    salt: u64,
    #[serde(default)]
    sleep_ms: u64,
}

fn work(ctx: &ActivityContext, input: Work) -> Result<Value, Failure> {
    logged(ctx, "work", || {
        if input.sleep_ms > 0 {
            std::thread::sleep(Duration::from_millis(input.sleep_ms));
        }
        Ok(mix(input.v, input.i, input.salt))
    })
}

/// The input of `flaky`.
#[derive(Debug, Serialize, Deserialize)]
struct Flaky {
    value: u64,
    fail_first: u32,
    fatal: bool,
}

fn flaky(ctx: &ActivityContext, input: Flaky) -> Result<Value, Failure> {
    logged(ctx, "flaky", || {
        if input.fatal {
            return Err(Failure::new("Fatal", format!("item {} always fails", input.value)));
        }
        let attempt = ctx.attempt();
        if attempt <= input.fail_first {
            return Err(Failure::new("Transient", format!("attempt {attempt} of at least {}", input.fail_first + 1)));
        }
        Ok(input.value + 1000)
    })
}

/// The state of a `Counter`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Counter {
    sum: i64,
    /// How many times each operation id was applied (1, unless one ran twice).
    applied: std::collections::BTreeMap<String, u32>,
}

/// The input of `Counter.add` and `Counter.reject`.
#[derive(Debug, Serialize, Deserialize)]
struct Add {
    op: String,
    amount: i64,
}

/// What `Counter.add` returns.
#[derive(Debug, Serialize, Deserialize)]
struct Added {
    sum: i64,
    times: u32,
}

impl Counter {
    fn add(&mut self, _ctx: &EntityContext, add: Add) -> Result<Added, Failure> {
        self.sum += add.amount;
        let times = self.applied.entry(add.op).or_insert(0);
        *times += 1;
        Ok(Added { sum: self.sum, times: *times })
    }

    fn get(&self, _ctx: &EntityContext, _: ()) -> Result<i64, Failure> {
        Ok(self.sum)
    }

    fn reject(&mut self, ctx: &EntityContext, add: Add) -> Result<Added, Failure> {
        // Change the state first: the failure must undo it.
        let op = add.op.clone();
        self.add(ctx, add)?;
        Err(Failure::new("Rejected", format!("operation {op} is refused")))
    }
}

fn counter(key: &str) -> EntityId {
    EntityId::new("Counter", key)
}

/// The input of `chain`.
#[derive(Debug, Deserialize)]
struct Chain {
    steps: u32,
    salt: u64,
    sleep_ms: u64,
}

fn chain(ctx: &Context, input: Chain) -> Result<Value, Failure> {
    let mut v = 1;
    for i in 0..u64::from(input.steps) {
        let step = Work { v, i, salt: input.salt, sleep_ms: input.sleep_ms };
        v = ctx.call_activity("work", &step).wait()?;
    }
    Ok(json!({ "last": v }))
}

/// The input of `fan_out`.
#[derive(Debug, Deserialize)]
struct FanOut {
    items: u32,
    fail_every: u32,
    salt: u64,
}

fn fan_out(ctx: &Context, input: FanOut) -> Result<Value, Failure> {
    let tasks = (0..u64::from(input.items))
        .map(|i| {
            if input.fail_every > 0 && i % u64::from(input.fail_every) == 0 {
                ctx.call_activity::<u64, _>("flaky", &Flaky { value: i, fail_first: 0, fatal: true })
            } else {
                ctx.call_activity::<u64, _>("work", &Work { v: i, i, salt: input.salt, sleep_ms: 0 })
            }
        })
        .collect();
    let (mut ok_sum, mut failed) = (0u64, 0u32);
    for outcome in ctx.all(tasks) {
        match outcome {
            Ok(value) => ok_sum += value,
            Err(failure) if failure.is("Fatal") => failed += 1,
            Err(failure) => return Err(failure),
        }
    }
    Ok(json!({ "ok_sum": ok_sum, "failed": failed }))
}

/// The input of `retry`.
#[derive(Debug, Deserialize)]
struct Retry {
    value: u64,
    fail_first: u32,
    fatal: bool,
}

fn retry(ctx: &Context, input: Retry) -> Result<Value, Failure> {
    // Attempts interrupted by a kill count too: 60 leaves room for any number of them.
    let policy = RetryPolicy::new(60, Duration::from_millis(50))
        .backoff_coefficient(2.0)
        .max_retry_interval(Duration::from_millis(500))
        .never_retry("Fatal");
    let flaky_input = Flaky { value: input.value, fail_first: input.fail_first, fatal: input.fatal };
    let value: u64 = ctx.call_activity_with_retry("flaky", &flaky_input, &policy).wait()?;
    Ok(json!({ "value": value }))
}

/// The input of `timers`.
#[derive(Debug, Deserialize)]
struct Timers {
    count: u32,
    ms: u64,
    salt: u64,
}

fn timers(ctx: &Context, input: Timers) -> Result<Value, Failure> {
    let mut v = 1;
    for i in 0..u64::from(input.count) {
        ctx.timer(Duration::from_millis(input.ms)).wait()?;
        v = ctx.call_activity("work", &Work { v, i, salt: input.salt, sleep_ms: 0 }).wait()?;
    }
    let never = ctx.wait_for_event::<Value>("never");
    let timeout = ctx.timer(Duration::from_millis(input.ms));
    let timed_out = ctx.first(&[&never, &timeout]) == 1;
    Ok(json!({ "last": v, "timed_out": timed_out }))
}

/// The input of `events`: the values the harness raises as `ev0`, `ev1`... (and, in a field
/// `go` that the orchestrator does not read, the data it raises as `go`).
#[derive(Debug, Deserialize)]
struct Events {
    values: Vec<u64>,
}

fn events(ctx: &Context, input: Events) -> Result<Value, Failure> {
    let mut sum = 0;
    for k in 0..input.values.len() {
        sum += ctx.wait_for_event::<u64>(&format!("ev{k}")).wait()?;
    }
    let go = ctx.wait_for_event::<u64>("go");
    let timeout = ctx.timer(Duration::from_secs(3600));
    if ctx.first(&[&go, &timeout]) != 0 {
        return Err(Failure::new("NoGo", "the event 'go' did not come within an hour"));
    }
    Ok(json!({ "sum": sum, "go": go.wait()? }))
}

/// The input of `parent`.
#[derive(Debug, Deserialize)]
struct Parent {
    children: u32,
    salt: u64,
    retry_after_ms: u64,
}

/// The input of `child`.
#[derive(Debug, Serialize, Deserialize)]
struct Child {
    v: u64,
    salt: u64,
}

/// The input of `child_retry`.
#[derive(Debug, Serialize, Deserialize)]
struct ChildRetry {
    succeed_after: u64,
}

fn now_ms(ctx: &Context) -> u64 {
    ctx.current_time().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn parent(ctx: &Context, input: Parent) -> Result<Value, Failure> {
    let children = (0..u64::from(input.children))
        .map(|v| ctx.call_sub_orchestrator::<u64, _>("child", &Child { v, salt: input.salt }))
        .collect();
    let sum: u64 = ctx.try_all(children)?.into_iter().sum();
    let caught = match ctx.call_sub_orchestrator::<Value, _>("child_fail", &()).wait() {
        Ok(output) => return Err(Failure::new("Unexpected", format!("child_fail returned {output}"))),
        Err(failure) => failure.is("ChildFailed"),
    };
    let policy = RetryPolicy::new(40, Duration::from_millis(100))
        .backoff_coefficient(1.5)
        .max_retry_interval(Duration::from_secs(1));
    let options = SubOrchestrationOptions::new().retry(policy);
    let after = ChildRetry { succeed_after: now_ms(ctx) + input.retry_after_ms };
    let retried: String = ctx.call_sub_orchestrator_with("child_retry", &after, &options).wait()?;
    Ok(json!({ "sum": sum, "caught": caught, "retried": retried }))
}

fn child(ctx: &Context, input: Child) -> Result<u64, Failure> {
    let first: u64 = ctx.call_activity("work", &Work { v: input.v, i: 0, salt: input.salt, sleep_ms: 0 }).wait()?;
    ctx.call_activity("work", &Work { v: first, i: 1, salt: input.salt, sleep_ms: 0 }).wait()
}

fn child_fail(_ctx: &Context, _input: Value) -> Result<Value, Failure> {
    Err(Failure::new("ChildFailed", "this child always fails"))
}

fn child_retry(ctx: &Context, input: ChildRetry) -> Result<String, Failure> {
    let now = now_ms(ctx);
    if now < input.succeed_after {
        return Err(Failure::new("NotYet", format!("it is {now}, before {}", input.succeed_after)));
    }
    Ok("ok".to_owned())
}

/// The input of `entities`.
#[derive(Debug, Deserialize)]
struct Entities {
    keys: Vec<String>,
    signals: u32,
    calls: u32,
    amount: i64,
}

fn entities(ctx: &Context, input: Entities) -> Result<Value, Failure> {
    if input.keys.is_empty() {
        return Err(Failure::new("BadInput", "no counter keys"));
    }
    let id = ctx.instance_id();
    let key = |i: u32| counter(&input.keys[i as usize % input.keys.len()]);
    for i in 0..input.signals {
        let add = Add { op: format!("{id}/s{i}"), amount: i64::from(i + 1) * input.amount };
        ctx.signal_entity(&key(i), "add", &add)?;
    }
    let calls = (0..input.calls)
        .map(|i| {
            let add = Add { op: format!("{id}/c{i}"), amount: i64::from(i + 1) * input.amount };
            ctx.call_entity::<Added, _>(&key(i), "add", &add)
        })
        .collect();
    let times: Vec<u32> = ctx.try_all(calls)?.into_iter().map(|added| added.times).collect();
    let reject = Add { op: format!("{id}/r"), amount: input.amount };
    let rejected = match ctx.call_entity::<Added, _>(&key(0), "reject", &reject).wait() {
        Ok(added) => return Err(Failure::new("Unexpected", format!("reject succeeded with sum {}", added.sum))),
        Err(failure) => failure.is("Rejected"),
    };
    Ok(json!({ "times": times, "rejected": rejected }))
}

/// The input of `critical`.
#[derive(Debug, Deserialize)]
struct Critical {
    a: String,
    b: String,
    amount: i64,
}

fn critical(ctx: &Context, input: Critical) -> Result<Value, Failure> {
    let id = ctx.instance_id();
    let (a, b) = (counter(&input.a), counter(&input.b));
    let section = ctx.lock(&[a.clone(), b.clone()])?;
    let before_a: i64 = ctx.call_entity(&a, "get", &()).wait()?;
    let before_b: i64 = ctx.call_entity(&b, "get", &()).wait()?;
    let after_a: Added = ctx.call_entity(&a, "add", &Add { op: format!("{id}/a"), amount: input.amount }).wait()?;
    let after_b: Added = ctx.call_entity(&b, "add", &Add { op: format!("{id}/b"), amount: -input.amount }).wait()?;
    section.unlock();
    let atomic = after_a.sum == before_a + input.amount
        && after_b.sum == before_b - input.amount
        && after_a.times == 1
        && after_b.times == 1;
    Ok(json!({ "atomic": atomic }))
}

/// The input of `eternal`.
#[derive(Debug, Serialize, Deserialize)]
struct Eternal {
    n: u64,
    until: u64,
    acc: u64,
    salt: u64,
    key: String,
}

fn eternal(ctx: &Context, input: Eternal) -> Result<Value, Failure> {
    let acc = ctx.call_activity("work", &Work { v: input.acc, i: input.n, salt: input.salt, sleep_ms: 0 }).wait()?;
    let op = Add { op: format!("{}/e{}", ctx.instance_id(), input.n), amount: 1 };
    ctx.signal_entity(&counter(&input.key), "add", &op)?;
    if input.n >= input.until {
        return Ok(json!({ "acc": acc }));
    }
    ctx.continue_as_new(&Eternal { n: input.n + 1, acc, ..input })
}

reprise_sdk::export! {
    orchestrators: [chain, fan_out, retry, timers, events, parent, child, child_fail, child_retry, entities, critical, eternal],
    activities: [work, flaky],
    entities: [Counter { add, get, reject }],
}
