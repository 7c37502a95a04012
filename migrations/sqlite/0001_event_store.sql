-- The event log. SQLite has one writer at a time, so positions (rowids) are
-- assigned in commit order and a reader never sees a gap close behind it.
CREATE TABLE events (
    position        INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id       TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL,
    event_id        TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    data            TEXT    NOT NULL,
    metadata        TEXT    NOT NULL,
    subjects        TEXT,
    recorded_at     TEXT    NOT NULL,
    UNIQUE (stream_id, stream_version),
    UNIQUE (event_id)
);
CREATE INDEX events_category_position ON events (category, position);

CREATE TABLE streams (
    stream_id   TEXT    PRIMARY KEY,
    category    TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE INDEX streams_category ON streams (category, stream_id);

CREATE TABLE subject_keys (
    subject     TEXT PRIMARY KEY,
    key         BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
