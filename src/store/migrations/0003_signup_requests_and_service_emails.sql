-- Version 3: sign-up requests and the subscriber service's email queue.

-- One row per sign-up asked for (from the form, or from the preferences
-- page of a reader who left): the name and columns chosen with it, applied
-- only when the confirmation link mailed for this very request is used, so
-- what a stranger typed for an address never reaches its owner's record.
CREATE TABLE signup_requests (
    id             INTEGER PRIMARY KEY,
    subscriber_id  INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    name           TEXT NOT NULL DEFAULT '',
    columns        TEXT NOT NULL DEFAULT '',   -- ';'-separated slugs; '' follows every column
    created_at     TEXT NOT NULL,
    confirmed_at   TEXT
);
CREATE INDEX signup_requests_by_subscriber ON signup_requests (subscriber_id);

-- Confirmation and preferences emails of `serve`, kept until sent: a
-- restart, or a relay too slow to empty the queue before SIGTERM, loses
-- none of them.
CREATE TABLE service_emails (
    id             INTEGER PRIMARY KEY,
    subscriber_id  INTEGER NOT NULL,           -- for the log, which never shows an address
    kind           TEXT NOT NULL,              -- 'confirm' or 'manage'
    envelope_from  TEXT NOT NULL,
    envelope_to    TEXT NOT NULL,
    message        BLOB NOT NULL,              -- the whole message, as sent
    file_name      TEXT NOT NULL,              -- its outbox file name
    status         TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_reply     TEXT,
    not_before     INTEGER NOT NULL,           -- Unix seconds: the next attempt, after a refusal
    give_up_at     INTEGER NOT NULL,           -- Unix seconds: past this the link inside has expired
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX service_emails_queued ON service_emails (status, not_before, id);
