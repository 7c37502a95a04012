-- The rebuild that made a projection's fresh tables (TABLE__rebuild): a
-- token written in the transaction that creates them and checked in the
-- one that swaps them in, so that a rebuild only swaps in the tables it
-- filled from the start. The row of a rebuild that was killed names its
-- process until the next rebuild, holding the projection's rebuild lock,
-- drops its tables. The lock itself is a PostgreSQL advisory lock or, on
-- SQLite, a lock file beside the database (projections/locks.go).
CREATE TABLE projection_rebuilds (
    projection  TEXT   PRIMARY KEY,
    token       TEXT   NOT NULL,
    owner       TEXT   NOT NULL, -- program, pid and host of the rebuild
    started_at  BIGINT NOT NULL  -- Unix milliseconds
);

-- How far the erasure job (jobs.ApplyErasures) got: per projection, the
-- position of the last PersonErased event its views were rebuilt after.
-- A node that takes over from one that died skips the projections already
-- rebuilt for the erasures at hand.
CREATE TABLE erasure_rebuild_progress (
    projection  TEXT   PRIMARY KEY,
    position    BIGINT NOT NULL,
    rebuilt_at  BIGINT NOT NULL  -- Unix milliseconds
);
