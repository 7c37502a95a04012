-- The fingerprint of the schema a projection's tables were created with
-- (SHA-256 of its Schema statements, hex). When a release changes the
-- schema, the engine finds another fingerprint at start, drops the tables,
-- creates them again and replays the log from the start. NULL: created
-- before this column existed, treated as changed (rebuilt once).
ALTER TABLE projection_checkpoints ADD COLUMN schema_hash TEXT;
