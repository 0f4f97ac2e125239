//! The SQLite store's readers over rows written behind its back: an instance row (status,
//! execution, failure), its history rows (seq, kind, event) and its inbox rows, every text
//! chosen by the fuzzer and stored as TEXT whether or not it is UTF-8, then read through the
//! store. Every read ends in the rows' values or `StoreError::Corrupt`, never a panic or another
//! error.

#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use reprise_store::{HistoryStore, InstanceFilter, SqliteStore, StoreError, StoreResult};
use rusqlite::{Connection, params};
use std::sync::{Mutex, OnceLock};

const T0: i64 = 1_700_000_000_000;
const STATUSES: &[&str] = &["Pending", "Running", "Completed", "Failed", "Suspended", "Sleeping", ""];
const KINDS: &[&str] =
    &["EpisodeStarted", "ExecutionStarted", "ActivityScheduled", "ActivityCompleted", "TimerFired", ""];

struct World {
    store: SqliteStore,
    raw: Mutex<Connection>,
    _dir: tempfile::TempDir,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("fuzz.db");
        let store = SqliteStore::open(&path).expect("open the store");
        let raw = Connection::open(&path).expect("a raw connection");
        // The rows are thrown away after each input: no need to wait for the disk.
        raw.pragma_update(None, "synchronous", "OFF").expect("synchronous");
        World { store, raw: Mutex::new(raw), _dir: dir }
    })
}

fn text<'a>(u: &mut Unstructured<'a>, choices: &[&'a str]) -> Result<&'a [u8]> {
    if u.ratio(3, 4)? { Ok(u.choose(choices)?.as_bytes()) } else { u.arbitrary() }
}

fn value_or_corrupt<T>(what: &str, result: StoreResult<T>) {
    match result {
        Ok(_) | Err(StoreError::Corrupt(_)) => {}
        Err(other) => panic!("{what}: expected a value or a corruption report, got {other:?}"),
    }
}

fn write_rows(raw: &Connection, u: &mut Unstructured<'_>) -> Result<i64> {
    let execution = if u.ratio(7, 8)? { 1 } else { u.arbitrary::<i64>()?.max(1) };
    let status = text(u, STATUSES)?;
    let failure: Option<&[u8]> = if u.ratio(1, 2)? { Some(u.arbitrary()?) } else { None };
    let history_len: i64 = u.int_in_range(0..=8)?;
    let inserted = raw.execute(
        "INSERT INTO instances (instance_id, name, execution, status, input, failure, history_len, created_at, updated_at) \
         VALUES ('i', 'o', ?1, CAST(?2 AS TEXT), 'null', CAST(?3 AS TEXT), ?4, ?5, ?5)",
        params![execution, status, failure, history_len, T0],
    );
    if inserted.is_err() {
        return Ok(execution);
    }
    for seq in 0..u.int_in_range(0..=8)? {
        let seq = if u.ratio(7, 8)? { seq } else { u.arbitrary()? };
        let kind = text(u, KINDS)?;
        let event: &[u8] = u.arbitrary()?;
        let _ = raw.execute(
            "INSERT INTO history (instance_id, execution, seq, kind, event) VALUES ('i', ?1, ?2, CAST(?3 AS TEXT), CAST(?4 AS TEXT))",
            params![execution, seq, kind, event],
        );
    }
    for _ in 0..u.int_in_range(0..=4)? {
        let message: &[u8] = u.arbitrary()?;
        let _ = raw.execute(
            "INSERT INTO inbox (instance_id, execution, message, control, visible_at, created_at) \
             VALUES ('i', ?1, CAST(?2 AS TEXT), 0, ?3, ?3)",
            params![execution, message, T0],
        );
    }
    Ok(execution)
}

fuzz_target!(|data: &[u8]| {
    let world = world();
    let raw = world.raw.lock().unwrap_or_else(|e| e.into_inner());
    for table in ["history", "inbox", "activity_tasks", "entities", "instances"] {
        raw.execute(&format!("DELETE FROM {table}"), []).expect("clear the table");
    }
    let mut u = Unstructured::new(data);
    let Ok(execution) = write_rows(&raw, &mut u) else { return };
    let execution = u32::try_from(execution).unwrap_or(1);
    value_or_corrupt("history", world.store.history("i", execution));
    value_or_corrupt("instance", world.store.instance("i"));
    value_or_corrupt("list_instances", world.store.list_instances(&InstanceFilter::default()));
    value_or_corrupt("messages", world.store.messages("i", T0 as u64));
    value_or_corrupt("ready_instances", world.store.ready_instances("h", T0 as u64, 10));
});
