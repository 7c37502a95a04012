-- From this migration on, the projections redact an erased person's rows
-- in place when the PersonErased event reaches them (projections.Eraser),
-- and no erasure needs the views rebuilt. position is the log's head when
-- the migration ran: an erasure at or below it that the erasure job had not
-- yet rebuilt the views for (none after it in erasure_rebuilds) may have
-- been passed by projections that ignored it, and jobs.ApplyErasures still
-- rebuilds the views for it, once. Every later erasure is left to the
-- projections.
CREATE TABLE erasure_in_place (
    position BIGINT NOT NULL
);
INSERT INTO erasure_in_place (position) SELECT coalesce(max(position), 0) FROM events;
