//! The subject of the flow-control tests (`tests/all/flow_control.rs`) and of the engine bench's
//! `flow` workload: activities under a flow limit that say, from inside, how many of them ran
//! at once.
//!
//! - `hold({"n", "customer", "ms", "gate"})`: appends `{"enter": n, "customer"}` to
//!   `/log/flow.jsonl` (a directory the host grants with `--activity-dir HOST:/log`), sleeps
//!   `ms` (real time, so that attempts that may overlap do), waits for the file `/log/<gate>` to
//!   exist if `gate` is set (a test holds an attempt open that way, for as long as it likes),
//!   then appends `{"exit": n, "customer"}` and returns `n`. Lines are appended whole by one
//!   write each, in the order the attempts reach them, so replaying the file's enters and exits
//!   gives how many attempts were inside at once.
//! - `tick(n)`: returns `n` (a start and nothing else, for rate limits).
//!
//! Orchestrator `fan_out({"holds": [hold inputs], "ticks": n})`: schedules every `hold` and `n`
//! `tick`s at once, waits for all of them, returns `{"held": count, "ticked": count}`.

use std::io::Write as _;
use std::time::Duration;

use reprise_sdk::{ActivityContext, Context, Failure};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The log, in the directory the host grants to activities.
const LOG: &str = "/log/flow.jsonl";

/// The input of `hold`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Hold {
    n: u64,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    ms: u64,
    #[serde(default)]
    gate: Option<String>,
}

/// Appends one line to the log, with one write of the whole line to a file opened for
/// appending, so that lines of attempts running at once never mix.
fn log(line: serde_json::Value) -> Result<(), Failure> {
    let mut text = line.to_string();
    text.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(LOG)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|err| Failure::new("LogUnavailable", format!("cannot append to {LOG}: {err}")))
}

fn hold(_ctx: &ActivityContext, input: Hold) -> Result<u64, Failure> {
    log(json!({ "enter": input.n, "customer": input.customer }))?;
    if input.ms > 0 {
        std::thread::sleep(Duration::from_millis(input.ms));
    }
    if let Some(gate) = &input.gate {
        let path = format!("/log/{gate}");
        // Bounded, so that a test that forgets its gate fails instead of hanging.
        for _ in 0..12_000 {
            if std::fs::metadata(&path).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    log(json!({ "exit": input.n, "customer": input.customer }))?;
    Ok(input.n)
}

fn tick(_ctx: &ActivityContext, n: u64) -> Result<u64, Failure> {
    Ok(n)
}

/// The input of `fan_out`.
#[derive(Debug, Deserialize)]
struct FanOut {
    #[serde(default)]
    holds: Vec<Hold>,
    #[serde(default)]
    ticks: u64,
}

/// What `fan_out` returns.
#[derive(Debug, Serialize)]
struct FannedIn {
    held: usize,
    ticked: usize,
}

fn fan_out(ctx: &Context, input: FanOut) -> Result<FannedIn, Failure> {
    let holds: Vec<_> = input.holds.iter().map(|h| ctx.call_activity::<u64, _>("hold", h)).collect();
    let ticks: Vec<_> = (0..input.ticks).map(|n| ctx.call_activity::<u64, _>("tick", &n)).collect();
    let held = ctx.all(holds).into_iter().collect::<Result<Vec<_>, _>>()?.len();
    let ticked = ctx.all(ticks).into_iter().collect::<Result<Vec<_>, _>>()?.len();
    Ok(FannedIn { held, ticked })
}

reprise_sdk::export! {
    orchestrators: [fan_out],
    activities: [hold, tick],
}
