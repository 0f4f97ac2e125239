//! Sending one request: wasmtime-wasi-http's own client (`default_send_request`), with one
//! difference: its TLS trusts the web's root certificates only, while a deployment may trust
//! its own certificate authorities too (an internal service, a test server). The client takes
//! no connector, so this is its code path with the TLS configuration as a parameter: TCP
//! connect, TLS, an HTTP/1.1 handshake with hyper, the request's head and body, and the
//! response's body read under the between-bytes timeout, driving the connection meanwhile.
//!
//! It owns the transport of one request; it never decides whether a request may be sent.

use bytes::Bytes;
use http::uri::Scheme;
use http::{Request, Response};
use http_body::Body;
use rustls::pki_types::{CertificateDer, ServerName};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions};

/// The certificate authorities a deployment trusts besides the web's, and the TLS settings
/// made of them.
#[derive(Clone)]
pub struct TlsTrust {
    /// Where the extra authorities came from, for messages.
    pub sources: Vec<String>,
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for TlsTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTrust").field("sources", &self.sources).finish()
    }
}

impl PartialEq for TlsTrust {
    fn eq(&self, other: &Self) -> bool {
        self.sources == other.sources
    }
}

impl Eq for TlsTrust {}

/// The web's root certificates only: what a deployment that names no authority trusts.
static WEB_ROOTS: LazyLock<Arc<rustls::ClientConfig>> = LazyLock::new(|| client_config(Vec::new()));

fn client_config(extra: Vec<CertificateDer<'static>>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    roots.add_parsable_certificates(extra);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

impl TlsTrust {
    /// Trusts the certificates of these PEM files, besides the web's roots.
    pub fn from_pem_files(paths: &[std::path::PathBuf]) -> Result<TlsTrust, String> {
        use rustls::pki_types::pem::PemObject as _;
        let mut extra = Vec::new();
        for path in paths {
            let found: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read the certificates of {}: {e}", path.display()))?
                .collect();
            let found = found.map_err(|e| format!("{} holds a bad PEM certificate: {e}", path.display()))?;
            if found.is_empty() {
                return Err(format!("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display()));
            }
            extra.extend(found);
        }
        Ok(TlsTrust { sources: paths.iter().map(|p| p.display().to_string()).collect(), config: client_config(extra) })
    }
}

/// What [`send`] answers: the response, and the connection's end (which the guest may await).
pub(crate) type Sent = (Response<IncomingBody>, Box<dyn Future<Output = Result<(), Error>> + Send>);

/// Sends `request` with `options`'s timeouts, over TLS trusting `trust` (the web's roots when
/// `None`) for `https`.
pub(crate) async fn send(
    mut request: Request<HostBody>,
    options: RequestOptions,
    trust: Option<&TlsTrust>,
) -> Result<Sent, Error> {
    let uri = request.uri();
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
    let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
    let authority = match authority.port() {
        Some(_) => authority.to_string(),
        None => format!("{authority}:{}", if use_tls { 443 } else { 80 }),
    };
    let connect_timeout = options.connect_timeout.unwrap_or(Duration::from_secs(600));
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(Duration::from_secs(600));
    let between_bytes_timeout =
        options.between_bytes_timeout.unwrap_or(Duration::from_secs(600)).max(Duration::from_nanos(1));

    let tcp = match tokio::time::timeout(connect_timeout, TcpStream::connect(&authority)).await {
        Ok(stream) => stream.map_err(Error::Connect)?,
        Err(_) => return Err(Error::ConnectionTimeout),
    };
    let handshake = hyper::client::conn::http1::Builder::new();
    let (mut sender, connection) = if use_tls {
        let config = trust.map_or_else(|| WEB_ROOTS.clone(), |t| t.config.clone());
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = connector.connect(server_name(&authority)?, tcp).await.map_err(Error::Tls)?;
        let (sender, connection) = tokio::time::timeout(connect_timeout, handshake.handshake(TokioIo::new(tls)))
            .await
            .map_err(|_| Error::ConnectionTimeout)??;
        (sender, Box::pin(connection) as Connection)
    } else {
        let (sender, connection) = tokio::time::timeout(connect_timeout, handshake.handshake(TokioIo::new(tcp)))
            .await
            .map_err(|_| Error::ConnectionTimeout)??;
        (sender, Box::pin(connection) as Connection)
    };

    // The request line carries the path and query only (the authority goes to a proxy alone).
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    *request.uri_mut() = http::Uri::builder().path_and_query(path).build().map_err(|_| Error::HttpRequestUriInvalid)?;

    let response = async move {
        let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(Error::from)?;
        let mut timeout = tokio::time::interval(between_bytes_timeout);
        timeout.reset();
        Ok::<_, Error>(response.map(|incoming| IncomingBody { incoming, timeout }))
    };
    let mut response = pin!(response);
    let mut connection = Some(connection);
    // Wait for the response while driving the connection's I/O.
    let response = poll_fn(|cx| match response.as_mut().poll(cx) {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => {
            let Some(io) = connection.as_mut() else { return Poll::Pending };
            let ended = ready!(io.as_mut().poll(cx));
            connection = None;
            match ended {
                Ok(()) => response.as_mut().poll(cx),
                Err(error) => Poll::Ready(Err(Error::from(error))),
            }
        }
    })
    .await?;
    let rest = async move {
        match connection.take() {
            None => Ok(()),
            Some(io) => io.await.map_err(|e| if e.is_timeout() { Error::HttpResponseTimeout } else { e.into() }),
        }
    };
    Ok((response, Box::new(rest)))
}

/// The name a TLS certificate must hold: the host of `authority` (`host:port`, `[v6]:port`).
fn server_name(authority: &str) -> Result<ServerName<'static>, Error> {
    if let Ok(address) = authority.parse::<std::net::SocketAddr>() {
        return Ok(ServerName::from(address.ip()));
    }
    let host = authority.rsplit_once(':').map_or(authority, |(host, _)| host);
    Ok(ServerName::try_from(host)?.to_owned())
}

/// An HTTP/1.1 connection's I/O, over TLS or not, driven until it ends.
type Connection = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

/// The request body type hyper sends.
type HostBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Error>;

/// A response body that fails if it pauses longer than the between-bytes timeout.
pub(crate) struct IncomingBody {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(error))) => {
                Poll::Ready(Some(Err(if error.is_timeout() { Error::HttpResponseTimeout } else { Error::from(error) })))
            }
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_must_name_the_host_without_its_port() {
        assert_eq!(server_name("api.example.com:443").unwrap(), ServerName::try_from("api.example.com").unwrap());
        assert!(matches!(server_name("127.0.0.1:8443").unwrap(), ServerName::IpAddress(_)));
        assert!(matches!(server_name("[::1]:8443").unwrap(), ServerName::IpAddress(_)));
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = TlsTrust::from_pem_files(&[empty]).unwrap_err();
        assert!(error.contains("holds no PEM certificate"), "{error}");
        let missing = TlsTrust::from_pem_files(&[dir.path().join("gone.pem")]).unwrap_err();
        assert!(missing.contains("cannot read"), "{missing}");
    }
}
