//! How instances, events and failures look on a terminal and in `--json` output. JSON output
//! embeds payloads as JSON values (not strings holding JSON) and times as RFC 3339.

use reprise_core::{Event, Failure, HistoryEvent, ParentRef, Payload, RawJson, RuntimeStatus, Timestamp};
use reprise_executor::{InstanceCheck, InstanceUpgrade, UpgradeOutcome, Verdict};
use reprise_runtime::LoadedComponent;
use reprise_store::{EntityRecord, InstanceRecord, PendingTask, TaskState};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A timestamp as RFC 3339 UTC with milliseconds.
pub(crate) fn time(ms: Timestamp) -> String {
    reprise_core::history_text::render_time(ms)
}

/// A payload re-indented for reading (its numbers and strings exactly as stored).
pub(crate) fn pretty_json(payload: &Payload) -> String {
    payload.pretty()
}

/// A payload on one line, cut to `max` characters.
pub(crate) fn short(payload: &Payload, max: usize) -> String {
    let compact = payload.compact();
    if compact.chars().count() <= max {
        compact
    } else {
        let cut: String = compact.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// A failure with its chain of causes and details, for a terminal.
pub(crate) fn failure(failure: &Failure) -> String {
    let mut out = format!("{}: {}", failure.error_type, failure.message);
    if let Some(details) = &failure.details {
        let _ = write!(out, "\n  details: {details}");
    }
    for cause in &failure.causes {
        let _ = write!(out, "\n  caused by {}: {}", cause.error_type, cause.message);
        if let Some(details) = &cause.details {
            let _ = write!(out, "\n    details: {details}");
        }
    }
    out
}

/// An instance as JSON, its payloads embedded as the values they are.
#[derive(Serialize)]
pub(crate) struct InstanceJson<'a> {
    instance_id: &'a str,
    name: &'a str,
    status: RuntimeStatus,
    execution: u32,
    custom_status: Option<RawJson>,
    input: RawJson,
    output: Option<RawJson>,
    failure: &'a Option<Failure>,
    component: &'a Option<String>,
    parent: &'a Option<ParentRef>,
    history_len: u64,
    created_at: String,
    updated_at: String,
    completed_at: Option<String>,
    /// Its activity tasks still in the queue, where `status --json` shows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_tasks: Option<Vec<PendingTaskJson<'a>>>,
}

impl<'a> InstanceJson<'a> {
    /// The instance with its pending tasks.
    pub(crate) fn with_tasks(self, tasks: &'a [PendingTask]) -> Self {
        InstanceJson { pending_tasks: Some(pending_tasks_json(tasks)), ..self }
    }
}

/// An instance as JSON.
pub(crate) fn instance_json(record: &InstanceRecord) -> InstanceJson<'_> {
    InstanceJson {
        instance_id: &record.instance_id,
        name: &record.name,
        status: record.status,
        execution: record.execution,
        custom_status: record.custom_status.as_ref().map(Payload::json),
        input: record.input.json(),
        output: record.output.as_ref().map(Payload::json),
        failure: &record.failure,
        component: &record.component,
        parent: &record.parent,
        history_len: record.history_len,
        created_at: time(record.created_at),
        updated_at: time(record.updated_at),
        completed_at: record.completed_at.map(time),
        pending_tasks: None,
    }
}

/// An instance as aligned text.
pub(crate) fn instance(record: &InstanceRecord) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<14}{value}");
    };
    line("instance", record.instance_id.clone());
    line("orchestrator", record.name.clone());
    line("status", record.status.to_string());
    if let Some(custom) = &record.custom_status {
        line("custom status", short(custom, 200));
    }
    line("created", time(record.created_at));
    line("updated", time(record.updated_at));
    if let Some(completed) = record.completed_at {
        line("completed", time(completed));
    }
    line("input", short(&record.input, 200));
    if let Some(output) = &record.output {
        line("output", short(output, 2000));
    }
    if let Some(f) = &record.failure {
        line("failure", failure(f).replace('\n', "\n              "));
    }
    if let Some(parent) = &record.parent {
        line("parent", format!("{} (task {})", parent.instance_id, parent.task_id));
        if parent.attempt > 1 {
            line("attempt", parent.attempt.to_string());
        }
    }
    line("execution", record.execution.to_string());
    line("events", record.history_len.to_string());
    if let Some(component) = &record.component {
        line("component", component.clone());
    }
    out
}

/// An instance's activity tasks still in the queue, as lines under its status: what each waits
/// for, a task held back by its activity's flow limit as `Throttled` (it is not failing).
pub(crate) fn pending_tasks(tasks: &[PendingTask]) -> String {
    let mut out = String::new();
    if tasks.is_empty() {
        return out;
    }
    let _ = writeln!(out, "{:<14}{} pending", "tasks", tasks.len());
    for task in tasks {
        let state = match task.state {
            TaskState::Queued => "Queued, waiting for a free worker".to_string(),
            TaskState::Throttled { since } => {
                format!("Throttled since {}, waiting for its activity's flow limit", time(since))
            }
            TaskState::Running { .. } => format!("Running attempt {}", task.attempts),
            TaskState::Retrying { at } => format!("Retrying at {} (attempt {} failed)", time(at), task.attempts),
        };
        let key = task.flow_key.as_deref().map(|key| format!(" (key {key})")).unwrap_or_default();
        let _ = writeln!(out, "{:<14}task {} {}: {state}{key}", "", task.task_id, task.name);
    }
    out
}

/// An instance's pending tasks as `status --json` shows them.
#[derive(Serialize)]
pub(crate) struct PendingTaskJson<'a> {
    task_id: u64,
    name: &'a str,
    /// `Queued`, `Throttled`, `Running` or `Retrying`.
    state: &'static str,
    /// When a throttled task was first held back, when a retry is due, when a lease ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    attempts: u32,
    flow_key: Option<&'a str>,
}

/// Pending tasks as JSON.
pub(crate) fn pending_tasks_json(tasks: &[PendingTask]) -> Vec<PendingTaskJson<'_>> {
    tasks
        .iter()
        .map(|task| {
            let (since, at) = match task.state {
                TaskState::Throttled { since } => (Some(time(since)), None),
                TaskState::Retrying { at } => (None, Some(time(at))),
                TaskState::Queued | TaskState::Running { .. } => (None, None),
            };
            PendingTaskJson {
                task_id: task.task_id,
                name: &task.name,
                state: task.state.as_str(),
                since,
                at,
                attempts: task.attempts,
                flow_key: task.flow_key.as_deref(),
            }
        })
        .collect()
}

/// Instances as a table.
pub(crate) fn instance_table(records: &[InstanceRecord]) -> String {
    if records.is_empty() {
        return "no instances match\n".to_string();
    }
    let mut out = format!("{:<38} {:<24} {:<10} {:<24}\n", "INSTANCE", "ORCHESTRATOR", "STATUS", "CREATED");
    for r in records {
        let _ = writeln!(
            out,
            "{:<38} {:<24} {:<10} {:<24}",
            r.instance_id,
            r.name,
            r.status.to_string(),
            time(r.created_at)
        );
    }
    out
}

/// One event as `--json` output shows it.
pub(crate) fn event_json(event: &HistoryEvent) -> BTreeMap<String, RawJson> {
    reprise_core::history_text::render_event(event)
}

/// A history as a readable timeline: one line per event, each episode headed by its time.
pub(crate) fn timeline(record: &InstanceRecord, events: &[HistoryEvent]) -> String {
    let mut out = format!("{} {} ({})\n", record.name, record.instance_id, record.status);
    let start = events.iter().find_map(|e| match e.event {
        Event::EpisodeStarted { time } => Some(time),
        _ => None,
    });
    for e in events {
        let text = match &e.event {
            Event::EpisodeStarted { time: at } => {
                let offset = at.saturating_sub(start.unwrap_or(*at));
                format!("── episode at {} (+{:.3}s)", time(*at), offset as f64 / 1000.0)
            }
            Event::ExecutionStarted { name, input, component } => {
                let pinned = if component.is_empty() {
                    "none".to_string()
                } else {
                    component[..12.min(component.len())].to_string()
                };
                format!("started {name} with {} (component {pinned})", short(input, 80))
            }
            Event::ActivityScheduled { task_id, name, input, options } => {
                let mut text = format!("task {task_id}: scheduled {name}({})", short(input, 80));
                if let Some(retry) = &options.retry {
                    let _ = write!(text, " retry up to {} attempts", retry.max_attempts);
                }
                if let Some(timeout) = options.timeout_ms {
                    let _ = write!(text, " timeout {timeout} ms");
                }
                text
            }
            Event::ActivityRetrying { task_id, attempt, failure: f, next_attempt_at } => {
                format!(
                    "task {task_id}: attempt {attempt} failed → {}; next attempt at {}",
                    one_line(f),
                    time(*next_attempt_at)
                )
            }
            Event::HttpRequestsMade { task_id, attempt, requests } => {
                let mut text = format!("task {task_id}: attempt {attempt} made {} HTTP request(s)", requests.len());
                for request in requests {
                    let _ = write!(text, "\n      {request}");
                }
                text
            }
            Event::SubOrchestrationScheduled { task_id, name, instance_id, input, retry } => {
                let mut text = format!(
                    "task {task_id}: started sub-orchestration {name} as {instance_id} with {}",
                    short(input, 80)
                );
                if let Some(retry) = retry {
                    let _ = write!(text, " retry up to {} attempts", retry.max_attempts);
                }
                text
            }
            Event::SubOrchestrationCompleted { task_id, output } => {
                format!("task {task_id}: sub-orchestration completed → {}", short(output, 80))
            }
            Event::SubOrchestrationFailed { task_id, failure: f } => {
                format!("task {task_id}: sub-orchestration failed → {}", one_line(f))
            }
            Event::SubOrchestrationRetrying { task_id, attempt, failure: f, next_attempt_at } => format!(
                "task {task_id}: sub-orchestration attempt {attempt} failed → {}; next attempt at {}",
                one_line(f),
                time(*next_attempt_at)
            ),
            Event::ExecutionContinuedAsNew { input } => format!("continued as new with {}", short(input, 120)),
            Event::TimerScheduled { task_id, fire_at } => format!("task {task_id}: timer set for {}", time(*fire_at)),
            Event::TimerFired { task_id } => format!("task {task_id}: timer fired"),
            Event::EventWaitStarted { task_id, name } => format!("task {task_id}: waiting for event {name}"),
            Event::EventRaised { name, data } => format!("event {name} received: {}", short(data, 80)),
            Event::UpdateWaitStarted { task_id, name } => format!("task {task_id}: waiting for update {name}"),
            Event::UpdateReceived { update_id, name, input } => {
                format!("update {name} ({update_id}) received: {}", short(input, 80))
            }
            Event::UpdateReplied { update_id, reply } => match reply {
                reprise_core::UpdateReply::Output(output) => {
                    format!("answered update {update_id} → {}", short(output, 80))
                }
                reprise_core::UpdateReply::Failure(f) => format!("answered update {update_id} → {}", one_line(f)),
            },
            Event::EventSent { instance_id, name, data } => {
                format!("raised event {name} on {instance_id}: {}", short(data, 80))
            }
            Event::EntityCalled { task_id, entity, operation, input, in_critical_section } => {
                let locked = if *in_critical_section { " (in its critical section)" } else { "" };
                format!("task {task_id}: called {entity} {operation}({}){locked}", short(input, 80))
            }
            Event::EntityLockRequested { task_id, entities } => {
                let names: Vec<String> = entities.iter().map(ToString::to_string).collect();
                format!("task {task_id}: asked for the locks of {}", names.join(", "))
            }
            Event::EntitiesUnlocked { entities } => {
                let names: Vec<String> = entities.iter().map(ToString::to_string).collect();
                format!("released the locks of {}", names.join(", "))
            }
            Event::EntitySignaled { entity, operation, input } => {
                format!("signalled {entity} {operation}({})", short(input, 80))
            }
            Event::EntityCompleted { task_id, output } => {
                format!("task {task_id}: entity operation completed → {}", short(output, 80))
            }
            Event::EntityFailed { task_id, failure: f } => {
                format!("task {task_id}: entity operation failed → {}", one_line(f))
            }
            Event::ExecutionSuspended { reason } => format!("suspended: {reason}"),
            Event::ExecutionResumed { reason } => format!("resumed: {reason}"),
            Event::ExecutionRewound { reason, replay_from, undone } => {
                let undone: Vec<String> = undone.iter().map(u64::to_string).collect();
                format!(
                    "rewound: {reason} (failures at positions {} undone; deliveries from position {replay_from} given again)",
                    undone.join(", ")
                )
            }
            Event::ComponentUpgraded { from, to } => {
                format!("upgraded: component {} → {}", short_hash(from), short_hash(to))
            }
            Event::VersionMarked { change_id, version } => format!("version {version} of change '{change_id}'"),
            Event::ExecutionTerminated { reason, cascade } => {
                let children = if *cascade { " (with its sub-orchestrations)" } else { "" };
                format!("terminated{children}: {reason}")
            }
            Event::ActivityCompleted { task_id, output } => {
                format!("task {task_id}: completed → {}", short(output, 80))
            }
            Event::ActivityFailed { task_id, failure: f } => format!("task {task_id}: failed → {}", one_line(f)),
            Event::ExecutionCompleted { output } => format!("completed → {}", short(output, 120)),
            Event::ExecutionFailed { failure: f } => format!("failed → {}", one_line(f)),
        };
        let _ = writeln!(out, "{:>5}  {text}", e.seq);
    }
    out
}

fn one_line(failure: &Failure) -> String {
    let mut text = format!("{}: {}", failure.error_type, failure.message);
    for cause in &failure.causes {
        let _ = write!(text, " ← {}: {}", cause.error_type, cause.message);
    }
    text
}

/// An entity as JSON: its address, its state embedded as the value it is, its counts and times.
#[derive(Serialize)]
pub(crate) struct EntityJson<'a> {
    name: &'a str,
    key: &'a str,
    id: String,
    state: Option<RawJson>,
    operations: u64,
    queued: u64,
    created_at: String,
    updated_at: String,
}

/// An entity as JSON.
pub(crate) fn entity_json(record: &EntityRecord) -> EntityJson<'_> {
    EntityJson {
        name: &record.entity.name,
        key: &record.entity.key,
        id: record.entity.to_string(),
        state: record.state.as_ref().map(Payload::json),
        operations: record.operations,
        queued: record.queued,
        created_at: time(record.created_at),
        updated_at: time(record.updated_at),
    }
}

/// Entities as a table.
pub(crate) fn entity_table(records: &[EntityRecord]) -> String {
    if records.is_empty() {
        return "no entities match\n".to_string();
    }
    let mut out = format!("{:<20} {:<24} {:>10} {:>7}  {:<40}\n", "NAME", "KEY", "OPERATIONS", "QUEUED", "STATE");
    for r in records {
        let state = r.state.as_ref().map_or_else(|| "(none)".to_string(), |s| short(s, 40));
        let _ =
            writeln!(out, "{:<20} {:<24} {:>10} {:>7}  {state}", r.entity.name, r.entity.key, r.operations, r.queued);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_payloads_are_cut_and_compacted() {
        assert_eq!(short(&Payload::stored("\"abcdef\""), 5), "\"abc…");
        assert_eq!(short(&Payload::stored("{ \"a\" : 1 }"), 80), "{\"a\":1}");
        assert_eq!(short(&Payload::stored("[1.0, 0.9570227765943855, 1E+2]"), 80), "[1.0,0.9570227765943855,1E+2]");
    }

    #[test]
    fn failures_show_their_causes() {
        let f = Failure::activity_failed("credit", Failure::new("AccountFrozen", "account is frozen"));
        assert_eq!(
            failure(&f),
            "ActivityFailed: activity 'credit' failed: account is frozen\n  caused by AccountFrozen: account is frozen"
        );
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(time(0), "1970-01-01T00:00:00.000Z");
    }
}

/// A replay check's verdict, as `replay-check` prints it.
pub(crate) fn verdict(verdict: &Verdict) -> String {
    verdict.to_string()
}

/// One instance's check as JSON.
#[derive(Serialize)]
pub(crate) struct CheckJson<'a> {
    instance_id: &'a str,
    name: &'a str,
    status: RuntimeStatus,
    execution: u32,
    pinned: &'a Option<String>,
    history_len: u64,
    replayed: u64,
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issued: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<&'a Failure>,
}

/// A whole replay check as JSON: the component, every instance's verdict, the counts.
pub(crate) fn replay_check_json(
    component: &LoadedComponent,
    checks: &[InstanceCheck],
    summary: &crate::commands::Summary,
) -> Value {
    let instances: Vec<CheckJson<'_>> = checks
        .iter()
        .map(|check| {
            let (verdict, position, recorded, issued, failure) = match &check.replay.verdict {
                Verdict::Compatible => ("compatible", None, None, None, None),
                Verdict::Diverges { position, recorded, issued } => {
                    ("diverges", Some(*position), Some(recorded.as_str()), Some(issued.as_str()), None)
                }
                Verdict::Fails(failure) => ("fails", None, None, None, Some(failure)),
            };
            CheckJson {
                instance_id: &check.instance_id,
                name: &check.name,
                status: check.status,
                execution: check.execution,
                pinned: &check.pinned,
                history_len: check.history_len,
                replayed: check.replay.replayed,
                verdict,
                position,
                recorded,
                issued,
                failure,
            }
        })
        .collect();
    serde_json::json!({
        "component": { "hash": component.hash, "source": component.source },
        "instances": instances,
        "summary": {
            "checked": checks.len(),
            "compatible": summary.compatible,
            "diverges": summary.diverges,
            "fails": summary.fails,
            "seconds": summary.seconds,
        },
    })
}

/// What an upgrade did with one instance, as `upgrade` prints it.
pub(crate) fn upgrade_outcome(outcome: &UpgradeOutcome) -> String {
    match outcome {
        UpgradeOutcome::Upgraded { from } => format!("upgraded from {}", short_hash(from)),
        UpgradeOutcome::AlreadyOn => "already on it".to_string(),
        UpgradeOutcome::NotStarted => "not started: its first episode pins the newest component".to_string(),
        UpgradeOutcome::StaysPinned { on, verdict } => format!("stays on {}: {verdict}", short_hash(on)),
        UpgradeOutcome::Skipped { reason } => format!("skipped: {reason}; run the upgrade again"),
    }
}

/// A whole upgrade as JSON: the component, every instance's outcome, the counts.
pub(crate) fn upgrade_json(
    (hash, source): (&str, &str),
    upgrades: &[InstanceUpgrade],
    counts: &crate::commands::UpgradeCounts,
) -> Value {
    let instances: Vec<Value> = upgrades
        .iter()
        .map(|upgrade| {
            let mut json = serde_json::json!({
                "instance_id": upgrade.instance_id,
                "name": upgrade.name,
                "status": upgrade.status,
            });
            let fields = match &upgrade.outcome {
                UpgradeOutcome::Upgraded { from } => serde_json::json!({ "outcome": "upgraded", "from": from }),
                UpgradeOutcome::AlreadyOn => serde_json::json!({ "outcome": "already-on" }),
                UpgradeOutcome::NotStarted => serde_json::json!({ "outcome": "not-started" }),
                UpgradeOutcome::StaysPinned { on, verdict } => {
                    let mut fields = serde_json::json!({ "outcome": "stays-pinned", "pinned": on });
                    match verdict {
                        Verdict::Diverges { position, recorded, issued } => {
                            fields["verdict"] = "diverges".into();
                            fields["position"] = (*position).into();
                            fields["recorded"] = recorded.as_str().into();
                            fields["issued"] = issued.as_str().into();
                        }
                        Verdict::Fails(failure) => {
                            fields["verdict"] = "fails".into();
                            fields["failure"] = serde_json::to_value(failure).unwrap_or(Value::Null);
                        }
                        Verdict::Compatible => fields["verdict"] = "compatible".into(),
                    }
                    fields
                }
                UpgradeOutcome::Skipped { reason } => serde_json::json!({ "outcome": "skipped", "reason": reason }),
            };
            if let (Value::Object(json), Value::Object(fields)) = (&mut json, fields) {
                json.extend(fields);
            }
            json
        })
        .collect();
    serde_json::json!({
        "component": { "hash": hash, "source": source },
        "instances": instances,
        "summary": {
            "instances": upgrades.len(),
            "upgraded": counts.upgraded,
            "stays_pinned": counts.stays_pinned,
            "already_on": counts.already_on,
            "not_started": counts.not_started,
            "skipped": counts.skipped,
            "seconds": counts.seconds,
        },
    })
}

/// The timeline of [`timeline`], with the orchestrator's log lines where it logged them: a line
/// logged at position `p` (after `p` events were replayed) comes before event `p`.
pub(crate) fn timeline_with_logs(record: &InstanceRecord, events: &[HistoryEvent], logs: &[(u64, String)]) -> String {
    let text = timeline(record, events);
    let mut lines = text.lines();
    let mut out = String::new();
    if let Some(header) = lines.next() {
        let _ = writeln!(out, "{header}");
    }
    let mut logs = logs.iter().peekable();
    for (position, line) in lines.enumerate() {
        while let Some((_, log)) = logs.next_if(|(at, _)| *at <= position as u64) {
            let _ = writeln!(out, "       │ {log}");
        }
        let _ = writeln!(out, "{line}");
    }
    for (_, log) in logs {
        let _ = writeln!(out, "       │ {log}");
    }
    out
}

/// How many of the tasks an execution scheduled (activities, sub-orchestrations, timers, entity
/// calls) have ended, and how many it scheduled.
pub(crate) fn task_counts(events: &[HistoryEvent]) -> (usize, usize) {
    let scheduled = events
        .iter()
        .filter(|e| {
            matches!(
                e.event,
                Event::ActivityScheduled { .. }
                    | Event::SubOrchestrationScheduled { .. }
                    | Event::TimerScheduled { .. }
                    | Event::EntityCalled { .. }
            )
        })
        .count();
    (events.iter().filter(|e| e.event.ended_task().is_some()).count(), scheduled)
}

/// A component hash as shown to people: its first 12 characters, enough to tell components apart.
pub(crate) fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
