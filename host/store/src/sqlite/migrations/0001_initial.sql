-- Schema version 1: instances, their histories, inboxes and activity tasks, and components.
--
-- Conventions: every time is INTEGER milliseconds since the Unix epoch (UTC); every JSON value is
-- TEXT as written by serde_json; payloads are stored verbatim. Tables are STRICT so a value of the
-- wrong type is refused on write instead of surfacing as a decoding error later. Statuses are not
-- constrained by CHECK: new statuses arrive with new builds, and SQLite cannot alter a CHECK
-- without rebuilding the table; the store's decoder rejects unknown names instead.

-- One row per instance: its current execution and status, and the episode lock.
CREATE TABLE instances (
    instance_id   TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    execution     INTEGER NOT NULL CHECK (execution >= 1),
    status        TEXT    NOT NULL,
    input         TEXT    NOT NULL,
    output        TEXT,
    failure       TEXT,    -- JSON of reprise_core::Failure
    custom_status TEXT,
    component     TEXT,    -- content hash; set by the first episode
    history_len   INTEGER NOT NULL DEFAULT 0 CHECK (history_len >= 0),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    completed_at  INTEGER,
    lock_owner    TEXT,    -- NULL when no host is running an episode of it
    lock_until    INTEGER
) STRICT;

-- list_instances: newest first, optionally by status.
CREATE INDEX instances_by_created ON instances (created_at);
CREATE INDEX instances_by_status ON instances (status, created_at);

-- The append-only history, clustered by its key so one execution is one contiguous range.
CREATE TABLE history (
    instance_id TEXT    NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
    execution   INTEGER NOT NULL,
    seq         INTEGER NOT NULL CHECK (seq >= 0),
    kind        TEXT    NOT NULL,  -- Event::kind(), for people and ad-hoc queries
    event       TEXT    NOT NULL,  -- JSON of reprise_core::Event
    PRIMARY KEY (instance_id, execution, seq)
) STRICT, WITHOUT ROWID;

-- Messages waiting for an instance. AUTOINCREMENT: ids are never reused, so delivery order is id
-- order and a consumed id can never name a newer message. visible_at delays delivery (timers,
-- retry waits): a message is delivered once visible_at <= now.
CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT    NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
    execution   INTEGER NOT NULL,
    message     TEXT    NOT NULL,  -- JSON of reprise_core::Message
    visible_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- messages() and commit_episode's clean-up: one instance's messages in id order.
CREATE INDEX inbox_by_instance ON inbox (instance_id, execution, id);
-- ready_instances: the messages due at a time.
CREATE INDEX inbox_by_visible ON inbox (visible_at, instance_id);

-- The activity work queue. A task is claimable when visible and not under a live lease;
-- attempt counts the claims so far.
CREATE TABLE activity_tasks (
    instance_id TEXT    NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
    execution   INTEGER NOT NULL,
    task_id     INTEGER NOT NULL CHECK (task_id >= 0),
    name        TEXT    NOT NULL,
    input       TEXT    NOT NULL,
    attempt     INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    visible_at  INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (instance_id, execution, task_id)
) STRICT;

-- claim_activities: oldest first.
CREATE INDEX activity_tasks_by_age ON activity_tasks (created_at);

-- Loaded components, kept so that pinned instances replay after the file on disk changes.
CREATE TABLE components (
    hash          TEXT    NOT NULL PRIMARY KEY,  -- hex SHA-256 of bytes
    source        TEXT    NOT NULL,
    bytes         BLOB    NOT NULL,
    orchestrators TEXT    NOT NULL,  -- JSON array of names
    activities    TEXT    NOT NULL,  -- JSON array of names
    loaded_at     INTEGER NOT NULL
) STRICT;
