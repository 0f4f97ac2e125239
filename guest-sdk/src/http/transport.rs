//! One exchange over `wasi:http/outgoing-handler`: the request built from its parts, its body
//! streamed to the host, the response's head waited for. The only place that calls the
//! `wasi:http` imports to send; it never follows a redirect (the request builder does).

use std::io::{self, Read};
use std::time::Duration;

use ::http::{HeaderMap, Method, StatusCode};
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingResponse, Method as WasiMethod, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use wasip2::io::streams::{OutputStream, StreamError};

use super::body::{Body, BodyKind};
use super::request::Timeouts;
use super::response::{Response, ResponseBody};
use super::url::Url;
use super::{Error, fields};

/// The size of the chunks read from a streamed request body.
const CHUNK: usize = 64 * 1024;

/// Sends one request and waits for the head of its response.
pub(crate) fn send(
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    body: Body,
    timeouts: Timeouts,
) -> Result<Response, Error> {
    let failed = |code: ErrorCode| Error::Request { method: method.clone(), url: url.to_string(), code };
    let entries = fields::entries(headers);
    let headers = Fields::from_list(&entries).map_err(|error| Error::InvalidHeader {
        name: entries.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", "),
        reason: format!("the host refused these headers ({error:?})"),
    })?;
    let request = OutgoingRequest::new(headers);
    // The setters refuse only values that the parsing of the URL and the method already rules
    // out; the host would refuse them in the same words.
    request.set_method(&wasi_method(method)).map_err(|()| failed(ErrorCode::HttpRequestMethodInvalid))?;
    let scheme = if url.is_https() { Scheme::Https } else { Scheme::Http };
    request.set_scheme(Some(&scheme)).map_err(|()| failed(ErrorCode::HttpRequestUriInvalid))?;
    request.set_authority(Some(&url.authority())).map_err(|()| failed(ErrorCode::HttpRequestUriInvalid))?;
    request.set_path_with_query(Some(&url.path_with_query())).map_err(|()| failed(ErrorCode::HttpRequestUriInvalid))?;
    // A request whose body is never taken is sent without one (not even an empty chunked one).
    let outgoing = match body.is_empty() {
        true => None,
        false => Some(request.body().map_err(|()| Error::InvalidHeader {
            name: "content-length".to_owned(),
            reason: "it is not a length in decimal digits".to_owned(),
        })?),
    };
    let options = options(timeouts).map_err(failed)?;
    let future = outgoing_handler::handle(request, options).map_err(failed)?;
    if let Some(outgoing) = outgoing {
        match write_body(outgoing, body) {
            Ok(()) => {}
            // Dropping the unfinished body aborts the request.
            Err(Write::Reader(error)) => return Err(Error::Body(error)),
            Err(Write::Finish(code)) => return Err(failed(code)),
            // The host stopped taking the body: the request was refused, failed, or answered
            // early (a server may reply 413 before reading it all); its outcome says which.
            Err(Write::Stream) => {}
        }
    }
    let response = wait(&future).map_err(failed)?;
    response_of(method, url, response).map_err(failed)
}

/// `wasi:http`'s name for `method`.
fn wasi_method(method: &Method) -> WasiMethod {
    match *method {
        Method::GET => WasiMethod::Get,
        Method::HEAD => WasiMethod::Head,
        Method::POST => WasiMethod::Post,
        Method::PUT => WasiMethod::Put,
        Method::DELETE => WasiMethod::Delete,
        Method::CONNECT => WasiMethod::Connect,
        Method::OPTIONS => WasiMethod::Options,
        Method::TRACE => WasiMethod::Trace,
        Method::PATCH => WasiMethod::Patch,
        ref other => WasiMethod::Other(other.as_str().to_owned()),
    }
}

/// The request options for `timeouts`, or none when the request asks for none.
fn options(timeouts: Timeouts) -> Result<Option<RequestOptions>, ErrorCode> {
    if timeouts == Timeouts::default() {
        return Ok(None);
    }
    let nanos = |timeout: Option<Duration>| timeout.map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
    let options = RequestOptions::new();
    // A host that cannot honour a timeout says so here rather than ignoring it.
    let unsupported = |()| ErrorCode::ConfigurationError;
    if timeouts.connect.is_some() {
        options.set_connect_timeout(nanos(timeouts.connect)).map_err(unsupported)?;
    }
    if timeouts.first_byte.is_some() {
        options.set_first_byte_timeout(nanos(timeouts.first_byte)).map_err(unsupported)?;
    }
    if timeouts.between_bytes.is_some() {
        options.set_between_bytes_timeout(nanos(timeouts.between_bytes)).map_err(unsupported)?;
    }
    Ok(Some(options))
}

/// How writing a request body stopped short.
enum Write {
    /// The body's reader failed.
    Reader(io::Error),
    /// The host's end of the stream closed or failed.
    Stream,
    /// The host refused the finished body (most often: not the length its `content-length` said).
    Finish(ErrorCode),
}

/// Streams `body` into `outgoing`, then finishes it.
fn write_body(outgoing: OutgoingBody, body: Body) -> Result<(), Write> {
    let stream = outgoing.write().map_err(|()| Write::Stream)?;
    match body.kind {
        BodyKind::Empty => {}
        BodyKind::Bytes(bytes) => write_all(&stream, &bytes)?,
        BodyKind::Reader { mut reader, .. } => {
            let mut chunk = vec![0; CHUNK];
            loop {
                let read = match reader.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    Err(error) => return Err(Write::Reader(error)),
                };
                write_all(&stream, &chunk[..read])?;
            }
        }
    }
    stream.blocking_flush().map_err(|_| Write::Stream)?;
    // A body's stream is its child: it goes first.
    drop(stream);
    OutgoingBody::finish(outgoing, None).map_err(Write::Finish)
}

/// Writes all of `bytes`, as fast as the host takes them.
fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), Write> {
    while !bytes.is_empty() {
        let permitted = stream.check_write().map_err(|_: StreamError| Write::Stream)?;
        if permitted == 0 {
            stream.subscribe().block();
            continue;
        }
        let count = bytes.len().min(usize::try_from(permitted).unwrap_or(usize::MAX));
        stream.write(&bytes[..count]).map_err(|_| Write::Stream)?;
        bytes = &bytes[count..];
    }
    Ok(())
}

/// Blocks until the response's head arrives, or the exchange fails.
fn wait(future: &FutureIncomingResponse) -> Result<IncomingResponse, ErrorCode> {
    loop {
        match future.get() {
            Some(Ok(outcome)) => return outcome,
            // `get` answers this only after the response was taken, which happens once, here.
            Some(Err(())) => return Err(ErrorCode::InternalError(Some("the response was taken twice".to_owned()))),
            None => future.subscribe().block(),
        }
    }
}

/// The response of a request of `method` to `url`, its body left to be read.
fn response_of(method: &Method, url: &Url, response: IncomingResponse) -> Result<Response, ErrorCode> {
    let status = StatusCode::from_u16(response.status()).map_err(|_| ErrorCode::HttpProtocolError)?;
    let headers = fields::header_map(response.headers().entries());
    // `consume` and `stream` fail only when called a second time.
    let taken = || ErrorCode::InternalError(Some("the response body was taken twice".to_owned()));
    let body = response.consume().map_err(|()| taken())?;
    let stream = body.stream().map_err(|()| taken())?;
    let body = ResponseBody::new(stream, body, response, method.clone(), url.to_string());
    Ok(Response::new(status, headers, url.to_string(), body))
}
