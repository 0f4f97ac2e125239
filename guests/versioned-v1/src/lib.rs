//! Versioning, version 1: the orchestrator `versioned` calls `step_a`, then `step_b`, waiting for
//! each (function chaining). Version 2 (the crate `versioned-v2`) swaps the two calls, so a v1
//! history cannot be replayed by v2: the host must detect the mismatch.
//!
//! Orchestrator `versioned`: input a string `s`, output the outputs of the steps in the order
//! they were called: `["a:s", "b:s"]`. Activities `step_a` and `step_b` return `"a:<input>"` and
//! `"b:<input>"`.

use reprise_sdk::{ActivityContext, Context, Failure};

fn versioned(ctx: &Context, input: String) -> Result<Vec<String>, Failure> {
    let a: String = ctx.call_activity("step_a", &input).wait()?;
    let b: String = ctx.call_activity("step_b", &input).wait()?;
    Ok(vec![a, b])
}

fn step_a(_ctx: &ActivityContext, input: String) -> Result<String, Failure> {
    Ok(format!("a:{input}"))
}

fn step_b(_ctx: &ActivityContext, input: String) -> Result<String, Failure> {
    Ok(format!("b:{input}"))
}

reprise_sdk::export! {
    orchestrators: [versioned],
    activities: [step_a, step_b],
}
