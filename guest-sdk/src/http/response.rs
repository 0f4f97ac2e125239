//! Responses: their head at once, their body read whole or streamed.

use std::fmt;
use std::io::{self, Read};

use ::http::{HeaderMap, Method, StatusCode, header};
use serde::de::DeserializeOwned;
use wasip2::http::types::{IncomingBody, IncomingResponse, http_error_code};
use wasip2::io::streams::{InputStream, StreamError};

use super::Error;

/// The most a body read whole reserves in advance from its `content-length`: a larger one grows
/// as it arrives, so that a wrong header cannot make the guest allocate at once what never comes.
const MAX_RESERVED: u64 = 1 << 20;

/// A response whose head (status, headers) has arrived; its body is read with
/// [`bytes`](Self::bytes), [`text`](Self::text), [`json`](Self::json), or streamed with
/// [`into_body`](Self::into_body).
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    url: String,
    body: ResponseBody,
}

impl Response {
    pub(crate) fn new(status: StatusCode, headers: HeaderMap, url: String, body: ResponseBody) -> Self {
        Self { status, headers, url, body }
    }

    /// The status code. Any status is a response, not an error: check it.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers, with lower-case names.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The URL that answered: the request's, or the last one it was redirected to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The whole body.
    ///
    /// # Errors
    ///
    /// [`Error::Request`] if the exchange failed while the body arrived (the host's
    /// between-bytes timeout, a connection closed early...).
    pub fn bytes(self) -> Result<Vec<u8>, Error> {
        let reserve = self
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|length| length.to_str().ok()?.parse::<u64>().ok())
            .map_or(0, |length| length.min(MAX_RESERVED) as usize);
        let mut bytes = Vec::with_capacity(reserve);
        self.into_body().read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// The whole body as text: UTF-8, with any invalid sequence replaced by U+FFFD.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes).
    pub fn text(self) -> Result<String, Error> {
        let bytes = self.bytes()?;
        Ok(String::from_utf8(bytes).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
    }

    /// The whole body, deserialized from JSON.
    ///
    /// # Errors
    ///
    /// As [`bytes`](Self::bytes), and [`Error::Json`] if the body is not JSON of type `T`.
    pub fn json<T: DeserializeOwned>(self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.bytes()?)?)
    }

    /// The body as a reader, for a body too large to hold: each `read` takes what has arrived,
    /// up to the buffer's size.
    ///
    /// ```no_run
    /// use std::io::Read;
    /// use reprise_sdk::http;
    /// # fn f() -> Result<u64, http::Error> {
    /// let mut body = http::get("https://downloads.example.com/big.iso")?.into_body();
    /// let (mut chunk, mut total) = (vec![0; 64 * 1024], 0u64);
    /// loop {
    ///     let read = body.read(&mut chunk)?;
    ///     if read == 0 {
    ///         break;
    ///     }
    ///     total += read as u64;
    /// }
    /// # Ok(total) }
    /// ```
    pub fn into_body(self) -> ResponseBody {
        self.body
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// The body of a [`Response`], read as it arrives from the host.
///
/// Its I/O errors convert into [`Error`] (`http::Error::from(io_error)`), which gives back the
/// [`Error::Request`] that the exchange failed with, and so does `?` in a function returning
/// `Result<_, http::Error>`.
pub struct ResponseBody {
    // Fields drop in this order, as `wasi:http` needs: a stream before the body it reads, the
    // body before its response.
    /// `None` once the body has ended.
    stream: Option<InputStream>,
    _body: IncomingBody,
    _response: IncomingResponse,
    method: Method,
    url: String,
}

impl ResponseBody {
    pub(crate) fn new(
        stream: InputStream,
        body: IncomingBody,
        response: IncomingResponse,
        method: Method,
        url: String,
    ) -> Self {
        Self { stream: Some(stream), _body: body, _response: response, method, url }
    }
}

impl Read for ResponseBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let Some(stream) = &self.stream else { return Ok(0) };
        loop {
            match stream.blocking_read(buf.len() as u64) {
                // An empty read is not the end (the end is `Closed`): wait for more.
                Ok(chunk) if chunk.is_empty() => continue,
                Ok(chunk) if chunk.len() > buf.len() => {
                    return Err(io::Error::other("the host returned more bytes than were asked for"));
                }
                Ok(chunk) => {
                    buf[..chunk.len()].copy_from_slice(&chunk);
                    return Ok(chunk.len());
                }
                Err(StreamError::Closed) => {
                    self.stream = None;
                    return Ok(0);
                }
                Err(StreamError::LastOperationFailed(error)) => {
                    return Err(match http_error_code(&error) {
                        Some(code) => io::Error::other(Error::Request {
                            method: self.method.clone(),
                            url: self.url.clone(),
                            code,
                        }),
                        None => io::Error::other(error.to_debug_string()),
                    });
                }
            }
        }
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("url", &self.url)
            .field("ended", &self.stream.is_none())
            .finish_non_exhaustive()
    }
}
