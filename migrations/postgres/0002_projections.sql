-- Projections: how far each read model has applied the log, and the events
-- it could not apply. Each batch of a projection (and a rebuild's swap) holds
-- the projection's advisory lock; the checkpoint is updated in the same transaction as
-- its read-model rows.
CREATE TABLE projection_checkpoints (
    name        TEXT        PRIMARY KEY,
    position    BIGINT      NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Events a projection skipped after its retries, with the last error.
CREATE TABLE projection_poison (
    projection  TEXT        NOT NULL,
    position    BIGINT      NOT NULL,
    event_id    UUID        NOT NULL,
    event_type  TEXT        NOT NULL,
    error       TEXT        NOT NULL,
    failed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, position)
);
