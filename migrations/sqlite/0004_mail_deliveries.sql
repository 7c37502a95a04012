-- Mail deliveries: whether each message of the mail_outbox read model was
-- sent. The outbox is a projection and is rebuilt from the events; this
-- table is not, so a rebuild finds every message it had sent recorded here
-- and sends nothing again. A row is created when a dispatcher first claims a
-- message. Times are Unix milliseconds on both backends.

-- status: pending (to be tried at next_attempt_at), sent, or failed (a
-- permanent refusal, no address, or too many attempts: never tried again).
-- lease_until: a dispatcher claimed the row and is sending it until then;
-- another may claim it only after that (0: nobody holds it).
CREATE TABLE mail_deliveries (
    message_id      TEXT    PRIMARY KEY, -- mail_outbox.id
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    lease_until     BIGINT  NOT NULL,
    last_error      TEXT    NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX mail_deliveries_due ON mail_deliveries (status, next_attempt_at);
