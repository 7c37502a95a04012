-- Tamper evidence (see eventstore/chain.go). Each event stores a hash over
-- its content as stored and the hash of the previous event of its stream,
-- computed here, in the append's own statement, by a row trigger: appends to
-- different streams never wait for each other. The previous event is found
-- by events_stream_version_key; a row trigger sees the rows its statement
-- inserted before it, so a multi-event append chains its own events.
ALTER TABLE events ADD COLUMN hash BYTEA;

-- One length-prefixed field of the hash input (eventstore.EventHash).
CREATE FUNCTION eventstore_hash_field(b BYTEA) RETURNS BYTEA
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT int8send(length(b)::bigint) || b $$;

-- An instant as microseconds since the epoch, the form its hash reads.
CREATE FUNCTION eventstore_micros(t TIMESTAMPTZ) RETURNS BIGINT
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT (extract(epoch FROM t) * 1000000)::bigint $$;

-- The hash of an event row given the previous hash of its stream: exactly
-- the bytes eventstore.EventHash hashes, from the stored (canonical) text of
-- the JSONB columns and recorded_at in microseconds since the epoch.
CREATE FUNCTION eventstore_event_hash(prev BYTEA, e events) RETURNS BYTEA
LANGUAGE sql STABLE AS $$
SELECT sha256(
    eventstore_hash_field(coalesce(prev, ''::bytea)) ||
    eventstore_hash_field(convert_to(e.stream_id, 'UTF8')) ||
    eventstore_hash_field(convert_to(e.stream_version::text, 'UTF8')) ||
    eventstore_hash_field(convert_to(e.event_id::text, 'UTF8')) ||
    eventstore_hash_field(convert_to(e.event_type, 'UTF8')) ||
    eventstore_hash_field(convert_to(e.data::text, 'UTF8')) ||
    eventstore_hash_field(convert_to(e.metadata::text, 'UTF8')) ||
    eventstore_hash_field(convert_to(coalesce(array_to_string(e.subjects, ' '), ''), 'UTF8')) ||
    eventstore_hash_field(convert_to(eventstore_micros(e.recorded_at)::text, 'UTF8')))
$$;

CREATE FUNCTION eventstore_chain() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    prev BYTEA;
BEGIN
    IF NEW.stream_version > 1 THEN
        SELECT hash INTO prev FROM events
         WHERE stream_id = NEW.stream_id AND stream_version = NEW.stream_version - 1;
    END IF;
    NEW.hash := eventstore_event_hash(prev, NEW);
    RETURN NEW;
END;
$$;

CREATE TRIGGER events_chain BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION eventstore_chain();

-- The events stored before this migration, chained in stream order.
DO $$
DECLARE
    r events;
    prev BYTEA;
    last_stream TEXT := NULL;
BEGIN
    FOR r IN SELECT * FROM events ORDER BY stream_id, stream_version LOOP
        IF last_stream IS DISTINCT FROM r.stream_id THEN
            prev := NULL;
            last_stream := r.stream_id;
        END IF;
        prev := eventstore_event_hash(prev, r);
        UPDATE events SET hash = prev WHERE position = r.position;
    END LOOP;
END;
$$;

-- Signed checkpoints of the global log (eventstore.Checkpoint).
CREATE TABLE event_chain_checkpoints (
    seq         BIGINT      PRIMARY KEY,
    position    BIGINT      NOT NULL,
    events      BIGINT      NOT NULL,
    digest      BYTEA       NOT NULL,
    signature   BYTEA       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
