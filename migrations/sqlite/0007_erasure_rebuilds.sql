-- Erasures whose views were rebuilt (jobs.ApplyErasures): the position of
-- each PersonErased event once every projection was rebuilt after it, so
-- that nothing the erased person's key used to open stays in a read model.
-- Like mail_deliveries it is not a projection: rebuilds never reset it.
CREATE TABLE erasure_rebuilds (
    position    BIGINT PRIMARY KEY,
    erasure_id  TEXT   NOT NULL,
    rebuilt_at  BIGINT NOT NULL -- Unix milliseconds
);
