-- Rate limit counters (commands/ratelimit): how many requests of one kind
-- came from one client address, or named one account, in the current
-- window. Like a session's last-seen time this is bookkeeping, not an
-- event: nothing of it is a fact of the domain, no projection reads it,
-- and rows whose window ended are deleted (ratelimit.Limiter.Sweep).
--
-- scope: the kind of request, the dimension and the window, e.g.
-- "sign-in/address/60s". counter_key: the SHA-256 (hex) of the address or
-- of the account's normalised email or id, so that no address or email is
-- kept here in the clear. A window starts at the first request after the
-- previous one ended; times are Unix milliseconds on both backends.
CREATE TABLE rate_limit_counters (
    scope        TEXT   NOT NULL,
    counter_key  TEXT   NOT NULL,
    window_start BIGINT NOT NULL,
    window_end   BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    PRIMARY KEY (scope, counter_key)
);
CREATE INDEX rate_limit_counters_window_end ON rate_limit_counters (window_end);
