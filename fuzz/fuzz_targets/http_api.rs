//! The HTTP API: a request whose method, path (route templates filled with fuzzed, percent-
//! encoded segments, ids of instances started earlier), query, headers and body the fuzzer
//! chooses, sent to the real router over a real host (its workers running) on a SQLite file with
//! the `entities` and `callback-with-timeout` guests loaded. Every request is answered within a
//! minute with a status below 500, and an error body is the API's `{"error": ...}`. Every 2,000
//! inputs the database must pass `PRAGMA integrity_check` and hold no half-written instance
//! (each orchestration has its `Start` message or its history, each entity its row).
//!
//! The guests come from `REPRISE_FUZZ_GUESTS` (a directory holding `entities.wasm` and
//! `callback_with_timeout.wasm`), by default `../target/guests/wasm32-wasip2/release`, where
//! `cargo xtask build-guests` puts them.

#![no_main]

use arbitrary::{Result, Unstructured};
use axum::body::Body;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use reprise_core::InstanceId;
use reprise_executor::{ExecutorConfig, Host, StartRequest, SystemClock, Workers};
use reprise_http::ApiConfig;
use reprise_runtime::{Runtime, RuntimeConfig};
use reprise_store::SqliteStore;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tower::ServiceExt;

const INSTANCES: &str = "/runtime/webhooks/durabletask/instances";
const ENTITIES: &str = "/runtime/webhooks/durabletask/entities";
const MAX_BODY: usize = 16 * 1024;
const SEGMENTS: &[&str] =
    &["run_job", "counter_orchestration", "Counter", "Account", "nope", "@Counter@k", "@", "..", "%", "a/b", ""];
const QUERY_KEYS: &[&str] = &[
    "showHistory",
    "showHistoryOutput",
    "showInput",
    "runtimeStatus",
    "createdTimeFrom",
    "createdTimeTo",
    "instanceIdPrefix",
    "namePrefix",
    "top",
    "op",
    "reason",
    "cascade",
    "keyPrefix",
    "includeDeleted",
];
const QUERY_VALUES: &[&str] = &[
    "true",
    "false",
    "1",
    "0",
    "-1",
    "18446744073709551616",
    "Running",
    "Completed,Failed",
    "2024-01-31T12:00:00Z",
    "9999-12-31T23:59:59Z",
    "add",
    "",
];
const METHODS: &[&str] = &["GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS", "FOO"];

struct World {
    runtime: tokio::runtime::Runtime,
    db: PathBuf,
    inputs: AtomicUsize,
    router: axum::Router,
    known: Mutex<Vec<String>>,
    _workers: Workers,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let guests = std::env::var_os("REPRISE_FUZZ_GUESTS").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests/wasm32-wasip2/release")
        });
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = dir.path().join("fuzz.db");
        let store = Arc::new(SqliteStore::open(&db).expect("open the store"));
        let wasm = Arc::new(Runtime::new(RuntimeConfig::default()).expect("create the runtime"));
        let host = Host::new(store, wasm, Arc::new(SystemClock), ExecutorConfig::default());
        let (workers, known) = runtime.block_on(async {
            for guest in ["entities.wasm", "callback_with_timeout.wasm"] {
                let path = guests.join(guest);
                host.load_component_file(&path).await.unwrap_or_else(|error| {
                    panic!(
                        "cannot load {} (run `cargo xtask build-guests` or set REPRISE_FUZZ_GUESTS): {error}",
                        path.display()
                    )
                });
            }
            let workers = host.spawn_workers();
            let input = r#"{"job": "j", "timeout_ms": 600000}"#.to_string();
            let request = StartRequest {
                orchestrator: "run_job".into(),
                input,
                instance_id: Some(InstanceId::new("waiting").expect("a valid id")),
            };
            let id = host.start(request).await.expect("start an instance that waits");
            (workers, vec![id.into_string()])
        });
        let config = ApiConfig { max_body_bytes: MAX_BODY, ..ApiConfig::default() };
        let router = reprise_http::router(host, config);
        World {
            runtime,
            db,
            inputs: AtomicUsize::new(0),
            router,
            known: Mutex::new(known),
            _workers: workers,
            _dir: dir,
        }
    })
}

/// Panics unless the database is whole and every instance in it complete.
fn assert_whole(db: &std::path::Path) {
    let conn = rusqlite::Connection::open(db).expect("open the database");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).expect("integrity check");
    assert_eq!(check, "ok", "the database is damaged");
    let tx = conn.unchecked_transaction().expect("a consistent read");
    let half_written: Vec<String> = tx
        .prepare(
            "SELECT i.instance_id FROM instances i WHERE CASE WHEN substr(i.instance_id, 1, 1) = '@' \
                 THEN NOT EXISTS (SELECT 1 FROM entities e WHERE e.instance_id = i.instance_id) \
                 ELSE i.history_len <> (SELECT count(*) FROM history h \
                          WHERE h.instance_id = i.instance_id AND h.execution = i.execution) \
                   OR (i.history_len = 0 AND NOT EXISTS (SELECT 1 FROM inbox m \
                          WHERE m.instance_id = i.instance_id AND m.execution = i.execution \
                            AND json_extract(m.message, '$.type') = 'Start')) END",
        )
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(half_written.is_empty(), "half-written instances: {half_written:?}");
}

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

fn segment(u: &mut Unstructured<'_>, known: &[String]) -> Result<String> {
    Ok(match u.int_in_range(0..=4)? {
        0 | 1 => encode(u.choose(SEGMENTS)?.as_bytes()),
        2 => encode(u.choose(known)?.as_bytes()),
        3 => encode(u.arbitrary::<&[u8]>()?),
        _ => "a".repeat(u.int_in_range(0..=20_000)?),
    })
}

/// One request, as the fuzzer chose it.
struct Hostile {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn request(u: &mut Unstructured<'_>, known: &[String]) -> Result<Hostile> {
    let method = u.choose(METHODS)?.to_string();
    let path = match u.int_in_range(0..=8)? {
        0 => format!("/api/orchestrators/{}", segment(u, known)?),
        1 => format!("/api/orchestrators/{}/{}", segment(u, known)?, segment(u, known)?),
        2 => format!("{INSTANCES}/{}", segment(u, known)?),
        3 => format!("{INSTANCES}/{}/{}", segment(u, known)?, u.choose(&["terminate", "suspend", "resume"])?),
        4 => format!("{INSTANCES}/{}/raiseEvent/{}", segment(u, known)?, segment(u, known)?),
        5 => INSTANCES.to_string(),
        6 => format!("{ENTITIES}/{}/{}", segment(u, known)?, segment(u, known)?),
        7 => format!("{ENTITIES}/{}", segment(u, known)?),
        _ => format!("/{}", segment(u, known)?),
    };
    let mut pairs = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let key = if u.ratio(7, 8)? { u.choose(QUERY_KEYS)?.to_string() } else { encode(u.arbitrary::<&[u8]>()?) };
        let value = if u.ratio(3, 4)? { u.choose(QUERY_VALUES)?.to_string() } else { encode(u.arbitrary::<&[u8]>()?) };
        pairs.push(format!("{key}={value}"));
    }
    let uri = if pairs.is_empty() { path } else { format!("{path}?{}", pairs.join("&")) };
    let mut headers = Vec::new();
    if u.ratio(1, 4)? {
        headers.push(("x-ms-continuation-token".to_string(), u.arbitrary::<String>()?));
    }
    if u.ratio(1, 8)? {
        headers.push(("host".to_string(), u.arbitrary::<String>()?));
    }
    let body = match u.int_in_range(0..=3)? {
        0 => Vec::new(),
        1 => format!("\"{}\"", "x".repeat(u.int_in_range(0..=2 * MAX_BODY)?)).into_bytes(),
        _ => u.arbitrary::<&[u8]>()?.to_vec(),
    };
    Ok(Hostile { method, uri, headers, body })
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    if world.inputs.fetch_add(1, Ordering::Relaxed) % 2_000 == 1_999 {
        assert_whole(&world.db);
    }
    let known = world.known.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut u = Unstructured::new(data);
    let Ok(Hostile { method, uri, headers, body }) = request(&mut u, &known) else { return };
    let mut builder = axum::http::Request::builder().method(method.as_str()).uri(&uri);
    for (name, value) in &headers {
        builder = builder.header(name, value);
    }
    // A request the client library itself refuses to build never reaches a server.
    let Ok(request) = builder.body(Body::from(body)) else { return };
    let (status, bytes) = world.runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), async {
            let response = world.router.clone().oneshot(request).await.expect("the router is infallible");
            let status = response.status();
            (status, response.into_body().collect().await.expect("the body is whole").to_bytes())
        })
        .await
        .unwrap_or_else(|_| panic!("{method} {uri} was not answered within a minute"))
    });
    let text = String::from_utf8_lossy(&bytes);
    assert!(!status.is_server_error(), "{method} {uri} answered {status}: {text}");
    if status.is_client_error() && method != "HEAD" {
        let error: serde_json::Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("{method} {uri} answered {status} with a body that is not JSON: {text:?}"));
        assert!(error["error"].is_string(), "{method} {uri} answered {status} without an error message: {text}");
    }
    if status == 202
        && let Ok(body) = serde_json::from_slice::<serde_json::Value>(&bytes)
        && let Some(id) = body["id"].as_str()
    {
        let mut known = world.known.lock().unwrap_or_else(|e| e.into_inner());
        // The first one waits for an event for ten minutes; the newest others are enough.
        if known.len() >= 64 {
            known.remove(1);
        }
        known.push(id.to_string());
    }
});
