-- Account secrets: what must never go into an event. The events record that a
-- password was set, a session started or a token was created; the hashes live
-- here, written in the same transaction as those events (eventstore.Tx).
-- Times are Unix milliseconds on both backends.

-- The argon2id hashes of a user's current and previous passwords: the
-- highest seq is current; the last few are kept to refuse reuse.
CREATE TABLE account_passwords (
    user_id  TEXT    NOT NULL,
    seq      BIGINT  NOT NULL,
    hash     TEXT    NOT NULL,
    set_at   BIGINT  NOT NULL,
    PRIMARY KEY (user_id, seq)
);

-- Server-side login sessions, by the SHA-256 of the cookie's token.
CREATE TABLE account_sessions (
    session_id         TEXT    PRIMARY KEY,
    token_hash         TEXT    NOT NULL UNIQUE,
    user_id            TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    expires_at         BIGINT  NOT NULL,
    idle_timeout_ms    BIGINT  NOT NULL, -- 0: no idle timeout (remember me)
    last_seen_at       BIGINT  NOT NULL,
    revoked_at         BIGINT,
    disclaimer_pending INTEGER NOT NULL,
    password_change    INTEGER NOT NULL  -- the session may only change the password
);
CREATE INDEX account_sessions_user ON account_sessions (user_id);

-- Personal API tokens, by the SHA-256 of the token.
CREATE TABLE account_api_tokens (
    token_id     TEXT    PRIMARY KEY,
    token_hash   TEXT    NOT NULL UNIQUE,
    user_id      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX account_api_tokens_user ON account_api_tokens (user_id);

-- Keys the server generates once: the HMAC key of password links.
CREATE TABLE server_secrets (
    name   TEXT  PRIMARY KEY,
    value  BLOB NOT NULL
);
