//! Hostile HTTP: arbitrary methods, paths (percent-encoded bytes, huge segments, `@` entity ids,
//! ids of live instances), query strings, headers and bodies (malformed, huge, not UTF-8) sent
//! to the real router over a real host on a real SQLite file with real guests, its workers
//! running.
//!
//! Every request must be answered, within a generous bound (a hang detector, not a timing
//! assertion), with a status below 500, and every error body must be the API's `{"error": ...}`.
//! Afterwards the database must pass `PRAGMA integrity_check`, every acknowledged start must be
//! in it, and no instance may be half written (each has its `Start` message or its history).
//! `PROPTEST_CASES` raises the number of cases for a long run.

use crate::harness::Harness;
use axum::body::Body;
use http_body_util::BodyExt;
use hyper::{Method, Request, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reprise_http::ApiConfig;
use reprise_tests::guests;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tower::ServiceExt;

const INSTANCES: &str = "/runtime/webhooks/durabletask/instances";
const ENTITIES: &str = "/runtime/webhooks/durabletask/entities";

/// The body limit of the API under test: small, so that bodies over it are cheap to make.
const MAX_BODY: usize = 16 * 1024;

/// Longer than any request can take on a loaded machine; only a hang reaches it.
const HANG: Duration = Duration::from_secs(60);

/// One path segment.
#[derive(Debug, Clone)]
enum Segment {
    /// Text, percent-encoded where a URI needs it.
    Text(String),
    /// Raw bytes, every one percent-encoded (so the decoded segment may not be UTF-8).
    Bytes(Vec<u8>),
    /// The id of an instance an earlier request started (modulo how many there are).
    Known(usize),
    /// A segment of this many bytes.
    Huge(usize),
}

fn segment() -> impl Strategy<Value = Segment> {
    let names = vec![
        "run_job",
        "counter_orchestration",
        "add_many",
        "Counter",
        "Account",
        "nope",
        "@Counter@k",
        "@",
        "@@",
        "..",
        ".",
        "%",
        "%zz",
        "a/b",
        "a?b",
        "",
    ];
    prop_oneof![
        4 => prop::sample::select(names).prop_map(|s| Segment::Text(s.to_string())),
        2 => "[a-z@._~-]{0,12}".prop_map(Segment::Text),
        1 => any::<String>().prop_map(Segment::Text),
        2 => prop::collection::vec(any::<u8>(), 0..12).prop_map(Segment::Bytes),
        4 => any::<usize>().prop_map(Segment::Known),
        1 => prop::sample::select(vec![256usize, 8 * 1024, 30_000]).prop_map(Segment::Huge),
    ]
}

/// Where a request goes: a route of the API with its segments, or any path.
#[derive(Debug, Clone)]
enum Target {
    Start(Segment, Option<Segment>),
    Status(Segment),
    Operation(Segment, &'static str),
    RaiseEvent(Segment, Segment),
    Instances,
    Entities(Option<Segment>),
    Entity(Segment, Segment),
    OpenApi,
    Anywhere(Vec<Segment>),
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        3 => (segment(), prop::option::of(segment())).prop_map(|(name, id)| Target::Start(name, id)),
        3 => segment().prop_map(Target::Status),
        2 => (segment(), prop::sample::select(vec!["terminate", "suspend", "resume"])).prop_map(|(id, op)| Target::Operation(id, op)),
        2 => (segment(), segment()).prop_map(|(id, event)| Target::RaiseEvent(id, event)),
        2 => Just(Target::Instances),
        1 => prop::option::of(segment()).prop_map(Target::Entities),
        3 => (segment(), segment()).prop_map(|(name, key)| Target::Entity(name, key)),
        1 => Just(Target::OpenApi),
        1 => prop::collection::vec(segment(), 0..5).prop_map(Target::Anywhere),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        4 => Just(Method::POST),
        4 => Just(Method::GET),
        2 => Just(Method::DELETE),
        1 => prop::sample::select(vec![Method::PUT, Method::PATCH, Method::HEAD, Method::OPTIONS]),
        1 => "[A-Z]{1,8}".prop_map(|m| Method::from_bytes(m.as_bytes()).expect("letters make a method")),
    ]
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    let keys = prop_oneof![
        8 => prop::sample::select(vec![
            "showHistory", "showHistoryOutput", "showInput", "runtimeStatus", "createdTimeFrom", "createdTimeTo",
            "instanceIdPrefix", "namePrefix", "top", "op", "reason", "cascade", "keyPrefix", "includeDeleted",
        ])
        .prop_map(str::to_string),
        1 => any::<String>(),
    ];
    let values = prop_oneof![
        4 => prop::sample::select(vec![
            "true", "false", "1", "0", "-1", "18446744073709551616", "Running", "Completed,Failed", "Sleeping",
            "2024-01-31T12:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z", "add", "get", "", "%", "%ff",
        ])
        .prop_map(str::to_string),
        1 => any::<String>(),
        1 => prop::sample::select(vec![4096usize, 20_000]).prop_map(|n| "x".repeat(n)),
    ];
    prop::collection::vec((keys, values), 0..4)
}

/// A request body.
#[derive(Debug, Clone)]
enum Payload {
    Empty,
    Json(Value),
    Text(String),
    Bytes(Vec<u8>),
    /// Nested arrays this deep.
    Deep(usize),
    /// A valid JSON string this long.
    Huge(usize),
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        3 => Just(Payload::Empty),
        4 => reprise_core::strategies::json_value().prop_map(Payload::Json),
        2 => prop::sample::select(vec!["{", "nul", "\"unterminated", "[1,]", "{\"a\":1}{", "1e999", "  ", "\u{feff}null"])
            .prop_map(|s| Payload::Text(s.to_string())),
        1 => any::<String>().prop_map(Payload::Text),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Payload::Bytes),
        1 => prop::sample::select(vec![200usize, 100_000]).prop_map(Payload::Deep),
        1 => prop::sample::select(vec![MAX_BODY - 2, MAX_BODY - 1, MAX_BODY, 1_000_000]).prop_map(Payload::Huge),
    ]
}

/// One hostile request.
#[derive(Debug, Clone)]
struct Hostile {
    /// The method; `None` for the one the route takes.
    method: Option<Method>,
    target: Target,
    query: Vec<(String, String)>,
    headers: Vec<(&'static str, String)>,
    body: Payload,
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let header = prop_oneof![
        (
            Just("x-ms-continuation-token"),
            prop::sample::select(vec!["0", "1", "-1", "99999999999999999999", "abc", ""]).prop_map(str::to_string)
        ),
        (
            Just("content-type"),
            prop::sample::select(vec![
                "application/json",
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x"
            ])
            .prop_map(str::to_string)
        ),
        (
            Just("host"),
            prop::sample::select(vec!["example.com:1", "", "a b", "[::1]:80", "h\"ost"]).prop_map(str::to_string)
        ),
        (Just("authorization"), Just("Bearer nope".to_string())),
    ];
    prop::collection::vec(header, 0..3)
}

fn hostile() -> impl Strategy<Value = Hostile> {
    (prop::option::weighted(0.3, method()), target(), query(), headers(), payload())
        .prop_map(|(method, target, query, headers, body)| Hostile { method, target, query, headers, body })
}

/// Percent-encodes every byte that is not unreserved.
fn encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn render(segment: &Segment, known: &[String]) -> String {
    match segment {
        Segment::Text(text) => encode(text.as_bytes()),
        Segment::Bytes(bytes) => bytes.iter().map(|b| format!("%{b:02X}")).collect(),
        Segment::Known(index) if !known.is_empty() => encode(known[index % known.len()].as_bytes()),
        Segment::Known(_) => "nobody".into(),
        Segment::Huge(len) => "a".repeat(*len),
    }
}

/// What the server decodes `segment` to, if it is text.
fn decoded(segment: &Segment, known: &[String]) -> Option<String> {
    match segment {
        Segment::Text(text) => Some(text.clone()),
        Segment::Bytes(bytes) => String::from_utf8(bytes.clone()).ok(),
        Segment::Known(index) if !known.is_empty() => Some(known[index % known.len()].clone()),
        Segment::Known(_) => Some("nobody".into()),
        Segment::Huge(len) => Some("a".repeat(*len)),
    }
}

fn path(target: &Target, known: &[String]) -> String {
    let r = |segment: &Segment| render(segment, known);
    match target {
        Target::Start(name, None) => format!("/api/orchestrators/{}", r(name)),
        Target::Start(name, Some(id)) => format!("/api/orchestrators/{}/{}", r(name), r(id)),
        Target::Status(id) => format!("{INSTANCES}/{}", r(id)),
        Target::Operation(id, operation) => format!("{INSTANCES}/{}/{operation}", r(id)),
        Target::RaiseEvent(id, event) => format!("{INSTANCES}/{}/raiseEvent/{}", r(id), r(event)),
        Target::Instances => INSTANCES.into(),
        Target::Entities(None) => ENTITIES.into(),
        Target::Entities(Some(name)) => format!("{ENTITIES}/{}", r(name)),
        Target::Entity(name, key) => format!("{ENTITIES}/{}/{}", r(name), r(key)),
        Target::OpenApi => "/openapi.json".into(),
        Target::Anywhere(segments) => format!("/{}", segments.iter().map(r).collect::<Vec<_>>().join("/")),
    }
}

fn body(payload: &Payload) -> Vec<u8> {
    match payload {
        Payload::Empty => Vec::new(),
        Payload::Json(value) => value.to_string().into_bytes(),
        Payload::Text(text) => text.clone().into_bytes(),
        Payload::Bytes(bytes) => bytes.clone(),
        Payload::Deep(depth) => format!("{}{}", "[".repeat(*depth), "]".repeat(*depth)).into_bytes(),
        Payload::Huge(len) => format!("\"{}\"", "x".repeat(len.saturating_sub(2))).into_bytes(),
    }
}

/// The method `target`'s route takes (for a path that takes two, the one that changes things).
fn natural(target: &Target) -> Method {
    match target {
        Target::Start(..) | Target::Operation(..) | Target::RaiseEvent(..) => Method::POST,
        Target::Entity(..) => Method::POST,
        Target::Status(_) | Target::Instances | Target::Entities(_) | Target::OpenApi | Target::Anywhere(_) => {
            Method::GET
        }
    }
}

/// What the run did, for the checks at its end.
#[derive(Default)]
struct Seen {
    /// How many responses had each status.
    statuses: BTreeMap<u16, usize>,
    /// The ids of the instances acknowledged by a `202` from a starter.
    started: Vec<String>,
    /// The instances purged one by one.
    purged: Vec<String>,
    /// A bulk purge deleted instances.
    bulk_purged: bool,
}

/// Sends `request`, recording what it did in `seen`; fails the case on a 5xx, a hang, or an
/// error body that is not the API's.
async fn send(router: &axum::Router, request: &Hostile, seen: &Mutex<Seen>) -> Result<StatusCode, TestCaseError> {
    let method = request.method.clone().unwrap_or_else(|| natural(&request.target));
    let ids = seen.lock().unwrap().started.clone();
    let mut uri = path(&request.target, &ids);
    if !request.query.is_empty() {
        let pairs: Vec<String> =
            request.query.iter().map(|(k, v)| format!("{}={}", encode(k.as_bytes()), encode(v.as_bytes()))).collect();
        uri = format!("{uri}?{}", pairs.join("&"));
    }
    let mut builder = Request::builder().method(method.clone()).uri(&uri);
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    // A request the client library itself refuses to build never reaches a server.
    let Ok(built) = builder.body(Body::from(body(&request.body))) else { return Ok(StatusCode::BAD_REQUEST) };
    let answered = tokio::time::timeout(HANG, async {
        let response = router.clone().oneshot(built).await.expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.map(|collected| collected.to_bytes());
        (parts, bytes)
    })
    .await;
    let Ok((parts, bytes)) = answered else {
        return Err(TestCaseError::fail(format!("{method} {uri} was not answered within {HANG:?}")));
    };
    let bytes = bytes.map_err(|err| TestCaseError::fail(format!("{method} {uri}: the body broke off: {err}")))?;
    let status = parts.status;
    let text = String::from_utf8_lossy(&bytes);
    prop_assert!(!status.is_server_error(), "{} {} answered {}: {}", method, uri, status, text);
    if status.is_client_error() && method != Method::HEAD {
        let error: Value = serde_json::from_slice(&bytes).map_err(|_| {
            TestCaseError::fail(format!("{method} {uri} answered {status} with a body that is not JSON: {text:?}"))
        })?;
        prop_assert!(
            error["error"].is_string(),
            "{} {} answered {} without an error message: {}",
            method,
            uri,
            status,
            text
        );
    }
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let mut seen = seen.lock().unwrap();
    *seen.statuses.entry(status.as_u16()).or_default() += 1;
    match (&request.target, status) {
        (Target::Start(..), StatusCode::ACCEPTED) => {
            let id = body["id"].as_str().ok_or_else(|| TestCaseError::fail(format!("no id in {body}")))?;
            seen.started.push(id.to_string());
        }
        (Target::Status(segment), StatusCode::OK) if method == Method::DELETE && body["instancesDeleted"] == 1 => {
            seen.purged.extend(decoded(segment, &ids));
        }
        (Target::Instances, StatusCode::OK) if method == Method::DELETE => {
            seen.bulk_purged |= body["instancesDeleted"].as_u64().is_some_and(|n| n > 0);
        }
        _ => {}
    }
    Ok(status)
}

/// Asserts the database is whole and holds no half-written instance.
fn assert_whole(db: &std::path::Path, seen: &Seen) {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).expect("integrity check");
    assert_eq!(check, "ok");
    let tx = conn.unchecked_transaction().expect("a consistent read");
    let mut rows = tx
        .prepare(
            "SELECT i.instance_id, i.history_len, \
                 (SELECT count(*) FROM history h WHERE h.instance_id = i.instance_id AND h.execution = i.execution), \
                 (SELECT count(*) FROM inbox m WHERE m.instance_id = i.instance_id AND m.execution = i.execution \
                      AND json_extract(m.message, '$.type') = 'Start'), \
                 (SELECT count(*) FROM entities e WHERE e.instance_id = i.instance_id) \
             FROM instances i",
        )
        .expect("prepare");
    let instances: BTreeMap<String, (i64, i64, i64, i64)> = rows
        .query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))))
        .expect("query")
        .map(|row| row.expect("row"))
        .collect();
    for (id, (history_len, history, starts, entity)) in &instances {
        if id.starts_with('@') {
            assert_eq!(*entity, 1, "entity instance {id} has no entity row");
        } else {
            assert_eq!(history_len, history, "instance {id} records {history_len} events but has {history}");
            assert!(*history > 0 || *starts == 1, "instance {id} has neither history nor its Start message");
        }
    }
    for id in &seen.started {
        let purged = seen.bulk_purged || seen.purged.contains(id);
        assert!(instances.contains_key(id) || purged, "the acknowledged instance {id} is not in the database");
    }
}

#[test]
fn hostile_requests_get_no_server_error_and_leave_the_database_whole() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fuzz.db");
    let harness = runtime.block_on(Harness::on(
        &db,
        crate::harness::Options::cache(64),
        &[guests::ENTITIES, guests::CALLBACK_WITH_TIMEOUT],
    ));
    let config = ApiConfig { max_body_bytes: MAX_BODY, ..ApiConfig::default() };
    let router = reprise_http::router(harness.host.clone(), config);
    let seen = Mutex::new(Seen::default());

    // Instances that wait for an event, so that management requests meet live ones too.
    for n in 0..3 {
        let input = serde_json::json!({"job": "j", "timeout_ms": 600_000});
        let id = runtime.block_on(harness.start(&format!("waiting-{n}"), "run_job", input));
        seen.lock().unwrap().started.push(id);
    }

    let cases = Config::default().cases.max(256);
    // The failing input is printed; this binary has no source file for proptest to save it beside.
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let requests = prop::collection::vec(hostile(), 1..6);
    let result = runner.run(&requests, |requests| {
        runtime.block_on(async {
            for request in &requests {
                send(&router, request, &seen).await?;
            }
            Ok(())
        })
    });
    let seen = seen.into_inner().unwrap();
    eprintln!("statuses answered: {:?}", seen.statuses);
    result.unwrap();
    // The run reached the handlers, not only the router's 404s.
    assert!(seen.statuses.contains_key(&202), "no request was accepted: {:?}", seen.statuses);
    assert!(seen.statuses.contains_key(&400), "no request was refused as malformed: {:?}", seen.statuses);

    runtime.block_on(harness.stop());
    assert_whole(&db, &seen);
}

/// A host with the guests the hostile run uses, and the API's router over it.
async fn api() -> (Harness, axum::Router) {
    let harness = Harness::new(64, &[guests::ENTITIES, guests::CALLBACK_WITH_TIMEOUT]).await;
    let config = ApiConfig { max_body_bytes: MAX_BODY, ..ApiConfig::default() };
    let router = reprise_http::router(harness.host.clone(), config);
    (harness, router)
}

/// Sends one request and returns its status and body.
async fn call(router: &axum::Router, method: Method, uri: &str, body: &[u8]) -> (StatusCode, Vec<u8>) {
    let request = Request::builder().method(method).uri(uri).body(Body::from(body.to_vec())).expect("a request");
    let response = router.clone().oneshot(request).await.expect("the router is infallible");
    let status = response.status();
    (status, response.into_body().collect().await.expect("the body").to_bytes().to_vec())
}

fn error_message(body: &[u8]) -> String {
    let value: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("the body is not JSON: {:?}", String::from_utf8_lossy(body)));
    value["error"].as_str().unwrap_or_else(|| panic!("no error message in {value}")).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_path_segment_that_is_not_utf8_is_a_400_in_the_api_shape() {
    // Found by the hostile run: axum's own rejection was a plain-text body.
    let (harness, router) = api().await;
    let routes = [
        (Method::POST, "/api/orchestrators/%80".to_string()),
        (Method::POST, "/api/orchestrators/run_job/%80".to_string()),
        (Method::GET, format!("{INSTANCES}/%FF")),
        (Method::DELETE, format!("{INSTANCES}/%FF")),
        (Method::POST, format!("{INSTANCES}/%FF/terminate")),
        (Method::POST, format!("{INSTANCES}/a/raiseEvent/%C3")),
        (Method::GET, format!("{ENTITIES}/%FE")),
        (Method::GET, format!("{ENTITIES}/Counter/%FE")),
        (Method::POST, format!("{ENTITIES}/Counter/%FE?op=add")),
    ];
    for (method, uri) in routes {
        let (status, body) = call(&router, method.clone(), &uri, b"").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}");
        assert!(error_message(&body).contains("UTF-8"), "{method} {uri}");
    }
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_method_a_path_does_not_take_is_a_405_in_the_api_shape_with_allow() {
    // Found by the hostile run: axum's own 405 had an empty body.
    let (harness, router) = api().await;
    for (method, uri) in
        [(Method::GET, "/api/orchestrators/run_job".to_string()), (Method::PUT, format!("{INSTANCES}/x"))]
    {
        let request = Request::builder().method(method.clone()).uri(&uri).body(Body::empty()).expect("a request");
        let response = router.clone().oneshot(request).await.expect("the router is infallible");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert!(response.headers().contains_key("allow"), "{method} {uri}: no Allow header");
        let body = response.into_body().collect().await.expect("the body").to_bytes();
        assert!(error_message(&body).contains("method"), "{method} {uri}");
    }
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_page_of_zero_instances_is_refused_as_the_document_says() {
    // Found by a long schemathesis run: `top=0` (the document's minimum is 1) answered 200.
    let (harness, router) = api().await;
    let (status, body) = call(&router, Method::GET, &format!("{INSTANCES}?top=0"), b"").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&body).contains("top"), "{}", String::from_utf8_lossy(&body));
    let (status, _) = call(&router, Method::GET, &format!("{INSTANCES}?top=1"), b"").await;
    assert_eq!(status, StatusCode::OK);
    harness.stop().await;
}
