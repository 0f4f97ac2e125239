//! Versioning, version 2: the orchestrator `versioned` calls `step_b`, then `step_a`, waiting for
//! each (function chaining): the reverse of version 1 (the crate `versioned-v1`), so a v1 history
//! cannot be replayed by this version and the host must detect the mismatch.
//!
//! Orchestrator `versioned`: input a string `s`, output the outputs of the steps in the order
//! they were called: `["b:s", "a:s"]`. Activities `step_a` and `step_b` return `"a:<input>"` and
//! `"b:<input>"`.

use reprise_sdk::{ActivityContext, Context, Failure};

fn versioned(ctx: &Context, input: String) -> Result<Vec<String>, Failure> {
    let b: String = ctx.call_activity("step_b", &input).wait()?;
    let a: String = ctx.call_activity("step_a", &input).wait()?;
    Ok(vec![b, a])
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
