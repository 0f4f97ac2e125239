//! Hostile rows: histories, inbox messages and failures written behind the store's back by raw
//! SQL (arbitrary bytes, valid JSON damaged, text that is not UTF-8, wrong kinds and gaps),
//! read through the store on a real file.
//!
//! Every read ends in the rows' values or a [`StoreError::Corrupt`], never a panic or another
//! error; rows that are valid read back exactly as written. `PROPTEST_CASES` raises the number
//! of cases.

use super::{Fixture, T0, new_instance};
use crate::{HistoryStore, InstanceFilter, StoreError, StoreResult};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reprise_core::strategies::{event, failure, message, mutate, mutation};
use reprise_core::{Event, Message};
use rusqlite::params;
use std::cell::Cell;

/// One history row as raw SQL writes it.
#[derive(Debug, Clone)]
struct Row {
    seq: i64,
    kind: String,
    /// The `event` column's bytes, stored as TEXT whether or not they are UTF-8.
    event: Vec<u8>,
    /// The event the row was made from, if the row is undamaged.
    valid: Option<Event>,
}

fn row(at: i64) -> impl Strategy<Value = Row> {
    let kinds = prop_oneof![Just(None), Just(Some("EpisodeStarted".to_string())), Just(Some(String::new()))];
    (event(), prop::collection::vec(mutation(), 0..3), kinds, prop_oneof![3 => Just(0i64), 1 => -2i64..3]).prop_map(
        move |(event, mutations, kind, shift)| {
            let text = serde_json::to_string(&event).expect("events serialize");
            let kind = kind.unwrap_or_else(|| event.kind().to_string());
            let intact = mutations.is_empty() && shift == 0 && kind == event.kind();
            Row { seq: at + shift, kind, event: mutate(&text, &mutations), valid: intact.then_some(event) }
        },
    )
}

fn rows() -> impl Strategy<Value = Vec<Row>> {
    (0usize..8).prop_flat_map(|len| (0..len as i64).map(row).collect::<Vec<_>>())
}

/// Asserts that `result` is a value or a corruption report.
fn value_or_corrupt<T: std::fmt::Debug>(result: StoreResult<T>) -> Result<Option<T>, TestCaseError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::Corrupt(_)) => Ok(None),
        Err(other) => Err(TestCaseError::fail(format!("expected a value or a corruption report, got {other:?}"))),
    }
}

/// Runs `test` on `cases` inputs (at least; `PROPTEST_CASES` may raise it) against one store.
fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let cases = Config::default().cases.max(cases);
    TestRunner::new(Config { cases, ..Config::default() }).run(&strategy, test).unwrap();
}

#[test]
fn damaged_history_rows_read_as_events_or_corrupt() {
    let fixture = Fixture::new();
    let raw = fixture.raw();
    let next = Cell::new(0);
    run(128, rows(), |rows| {
        let id = format!("h{}", next.replace(next.get() + 1));
        fixture.store.create_instance(&new_instance(&id, T0)).expect("create");
        let mut stored = Vec::new();
        for row in &rows {
            let inserted = raw.execute(
                "INSERT INTO history (instance_id, execution, seq, kind, event) VALUES (?1, 1, ?2, ?3, CAST(?4 AS TEXT))",
                params![id, row.seq, row.kind, row.event],
            );
            // A negative or repeated seq is refused by the schema itself: not a row to read.
            if inserted.is_ok() {
                stored.push(row.clone());
            }
        }
        stored.sort_by_key(|row| row.seq);
        let Some(events) = value_or_corrupt(fixture.store.history(&id, 1))? else {
            // A gap in the seqs is damage too (a row the schema refused leaves one).
            let gapless = stored.iter().zip(0..).all(|(row, seq)| row.seq == seq);
            let damaged = stored.iter().any(|row| row.valid.is_none()) || !gapless;
            prop_assert!(damaged, "undamaged rows were reported corrupt");
            return Ok(());
        };
        prop_assert_eq!(events.len(), stored.len());
        for (event, row) in events.iter().zip(&stored) {
            prop_assert_eq!(event.seq as i64, row.seq);
            prop_assert_eq!(event.event.kind(), row.kind.as_str());
            if let Some(valid) = &row.valid {
                prop_assert_eq!(&event.event, valid);
            }
        }
        Ok(())
    });
}

#[test]
fn damaged_inbox_messages_read_as_messages_or_corrupt() {
    let fixture = Fixture::new();
    let raw = fixture.raw();
    let next = Cell::new(0);
    let damaged = prop::collection::vec((message(), prop::collection::vec(mutation(), 0..3)), 0..6);
    run(128, damaged, |messages| {
        let id = format!("m{}", next.replace(next.get() + 1));
        fixture.store.create_instance(&new_instance(&id, T0)).expect("create");
        let mut intact: Vec<Message> =
            fixture.store.messages(&id, T0).expect("messages").into_iter().map(|m| m.message).collect();
        let mut all_intact = true;
        for (message, mutations) in &messages {
            let text = serde_json::to_string(message).expect("messages serialize");
            raw.execute(
                "INSERT INTO inbox (instance_id, execution, message, control, visible_at, created_at) \
                 VALUES (?1, 1, CAST(?2 AS TEXT), 0, ?3, ?3)",
                params![id, mutate(&text, mutations), T0 as i64],
            )
            .expect("insert a message");
            all_intact &= mutations.is_empty();
            intact.push(message.clone());
        }
        let read = value_or_corrupt(fixture.store.messages(&id, T0))?;
        if all_intact {
            let read: Vec<Message> = read.expect("undamaged messages read").into_iter().map(|m| m.message).collect();
            prop_assert_eq!(read, intact);
        }
        // The episode that would consume them reads them the same way.
        if fixture.store.lock_instance(&id, "h", T0, T0 + 1).expect("lock") {
            fixture.store.unlock_instance(&id, "h").expect("unlock");
        }
        value_or_corrupt(fixture.store.begin_episode(&id, "h", T0, T0 + 1))?;
        Ok(())
    });
}

#[test]
fn damaged_failures_read_as_failures_or_corrupt() {
    let fixture = Fixture::new();
    let raw = fixture.raw();
    let next = Cell::new(0);
    run(128, (failure(), prop::collection::vec(mutation(), 0..3)), |(failure, mutations)| {
        let id = format!("f{}", next.replace(next.get() + 1));
        fixture.store.create_instance(&new_instance(&id, T0)).expect("create");
        let text = serde_json::to_string(&failure).expect("failures serialize");
        raw.execute(
            "UPDATE instances SET failure = CAST(?2 AS TEXT) WHERE instance_id = ?1",
            params![id, mutate(&text, &mutations)],
        )
        .expect("update the failure");
        let read = fixture.store.instance(&id);
        let filter = InstanceFilter { statuses: Vec::new(), ..InstanceFilter::default() };
        let listed = fixture.store.list_instances(&filter);
        // Repair the row first, so that the next cases' listings read only their own damage.
        raw.execute("UPDATE instances SET failure = NULL WHERE instance_id = ?1", params![id]).expect("repair");
        let (read, listed) = (value_or_corrupt(read)?, value_or_corrupt(listed)?);
        if mutations.is_empty() {
            let record = read.flatten().expect("an undamaged instance reads");
            prop_assert_eq!(record.failure, Some(failure));
        }
        prop_assert!(listed.is_some() || !mutations.is_empty());
        Ok(())
    });
}

#[test]
fn text_that_is_not_utf8_is_corrupt_not_a_panic() {
    let fixture = Fixture::new();
    fixture.create("a", T0);
    let raw = fixture.raw();
    let start = serde_json::to_string(&Event::EpisodeStarted { time: 1 }).unwrap();
    let mut bytes = start.into_bytes();
    bytes.insert(2, 0xff);
    raw.execute(
        "INSERT INTO history (instance_id, execution, seq, kind, event) VALUES ('a', 1, 0, 'EpisodeStarted', CAST(?1 AS TEXT))",
        params![bytes],
    )
    .unwrap();
    assert!(matches!(fixture.store.history("a", 1), Err(StoreError::Corrupt(_))));
    raw.execute("UPDATE instances SET failure = CAST(x'7bff7d' AS TEXT) WHERE instance_id = 'a'", []).unwrap();
    assert!(matches!(fixture.store.instance("a"), Err(StoreError::Corrupt(_))));
}
