//! Durable entities (seeds 002 and 004): a `Counter` entity, orchestrators that call and signal
//! it, and the error handling of seed 002 (an entity operation that throws, caught by the
//! orchestrator).
//!
//! Entity `Counter` (state `{"value": n}`):
//! - `add(n)`: adds `n` and returns the new value; a negative `n` fails with `InvalidOperation`,
//!   "this is an entity exception", and leaves the value as it was.
//! - `get()`: the value. `reset()`: back to 0. `delete()` (built in): the entity is gone.
//! - `add_and_forward({"amount", "to"})`: adds `amount` here and signals `add(amount)` to the
//!   counter `to`; a negative amount fails, and then nothing is signalled.
//! - `start_report()`: starts the orchestrator `counter_report` with the value; returns its id.
//! - `stamp()`: what the sandbox shows the entity: `{"now_ms", "guid", "random"}`.
//!
//! Entity `Account` (state `{"balance": n}`): `deposit(n)`, `withdraw(n)` (fails with
//! `InsufficientFunds` below zero), `balance()`.
//!
//! Orchestrators:
//! - `counter_orchestration(key)`: seed 002's JavaScript sample: reads the counter and adds 1 if
//!   it is below 10; returns the value it read.
//! - `entity_error_handling(key)`: seed 002's error handling: calls `add(-1)`, catches the
//!   failure, returns what it saw and the value after.
//! - `add_many({"key", "count", "mode"})`: adds 1 `count` times, by `"signal"`, by `"call"` (all
//!   calls at once, then `all`), or by `"sequential"` calls; returns the sum of the outputs seen.
//! - `get_or_timeout({"key", "timeout_ms"})`: `any(call get, timer)`.
//! - `counter_report(value)`: returns `"the counter reads N"`.
//! - `call_operation({"key", "operation", "input"})`: calls any operation of the counter and
//!   returns its output.
//! - `transfer({"from", "to", "amount", "locked"})`: moves `amount` between two accounts if the
//!   source has it: reads the balance, then withdraws and deposits; with `locked`, inside a
//!   critical section over both accounts. Returns `"transferred"` or `"insufficient"`.
//! - `hold_lock(key)`: locks the counter `key`, waits for the event `go`, adds 100 inside the
//!   critical section, then waits for the event `release` before leaving it (a test fixture).

use std::time::{Duration, UNIX_EPOCH};

use rand::RngExt;
use reprise_sdk::{Context, EntityContext, EntityId, Failure};
use serde::{Deserialize, Serialize};

/// The state of a `Counter` entity.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Counter {
    value: i64,
}

/// The input of `Counter.add_and_forward`.
#[derive(Debug, Deserialize)]
struct Forward {
    amount: i64,
    to: String,
}

/// What `Counter.stamp` returns.
#[derive(Debug, Serialize)]
struct Stamp {
    now_ms: u64,
    guid: String,
    random: u64,
}

impl Counter {
    fn add(&mut self, _ctx: &EntityContext, amount: i64) -> Result<i64, Failure> {
        if amount < 0 {
            return Err(Failure::new("InvalidOperation", "this is an entity exception"));
        }
        self.value += amount;
        Ok(self.value)
    }

    fn get(&self, _ctx: &EntityContext, _: ()) -> Result<i64, Failure> {
        Ok(self.value)
    }

    fn reset(&mut self, _ctx: &EntityContext, _: ()) -> Result<(), Failure> {
        self.value = 0;
        Ok(())
    }

    fn add_and_forward(&mut self, ctx: &EntityContext, forward: Forward) -> Result<i64, Failure> {
        // Signal first: a failure after it must discard the signal too.
        ctx.signal_entity(&EntityId::new("Counter", forward.to), "add", &forward.amount)?;
        self.add(ctx, forward.amount)
    }

    fn start_report(&self, ctx: &EntityContext, _: ()) -> Result<String, Failure> {
        ctx.start_orchestration("counter_report", &self.value)
    }

    fn stamp(&self, ctx: &EntityContext, _: ()) -> Result<Stamp, Failure> {
        let now_ms = std::time::SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Ok(Stamp { now_ms, guid: ctx.new_guid(), random: rand::rng().random() })
    }
}

/// The state of an `Account` entity.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
    balance: i64,
}

impl Account {
    fn deposit(&mut self, _ctx: &EntityContext, amount: i64) -> Result<i64, Failure> {
        self.balance += amount;
        Ok(self.balance)
    }

    fn withdraw(&mut self, _ctx: &EntityContext, amount: i64) -> Result<i64, Failure> {
        if amount > self.balance {
            return Err(Failure::new("InsufficientFunds", format!("balance is {}, {amount} needed", self.balance)));
        }
        self.balance -= amount;
        Ok(self.balance)
    }

    fn balance(&self, _ctx: &EntityContext, _: ()) -> Result<i64, Failure> {
        Ok(self.balance)
    }
}

/// The input of `transfer`.
#[derive(Debug, Deserialize)]
struct Transfer {
    from: String,
    to: String,
    amount: i64,
    locked: bool,
}

fn transfer(ctx: &Context, transfer: Transfer) -> Result<String, Failure> {
    let (from, to) = (EntityId::new("Account", &transfer.from), EntityId::new("Account", &transfer.to));
    let section = if transfer.locked { Some(ctx.lock(&[from.clone(), to.clone()])?) } else { None };
    let balance = ctx.call_entity::<i64, _>(&from, "balance", &()).wait()?;
    if balance < transfer.amount {
        return Ok("insufficient".into());
    }
    // Without the lock another transfer may have withdrawn in between, and this fails.
    ctx.call_entity::<i64, _>(&from, "withdraw", &transfer.amount).wait()?;
    ctx.call_entity::<i64, _>(&to, "deposit", &transfer.amount).wait()?;
    drop(section);
    Ok("transferred".into())
}

fn hold_lock(ctx: &Context, key: String) -> Result<i64, Failure> {
    let entity = counter(&key);
    let _section = ctx.lock(std::slice::from_ref(&entity))?;
    ctx.wait_for_event::<serde::de::IgnoredAny>("go").wait()?;
    let value = ctx.call_entity::<i64, _>(&entity, "add", &100).wait()?;
    ctx.wait_for_event::<serde::de::IgnoredAny>("release").wait()?;
    Ok(value)
}

fn counter(key: &str) -> EntityId {
    EntityId::new("Counter", key)
}

fn counter_orchestration(ctx: &Context, key: String) -> Result<i64, Failure> {
    let entity = counter(&key);
    let current = ctx.call_entity::<i64, _>(&entity, "get", &()).wait()?;
    if current < 10 {
        ctx.call_entity::<i64, _>(&entity, "add", &1).wait()?;
    }
    Ok(current)
}

/// What `entity_error_handling` saw.
#[derive(Debug, Serialize)]
struct Caught {
    error_type: String,
    message: String,
    cause_type: String,
    cause_message: String,
    value_after: i64,
}

fn entity_error_handling(ctx: &Context, key: String) -> Result<Caught, Failure> {
    let entity = counter(&key);
    match ctx.call_entity::<i64, _>(&entity, "add", &-1).wait() {
        Ok(value) => Err(Failure::new("Unexpected", format!("add(-1) succeeded with {value}"))),
        Err(failure) if failure.is("InvalidOperation") => {
            let cause = failure.cause().cloned().expect("an entity failure has the operation's failure as cause");
            let value_after = ctx.call_entity::<i64, _>(&entity, "get", &()).wait()?;
            Ok(Caught {
                error_type: failure.error_type,
                message: failure.message,
                cause_type: cause.error_type,
                cause_message: cause.message,
                value_after,
            })
        }
        Err(other) => Err(other),
    }
}

/// The input of `add_many`.
#[derive(Debug, Deserialize)]
struct AddMany {
    key: String,
    count: u32,
    mode: String,
}

fn add_many(ctx: &Context, request: AddMany) -> Result<i64, Failure> {
    let entity = counter(&request.key);
    match request.mode.as_str() {
        "signal" => {
            for _ in 0..request.count {
                ctx.signal_entity(&entity, "add", &1)?;
            }
            Ok(i64::from(request.count))
        }
        "call" => {
            let calls = (0..request.count).map(|_| ctx.call_entity::<i64, _>(&entity, "add", &1)).collect();
            Ok(ctx.try_all(calls)?.into_iter().sum())
        }
        "sequential" => {
            let mut sum = 0;
            for _ in 0..request.count {
                sum += ctx.call_entity::<i64, _>(&entity, "add", &1).wait()?;
            }
            Ok(sum)
        }
        other => Err(Failure::new("BadMode", format!("unknown mode '{other}': use signal, call or sequential"))),
    }
}

/// The input of `get_or_timeout`.
#[derive(Debug, Deserialize)]
struct GetOrTimeout {
    key: String,
    timeout_ms: u64,
}

fn get_or_timeout(ctx: &Context, request: GetOrTimeout) -> Result<Option<i64>, Failure> {
    let get = ctx.call_entity::<i64, _>(&counter(&request.key), "get", &());
    let timeout = ctx.timer(Duration::from_millis(request.timeout_ms));
    if ctx.first(&[&get, &timeout]) == 0 { get.wait().map(Some) } else { Ok(None) }
}

fn counter_report(_ctx: &Context, value: i64) -> Result<String, Failure> {
    Ok(format!("the counter reads {value}"))
}

/// The input of `call_operation`.
#[derive(Debug, Deserialize)]
struct CallOperation {
    key: String,
    operation: String,
    #[serde(default)]
    input: serde_json::Value,
}

fn call_operation(ctx: &Context, call: CallOperation) -> Result<serde_json::Value, Failure> {
    ctx.call_entity(&counter(&call.key), &call.operation, &call.input).wait()
}

reprise_sdk::export! {
    orchestrators: [
        counter_orchestration,
        entity_error_handling,
        add_many,
        get_or_timeout,
        counter_report,
        call_operation,
        transfer,
        hold_lock,
    ],
    entities: [
        Counter { add, get, reset, add_and_forward, start_report, stamp },
        Account { deposit, withdraw, balance },
    ],
}

#[cfg(test)]
mod tests;
