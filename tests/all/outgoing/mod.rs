//! Outgoing HTTP from activities (`wasi:http`): what a grant allows reaches a real server on a
//! loopback port, bodies streamed both ways; what no grant allows is refused before anything is
//! sent, with a failure that names the grant that would allow it; orchestrators and entities
//! cannot make requests at all; every request is recorded next to its attempt in history.
//! Nothing here reaches an address outside the loopback range.

mod deployment;
mod job_service;
mod server;

use crate::harness::{BOTH_PATHS, Harness, Options, output};
use reprise_core::{Event, HistoryEvent, HttpExchange, RuntimeStatus};
use reprise_runtime::ActivityGrants;
use reprise_runtime::http::{HttpAccess, HttpGrant, HttpGrants, TlsTrust};
use reprise_tests::guests;
use serde_json::{Value, json};
use server::Server;
use std::sync::Arc;
use std::time::Duration;

/// Grants for these patterns, with `tune` applied to the access.
fn allowing(patterns: &[String], tune: impl FnOnce(&mut HttpAccess)) -> Options {
    let grants: Vec<HttpGrant> = patterns.iter().map(|p| p.parse().expect("a valid grant")).collect();
    let mut access = HttpAccess { grants: HttpGrants::new(grants), ..HttpAccess::default() };
    tune(&mut access);
    Options { grants: ActivityGrants { http: Arc::new(access), ..ActivityGrants::default() }, ..Options::cache(16) }
}

/// Runs `activity` of the http-calls guest through its `call` orchestrator.
async fn call(harness: &Harness, id: &str, activity: &str, input: Value) -> reprise_store::InstanceRecord {
    harness.run(id, "call", json!({ "activity": activity, "input": input })).await
}

/// The requests history records, attempt by attempt.
fn requests(history: &[HistoryEvent]) -> Vec<(u32, Vec<HttpExchange>)> {
    history
        .iter()
        .filter_map(|e| match &e.event {
            Event::HttpRequestsMade { attempt, requests, .. } => Some((*attempt, requests.clone())),
            _ => None,
        })
        .collect()
}

/// The failure of a failed `call`: its error type and message (the host's wrapping of the
/// activity's failure, `ActivityFailed`, is the top; the cause is what the attempt failed with).
fn failure(record: &reprise_store::InstanceRecord) -> (String, String) {
    assert_eq!(record.status, RuntimeStatus::Failed, "the call did not fail: {:?}", record.output);
    let failure = record.failure.as_ref().expect("a failure");
    let cause = &failure.causes[0];
    (cause.error_type.clone(), cause.message.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_gets_and_posts_within_its_grants_on_both_paths() {
    let server = Server::start().await;
    let grants = [format!("GET {}/hello", server.base), format!("POST {}/echo", server.base)];
    for cache in BOTH_PATHS {
        let harness = Harness::with(Options { cache, ..allowing(&grants, |_| {}) }, &[guests::HTTP_CALLS]).await;
        let got =
            call(&harness, &format!("get-{cache}"), "fetch", json!({ "url": server.url("/hello?token=abc") })).await;
        let got = output(&got);
        assert_eq!(got["status"], 200);
        assert_eq!(got["body"], "hello");
        assert_eq!(got["headers"]["x-served-by"], "reprise-test");

        let body = json!({ "order": 42 }).to_string();
        let input = json!({
            "method": "POST",
            "url": server.url("/echo"),
            "headers": { "content-type": "application/json" },
            "body": body,
        });
        let posted = output(&call(&harness, &format!("post-{cache}"), "fetch", input).await);
        let echoed: Value = serde_json::from_str(posted["body"].as_str().unwrap()).unwrap();
        assert_eq!(echoed, json!({ "method": "POST", "content_type": "application/json", "body": body }));

        let history = harness.history(&format!("get-{cache}")).await;
        let logged = requests(&history);
        assert_eq!(logged.len(), 1, "one attempt made requests: {logged:?}");
        let (attempt, exchanges) = &logged[0];
        assert_eq!(*attempt, 1);
        assert_eq!(exchanges.len(), 1);
        let exchange = &exchanges[0];
        assert_eq!((exchange.method.as_str(), exchange.status), ("GET", Some(200)));
        assert_eq!(exchange.url, server.url("/hello"), "the query (where credentials travel) is not recorded");
        assert_eq!((exchange.bytes_sent, exchange.bytes_received), (0, 5));
        let at = history.iter().position(|e| matches!(e.event, Event::HttpRequestsMade { .. })).unwrap();
        assert!(
            matches!(history[at + 1].event, Event::ActivityCompleted { .. }),
            "the log sits just before the result"
        );
        let posted_log = requests(&harness.history(&format!("post-{cache}")).await);
        assert_eq!(posted_log[0].1[0].bytes_sent, body.len() as u64);
        harness.stop().await;
    }
    assert_eq!(server.seen.count("/hello"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_outside_the_grants_never_leave_and_name_the_grant_that_would_allow_them() {
    let server = Server::start().await;
    let other = Server::start().await;
    let grants = [format!("GET {}/hello", server.base)];
    let harness = Harness::with(allowing(&grants, |_| {}), &[guests::HTTP_CALLS]).await;

    let cases = [
        (
            "host",
            json!({ "url": format!("http://localhost:{}/hello", server.port) }),
            format!("GET http://localhost:{}/hello", server.port),
        ),
        (
            "method",
            json!({ "method": "POST", "url": server.url("/hello"), "body": "x" }),
            format!("POST {}/hello", server.base),
        ),
        ("port", json!({ "url": other.url("/hello") }), format!("GET {}/hello", other.base)),
        ("path", json!({ "url": server.url("/echo") }), format!("GET {}/echo", server.base)),
        // The SDK sends paths with dot segments removed (the host's refusal of raw ones against a
        // path-limited grant is a unit test of the grants): this is a request for /echo.
        ("dot-segments", json!({ "url": server.url("/hello/../echo") }), format!("GET {}/echo", server.base)),
    ];
    for (what, input, request) in cases {
        let record = call(&harness, &format!("denied-{what}"), "fetch", input).await;
        let (error_type, message) = failure(&record);
        assert_eq!(error_type, "HttpDenied", "{what}: {message}");
        assert!(
            message.contains(&format!("the request {request} of activity 'fetch' is not granted")),
            "{what}: {message}"
        );
        assert!(message.contains(&format!("`GET {}/hello`", server.base)), "{what}: it lists the grants: {message}");
        assert!(message.contains(&format!("the grant `{request}` would allow it")), "{what}: {message}");
        let logged = requests(&harness.history(&format!("denied-{what}")).await);
        assert_eq!(logged[0].1[0].error.as_deref(), Some(HttpExchange::DENIED), "{what}");
    }
    assert_eq!(
        server.seen.count("/echo") + server.seen.count("/hello") + other.seen.count("/hello"),
        0,
        "nothing left"
    );
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_followed_only_where_the_grants_allow() {
    let server = Server::start().await;
    let grants = [format!("GET {}/redirect", server.base), format!("GET {}/hello", server.base)];
    let harness = Harness::with(allowing(&grants, |_| {}), &[guests::HTTP_CALLS]).await;

    let within = json!({ "url": format!("{}/redirect?to=/hello", server.base) });
    let followed = output(&call(&harness, "within", "fetch", within).await);
    assert_eq!((followed["status"].clone(), followed["body"].clone()), (json!(200), json!("hello")));

    let away = format!("http://localhost:{}/hello", server.port);
    let outside = json!({ "url": format!("{}/redirect?to={away}", server.base) });
    let record = call(&harness, "outside", "fetch", outside).await;
    let (error_type, message) = failure(&record);
    assert_eq!(error_type, "HttpDenied");
    assert!(message.contains(&format!("GET {away}")), "{message}");
    let logged = requests(&harness.history("outside").await);
    let statuses: Vec<_> = logged[0].1.iter().map(|e| (e.status, e.error.clone())).collect();
    assert_eq!(statuses, [(Some(302), None), (None, Some(HttpExchange::DENIED.to_string()))]);
    assert_eq!(server.seen.count("/hello"), 1, "only the granted redirect reached its target");
    harness.stop().await;
}

/// The resident set of this process, in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_download_and_a_20_mb_upload_stream_through_the_host() {
    let server = Server::start().await;
    let grants = [format!("GET {}/big", server.base), format!("POST {}/upload", server.base)];
    let harness = Harness::with(allowing(&grants, |_| {}), &[guests::HTTP_CALLS]).await;
    const BYTES: u64 = 100 * 1024 * 1024;

    let before = resident_bytes();
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(resident_bytes());
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let downloaded = output(
        &call(&harness, "download", "download", json!({ "url": server.url(&format!("/big?bytes={BYTES}")) })).await,
    );
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    assert_eq!(downloaded["status"], 200);
    assert_eq!(downloaded["bytes"], BYTES);
    assert_eq!(downloaded["checksum"], server::checksum(BYTES));
    // The body went through in frames; had the host (or the guest) kept it, the process would
    // have grown by 100 MB. Other tests of this binary run meanwhile, so the bound is loose.
    let grown = peak.saturating_sub(before);
    eprintln!("resident set grew by {} KiB during the 100 MiB download", grown / 1024);
    assert!(grown < BYTES / 2, "the process grew by {} MB during a 100 MB download", grown / (1024 * 1024));
    let logged = requests(&harness.history("download").await);
    assert_eq!(logged[0].1[0].bytes_received, BYTES);

    const UP: u64 = 20 * 1024 * 1024;
    let uploaded =
        output(&call(&harness, "upload", "upload", json!({ "url": server.url("/upload"), "bytes": UP })).await);
    assert_eq!(uploaded["body"], format!("received {UP}"));
    assert_eq!(server.seen.uploaded.load(std::sync::atomic::Ordering::Relaxed), UP);
    assert_eq!(requests(&harness.history("upload").await)[0].1[0].bytes_sent, UP);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_times_out_and_the_retry_policy_tries_again() {
    let server = Server::start().await;
    let grants = [format!("GET {}/never", server.base)];
    let options = allowing(&grants, |access| access.first_byte_timeout = Duration::from_millis(300));
    let harness = Harness::with(options, &[guests::HTTP_CALLS]).await;
    let retry = json!({ "max_attempts": 2, "first_retry_interval_ms": 1000, "backoff_coefficient": 1.0 });
    harness
        .start(
            "never",
            "call",
            json!({ "activity": "fetch", "input": { "url": server.url("/never") }, "retry": retry }),
        )
        .await;
    let record = harness.finished_moving_time("never").await;
    let (error_type, message) = failure(&record);
    assert_eq!(error_type, "HttpTimeout", "{message}");
    assert!(message.contains(&format!("GET {}/never", server.base)), "{message}");
    let history = harness.history("never").await;
    let retried: Vec<_> = history
        .iter()
        .filter_map(|e| match &e.event {
            Event::ActivityRetrying { attempt, failure, .. } => Some((*attempt, failure.error_type.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(retried, [(1, "HttpTimeout".to_string())], "the first attempt timed out and was retried");
    assert_eq!(requests(&history).iter().map(|(a, _)| *a).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(server.seen.count("/never"), 2);
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_per_attempt_fail_it_with_a_typed_failure() {
    let server = Server::start().await;
    let grants = [format!("GET {}/*", server.base)];
    let harness = Harness::with(
        allowing(&grants, |access| {
            access.max_requests = Some(1);
            access.max_body_bytes = Some(1024 * 1024);
        }),
        &[guests::HTTP_CALLS],
    )
    .await;
    let record =
        call(&harness, "requests", "fetch", json!({ "url": format!("{}/redirect?to=/hello", server.base) })).await;
    let (error_type, message) = failure(&record);
    assert_eq!(error_type, "HttpLimitExceeded");
    assert!(message.contains("limit of 1 HTTP requests per attempt"), "{message}");

    let record = call(&harness, "bytes", "download", json!({ "url": server.url("/big?bytes=10485760") })).await;
    let (error_type, message) = failure(&record);
    assert_eq!(error_type, "HttpLimitExceeded");
    assert!(message.contains("limit of 1048576 bytes"), "{message}");
    let logged = requests(&harness.history("bytes").await);
    // It stops at the first frame past the limit (the HTTP stack reads frames of up to a few
    // hundred KiB), long before the 10 MiB body's end.
    assert!(logged[0].1[0].bytes_received < 2 * 1024 * 1024, "the body stopped at the limit: {logged:?}");
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestrators_and_entities_trap_when_they_reach_for_http() {
    let server = Server::start().await;
    let grants = [format!("GET {}/hello", server.base)];
    let harness = Harness::with(allowing(&grants, |_| {}), &[guests::HTTP_CALLS]).await;
    let record = harness.run("orchestrator", "fetch_directly", json!(server.url("/hello"))).await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.expect("a failure");
    assert!(failure.to_string().contains("an orchestrator cannot make HTTP requests"), "{failure}");

    let record = harness.run("entity", "probe_entity", json!(server.url("/hello"))).await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.expect("a failure");
    assert!(failure.to_string().contains("an entity cannot make HTTP requests"), "{failure}");
    assert_eq!(server.seen.count("/hello"), 0, "neither reached the server");
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_reaches_a_server_whose_authority_the_deployment_trusts_and_no_other() {
    let ca = server::TestCa::new();
    let server = Server::start_tls(&ca).await;
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("test-ca.pem");
    std::fs::write(&pem, &ca.pem).unwrap();
    let grants = [format!("GET {}/hello", server.base)];

    let trusting = allowing(&grants, |access| access.trust = Some(TlsTrust::from_pem_files(&[pem]).unwrap()));
    let harness = Harness::with(trusting, &[guests::HTTP_CALLS]).await;
    let got = output(&call(&harness, "trusted", "fetch", json!({ "url": server.url("/hello") })).await);
    assert_eq!((got["status"].clone(), got["body"].clone()), (json!(200), json!("hello")));
    harness.stop().await;

    let harness = Harness::with(allowing(&grants, |_| {}), &[guests::HTTP_CALLS]).await;
    let record = call(&harness, "untrusted", "fetch", json!({ "url": server.url("/hello") })).await;
    assert_eq!(record.status, RuntimeStatus::Failed, "a certificate of an unknown authority is refused");
    let logged = requests(&harness.history("untrusted").await);
    let error = logged[0].1[0].error.clone().expect("the exchange failed");
    assert!(error.contains("TLS") || error.contains("certificate"), "{error}");
    assert_eq!(logged[0].1[0].status, None);
    harness.stop().await;
    assert_eq!(server.seen.count("/hello"), 1, "only the trusting deployment's request was served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_and_python_activities_fetch_within_their_grants_only() {
    let server = Server::start().await;
    let grants = [format!("GET {}/hello", server.base), format!("POST {}/echo", server.base)];
    for guest in [guests::JS_HTTP, guests::PY_HTTP] {
        let language = guest.language();
        let harness = Harness::with(allowing(&grants, |_| {}), &[guest.path()]).await;
        let got =
            output(&call(&harness, &format!("{language}-get"), "fetch", json!({ "url": server.url("/hello") })).await);
        assert_eq!((got["status"].clone(), got["body"].clone()), (json!(200), json!("hello")), "{language}");
        assert_eq!(got["headers"]["x-served-by"], "reprise-test", "{language}");

        let input = json!({ "method": "POST", "url": server.url("/echo"), "headers": { "content-type": "text/plain" }, "body": "from a guest" });
        let posted = output(&call(&harness, &format!("{language}-post"), "fetch", input).await);
        let echoed: Value = serde_json::from_str(posted["body"].as_str().unwrap()).unwrap();
        assert_eq!(echoed["body"], "from a guest", "{language}");
        assert_eq!(echoed["method"], "POST", "{language}");

        let denied =
            call(&harness, &format!("{language}-denied"), "fetch", json!({ "url": server.url("/echo") })).await;
        let (error_type, message) = failure(&denied);
        assert_eq!(error_type, "HttpDenied", "{language}: {message}");
        assert!(
            message.contains(&format!("the grant `GET {}/echo` would allow it", server.base)),
            "{language}: {message}"
        );
        let logged = requests(&harness.history(&format!("{language}-post")).await);
        assert_eq!(logged[0].1[0].bytes_sent, "from a guest".len() as u64, "{language}");
        harness.stop().await;
    }
    assert_eq!(server.seen.count("/echo"), 2, "only the granted POSTs reached /echo");
}
