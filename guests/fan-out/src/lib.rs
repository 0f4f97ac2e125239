//! Seed 004, fan-out/fan-in: schedule one activity per item, all before waiting, then wait for
//! all of them at once and aggregate their results; and a race of tasks with `Context::any`.
//!
//! - `fan_out_fan_in`: input `{"items": n}`, runs `process_item` for each of `0..n` in parallel,
//!   output `{"processed": ok_count, "failed": failure_count, "total": sum_of_outputs,
//!   "failures": ["item 3: ...", ...]}`.
//! - `first_of`: input a list of item numbers (`null` for `[1, 2, 4]`), runs `process_item` on
//!   each, output `{"winner": index_of_the_first_to_complete, "value": its_output}`.
//!
//! `process_item(i)` returns `i * 10`, and fails with `ItemRejected` when `i % 5 == 3`.

use reprise_sdk::{ActivityContext, Context, Failure};
use serde::{Deserialize, Serialize};

/// The input of `fan_out_fan_in`.
#[derive(Debug, Serialize, Deserialize)]
struct Batch {
    items: u32,
}

/// What `fan_out_fan_in` returns.
#[derive(Debug, Serialize, Deserialize)]
struct BatchResult {
    processed: u32,
    failed: u32,
    total: u64,
    failures: Vec<String>,
}

/// What `first_of` returns.
#[derive(Debug, Serialize, Deserialize)]
struct Race {
    winner: usize,
    value: u64,
}

fn fan_out_fan_in(ctx: &Context, batch: Batch) -> Result<BatchResult, Failure> {
    // Fan out: every task is scheduled before any is waited on, so they run in parallel.
    let tasks: Vec<_> = (0..batch.items).map(|i| ctx.call_activity::<u64, _>("process_item", &i)).collect();
    ctx.set_custom_status(&format!("{} items scheduled", tasks.len()))?;

    // Fan in: one wait for all of them; a failed item does not stop the others.
    let mut result = BatchResult { processed: 0, failed: 0, total: 0, failures: Vec::new() };
    for (i, outcome) in ctx.all(tasks).into_iter().enumerate() {
        match outcome {
            Ok(value) => {
                result.processed += 1;
                result.total += value;
            }
            Err(failure) => {
                result.failed += 1;
                // The activity's own failure is the first cause of the `ActivityFailed` failure.
                let reason = failure.cause().map_or(&failure.message, |cause| &cause.message);
                result.failures.push(format!("item {i}: {reason}"));
            }
        }
    }
    Ok(result)
}

fn first_of(ctx: &Context, items: Option<Vec<u32>>) -> Result<Race, Failure> {
    let items = items.unwrap_or_else(|| vec![1, 2, 4]);
    if items.is_empty() {
        return Err(Failure::new(Failure::INVALID_INPUT, "first_of needs at least one item to race"));
    }
    let tasks: Vec<_> = items.iter().map(|i| ctx.call_activity::<u64, _>("process_item", i)).collect();
    let (winner, value) = ctx.any(&tasks);
    Ok(Race { winner, value: value? })
}

fn process_item(_ctx: &ActivityContext, item: u32) -> Result<u64, Failure> {
    if item % 5 == 3 {
        return Err(Failure::new("ItemRejected", format!("item {item} was rejected")));
    }
    Ok(u64::from(item) * 10)
}

reprise_sdk::export! {
    orchestrators: [fan_out_fan_in, first_of],
    activities: [process_item],
}

#[cfg(test)]
mod tests;
