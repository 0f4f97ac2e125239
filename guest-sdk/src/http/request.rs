//! The request builder, and the redirects it follows: every hop is a new request, which the host
//! checks against the activity's grants like the first.

use std::time::Duration;

use ::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ::http::{Method, StatusCode};
use serde::Serialize;

use super::url::Url;
use super::{Body, Error, Response, transport};

/// The redirects a request follows unless [`Request::max_redirects`] says otherwise.
pub const DEFAULT_MAX_REDIRECTS: u32 = 5;

/// The headers a `wasi:http` host sets itself and refuses from a guest (wasmtime's list): a
/// request that sets one fails before it is sent, naming it.
const FORBIDDEN_HEADERS: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
];

/// The headers that describe a body: a redirected request, which has none, drops them.
const BODY_HEADERS: [HeaderName; 5] = [
    header::CONTENT_LENGTH,
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LOCATION,
];

/// The headers that carry credentials: a redirect to another origin (scheme, host, port) drops
/// them, so that a server cannot send a client's secrets elsewhere by redirecting it.
const CREDENTIAL_HEADERS: [HeaderName; 2] = [header::AUTHORIZATION, header::COOKIE];

/// A request being built: made by [`request`](super::request), [`post`](super::post) and the
/// other functions of [`http`](super), sent by [`send`](Request::send).
///
/// Mistakes (a bad URL, a bad header) are kept and reported by `send`, so that the builder's
/// calls chain.
///
/// ```no_run
/// use std::time::Duration;
/// use reprise_sdk::http::{self, Method};
/// # fn f() -> Result<(), http::Error> {
/// let response = http::request(Method::GET, "https://api.example.com/v1/report")
///     .header("accept", "text/csv")
///     .connect_timeout(Duration::from_secs(2))
///     .first_byte_timeout(Duration::from_secs(10))
///     .max_redirects(0)
///     .send()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Request {
    method: Method,
    /// The URL, or the first mistake made while building.
    target: Result<Url, Error>,
    headers: HeaderMap,
    body: Body,
    timeouts: Timeouts,
    max_redirects: u32,
}

/// The timeouts a request asks for; the host keeps its own where they are shorter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) connect: Option<Duration>,
    pub(crate) first_byte: Option<Duration>,
    pub(crate) between_bytes: Option<Duration>,
}

impl Request {
    /// A request of `method` to `url`, without headers or body.
    pub(crate) fn new(method: Method, url: &str) -> Self {
        Self {
            method,
            target: Url::parse(url),
            headers: HeaderMap::new(),
            body: Body::empty(),
            timeouts: Timeouts::default(),
            max_redirects: DEFAULT_MAX_REDIRECTS,
        }
    }

    /// Keeps `error` for [`send`](Self::send), unless an earlier mistake is kept already.
    fn fail(mut self, error: Error) -> Self {
        if self.target.is_ok() {
            self.target = Err(error);
        }
        self
    }

    /// Adds a header (a second one of the same name adds a value, as HTTP allows). A name or a
    /// value that HTTP does not allow, or a header that the host sets itself (`host`,
    /// `connection`, `transfer-encoding`...), fails the request with
    /// [`Error::InvalidHeader`].
    #[must_use]
    pub fn header(self, name: impl AsRef<str>, value: impl AsRef<[u8]>) -> Self {
        match header_pair(name.as_ref(), value.as_ref()) {
            Ok((name, value)) => self.with_header(name, value),
            Err(error) => self.fail(error),
        }
    }

    /// Adds every header of `headers`, as [`header`](Self::header) does one.
    #[must_use]
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        let mut name = None;
        for (next, value) in headers {
            name = next.or(name);
            let Some(name) = name.clone() else { continue };
            self = self.with_header(name, value);
        }
        self
    }

    fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        if let Err(error) = allowed(&name) {
            return self.fail(error);
        }
        self.headers.append(name, value);
        self
    }

    /// Sets the body: bytes, a string, or a [`Body`] streamed from a reader. Set a
    /// `content-type` header for it if the server needs one.
    #[must_use]
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` serialized as JSON, and the `content-type` to
    /// `application/json` unless a header set one.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] if `value` does not serialize.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(value)?;
        if !self.headers.contains_key(header::CONTENT_TYPE) {
            self.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        Ok(self.body(bytes))
    }

    /// At most this long to open the connection. The host keeps its own limit where it is
    /// shorter: a guest can only shorten it.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.connect = Some(timeout);
        self
    }

    /// At most this long from sending the request to receiving the response's head (as for
    /// [`connect_timeout`](Self::connect_timeout), a guest can only shorten the host's).
    #[must_use]
    pub fn first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.first_byte = Some(timeout);
        self
    }

    /// At most this long between two chunks of the response's body (as for
    /// [`connect_timeout`](Self::connect_timeout), a guest can only shorten the host's).
    #[must_use]
    pub fn between_bytes_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.between_bytes = Some(timeout);
        self
    }

    /// How many redirects (301, 302, 303, 307, 308) a `GET` or `HEAD` request follows:
    /// [`DEFAULT_MAX_REDIRECTS`] unless set; 0 returns the redirect itself as the response.
    /// One more than `max` fails with [`Error::TooManyRedirects`]. Other methods never follow
    /// one.
    #[must_use]
    pub fn max_redirects(mut self, max: u32) -> Self {
        self.max_redirects = max;
        self
    }

    /// Sends the request, following redirects, and returns the response once its head has
    /// arrived; its body is read from the [`Response`].
    ///
    /// Every redirect is a new request, which the host checks against the activity's grants
    /// like the first: a redirect to a URL outside them fails with
    /// [`ErrorCode::HttpRequestDenied`](super::ErrorCode::HttpRequestDenied). A redirected
    /// request has no body, and keeps the headers of the first but those that describe a body;
    /// to another origin (scheme, host or port), it drops `authorization` and `cookie` too.
    ///
    /// # Errors
    ///
    /// The first mistake made while building the request; [`Error::Request`] if the host
    /// refused it or the exchange failed; [`Error::Body`] if the reader of a streamed body
    /// failed; [`Error::TooManyRedirects`]; [`Error::InvalidUrl`] for a redirect whose
    /// `Location` is not an `http` or `https` URL.
    ///
    /// In an orchestrator or an entity, the host traps the component instead of sending: they
    /// run without I/O, so that they replay. Make the request in an activity.
    pub fn send(self) -> Result<Response, Error> {
        let Request { method, target, mut headers, body, timeouts, max_redirects } = self;
        let mut url = target?;
        if let Some(length) = body.length()
            && !headers.contains_key(header::CONTENT_LENGTH)
        {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        let had_body = !body.is_empty();
        let mut body = Some(body);
        let mut redirects = 0;
        loop {
            let response = transport::send(&method, &url, &headers, body.take().unwrap_or_default(), timeouts)?;
            let location = match response.headers().get(header::LOCATION) {
                Some(location) if max_redirects > 0 && follows(&method, response.status()) => {
                    String::from_utf8_lossy(location.as_bytes()).into_owned()
                }
                _ => return Ok(response),
            };
            if redirects == max_redirects {
                return Err(Error::TooManyRedirects { method, url: url.to_string(), max: max_redirects });
            }
            redirects += 1;
            let next = url.join(&location)?;
            for_redirect(&mut headers, &url, &next, had_body);
            url = next;
        }
    }
}

/// Whether a response of `status` to a request of `method` is a redirect to follow.
fn follows(method: &Method, status: StatusCode) -> bool {
    let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
    redirect && (method == Method::GET || method == Method::HEAD)
}

/// The headers of the request that follows a redirect from `from` to `to`.
fn for_redirect(headers: &mut HeaderMap, from: &Url, to: &Url, had_body: bool) {
    if had_body {
        for name in &BODY_HEADERS {
            headers.remove(name);
        }
    }
    if !from.same_origin(to) {
        for name in &CREDENTIAL_HEADERS {
            headers.remove(name);
        }
    }
}

/// `name` and `value` as HTTP types, or why HTTP or the host would not take them.
fn header_pair(name: &str, value: &[u8]) -> Result<(HeaderName, HeaderValue), Error> {
    let invalid = |reason: &str| Error::InvalidHeader { name: name.to_owned(), reason: reason.to_owned() };
    let header_name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| invalid("it is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)"))?;
    let header_value =
        HeaderValue::from_bytes(value).map_err(|_| invalid("its value holds a control character or a line break"))?;
    Ok((header_name, header_value))
}

/// Refuses a header that the host sets itself.
fn allowed(name: &HeaderName) -> Result<(), Error> {
    if FORBIDDEN_HEADERS.contains(&name.as_str()) {
        return Err(Error::InvalidHeader {
            name: name.as_str().to_owned(),
            reason: "the host sets it itself and refuses it from a guest".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn kept_error(request: Request) -> Error {
        request.target.expect_err("the request should keep an error")
    }

    #[test]
    fn follows_the_five_redirects_for_get_and_head_only() {
        for status in [301, 302, 303, 307, 308] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(follows(&Method::GET, status), "{status}");
            assert!(follows(&Method::HEAD, status), "{status}");
            assert!(!follows(&Method::POST, status), "{status}");
            assert!(!follows(&Method::PUT, status), "{status}");
            assert!(!follows(&Method::DELETE, status), "{status}");
        }
        for status in [200, 204, 300, 304, 305, 306, 404, 500] {
            assert!(!follows(&Method::GET, StatusCode::from_u16(status).unwrap()), "{status}");
        }
    }

    #[test]
    fn a_redirect_elsewhere_drops_the_credentials() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer secret"));
        headers.insert(header::COOKIE, HeaderValue::from_static("session=1"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));

        let mut same = headers.clone();
        for_redirect(&mut same, &url("https://a.example/x"), &url("https://A.example:443/y"), false);
        assert_eq!(same, headers);

        for other in ["https://b.example/x", "http://a.example/x", "https://a.example:8443/x"] {
            let mut elsewhere = headers.clone();
            for_redirect(&mut elsewhere, &url("https://a.example/x"), &url(other), false);
            assert_eq!(elsewhere.keys().map(HeaderName::as_str).collect::<Vec<_>>(), ["accept"], "{other}");
        }
    }

    #[test]
    fn a_redirect_drops_the_headers_of_a_body_it_does_not_send() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(12u64));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        let (from, to) = (url("http://h/a"), url("http://h/b"));

        let mut without_body = headers.clone();
        for_redirect(&mut without_body, &from, &to, false);
        assert_eq!(without_body, headers, "a request without a body keeps its headers as they are");

        for_redirect(&mut headers, &from, &to, true);
        assert_eq!(headers.keys().map(HeaderName::as_str).collect::<Vec<_>>(), ["accept"]);
    }

    #[test]
    fn headers_accumulate_and_bad_ones_are_kept_for_send() {
        let request = Request::new(Method::GET, "https://h/")
            .header("X-Trace", "1")
            .header(header::ACCEPT, "text/plain")
            .header("x-trace", String::from("2"));
        assert_eq!(request.headers.get_all("x-trace").iter().collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(request.headers[header::ACCEPT], "text/plain");

        let bad_name = kept_error(Request::new(Method::GET, "https://h/").header("bad name", "x"));
        assert!(matches!(&bad_name, Error::InvalidHeader { name, .. } if name == "bad name"), "{bad_name:?}");
        let bad_value = kept_error(Request::new(Method::GET, "https://h/").header("x-a", "line\r\nbreak"));
        assert!(bad_value.to_string().contains("line break"), "{bad_value}");
    }

    #[test]
    fn headers_the_host_sets_are_refused_by_name() {
        for name in ["Host", "connection", "Transfer-Encoding", "upgrade", "proxy-authorization"] {
            let error = kept_error(Request::new(Method::GET, "https://h/").header(name, "x"));
            assert_eq!(
                error.to_string(),
                format!(
                    "invalid header '{}': the host sets it itself and refuses it from a guest",
                    name.to_lowercase()
                )
            );
        }
        let mut map = HeaderMap::new();
        map.insert(header::HOST, HeaderValue::from_static("elsewhere"));
        assert!(matches!(
            kept_error(Request::new(Method::GET, "https://h/").headers(map)),
            Error::InvalidHeader { .. }
        ));
    }

    #[test]
    fn a_header_map_adds_every_value() {
        let mut map = HeaderMap::new();
        map.append("x-a", HeaderValue::from_static("1"));
        map.append("x-a", HeaderValue::from_static("2"));
        map.append("x-b", HeaderValue::from_static("3"));
        let request = Request::new(Method::GET, "https://h/").header("x-a", "0").headers(map);
        assert_eq!(request.headers.get_all("x-a").iter().collect::<Vec<_>>(), ["0", "1", "2"]);
        assert_eq!(request.headers["x-b"], "3");
    }

    #[test]
    fn the_first_mistake_is_the_one_reported() {
        let error = kept_error(Request::new(Method::GET, "not a url").header("bad name", "x"));
        assert!(matches!(error, Error::InvalidUrl { .. }), "{error:?}");
        let error = kept_error(Request::new(Method::GET, "https://h/").header("host", "x").header("bad name", "x"));
        assert!(matches!(&error, Error::InvalidHeader { name, .. } if name == "host"), "{error:?}");
    }

    #[test]
    fn json_sets_the_body_and_a_content_type_unless_one_is_set() {
        let request = Request::new(Method::POST, "https://h/").json(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(request.headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(request.body.length(), Some(7));

        let request = Request::new(Method::POST, "https://h/")
            .header("content-type", "application/merge-patch+json")
            .json(&[1, 2])
            .unwrap();
        assert_eq!(request.headers[header::CONTENT_TYPE], "application/merge-patch+json");
    }

    #[test]
    fn builder_settings_are_kept() {
        let request = Request::new(Method::GET, "https://h/")
            .connect_timeout(Duration::from_millis(10))
            .first_byte_timeout(Duration::from_secs(2))
            .between_bytes_timeout(Duration::from_secs(3))
            .max_redirects(0);
        assert_eq!(
            request.timeouts,
            Timeouts {
                connect: Some(Duration::from_millis(10)),
                first_byte: Some(Duration::from_secs(2)),
                between_bytes: Some(Duration::from_secs(3)),
            }
        );
        assert_eq!(request.max_redirects, 0);
        assert_eq!(Request::new(Method::GET, "https://h/").max_redirects, DEFAULT_MAX_REDIRECTS);
    }
}
