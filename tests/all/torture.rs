//! The fault suite in CI: a short run of the seeded workload (20 kills of a real `reprise serve`)
//! held to every invariant; and the checker itself, fed databases and logs broken on purpose,
//! must name each broken instance.

use reprise_tests::guests;
use reprise_tests::torture::{self, Config, Invariant, Outcome, Report, workload};
use rusqlite::Connection;
use serde_json::Value;
use std::path::Path;

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

fn config(dir: &Path, seed: u64, rounds: u32, instances: u32) -> Config {
    let mut config = Config::new(REPRISE.into(), guests::TORTURE.into(), dir.to_path_buf(), seed, rounds);
    config.instances = instances;
    config
}

#[test]
fn twenty_kills_of_the_host_lose_nothing_and_do_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = torture::run(&config(dir.path(), 20_251_201, 20, 60)).expect("the run finishes");
    eprint!("{}", outcome.summary());
    assert_eq!(outcome.ledger.kills, 20);
    assert!(outcome.report.stats.instances >= 60, "{}", outcome.summary());
    assert!(outcome.report.violations.is_empty(), "{}", outcome.summary());
}

/// A finished run small enough to break in several ways, and a copy of its database per case.
struct Broken {
    dir: tempfile::TempDir,
    outcome: Outcome,
}

impl Broken {
    fn new() -> Broken {
        // The first seed whose plan has the patterns the cases break (the plan is cheap to draw).
        let seed = (1..)
            .find(|&seed| {
                let plan = workload::plan(seed, 2, 10);
                let has = |name: &str| plan.starts.iter().any(|s| s.name == name);
                has("chain") && has("entities")
            })
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let outcome = torture::run(&config(&dir.path().join("run"), seed, 2, 10)).expect("the run finishes");
        assert!(outcome.report.violations.is_empty(), "the run to break is sound: {}", outcome.summary());
        Broken { dir, outcome }
    }

    fn files(&self) -> torture::HostFiles {
        torture::files(&config(&self.dir.path().join("run"), 0, 0, 0))
    }

    /// A copy of the database and the log under `case`, changed by `sql`, and the checker's report.
    fn check(&self, case: &str, break_it: impl FnOnce(&Connection, &Path)) -> Report {
        let files = self.files();
        let copy = self.dir.path().join(case);
        std::fs::create_dir_all(&copy).unwrap();
        let (db, log) = (copy.join("torture.db"), copy.join("activities.jsonl"));
        let source = Connection::open(&files.db).unwrap();
        source.execute("VACUUM INTO ?1", [db.to_str().unwrap()]).unwrap();
        std::fs::copy(torture::log_file(&files), &log).unwrap();
        break_it(&Connection::open(&db).unwrap(), &log);
        torture::check(&db, &log, &self.outcome.ledger).expect("the checker reads the broken run")
    }
}

fn first_chain(conn: &Connection) -> String {
    conn.query_row("SELECT instance_id FROM instances WHERE name = 'chain' ORDER BY instance_id LIMIT 1", [], |r| {
        r.get(0)
    })
    .unwrap()
}

fn assert_reports(report: &Report, instance: &str, invariant: Invariant, needle: &str) {
    assert!(
        report.about(instance).any(|v| v.invariant == invariant && v.detail.contains(needle)),
        "expected a [{invariant}] violation of {instance} saying '{needle}', got: {:#?}",
        report.violations
    );
}

#[test]
fn the_checker_names_each_instance_a_broken_run_wronged() {
    let broken = Broken::new();
    let mut chain = String::new();

    // An activity completed twice in history: the second step's completion names the first.
    let report = broken.check("completed-twice", |conn, _| {
        chain = first_chain(conn);
        let changed = conn
            .execute(
                "UPDATE history SET event = json_set(event, '$.task_id', 0) \
                 WHERE instance_id = ?1 AND execution = 1 AND kind = 'ActivityCompleted' \
                   AND json_extract(event, '$.task_id') = 1",
                [&chain],
            )
            .unwrap();
        assert_eq!(changed, 1);
    });
    assert_reports(&report, &chain, Invariant::History, "ActivityCompleted of task 0, already completed");

    // An activity that ran twice under one attempt number, and one that ran more often than its
    // attempts and the kills allow.
    let kills = broken.outcome.ledger.kills;
    let report = broken.check("ran-twice", |conn, log| {
        chain = first_chain(conn);
        let text = std::fs::read_to_string(log).unwrap();
        let line = text.lines().find(|l| l.contains(&format!("\"{chain}/1/0\""))).unwrap().to_string();
        let mut extra = format!("{line}\n");
        let mut attempt: Value = serde_json::from_str(&line).unwrap();
        for n in 0..=kills {
            attempt["attempt"] = (100 + n).into();
            extra.push_str(&format!("{attempt}\n"));
        }
        std::fs::write(log, text + &extra).unwrap();
    });
    assert_reports(&report, &chain, Invariant::Activity, "attempt numbers repeat");
    assert_reports(&report, &chain, Invariant::Activity, "plus one per kill while it was due");

    // An entity operation applied twice.
    let mut sender = String::new();
    let report = broken.check("applied-twice", |conn, _| {
        let (entity, state): (String, String) = conn
            .query_row(
                "SELECT instance_id, state FROM entities WHERE state LIKE '%/c0%' ORDER BY instance_id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let mut state: Value = serde_json::from_str(&state).unwrap();
        let op = state["applied"].as_object().unwrap().keys().find(|op| op.ends_with("/c0")).unwrap().clone();
        sender = op.trim_end_matches("/c0").to_string();
        state["applied"][&op] = 2.into();
        conn.execute("UPDATE entities SET state = ?2 WHERE instance_id = ?1", [&entity, &state.to_string()]).unwrap();
    });
    assert_reports(&report, &sender, Invariant::Entity, "applied 2 time(s)");

    // A message left in the inbox of a finished instance.
    let report = broken.check("left-over", |conn, _| {
        chain = first_chain(conn);
        conn.execute(
            "INSERT INTO inbox (instance_id, execution, message, visible_at, created_at) \
             VALUES (?1, 1, '{\"type\":\"TimerFired\",\"task_id\":0}', 0, 0)",
            [&chain],
        )
        .unwrap();
    });
    assert_reports(&report, &chain, Invariant::LeftBehind, "inbox of the finished instance 1: TimerFired");

    // A lost acknowledged start, and a wrong output.
    let mut lost = String::new();
    let report = broken.check("lost-and-wrong", |conn, _| {
        chain = first_chain(conn);
        lost = conn
            .query_row("SELECT instance_id FROM instances WHERE name = 'entities' LIMIT 1", [], |r| r.get(0))
            .unwrap();
        conn.execute("DELETE FROM instances WHERE instance_id = ?1", [&lost]).unwrap();
        conn.execute("UPDATE instances SET output = '{\"last\":0}' WHERE instance_id = ?1", [&chain]).unwrap();
    });
    assert_reports(&report, &lost, Invariant::Acknowledged, "the instance is gone");
    assert_reports(&report, &chain, Invariant::Outcome, "returned {\"last\":0}");
}

#[test]
fn the_torture_binary_refuses_a_directory_that_holds_a_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("torture.db"), b"").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_torture"))
        .args(["--rounds", "1", "--seed", "1", "--component", guests::TORTURE, "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("holds an earlier run: give an empty directory"), "{stderr}");
}
