-- Schema version 3: sub-orchestrations and continue-as-new.
--
-- Rows written by earlier versions need no backfill: those builds could not start a
-- sub-orchestration, so every existing instance was started by a client (NULL parent). An
-- instance that continues as new keeps its row and moves to the next `execution`, which the
-- schema already has; its status ContinuedAsNew needs no change either (statuses are not
-- constrained, see version 1).

-- JSON of reprise_core::ParentRef: the orchestration that started this one as a
-- sub-orchestration and waits for its result. NULL for an instance started by a client.
ALTER TABLE instances ADD COLUMN parent TEXT;

-- The parent's instance id, derived from `parent` so the two can never disagree. VIRTUAL (the
-- only kind ALTER TABLE can add): computed on read, and stored only in the index below.
ALTER TABLE instances ADD COLUMN parent_instance TEXT
    GENERATED ALWAYS AS (json_extract(parent, '$.instance_id')) VIRTUAL;

-- children(): the instances a parent started, to terminate them with it. Partial, since most
-- instances have no parent.
CREATE INDEX instances_by_parent ON instances (parent_instance) WHERE parent_instance IS NOT NULL;
