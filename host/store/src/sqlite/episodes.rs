//! Episode commits and history reads.
//!
//! [`commit`] is the store's central promise: one `BEGIN IMMEDIATE` transaction checks that the
//! committing host still owns the instance and that its history has not moved, then appends the
//! events, enqueues the activity tasks, creates the sub-orchestrations, enqueues the outgoing
//! messages, consumes the messages and updates the instance row (or moves it to its next
//! execution, for a continue-as-new). Any failed check returns [`StoreError::Conflict`] before the
//! transaction commits, so a conflict writes nothing. This module never decides what an episode
//! contains: it persists what the executor computed.

use super::codec::{At, int_to_sql, time_to_sql, to_json};
use super::{activities, inbox, instances, updates};
use crate::{ContinueAsNew, EpisodeCommit, EpisodeStart, StoreError, StoreResult};
use reprise_core::{Event, HistoryEvent, Message, Payload, RuntimeStatus, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

/// Takes the instance's lock for `owner` and, if it got it, reads the instance and its messages
/// visible at `now`: the start of an episode (see [`crate::HistoryStore::begin_episode`]).
pub(super) fn begin(
    conn: &Connection,
    instance_id: &str,
    owner: &str,
    now: Timestamp,
    lease_until: Timestamp,
) -> StoreResult<Option<EpisodeStart>> {
    if !instances::lock(conn, instance_id, owner, now, lease_until)? {
        return Ok(None);
    }
    let Some(instance) = instances::get(conn, instance_id)? else {
        return Ok(None);
    };
    Ok(Some(EpisodeStart { instance, messages: inbox::messages(conn, instance_id, now)? }))
}

/// Writes `commit` atomically, or fails with a conflict having written nothing.
///
/// A missing or already finished instance, a lock not held by `commit.owner` (its expiry is not
/// checked: the store has no clock, and a lease that ran out but was not taken over is still the
/// owner's), another execution, a history of another length, an event whose `seq` does not
/// continue the history, or a consumed message that is no longer in the inbox are all conflicts.
///
/// Sub-orchestrations are created before the outgoing messages are enqueued, so an event the
/// episode sends to a child it starts reaches it. A child whose id is taken is not created; its
/// parent task gets a `SubOrchestrationFailed` message instead (see [`create_children`]).
///
/// Outgoing messages go to their targets' current executions; one whose target is missing or
/// finished is dropped, not an error (the sender cannot know, and must not fail for it).
///
/// A terminal status (`Completed`, `Failed`, `Terminated`) sets `completed_at` and also deletes
/// the instance's remaining messages and the activity tasks that nobody holds a live lease on
/// (never claimed, waiting for a retry, or claimed by a worker whose lease ran out): running
/// them could only waste work now. The outgoing messages are enqueued before this clean-up, so
/// timers that the finishing episode set for itself are cancelled with the rest. A task under a
/// live lease is left to its worker, whose completion deletes it and enqueues nothing. The
/// children created by the same commit are instances of their own and are not touched.
///
/// A continue-as-new replaces all of that with [`continue_as_new`].
pub(super) fn commit(tx: &Connection, commit: &EpisodeCommit) -> StoreResult<()> {
    // An error on any early return rolls back whatever was written before it (the writer's
    // savepoint).
    check_ownership(tx, commit)?;
    let history_len = append_events(tx, commit)?;
    for task in &commit.new_activities {
        activities::enqueue(tx, (&commit.instance_id, commit.execution), &commit.owner, task, commit.now)?;
    }
    create_children(tx, commit)?;
    for outgoing in &commit.outgoing {
        if !inbox::deliver(tx, outgoing, commit.now)? {
            tracing::debug!(
                from = %commit.instance_id,
                to = %outgoing.instance_id,
                "dropped a message for an instance that is missing or finished"
            );
        }
    }
    updates::answer(tx, &commit.instance_id, &commit.update_replies, commit.now)?;
    for &id in &commit.consumed_messages {
        if !inbox::consume(tx, &commit.instance_id, id)? {
            return Err(conflict(commit, format!("consumed message {id} is no longer in its inbox")));
        }
    }

    match &commit.continue_as_new {
        Some(next) => continue_as_new(tx, commit, next)?,
        None => update_instance(tx, commit, history_len)?,
    }
    Ok(())
}

/// Writes the instance's new status and releases its lock; a terminal status also cleans up
/// its inbox and unleased tasks.
fn update_instance(tx: &Connection, commit: &EpisodeCommit, history_len: u64) -> StoreResult<()> {
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
        commit.output.as_ref().map(Payload::as_str),
        failure,
        commit.custom_status.as_ref().map(Payload::as_str),
        commit.component,
        int_to_sql(history_len)?,
        time_to_sql(commit.now),
        completed_at
    ])?;

    if terminal {
        inbox::clear(tx, &commit.instance_id)?;
        activities::drop_unleased(tx, &commit.instance_id, commit.now)?;
    }
    Ok(())
}

/// Creates the episode's sub-orchestrations at `commit.now`, each with its `Start` message. A
/// child whose id is already taken (by any instance, or by an earlier child of the same commit)
/// is not created, and the commit does not fail: the child's `if_taken` message is sent instead
/// (the planner makes it fail the task waiting for the child); one without is only logged.
fn create_children(tx: &Connection, commit: &EpisodeCommit) -> StoreResult<()> {
    for child in &commit.new_instances {
        if instances::insert(tx, child, commit.now)? {
            continue;
        }
        match &child.if_taken {
            Some(message) => {
                inbox::deliver(tx, message, commit.now)?;
            }
            None => {
                tracing::warn!(from = %commit.instance_id, "did not start instance '{}': its id is taken", child.instance_id)
            }
        }
    }
    Ok(())
}

/// Moves the instance to its next execution, after the episode's events went to the current
/// one's history: `execution + 1`, an empty history, the new input, status `ContinuedAsNew`
/// (whatever `commit.status` says), no output, failure or `completed_at`, the episode's custom
/// status, the new parent link if one is given, and no component: like a new instance, the new
/// execution pins the newest component at its first episode. The lock is released.
///
/// The old execution's unleased activity tasks are deleted (a leased one is left to its worker,
/// whose result is then dropped: the instance moved on), and so are its messages, except its
/// control messages and, with `keep_pending_events`, its events (see [`inbox::take_execution`]).
/// The new execution's inbox then holds, in this order: `Start` visible at `start_at`, the
/// `carry` messages visible at `now`, and the kept messages with their own times.
fn continue_as_new(tx: &Connection, commit: &EpisodeCommit, next: &ContinueAsNew) -> StoreResult<()> {
    let parent = next.parent.as_ref().map(to_json).transpose()?;
    let now = commit.now;
    let (name, execution) = tx
        .prepare_cached(
            "UPDATE instances SET execution = execution + 1, status = ?2, input = ?3, output = NULL, \
                 failure = NULL, custom_status = ?4, component = NULL, parent = COALESCE(?5, parent), \
                 history_len = 0, updated_at = ?6, completed_at = NULL, lock_owner = NULL, lock_until = NULL \
             WHERE instance_id = ?1 \
             RETURNING name, execution",
        )?
        .query_row(
            params![
                commit.instance_id,
                RuntimeStatus::ContinuedAsNew.as_str(),
                next.input.as_str(),
                commit.custom_status.as_ref().map(Payload::as_str),
                parent,
                time_to_sql(now)
            ],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
        )?;
    let key = format!("instance '{}'", commit.instance_id);
    let execution: u32 = At { table: "instances", key: &key }.unsigned("execution", execution)?;

    activities::drop_unleased(tx, &commit.instance_id, now)?;
    let kept = inbox::take_execution(tx, &commit.instance_id, commit.execution, next.keep_pending_events)?;
    let start = Message::Start { name, input: next.input.clone() };
    inbox::enqueue(tx, &commit.instance_id, execution, &start, next.start_at, now)?;
    for message in &next.carry {
        inbox::enqueue(tx, &commit.instance_id, execution, message, now, now)?;
    }
    for pending in kept {
        inbox::enqueue(tx, &commit.instance_id, execution, &pending.message, pending.visible_at, pending.created_at)?;
    }
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
///
/// A cold replay reads every event of a long history, so the texts are decoded where SQLite holds
/// them (no copy per row) and a row's name for errors is only formatted for an error.
pub(super) fn history(conn: &Connection, instance_id: &str, execution: u32) -> StoreResult<Vec<HistoryEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, kind, event FROM history \
         WHERE instance_id = ?1 AND execution = ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(params![instance_id, execution])?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let key = HistoryRow { instance_id, execution, seq };
        let at = At { table: "history", key: &key };
        let text = |column: usize, name: &str| row.get_ref(column)?.as_str().map_err(|err| at.corrupt(name, err));
        let (kind, event) = (text(1, "kind")?, text(2, "event")?);
        let event: Event = at.json("event", event)?;
        if event.kind() != kind {
            return Err(at.corrupt("kind", format_args!("'{kind}' but the event is {}", event.kind())));
        }
        let seq: u64 = at.unsigned("seq", seq)?;
        if seq != events.len() as u64 {
            return Err(at.corrupt("seq", format_args!("expected {}: events are missing", events.len())));
        }
        events.push(HistoryEvent { seq, event });
    }
    Ok(events)
}

/// How a history row is named in errors: `(instance 'ID', execution N, seq S)`.
struct HistoryRow<'a> {
    instance_id: &'a str,
    execution: u32,
    seq: i64,
}

impl std::fmt::Display for HistoryRow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(instance '{}', execution {}, seq {})", self.instance_id, self.execution, self.seq)
    }
}
