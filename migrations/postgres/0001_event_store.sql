-- The event log. position is the global position: (transaction id << 20) | n,
-- where n counts the events of one transaction from 0. Ordering by position is
-- therefore ordering by (transaction id, insert order), and a reader that only
-- reads below pg_snapshot_xmin(pg_current_snapshot()) never skips an event of
-- a transaction that commits later (see eventstore/postgres).
--
-- A stream's current version is max(stream_version), read through
-- events_stream_version_key; that key's uniqueness is what serializes two
-- appends racing on one stream: the second INSERT waits for the first to
-- commit, then fails, and is reported as a version conflict.
CREATE TABLE events (
    position        BIGINT      PRIMARY KEY,
    transaction_id  xid8        NOT NULL,
    stream_id       TEXT        NOT NULL,
    category        TEXT        NOT NULL,
    stream_version  BIGINT      NOT NULL,
    event_id        UUID        NOT NULL,
    event_type      TEXT        NOT NULL,
    data            JSONB       NOT NULL,
    metadata        JSONB       NOT NULL,
    subjects        TEXT[],
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (event_id)
);
CREATE INDEX events_category_position ON events (category, position);
-- The first event of every stream: lists streams by category without a
-- separate streams table to write on every append.
CREATE INDEX events_stream_heads ON events (category, stream_id) WHERE stream_version = 1;

-- Keys of data subjects for personal fields. Never copied into the log:
-- deleting a row crypto-shreds that subject's personal data.
CREATE TABLE subject_keys (
    subject     TEXT        PRIMARY KEY,
    key         BYTEA       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Raised from the append statement when the expected version does not match:
-- SQLSTATE CT409 with the current version in DETAIL. An error (rather than
-- inserting nothing) aborts the whole transaction of a multi-stream append.
CREATE FUNCTION eventstore_conflict(p_stream TEXT, p_current BIGINT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'wrong expected version for stream %', p_stream
        USING ERRCODE = 'CT409', DETAIL = p_current::text;
END;
$$;
