-- The event log. position is the global position: (transaction id << 20) | n,
-- where n counts the events of one transaction from 0. Ordering by position is
-- therefore ordering by (transaction id, insert order), and a reader that only
-- reads below pg_snapshot_xmin(pg_current_snapshot()) never skips an event of
-- a transaction that commits later (see eventstore/postgres).
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

-- One row per stream: its current version, locked by appends.
CREATE TABLE streams (
    stream_id   TEXT        PRIMARY KEY,
    category    TEXT        NOT NULL,
    version     BIGINT      NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX streams_category ON streams (category, stream_id);

-- Keys of data subjects for personal fields. Never copied into the log:
-- deleting a row crypto-shreds that subject's personal data.
CREATE TABLE subject_keys (
    subject     TEXT        PRIMARY KEY,
    key         BYTEA       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Appends events to one stream in the calling transaction. Raises SQLSTATE
-- CT409 with the current version in DETAIL when p_expected does not match.
-- p_expected: -1 any, -2 no stream, -3 stream exists, >= 0 exact version.
CREATE FUNCTION eventstore_append(
    p_stream   TEXT,
    p_category TEXT,
    p_expected BIGINT,
    p_ids      UUID[],
    p_types    TEXT[],
    p_data     JSONB[],
    p_meta     JSONB[],
    p_subjects TEXT[]
) RETURNS TABLE (out_position BIGINT, out_version BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_current BIGINT;
    v_exists  BOOLEAN := TRUE;
    v_xid     xid8 := pg_current_xact_id();
    v_base    BIGINT;
    v_next    BIGINT;
    v_n       INT := cardinality(p_ids);
BEGIN
    SELECT version INTO v_current FROM streams WHERE stream_id = p_stream FOR UPDATE;
    IF NOT FOUND THEN
        v_exists := FALSE;
        v_current := 0;
    END IF;

    IF NOT (p_expected = -1
            OR (p_expected = -2 AND v_current = 0)
            OR (p_expected = -3 AND v_current > 0)
            OR (p_expected >= 0 AND p_expected = v_current)) THEN
        RAISE EXCEPTION 'wrong expected version for stream %', p_stream
            USING ERRCODE = 'CT409', DETAIL = v_current::text;
    END IF;

    IF v_exists THEN
        UPDATE streams SET version = v_current + v_n, updated_at = now() WHERE stream_id = p_stream;
    ELSE
        -- A concurrent first append of the same stream makes this fail with
        -- a unique violation; the caller reports it as a version conflict.
        INSERT INTO streams (stream_id, category, version) VALUES (p_stream, p_category, v_n);
    END IF;

    v_base := (v_xid::text::bigint) << 20;
    SELECT coalesce(max(position) + 1, v_base) INTO v_next
      FROM events WHERE position >= v_base AND position < v_base + 1048576;
    IF v_next + v_n > v_base + 1048576 THEN
        RAISE EXCEPTION 'more than 1048576 events in one transaction' USING ERRCODE = 'CT413';
    END IF;

    RETURN QUERY
    INSERT INTO events (position, transaction_id, stream_id, category, stream_version,
                        event_id, event_type, data, metadata, subjects)
    SELECT v_next + i - 1, v_xid, p_stream, p_category, v_current + i,
           p_ids[i], p_types[i], p_data[i], p_meta[i],
           CASE WHEN p_subjects[i] IS NULL THEN NULL ELSE string_to_array(p_subjects[i], ' ') END
      FROM generate_series(1, v_n) AS i
    RETURNING position, stream_version;
END;
$$;
