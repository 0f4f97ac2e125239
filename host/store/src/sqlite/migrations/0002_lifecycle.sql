-- Schema version 2: activity options (retries, timeouts), control messages (terminate, suspend,
-- resume) and the indexes that timers and retry waits need.
--
-- Rows written by version 1 need no backfill: a version 1 build could not schedule activity
-- options (NULL means the default ones) nor enqueue a control message (0 is right for all).

-- JSON of reprise_core::ActivityOptions; NULL when they are the default (no retry, no timeout).
ALTER TABLE activity_tasks ADD COLUMN options TEXT;

-- 1 when the message is a lifecycle command (Message::is_control): a suspended instance is ready
-- only for these.
ALTER TABLE inbox ADD COLUMN control INTEGER NOT NULL DEFAULT 0 CHECK (control IN (0, 1));

-- ready_instances and next_due: the messages due by (or after) a time, with every inbox column
-- either query needs, so neither reads the table itself. Replaces version 1's
-- (visible_at, instance_id), of which it is an extension.
DROP INDEX inbox_by_visible;
CREATE INDEX inbox_ready ON inbox (visible_at, instance_id, execution, control);

-- next_due: the earliest retry wait still to come.
CREATE INDEX activity_tasks_by_visible ON activity_tasks (visible_at, instance_id, execution);
