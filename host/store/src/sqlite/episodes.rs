//! Episode commits and history reads.
//!
//! [`commit`] is the store's central promise: one `BEGIN IMMEDIATE` transaction checks that the
//! committing host still owns the instance and that its history has not moved, then appends the
//! events, enqueues the activity tasks and the outgoing messages, consumes the messages and
//! updates the instance row. Any failed check returns [`StoreError::Conflict`] before the
//! transaction commits, so a conflict writes nothing. This module never decides what an episode
//! contains: it persists what the executor computed.

use super::codec::{At, int_to_sql, time_to_sql, to_json};
use super::{activities, inbox};
use crate::{EpisodeCommit, StoreError, StoreResult};
use reprise_core::{Event, HistoryEvent};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// Writes `commit` atomically, or fails with a conflict having written nothing.
///
/// A missing or already finished instance, a lock not held by `commit.owner` (its expiry is not
/// checked: the store has no clock, and a lease that ran out but was not taken over is still the
/// owner's), another execution, a history of another length, an event whose `seq` does not
/// continue the history, or a consumed message that is no longer in the inbox are all conflicts.
///
/// Outgoing messages go to their targets' current executions; one whose target is missing or
/// finished is dropped, not an error (the sender cannot know, and must not fail for it).
///
/// A terminal status (`Completed`, `Failed`, `Terminated`) sets `completed_at` and also deletes
/// the instance's remaining messages and the activity tasks that nobody holds a live lease on
/// (never claimed, waiting for a retry, or claimed by a worker whose lease ran out): running
/// them could only waste work now. The outgoing messages are enqueued before this clean-up, so
/// timers that the finishing episode set for itself are cancelled with the rest. A task under a
/// live lease is left to its worker, whose completion deletes it and enqueues nothing.
pub(super) fn commit(conn: &mut Connection, commit: &EpisodeCommit) -> StoreResult<()> {
    // Dropping `tx` on any early return rolls back whatever was written before it.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    check_ownership(&tx, commit)?;
    let history_len = append_events(&tx, commit)?;
    for task in &commit.new_activities {
        activities::enqueue(&tx, &commit.instance_id, commit.execution, task, commit.now)?;
    }
    for outgoing in &commit.outgoing {
        if !inbox::deliver(&tx, outgoing, commit.now)? {
            tracing::debug!(
                from = %commit.instance_id,
                to = %outgoing.instance_id,
                "dropped a message for an instance that is missing or finished"
            );
        }
    }
    for &id in &commit.consumed_messages {
        if !inbox::consume(&tx, &commit.instance_id, id)? {
            return Err(conflict(commit, format!("consumed message {id} is no longer in its inbox")));
        }
    }

    let terminal = commit.status.is_terminal();
    let failure = commit.failure.as_ref().map(to_json).transpose()?;
    let completed_at = terminal.then(|| time_to_sql(commit.now));
    tx.prepare_cached(
        "UPDATE instances SET status = ?2, output = ?3, failure = ?4, custom_status = ?5, \
             component = COALESCE(?6, component), history_len = ?7, updated_at = ?8, \
             completed_at = ?9, lock_owner = NULL, lock_until = NULL \
         WHERE instance_id = ?1",
    )?
    .execute(params![
        commit.instance_id,
        commit.status.as_str(),
        commit.output,
        failure,
        commit.custom_status,
        commit.component,
        int_to_sql(history_len)?,
        time_to_sql(commit.now),
        completed_at
    ])?;

    if terminal {
        inbox::clear(&tx, &commit.instance_id)?;
        activities::drop_unleased(&tx, &commit.instance_id, commit.now)?;
    }
    tx.commit()?;
    Ok(())
}

/// The conflict error for `commit`.
fn conflict(commit: &EpisodeCommit, reason: String) -> StoreError {
    StoreError::Conflict { instance_id: commit.instance_id.clone(), reason }
}

/// Checks, inside the commit's transaction, that the instance is still where the episode found
/// it: unfinished, locked by the committing owner, on the same execution, with the same history
/// length.
fn check_ownership(tx: &Connection, commit: &EpisodeCommit) -> StoreResult<()> {
    let row = tx
        .prepare_cached(
            "SELECT status, execution, history_len, lock_owner FROM instances \
             WHERE instance_id = ?1",
        )?
        .query_row([&commit.instance_id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })
        .optional()?;
    let Some((status, execution, history_len, lock_owner)) = row else {
        return Err(conflict(commit, "the instance no longer exists".into()));
    };
    let key = format!("instance '{}'", commit.instance_id);
    let at = At { table: "instances", key: &key };
    let status = at.status("status", &status)?;
    let execution: u32 = at.unsigned("execution", execution)?;
    let history_len: u64 = at.unsigned("history_len", history_len)?;

    let reason = match lock_owner {
        _ if status.is_terminal() => format!("it has already finished ({status})"),
        None => format!("it is not locked; '{}' must hold its lock to commit", commit.owner),
        Some(holder) if holder != commit.owner => {
            format!("it is locked by '{holder}', not by '{}' which ran the episode", commit.owner)
        }
        Some(_) if execution != commit.execution => {
            format!("it is on execution {execution}, the episode ran execution {}", commit.execution)
        }
        Some(_) if history_len != commit.expected_history_len => {
            format!("its history has {history_len} events, the episode expected {}", commit.expected_history_len)
        }
        Some(_) => return Ok(()),
    };
    Err(conflict(commit, reason))
}

/// Appends the episode's events after checking that their `seq`s continue the history; returns
/// the new history length.
fn append_events(tx: &Connection, commit: &EpisodeCommit) -> StoreResult<u64> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO history (instance_id, execution, seq, kind, event) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut next_seq = commit.expected_history_len;
    for new in &commit.new_events {
        if new.seq != next_seq {
            return Err(conflict(
                commit,
                format!("new event {} has seq {}, but the history continues at {next_seq}", new.event.kind(), new.seq),
            ));
        }
        insert.execute(params![
            commit.instance_id,
            commit.execution,
            int_to_sql(new.seq)?,
            new.event.kind(),
            to_json(&new.event)?
        ])?;
        next_seq += 1;
    }
    Ok(next_seq)
}

/// The events of one execution, in `seq` order. Each row's `kind` column must agree with its
/// JSON and the `seq`s must run from 0 without a gap, or the history is reported corrupt.
pub(super) fn history(conn: &Connection, instance_id: &str, execution: u32) -> StoreResult<Vec<HistoryEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, event FROM history \
         WHERE instance_id = ?1 AND execution = ?2 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![instance_id, execution], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
    })?;
    let mut expected_seq = 0_u64;
    rows.map(|row| {
        let (seq, kind, event) = row?;
        let key = format!("(instance '{instance_id}', execution {execution}, seq {seq})");
        let at = At { table: "history", key: &key };
        let event: Event = at.json("event", &event)?;
        if event.kind() != kind {
            return Err(at.corrupt("kind", format_args!("'{kind}' but the event is {}", event.kind())));
        }
        let seq: u64 = at.unsigned("seq", seq)?;
        if seq != expected_seq {
            return Err(at.corrupt("seq", format_args!("expected {expected_seq}: events are missing")));
        }
        expected_seq += 1;
        Ok(HistoryEvent { seq, event })
    })
    .collect()
}
