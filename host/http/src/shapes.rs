//! The JSON bodies Durable Functions clients expect, and their construction from store records.
//!
//! It owns the wire format: camelCase names, ISO 8601 UTC times, payloads embedded as the JSON
//! values they are (the store keeps them as JSON text, and they are embedded as that text, so a
//! number comes out exactly as it went in: never through a `serde_json::Value`), and the
//! rendering of failures. It must never render a failure's `details` or causes unless asked to
//! expose them.

use reprise_core::{Failure, HistoryEvent, Payload, RawJson, Timestamp};
use reprise_store::{EntityRecord, InstanceRecord, PendingTask, TaskState};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

/// The body of `202 Accepted` from the starter: where to follow and manage the new instance.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckStatus {
    pub(crate) id: String,
    pub(crate) status_query_get_uri: String,
    pub(crate) send_event_post_uri: String,
    pub(crate) terminate_post_uri: String,
    pub(crate) purge_history_delete_uri: String,
    pub(crate) suspend_post_uri: String,
    pub(crate) resume_post_uri: String,
    pub(crate) rewind_post_uri: String,
    pub(crate) restart_post_uri: String,
}

impl CheckStatus {
    /// The URLs of instance `id` under `base` (`http://host:port`), with Durable Functions'
    /// placeholders `{eventName}`, `{text}` and `{bool}` left for the caller to fill.
    pub(crate) fn new(base: &str, id: &str) -> Self {
        let instance = format!("{base}/runtime/webhooks/durabletask/instances/{}", encode_segment(id));
        CheckStatus {
            id: id.to_string(),
            status_query_get_uri: instance.clone(),
            send_event_post_uri: format!("{instance}/raiseEvent/{{eventName}}"),
            terminate_post_uri: format!("{instance}/terminate?reason={{text}}"),
            purge_history_delete_uri: instance.clone(),
            suspend_post_uri: format!("{instance}/suspend?reason={{text}}"),
            resume_post_uri: format!("{instance}/resume?reason={{text}}"),
            rewind_post_uri: format!("{instance}/rewind?reason={{text}}"),
            restart_post_uri: format!("{instance}/restart?restartWithNewInstanceId={{bool}}"),
        }
    }
}

/// The body of `DELETE .../instances/{id}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Purged {
    pub(crate) instances_deleted: usize,
}

/// An instance's status, as Durable Functions' `DurableOrchestrationStatus`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InstanceStatus {
    name: String,
    instance_id: String,
    runtime_status: &'static str,
    input: Option<RawJson>,
    custom_status: Option<RawJson>,
    output: Option<RawJson>,
    created_time: String,
    last_updated_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    history_events: Option<Vec<BTreeMap<String, RawJson>>>,
    /// The activity tasks still in the queue, while the instance runs (Reprise's addition: a
    /// task held back by its activity's flow limit shows as `Throttled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_tasks: Option<Vec<PendingTaskStatus>>,
}

/// One pending activity task of [`InstanceStatus`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PendingTaskStatus {
    task_id: u64,
    name: String,
    /// `Queued`, `Throttled`, `Running` or `Retrying`.
    state: &'static str,
    /// A throttled task: since when its flow limit holds it back.
    #[serde(skip_serializing_if = "Option::is_none")]
    throttled_since: Option<String>,
    /// A retrying task: when its next attempt is due.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_attempt_time: Option<String>,
    /// Attempts claimed so far.
    attempts: u32,
    /// The key its flow limits apply under (JSON text), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    flow_key: Option<String>,
}

impl PendingTaskStatus {
    fn new(task: &PendingTask) -> Self {
        let (throttled_since, next_attempt_time) = match task.state {
            TaskState::Throttled { since } => (Some(iso8601(since)), None),
            TaskState::Retrying { at } => (None, Some(iso8601(at))),
            TaskState::Queued | TaskState::Running { .. } => (None, None),
        };
        PendingTaskStatus {
            task_id: task.task_id,
            name: task.name.clone(),
            state: task.state.as_str(),
            throttled_since,
            next_attempt_time,
            attempts: task.attempts,
            flow_key: task.flow_key.clone(),
        }
    }
}

/// What a status body includes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatusOptions {
    /// Include the instance's input (otherwise `null`).
    pub(crate) show_input: bool,
    /// Render failures whole, with details and causes.
    pub(crate) expose_failure_details: bool,
    /// Keep the outputs of completed steps in history events.
    pub(crate) show_history_output: bool,
}

impl InstanceStatus {
    /// The status of `record`, with `history` if given.
    pub(crate) fn new(record: &InstanceRecord, history: Option<&[HistoryEvent]>, options: StatusOptions) -> Self {
        let output = match (&record.failure, &record.output) {
            (Some(failure), _) => Some(RawJson::value(&failure_json(failure, options.expose_failure_details))),
            (None, output) => output.as_ref().map(Payload::json),
        };
        InstanceStatus {
            name: record.name.clone(),
            instance_id: record.instance_id.clone(),
            runtime_status: record.status.as_str(),
            input: options.show_input.then(|| record.input.json()),
            custom_status: record.custom_status.as_ref().map(Payload::json),
            output,
            created_time: iso8601(record.created_at),
            last_updated_time: iso8601(record.updated_at),
            history_events: history.map(|events| events.iter().map(|e| history_event(e, options)).collect()),
            pending_tasks: None,
        }
    }

    /// The same status, with the instance's pending activity tasks.
    pub(crate) fn with_tasks(self, tasks: &[PendingTask]) -> Self {
        InstanceStatus { pending_tasks: Some(tasks.iter().map(PendingTaskStatus::new).collect()), ..self }
    }
}

/// A failure as callers see it: `{"errorType", "errorMessage"}`, plus `details` and `causes`
/// only when exposed (they may hold stack traces and internal data).
pub(crate) fn failure_json(failure: &Failure, expose: bool) -> Value {
    let mut object = Map::new();
    object.insert("errorType".into(), json!(failure.error_type));
    object.insert("errorMessage".into(), json!(failure.message));
    if expose {
        object.insert("details".into(), json!(failure.details));
        let causes = failure
            .causes
            .iter()
            .map(|c| json!({ "errorType": c.error_type, "errorMessage": c.message, "details": c.details }))
            .collect();
        object.insert("causes".into(), Value::Array(causes));
    }
    Value::Object(object)
}

/// One history event: `eventType`, `seq` and the event's fields in camelCase, payloads embedded as
/// the JSON they are, failures rendered as [`failure_json`], times in ISO 8601.
fn history_event(event: &HistoryEvent, options: StatusOptions) -> BTreeMap<String, RawJson> {
    let mut object = BTreeMap::new();
    object.insert("eventType".into(), RawJson::value(&json!(event.event.kind())));
    object.insert("seq".into(), RawJson::value(&json!(event.seq)));
    let Ok(Value::Object(fields)) = serde_json::to_value(&event.event) else {
        return object;
    };
    for (key, value) in fields {
        let rendered = match (key.as_str(), value) {
            ("type", _) => continue,
            // Outputs of steps are what showHistoryOutput is about.
            ("output", _) if !options.show_history_output => continue,
            // A payload serializes as a string holding its text: embed the text itself.
            ("input" | "output" | "data", Value::String(text)) => RawJson::new(&text),
            ("failure", value) => match serde_json::from_value::<Failure>(value) {
                Ok(failure) => RawJson::value(&failure_json(&failure, options.expose_failure_details)),
                Err(_) => continue,
            },
            // An attempt's HTTP requests: their fields in camelCase too.
            ("requests", Value::Array(requests)) => {
                let requests: Vec<Value> = requests
                    .into_iter()
                    .map(|request| match request {
                        Value::Object(fields) => {
                            Value::Object(fields.into_iter().map(|(k, v)| (camel_case(&k), v)).collect())
                        }
                        other => other,
                    })
                    .collect();
                RawJson::value(&Value::Array(requests))
            }
            ("time" | "fire_at" | "next_attempt_at", Value::Number(ms)) if ms.as_u64().is_some() => {
                RawJson::value(&json!(iso8601(ms.as_u64().unwrap_or_default())))
            }
            (_, value) => RawJson::value(&value),
        };
        object.insert(camel_case(&key), rendered);
    }
    object
}

/// Milliseconds since the epoch as ISO 8601 UTC with milliseconds (`2023-11-14T22:13:20.000Z`).
pub(crate) fn iso8601(at: Timestamp) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(at)).to_string()
}

/// `snake_case` → `camelCase`.
fn camel_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Percent-encodes a path segment: instance ids are chosen by callers and may hold `/` or `?`.
pub(crate) fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_hide_details_unless_exposed() {
        let failure =
            Failure::wrapping("ActivityFailed", "charge failed", Failure::new("Io", "disk").with_details("stack"));
        assert_eq!(
            failure_json(&failure, false),
            json!({"errorType": "ActivityFailed", "errorMessage": "charge failed"})
        );
        let exposed = failure_json(&failure, true);
        assert_eq!(exposed["causes"][0]["details"], "stack");
    }

    #[test]
    fn formats_times_and_names() {
        assert_eq!(iso8601(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(camel_case("next_attempt_at"), "nextAttemptAt");
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
    }
}

/// One entity in a listing, as Durable Functions' entity query returns it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntityStatus {
    entity_id: EntityAddress,
    last_operation_time: String,
    state: Option<RawJson>,
    operations: u64,
    queued: u64,
    /// Whether its next batch waits for its entity name's flow limit in this server.
    throttled: bool,
}

/// An entity's address in JSON.
#[derive(Debug, Serialize)]
pub(crate) struct EntityAddress {
    name: String,
    key: String,
}

impl EntityStatus {
    /// The listing entry of `record`, its state embedded as a JSON value.
    pub(crate) fn from_record(record: &EntityRecord, throttled: bool) -> Self {
        EntityStatus {
            entity_id: EntityAddress { name: record.entity.name.clone(), key: record.entity.key.clone() },
            last_operation_time: iso8601(record.updated_at),
            state: record.state.as_ref().map(Payload::json),
            operations: record.operations,
            queued: record.queued,
            throttled,
        }
    }
}
