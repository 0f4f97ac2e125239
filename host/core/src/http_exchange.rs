//! The record of one outgoing HTTP request of an activity attempt: what the activity's log and
//! its attempt's history event show. It holds no header, no body and no query string, which
//! is where credentials travel.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One request an activity attempt made (or was refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpExchange {
    /// The method, upper case.
    pub method: String,
    /// `scheme://host[:port]/path`, without the query.
    pub url: String,
    /// The response's status, once its head arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why there is no response, or why its body stopped: `denied` for a request outside the
    /// grants, otherwise the transport's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Milliseconds from the request to its response's head (or its error).
    pub duration_ms: u64,
    /// Bytes of request body sent.
    pub bytes_sent: u64,
    /// Bytes of response body received by the activity.
    pub bytes_received: u64,
}

impl HttpExchange {
    /// The error of a request the grants refused.
    pub const DENIED: &'static str = "denied";
}

impl fmt::Display for HttpExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.url)?;
        match (self.status, &self.error) {
            (_, Some(error)) if error == Self::DENIED => return f.write_str(" denied"),
            (Some(status), None) => write!(f, " -> {status}")?,
            (Some(status), Some(error)) => write!(f, " -> {status}, then {error}")?,
            (None, Some(error)) => write!(f, " failed: {error}")?,
            (None, None) => f.write_str(" (no answer)")?,
        }
        write!(f, " in {} ms, {} B sent, {} B received", self.duration_ms, self.bytes_sent, self.bytes_received)
    }
}
