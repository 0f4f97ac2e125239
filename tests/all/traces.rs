//! OpenTelemetry traces: the real `reprise serve --otlp-endpoint` sends OTLP/HTTP JSON to a
//! collector on loopback (a few lines of axum here). One trace per instance execution, its root
//! span with episode and attempt spans under it, the starter's `traceparent` honoured, and the
//! attempt's trace context on the activity's outgoing request.

use crate::harness::{Killed, listening_address};
use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use reprise_tests::guests;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// Serves `router` on a loopback port; returns its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("bound address"));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("the server runs") });
    base
}

/// Every span of every export the collector received.
fn spans(exports: &[Value]) -> Vec<Value> {
    let mut spans = Vec::new();
    for export in exports {
        for resource in export["resourceSpans"].as_array().into_iter().flatten() {
            for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                spans.extend(scope["spans"].as_array().into_iter().flatten().cloned());
            }
        }
    }
    spans
}

/// A span attribute's value as text (OTLP JSON gives integers as strings or numbers).
fn attribute(span: &Value, key: &str) -> Option<String> {
    let value = &span["attributes"].as_array()?.iter().find(|a| a["key"] == key)?["value"];
    value["stringValue"]
        .as_str()
        .map(str::to_string)
        .or_else(|| value["intValue"].as_str().map(str::to_string))
        .or_else(|| value["intValue"].as_i64().map(|n| n.to_string()))
}

fn named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|span| span["name"] == name).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_s_trace_holds_its_episodes_and_attempts_and_reaches_its_callees() {
    let received = Arc::new(Mutex::new(Vec::<Value>::new()));
    let collector = {
        let received = received.clone();
        serve(Router::new().route(
            "/v1/traces",
            post(move |body: Bytes| {
                let received = received.clone();
                async move {
                    received.lock().unwrap().push(serde_json::from_slice(&body).expect("an OTLP JSON export"));
                    "{}"
                }
            }),
        ))
        .await
    };
    // What the activity calls: it answers the trace context it was sent.
    let callee = serve(Router::new().route(
        "/traced",
        get(|headers: HeaderMap| async move {
            headers.get("traceparent").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
        }),
    ))
    .await;

    let dir = tempfile::tempdir().expect("temporary directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_reprise-under-test"))
        .args(["serve", "--listen", "127.0.0.1:0", "--otlp-endpoint", &collector, "--db"])
        .arg(dir.path().join("traces.db"))
        .args(["--component", guests::RETRY_PATTERN, "--component", guests::HTTP_CALLS])
        .args(["--allow-http", "GET http://127.0.0.1:*"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reprise serve");
    let stderr = child.stderr.take().expect("stderr");
    let pid = child.id();
    let server = Killed(child);
    let base = tokio::task::spawn_blocking(move || listening_address(stderr)).await.expect("read stderr");
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let start = |path: String, body: Value, traceparent: Option<&str>| {
        let mut request = Request::builder().method(Method::POST).uri(format!("{base}{path}?waitForCompletion=60s"));
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let request = request.body(Full::new(Bytes::from(body.to_string()))).expect("request");
        let client = client.clone();
        async move {
            let response = client.request(request).await.expect("send the request");
            let status = response.status();
            let bytes = response.into_body().collect().await.expect("read the body").to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).expect("JSON"))
        }
    };

    // A retried activity, started by a caller with a trace of its own.
    let (caller_trace, caller_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let caller = format!("00-{caller_trace}-{caller_span}-01");
    let retried = json!({"input": "demo", "fail_times": 1, "first_retry_ms": 100});
    let (status, body) = start("/api/orchestrators/retry_orchestrator/retried".into(), retried, Some(&caller)).await;
    assert_eq!((status, &body["runtimeStatus"]), (StatusCode::OK, &json!("Completed")), "{body}");
    // An activity that makes an HTTP request.
    let call = json!({"activity": "fetch", "input": {"url": format!("{callee}/traced")}});
    let (status, body) = start("/api/orchestrators/call/traced".into(), call, None).await;
    assert_eq!((status, &body["runtimeStatus"]), (StatusCode::OK, &json!("Completed")), "{body}");
    let sent = body["output"]["body"].as_str().expect("the callee's answer").to_string();

    // SIGTERM: the host stops and sends the spans it holds.
    let stopped = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("run kill");
    assert!(stopped.success());
    let mut server = server;
    let exited = tokio::task::spawn_blocking(move || server.0.wait()).await.unwrap().expect("wait for serve");
    assert!(exited.success(), "serve exited with {exited}");
    let spans = spans(&received.lock().unwrap());

    let root = named(&spans, "orchestration retry_orchestrator");
    assert_eq!(root.len(), 1, "{spans:#?}");
    let (trace, root_id) = (root[0]["traceId"].as_str().unwrap(), root[0]["spanId"].as_str().unwrap());
    assert_eq!(attribute(root[0], "reprise.instance_id").as_deref(), Some("retried"));
    assert_eq!(attribute(root[0], "reprise.status").as_deref(), Some("Completed"));
    let episodes = named(&spans, "episode retry_orchestrator");
    assert!(episodes.len() >= 2, "{episodes:#?}");
    let attempts = named(&spans, "activity flaky_activity");
    let numbers: Vec<Option<String>> = attempts.iter().map(|a| attribute(a, "reprise.attempt")).collect();
    assert_eq!(numbers.len(), 2, "{attempts:#?}");
    assert!(numbers.contains(&Some("1".into())) && numbers.contains(&Some("2".into())), "{numbers:?}");
    for span in episodes.iter().chain(&attempts) {
        assert_eq!(span["traceId"], trace, "one trace per instance: {span}");
        assert_eq!(span["parentSpanId"], root_id, "under the instance's span: {span}");
        assert_eq!(attribute(span, "reprise.instance_id").as_deref(), Some("retried"));
    }
    // The start request is in the caller's trace, linked to the instance's.
    let requested = named(&spans, "start retry_orchestrator");
    assert_eq!(requested.len(), 1);
    assert_eq!((&requested[0]["traceId"], &requested[0]["parentSpanId"]), (&json!(caller_trace), &json!(caller_span)));
    assert_eq!(requested[0]["links"][0]["traceId"], trace);
    assert_eq!(requested[0]["links"][0]["spanId"], root_id);

    // The callee got the trace context of the attempt that called it.
    let fetch = named(&spans, "activity fetch");
    assert_eq!(fetch.len(), 1);
    let expected = format!("00-{}-{}-01", fetch[0]["traceId"].as_str().unwrap(), fetch[0]["spanId"].as_str().unwrap());
    assert_eq!(sent, expected);
    assert_eq!(named(&spans, "orchestration call")[0]["traceId"], fetch[0]["traceId"]);
}
