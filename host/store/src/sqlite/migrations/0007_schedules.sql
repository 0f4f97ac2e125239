-- Schema version 7: schedules, their progress and their recorded runs.
--
-- A schedule's progress is its cursor (every slot at or before it has been handled), the slot
-- that waits for the previous run (buffer-one) and the counts; `version` is bumped by every
-- write of the row, so that two hosts deciding on the same schedule at once cannot both write:
-- the second finds the version moved and decides again. The runs a fire starts are instances
-- whose ids are derived from the schedule and the slot, created in the same transaction, so a
-- slot that was fired once can never be fired again.
CREATE TABLE schedules (
    name          TEXT    NOT NULL PRIMARY KEY,
    spec          TEXT    NOT NULL,  -- JSON of reprise_core::schedule::ScheduleSpec
    paused        INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    cursor        INTEGER NOT NULL,
    buffered_slot INTEGER,
    last_instance TEXT,
    fired         INTEGER NOT NULL DEFAULT 0 CHECK (fired >= 0),
    skipped       INTEGER NOT NULL DEFAULT 0 CHECK (skipped >= 0),
    missed        INTEGER NOT NULL DEFAULT 0 CHECK (missed >= 0),
    manual        INTEGER NOT NULL DEFAULT 0 CHECK (manual >= 0),
    version       INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

-- The latest runs of each schedule (the store keeps a bounded number per schedule). Instances
-- are not referenced by a foreign key: a run outlives the purge of its instance.
CREATE TABLE schedule_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule    TEXT    NOT NULL REFERENCES schedules (name) ON DELETE CASCADE,
    slot        INTEGER,           -- NULL for a manual run
    kind        TEXT    NOT NULL,  -- RunKind::as_str
    outcome     TEXT    NOT NULL,  -- RunOutcome::as_str
    instance_id TEXT,
    at          INTEGER NOT NULL
) STRICT;

CREATE INDEX schedule_runs_by_schedule ON schedule_runs (schedule, id);
