-- Schema version 8: flow control of activities, per activity name and key.
--
-- Rows written by earlier versions need no backfill: their tasks were enqueued without a key
-- (NULL: the activity's one "no key" group) and were never held back by a limit (NULL), and no
-- rate limit had a bucket (a missing bucket is a full one).

-- The key the task's flow limits apply under: the JSON text of the value at its activity's key
-- pointer in its input, computed by the host when the task was enqueued. NULL: no key.
ALTER TABLE activity_tasks ADD COLUMN flow_key TEXT;

-- When a claim first passed over this task because its activity (and key) was at a limit; NULL
-- once a claim takes it, and for a task no limit has held back. What status and metrics show as
-- Throttled.
ALTER TABLE activity_tasks ADD COLUMN throttled_since INTEGER;

-- The claim's count of live leases per activity and key. Partial: leased tasks are the few
-- running at once.
CREATE INDEX activity_tasks_leased_by_flow ON activity_tasks (name, flow_key, lease_until)
    WHERE lease_owner IS NOT NULL;

-- The counts of throttled tasks per activity, for metrics.
CREATE INDEX activity_tasks_throttled ON activity_tasks (name) WHERE throttled_since IS NOT NULL;

-- One token bucket per rate-limited activity and key, kept as the time (microseconds since the
-- epoch) at which it is full again (reprise_core::flow::Bucket). '' is the "no key" group's
-- bucket (a key is JSON text, never empty). A bucket full by now is the same as none: claims
-- delete those.
CREATE TABLE flow_buckets (
    name        TEXT    NOT NULL,
    flow_key    TEXT    NOT NULL,
    full_at_us  INTEGER NOT NULL CHECK (full_at_us >= 0),
    PRIMARY KEY (name, flow_key)
) STRICT, WITHOUT ROWID;

CREATE INDEX flow_buckets_by_full ON flow_buckets (full_at_us);
