-- Version 5: the subscriber service's email limits, counted in the state
-- so that every instance of `serve` sharing it (and a restarted one) sees
-- the same counts. One row per email asked for; `key` is a hash of the
-- address or the client, never the address itself.

CREATE TABLE email_hits (
    key  TEXT NOT NULL,
    at   INTEGER NOT NULL    -- Unix seconds
);
CREATE INDEX email_hits_by_key ON email_hits (key, at);
