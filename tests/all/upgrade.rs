//! Upgrades: `reprise upgrade` moves the instances whose histories replay on a new component
//! to it, recording `ComponentUpgraded`, and keeps the others pinned; the
//! `upgrade-if-compatible` policy does the same at each instance's next episode; and
//! `ctx.version` lets a change that running instances could not replay reach them all.
//!
//! The subject is the README's walkthrough, `onboard` (guests `onboarding-v1` to `-v3`): create
//! the account, wait for `approved`, send a welcome (a letter in v1, a kit from v2 on), wait for
//! `activated`. Two v1 instances are in flight: `ann` waits for her approval, `bob` was approved
//! and got his letter.

use crate::deploy::dump;
use crate::harness::{Harness, Options, output};
use reprise_core::{Event, HistoryEvent};
use reprise_executor::{UpgradeOutcome, UpgradePolicies, UpgradePolicy};
use reprise_tests::guests;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

fn reprise(args: &[&str], db: &Path) -> Output {
    Command::new(REPRISE).args(args).arg("--db").arg(db).output().expect("run reprise")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn waits_for(name: &'static str) -> impl Fn(&[HistoryEvent]) -> bool {
    move |history| history.iter().any(|e| matches!(&e.event, Event::EventWaitStarted { name: n, .. } if n == name))
}

fn hash_of(guest: &str) -> String {
    reprise_runtime::content_hash(&std::fs::read(guest).unwrap())
}

/// Where `bob`'s v1 history recorded the welcome letter: where v2 diverges from it.
fn letter_position(history: &[HistoryEvent]) -> u64 {
    history
        .iter()
        .find(|e| matches!(&e.event, Event::ActivityScheduled { name, .. } if name == "send_welcome"))
        .map(|e| e.seq)
        .expect("bob was sent the letter")
}

fn upgrades_recorded(history: &[HistoryEvent]) -> Vec<(String, String)> {
    history
        .iter()
        .filter_map(|e| match &e.event {
            Event::ComponentUpgraded { from, to } => Some((from.clone(), to.clone())),
            _ => None,
        })
        .collect()
}

/// Starts `ann` and `bob` on v1 in `host`, approves `bob`, and waits until both wait.
async fn in_flight(host: &Harness) {
    host.start("ann", "onboard", json!("ann")).await;
    host.start("bob", "onboard", json!("bob")).await;
    host.until_history("ann", waits_for("approved")).await;
    host.until_history("bob", waits_for("approved")).await;
    host.host.raise_event("bob", "approved", "\"boss\"").await.unwrap();
    host.until_history("bob", waits_for("activated")).await;
}

/// A database with `ann` and `bob` in flight on v1, no host running.
async fn database_in_flight(dir: &tempfile::TempDir) -> PathBuf {
    let db = dir.path().join("reprise.db");
    let host = Harness::on(&db, Options::cache(0), &[guests::ONBOARDING_V1]).await;
    in_flight(&host).await;
    host.stop().await;
    db
}

/// Finishes `ann` and `bob` on a host serving `guest`, and returns their outputs.
async fn finish_both(db: &Path, cache: usize, guest: &str) -> (Value, Value, Harness) {
    let host = Harness::on(db, Options::cache(cache), &[guest]).await;
    host.host.raise_event("ann", "approved", "\"boss\"").await.unwrap();
    host.until_history("ann", waits_for("activated")).await;
    for id in ["ann", "bob"] {
        host.host.raise_event(id, "activated", "true").await.unwrap();
    }
    let ann = output(&host.finished("ann").await);
    let bob = output(&host.finished("bob").await);
    (ann, bob, host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_moves_the_instances_that_replay_and_keeps_the_others_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_in_flight(&dir).await;
    let (v1, v2) = (hash_of(guests::ONBOARDING_V1), hash_of(guests::ONBOARDING_V2));
    let store = reprise_store::SqliteStore::open(&db).unwrap();
    use reprise_store::HistoryStore as _;
    let bob_before = store.history("bob", 1).unwrap();
    let ann_len = store.instance("ann").unwrap().unwrap().history_len;
    let position = letter_position(&bob_before);

    let upgraded = reprise(&["upgrade", "--component", guests::ONBOARDING_V2], &db);
    let (stdout, stderr) = (text(&upgraded.stdout), text(&upgraded.stderr));
    assert_eq!(upgraded.status.code(), Some(1), "an instance stays pinned: {stdout}{stderr}");
    assert!(stderr.contains(&format!("upgrading 2 instance(s) to component {}", &v2[..12])), "{stderr}");
    let line = |id: &str| stdout.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("{id}: {stdout}"));
    assert!(line("ann").ends_with(&format!("upgraded from {}", &v1[..12])), "{stdout}");
    assert!(
        line("bob").ends_with(&format!(
            "stays on {}: diverges at position {position}: recorded schedule activity 'send_welcome' (task 2), \
             new schedule activity 'send_welcome_kit'",
            &v1[..12]
        )),
        "{stdout}"
    );
    assert!(stdout.contains("2 instances in"), "{stdout}");
    assert!(stdout.contains("1 upgraded, 1 stay pinned, 0 already on it, 0 not started, 0 skipped"), "{stdout}");

    // One write each: ann is pinned to v2 with the upgrade in her history; bob is untouched.
    let ann = store.instance("ann").unwrap().unwrap();
    assert_eq!(ann.component.as_deref(), Some(v2.as_str()));
    assert_eq!(ann.history_len, ann_len + 2);
    let ann_history = store.history("ann", 1).unwrap();
    assert!(matches!(ann_history[ann_len as usize].event, Event::EpisodeStarted { .. }));
    assert_eq!(upgrades_recorded(&ann_history), [(v1.clone(), v2.clone())]);
    assert_eq!(store.instance("bob").unwrap().unwrap().component.as_deref(), Some(v1.as_str()));
    assert_eq!(store.history("bob", 1).unwrap(), bob_before);

    // Again, for tools: nothing more to do for either.
    let again = reprise(&["upgrade", "--to", &v2[..16], "--json"], &db);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
    let json: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(json["component"]["hash"], json!(v2));
    let outcome =
        |id: &str| json["instances"].as_array().unwrap().iter().find(|i| i["instance_id"] == id).unwrap().clone();
    assert_eq!(outcome("ann")["outcome"], "already-on");
    assert_eq!(outcome("bob")["outcome"], "stays-pinned");
    assert_eq!(outcome("bob")["verdict"], "diverges");
    assert_eq!(outcome("bob")["position"], json!(position));
    assert_eq!(json["summary"]["already_on"], 1);
    assert_eq!(store.history("bob", 1).unwrap(), bob_before, "a check writes nothing");
    drop(store);

    // Which code still has work: one instance on each version.
    let components: Value = serde_json::from_slice(&reprise(&["components", "--json"], &db).stdout).unwrap();
    let pinned = |hash: &str| {
        components.as_array().unwrap().iter().find(|c| c["hash"] == hash).unwrap()["unfinished_instances"].clone()
    };
    assert_eq!((pinned(&v1), pinned(&v2)), (json!(1), json!(1)), "{components}");

    // A host that serves v2 only runs ann on v2 and bob on v1 (from the stored bytes).
    let (ann, bob, host) = finish_both(&db, 0, guests::ONBOARDING_V2).await;
    assert_eq!(ann, json!(["account:ann", "boss", "kit:ann"]), "ann runs the new code after her upgrade");
    assert_eq!(bob, json!(["account:bob", "boss", "letter:bob"]), "bob ends on the code he started on");
    host.assert_quiescent().await;
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_behind_ctx_version_upgrades_every_running_instance() {
    for cache in [0, 1024] {
        let dir = tempfile::tempdir().unwrap();
        let db = database_in_flight(&dir).await;
        let v3 = hash_of(guests::ONBOARDING_V3);
        let upgraded = reprise(&["upgrade", "--component", guests::ONBOARDING_V3, "ann", "bob"], &db);
        let stdout = text(&upgraded.stdout);
        assert_eq!(upgraded.status.code(), Some(0), "{stdout}{}", text(&upgraded.stderr));
        assert!(stdout.contains("2 upgraded, 0 stay pinned"), "{stdout}");

        let (ann, bob, host) = finish_both(&db, cache, guests::ONBOARDING_V3).await;
        assert_eq!(ann, json!(["account:ann", "boss", "kit:ann"]), "cache {cache}: ann reached the change on v3");
        assert_eq!(bob, json!(["account:bob", "boss", "letter:bob"]), "cache {cache}: bob's letter replays");
        let marked = |history: &[HistoryEvent]| -> Vec<(String, u32)> {
            history
                .iter()
                .filter_map(|e| match &e.event {
                    Event::VersionMarked { change_id, version } => Some((change_id.clone(), *version)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(marked(&host.history("ann").await), [("welcome-kit".to_string(), 1)]);
        assert!(marked(&host.history("bob").await).is_empty(), "bob's history predates the change: version 0");
        for id in ["ann", "bob"] {
            assert_eq!(host.host.instance(id).await.unwrap().component.as_deref(), Some(v3.as_str()));
        }
        // A new instance takes the new path too.
        host.start("cid", "onboard", json!("cid")).await;
        host.until_history("cid", waits_for("approved")).await;
        host.host.raise_event("cid", "approved", "\"boss\"").await.unwrap();
        host.until_history("cid", waits_for("activated")).await;
        host.host.raise_event("cid", "activated", "true").await.unwrap();
        assert_eq!(output(&host.finished("cid").await), json!(["account:cid", "boss", "kit:cid"]));
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_if_compatible_policy_upgrades_at_the_next_episode_and_logs_why_not() {
    let (v1, v2) = (hash_of(guests::ONBOARDING_V1), hash_of(guests::ONBOARDING_V2));
    for (cache, policy) in [
        (0, UpgradePolicy::UpgradeIfCompatible),
        (1024, UpgradePolicy::UpgradeIfCompatible),
        (1024, UpgradePolicy::Pinned),
    ] {
        let mut upgrades = UpgradePolicies::default();
        upgrades.by_orchestrator.insert("onboard".into(), policy);
        let options = Options { upgrades, ..Options::cache(cache) };
        let host = Harness::with(options, &[guests::ONBOARDING_V1]).await;
        in_flight(&host).await;
        // The new version is loaded while both are parked (with a cache) on v1.
        host.host.load_component_file(Path::new(guests::ONBOARDING_V2)).await.unwrap();
        host.host.raise_event("ann", "approved", "\"boss\"").await.unwrap();
        host.until_history("ann", waits_for("activated")).await;
        for id in ["ann", "bob"] {
            host.host.raise_event(id, "activated", "true").await.unwrap();
        }
        let (ann, bob) = (host.finished("ann").await, host.finished("bob").await);
        let case = format!("cache {cache}, policy {policy}");
        assert_eq!(output(&bob), json!(["account:bob", "boss", "letter:bob"]), "{case}");
        assert_eq!(bob.component.as_deref(), Some(v1.as_str()), "{case}: bob diverges, so he stays");
        assert!(upgrades_recorded(&host.history("bob").await).is_empty(), "{case}");
        match policy {
            UpgradePolicy::UpgradeIfCompatible => {
                assert_eq!(output(&ann), json!(["account:ann", "boss", "kit:ann"]), "{case}");
                assert_eq!(ann.component.as_deref(), Some(v2.as_str()), "{case}");
                assert_eq!(upgrades_recorded(&host.history("ann").await), [(v1.clone(), v2.clone())], "{case}");
            }
            UpgradePolicy::Pinned => {
                assert_eq!(output(&ann), json!(["account:ann", "boss", "letter:ann"]), "{case}");
                assert_eq!(ann.component.as_deref(), Some(v1.as_str()), "{case}");
            }
        }
        host.assert_quiescent().await;
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upgrades_say_what_is_wrong_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = database_in_flight(&dir).await;
    let before = dump(&db);

    // A component that does not export the orchestrator named.
    let wrong = reprise(&["upgrade", "--component", guests::VERSIONED_V1, "--name", "onboard"], &db);
    let stderr = text(&wrong.stderr);
    assert_ne!(wrong.status.code(), Some(0));
    assert!(stderr.contains("exports no orchestrator named 'onboard' (it exports: versioned)"), "{stderr}");
    assert!(stderr.contains("nothing was upgraded"), "{stderr}");
    assert_eq!(dump(&db), before, "the refused component is not even recorded");

    // A hash the database does not know; a finished status.
    let unknown = reprise(&["upgrade", "--to", "0000dead"], &db);
    assert!(text(&unknown.stderr).contains("no component in the database has a hash starting with '0000dead'"));
    assert_ne!(unknown.status.code(), Some(0));
    let finished = reprise(&["upgrade", "--component", guests::ONBOARDING_V2, "--status", "Completed"], &db);
    assert!(text(&finished.stderr).contains("unfinished instances only"), "{}", text(&finished.stderr));
    let neither = reprise(&["upgrade", "ann"], &db);
    assert_eq!(neither.status.code(), Some(2), "--to or --component is required");
    assert_eq!(dump(&db), before);

    // Named instances, a component without their orchestrator: each stays, saying why.
    let named = reprise(&["upgrade", "--component", guests::VERSIONED_V1, "ann", "bob"], &db);
    let stdout = text(&named.stdout);
    assert_eq!(named.status.code(), Some(1), "{stdout}");
    for id in ["ann", "bob"] {
        let line = stdout.lines().find(|l| l.starts_with(id)).unwrap();
        assert!(
            line.contains("fails: OrchestratorNotFound:") && line.contains("exports no orchestrator named 'onboard'"),
            "{line}"
        );
    }
    let rows =
        |dump: Vec<String>| -> Vec<String> { dump.into_iter().filter(|r| !r.starts_with("components:")).collect() };
    assert_eq!(rows(dump(&db)), rows(before), "only the component was recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_beside_a_running_host_takes_its_parked_instances_off_the_old_code() {
    let host = Harness::with(Options::cache(1024), &[guests::ONBOARDING_V1]).await;
    in_flight(&host).await;
    assert!(host.host.cached_instances() >= 2, "both are parked on v1");
    let v2 = host.host.load_component_file(Path::new(guests::ONBOARDING_V2)).await.unwrap().hash;
    let mut heard = Vec::new();
    let upgrades = host
        .host
        .upgrade(&v2, vec!["ann".into(), "bob".into()], 2, |u| heard.push(u.instance_id.clone()))
        .await
        .unwrap();
    assert_eq!(heard.len(), 2, "progress hears of every instance");
    let outcome = |id: &str| upgrades.iter().find(|u| u.instance_id == id).unwrap().outcome.clone();
    assert!(matches!(outcome("ann"), UpgradeOutcome::Upgraded { .. }), "{upgrades:?}");
    assert!(matches!(outcome("bob"), UpgradeOutcome::StaysPinned { .. }), "{upgrades:?}");

    host.host.raise_event("ann", "approved", "\"boss\"").await.unwrap();
    host.until_history("ann", waits_for("activated")).await;
    for id in ["ann", "bob"] {
        host.host.raise_event(id, "activated", "true").await.unwrap();
    }
    assert_eq!(output(&host.finished("ann").await), json!(["account:ann", "boss", "kit:ann"]), "not the parked v1");
    assert_eq!(output(&host.finished("bob").await), json!(["account:bob", "boss", "letter:bob"]));
    host.assert_quiescent().await;
    host.stop().await;
}
