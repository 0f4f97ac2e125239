//! What an activity may do over HTTP: its grants, the headers the host adds to the requests of
//! each grant (secrets that the guest never sees), and its limits. The executor builds one per
//! activity from the deployment file and the flags; the runtime only reads it.

use crate::http::grants::{HttpGrant, HttpGrants};
use crate::http::send::TlsTrust;
use std::time::Duration;
use wasmtime_wasi_http::RequestOptions;

/// An activity's HTTP access. The default reaches nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAccess {
    /// The patterns a request must match.
    pub grants: HttpGrants,
    /// Headers the host sets on every request a grant allows, replacing the guest's own.
    pub headers: Vec<GrantHeader>,
    /// The most requests one attempt may make; `None` for no limit.
    pub max_requests: Option<u32>,
    /// The most body bytes (sent and received, all requests together) one attempt may move;
    /// `None` for no limit.
    pub max_body_bytes: Option<u64>,
    /// The certificate authorities trusted besides the web's roots, if any.
    pub trust: Option<TlsTrust>,
    /// How long a connection may take to open.
    pub connect_timeout: Duration,
    /// How long the response's head may take to arrive.
    pub first_byte_timeout: Duration,
    /// How long the response's body may pause between two chunks.
    pub between_bytes_timeout: Duration,
}

impl Default for HttpAccess {
    fn default() -> Self {
        HttpAccess {
            grants: HttpGrants::default(),
            headers: Vec::new(),
            max_requests: None,
            max_body_bytes: None,
            trust: None,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            between_bytes_timeout: Duration::from_secs(60),
        }
    }
}

/// A header the host sets on the requests that one grant allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantHeader {
    /// The grant whose requests get it.
    pub grant: HttpGrant,
    /// The header's name.
    pub name: http::HeaderName,
    /// Its value, marked sensitive (never shown by the HTTP stack's debug output).
    pub value: http::HeaderValue,
}

impl HttpAccess {
    /// The headers to set on a request that `grant` allowed.
    pub(crate) fn headers_for(&self, grant: &HttpGrant) -> impl Iterator<Item = (http::HeaderName, http::HeaderValue)> {
        self.headers.iter().filter(move |h| h.grant == *grant).map(|h| (h.name.clone(), h.value.clone()))
    }

    /// The timeouts of a request: the guest's where it asked for shorter ones, the host's
    /// otherwise.
    pub(crate) fn options(&self, guest: Option<RequestOptions>) -> RequestOptions {
        let guest = guest.unwrap_or_default();
        let shorter = |asked: Option<Duration>, limit: Duration| Some(asked.map_or(limit, |asked| asked.min(limit)));
        RequestOptions {
            connect_timeout: shorter(guest.connect_timeout, self.connect_timeout),
            first_byte_timeout: shorter(guest.first_byte_timeout, self.first_byte_timeout),
            between_bytes_timeout: shorter(guest.between_bytes_timeout, self.between_bytes_timeout),
        }
    }
}
