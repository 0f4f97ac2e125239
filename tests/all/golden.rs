//! Golden histories: histories a host wrote, committed under `tests/golden/` as repro bundles
//! (without their components: the components are built from `guests/` like every test guest),
//! and replayed on every build. A change to the history format, to the replay engine or to the
//! SDK that would break instances stored by an earlier host fails here.
//!
//! The files are written by the scenarios below. After a deliberate, reviewed change to one of
//! them (or to a guest they run), write them again with
//! `REPRISE_BLESS_GOLDEN=1 cargo test -p reprise-tests --test all golden`, and say in the
//! review why stored instances are not broken by it. Blessing writes every file again, and any
//! change to the SDK or the WIT changes every guest's hash in them: commit only the files of
//! new or deliberately changed scenarios, and keep the others (`git checkout tests/golden`
//! first), since histories written by older builds are what this test is for.

use crate::harness::{Harness, Options};
use reprise_core::{Event, RuntimeStatus};
use reprise_executor::{Bundle, BundleConfig, ExecutorConfig, ReplayChecker, Verdict};
use reprise_runtime::Runtime;
use reprise_tests::guests;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One golden history: a guest crate, an orchestrator, an input, and the events raised on it
/// once it waits for them.
struct Scenario {
    name: &'static str,
    guest: &'static str,
    orchestrator: &'static str,
    input: Value,
    events: &'static [(&'static str, &'static str)],
    /// The guest crate the instance starts on, when it is upgraded to `guest` (with
    /// `Host::upgrade`) once it waits for its second event.
    upgraded_from: Option<&'static str>,
}

fn scenarios() -> Vec<Scenario> {
    let plain = |name, guest, orchestrator, input| Scenario {
        name,
        guest,
        orchestrator,
        input,
        events: &[],
        upgraded_from: None,
    };
    const ONBOARDING_EVENTS: &[(&str, &str)] = &[("approved", r#""golden-approver""#), ("activated", "true")];
    vec![
        plain("chaining", "order-processing", "process_order", json!("order-1001")),
        plain(
            "retries",
            "retry-pattern",
            "retry_with_backoff",
            json!({"fail_times": 2, "max_attempts": 4, "first_retry_ms": 1000, "backoff": 2.0}),
        ),
        plain(
            "retries-exhausted",
            "retry-pattern",
            "retry_orchestrator",
            json!({"fail_times": 5, "max_attempts": 2, "first_retry_ms": 500}),
        ),
        plain(
            "compensation",
            "transfer-funds",
            "transfer_funds",
            json!({"source_account": "alice", "destination_account": "frozen-bob", "amount": 2500}),
        ),
        plain("fan-out", "fan-out", "fan_out_fan_in", json!({"items": 6})),
        plain("race", "fan-out", "first_of", json!([1, 2, 4])),
        plain(
            "timers",
            "timeouts-and-polling",
            "poll_until_done",
            json!({"ready_after": 3, "interval_ms": 2000, "deadline_ms": 60000}),
        ),
        Scenario {
            name: "callback",
            guest: "callback-with-timeout",
            orchestrator: "run_job",
            input: json!({"job": "report", "timeout_ms": 30000}),
            events: &[("JobCompleted", r#"{"rows": 7}"#)],
            upgraded_from: None,
        },
        Scenario {
            name: "version",
            guest: "onboarding-v3",
            orchestrator: "onboard",
            input: json!("golden-new"),
            events: ONBOARDING_EVENTS,
            upgraded_from: None,
        },
        Scenario {
            name: "upgraded",
            guest: "onboarding-v3",
            orchestrator: "onboard",
            input: json!("golden-old"),
            events: ONBOARDING_EVENTS,
            upgraded_from: Some("onboarding-v1"),
        },
        plain("entities", "entities", "counter_orchestration", json!("golden-counter")),
        plain("entity-error", "entities", "entity_error_handling", json!("golden-caught")),
        plain(
            "critical-section",
            "entities",
            "transfer",
            json!({"from": "g-a", "to": "g-b", "amount": 0, "locked": true}),
        ),
        plain("sub-orchestrations", "sub-orchestrations", "parent_sum", json!([1, 2, 3])),
        plain("sub-orchestration-failure", "sub-orchestrations", "parent_catch", json!(13)),
        plain("continue-as-new", "sub-orchestrations", "counter", json!({"n": 0, "until": 3})),
    ]
}

/// The scenario whose bundle is also kept whole, component included, in `golden/bundles/`.
const GOLDEN_BUNDLE_SCENARIO: &str = "callback";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden")
}

fn guest_path(crate_name: &str) -> &'static str {
    guests::ALL
        .iter()
        .find(|(name, _)| *name == crate_name)
        .map(|(_, path)| *path)
        .unwrap_or_else(|| panic!("no guest crate named {crate_name}"))
}

/// Runs every scenario and writes its instance (and the sub-orchestrations it started) as
/// golden bundles.
async fn bless() {
    let dir = golden_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for old in std::fs::read_dir(&dir).unwrap() {
        let path = old.unwrap().path();
        if path.extension().is_some_and(|e| e == "reprise") {
            std::fs::remove_file(path).unwrap();
        }
    }
    for scenario in scenarios() {
        for (file, bundle, whole) in record(&scenario).await {
            if let Some(whole) = whole {
                std::fs::create_dir_all(dir.join("bundles")).unwrap();
                std::fs::write(dir.join("bundles").join(&file), whole.to_json()).unwrap();
            }
            std::fs::write(dir.join(file), bundle.to_json()).unwrap();
        }
    }
}

/// Runs `scenario` on a host: the bundles of its instance and of the sub-orchestrations it
/// started, each with its file name, and for [`GOLDEN_BUNDLE_SCENARIO`] the bundle with its
/// component too.
async fn record(scenario: &Scenario) -> Vec<(String, Bundle, Option<Bundle>)> {
    let first = guest_path(scenario.upgraded_from.unwrap_or(scenario.guest));
    let host = Harness::with(Options::cache(0), &[first]).await;
    let id = format!("golden-{}", scenario.name);
    host.start(&id, scenario.orchestrator, scenario.input.clone()).await;
    for (index, (event, data)) in scenario.events.iter().enumerate() {
        host.until_history(&id, |h| {
            h.iter().any(|e| matches!(&e.event, Event::EventWaitStarted { name, .. } if name == event))
        })
        .await;
        if index == 1 && scenario.upgraded_from.is_some() {
            let to = host.host.load_component_file(Path::new(guest_path(scenario.guest))).await.unwrap().hash;
            let upgraded = host.host.upgrade(&to, vec![id.clone()], 1, |_| {}).await.unwrap();
            assert!(matches!(upgraded[0].outcome, reprise_executor::UpgradeOutcome::Upgraded { .. }), "{upgraded:?}");
        }
        host.host.raise_event(&id, event, data).await.unwrap();
        // Delivered before time moves: a timer made due first would be delivered ahead of it
        // (its message is older), and the history would depend on the machine's speed.
        let raised = index + 1;
        host.until_history(&id, |h| {
            h.iter().filter(|e| matches!(e.event, Event::EventRaised { .. })).count() >= raised
        })
        .await;
    }
    let record = host.finished_moving_time(&id).await;
    assert!(record.status.is_terminal(), "{id}: {:?}", record.status);
    let store = host.host.store();
    let mut ids = vec![id.clone()];
    // Its sub-orchestrations, finished ones included.
    let every = store.list_instances(&reprise_store::InstanceFilter::default()).unwrap();
    ids.extend(
        every
            .into_iter()
            .filter(|child| child.parent.as_ref().is_some_and(|parent| parent.instance_id == id))
            .map(|child| child.instance_id),
    );
    let mut bundles = Vec::new();
    for snapshot in store.snapshots(&ids, true).unwrap() {
        let config = BundleConfig::from(&ExecutorConfig::default());
        let instance_id = snapshot.record.instance_id.clone();
        let file = format!("{}.{}.reprise", scenario.guest, instance_id.replace(':', "_"));
        // One bundle keeps its component: `reprise replay` of it proves that bundles written
        // today replay with the bytes they carry (tests/all/deploy.rs).
        let whole = (scenario.name == GOLDEN_BUNDLE_SCENARIO).then(|| {
            let hash = snapshot.record.component.clone().expect("a finished instance is pinned");
            let bytes = store.component_bytes(&hash).unwrap().expect("the pinned component is stored");
            Bundle::new(
                snapshot.record.clone(),
                snapshot.executions.clone(),
                Some((&hash, &bytes)),
                config,
                crate::harness::T0,
            )
        });
        let bundle = Bundle::new(snapshot.record, snapshot.executions, None, config, crate::harness::T0);
        bundles.push((file, bundle, whole));
    }
    host.stop().await;
    bundles
}

/// The decisions of a history: what the orchestrator's code did, whole (inputs, options, fire
/// times), in order; what the SDK's harness compares with (`Run::assert_same_commands`).
fn decisions(events: &[reprise_core::HistoryEvent]) -> Vec<Event> {
    events
        .iter()
        .map(|e| &e.event)
        .filter(|e| {
            e.is_command()
                || matches!(
                    e,
                    Event::VersionMarked { .. }
                        | Event::ExecutionCompleted { .. }
                        | Event::ExecutionFailed { .. }
                        | Event::ExecutionContinuedAsNew { .. }
                )
        })
        .cloned()
        .collect()
}

/// The other half of the harness's agreement with the host: the guests' unit tests check that
/// the SDK's test harness decides what these golden histories record
/// (`tests/all/guest_unit_tests.rs`); this checks that today's host still decides it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn today_s_host_decides_what_the_golden_histories_record() {
    for scenario in scenarios().iter().filter(|s| s.upgraded_from.is_none()) {
        for (file, bundle, _) in record(scenario).await {
            let golden = Bundle::from_json(&std::fs::read_to_string(golden_dir().join(&file)).unwrap()).unwrap();
            let mut ours: Vec<Vec<Event>> = bundle.executions.iter().map(|e| decisions(&e.events)).collect();
            let mut recorded: Vec<Vec<Event>> = golden.executions.iter().map(|e| decisions(&e.events)).collect();
            if scenario.name == "race" {
                // Whichever activity ends first wins on a real host: only what the race
                // schedules is the same on every run (the harness explores every winner).
                for decisions in ours.iter_mut().chain(recorded.iter_mut()) {
                    decisions.retain(|e| !matches!(e, Event::ExecutionCompleted { .. }));
                }
            }
            assert_eq!(ours, recorded, "{file}: today's host decides otherwise than the golden history records");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golden_histories_replay_on_this_build() {
    if std::env::var_os("REPRISE_BLESS_GOLDEN").is_some() {
        bless().await;
    }
    let runtime = Arc::new(Runtime::new(crate::harness::test_runtime()).unwrap());
    let mut checkers: BTreeMap<String, ReplayChecker> = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/golden holds the golden histories")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "reprise"))
        .collect();
    files.sort();
    let (mut statuses, mut kinds) = (Vec::new(), std::collections::BTreeSet::new());
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let guest = name.split('.').next().unwrap().to_string();
        let bundle = Bundle::from_json(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{name} no longer reads: {e}"));
        assert!(bundle.instance.status.is_terminal(), "{name}: golden instances are finished");
        if !checkers.contains_key(&guest) {
            let checker =
                ReplayChecker::load_file(runtime.clone(), Path::new(guest_path(&guest)), &ExecutorConfig::default())
                    .await
                    .unwrap();
            checkers.insert(guest.clone(), checker);
        }
        let checker = &checkers[&guest];
        for execution in &bundle.executions {
            let replay = checker
                .check(
                    (bundle.instance.instance_id.as_str(), execution.execution),
                    &bundle.instance.name,
                    execution.events.clone(),
                    false,
                )
                .await;
            assert_eq!(replay.verdict, Verdict::Compatible, "{name}, execution {}", execution.execution);
            assert_eq!(replay.replayed, execution.events.len() as u64, "{name}: the whole history replayed");
        }
        statuses.push(bundle.instance.status);
        kinds.extend(bundle.executions.iter().flat_map(|e| &e.events).map(|e| e.event.kind()));
    }
    assert!(files.len() >= scenarios().len(), "every scenario has its golden history: {files:?}");
    for status in [RuntimeStatus::Completed, RuntimeStatus::Failed] {
        assert!(statuses.contains(&status), "a golden instance ends {status}");
    }
    // The patterns stored instances are made of, each in at least one golden history.
    for kind in [
        "ActivityRetrying",
        "ActivityFailed",
        "TimerFired",
        "EventRaised",
        "SubOrchestrationCompleted",
        "SubOrchestrationFailed",
        "EntityCalled",
        "EntityLockRequested",
        "ExecutionContinuedAsNew",
        "ExecutionFailed",
        "ComponentUpgraded",
        "VersionMarked",
    ] {
        assert!(kinds.contains(kind), "no golden history holds a {kind} event: {kinds:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_golden_history_the_code_no_longer_matches_diverges_where_it_changed() {
    // What the test above would see if a change broke stored histories: here the history is
    // changed instead of the code.
    let file = golden_dir().join("order-processing.golden-chaining.reprise");
    let mut bundle = Bundle::from_json(&std::fs::read_to_string(file).unwrap()).unwrap();
    let events = &mut bundle.executions[0].events;
    let renamed = events
        .iter_mut()
        .filter_map(|e| match &mut e.event {
            Event::ActivityScheduled { name, .. } => Some((e.seq, name)),
            _ => None,
        })
        .nth(1)
        .map(|(seq, name)| {
            *name = "renamed_step".into();
            seq
        })
        .expect("the chain schedules several activities");
    let runtime = Arc::new(Runtime::new(crate::harness::test_runtime()).unwrap());
    let checker = ReplayChecker::load_file(runtime, Path::new(guests::ORDER_PROCESSING), &ExecutorConfig::default())
        .await
        .unwrap();
    let replay = checker
        .check(
            (bundle.instance.instance_id.as_str(), 1),
            &bundle.instance.name,
            bundle.executions[0].events.clone(),
            false,
        )
        .await;
    match replay.verdict {
        Verdict::Diverges { position, recorded, .. } => {
            assert_eq!(position, renamed);
            assert!(recorded.contains("renamed_step"), "{recorded}");
        }
        other => panic!("expected a divergence, got {other:?}"),
    }
    assert_eq!(replay.replayed, renamed, "replayed up to the changed event");
}
