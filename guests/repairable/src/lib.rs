//! Instances that fail while a service is down, for rewinds: once the cause is fixed, a rewind
//! runs what failed again and nothing else.
//!
//! The activities are granted the directory `/gate`: `flaky` stands for the service, up once the
//! file `/gate/open` exists (it fails with `ServiceDown` before); every attempt of `step` and
//! `flaky` appends a line `<activity>:<input>` to `/gate/ran.log`, so a test counts what ran.
//!
//! - `repair_fan_out`: input `n`. Fans out `step` for `s0`..`s<n-1>` and `flaky("f")` (2 attempts,
//!   1 s apart) with a 60 s timer, then waits for the steps, then for `flaky` (a failure fails the
//!   instance, the timer still in flight), then for the timer. Output:
//!   `{"steps": ["step:s0", ...], "flaky": "flaky:f", "timer": "fired"}`.
//! - `repair_parent`: input a string `x`. Calls the sub-orchestration `repair_child` (which
//!   calls `flaky(x)` once, no retry, and returns its output), then `step("after")`. Output
//!   `["flaky:<x>", "step:after"]`.
//! - `own_bug`: fails with `Bug` in its own code after `step("before")`: nothing a rewind
//!   could undo.

use reprise_sdk::{ActivityContext, Context, Failure, RetryPolicy};
use serde_json::{Value, json};
use std::io::Write as _;
use std::time::Duration;

fn repair_fan_out(ctx: &Context, n: u32) -> Result<Value, Failure> {
    let steps: Vec<_> = (0..n).map(|i| ctx.call_activity::<String, _>("step", &format!("s{i}"))).collect();
    let flaky = ctx.call_activity_with_retry::<String, _>("flaky", "f", &RetryPolicy::new(2, Duration::from_secs(1)));
    let timer = ctx.timer(Duration::from_secs(60));
    let steps = ctx.try_all(steps)?;
    let flaky = flaky.wait()?;
    timer.wait()?;
    Ok(json!({ "steps": steps, "flaky": flaky, "timer": "fired" }))
}

fn repair_parent(ctx: &Context, x: String) -> Result<Vec<String>, Failure> {
    let child: String = ctx.call_sub_orchestrator("repair_child", &x).wait()?;
    let after: String = ctx.call_activity("step", "after").wait()?;
    Ok(vec![child, after])
}

fn repair_child(ctx: &Context, x: String) -> Result<String, Failure> {
    ctx.call_activity("flaky", &x).wait()
}

fn own_bug(ctx: &Context, _input: Value) -> Result<String, Failure> {
    let _: String = ctx.call_activity("step", "before").wait()?;
    Err(Failure::new("Bug", "the orchestrator's own bug"))
}

/// Appends `line` to the run log the tests count.
fn ran(line: &str) -> Result<(), Failure> {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open("/gate/ran.log")
        .map_err(|e| Failure::new("NoGate", format!("cannot write /gate/ran.log: {e}")))?;
    // One write per line: attempts run at once, and appends of one write each do not interleave.
    log.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| Failure::new("NoGate", format!("cannot write /gate/ran.log: {e}")))
}

fn step(_ctx: &ActivityContext, input: String) -> Result<String, Failure> {
    ran(&format!("step:{input}"))?;
    Ok(format!("step:{input}"))
}

fn flaky(_ctx: &ActivityContext, input: String) -> Result<String, Failure> {
    ran(&format!("flaky:{input}"))?;
    if std::path::Path::new("/gate/open").exists() {
        Ok(format!("flaky:{input}"))
    } else {
        Err(Failure::new("ServiceDown", "the service is down"))
    }
}

reprise_sdk::export! {
    orchestrators: [repair_fan_out, repair_parent, repair_child, own_bug],
    activities: [step, flaky],
}
