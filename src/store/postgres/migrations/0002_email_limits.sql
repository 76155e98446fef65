-- Version 2: the subscriber service's email limits, counted in the state
-- so that every instance of `serve` sees the same counts. One row per
-- email asked for; `key` is a hash of the address or the client.

CREATE TABLE email_hits (
    key  TEXT NOT NULL,
    at   BIGINT NOT NULL
);
CREATE INDEX email_hits_by_key ON email_hits (key, at);
