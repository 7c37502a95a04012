-- The capacityd processes sharing this database's projections
-- (projections/leases.go). Each registers itself here when its engine
-- starts and beats every couple of seconds. Which node runs a projection is
-- not stored: it is the holder of the projection's session advisory lock,
-- taken on the node's own connection (backend_pid), so it ends with the
-- process however the process ends, SIGKILL included. Operators read the
-- owners through `capacityctl projections status`, which joins pg_locks to
-- this table. Nodes share out the projections among the live nodes that
-- run the same set of projections (the same version of the server). Rows
-- of nodes gone for an hour are deleted by the live ones.
-- PostgreSQL only: on SQLite the one embedded server runs every projection.
CREATE TABLE projection_nodes (
    id           TEXT        PRIMARY KEY, -- random, one per engine run
    owner        TEXT        NOT NULL,    -- program, pid and host
    projections  TEXT        NOT NULL,    -- fingerprint of the set of projections it runs
    backend_pid  INTEGER     NOT NULL,    -- the PostgreSQL session holding its leases
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
