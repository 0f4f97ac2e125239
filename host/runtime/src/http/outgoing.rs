//! An activity attempt's outgoing HTTP (`wasi:http/outgoing-handler`): every request is checked
//! against the activity's grants before anything leaves the machine, given the host's headers
//! (secrets the guest never sees) and timeouts, sent by `send` (HTTP/1.1, TLS against the web's
//! root certificates and the deployment's own authorities), its bodies streamed both ways,
//! counted and charged to the attempt's byte budget, and recorded in the attempt's [`HttpLog`].
//!
//! The host follows no redirect: a guest that follows one sends a new request, which is checked
//! like the first. Orchestrators and entities never get here (see `linkers`).
//!
//! It owns the decision for each request and its record; it never decides what an attempt's
//! failure is (the runner asks the log, see [`HttpLog::failure`]).

use crate::http::access::HttpAccess;
use crate::http::grants::HttpTarget;
use crate::http::send;
use bytes::Bytes;
use http_body_util::BodyExt;
use reprise_core::failure::error_types;
use reprise_core::{Failure, HttpExchange};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The requests of one attempt, in the order they were made.
#[derive(Debug, Default)]
pub struct HttpLog {
    entries: Mutex<Vec<Entry>>,
}

#[derive(Debug)]
struct Entry {
    exchange: HttpExchange,
    /// Why the attempt should fail as it does, if it fails: set for a denial, a limit, a timeout.
    reason: Option<(&'static str, String)>,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
}

impl HttpLog {
    fn push(
        &self,
        exchange: HttpExchange,
        reason: Option<(&'static str, String)>,
    ) -> (usize, Arc<AtomicU64>, Arc<AtomicU64>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (sent, received) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        entries.push(Entry { exchange, reason, sent: sent.clone(), received: received.clone() });
        (entries.len() - 1, sent, received)
    }

    /// Records that the body of request `index` took `activity`'s attempt over its budget.
    fn over_budget(&self, index: usize, activity: &str, limit: u64) {
        let message = format!(
            "activity '{activity}' went over its limit of {limit} bytes of HTTP bodies per attempt (sent and received)"
        );
        self.update(index, |entry| {
            entry.reason = Some((error_types::HTTP_LIMIT_EXCEEDED, message));
            entry.exchange.error = Some(format!("over the limit of {limit} body bytes per attempt"));
        });
    }

    fn update(&self, index: usize, update: impl FnOnce(&mut Entry)) {
        if let Some(entry) = self.entries.lock().unwrap_or_else(|e| e.into_inner()).get_mut(index) {
            update(entry);
        }
    }

    /// The exchanges so far, with the bytes counted until now.
    pub fn exchanges(&self) -> Vec<HttpExchange> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .map(|entry| HttpExchange {
                bytes_sent: entry.sent.load(Ordering::Relaxed),
                bytes_received: entry.received.load(Ordering::Relaxed),
                ..entry.exchange.clone()
            })
            .collect()
    }

    /// The failure an attempt that failed with `failure` reports: if one of its requests was
    /// denied, broke a limit or timed out, that (the first of them), with the activity's own
    /// failure as its cause; otherwise the activity's own. An attempt that succeeds despite a
    /// refused request (it had a fallback) keeps its success.
    pub fn failure(&self, failure: Failure) -> Failure {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.iter().find_map(|entry| entry.reason.clone()) {
            Some((error_type, message)) if !failure.is(error_type) => Failure::wrapping(error_type, message, failure),
            _ => failure,
        }
    }
}

/// The `wasi:http` hooks of one activity attempt.
pub(crate) struct ActivityHttp {
    activity: String,
    access: Arc<HttpAccess>,
    log: Arc<HttpLog>,
    requests: u32,
    budget: Budget,
    /// Sent as `traceparent` on requests without one, so that the callee's spans are children
    /// of the attempt's.
    traceparent: Option<http::HeaderValue>,
}

impl ActivityHttp {
    /// The hooks of an attempt of `activity` with `access`, recording into `log`.
    pub(crate) fn new(activity: &str, access: Arc<HttpAccess>, log: Arc<HttpLog>) -> Self {
        let budget = Budget { limit: access.max_body_bytes, used: Arc::new(AtomicU64::new(0)) };
        ActivityHttp { activity: activity.to_string(), access, log, requests: 0, budget, traceparent: None }
    }

    /// The attempt's trace context, for its requests.
    pub(crate) fn with_traceparent(mut self, traceparent: Option<&str>) -> Self {
        self.traceparent = traceparent.and_then(|value| http::HeaderValue::from_str(value).ok());
        self
    }

    /// Records a request that is not sent, and answers the guest `code`.
    fn refuse(&self, target: &HttpTarget, reason: (&'static str, String), code: Error) -> SendFuture {
        tracing::warn!(activity = %self.activity, "{}", reason.1);
        let exchange = HttpExchange {
            method: target.method.clone(),
            url: target.url(),
            status: None,
            error: Some(HttpExchange::DENIED.into()),
            duration_ms: 0,
            bytes_sent: 0,
            bytes_received: 0,
        };
        self.log.push(exchange, Some(reason));
        Box::new(async move { Err(code) })
    }
}

type SendFuture = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>>
        + Send,
>;

/// Whether a transport error is a timeout, as an attempt's failure names it.
fn is_timeout(error: &Error) -> bool {
    matches!(
        error,
        Error::ConnectionTimeout
            | Error::ConnectionReadTimeout
            | Error::ConnectionWriteTimeout
            | Error::HttpResponseTimeout
    )
}

impl WasiHttpHooks for ActivityHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let target = match HttpTarget::of(request.method().as_str(), request.uri()) {
            Ok(target) => target,
            Err(_) => return Box::new(async { Err(Error::HttpRequestUriInvalid) }),
        };
        let grant = match self.access.grants.check(&self.activity, &target) {
            Ok(grant) => grant.clone(),
            Err(denial) => return self.refuse(&target, (error_types::HTTP_DENIED, denial), Error::HttpRequestDenied),
        };
        if let Some(max) = self.access.max_requests
            && self.requests >= max
        {
            let message = format!(
                "the request {target} of activity '{}' is over its limit of {max} HTTP requests per attempt",
                self.activity
            );
            return self.refuse(&target, (error_types::HTTP_LIMIT_EXCEEDED, message), Error::HttpRequestDenied);
        }
        self.requests += 1;

        let (mut parts, body) = request.into_parts();
        for (name, value) in self.access.headers_for(&grant) {
            parts.headers.insert(name, value);
        }
        // A guest that propagates its own trace context keeps it.
        if let Some(traceparent) = &self.traceparent
            && !parts.headers.contains_key("traceparent")
        {
            parts.headers.insert("traceparent", traceparent.clone());
        }
        let options = self.access.options(options);
        let exchange = HttpExchange {
            method: target.method.clone(),
            url: target.url(),
            status: None,
            error: None,
            duration_ms: 0,
            bytes_sent: 0,
            bytes_received: 0,
        };
        let (index, sent, received) = self.log.push(exchange, None);
        let counted = |counter, request| Counted {
            counter,
            budget: self.budget.clone(),
            log: self.log.clone(),
            index,
            activity: self.activity.clone(),
            request,
        };
        let body = counted(sent, true).wrap(body).boxed_unsync();
        let response_body = counted(received, false);
        let request = http::Request::from_parts(parts, body);
        let (log, activity, started) = (self.log.clone(), self.activity.clone(), Instant::now());
        let trust = self.access.trust.clone();
        Box::new(async move {
            let sent = send::send(request, options, trust.as_ref()).await;
            let duration_ms = started.elapsed().as_millis() as u64;
            match sent {
                Ok((response, io)) => {
                    let status = response.status().as_u16();
                    log.update(index, |entry| {
                        entry.exchange.status = Some(status);
                        entry.exchange.duration_ms = duration_ms;
                    });
                    tracing::info!(activity = %activity, "HTTP {} {} -> {status} in {duration_ms} ms", target.method, target.url());
                    let body_log = log.clone();
                    let response = response.map(move |body| {
                        response_body
                            .wrap(body)
                            .map_err(move |error: Error| {
                                let timeout = is_timeout(&error);
                                let words = error.to_string();
                                body_log.update(index, |entry| {
                                    if timeout {
                                        entry.reason = Some((
                                            error_types::HTTP_TIMEOUT,
                                            format!("the body of {target} stopped: {words}"),
                                        ));
                                    }
                                    entry.exchange.error.get_or_insert(words);
                                });
                                error
                            })
                            .boxed_unsync()
                    });
                    Ok((response, io))
                }
                Err(error) => {
                    let words = error.to_string();
                    tracing::info!(activity = %activity, "HTTP {} {} failed in {duration_ms} ms: {words}", target.method, target.url());
                    let timeout = is_timeout(&error);
                    log.update(index, |entry| {
                        entry.exchange.duration_ms = duration_ms;
                        if timeout {
                            entry.reason =
                                Some((error_types::HTTP_TIMEOUT, format!("the request {target} timed out: {words}")));
                        }
                        entry.exchange.error = Some(words);
                    });
                    Err(error)
                }
            }
        })
    }
}

/// The body bytes an attempt may still send and receive, shared by all its requests.
#[derive(Debug, Clone)]
struct Budget {
    limit: Option<u64>,
    used: Arc<AtomicU64>,
}

impl Budget {
    /// Counts `bytes`; false if that takes the attempt over its limit.
    fn spend(&self, bytes: u64) -> bool {
        let used = self.used.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.limit.is_none_or(|limit| used <= limit)
    }
}

/// Where one body's bytes are counted (for the log) and charged (to the attempt's budget).
struct Counted {
    counter: Arc<AtomicU64>,
    budget: Budget,
    log: Arc<HttpLog>,
    /// The request's entry in the log.
    index: usize,
    activity: String,
    /// Whether this is the request's body (the error the guest sees differs).
    request: bool,
}

impl Counted {
    /// `inner`, counted and charged frame by frame as it streams: nothing is buffered here.
    fn wrap<B>(self, inner: B) -> CountedBody<B> {
        CountedBody { inner, counted: self }
    }
}

/// A body under [`Counted`].
struct CountedBody<B> {
    inner: B,
    counted: Counted,
}

impl<B> http_body::Body for CountedBody<B>
where
    B: http_body::Body<Data = Bytes, Error = Error> + Unpin,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let bytes = data.len() as u64;
            let counted = &self.counted;
            counted.counter.fetch_add(bytes, Ordering::Relaxed);
            if !counted.budget.spend(bytes) {
                let limit = counted.budget.limit.unwrap_or_default();
                counted.log.over_budget(counted.index, &counted.activity, limit);
                let error = if counted.request {
                    Error::HttpRequestBodySize(Some(limit))
                } else {
                    Error::HttpResponseBodySize(Some(limit))
                };
                return std::task::Poll::Ready(Some(Err(error)));
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The hooks of guests that may not send requests. Never reached: their linkers trap the
/// `outgoing-handler` before a request is built into one.
pub(crate) struct NoHttp;

impl WasiHttpHooks for NoHttp {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}
