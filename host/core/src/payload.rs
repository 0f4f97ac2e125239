//! Payloads: the JSON documents that cross the host (inputs, outputs, event data, entity state,
//! custom status), checked once where they enter and carried as text from then on.
//!
//! A [`Payload`] is made by [`Payload::parse`] at every entry point: a client's start, event or
//! signal, and every value a guest hands the host (an activity's input, an output, a state).
//! Parsing checks that the text is one JSON document and no larger than the host's limit, and
//! keeps the text exactly as it came: the host never re-encodes a payload, so a number such as
//! `0.9570227765943855`, `12345678901234567890123` or `1e400` comes out as it went in. Values read
//! back from the store were checked when they were written, and are wrapped without a second
//! parse ([`Payload::stored`]).
//!
//! Shown to people and tools (the CLI, the HTTP API), a payload is embedded in their JSON as the
//! value it is ([`Payload::json`]) or re-indented ([`Payload::pretty`]): only whitespace
//! changes, never a token. Parsing a payload into a `serde_json::Value` to show it would round
//! its numbers to `f64`; nothing here does.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A JSON document as text, checked at the boundary. See the module docs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(String);

/// Why text is not a payload the host accepts.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The text is not one well-formed JSON document.
    #[error("not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The text is larger than the host's limit.
    #[error("{size} bytes, more than the host's limit of {limit} bytes per payload")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
}

impl PayloadError {
    /// The failure a guest's bad payload ends its task with: `what` names the payload ("the
    /// output of activity 'charge'").
    pub fn failure(&self, what: &str) -> crate::Failure {
        let error_type = match self {
            PayloadError::NotJson(_) => crate::failure::error_types::INVALID_PAYLOAD,
            PayloadError::TooLarge { .. } => crate::failure::error_types::PAYLOAD_TOO_LARGE,
        };
        crate::Failure::new(error_type, format!("{what} is {self}"))
    }
}

impl Payload {
    /// Checks that `text` is one JSON document of at most `limit` bytes, and keeps it as it is.
    /// The size is checked first, so an oversized payload costs no parse.
    pub fn parse(text: impl Into<String>, limit: usize) -> Result<Payload, PayloadError> {
        let text = text.into();
        if text.len() > limit {
            return Err(PayloadError::TooLarge { size: text.len(), limit });
        }
        // A raw value checks the syntax only: numbers are scanned, not converted, so a valid
        // number beyond f64's range (`1e400`) is accepted, as JSON allows.
        serde_json::from_str::<&serde_json::value::RawValue>(&text).map_err(PayloadError::NotJson)?;
        Ok(Payload(text))
    }

    /// JSON `null`.
    pub fn null() -> Payload {
        Payload("null".to_string())
    }

    /// A JSON number, from an integer the host produced (a timer's fire time).
    pub fn from_u64(value: u64) -> Payload {
        Payload(value.to_string())
    }

    /// Wraps text that was a payload when it was written (a store's row, a recorded event),
    /// without parsing it again: reading back a long history must not cost a JSON parse per
    /// payload. Text that does not come from a checked payload must go through
    /// [`Payload::parse`].
    pub fn stored(text: impl Into<String>) -> Payload {
        Payload(text.into())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON text, owned.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for a parsed payload (the empty text is not JSON); present for `len`'s sake.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Payload {
    /// The text without whitespace between tokens (strings and numbers untouched).
    pub fn compact(&self) -> String {
        compact(&self.0)
    }

    /// The text re-indented for reading, two spaces a level (strings and numbers untouched).
    pub fn pretty(&self) -> String {
        jsonxf::pretty_print(&self.0).unwrap_or_else(|_| self.0.clone())
    }

    /// The payload as a value to embed in a JSON document serialized by `serde_json`: written
    /// as its compact text, not as a string holding it.
    pub fn json(&self) -> RawJson {
        RawJson::new(&self.0)
    }
}

/// Text without whitespace between JSON tokens; text that is not JSON is returned as it is.
fn compact(text: &str) -> String {
    jsonxf::minimize(text).unwrap_or_else(|_| text.to_string())
}

/// JSON text embedded in a JSON document as the value it holds, byte for byte (compacted): a
/// payload ([`Payload::json`]), or beside it any other value ([`RawJson::value`]), so that one
/// map can hold both. Text that is not JSON (a corrupt row) is embedded as a JSON string rather
/// than hidden. It serializes this way only with `serde_json` (as every `RawValue` does).
#[derive(Debug, Clone)]
pub struct RawJson(Result<Box<serde_json::value::RawValue>, String>);

impl RawJson {
    /// Embeds `text`, which should be one JSON document.
    pub fn new(text: &str) -> RawJson {
        let compacted = compact(text);
        RawJson(serde_json::value::RawValue::from_string(compacted).map_err(|_| text.to_string()))
    }

    /// Embeds a value the host built (never a payload: its numbers would have gone through
    /// `f64`).
    pub fn value(value: &serde_json::Value) -> RawJson {
        RawJson(serde_json::value::to_raw_value(value).map_err(|_| value.to_string()))
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Ok(raw) => raw.serialize(serializer),
            Err(text) => serializer.serialize_str(text),
        }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A payload reads as its JSON text (never the other way: text becomes a payload by
/// [`Payload::parse`]).
impl std::ops::Deref for Payload {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Payload {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Payload {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Payload {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_keeps_the_text_and_refuses_what_is_not_one_document() {
        for text in ["null", " {\"a\" : [1, 2.50, -0, 1e400]} ", "\"text\"", "12345678901234567890123"] {
            assert_eq!(Payload::parse(text, 1024).unwrap().as_str(), text);
        }
        for text in ["", "{oops", "1 2", "'single'", "nul"] {
            assert!(matches!(Payload::parse(text, 1024), Err(PayloadError::NotJson(_))), "{text:?}");
        }
    }

    #[test]
    fn the_limit_is_checked_before_the_json() {
        let error = Payload::parse("{not even json", 4).unwrap_err();
        assert!(matches!(error, PayloadError::TooLarge { size: 14, limit: 4 }), "{error}");
        assert_eq!(error.to_string(), "14 bytes, more than the host's limit of 4 bytes per payload");
        assert!(Payload::parse("1234", 4).is_ok(), "the limit itself is allowed");
    }

    #[test]
    fn a_payload_serializes_as_its_text_in_a_json_string() {
        let payload = Payload::parse("[0.9570227765943855]", 100).unwrap();
        let json = serde_json::to_string(&payload).unwrap();
        assert_eq!(json, r#""[0.9570227765943855]""#);
        assert_eq!(serde_json::from_str::<Payload>(&json).unwrap(), payload);
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| format!("{x:?}")),
            any::<f64>().prop_filter("finite", |x| x.is_finite()).prop_map(|x| format!("{x:e}")),
            any::<u128>().prop_map(|n| n.to_string()),
            any::<i128>().prop_map(|n| n.to_string()),
            ("-?[1-9][0-9]{0,30}", "[0-9]{1,30}", "[eE][+-]?[0-9]{1,4}").prop_map(|(i, f, e)| format!("{i}.{f}{e}")),
        ]
    }

    #[test]
    fn shown_payloads_change_whitespace_only() {
        let payload = Payload::parse("{ \"a\" : [ 0.9570227765943855 , 1e400, \"x  y\" ] }", 1000).unwrap();
        assert_eq!(payload.compact(), r#"{"a":[0.9570227765943855,1e400,"x  y"]}"#);
        assert_eq!(payload.pretty(), "{\n  \"a\": [\n    0.9570227765943855,\n    1e400,\n    \"x  y\"\n  ]\n}");
        #[derive(Serialize)]
        struct Document {
            kept: &'static str,
            payload: RawJson,
        }
        let document = serde_json::to_string(&Document { kept: "as is", payload: payload.json() }).unwrap();
        assert_eq!(document, r#"{"kept":"as is","payload":{"a":[0.9570227765943855,1e400,"x  y"]}}"#);
        assert_eq!(serde_json::to_string(&RawJson::new("not json")).unwrap(), r#""not json""#);
    }

    proptest! {
        /// Whatever a number looks like (shortest or not, beyond 2^53, beyond u64, with an
        /// exponent), a payload holding it is stored and returned byte for byte.
        #[test]
        fn numbers_come_out_as_they_went_in(numbers in proptest::collection::vec(number(), 1..8)) {
            let text = format!("[{}]", numbers.join(", "));
            let payload = Payload::parse(text.clone(), usize::MAX).unwrap();
            prop_assert_eq!(payload.as_str(), text.as_str());
            let stored = serde_json::to_string(&payload).unwrap();
            let read: Payload = serde_json::from_str(&stored).unwrap();
            prop_assert_eq!(read.as_str(), text.as_str());
            let shown = serde_json::to_string(&read.json()).unwrap();
            prop_assert_eq!(shown, read.compact());
            prop_assert_eq!(read.compact(), text.replace(' ', ""));
        }
    }
}
