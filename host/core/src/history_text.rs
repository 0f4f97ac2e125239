//! Histories as text that people and tools pass around, both ways: the JSON `reprise history
//! --json` prints (payloads embedded as JSON values, times as RFC 3339 with milliseconds), and
//! reading back either that or a repro bundle's executions (the stored form: payloads as JSON
//! text, times as milliseconds), so that a test can replay a history someone exported.
//!
//! Rendering and reading live together so that they cannot drift apart (a round-trip test holds
//! them to each other). This module never decides anything about replay.

use crate::{HistoryEvent, RawJson, Timestamp};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

/// The fields that hold payloads, embedded as JSON values when rendered.
const PAYLOAD_FIELDS: [&str; 3] = ["input", "output", "data"];
/// The fields that hold times, shown as RFC 3339 when rendered.
const TIME_FIELDS: [&str; 3] = ["time", "fire_at", "next_attempt_at"];

/// Why a history text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryTextError {
    /// The text is not JSON, or not of a shape this module reads.
    #[error(
        "not a history: {0} (expected the output of `reprise history ID --json`, a JSON array of \
         events, or a repro bundle written by `reprise bundle`)"
    )]
    Shape(String),
    /// One event could not be read.
    #[error("event {index} of the history: {reason}")]
    Event {
        /// Its index in the text.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// A history read from text: the events of one execution, and what the text says about the
/// instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryText {
    /// The instance's id, if the text names it (a bundle does; `history --json` does not).
    pub instance_id: Option<String>,
    /// The execution the events belong to (the last one of a bundle; 1 if the text does not say).
    pub execution: u32,
    /// The events, in order.
    pub events: Vec<HistoryEvent>,
}

/// A timestamp as RFC 3339 UTC with milliseconds, the way every `--json` output shows times.
pub fn render_time(ms: Timestamp) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// One event as `reprise history --json` prints it: its fields, payloads embedded as JSON values
/// and times as RFC 3339.
pub fn render_event(event: &HistoryEvent) -> BTreeMap<String, RawJson> {
    let mut fields = BTreeMap::new();
    let Ok(Value::Object(map)) = serde_json::to_value(event) else {
        return fields;
    };
    for (key, value) in map {
        let rendered = match (key.as_str(), &value) {
            // A payload serializes as a string holding its text: embed the text itself.
            (field, Value::String(text)) if PAYLOAD_FIELDS.contains(&field) => RawJson::new(text),
            (field, Value::Number(ms)) if TIME_FIELDS.contains(&field) => match ms.as_u64() {
                Some(ms) => RawJson::value(&Value::String(render_time(ms))),
                None => RawJson::value(&value),
            },
            _ => RawJson::value(&value),
        };
        fields.insert(key, rendered);
    }
    fields
}

/// Reads a history from the output of `reprise history ID --json` (a JSON array of rendered
/// events) or from a repro bundle (the events of its last execution, in the stored form).
pub fn parse(text: &str) -> Result<HistoryText, HistoryTextError> {
    let shape = |e: serde_json::Error| HistoryTextError::Shape(e.to_string());
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let events: Vec<Box<RawValue>> = serde_json::from_str(text).map_err(shape)?;
        let events =
            events.iter().enumerate().map(|(index, raw)| rendered_event(index, raw)).collect::<Result<_, _>>()?;
        return Ok(HistoryText { instance_id: None, execution: 1, events });
    }
    let bundle: Bundle = serde_json::from_str(text).map_err(shape)?;
    if bundle.format != "reprise-bundle" {
        return Err(HistoryTextError::Shape(format!("an object of format '{}'", bundle.format)));
    }
    let last = bundle
        .executions
        .into_iter()
        .max_by_key(|execution| execution.execution)
        .ok_or_else(|| HistoryTextError::Shape("a bundle with no executions".into()))?;
    Ok(HistoryText {
        instance_id: bundle.instance.map(|i| i.instance_id),
        execution: last.execution,
        events: last.events,
    })
}

#[derive(serde::Deserialize)]
struct Bundle {
    format: String,
    #[serde(default)]
    instance: Option<BundleInstance>,
    executions: Vec<BundleExecution>,
}

#[derive(serde::Deserialize)]
struct BundleInstance {
    instance_id: String,
}

#[derive(serde::Deserialize)]
struct BundleExecution {
    execution: u32,
    events: Vec<HistoryEvent>,
}

/// One rendered event back in the stored form: each payload field's text kept exactly as
/// written (its numbers are not taken through `f64`), each time read from RFC 3339.
fn rendered_event(index: usize, raw: &RawValue) -> Result<HistoryEvent, HistoryTextError> {
    let error = |reason: String| HistoryTextError::Event { index, reason };
    let fields: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(raw.get()).map_err(|e| error(format!("not an object: {e}")))?;
    let mut stored = Map::new();
    for (key, value) in fields {
        let value = if PAYLOAD_FIELDS.contains(&key.as_str()) {
            Value::String(value.get().to_string())
        } else {
            let value: Value = serde_json::from_str(value.get()).map_err(|e| error(e.to_string()))?;
            match (TIME_FIELDS.contains(&key.as_str()), value) {
                (true, Value::String(text)) => {
                    let time = humantime::parse_rfc3339(&text)
                        .map_err(|e| error(format!("field '{key}' is not an RFC 3339 time: {e}")))?;
                    let ms =
                        time.duration_since(UNIX_EPOCH).map_err(|_| error(format!("field '{key}' is before 1970")))?;
                    Value::from(u64::try_from(ms.as_millis()).unwrap_or(u64::MAX))
                }
                (_, value) => value,
            }
        };
        stored.insert(key, value);
    }
    serde_json::from_value(Value::Object(stored)).map_err(|e| error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, Failure, Payload};

    fn history() -> Vec<HistoryEvent> {
        let events = vec![
            Event::EpisodeStarted { time: 1_700_000_000_123 },
            Event::ExecutionStarted {
                name: "transfer".into(),
                input: Payload::stored(r#"{"amount":12345678901234567890}"#),
                component: "abc".into(),
            },
            Event::ActivityScheduled {
                task_id: 0,
                name: "debit".into(),
                input: Payload::stored(r#""alice""#),
                options: Default::default(),
            },
            Event::TimerScheduled { task_id: 1, fire_at: 1_700_000_030_000 },
            Event::EpisodeStarted { time: 1_700_000_000_200 },
            Event::ActivityFailed { task_id: 0, failure: Failure::new("ActivityFailed", "no") },
            Event::EventRaised { name: "go".into(), data: Payload::stored("null") },
            Event::ExecutionCompleted { output: Payload::stored("[1,2.50]") },
        ];
        events.into_iter().enumerate().map(|(seq, event)| HistoryEvent { seq: seq as u64, event }).collect()
    }

    #[test]
    fn rendered_histories_read_back_as_stored() {
        let events = history();
        let rendered: Vec<_> = events.iter().map(render_event).collect();
        let text = serde_json::to_string_pretty(&rendered).unwrap();
        assert!(text.contains(r#""time": "2023-11-14T22:13:20.123Z""#), "{text}");
        assert!(text.contains("12345678901234567890"), "payload numbers stay exact: {text}");
        let read = parse(&text).unwrap();
        assert_eq!(read.events, events);
        assert_eq!((read.instance_id, read.execution), (None, 1));
    }

    #[test]
    fn a_bundle_gives_its_last_execution() {
        let events = history();
        let bundle = serde_json::json!({
            "format": "reprise-bundle",
            "instance": {"instance_id": "order-7"},
            "executions": [
                {"execution": 1, "events": []},
                {"execution": 2, "events": events},
            ],
        });
        let read = parse(&bundle.to_string()).unwrap();
        assert_eq!((read.instance_id.as_deref(), read.execution), (Some("order-7"), 2));
        assert_eq!(read.events, history());
    }

    #[test]
    fn bad_texts_say_what_was_expected() {
        for text in [
            "",
            "{",
            "42",
            r#"{"format": "other", "executions": []}"#,
            r#"{"format":"reprise-bundle","executions":[]}"#,
        ] {
            let error = parse(text).unwrap_err();
            assert!(matches!(error, HistoryTextError::Shape(_)), "{text}: {error:?}");
            assert!(error.to_string().contains("reprise history ID --json"), "{error}");
        }
        let error = parse(r#"[{"seq": 0, "type": "EpisodeStarted", "time": "yesterday"}]"#).unwrap_err();
        assert!(
            error.to_string().starts_with("event 0 of the history: field 'time' is not an RFC 3339 time"),
            "{error}"
        );
        let error = parse(r#"[{"seq": 0, "type": "Unheard"}]"#).unwrap_err();
        assert!(matches!(error, HistoryTextError::Event { index: 0, .. }), "{error:?}");
    }
}
