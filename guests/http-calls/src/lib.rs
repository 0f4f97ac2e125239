//! HTTP requests with `reprise_sdk::http`, for the tests of the activities' `wasi:http` grants: a
//! request inside the grants goes out, one outside fails the activity, and an orchestrator or an
//! entity that tries traps (no seed pattern: the sandbox's own tests).
//!
//! Activities (a denial or a transport error fails them with `HttpError`, through the SDK
//! error's conversion into a `Failure`; the host may wrap it, for example in `HttpDenied`):
//! - `fetch({"method": "GET", "url": "...", "headers": {"name": "value"}, "body": "text",
//!   "redirects": n})`: sends one request (`method` defaults to `GET`; `headers`, `body` and
//!   `redirects`, the most redirects to follow, are optional) and returns `{"status": 200,
//!   "headers": {"lower-case-name": "value"}, "body": "..."}`, the body as lossy UTF-8 and the
//!   values of a repeated header joined with `", "`.
//! - `download({"url": "..."})`: `GET`s the URL and reads the body as a stream, in 64 KiB
//!   chunks, keeping none: returns `{"status": s, "bytes": n, "checksum": c}`, `c` the wrapping
//!   sum of every byte as a `u64`.
//! - `upload({"url": "...", "bytes": n, "chunked": false})`: `POST`s a body of `n` bytes (byte
//!   `i` is `i % 251`) streamed from a reader, never built whole: with a `content-length`, or
//!   with chunked transfer-coding when `chunked` is true. Returns `{"status": s, "body": "..."}`.
//!
//! Orchestrators:
//! - `call({"activity": "...", "input": any, "retry": {...}})`: calls the activity, with the
//!   retry policy if one is given (the WIT record's fields: `max_attempts`,
//!   `first_retry_interval_ms`, and optionally `backoff_coefficient`, `max_retry_interval_ms`,
//!   `retry_timeout_ms`, `non_retryable_errors`), and returns its output or fails with its
//!   failure.
//! - `fetch_directly(url)`: calls `reprise_sdk::http::get` itself; the host traps it.
//! - `probe_entity(url)`: calls operation `fetch` of entity `prober/p1`, which does the same.
//!
//! Entity `prober`, operation `fetch(url)`: the same inside an entity; the host traps it.

use std::collections::BTreeMap;
use std::io::Read;
use std::time::Duration;

use reprise_sdk::http::{self, Body, Method};
use reprise_sdk::{ActivityContext, Context, EntityContext, EntityId, Failure, RetryPolicy};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The size of the chunks `download` reads.
const CHUNK: usize = 64 * 1024;

/// The input of `fetch`.
#[derive(Deserialize)]
struct Fetch {
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    redirects: Option<u32>,
}

fn get() -> String {
    "GET".to_owned()
}

/// What `fetch` returns.
#[derive(Serialize)]
struct Fetched {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

fn fetch(_ctx: &ActivityContext, fetch: Fetch) -> Result<Fetched, Failure> {
    let method = Method::from_bytes(fetch.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| Failure::new(Failure::INVALID_INPUT, format!("'{}' is not an HTTP method", fetch.method)))?;
    let mut request = http::request(method, &fetch.url);
    for (name, value) in &fetch.headers {
        request = request.header(name, value);
    }
    if let Some(body) = fetch.body {
        request = request.body(body);
    }
    if let Some(redirects) = fetch.redirects {
        request = request.max_redirects(redirects);
    }
    let response = request.send()?;
    let mut headers = BTreeMap::<String, String>::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|joined| *joined += &format!(", {value}"))
            .or_insert_with(|| value.into_owned());
    }
    let status = response.status().as_u16();
    Ok(Fetched { status, headers, body: response.text()? })
}

/// The input of `download`.
#[derive(Deserialize)]
struct Download {
    url: String,
}

/// What `download` returns.
#[derive(Serialize)]
struct Downloaded {
    status: u16,
    bytes: u64,
    checksum: u64,
}

fn download(_ctx: &ActivityContext, download: Download) -> Result<Downloaded, Failure> {
    let response = http::get(&download.url)?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut chunk = vec![0; CHUNK];
    let (mut bytes, mut checksum) = (0u64, 0u64);
    loop {
        let read = body.read(&mut chunk).map_err(http::Error::from)?;
        if read == 0 {
            break;
        }
        bytes += read as u64;
        checksum = chunk[..read].iter().fold(checksum, |sum, &byte| sum.wrapping_add(u64::from(byte)));
    }
    Ok(Downloaded { status, bytes, checksum })
}

/// The input of `upload`.
#[derive(Deserialize)]
struct Upload {
    url: String,
    bytes: u64,
    #[serde(default)]
    chunked: bool,
}

/// What `upload` returns.
#[derive(Serialize)]
struct Uploaded {
    status: u16,
    body: String,
}

/// A body of `end` bytes, byte `i` being `i % 251`, made as it is read.
struct Generated {
    next: u64,
    end: u64,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let count = (self.end - self.next).min(buf.len() as u64) as usize;
        for (offset, byte) in buf[..count].iter_mut().enumerate() {
            *byte = ((self.next + offset as u64) % 251) as u8;
        }
        self.next += count as u64;
        Ok(count)
    }
}

fn upload(_ctx: &ActivityContext, upload: Upload) -> Result<Uploaded, Failure> {
    let generated = Generated { next: 0, end: upload.bytes };
    let body = match upload.chunked {
        true => Body::from_reader(generated),
        false => Body::from_reader_with_length(generated, upload.bytes),
    };
    let response = http::post(&upload.url).header("content-type", "application/octet-stream").body(body).send()?;
    let status = response.status().as_u16();
    Ok(Uploaded { status, body: response.text()? })
}

/// The input of `call`.
#[derive(Deserialize)]
struct Call {
    activity: String,
    #[serde(default)]
    input: Value,
    retry: Option<Retry>,
}

/// A retry policy, in the fields of the WIT record `retry-policy`.
#[derive(Deserialize)]
struct Retry {
    max_attempts: u32,
    #[serde(default)]
    first_retry_interval_ms: u64,
    #[serde(default = "no_backoff")]
    backoff_coefficient: f64,
    max_retry_interval_ms: Option<u64>,
    retry_timeout_ms: Option<u64>,
    #[serde(default)]
    non_retryable_errors: Vec<String>,
}

fn no_backoff() -> f64 {
    1.0
}

impl Retry {
    fn policy(self) -> RetryPolicy {
        let mut policy = RetryPolicy::new(self.max_attempts, Duration::from_millis(self.first_retry_interval_ms))
            .backoff_coefficient(self.backoff_coefficient);
        if let Some(ms) = self.max_retry_interval_ms {
            policy = policy.max_retry_interval(Duration::from_millis(ms));
        }
        if let Some(ms) = self.retry_timeout_ms {
            policy = policy.retry_timeout(Duration::from_millis(ms));
        }
        self.non_retryable_errors.into_iter().fold(policy, RetryPolicy::never_retry)
    }
}

fn call(ctx: &Context, call: Call) -> Result<Value, Failure> {
    match call.retry {
        Some(retry) => ctx.call_activity_with_retry(&call.activity, &call.input, &retry.policy()).wait(),
        None => ctx.call_activity(&call.activity, &call.input).wait(),
    }
}

fn fetch_directly(_ctx: &Context, url: String) -> Result<u16, Failure> {
    Ok(http::get(&url)?.status().as_u16())
}

fn probe_entity(ctx: &Context, url: String) -> Result<u16, Failure> {
    ctx.call_entity(&EntityId::new("prober", "p1"), "fetch", &url).wait()
}

/// An entity with no state of its own: it only tries to send.
#[derive(Default, Serialize, Deserialize)]
struct Prober {}

impl Prober {
    fn fetch(&self, _ctx: &EntityContext, url: String) -> Result<u16, Failure> {
        Ok(http::get(&url)?.status().as_u16())
    }
}

reprise_sdk::export! {
    orchestrators: [call, fetch_directly, probe_entity],
    activities: [fetch, download, upload],
    entities: [Prober as "prober" { fetch }],
}
