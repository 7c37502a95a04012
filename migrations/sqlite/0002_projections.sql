-- Projections: how far each read model has applied the log, and the events
-- it could not apply. A projection's checkpoint is updated in the same
-- transaction as its read-model rows. Times are fixed-width UTC text.
CREATE TABLE projection_checkpoints (
    name        TEXT    PRIMARY KEY,
    position    INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT    NOT NULL
);

-- Events a projection skipped after its retries, with the last error.
CREATE TABLE projection_poison (
    projection  TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    event_id    TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    failed_at   TEXT    NOT NULL,
    PRIMARY KEY (projection, position)
);
