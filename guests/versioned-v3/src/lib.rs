//! Versioning, version 3: the orchestrator `versioned` calls `step_a` and `step_b` as version 1
//! does (the crate `versioned-v1`), then a new `step_c`. It replays every v1 history that has not
//! reached its end, so unfinished v1 instances can be upgraded to it; a finished v1 history
//! diverges where v1 returned and v3 calls `step_c`.
//!
//! Orchestrator `versioned`: input a string `s`, output the outputs of the steps in the order
//! they were called: `["a:s", "b:s", "c:s"]`. Activities `step_a`, `step_b` and `step_c` return
//! `"a:<input>"`, `"b:<input>"` and `"c:<input>"`.

use reprise_sdk::{ActivityContext, Context, Failure};

fn versioned(ctx: &Context, input: String) -> Result<Vec<String>, Failure> {
    let a: String = ctx.call_activity("step_a", &input).wait()?;
    let b: String = ctx.call_activity("step_b", &input).wait()?;
    let c: String = ctx.call_activity("step_c", &input).wait()?;
    Ok(vec![a, b, c])
}

fn step_a(_ctx: &ActivityContext, input: String) -> Result<String, Failure> {
    Ok(format!("a:{input}"))
}

fn step_b(_ctx: &ActivityContext, input: String) -> Result<String, Failure> {
    Ok(format!("b:{input}"))
}

fn step_c(_ctx: &ActivityContext, input: String) -> Result<String, Failure> {
    Ok(format!("c:{input}"))
}

reprise_sdk::export! {
    orchestrators: [versioned],
    activities: [step_a, step_b, step_c],
}
