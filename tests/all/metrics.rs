//! `/metrics`: the real router over a real host, scraped before, during and after a workload
//! whose figures are known (a retried activity, a timer, an entity operation, HTTP requests);
//! the values must move exactly as the workload says.

use crate::harness::Harness;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use reprise_core::EntityId;
use reprise_http::ApiConfig;
use reprise_tests::guests;
use std::collections::BTreeMap;
use std::time::Duration;

/// A scrape: each sample line's name with labels, and its value.
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample line: {line}"));
                (name.to_string(), value.parse().unwrap_or_else(|_| panic!("a number: {line}")))
            })
            .collect();
        Scrape(samples)
    }

    /// The sample's value; 0 for a labelled sample not seen yet (its counter has not moved).
    fn get(&self, sample: &str) -> f64 {
        self.0.get(sample).copied().unwrap_or(0.0)
    }
}

struct Server {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Server {
    async fn call(&self, method: Method, path: &str, body: &str) -> (StatusCode, String, String) {
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("request");
        let response = self.client.request(request).await.expect("send the request");
        let status = response.status();
        let content_type =
            response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let bytes = response.into_body().collect().await.expect("read the body").to_bytes();
        (status, content_type, String::from_utf8(bytes.to_vec()).expect("UTF-8"))
    }

    async fn scrape(&self) -> Scrape {
        let (status, content_type, text) = self.call(Method::GET, "/metrics", "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        Scrape::parse(&text)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_move_as_the_workload_says() {
    let harness = Harness::new(64, &[guests::RETRY_PATTERN, guests::CALLBACK_WITH_TIMEOUT, guests::ENTITIES]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("bound address"));
    let router = reprise_http::router(harness.host.clone(), ApiConfig::default());
    tokio::spawn(reprise_http::serve(listener, router, std::future::pending()));
    let server = Server { base, client: Client::builder(TokioExecutor::new()).build_http() };

    let before = server.scrape().await;
    // The labels known ahead are there at zero from the start.
    assert_eq!(before.0.get(r#"reprise_episodes_total{kind="orchestration",outcome="committed"}"#), Some(&0.0));
    assert_eq!(before.0.get(r#"reprise_instances{status="Completed"}"#), Some(&0.0));

    // A job that waits for a callback under a timeout: one timer pending while it waits.
    let job = r#"{"job": "build", "timeout_ms": 30000, "max_retries": 0}"#;
    let (status, _, _) = server.call(Method::POST, "/api/orchestrators/run_job/job-1", job).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let waiting = loop {
        let scrape = server.scrape().await;
        if scrape.get("reprise_timers_pending") == 1.0 {
            break scrape;
        }
        assert!(tokio::time::Instant::now() < deadline, "the job's timer never showed as pending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(waiting.get(r#"reprise_instances{status="Running"}"#), 1.0);
    assert_eq!(waiting.get(r#"reprise_activity_attempts_total{activity="send_job",outcome="completed"}"#), 1.0);
    let raise = "/runtime/webhooks/durabletask/instances/job-1/raiseEvent/JobCompleted";
    assert_eq!(server.call(Method::POST, raise, r#"{"ok": true}"#).await.0, StatusCode::ACCEPTED);
    harness.finished("job-1").await;

    // An activity that fails once and is retried by the host after 1 s of (virtual) time.
    let input = r#"{"input": "demo", "fail_times": 1, "first_retry_ms": 1000}"#;
    let (status, _, _) = server.call(Method::POST, "/api/orchestrators/retry_orchestrator/retried", input).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    harness.finished_moving_time("retried").await;

    // One entity operation.
    let signal = "/runtime/webhooks/durabletask/entities/Counter/metrics?op=add";
    assert_eq!(server.call(Method::POST, signal, "5").await.0, StatusCode::ACCEPTED);
    harness.host.wait_entity_idle(&EntityId::new("Counter", "metrics").unwrap()).await.expect("the entity ran");

    let (_, _, text) = server.call(Method::GET, "/metrics", "").await;
    for family in ["reprise_episodes_total", "reprise_activity_attempts_total", "reprise_http_requests_total"] {
        assert!(text.contains(&format!("# TYPE {family} counter")), "{family}: {text}");
    }
    for family in ["reprise_episode_duration_seconds", "reprise_activity_attempt_duration_seconds"] {
        assert!(text.contains(&format!("# TYPE {family} histogram")), "{family}: {text}");
    }
    let after = Scrape::parse(&text);
    let moved = |sample: &str| after.get(sample) - before.get(sample);
    assert_eq!(after.get(r#"reprise_instances{status="Completed"}"#), 2.0);
    assert_eq!(after.get("reprise_timers_pending"), 0.0);
    assert_eq!(moved(r#"reprise_activity_attempts_total{activity="flaky_activity",outcome="retrying"}"#), 1.0);
    assert_eq!(moved(r#"reprise_activity_attempts_total{activity="flaky_activity",outcome="completed"}"#), 1.0);
    assert_eq!(moved(r#"reprise_activity_attempt_duration_seconds_count{activity="flaky_activity"}"#), 2.0);
    assert_eq!(moved(r#"reprise_retries_scheduled_total{kind="activity"}"#), 1.0);
    assert_eq!(moved(r#"reprise_entity_operations_total{entity="Counter"}"#), 1.0);
    // Each instance committed at least its start and its end; the entity its batch.
    assert!(moved(r#"reprise_episodes_total{kind="orchestration",outcome="committed"}"#) >= 4.0);
    assert!(moved(r#"reprise_episodes_total{kind="entity",outcome="committed"}"#) >= 1.0);
    assert!(moved(r#"reprise_episode_duration_seconds_count{kind="orchestration"}"#) >= 4.0);
    // After their first episode the instances stay parked: later episodes are hits.
    assert!(moved("reprise_cache_hits_total") >= 2.0);
    assert!(moved("reprise_store_fsyncs_total") >= 4.0);
    assert!(moved("reprise_store_commits_total") >= moved("reprise_store_fsyncs_total"));
    assert!(moved("reprise_store_writer_busy_seconds_total") > 0.0);
    let started =
        r#"reprise_http_requests_total{method="POST",route="/api/orchestrators/{name}/{instance_id}",status="202"}"#;
    assert_eq!(moved(started), 2.0, "{:?}", after.0.keys().filter(|k| k.contains("http")).collect::<Vec<_>>());
    let scrapes = r#"reprise_http_requests_total{method="GET",route="/metrics",status="200"}"#;
    assert!(moved(scrapes) >= 2.0);
    harness.stop().await;
}
