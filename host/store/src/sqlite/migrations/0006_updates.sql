-- Schema version 6: updates, requests to a running instance that its orchestrator answers.
--
-- One row per update sent to an instance, written with its UpdateRequested message (so a caller's
-- retry under the same id finds it instead of sending it twice) and completed by the episode that
-- answers it (so the caller finds the answer without reading history). Rows written by earlier
-- versions need no backfill: those builds had no updates.

CREATE TABLE updates (
    instance_id  TEXT    NOT NULL REFERENCES instances (instance_id) ON DELETE CASCADE,
    update_id    TEXT    NOT NULL,
    execution    INTEGER NOT NULL,  -- the execution it was sent to
    name         TEXT    NOT NULL,
    input        TEXT    NOT NULL,
    reply        TEXT,              -- JSON of reprise_core::UpdateReply, once answered
    requested_at INTEGER NOT NULL,
    replied_at   INTEGER,
    PRIMARY KEY (instance_id, update_id)
) STRICT, WITHOUT ROWID;
