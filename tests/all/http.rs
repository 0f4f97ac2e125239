//! The Durable Functions-compatible HTTP API: the real router served on a loopback port over a
//! real host, driven by a real HTTP/1.1 client (hyper). One test also runs the real `reprise serve
//! --listen` binary to check the CLI wiring.

use crate::harness::{Harness, Killed, Options};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reprise_http::ApiConfig;
use reprise_tests::guests;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;

const INSTANCES: &str = "/runtime/webhooks/durabletask/instances";

/// A server on a loopback port over a test host, and a client for it.
struct Api {
    harness: Harness,
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    token: Option<String>,
}

/// A response, its body parsed as JSON (`Null` if empty, a string if not JSON), and as it came.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Api {
    async fn new(config: ApiConfig, components: &[&str]) -> Self {
        Self::on(Harness::new(1024, components).await, config).await
    }

    /// The API over `harness`'s host.
    async fn on(harness: Harness, config: ApiConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("bound address"));
        let token = config.token.clone();
        let router = reprise_http::router(harness.host.clone(), config);
        tokio::spawn(reprise_http::serve(listener, router, std::future::pending()));
        Api { harness, base, client: Client::builder(TokioExecutor::new()).build_http(), token }
    }

    async fn default(components: &[&str]) -> Self {
        Self::new(ApiConfig::default(), components).await
    }

    /// Sends a request with the server's token (if any) and reads the whole response.
    async fn call(&self, method: Method, path: &str, body: Option<&str>) -> Reply {
        self.call_with(method, path, body, self.token.as_deref(), &[]).await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() && !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = Full::new(Bytes::from(body.unwrap_or_default().to_string()));
        let response = self.client.request(request.body(body).expect("request")).await.expect("send the request");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("read the body").to_bytes();
        let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Reply { status: parts.status, headers: parts.headers, body, text }
    }

    /// Polls an instance's status (20 ms apart, at most a minute) until `done` holds.
    async fn poll(&self, id: &str, done: impl Fn(&Reply) -> bool) -> Reply {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let reply = self.call(Method::GET, &format!("{INSTANCES}/{id}"), None).await;
            if done(&reply) {
                return reply;
            }
            assert!(tokio::time::Instant::now() < deadline, "instance {id} never got there: {}", reply.body);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn poll_status(&self, id: &str, status: &str) -> Reply {
        self.poll(id, |reply| reply.body["runtimeStatus"] == status).await
    }
}

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.headers.get(name).map(|value| value.to_str().expect("ASCII header"))
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_000_start_then_poll_until_completed() {
    let api = Api::default(&[guests::RETRY_PATTERN]).await;
    let input = r#"{"input": "demo", "fail_times": 0}"#;
    let started = api.call(Method::POST, "/api/orchestrators/retry_orchestrator", Some(input)).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let id = started.body["id"].as_str().expect("id").to_string();
    let status_uri = format!("{}{INSTANCES}/{id}", api.base);
    assert_eq!(started.body["statusQueryGetUri"], status_uri);
    assert_eq!(header(&started, "location"), Some(status_uri.as_str()));
    assert!(header(&started, "retry-after").is_some());
    assert_eq!(started.body["sendEventPostUri"], format!("{status_uri}/raiseEvent/{{eventName}}"));
    assert_eq!(started.body["terminatePostUri"], format!("{status_uri}/terminate?reason={{text}}"));
    assert_eq!(started.body["suspendPostUri"], format!("{status_uri}/suspend?reason={{text}}"));
    assert_eq!(started.body["resumePostUri"], format!("{status_uri}/resume?reason={{text}}"));
    assert_eq!(started.body["purgeHistoryDeleteUri"], status_uri);

    // 202 with Retry-After while it runs, then 200 once Completed.
    let done = api
        .poll(&id, |reply| {
            if reply.status == StatusCode::ACCEPTED {
                assert!(header(reply, "retry-after").is_some());
            }
            reply.status == StatusCode::OK
        })
        .await;
    assert_eq!(done.body["runtimeStatus"], "Completed");
    assert_eq!(done.body["name"], "retry_orchestrator");
    assert_eq!(done.body["instanceId"], id.as_str());
    assert_eq!(done.body["output"], "Succeeded with payload: demo");
    assert_eq!(done.body["input"], json!({"input": "demo", "fail_times": 0}));
    assert_eq!(done.body["createdTime"], "2023-11-14T22:13:20.000Z");
    assert!(done.body.get("historyEvents").is_none());

    let with_history = api.call(Method::GET, &format!("{INSTANCES}/{id}?showHistory=true&showInput=false"), None).await;
    let events = with_history.body["historyEvents"].as_array().expect("historyEvents");
    assert!(events.iter().any(|e| e["eventType"] == "ExecutionStarted"));
    assert!(events.iter().all(|e| e.get("output").is_none()), "outputs only with showHistoryOutput");
    assert_eq!(with_history.body["input"], Value::Null);
    let with_output =
        api.call(Method::GET, &format!("{INSTANCES}/{id}?showHistory=true&showHistoryOutput=true"), None).await;
    let completed = with_output.body["historyEvents"].as_array().expect("historyEvents");
    assert!(completed.iter().any(|e| e["eventType"] == "ExecutionCompleted" && e["output"] == done.body["output"]));

    // A chosen id; taking it again is a 409, whether the instance runs or has finished.
    let path = "/api/orchestrators/retry_orchestrator/order-42";
    assert_eq!(api.call(Method::POST, path, Some(input)).await.status, StatusCode::ACCEPTED);
    let again = api.call(Method::POST, path, Some(input)).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body["error"].as_str().expect("message").contains("already exists"), "{}", again.body);
    api.harness.stop().await;
}

/// Synchronous start (Durable Functions' `WaitForCompletionOrCreateCheckStatusResponseAsync`):
/// `200` and the status when the instance finishes in time, the usual `202` when it does not or
/// when the server stops, `400` for a bad wait with nothing started. The host polls for other
/// processes' work only once an hour here, so every answer in time came from a commit's wake-up.
#[tokio::test(flavor = "multi_thread")]
async fn wait_for_completion_answers_200_in_time_and_202_otherwise() {
    let options = Options { poll_interval: Duration::from_secs(3600), ..Options::cache(64) };
    let harness = Harness::with(options, &[guests::RETRY_PATTERN, guests::CALLBACK_WITH_TIMEOUT]).await;
    let config = ApiConfig::default();
    let stopping = config.stopping.clone();
    let api = Api::on(harness, config).await;
    let input = r#"{"input": "demo", "fail_times": 0}"#;

    let done = api.call(Method::POST, "/api/orchestrators/retry_orchestrator?waitForCompletion=60s", Some(input)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["runtimeStatus"], "Completed");
    assert_eq!(done.body["output"], "Succeeded with payload: demo");
    assert_eq!(done.body["input"], Value::Null, "the caller sent the input; the answer leaves it out");
    let id = done.body["instanceId"].as_str().expect("instanceId");
    assert_eq!(header(&done, "location"), Some(format!("{}{INSTANCES}/{id}", api.base).as_str()));

    // Waiting for an event that nobody raises: 202 and the check-status body once the wait is up.
    let job = r#"{"job": "build", "timeout_ms": 30000, "max_retries": 0}"#;
    let late = api.call(Method::POST, "/api/orchestrators/run_job/job-late?waitForCompletion=200ms", Some(job)).await;
    assert_eq!(late.status, StatusCode::ACCEPTED, "{}", late.body);
    assert_eq!(late.body["statusQueryGetUri"], format!("{}{INSTANCES}/job-late", api.base));
    assert!(header(&late, "retry-after").is_some());
    assert_eq!(api.call(Method::GET, &format!("{INSTANCES}/job-late"), None).await.body["runtimeStatus"], "Running");

    // Any end counts: terminated while the caller waits.
    let (terminated, ()) = tokio::join!(
        api.call(Method::POST, "/api/orchestrators/run_job/job-ended?waitForCompletion=60s", Some(job)),
        async {
            api.poll_status("job-ended", "Running").await;
            let reply =
                api.call(Method::POST, &format!("{INSTANCES}/job-ended/terminate?reason=cancelled"), None).await;
            assert_eq!(reply.status, StatusCode::ACCEPTED);
        }
    );
    assert_eq!(terminated.status, StatusCode::OK, "{}", terminated.body);
    assert_eq!(terminated.body["runtimeStatus"], "Terminated");

    // A bad or too long wait is refused before anything starts.
    let bad = api.call(Method::POST, "/api/orchestrators/run_job/job-bad?waitForCompletion=soon", Some(job)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body["error"].as_str().expect("message").contains("such as 30s"), "{}", bad.body);
    let long = api.call(Method::POST, "/api/orchestrators/run_job/job-bad?waitForCompletion=1h", Some(job)).await;
    assert_eq!(long.status, StatusCode::BAD_REQUEST);
    assert!(long.body["error"].as_str().expect("message").contains("at most 2m"), "{}", long.body);
    assert_eq!(api.call(Method::GET, &format!("{INSTANCES}/job-bad"), None).await.status, StatusCode::NOT_FOUND);

    // A stopping server answers the callers that wait at once.
    let (cut, ()) = tokio::join!(
        api.call(Method::POST, "/api/orchestrators/run_job/job-cut?waitForCompletion=60s", Some(job)),
        async {
            api.poll_status("job-cut", "Running").await;
            stopping.cancel();
        }
    );
    assert_eq!(cut.status, StatusCode::ACCEPTED, "{}", cut.body);
    api.harness.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn raise_suspend_resume_terminate_and_purge() {
    let api = Api::default(&[guests::CALLBACK_WITH_TIMEOUT]).await;
    let job = r#"{"job": "build", "timeout_ms": 30000, "max_retries": 0}"#;
    assert_eq!(
        api.call(Method::POST, "/api/orchestrators/run_job/job-1", Some(job)).await.status,
        StatusCode::ACCEPTED
    );
    api.poll_status("job-1", "Running").await;

    let suspend = api.call(Method::POST, &format!("{INSTANCES}/job-1/suspend?reason=maintenance"), None).await;
    assert_eq!(suspend.status, StatusCode::ACCEPTED);
    api.poll_status("job-1", "Suspended").await;
    let resume = api.call(Method::POST, &format!("{INSTANCES}/job-1/resume?reason=done"), None).await;
    assert_eq!(resume.status, StatusCode::ACCEPTED);
    api.poll_status("job-1", "Running").await;

    let raised =
        api.call(Method::POST, &format!("{INSTANCES}/job-1/raiseEvent/JobCompleted"), Some(r#"{"ok": true}"#)).await;
    assert_eq!(raised.status, StatusCode::ACCEPTED, "{}", raised.body);
    let done = api.poll("job-1", |reply| reply.status == StatusCode::OK).await;
    assert_eq!(done.body["runtimeStatus"], "Completed");
    assert_eq!(done.body["output"], json!({"status": "completed", "attempts": 1, "result": {"ok": true}}));

    // A finished instance takes no more management: 410.
    for operation in ["terminate", "suspend", "resume", "raiseEvent/JobCompleted"] {
        let reply = api.call(Method::POST, &format!("{INSTANCES}/job-1/{operation}"), None).await;
        assert_eq!(reply.status, StatusCode::GONE, "{operation}: {}", reply.body);
    }

    assert_eq!(
        api.call(Method::POST, "/api/orchestrators/run_job/job-2", Some(job)).await.status,
        StatusCode::ACCEPTED
    );
    api.poll_status("job-2", "Running").await;
    // Purging an instance that runs is refused until it is terminated.
    assert_eq!(api.call(Method::DELETE, &format!("{INSTANCES}/job-2"), None).await.status, StatusCode::CONFLICT);
    let terminate =
        api.call(Method::POST, &format!("{INSTANCES}/job-2/terminate?reason=no%20longer%20needed"), None).await;
    assert_eq!(terminate.status, StatusCode::ACCEPTED);
    let terminated = api.poll("job-2", |reply| reply.status == StatusCode::OK).await;
    assert_eq!(terminated.body["runtimeStatus"], "Terminated");

    let purged = api.call(Method::DELETE, &format!("{INSTANCES}/job-2"), None).await;
    assert_eq!(purged.status, StatusCode::OK);
    assert_eq!(purged.body, json!({"instancesDeleted": 1}));
    assert_eq!(api.call(Method::GET, &format!("{INSTANCES}/job-2"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.call(Method::DELETE, &format!("{INSTANCES}/job-2"), None).await.status, StatusCode::NOT_FOUND);
    api.harness.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn list_filters_and_pages() {
    let api = Api::default(&[guests::RETRY_PATTERN, guests::CALLBACK_WITH_TIMEOUT]).await;
    let input = r#"{"input": "demo", "fail_times": 0}"#;
    for id in ["list-a", "list-b", "list-c"] {
        let path = format!("/api/orchestrators/retry_orchestrator/{id}");
        assert_eq!(api.call(Method::POST, &path, Some(input)).await.status, StatusCode::ACCEPTED);
        api.poll_status(id, "Completed").await;
    }
    let job = r#"{"job": "build"}"#;
    assert_eq!(
        api.call(Method::POST, "/api/orchestrators/run_job/job-x", Some(job)).await.status,
        StatusCode::ACCEPTED
    );
    api.poll_status("job-x", "Running").await;

    let ids = |reply: &Reply| -> Vec<String> {
        let page = reply.body.as_array().unwrap_or_else(|| panic!("a JSON array: {}", reply.body));
        page.iter().map(|s| s["instanceId"].as_str().expect("instanceId").to_string()).collect()
    };
    let all = api.call(Method::GET, INSTANCES, None).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(ids(&all).len(), 4);

    let completed = api.call(Method::GET, &format!("{INSTANCES}?runtimeStatus=Completed,Failed"), None).await;
    let mut found = ids(&completed);
    found.sort();
    assert_eq!(found, ["list-a", "list-b", "list-c"]);
    let running = api.call(Method::GET, &format!("{INSTANCES}?runtimeStatus=Running&showInput=true"), None).await;
    assert_eq!(ids(&running), ["job-x"]);
    assert_eq!(running.body[0]["input"], json!({"job": "build"}));
    let by_name = api.call(Method::GET, &format!("{INSTANCES}?namePrefix=run_"), None).await;
    assert_eq!(ids(&by_name), ["job-x"]);

    // Two pages of two and one, chained by the continuation token.
    let first = api.call(Method::GET, &format!("{INSTANCES}?instanceIdPrefix=list-&top=2"), None).await;
    assert_eq!(ids(&first).len(), 2);
    let token = header(&first, "x-ms-continuation-token").expect("a continuation token").to_string();
    let second = api
        .call_with(
            Method::GET,
            &format!("{INSTANCES}?instanceIdPrefix=list-&top=2"),
            None,
            None,
            &[("x-ms-continuation-token", &token)],
        )
        .await;
    assert_eq!(ids(&second).len(), 1);
    assert!(header(&second, "x-ms-continuation-token").is_none());
    let mut pages = [ids(&first), ids(&second)].concat();
    pages.sort();
    assert_eq!(pages, ["list-a", "list-b", "list-c"]);

    // The test host's clock reads 2023-11-14T22:13:20Z.
    let before = api.call(Method::GET, &format!("{INSTANCES}?createdTimeTo=2023-11-14T22:00:00Z"), None).await;
    assert_eq!(ids(&before).len(), 0);
    let after = api.call(Method::GET, &format!("{INSTANCES}?createdTimeFrom=2023-11-14T22:00:00Z"), None).await;
    assert_eq!(ids(&after).len(), 4);

    for bad in ["runtimeStatus=Sleeping", "createdTimeFrom=yesterday", "top=many"] {
        let reply = api.call(Method::GET, &format!("{INSTANCES}?{bad}"), None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // Bulk purge: finished instances only, and never without a filter.
    let bare = api.call(Method::DELETE, INSTANCES, None).await;
    assert_eq!(bare.status, StatusCode::BAD_REQUEST);
    assert!(bare.body["error"].as_str().unwrap().contains("at least one filter"), "{}", bare.body);
    let unfinished = api.call(Method::DELETE, &format!("{INSTANCES}?runtimeStatus=Running"), None).await;
    assert_eq!(unfinished.status, StatusCode::BAD_REQUEST);
    let none = api.call(Method::DELETE, &format!("{INSTANCES}?createdTimeTo=2023-11-14T22:00:00Z"), None).await;
    assert_eq!(none.body, json!({"instancesDeleted": 0}));
    let purged = api.call(Method::DELETE, &format!("{INSTANCES}?createdTimeFrom=2023-11-14T22:00:00Z"), None).await;
    assert_eq!(purged.status, StatusCode::OK);
    assert_eq!(purged.body, json!({"instancesDeleted": 3}), "the three completed ones, not the running job");
    assert_eq!(ids(&api.call(Method::GET, INSTANCES, None).await), ["job-x"]);
    api.harness.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_clear_statuses() {
    let config = ApiConfig { max_body_bytes: 1024, ..ApiConfig::default() };
    let api = Api::new(config, &[guests::RETRY_PATTERN]).await;
    let start = "/api/orchestrators/retry_orchestrator";

    let bad_json = api.call(Method::POST, start, Some(r#"{"input": "demo""#)).await;
    assert_eq!(bad_json.status, StatusCode::BAD_REQUEST);
    assert!(bad_json.body["error"].as_str().expect("message").contains("not valid JSON"), "{}", bad_json.body);

    let unknown = api.call(Method::POST, "/api/orchestrators/no_such_thing", Some("null")).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body["error"].as_str().expect("message").contains("retry_orchestrator"), "{}", unknown.body);

    let oversized = format!(r#"{{"input": "{}"}}"#, "x".repeat(2048));
    let too_large = api.call(Method::POST, start, Some(&oversized)).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", too_large.body);

    assert_eq!(api.call(Method::GET, &format!("{INSTANCES}/nobody"), None).await.status, StatusCode::NOT_FOUND);
    for operation in ["terminate", "suspend", "resume", "raiseEvent/Any"] {
        let reply = api.call(Method::POST, &format!("{INSTANCES}/nobody/{operation}"), None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{operation}");
    }
    assert_eq!(api.call(Method::GET, "/no/such/endpoint", None).await.status, StatusCode::NOT_FOUND);

    // A failure shows its type and message only: no details, no causes (seed 000).
    let failing = r#"{"input": "demo", "fail_times": 5, "max_attempts": 1}"#;
    assert_eq!(api.call(Method::POST, &format!("{start}/fails"), Some(failing)).await.status, StatusCode::ACCEPTED);
    let failed = api.poll_status("fails", "Failed").await;
    assert_eq!(failed.status, StatusCode::OK);
    let output = failed.body["output"].as_object().expect("a failure object");
    assert_eq!(output.keys().collect::<Vec<_>>(), ["errorMessage", "errorType"]);
    assert_eq!(output["errorType"], "ActivityFailed");
    let history =
        api.call(Method::GET, &format!("{INSTANCES}/fails?showHistory=true&showHistoryOutput=true"), None).await;
    for body in [&failed.body, &history.body] {
        let text = body.to_string();
        assert!(!text.contains("attempt 1") && !text.contains("causes"), "details leaked: {text}");
    }
    api.harness.stop().await;

    // --expose-failure-details shows them.
    let config = ApiConfig { expose_failure_details: true, ..ApiConfig::default() };
    let api = Api::new(config, &[guests::RETRY_PATTERN]).await;
    assert_eq!(api.call(Method::POST, &format!("{start}/fails"), Some(failing)).await.status, StatusCode::ACCEPTED);
    let failed = api.poll_status("fails", "Failed").await;
    assert_eq!(failed.body["output"]["causes"][0]["errorType"], "TransientFailure");
    assert_eq!(failed.body["output"]["causes"][0]["details"], "attempt 1");
    api.harness.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_guards_every_endpoint() {
    let config = ApiConfig { token: Some("s3cret".into()), ..ApiConfig::default() };
    let api = Api::new(config, &[guests::RETRY_PATTERN]).await;
    for path in ["/openapi.json", INSTANCES, "/no/such/endpoint"] {
        for token in [None, Some("wrong")] {
            let reply = api.call_with(Method::GET, path, None, token, &[]).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path} with {token:?}");
            assert_eq!(header(&reply, "www-authenticate"), Some("Bearer"));
        }
    }
    let start = api.call_with(Method::POST, "/api/orchestrators/retry_orchestrator", Some("null"), None, &[]).await;
    assert_eq!(start.status, StatusCode::UNAUTHORIZED);
    assert!(api.harness.host.store().list_instances(&Default::default()).expect("list").is_empty());

    let spec = api.call(Method::GET, "/openapi.json", None).await;
    assert_eq!(spec.status, StatusCode::OK);
    assert_eq!(spec.body["openapi"], "3.0.3");
    assert!(spec.body["paths"]["/runtime/webhooks/durabletask/instances/{instanceId}"].is_object());
    api.harness.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reprise_serve_listen_serves_the_api() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_reprise-under-test"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("reprise.db"))
        .args(["--component", guests::RETRY_PATTERN])
        .env("REPRISE_TOKEN", "from-env")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reprise serve");
    let stderr = child.stderr.take().expect("stderr");
    let child = Killed(child);
    let base =
        tokio::task::spawn_blocking(move || crate::harness::listening_address(stderr)).await.expect("read stderr");
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let get = |token: Option<&str>| {
        let mut request = Request::get(format!("{base}/openapi.json"));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        client.request(request.body(Full::new(Bytes::new())).expect("request"))
    };
    assert_eq!(get(None).await.expect("request").status(), StatusCode::UNAUTHORIZED);
    assert_eq!(get(Some("from-env")).await.expect("request").status(), StatusCode::OK);
    drop(child);
}

const ENTITIES: &str = "/runtime/webhooks/durabletask/entities";

#[tokio::test(flavor = "multi_thread")]
async fn entities_are_signalled_read_and_listed_over_http() {
    let api = Api::default(&[guests::ENTITIES]).await;
    for amount in ["5", "7"] {
        let signalled = api.call(Method::POST, &format!("{ENTITIES}/Counter/web?op=add"), Some(amount)).await;
        assert_eq!(signalled.status, StatusCode::ACCEPTED, "{}", signalled.body);
    }
    // Read until both operations ran (the state is the body).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let state = loop {
        let got = api.call(Method::GET, &format!("{ENTITIES}/Counter/web"), None).await;
        if got.status == StatusCode::OK && got.body == json!({"value": 12}) {
            break got;
        }
        assert!(tokio::time::Instant::now() < deadline, "the entity never reached 12: {}", got.body);
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(header(&state, "content-type"), Some("application/json"));

    let listed = api.call(Method::GET, &format!("{ENTITIES}/Counter?keyPrefix=we"), None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body[0]["entityId"], json!({"name": "Counter", "key": "web"}));
    assert_eq!(listed.body[0]["state"], json!({"value": 12}));
    assert_eq!(listed.body[0]["operations"], json!(2));
    let all = api.call(Method::GET, ENTITIES, None).await;
    assert_eq!(all.body.as_array().map(Vec::len), Some(1));

    // Clear errors: no operation, an unknown type, malformed JSON, a missing entity, and an
    // entity named where an orchestration instance is expected.
    let no_op = api.call(Method::POST, &format!("{ENTITIES}/Counter/web"), Some("1")).await;
    assert_eq!(no_op.status, StatusCode::BAD_REQUEST);
    assert!(no_op.body["error"].as_str().unwrap().contains("?op="), "{}", no_op.body);
    let unknown = api.call(Method::POST, &format!("{ENTITIES}/Timer/t?op=add"), Some("1")).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body["error"].as_str().unwrap().contains("known entities: Account, Counter"), "{}", unknown.body);
    let malformed = api.call(Method::POST, &format!("{ENTITIES}/Counter/web?op=add"), Some("{")).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    let missing = api.call(Method::GET, &format!("{ENTITIES}/Counter/nobody"), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let not_an_instance = api.call(Method::POST, &format!("{INSTANCES}/%40Counter%40web/terminate"), None).await;
    assert_eq!(not_an_instance.status, StatusCode::BAD_REQUEST, "{}", not_an_instance.body);
    let no_status = api.call(Method::GET, &format!("{INSTANCES}/%40Counter%40web"), None).await;
    assert_eq!(no_status.status, StatusCode::BAD_REQUEST, "{}", no_status.body);
    assert!(no_status.body["error"].as_str().unwrap().contains("is an entity"), "{}", no_status.body);
    api.harness.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn payload_numbers_come_back_exactly_as_they_were_sent() {
    let api = Api::default(&[guests::MISBEHAVING]).await;
    let given = ["0.9570227765943855", "12345678901234567890123", "1e400", "-0.10", "2E-7"];
    let input = format!("[{}]", given.join(","));
    let started = api.call(Method::POST, "/api/orchestrators/echo_raw/exact", Some(&input)).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
    let done = api.poll("exact", |reply| reply.status == StatusCode::OK).await;
    assert!(done.text.contains(&format!(r#""input":{input}"#)), "{}", done.text);
    assert!(done.text.contains(&format!(r#""output":{{"activity":{input},"entity":{input}}}"#)), "{}", done.text);
    let history =
        api.call(Method::GET, &format!("{INSTANCES}/exact?showHistory=true&showHistoryOutput=true"), None).await;
    for number in given {
        assert!(history.text.matches(number).count() >= 7, "history keeps {number}: {}", history.text);
    }
    let entity = api.call(Method::GET, "/runtime/webhooks/durabletask/entities/Keeper/exact", None).await;
    assert_eq!(entity.text, format!(r#"{{"value":{input}}}"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_shows_one_line_and_its_backtrace_only_when_details_are_exposed() {
    for expose in [false, true] {
        let config = ApiConfig { expose_failure_details: expose, ..ApiConfig::default() };
        let api = Api::new(config, &[guests::MISBEHAVING]).await;
        let started = api.call(Method::POST, "/api/orchestrators/deep_recursion/overflow", Some("1000")).await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.text);
        let done = api.poll("overflow", |reply| reply.status == StatusCode::OK).await;
        assert_eq!(done.body["runtimeStatus"], "Failed");
        let message = done.body["output"]["errorMessage"].as_str().expect("a message");
        assert!(message.contains("stack overflow") && !message.contains('\n'), "{message}");
        assert!(!done.text.contains(r"\n") || expose, "no multi-line text unless exposed: {}", done.text);
        assert_eq!(done.text.contains("wasm backtrace"), expose, "{}", done.text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rewind_and_restart_over_http() {
    let api = Api::default(&[guests::CALLBACK_WITH_TIMEOUT]).await;
    let job = r#"{"job": "build", "timeout_ms": 30000, "max_retries": 0}"#;
    let started = api.call(Method::POST, "/api/orchestrators/run_job/job-1", Some(job)).await;
    let status_uri = format!("{}{INSTANCES}/job-1", api.base);
    assert_eq!(started.body["rewindPostUri"], format!("{status_uri}/rewind?reason={{text}}"));
    assert_eq!(started.body["restartPostUri"], format!("{status_uri}/restart?restartWithNewInstanceId={{bool}}"));
    api.poll_status("job-1", "Running").await;

    // Only a Failed instance is rewound; only a finished one restarts under its own id.
    let running = api.call(Method::POST, &format!("{INSTANCES}/job-1/rewind?reason=why"), None).await;
    assert_eq!(running.status, StatusCode::CONFLICT, "{}", running.body);
    assert!(
        running.body["error"].as_str().unwrap().contains("only a Failed instance can be rewound"),
        "{}",
        running.body
    );
    let same_id =
        api.call(Method::POST, &format!("{INSTANCES}/job-1/restart?restartWithNewInstanceId=false"), None).await;
    assert_eq!(same_id.status, StatusCode::CONFLICT, "{}", same_id.body);
    for operation in ["rewind", "restart"] {
        let unknown = api.call(Method::POST, &format!("{INSTANCES}/nobody/{operation}"), None).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{operation}: {}", unknown.body);
    }
    let bad = api.call(Method::POST, &format!("{INSTANCES}/job-1/restart?restartWithNewInstanceId=maybe"), None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);

    // A restart with a new id (the default) leaves the old instance alone.
    let restarted = api.call(Method::POST, &format!("{INSTANCES}/job-1/restart"), None).await;
    assert_eq!(restarted.status, StatusCode::ACCEPTED, "{}", restarted.body);
    let new_id = restarted.body["id"].as_str().unwrap().to_string();
    assert_ne!(new_id, "job-1");
    assert_eq!(header(&restarted, "location"), restarted.body["statusQueryGetUri"].as_str());
    let new = api.poll_status(&new_id, "Running").await;
    assert_eq!(new.body["input"], json!({"job": "build", "timeout_ms": 30000, "max_retries": 0}));
    assert_eq!(api.poll_status("job-1", "Running").await.body["runtimeStatus"], "Running");

    // A failed instance (its only send was rejected) is rewound: its send runs again.
    let rejected = r#"{"job": "reject-me", "timeout_ms": 30000, "max_retries": 0}"#;
    api.call(Method::POST, "/api/orchestrators/run_job/job-2", Some(rejected)).await;
    api.poll_status("job-2", "Failed").await;
    let rewound = api.call(Method::POST, &format!("{INSTANCES}/job-2/rewind?reason=try%20again"), None).await;
    assert_eq!(rewound.status, StatusCode::ACCEPTED, "{}", rewound.body);
    let history = |h: &[reprise_core::HistoryEvent]| {
        h.iter()
            .any(|e| matches!(&e.event, reprise_core::Event::ExecutionRewound { reason, .. } if reason == "try again"))
            && matches!(h.last().map(|e| &e.event), Some(reprise_core::Event::ExecutionFailed { .. }))
    };
    api.harness.until_history("job-2", history).await;
    // Under its own id, a finished instance starts again from the beginning.
    let again =
        api.call(Method::POST, &format!("{INSTANCES}/job-2/restart?restartWithNewInstanceId=false"), None).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    assert_eq!(again.body["id"], "job-2");
    api.harness.stop().await;
}

/// The console behind a token: a browser without it is sent to the sign-in page, which checks it
/// and keeps it in a cookie that then opens the pages and the API; the assets need none.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_signs_in_with_the_token_and_serves_its_pages() {
    let config = ApiConfig { token: Some("s3cret".into()), ..ApiConfig::default() };
    let api = Api::new(config, &[guests::RETRY_PATTERN]).await;
    let html = [("accept", "text/html,application/xhtml+xml")];
    let page = api.call_with(Method::GET, "/", None, None, &html).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(header(&page, "location"), Some("/login"));
    assert_eq!(api.call_with(Method::GET, "/", None, None, &[]).await.status, StatusCode::UNAUTHORIZED);
    let form = api.call_with(Method::GET, "/login", None, None, &html).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains(r#"name="token""#), "{}", form.text);
    assert_eq!(api.call_with(Method::GET, "/assets/console.js", None, None, &[]).await.status, StatusCode::OK);

    let urlencoded = [("content-type", "application/x-www-form-urlencoded")];
    let wrong = api.call_with(Method::POST, "/login", Some("token=guess"), None, &urlencoded).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(header(&wrong, "set-cookie").is_none());
    let signed = api.call_with(Method::POST, "/login", Some("token=s3cret"), None, &urlencoded).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let cookie = header(&signed, "set-cookie").expect("a cookie").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_string();

    let input = r#"{"input": "demo", "fail_times": 0}"#;
    let started = api
        .call_with(
            Method::POST,
            "/api/orchestrators/retry_orchestrator/shown",
            Some(input),
            None,
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "the cookie opens the API too");
    api.harness.finished("shown").await;
    let list = api.call_with(Method::GET, "/", None, None, &[("cookie", &cookie)]).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.text.contains(r#"data-instance-id="shown""#), "{}", list.text);
    let one = api.call_with(Method::GET, "/instances/shown", None, None, &[("cookie", &cookie)]).await;
    assert_eq!(one.status, StatusCode::OK);
    assert!(
        one.text.contains(r#"id="timeline""#) && one.text.contains(r#"data-name="flaky_activity""#),
        "{}",
        one.text
    );
    let missing = api.call_with(Method::GET, "/instances/nobody", None, None, &[("cookie", &cookie)]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    for page in ["/entities", "/components"] {
        assert_eq!(
            api.call_with(Method::GET, page, None, None, &[("cookie", &cookie)]).await.status,
            StatusCode::OK,
            "{page}"
        );
    }
    api.harness.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_are_answered_refused_and_followed_over_http() {
    // A host that never polls: every answer in time comes from the commit's wake-up.
    let options = Options { poll_interval: Duration::from_secs(3600), ..Options::cache(64) };
    let api = Api::on(Harness::with(options, &[guests::UPDATES]).await, ApiConfig::default()).await;
    api.harness.start("acct", "account", json!({"limit": 100})).await;

    let answered = api.call(Method::POST, &format!("{INSTANCES}/acct/update/deposit?updateId=d1"), Some("5")).await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    assert_eq!(answered.body["status"], "Completed");
    assert_eq!(answered.body["output"], 5);
    assert_eq!(answered.body["updateId"], "d1");
    assert_eq!(answered.body["statusQueryGetUri"], format!("{}{INSTANCES}/acct/updates/d1", api.base));

    let failed = api.call(Method::POST, &format!("{INSTANCES}/acct/update/deposit"), Some("13")).await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    assert_eq!(failed.body["status"], "Failed");
    assert_eq!(failed.body["failure"]["errorType"], "Unlucky");

    // Refused by the validator: 422 with its failure, and no record to follow.
    let refused = api.call(Method::POST, &format!("{INSTANCES}/acct/update/deposit?updateId=d0"), Some("0")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(refused.body["failure"]["errorType"], "NotPositive");
    assert!(refused.body["error"].as_str().unwrap().contains("nothing was recorded"), "{}", refused.body);
    let none = api.call(Method::GET, &format!("{INSTANCES}/acct/updates/d0"), None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.body);

    // Not answered in time: 202 with where to follow it; the GET waits for the answer.
    api.harness.start("deaf", "deaf", json!(null)).await;
    let pending =
        api.call(Method::POST, &format!("{INSTANCES}/deaf/update/deposit?updateId=u&wait=0s"), Some("1")).await;
    assert_eq!(pending.status, StatusCode::ACCEPTED, "{}", pending.body);
    assert_eq!(pending.body["status"], "Pending");
    assert_eq!(header(&pending, "location"), Some(format!("{}{INSTANCES}/deaf/updates/u", api.base).as_str()));
    let follow = format!("{INSTANCES}/deaf/updates/u?wait=60s");
    let (followed, ()) = tokio::join!(api.call(Method::GET, &follow, None), async {
        let raised = api.call(Method::POST, &format!("{INSTANCES}/deaf/raiseEvent/stop"), Some("null")).await;
        assert_eq!(raised.status, StatusCode::ACCEPTED);
    });
    assert_eq!(followed.status, StatusCode::OK, "{}", followed.body);
    assert_eq!(followed.body["status"], "Unanswered");

    // Bad parameters and missing instances.
    let bad = api.call(Method::POST, &format!("{INSTANCES}/acct/update/deposit?wait=soon"), Some("1")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let missing = api.call(Method::POST, &format!("{INSTANCES}/nobody/update/deposit"), Some("1")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    let not_json = api.call(Method::POST, &format!("{INSTANCES}/acct/update/deposit"), Some("{oops")).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST, "{}", not_json.body);
    api.harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_are_managed_under_api_schedules() {
    let api = Api::default(&[guests::CHAIN]).await;
    let body =
        r#"{"name": "ticks", "orchestrator": "chain", "input": {"steps": 1}, "every": "1m", "overlap": "allow"}"#;
    let created = api.call(Method::POST, "/api/schedules", Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.body["trigger"], json!({"everyMs": 60_000}));
    assert_eq!(created.body["input"], json!({"steps": 1}));
    assert_eq!(created.body["next"].as_array().map(Vec::len), Some(5));
    let again = api.call(Method::POST, "/api/schedules", Some(body)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
    let bad = r#"{"name": "bad", "orchestrator": "chain", "cron": "0 * * * *", "timezone": "Nowhere/Atlantis"}"#;
    let bad = api.call(Method::POST, "/api/schedules", Some(bad)).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body["error"].as_str().unwrap().contains("unknown time zone"), "{}", bad.text);

    let list = api.call(Method::GET, "/api/schedules", None).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1), "{}", list.text);
    let triggered = api.call(Method::POST, "/api/schedules/ticks/trigger", None).await;
    assert_eq!(triggered.status, StatusCode::ACCEPTED, "{}", triggered.text);
    assert_eq!(triggered.body["id"], "ticks@manual-1");
    api.harness.finished("ticks@manual-1").await;
    let described = api.call(Method::GET, "/api/schedules/ticks", None).await;
    assert_eq!(described.body["runs"][0]["instanceId"], "ticks@manual-1");
    assert_eq!(described.body["runs"][0]["status"], "Completed");
    assert_eq!(described.body["counts"]["fired"], 1);

    assert_eq!(api.call(Method::POST, "/api/schedules/ticks/pause", None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.call(Method::GET, "/api/schedules/ticks", None).await.body["paused"], true);
    assert_eq!(api.call(Method::POST, "/api/schedules/ticks/resume", None).await.status, StatusCode::NO_CONTENT);
    let future = api
        .call(
            Method::POST,
            "/api/schedules/ticks/backfill",
            Some(r#"{"from": "2999-01-01T00:00:00Z", "to": "2999-01-02T00:00:00Z"}"#),
        )
        .await;
    assert_eq!(future.status, StatusCode::BAD_REQUEST, "{}", future.text);
    assert_eq!(api.call(Method::DELETE, "/api/schedules/ticks", None).await.status, StatusCode::NO_CONTENT);
    let gone = api.call(Method::GET, "/api/schedules/ticks", None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.body["error"].as_str().unwrap().contains("no schedule named 'ticks'"));
}
