//! Activity tasks against the side-effect log (one line per attempt that ran): every task with
//! a recorded outcome ran, each attempt under its own number; every attempt recorded in history
//! (the failed ones that were retried, and the last) is a line of the log with the same result;
//! and a task ran at most once more than its recorded attempts per kill of the host that came
//! while it was scheduled and not completed (between the episode that scheduled it and the one
//! that received its result). Every line belongs to a task that a history scheduled.

use super::{Findings, Invariant, Snapshot, json};
use crate::torture::ledger::Ledger;
use anyhow::Context as _;
use reprise_core::{Event, Failure, Payload, idempotency_key};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// One attempt as the activity logged it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct LogLine {
    /// `instance/execution/task`.
    pub key: String,
    /// The attempt's number.
    pub attempt: u32,
    /// The activity's name.
    pub activity: String,
    /// `{"ok": output}` or `{"err": {"type", "message"}}`.
    pub result: Value,
}

impl LogLine {
    fn output(&self) -> Option<&Value> {
        self.result.get("ok")
    }

    fn error(&self) -> Option<(&str, &str)> {
        let err = self.result.get("err")?;
        Some((err["type"].as_str()?, err["message"].as_str()?))
    }
}

/// Reads the log; a line that is not a whole attempt is a violation (of the instance its key
/// names, if it can be read).
pub(super) fn read_log(path: &Path, findings: &mut Findings) -> anyhow::Result<Vec<LogLine>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        match serde_json::from_str::<LogLine>(line) {
            Ok(parsed) => lines.push(parsed),
            Err(error) => {
                let instance = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v["key"].as_str().map(|k| instance_of_key(k).to_string()))
                    .unwrap_or_else(|| "(log)".into());
                findings.add(
                    instance,
                    Invariant::Activity,
                    format!("log line {} is not an attempt ({error}): {line}", number + 1),
                );
            }
        }
    }
    Ok(lines)
}

/// The instance an idempotency key names (`instance/execution/task`).
fn instance_of_key(key: &str) -> &str {
    key.rsplitn(3, '/').nth(2).unwrap_or(key)
}

/// The kills of a run, to count those that may have cost a task an attempt.
pub(super) struct Kills {
    /// When each came, sorted; empty if unknown.
    times: Vec<u64>,
    /// How many there were.
    count: usize,
}

impl Kills {
    pub fn of(ledger: &Ledger) -> Kills {
        let mut times = ledger.kill_times.clone();
        times.sort_unstable();
        Kills { times, count: ledger.kills as usize }
    }

    /// The kills from `from` to `to` (all of them, if their times are unknown). A margin of a
    /// few milliseconds covers the harness reading the clock just before it kills.
    fn between(&self, from: u64, to: Option<u64>) -> usize {
        if self.times.len() != self.count {
            return self.count;
        }
        let (from, to) = (from.saturating_sub(MARGIN_MS), to.map_or(u64::MAX, |t| t.saturating_add(MARGIN_MS)));
        self.times.iter().filter(|&&t| t >= from && t <= to).count()
    }
}

/// See [`Kills::between`].
const MARGIN_MS: u64 = 50;

/// One task as its history recorded it.
struct Task<'a> {
    instance: &'a str,
    name: &'a str,
    /// The time of the episode that scheduled it, and of the one that received its outcome.
    scheduled_at: u64,
    ended_at: Option<u64>,
    /// The attempts that failed and were retried: (attempt, failure).
    retried: Vec<(u32, &'a Failure)>,
    /// The recorded outcome.
    end: Option<Result<&'a Payload, &'a Failure>>,
}

/// Checks every task; returns how many tasks there are.
pub(super) fn check(snapshot: &Snapshot, kills: &Kills, findings: &mut Findings) -> usize {
    let mut tasks: BTreeMap<String, Task<'_>> = BTreeMap::new();
    for (id, stored) in &snapshot.instances {
        for (execution, history) in stored.histories() {
            let mut now = 0;
            for event in history {
                match &event.event {
                    Event::EpisodeStarted { time } => now = *time,
                    Event::ActivityScheduled { task_id, name, .. } => {
                        let task = Task {
                            instance: id,
                            name,
                            scheduled_at: now,
                            ended_at: None,
                            retried: Vec::new(),
                            end: None,
                        };
                        tasks.insert(idempotency_key(id, execution, *task_id), task);
                    }
                    Event::ActivityRetrying { task_id, attempt, failure, .. } => {
                        if let Some(task) = tasks.get_mut(&idempotency_key(id, execution, *task_id)) {
                            task.retried.push((*attempt, failure));
                        }
                    }
                    Event::ActivityCompleted { task_id, output } => {
                        if let Some(task) = tasks.get_mut(&idempotency_key(id, execution, *task_id)) {
                            (task.end, task.ended_at) = (Some(Ok(output)), Some(now));
                        }
                    }
                    Event::ActivityFailed { task_id, failure } => {
                        if let Some(task) = tasks.get_mut(&idempotency_key(id, execution, *task_id)) {
                            (task.end, task.ended_at) = (Some(Err(failure)), Some(now));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    let mut lines: BTreeMap<&str, Vec<&LogLine>> = BTreeMap::new();
    for line in &snapshot.log {
        lines.entry(line.key.as_str()).or_default().push(line);
    }
    for (key, ran) in &lines {
        if !tasks.contains_key(*key) {
            let instance = instance_of_key(key);
            findings.add(
                instance,
                Invariant::Activity,
                format!("task {key} ran {} time(s) but no history scheduled it", ran.len()),
            );
        }
    }
    for (key, task) in &tasks {
        let ran = lines.get(key.as_str()).map(Vec::as_slice).unwrap_or_default();
        for problem in task_problems(task, ran, kills) {
            findings.add(task.instance, Invariant::Activity, format!("task {key} ('{}'): {problem}", task.name));
        }
    }
    tasks.len()
}

fn task_problems(task: &Task<'_>, ran: &[&LogLine], kills: &Kills) -> Vec<String> {
    let mut problems = Vec::new();
    let recorded = task.retried.len() + usize::from(task.end.is_some());
    let kills = kills.between(task.scheduled_at, task.ended_at);
    if ran.len() < recorded {
        problems.push(format!("{recorded} attempt(s) recorded in history, {} in the log", ran.len()));
    }
    if ran.len() > recorded + kills {
        problems.push(format!(
            "ran {} times: more than its {recorded} recorded attempt(s) plus one per kill while it was due ({kills})",
            ran.len()
        ));
    }
    let mut numbers: Vec<u32> = ran.iter().map(|line| line.attempt).collect();
    numbers.sort_unstable();
    if numbers.windows(2).any(|pair| pair[0] == pair[1]) {
        problems.push(format!("attempt numbers repeat: {numbers:?}"));
    }
    if let Some(line) = ran.iter().find(|line| line.activity != task.name) {
        problems.push(format!("attempt {} ran activity '{}'", line.attempt, line.activity));
    }
    for (attempt, failure) in &task.retried {
        let matches = ran
            .iter()
            .any(|line| line.attempt == *attempt && line.error().is_some_and(|(t, _)| t == failure.error_type));
        if !matches {
            problems.push(format!(
                "retried attempt {attempt} failed with {} in history, not so in the log",
                failure.error_type
            ));
        }
    }
    let last_retried = task.retried.iter().map(|(attempt, _)| *attempt).max().unwrap_or(0);
    match task.end {
        Some(Ok(output)) => match json(output) {
            Ok(output) => {
                if !ran.iter().any(|line| line.attempt > last_retried && line.output() == Some(&output)) {
                    problems.push(format!("its recorded output {output} is no attempt's after attempt {last_retried}"));
                }
            }
            Err(error) => problems.push(format!("its recorded output is {error}")),
        },
        Some(Err(failure)) => {
            // The orchestrator receives the activity's failure as the first cause.
            let own = failure.causes.first().map(|c| (c.error_type.as_str(), c.message.as_str()));
            if !ran.iter().any(|line| line.attempt > last_retried && line.error().is_some() && line.error() == own) {
                problems.push(format!("its recorded failure {own:?} is no attempt's after attempt {last_retried}"));
            }
        }
        None => {}
    }
    problems
}
