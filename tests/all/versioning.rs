//! Instances stay pinned to the component they started on; replaying a history with code that
//! decides differently is a nondeterminism error.

use crate::harness::{Harness, Options, output};
use reprise_core::{Event, RuntimeStatus};
use reprise_tests::guests;
use serde_json::json;

/// Starts `versioned` on v1 with no activity workers, so it parks after scheduling its first
/// step; returns the database path and the v1 and v2 hashes.
async fn started_on_v1(dir: &tempfile::TempDir) -> (std::path::PathBuf, String) {
    let db = dir.path().join("reprise.db");
    let options = Options { activity_concurrency: 0, ..Options::cache(0) };
    let host = Harness::on(&db, options, &[guests::VERSIONED_V1]).await;
    let v1 = host.loaded[0].clone();
    host.start("pinned", "versioned", json!("x")).await;
    host.until_history("pinned", |h| h.iter().any(|e| matches!(e.event, Event::ActivityScheduled { .. }))).await;
    host.stop().await;
    (db, v1.hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_pinned_to_v1_completes_on_v1_after_v2_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (db, v1_hash) = started_on_v1(&dir).await;

    // A new host knows only v2 (v1's file is gone); the store still has v1's bytes.
    let host = Harness::on(&db, Options::cache(1024), &[guests::VERSIONED_V2]).await;
    let v2 = host.loaded[0].clone();
    assert_ne!(v2.hash, v1_hash);
    let pinned = host.finished("pinned").await;
    assert_eq!(output(&pinned), json!(["a:x", "b:x"]), "v1 runs step_a then step_b");
    assert_eq!(pinned.component.as_deref(), Some(v1_hash.as_str()));

    // New instances start on the latest version.
    let fresh = host.run("fresh", "versioned", json!("y")).await;
    assert_eq!(output(&fresh), json!(["b:y", "a:y"]), "v2 runs step_b then step_a");
    assert_eq!(fresh.component.as_deref(), Some(v2.hash.as_str()));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_v1_history_with_v2_code_is_a_nondeterminism_error() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = started_on_v1(&dir).await;

    // Simulate the mistake pinning prevents: the instance's code is swapped for v2 in place.
    let v2_hash = reprise_runtime::content_hash(&std::fs::read(guests::VERSIONED_V2).unwrap());
    let connection = rusqlite::Connection::open(&db).unwrap();
    connection.execute("UPDATE instances SET component = ?1 WHERE instance_id = 'pinned'", [&v2_hash]).unwrap();
    drop(connection);
    let host = Harness::on(&db, Options::cache(0), &[guests::VERSIONED_V2]).await;

    let record = host.finished("pinned").await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let failure = record.failure.expect("failure");
    assert_eq!(failure.error_type, "NondeterminismError");
    assert!(failure.message.contains("position 2"), "{}", failure.message);
    assert!(failure.message.contains("schedule activity 'step_a' (task 0)"), "{}", failure.message);
    assert!(failure.message.contains("schedule activity 'step_b'"), "{}", failure.message);
    host.assert_quiescent().await;
    host.stop().await;
}
