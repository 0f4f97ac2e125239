//! Seed 001 for real: the `job-service` guest's orchestrator sends a job to a job service with
//! a real HTTP POST from its activity, and the service calls back when the job is done, through
//! the host's HTTP API (`raiseEvent`), which completes the orchestration. Both paths.

use super::server::{Seen, Server};
use crate::harness::{BOTH_PATHS, Harness, Options, output};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use reprise_runtime::ActivityGrants;
use reprise_runtime::http::{HttpAccess, HttpGrants};
use reprise_tests::guests;
use serde_json::{Value, json};
use std::sync::Arc;

/// `POST /jobs`: accepts a job (refuses one whose name holds "reject" with 422) and, a moment
/// later, posts its result to the job's callback URL, as the external system of seed 001 does.
async fn jobs(State(_seen): State<Arc<Seen>>, Json(job): Json<Value>) -> (StatusCode, Json<Value>) {
    let name = job["job"].as_str().unwrap_or_default().to_string();
    if name.contains("reject") {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "error": "the job is not valid" })));
    }
    let id = format!("{name}-{}", job["attempt"]);
    let callback = job["callback"].as_str().expect("the job names its callback").to_string();
    let result = json!({ "job_id": id, "rows": 1234 });
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let request = hyper::Request::post(callback)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(result.to_string())))
            .unwrap();
        let response = client.request(request).await.expect("the callback reaches the host");
        assert_eq!(response.status(), StatusCode::ACCEPTED, "raiseEvent accepted the callback");
    });
    (StatusCode::CREATED, Json(json!({ "id": id })))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_001_a_job_started_over_http_completes_by_its_callback_on_both_paths() {
    let service = Server::with(axum::Router::new().route("/jobs", post(jobs))).await;
    for cache in BOTH_PATHS {
        let grant = format!("POST {}/jobs", service.base).parse().unwrap();
        let access = HttpAccess { grants: HttpGrants::new(vec![grant]), ..HttpAccess::default() };
        let options = Options {
            cache,
            grants: ActivityGrants { http: Arc::new(access), ..ActivityGrants::default() },
            ..Options::cache(cache)
        };
        let harness = Harness::with(options, &[guests::JOB_SERVICE]).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let router = reprise_http::router(harness.host.clone(), reprise_http::ApiConfig::default());
        let api_task = tokio::spawn(reprise_http::serve(listener, router, std::future::pending()));

        let id = format!("job-{cache}");
        let input = json!({ "job": "nightly-report", "service": service.base, "callback": api, "timeout_ms": 600_000 });
        let record = harness.run(&id, "run_job", input).await;
        let done = output(&record);
        assert_eq!(done["status"], "completed");
        assert_eq!(done["attempts"], 1);
        assert_eq!(done["job_id"], "nightly-report-1");
        assert_eq!(done["result"], json!({ "job_id": "nightly-report-1", "rows": 1234 }));

        let rejected = harness.run(&format!("reject-{cache}"), "run_job", json!({
            "job": "reject-me", "service": service.base, "callback": api, "timeout_ms": 600_000, "max_retries": 0,
        }))
        .await;
        let failure = rejected.failure.expect("a rejected job fails");
        assert!(failure.to_string().contains("JobRejected"), "{failure}");
        api_task.abort();
        harness.stop().await;
    }
    assert_eq!(service.seen.count("/jobs"), 4, "one POST per job per path (a rejection is not retried)");
}
