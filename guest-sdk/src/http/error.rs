//! What can go wrong with a request, in words a failure message can carry, and its conversion
//! into a [`Failure`] so that `?` works in an activity.

use std::fmt;
use std::io;

use ::http::Method;
use wasip2::http::types::{ErrorCode, FieldSizePayload};

use crate::Failure;

/// Why a request, or the reading of its response, failed.
///
/// Every variant converts into a [`Failure`] of type [`Failure::HTTP_ERROR`], so that `?` on a
/// `Result<_, http::Error>` works in an activity that returns `Result<_, Failure>`. A response
/// with an error status (404, 503...) is not an error: check
/// [`Response::status`](super::Response::status).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not an absolute `http` or `https` URL, or a redirect's `Location` does not
    /// resolve to one.
    InvalidUrl {
        /// The URL, or the `Location`, as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header that HTTP does not allow, or that the host sets itself.
    InvalidHeader {
        /// The header's name, as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host refused the request, or the exchange with the server failed: `code` says how
    /// (a request outside the activity's grants is [`ErrorCode::HttpRequestDenied`]).
    Request {
        /// The request's method.
        method: Method,
        /// The request's URL.
        url: String,
        /// The `wasi:http` error code.
        code: ErrorCode,
    },
    /// Reading or writing a body failed otherwise: the reader of a request body returned an
    /// error, or a stream broke without an HTTP error code.
    Body(io::Error),
    /// A redirect asked for more hops than the request allows
    /// ([`Request::max_redirects`](super::Request::max_redirects)).
    TooManyRedirects {
        /// The request's method.
        method: Method,
        /// The URL whose response redirected once more.
        url: String,
        /// The hops the request allowed.
        max: u32,
    },
    /// A request body did not serialize to JSON, or a response body did not deserialize from it.
    Json(serde_json::Error),
}

impl Error {
    /// The `wasi:http` error code, for [`Error::Request`].
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Request { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the host refused the request because no grant of the activity allows it.
    pub fn is_denied(&self) -> bool {
        matches!(self.code(), Some(ErrorCode::HttpRequestDenied))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl { url, reason } => write!(f, "invalid URL '{url}': {reason}"),
            Error::InvalidHeader { name, reason } => write!(f, "invalid header '{name}': {reason}"),
            Error::Request { method, url, code } => write!(f, "{method} {url}: {}", describe(code)),
            Error::Body(error) => write!(f, "body I/O failed: {error}"),
            Error::TooManyRedirects { method, url, max } => {
                write!(f, "{method} {url}: redirected again after {max} redirects")
            }
            Error::Json(error) => write!(f, "the body is not the JSON expected: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Body(error) => Some(error),
            Error::Json(error) => Some(error),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    /// The error inside an I/O error of a [`ResponseBody`](super::ResponseBody) (which carries
    /// the request and its `wasi:http` code), or [`Error::Body`] for any other.
    fn from(error: io::Error) -> Self {
        error.downcast::<Error>().unwrap_or_else(Error::Body)
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Error::Json(error)
    }
}

impl From<Error> for Failure {
    /// A failure of type [`Failure::HTTP_ERROR`] whose message is the error's `Display`.
    fn from(error: Error) -> Self {
        Failure { error_type: Failure::HTTP_ERROR.to_owned(), ..Failure::from_error(&error) }
    }
}

/// What `code` means, then its name: `the host denied the request (HttpRequestDenied)`.
pub(crate) fn describe(code: &ErrorCode) -> String {
    let name = name(code);
    let words = match code {
        ErrorCode::DnsTimeout => "the DNS lookup timed out".to_owned(),
        ErrorCode::DnsError(payload) => {
            let mut words = "the DNS lookup failed".to_owned();
            if let Some(rcode) = &payload.rcode {
                words += &format!(" ({rcode})");
            }
            words
        }
        ErrorCode::DestinationNotFound => "the destination was not found".to_owned(),
        ErrorCode::DestinationUnavailable => "the destination is unavailable".to_owned(),
        ErrorCode::DestinationIpProhibited => "the destination's IP address is prohibited".to_owned(),
        ErrorCode::DestinationIpUnroutable => "the destination's IP address is unroutable".to_owned(),
        ErrorCode::ConnectionRefused => "the server refused the connection".to_owned(),
        ErrorCode::ConnectionTerminated => "the connection was closed".to_owned(),
        ErrorCode::ConnectionTimeout => "connecting timed out".to_owned(),
        ErrorCode::ConnectionReadTimeout => "reading from the connection timed out".to_owned(),
        ErrorCode::ConnectionWriteTimeout => "writing to the connection timed out".to_owned(),
        ErrorCode::ConnectionLimitReached => "too many connections are open".to_owned(),
        ErrorCode::TlsProtocolError => "the TLS handshake failed".to_owned(),
        ErrorCode::TlsCertificateError => "the server's TLS certificate was refused".to_owned(),
        ErrorCode::TlsAlertReceived(payload) => match &payload.alert_message {
            Some(message) => format!("the server sent a TLS alert: {message}"),
            None => "the server sent a TLS alert".to_owned(),
        },
        ErrorCode::HttpRequestDenied => "the host denied the request".to_owned(),
        ErrorCode::HttpRequestLengthRequired => "the server requires a content-length".to_owned(),
        ErrorCode::HttpRequestBodySize(size) => {
            with_detail("the request body's size does not match its content-length", size.map(|s| s.to_string()))
        }
        ErrorCode::HttpRequestMethodInvalid => "the method is invalid".to_owned(),
        ErrorCode::HttpRequestUriInvalid => "the URL is invalid".to_owned(),
        ErrorCode::HttpRequestUriTooLong => "the URL is too long".to_owned(),
        ErrorCode::HttpRequestHeaderSectionSize(size) => {
            with_detail("the request's headers are too large", size.map(|s| s.to_string()))
        }
        ErrorCode::HttpRequestHeaderSize(field) => field_too_large("a request header is too large", field.as_ref()),
        ErrorCode::HttpRequestTrailerSectionSize(size) => {
            with_detail("the request's trailers are too large", size.map(|s| s.to_string()))
        }
        ErrorCode::HttpRequestTrailerSize(field) => field_too_large("a request trailer is too large", Some(field)),
        ErrorCode::HttpResponseIncomplete => "the response ended early".to_owned(),
        ErrorCode::HttpResponseHeaderSectionSize(size) => {
            with_detail("the response's headers are too large", size.map(|s| s.to_string()))
        }
        ErrorCode::HttpResponseHeaderSize(field) => field_too_large("a response header is too large", Some(field)),
        ErrorCode::HttpResponseBodySize(size) => {
            with_detail("the response body's size does not match its content-length", size.map(|s| s.to_string()))
        }
        ErrorCode::HttpResponseTrailerSectionSize(size) => {
            with_detail("the response's trailers are too large", size.map(|s| s.to_string()))
        }
        ErrorCode::HttpResponseTrailerSize(field) => field_too_large("a response trailer is too large", Some(field)),
        ErrorCode::HttpResponseTransferCoding(coding) => {
            with_detail("the response's transfer-coding is not supported", coding.clone())
        }
        ErrorCode::HttpResponseContentCoding(coding) => {
            with_detail("the response's content-coding is not supported", coding.clone())
        }
        ErrorCode::HttpResponseTimeout => "the response timed out".to_owned(),
        ErrorCode::HttpUpgradeFailed => "the protocol upgrade failed".to_owned(),
        ErrorCode::HttpProtocolError => "the server broke the HTTP protocol".to_owned(),
        ErrorCode::LoopDetected => "the request loops".to_owned(),
        ErrorCode::ConfigurationError => "the host's HTTP configuration refused the request".to_owned(),
        ErrorCode::InternalError(message) => with_detail("the host failed", message.clone()),
    };
    format!("{words} ({name})")
}

/// `words: detail`, or `words` without a detail.
fn with_detail(words: &str, detail: Option<String>) -> String {
    match detail {
        Some(detail) => format!("{words}: {detail}"),
        None => words.to_owned(),
    }
}

/// `words` naming the field and its size, where the host gave them.
fn field_too_large(words: &str, field: Option<&FieldSizePayload>) -> String {
    let Some(field) = field else { return words.to_owned() };
    match (&field.field_name, field.field_size) {
        (Some(name), Some(size)) => format!("{words}: '{name}', {size} bytes"),
        (Some(name), None) => format!("{words}: '{name}'"),
        (None, Some(size)) => format!("{words}: {size} bytes"),
        (None, None) => words.to_owned(),
    }
}

/// The name of the variant of `code`, as in the WIT (in Rust's case).
pub(crate) fn name(code: &ErrorCode) -> &'static str {
    match code {
        ErrorCode::DnsTimeout => "DnsTimeout",
        ErrorCode::DnsError(_) => "DnsError",
        ErrorCode::DestinationNotFound => "DestinationNotFound",
        ErrorCode::DestinationUnavailable => "DestinationUnavailable",
        ErrorCode::DestinationIpProhibited => "DestinationIpProhibited",
        ErrorCode::DestinationIpUnroutable => "DestinationIpUnroutable",
        ErrorCode::ConnectionRefused => "ConnectionRefused",
        ErrorCode::ConnectionTerminated => "ConnectionTerminated",
        ErrorCode::ConnectionTimeout => "ConnectionTimeout",
        ErrorCode::ConnectionReadTimeout => "ConnectionReadTimeout",
        ErrorCode::ConnectionWriteTimeout => "ConnectionWriteTimeout",
        ErrorCode::ConnectionLimitReached => "ConnectionLimitReached",
        ErrorCode::TlsProtocolError => "TlsProtocolError",
        ErrorCode::TlsCertificateError => "TlsCertificateError",
        ErrorCode::TlsAlertReceived(_) => "TlsAlertReceived",
        ErrorCode::HttpRequestDenied => "HttpRequestDenied",
        ErrorCode::HttpRequestLengthRequired => "HttpRequestLengthRequired",
        ErrorCode::HttpRequestBodySize(_) => "HttpRequestBodySize",
        ErrorCode::HttpRequestMethodInvalid => "HttpRequestMethodInvalid",
        ErrorCode::HttpRequestUriInvalid => "HttpRequestUriInvalid",
        ErrorCode::HttpRequestUriTooLong => "HttpRequestUriTooLong",
        ErrorCode::HttpRequestHeaderSectionSize(_) => "HttpRequestHeaderSectionSize",
        ErrorCode::HttpRequestHeaderSize(_) => "HttpRequestHeaderSize",
        ErrorCode::HttpRequestTrailerSectionSize(_) => "HttpRequestTrailerSectionSize",
        ErrorCode::HttpRequestTrailerSize(_) => "HttpRequestTrailerSize",
        ErrorCode::HttpResponseIncomplete => "HttpResponseIncomplete",
        ErrorCode::HttpResponseHeaderSectionSize(_) => "HttpResponseHeaderSectionSize",
        ErrorCode::HttpResponseHeaderSize(_) => "HttpResponseHeaderSize",
        ErrorCode::HttpResponseBodySize(_) => "HttpResponseBodySize",
        ErrorCode::HttpResponseTrailerSectionSize(_) => "HttpResponseTrailerSectionSize",
        ErrorCode::HttpResponseTrailerSize(_) => "HttpResponseTrailerSize",
        ErrorCode::HttpResponseTransferCoding(_) => "HttpResponseTransferCoding",
        ErrorCode::HttpResponseContentCoding(_) => "HttpResponseContentCoding",
        ErrorCode::HttpResponseTimeout => "HttpResponseTimeout",
        ErrorCode::HttpUpgradeFailed => "HttpUpgradeFailed",
        ErrorCode::HttpProtocolError => "HttpProtocolError",
        ErrorCode::LoopDetected => "LoopDetected",
        ErrorCode::ConfigurationError => "ConfigurationError",
        ErrorCode::InternalError(_) => "InternalError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> Error {
        Error::Request {
            method: Method::GET,
            url: "https://api.example.com/v1/x".into(),
            code: ErrorCode::HttpRequestDenied,
        }
    }

    #[test]
    fn a_denial_reads_as_one() {
        assert_eq!(
            denied().to_string(),
            "GET https://api.example.com/v1/x: the host denied the request (HttpRequestDenied)"
        );
        assert!(denied().is_denied());
        assert!(!Error::Json(serde_json::from_str::<u8>("x").unwrap_err()).is_denied());
    }

    #[test]
    fn codes_show_their_payloads() {
        assert_eq!(
            describe(&ErrorCode::HttpRequestBodySize(Some(12))),
            "the request body's size does not match its content-length: 12 (HttpRequestBodySize)"
        );
        assert_eq!(describe(&ErrorCode::InternalError(None)), "the host failed (InternalError)");
        let field = FieldSizePayload { field_name: Some("x-big".into()), field_size: Some(9000) };
        assert_eq!(
            describe(&ErrorCode::HttpResponseHeaderSize(field)),
            "a response header is too large: 'x-big', 9000 bytes (HttpResponseHeaderSize)"
        );
        assert_eq!(
            describe(&ErrorCode::HttpRequestHeaderSize(None)),
            "a request header is too large (HttpRequestHeaderSize)"
        );
    }

    #[test]
    fn errors_become_http_error_failures() {
        let failure = Failure::from(denied());
        assert_eq!(failure.error_type, "HttpError");
        assert_eq!(failure.message, denied().to_string());
        assert!(failure.causes.is_empty());

        let body = Failure::from(Error::Body(io::Error::other("the disk is gone")));
        assert_eq!(body.error_type, "HttpError");
        assert_eq!(body.message, "body I/O failed: the disk is gone");
        assert_eq!(body.causes.len(), 1);
        assert_eq!(body.causes[0].message, "the disk is gone");
    }

    #[test]
    fn an_io_error_gives_back_the_error_it_carries() {
        let carried = Error::from(io::Error::other(denied()));
        assert!(carried.is_denied(), "{carried:?}");
        let other = Error::from(io::Error::new(io::ErrorKind::UnexpectedEof, "cut short"));
        assert!(matches!(&other, Error::Body(e) if e.kind() == io::ErrorKind::UnexpectedEof), "{other:?}");
    }
}
