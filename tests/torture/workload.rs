//! The workload: which instances the harness starts, when, how, with what input, which events
//! and entity signals it sends, when it kills the host; and what every orchestrator of the
//! `torture` guest must return for a given input.
//!
//! The plan is drawn from one seeded generator before anything runs, so a seed names a
//! workload. The expected outputs mirror the guest's code (`guests/torture/src/lib.rs`): change
//! both together. This module never touches a process or a database.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

/// The entity type of the guest.
pub const COUNTER: &str = "Counter";

/// The counters the workload shares between instances (and the harness's own signals): few,
/// so that operations and critical sections contend.
pub const COUNTER_KEYS: [&str; 8] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];

/// How a client request reaches the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Via {
    /// The `reprise` command, on the database (works while the host is down).
    Cli,
    /// The HTTP API of the running host.
    Http,
}

/// When, within its round, a request is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// While the host runs (and possibly while it is being killed).
    Up,
    /// After the kill, before the restart: `reprise` on the database alone.
    Down,
}

/// An instance the harness starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedStart {
    /// Its id.
    pub id: String,
    /// The orchestrator.
    pub name: String,
    /// Its input.
    pub input: Value,
    /// The first round it may be started in.
    pub round: u32,
    /// While the host runs or while it is down.
    pub phase: Phase,
    /// How (`Cli` whenever the host is down).
    pub via: Via,
}

/// An event the harness raises on an instance it started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedRaise {
    /// The instance.
    pub id: String,
    /// The event's name.
    pub event: String,
    /// Its data.
    pub data: Value,
    /// The first round it may be raised in (once the instance is known to exist).
    pub round: u32,
    /// While the host runs or while it is down.
    pub phase: Phase,
    /// How (`Cli` whenever the host is down).
    pub via: Via,
}

/// An `add` the harness signals to a counter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedSignal {
    /// The counter's key.
    pub key: String,
    /// The operation id (unique).
    pub op: String,
    /// The amount.
    pub amount: i64,
    /// The round it is sent in.
    pub round: u32,
    /// While the host runs or while it is down.
    pub phase: Phase,
    /// How (`Cli` whenever the host is down).
    pub via: Via,
}

/// How a host is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSettings {
    /// Its instance cache (0: every episode replays from history).
    pub cache_size: usize,
    /// Activity attempts at once (few: most tasks wait in the queue for a claim, instead of
    /// being run by the episode that schedules them).
    pub activity_concurrency: usize,
    /// Episodes at once.
    pub orchestration_concurrency: usize,
}

impl HostSettings {
    /// The defaults of `reprise serve`.
    pub const DEFAULT: HostSettings =
        HostSettings { cache_size: 1024, activity_concurrency: 16, orchestration_concurrency: 32 };
}

/// What happens in one round: one host process, killed at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedRound {
    /// How long after the host is ready it is killed.
    pub kill_after: Duration,
    /// The host's settings.
    pub host: HostSettings,
}

/// The whole workload of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// The seed it was drawn from.
    pub seed: u64,
    /// The instances to start, in start order.
    pub starts: Vec<PlannedStart>,
    /// The events to raise.
    pub raises: Vec<PlannedRaise>,
    /// The harness's own entity signals.
    pub signals: Vec<PlannedSignal>,
    /// The rounds (kills), in order.
    pub rounds: Vec<PlannedRound>,
}

/// How long a kill may wait at most after the host is ready.
const MAX_KILL_DELAY_MS: u64 = 1_500;

/// Draws the plan of `instances` instances over `rounds` rounds from `seed`.
pub fn plan(seed: u64, rounds: u32, instances: u32) -> Plan {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rounds_planned: Vec<PlannedRound> = (0..rounds)
        .map(|_| {
            // One kill in five lands while the round's requests are still going out.
            let kill_ms =
                if rng.random_bool(0.2) { rng.random_range(0..50) } else { rng.random_range(50..=MAX_KILL_DELAY_MS) };
            let mut host = HostSettings::DEFAULT;
            if rng.random_bool(0.25) {
                host.cache_size = 0;
            }
            if rng.random_bool(0.25) {
                host.activity_concurrency = 2;
            }
            if rng.random_bool(0.25) {
                host.orchestration_concurrency = 2;
            }
            PlannedRound { kill_after: Duration::from_millis(kill_ms), host }
        })
        .collect();

    let mut starts = Vec::new();
    let mut raises = Vec::new();
    for n in 0..instances {
        let round = if rounds == 0 { 0 } else { (u64::from(n) * u64::from(rounds) / u64::from(instances)) as u32 };
        let (name, input) = scenario(&mut rng);
        let id = format!("t{n:05}-{name}");
        if name == "events" {
            let values = input["values"].as_array().cloned().unwrap_or_default();
            let mut events: Vec<(String, Value)> =
                values.into_iter().enumerate().map(|(k, value)| (format!("ev{k}"), value)).collect();
            events.push(("go".into(), input["go"].clone()));
            for (event, data) in events {
                let phase = if rng.random_bool(0.5) { Phase::Up } else { Phase::Down };
                let via = if phase == Phase::Down || rng.random_bool(0.5) { Via::Cli } else { Via::Http };
                let round = round + rng.random_range(0..=3);
                raises.push(PlannedRaise { id: id.clone(), event, data, round, phase, via });
            }
        }
        let via = if rng.random_bool(0.5) { Via::Cli } else { Via::Http };
        let phase = if via == Via::Cli && rng.random_bool(0.5) { Phase::Down } else { Phase::Up };
        starts.push(PlannedStart { id, name: name.into(), input, round, phase, via });
    }

    let mut signals = Vec::new();
    for round in 0..rounds {
        for i in 0..rng.random_range(0..=2) {
            let phase = if rng.random_bool(0.5) { Phase::Up } else { Phase::Down };
            let via = if phase == Phase::Down || rng.random_bool(0.5) { Via::Cli } else { Via::Http };
            signals.push(PlannedSignal {
                key: pick_key(&mut rng).into(),
                op: format!("harness/{round}/{i}"),
                amount: rng.random_range(1..=100),
                round,
                phase,
                via,
            });
        }
    }
    Plan { seed, starts, raises, signals, rounds: rounds_planned }
}

fn pick_key(rng: &mut ChaCha8Rng) -> &'static str {
    COUNTER_KEYS[rng.random_range(0..COUNTER_KEYS.len())]
}

/// One instance's orchestrator and input, drawn at random.
fn scenario(rng: &mut ChaCha8Rng) -> (&'static str, Value) {
    let salt: u64 = rng.random_range(0..1_000_000);
    match rng.random_range(0..9) {
        0 => ("chain", json!({"steps": rng.random_range(3..=10), "salt": salt, "sleep_ms": rng.random_range(0..=40)})),
        1 => {
            ("fan_out", json!({"items": rng.random_range(4..=20), "fail_every": rng.random_range(0..=4), "salt": salt}))
        }
        2 => ("retry", json!({"value": salt, "fail_first": rng.random_range(0..=4), "fatal": rng.random_bool(0.1)})),
        3 => ("timers", json!({"count": rng.random_range(1..=4), "ms": rng.random_range(100..=600), "salt": salt})),
        4 => {
            let values: Vec<u64> = (0..rng.random_range(1..=4)).map(|_| rng.random_range(1..1000)).collect();
            ("events", json!({"values": values, "go": rng.random_range(1..1000)}))
        }
        5 => (
            "parent",
            json!({"children": rng.random_range(1..=4), "salt": salt, "retry_after_ms": rng.random_range(200..=1500)}),
        ),
        6 => {
            let keys: Vec<&str> = (0..rng.random_range(1..=3)).map(|_| pick_key(rng)).collect();
            let (signals, calls) = (rng.random_range(0..=5), rng.random_range(1..=5));
            ("entities", json!({"keys": keys, "signals": signals, "calls": calls, "amount": rng.random_range(1..=9)}))
        }
        7 => {
            let a = pick_key(rng);
            let b = loop {
                let b = pick_key(rng);
                if b != a {
                    break b;
                }
            };
            ("critical", json!({"a": a, "b": b, "amount": rng.random_range(1..=50)}))
        }
        _ => {
            ("eternal", json!({"n": 0, "until": rng.random_range(2..=6), "acc": 1, "salt": salt, "key": pick_key(rng)}))
        }
    }
}

/// How an instance must end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Completed with this output.
    Completed(Value),
    /// Failed with this error type, whose first cause (if given) has this type and message.
    Failed {
        /// The failure's type.
        error_type: String,
        /// The first cause's type and message.
        cause: Option<(String, String)>,
    },
}

/// The guest's `mix`, the step every `work` computes.
pub fn mix(v: u64, i: u64, salt: u64) -> u64 {
    (v.wrapping_mul(31).wrapping_add(i * 7).wrapping_add(salt)) % 1_000_003
}

/// How an instance of `name` started with `input` (its first execution's) must end, or why no
/// such instance can exist.
pub fn expected(name: &str, input: &Value) -> Result<Expected, String> {
    let u = |field: &str| input[field].as_u64().ok_or_else(|| format!("{name}: input field '{field}' is not a number"));
    let completed = |value| Ok(Expected::Completed(value));
    match name {
        "chain" => {
            let salt = u("salt")?;
            completed(json!({"last": (0..u("steps")?).fold(1, |v, i| mix(v, i, salt))}))
        }
        "fan_out" => {
            let (items, fail_every, salt) = (u("items")?, u("fail_every")?, u("salt")?);
            let fails = |i: u64| fail_every > 0 && i.is_multiple_of(fail_every);
            let ok_sum: u64 = (0..items).filter(|&i| !fails(i)).map(|i| mix(i, i, salt)).sum();
            completed(json!({"ok_sum": ok_sum, "failed": (0..items).filter(|&i| fails(i)).count()}))
        }
        "retry" => {
            let value = u("value")?;
            if input["fatal"].as_bool() == Some(true) {
                let message = format!("item {value} always fails");
                return Ok(Expected::Failed {
                    error_type: "ActivityFailed".into(),
                    cause: Some(("Fatal".into(), message)),
                });
            }
            completed(json!({"value": value + 1000}))
        }
        "timers" => {
            let salt = u("salt")?;
            completed(json!({"last": (0..u("count")?).fold(1, |v, i| mix(v, i, salt)), "timed_out": true}))
        }
        "events" => {
            let values = input["values"].as_array().ok_or("events: input field 'values' is not an array")?;
            let sum: u64 = values.iter().map(|v| v.as_u64().unwrap_or(0)).sum();
            completed(json!({"sum": sum, "go": u("go")?}))
        }
        "parent" => {
            let salt = u("salt")?;
            let sum: u64 = (0..u("children")?).map(|v| mix(mix(v, 0, salt), 1, salt)).sum();
            completed(json!({"sum": sum, "caught": true, "retried": "ok"}))
        }
        "child" => completed(json!(mix(mix(u("v")?, 0, u("salt")?), 1, u("salt")?))),
        "child_fail" => Ok(Expected::Failed { error_type: "ChildFailed".into(), cause: None }),
        "child_retry" => completed(json!("ok")),
        "entities" => completed(json!({"times": vec![1; u("calls")? as usize], "rejected": true})),
        "critical" => completed(json!({"atomic": true})),
        "eternal" => {
            let salt = u("salt")?;
            completed(json!({"acc": (u("n")?..=u("until")?).fold(u("acc")?, |acc, n| mix(acc, n, salt))}))
        }
        other => Err(format!("the torture guest has no orchestrator '{other}'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_one_plan() {
        let (a, b) = (plan(7, 10, 30), plan(7, 10, 30));
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        assert_ne!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&plan(8, 10, 30)).unwrap());
        assert_eq!(a.starts.len(), 30);
        assert_eq!(a.rounds.len(), 10);
        assert!(a.starts.iter().all(|s| expected(&s.name, &s.input).is_ok()), "every planned input has an outcome");
    }
}
