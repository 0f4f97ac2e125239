//! A small blocking HTTP client for activities, over `wasi:http/outgoing-handler`.
//!
//! ```no_run
//! use reprise_sdk::{ActivityContext, Failure, http};
//! use serde::Deserialize;
//! use serde_json::json;
//!
//! #[derive(Deserialize)]
//! struct Rate {
//!     eur: f64,
//! }
//!
//! fn fetch_rate(_ctx: &ActivityContext, currency: String) -> Result<f64, Failure> {
//!     let response = http::get(format!("https://rates.example.com/v1/{currency}"))?;
//!     if !response.status().is_success() {
//!         return Err(Failure::new("NoRate", format!("{currency}: {}", response.status())));
//!     }
//!     Ok(response.json::<Rate>()?.eur)
//! }
//!
//! fn record(_ctx: &ActivityContext, rate: f64) -> Result<u16, Failure> {
//!     let response = http::post("https://ledger.example.com/v1/rates")
//!         .header("x-source", "reprise")
//!         .json(&json!({ "eur": rate }))?
//!         .send()?;
//!     Ok(response.status().as_u16())
//! }
//! # reprise_sdk::export! { activities: [fetch_rate, record] }
//! # fn main() {}
//! ```
//!
//! - **Grants.** The host sends a request only if one of the activity's grants allows it
//!   (`GET https://rates.example.com/v1/*`); otherwise the request fails with
//!   [`ErrorCode::HttpRequestDenied`], shown as `the host denied the request
//!   (HttpRequestDenied)`. The host may also set headers of its own (credentials the guest never
//!   sees) and limits.
//! - **Activities only.** Orchestrators and entities run without I/O, so that they replay: the
//!   host traps one that sends a request. Make the request in an activity and call it.
//! - **Errors.** [`Error`] converts into a [`Failure`](crate::Failure) of type
//!   [`HttpError`](crate::Failure::HTTP_ERROR), so `?` works in an activity. A response with an
//!   error status is not an error.
//! - **Bodies.** A request body is bytes, text, JSON ([`Request::json`]), or a
//!   [`std::io::Read`] streamed in chunks ([`Body::from_reader`]); a response body is read
//!   whole ([`Response::bytes`], [`Response::text`], [`Response::json`]) or streamed
//!   ([`Response::into_body`], a [`std::io::Read`]), so that a large download never sits in
//!   memory.
//! - **Redirects.** `GET` and `HEAD` requests follow up to [`DEFAULT_MAX_REDIRECTS`] redirects
//!   (301, 302, 303, 307, 308), each a new request that the host checks against the grants;
//!   [`Request::max_redirects`] changes the count, 0 disables them.
//! - **Timeouts.** [`Request::connect_timeout`], [`Request::first_byte_timeout`] and
//!   [`Request::between_bytes_timeout`] shorten the host's own; the host never lets a guest
//!   lengthen them. A request that times out fails with the `wasi:http` code of the timeout
//!   (`ConnectionTimeout`, `HttpResponseTimeout`...).
//!
//! The request and response types (`Method`, `StatusCode`, `HeaderMap`...) are the `http`
//! crate's, re-exported here.

mod body;
mod error;
mod fields;
mod request;
mod response;
mod transport;
mod url;

pub use ::http::header::{self, HeaderMap, HeaderName, HeaderValue};
pub use ::http::{Method, StatusCode};
pub use body::Body;
pub use error::Error;
pub use request::{DEFAULT_MAX_REDIRECTS, Request};
pub use response::{Response, ResponseBody};
/// The `wasi:http` error codes, carried by [`Error::Request`].
pub use wasip2::http::types::ErrorCode;

/// Sends a `GET` request to `url` (following redirects) and returns the response. For headers,
/// timeouts or a body, build the request with [`request`]`(Method::GET, url)`.
///
/// # Errors
///
/// As [`Request::send`].
pub fn get(url: impl AsRef<str>) -> Result<Response, Error> {
    request(Method::GET, url).send()
}

/// A `POST` request to `url`, to complete and [`send`](Request::send).
pub fn post(url: impl AsRef<str>) -> Request {
    request(Method::POST, url)
}

/// A `PUT` request to `url`, to complete and [`send`](Request::send).
pub fn put(url: impl AsRef<str>) -> Request {
    request(Method::PUT, url)
}

/// A `PATCH` request to `url`, to complete and [`send`](Request::send).
pub fn patch(url: impl AsRef<str>) -> Request {
    request(Method::PATCH, url)
}

/// A `DELETE` request to `url`, to complete and [`send`](Request::send).
pub fn delete(url: impl AsRef<str>) -> Request {
    request(Method::DELETE, url)
}

/// A request of any method to `url` (an absolute `http` or `https` URL), to complete and
/// [`send`](Request::send). A URL that does not parse fails the request when it is sent.
pub fn request(method: Method, url: impl AsRef<str>) -> Request {
    Request::new(method, url.as_ref())
}
