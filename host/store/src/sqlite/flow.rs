//! Flow control in the claim: which claimable tasks the limits let through, read and written in
//! the claim's own transaction, so that every process claiming from the file sees the same
//! counts and buckets.
//!
//! It owns the live-lease counts per activity and key, the `flow_buckets` table (one token
//! bucket per rate-limited activity and key, kept as `reprise_core::flow::Bucket`) and the
//! `throttled_since` marks. The limits themselves and the bucket's arithmetic are
//! `reprise_core::flow`'s; which tasks are claimable at all (visible, not leased, instance
//! running) and in which order is the claim's, in `activities`. It never claims a task itself.

use super::codec::{At, time_to_sql};
use crate::{Bucket, FlowLimit, FlowLimits, StoreResult};
use reprise_core::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap};

/// A claimable task, as the claim reads the queue in age order.
pub(super) struct Candidate {
    /// The task's row.
    pub(super) rowid: i64,
    /// Its activity.
    pub(super) name: String,
    /// Its key, stored at enqueue.
    pub(super) flow_key: Option<String>,
    /// Whether an earlier claim already marked it throttled.
    pub(super) throttled: bool,
}

/// One activity and key's state during a claim.
struct Group {
    /// Tasks under a live lease, those this claim takes included.
    live: u64,
    /// The bucket as this claim leaves it, if the activity has a rate limit.
    bucket: Option<Bucket>,
    /// Whether the bucket changed (it is written back).
    taken: bool,
    /// Whether the group held a task back in this claim: its younger tasks wait too, so that it
    /// is served oldest first.
    closed: bool,
}

/// The decisions of one claim: which candidates it takes, and what it held back.
pub(super) struct Gate<'a> {
    flow: &'a FlowLimits,
    now: Timestamp,
    groups: HashMap<(String, Option<String>), Group>,
    /// Held back, by activity name.
    pub(super) deferred: BTreeMap<String, u64>,
    /// The rows held back that were not marked throttled yet.
    newly_throttled: Vec<i64>,
    /// The earliest next token of a bucket that held a task back.
    pub(super) next_token_at: Option<Timestamp>,
}

impl<'a> Gate<'a> {
    pub(super) fn new(flow: &'a FlowLimits, now: Timestamp) -> Self {
        Gate {
            flow,
            now,
            groups: HashMap::new(),
            deferred: BTreeMap::new(),
            newly_throttled: Vec::new(),
            next_token_at: None,
        }
    }

    /// Whether the limits let `task` be claimed now; if they do, it counts as claimed (a live
    /// lease, a token taken). Reads the group's live leases and bucket the first time it meets
    /// the group.
    pub(super) fn admit(&mut self, tx: &Connection, task: &Candidate) -> StoreResult<bool> {
        let Some(limit) = self.flow.of(&task.name) else {
            return Ok(true);
        };
        let key = (task.name.clone(), task.flow_key.clone());
        let group = match self.groups.entry(key) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let group = read_group(tx, &task.name, task.flow_key.as_deref(), limit, self.now)?;
                entry.insert(group)
            }
        };
        let admitted = !group.closed && admit(group, limit, self.now, &mut self.next_token_at);
        if !admitted {
            group.closed = true;
            *self.deferred.entry(task.name.clone()).or_default() += 1;
            if !task.throttled {
                self.newly_throttled.push(task.rowid);
            }
        }
        Ok(admitted)
    }

    /// Writes what the claim decided: the buckets it took tokens from, the marks of the tasks it
    /// held back for the first time; and forgets the buckets that are full again by now.
    pub(super) fn write(self, tx: &Connection) -> StoreResult<()> {
        let now_us = time_to_sql(self.now).saturating_mul(1000);
        tx.prepare_cached("DELETE FROM flow_buckets WHERE full_at_us <= ?1")?.execute([now_us])?;
        let mut save = tx.prepare_cached(
            "INSERT INTO flow_buckets (name, flow_key, full_at_us) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name, flow_key) DO UPDATE SET full_at_us = excluded.full_at_us",
        )?;
        for ((name, key), group) in &self.groups {
            if let (true, Some(bucket)) = (group.taken, group.bucket) {
                save.execute(params![name, bucket_key(key.as_deref()), time_to_sql(bucket.full_at_us)])?;
            }
        }
        let mut mark = tx.prepare_cached("UPDATE activity_tasks SET throttled_since = ?2 WHERE rowid = ?1")?;
        for rowid in &self.newly_throttled {
            mark.execute(params![rowid, time_to_sql(self.now)])?;
        }
        Ok(())
    }
}

/// Whether the group, at its limits, admits one more task at `now`; if so, counts it.
fn admit(group: &mut Group, limit: &FlowLimit, now: Timestamp, next_token_at: &mut Option<Timestamp>) -> bool {
    if limit.concurrency.is_some_and(|most| group.live >= u64::from(most)) {
        return false;
    }
    if let (Some(rate), Some(bucket)) = (&limit.rate, group.bucket) {
        match rate.take(bucket, now) {
            Ok(after) => {
                group.bucket = Some(after);
                group.taken = true;
            }
            Err(at) => {
                *next_token_at = Some(next_token_at.map_or(at, |known| known.min(at)));
                return false;
            }
        }
    }
    group.live += 1;
    true
}

/// The `flow_buckets` key of a task key: the "no key" group's bucket is '' (a key is JSON text,
/// never empty).
fn bucket_key(key: Option<&str>) -> &str {
    key.unwrap_or("")
}

/// A group's live leases at `now` and its bucket, as the claim finds them.
fn read_group(tx: &Connection, name: &str, key: Option<&str>, limit: &FlowLimit, now: Timestamp) -> StoreResult<Group> {
    let live: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM activity_tasks INDEXED BY activity_tasks_leased_by_flow \
             WHERE name = ?1 AND flow_key IS ?2 AND lease_owner IS NOT NULL AND lease_until > ?3",
        )?
        .query_row(params![name, key, time_to_sql(now)], |row| row.get(0))?;
    let bucket = match limit.rate {
        None => None,
        Some(_) => {
            let full_at: Option<i64> = tx
                .prepare_cached("SELECT full_at_us FROM flow_buckets WHERE name = ?1 AND flow_key = ?2")?
                .query_row(params![name, bucket_key(key)], |row| row.get(0))
                .optional()?;
            let at = At { table: "flow_buckets", key: &name };
            Some(Bucket { full_at_us: at.unsigned_opt("full_at_us", full_at)?.unwrap_or(0) })
        }
    };
    let live = At { table: "activity_tasks", key: &"the live leases" }.unsigned("count", live)?;
    Ok(Group { live, bucket, taken: false, closed: false })
}
