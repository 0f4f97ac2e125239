-- Schema version 4: durable entities.
--
-- An entity is stored as an instance whose id is `@name@key` (so it shares the inbox, the lock
-- and the ready query of orchestration instances) plus one row here with its state. While a
-- critical section holds it, its instance's status is Suspended: the ready query then counts only
-- its control messages, which for an entity are its holder's operations and the release. Rows written
-- by earlier versions need no backfill: those builds had no entities, and their components
-- exported none ('[]').

-- One row per entity that has received an operation.
CREATE TABLE entities (
    instance_id TEXT    NOT NULL PRIMARY KEY REFERENCES instances (instance_id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    state       TEXT,    -- JSON; NULL while the entity has no state (never set, or deleted)
    operations  INTEGER NOT NULL DEFAULT 0 CHECK (operations >= 0),  -- operations applied so far
    locked_by   TEXT,    -- JSON of reprise_core::LockHolder while a critical section holds it
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- list_entities: by type, then key.
CREATE INDEX entities_by_name ON entities (name, key);

-- The entity types a component exports: JSON array of names.
ALTER TABLE components ADD COLUMN entities TEXT NOT NULL DEFAULT '[]';
