//! The HTTP server the outgoing-HTTP tests talk to: axum on a loopback port, stopped when
//! dropped. It counts what reaches it, so a test can assert that a refused request never did.

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::json;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// What the server saw.
#[derive(Default)]
pub struct Seen {
    /// Requests received, by path.
    pub requests: Mutex<Vec<String>>,
    /// The `authorization` header of each request to `/private` (checked, never echoed).
    pub authorizations: Mutex<Vec<String>>,
    /// Body bytes received by `/upload`.
    pub uploaded: AtomicU64,
}

impl Seen {
    /// How many requests reached `path`.
    pub fn count(&self, path: &str) -> usize {
        self.requests.lock().unwrap().iter().filter(|p| *p == path).count()
    }
}

/// A running server.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The port.
    pub port: u16,
    /// What it saw.
    pub seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The secret `/private` expects as `Authorization: Bearer ...`.
pub const SECRET: &str = "sk_test_4f1c9e0b7a2d";

impl Server {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Server {
        Self::with(Router::new()).await
    }

    /// Starts the server with `extra` routes beside the standard ones.
    pub async fn with(extra: Router<Arc<Seen>>) -> Server {
        let (app, seen) = app(extra);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the test server runs");
        });
        Server { base: format!("http://127.0.0.1:{port}"), port, seen, task }
    }

    /// Starts the server over TLS, with a certificate for 127.0.0.1 that `ca` signed.
    pub async fn start_tls(ca: &TestCa) -> Server {
        let (app, seen) = app(Router::new());
        let (cert, key) = ca.server_certificate();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("a server certificate");
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let port = tcp.local_addr().unwrap().port();
        let listener = TlsListener { tcp, acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)) };
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the test server runs");
        });
        Server { base: format!("https://127.0.0.1:{port}"), port, seen, task }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The test server's routes, with `extra`.
fn app(extra: Router<Arc<Seen>>) -> (Router, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = extra
        .route("/hello", get(hello))
        .route("/echo", any(echo))
        .route("/redirect", get(redirect))
        .route("/big", get(big))
        .route("/upload", post(upload))
        .route("/never", get(never))
        .route("/private", get(private))
        .layer(axum::middleware::from_fn_with_state(seen.clone(), record))
        .with_state(seen.clone());
    (app, seen)
}

/// A certificate authority made for one test.
pub struct TestCa {
    /// Its certificate, PEM-encoded: what a deployment trusts.
    pub pem: String,
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    /// A new authority.
    pub fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "Reprise test CA");
        let issuer = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap();
        TestCa { pem: issuer.pem(), issuer }
    }

    /// A certificate for 127.0.0.1 and localhost that this authority signed, and its key.
    fn server_certificate(
        &self,
    ) -> (rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
        (cert.der().clone(), key.into())
    }
}

/// A listener that completes each connection's TLS handshake before axum serves it; a client
/// that refuses the certificate only ends its own connection.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, address)) = self.tcp.accept().await else { continue };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, address);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

async fn record(
    State(seen): State<Arc<Seen>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    seen.requests.lock().unwrap().push(request.uri().path().to_string());
    next.run(request).await
}

async fn hello() -> impl IntoResponse {
    ([("x-served-by", "reprise-test")], "hello")
}

async fn echo(method: axum::http::Method, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    axum::Json(json!({
        "method": method.as_str(),
        "content_type": content_type,
        "body": String::from_utf8_lossy(&body),
    }))
}

async fn redirect(Query(query): Query<HashMap<String, String>>) -> impl IntoResponse {
    (StatusCode::FOUND, [(header::LOCATION, query.get("to").cloned().unwrap_or_default())])
}

/// `bytes` bytes, generated as they are sent: byte i is `i % 251`.
async fn big(Query(query): Query<HashMap<String, u64>>) -> impl IntoResponse {
    let bytes = query.get("bytes").copied().unwrap_or(0);
    ([(header::CONTENT_LENGTH, bytes.to_string())], Body::new(Generated { sent: 0, total: bytes }))
}

async fn upload(State(seen): State<Arc<Seen>>, body: Body) -> impl IntoResponse {
    let mut body = body;
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("the upload streams").into_data() {
            total += data.len() as u64;
        }
    }
    seen.uploaded.fetch_add(total, Ordering::Relaxed);
    format!("received {total}")
}

async fn never() -> impl IntoResponse {
    std::future::pending::<()>().await;
    "unreachable"
}

async fn private(State(seen): State<Arc<Seen>>, headers: HeaderMap) -> impl IntoResponse {
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let authorized = given == format!("Bearer {SECRET}");
    seen.authorizations.lock().unwrap().push(given);
    if authorized { (StatusCode::OK, "authorized") } else { (StatusCode::UNAUTHORIZED, "who are you?") }
}

/// The expected checksum of a `/big` body of `bytes` bytes.
pub fn checksum(bytes: u64) -> u64 {
    // Sum of (i % 251) for i < bytes, as the guest computes it (wrapping u64).
    let full = bytes / 251;
    let rest = bytes % 251;
    full.wrapping_mul(250 * 251 / 2).wrapping_add(rest * rest.saturating_sub(1) / 2)
}

/// A body generated in 64 KiB frames as it is polled.
struct Generated {
    sent: u64,
    total: u64,
}

impl http_body::Body for Generated {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.sent >= self.total {
            return Poll::Ready(None);
        }
        let len = (self.total - self.sent).min(64 * 1024);
        let start = self.sent;
        let chunk: Vec<u8> = (start..start + len).map(|i| (i % 251) as u8).collect();
        self.sent += len;
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(chunk)))))
    }
}
