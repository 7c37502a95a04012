-- Tamper evidence (see eventstore/chain.go): each event's hash, chained per
-- stream, computed by the store in the append transaction (SQLite has no
-- SHA-256 of its own); streams.head_hash is the hash of each stream's last
-- event, the next event's link. Events stored before this migration are
-- hashed by the store when it opens the file.
ALTER TABLE events ADD COLUMN hash BLOB;
ALTER TABLE streams ADD COLUMN head_hash BLOB;

-- Signed checkpoints of the global log (eventstore.Checkpoint).
CREATE TABLE event_chain_checkpoints (
    seq         INTEGER PRIMARY KEY,
    position    INTEGER NOT NULL,
    events      INTEGER NOT NULL,
    digest      BLOB    NOT NULL,
    signature   BLOB    NOT NULL,
    created_at  TEXT    NOT NULL
);
