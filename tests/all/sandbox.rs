//! The activity sandbox: each capability an activity may be granted works when granted, and is
//! refused (nothing reaches the outside) when not.

use crate::harness::{Harness, Options, output};
use reprise_core::RuntimeStatus;
use reprise_runtime::ActivityGrants;
use reprise_tests::guests;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

fn granting(grants: ActivityGrants) -> Options {
    Options { grants, ..Options::cache(16) }
}

fn network() -> ActivityGrants {
    ActivityGrants { network: true, ..ActivityGrants::default() }
}

/// Runs `activity` with `input` through the `call` orchestrator.
async fn call(harness: &Harness, id: &str, activity: &str, input: Value) -> reprise_store::InstanceRecord {
    harness.run(id, "call", json!({ "activity": activity, "input": input })).await
}

/// The activity's own failure, from a failed `call`.
fn denial(record: &reprise_store::InstanceRecord) -> String {
    assert_eq!(record.status, RuntimeStatus::Failed, "the activity was not refused: {:?}", record.output);
    let failure = record.failure.as_ref().expect("a failure");
    assert_eq!(failure.causes[0].error_type, "Denied", "{failure}");
    failure.causes[0].message.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_grant_lets_an_activity_exchange_bytes_over_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("the activity connects");
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).unwrap();
        (&stream).write_all(format!("pong:{}\n", line.trim_end()).as_bytes()).unwrap();
        line
    });
    let harness = Harness::with(granting(network()), &[guests::CAPABILITIES]).await;
    let record =
        call(&harness, "tcp", "tcp_exchange", json!({"host": "127.0.0.1", "port": port, "send": "ping"})).await;
    assert_eq!(output(&record), json!("pong:ping"), "the activity read the listener's reply");
    assert_eq!(server.join().unwrap(), "ping\n", "the listener received the activity's bytes");
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_network_grant_no_tcp_connection_is_made() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let harness = Harness::new(16, &[guests::CAPABILITIES]).await;
    let record =
        call(&harness, "no-tcp", "tcp_exchange", json!({"host": "127.0.0.1", "port": port, "send": "x"})).await;
    let message = denial(&record);
    assert!(message.starts_with("connect:"), "{message}");
    let accepted = listener.accept().map(|_| ()).unwrap_err();
    assert_eq!(accepted.kind(), ErrorKind::WouldBlock, "nothing reached the listener");
    harness.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_follows_the_network_grant() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let port = socket.local_addr().unwrap().port();
    let datagram = json!({"host": "127.0.0.1", "port": port, "send": "hello over udp"});

    let granted = Harness::with(granting(network()), &[guests::CAPABILITIES]).await;
    assert_eq!(output(&call(&granted, "udp", "udp_send", datagram.clone()).await), json!(14));
    let mut buffer = [0u8; 64];
    let (size, _) = socket.recv_from(&mut buffer).expect("the datagram arrives");
    assert_eq!(&buffer[..size], b"hello over udp");
    granted.stop().await;

    let refused = Harness::new(16, &[guests::CAPABILITIES]).await;
    denial(&call(&refused, "no-udp", "udp_send", datagram).await);
    // The activity has failed already: a datagram it sent would be here.
    socket.set_nonblocking(true).unwrap();
    let received = socket.recv_from(&mut buffer).map(|_| ()).unwrap_err();
    assert_eq!(received.kind(), ErrorKind::WouldBlock, "no datagram was sent");
    refused.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variables_and_directories_are_seen_only_when_granted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), "granted contents").unwrap();
    let grants = ActivityGrants {
        env: vec![("REPRISE_TEST_GRANT".into(), "yes".into())],
        dirs: vec![(dir.path().to_path_buf(), "/data".into(), true)],
        network: false,
        ..ActivityGrants::default()
    };
    let granted = Harness::with(granting(grants), &[guests::CAPABILITIES]).await;
    assert_eq!(output(&call(&granted, "env", "read_env", json!("REPRISE_TEST_GRANT")).await), json!("yes"));
    assert_eq!(output(&call(&granted, "file", "read_file", json!("/data/note.txt")).await), json!("granted contents"));
    granted.stop().await;

    let bare = Harness::new(16, &[guests::CAPABILITIES]).await;
    assert!(std::env::var_os("PATH").is_some(), "the host process has a PATH");
    assert_eq!(output(&call(&bare, "no-env", "read_env", json!("PATH")).await), Value::Null, "the host's is not seen");
    let host_path = dir.path().join("note.txt").display().to_string();
    denial(&call(&bare, "no-file", "read_file", json!(host_path)).await);
    denial(&call(&bare, "no-data", "read_file", json!("/data/note.txt")).await);
    bare.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_activity_limits_and_defaults_apply_to_each_attempt() {
    use reprise_executor::{ActivitySettings, ComponentSettings};
    use reprise_runtime::AttemptLimits;
    use std::sync::Arc;
    let harness = Harness::new(16, &[]).await;
    let limited = |limits: AttemptLimits| ActivitySettings {
        grants: ActivityGrants { limits, ..ActivityGrants::default() },
        ..ActivitySettings::default()
    };
    let mut settings = ComponentSettings::uniform(ActivitySettings {
        default_timeout: Some(Duration::from_secs(30)),
        ..ActivitySettings::default()
    });
    let cpu = limited(AttemptLimits { cpu: Some(Duration::from_millis(200)), ..AttemptLimits::default() });
    let memory = limited(AttemptLimits { memory_bytes: Some(32 * 1024 * 1024), ..AttemptLimits::default() });
    let retried = ActivitySettings {
        default_retry: Some(reprise_core::RetryPolicy {
            max_attempts: 2,
            first_retry_interval_ms: 1_000,
            backoff_coefficient: 1.0,
            max_retry_interval_ms: None,
            retry_timeout_ms: None,
            non_retryable_errors: Vec::new(),
        }),
        ..ActivitySettings::default()
    };
    settings.by_activity.insert("spin".into(), Arc::new(cpu));
    settings.by_activity.insert("allocate".into(), Arc::new(memory));
    settings.by_activity.insert("read_file".into(), Arc::new(retried));
    harness.host.load_component_file_with(std::path::Path::new(guests::CAPABILITIES), &settings).await.unwrap();

    let spun = call(&harness, "spin", "spin", json!(10_000)).await;
    assert_eq!(spun.status, RuntimeStatus::Failed);
    assert_eq!(spun.failure.as_ref().unwrap().causes[0].error_type, "CpuLimitExceeded", "{:?}", spun.failure);

    assert_eq!(output(&call(&harness, "small", "allocate", json!(4)).await), json!(4 * 1024 * 1024));
    let big = call(&harness, "big", "allocate", json!(64)).await;
    assert_eq!(big.status, RuntimeStatus::Failed);
    let failure = big.failure.as_ref().unwrap();
    assert_eq!(failure.causes[0].error_type, "MemoryLimitExceeded", "{failure}");
    assert!(failure.to_string().contains("32 MiB"), "the message names the limit: {failure}");

    // The call sets no retry policy: the deployment's default retries it once.
    harness.start("retried", "call", json!({ "activity": "read_file", "input": "/nowhere" })).await;
    let record = harness.finished_moving_time("retried").await;
    assert_eq!(record.status, RuntimeStatus::Failed);
    let retries = harness
        .history("retried")
        .await
        .iter()
        .filter(|e| matches!(e.event, reprise_core::Event::ActivityRetrying { .. }))
        .count();
    assert_eq!(retries, 1, "two attempts in all");
    // An activity without settings of its own gets the component's: no retry.
    let once = call(&harness, "once", "read_env", json!("PATH")).await;
    assert_eq!(output(&once), Value::Null);
    harness.stop().await;
}
