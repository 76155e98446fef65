-- Version 1 of broadsheet's state. Applied once, in a transaction; later
-- versions append files, never edit this one.

CREATE TABLE subscribers (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL,              -- as given
    email_key     TEXT NOT NULL UNIQUE,       -- the domain lower-cased: how addresses are compared
    name          TEXT NOT NULL DEFAULT '',
    columns       TEXT NOT NULL DEFAULT '',   -- ';'-separated slugs; '' follows every column
    status        TEXT NOT NULL CHECK (status IN ('active', 'pending', 'unsubscribed', 'bounced')),
    hard_bounces  INTEGER NOT NULL DEFAULT 0, -- permanent failures in a row
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX subscribers_by_status ON subscribers (status);

CREATE TABLE articles_seen (
    id           TEXT PRIMARY KEY,            -- the article's feed id
    column_slug  TEXT NOT NULL,
    published    TEXT NOT NULL,
    first_seen   TEXT NOT NULL
);

CREATE TABLE issues (
    id           INTEGER PRIMARY KEY,
    label        TEXT NOT NULL,               -- ISO week, e.g. 2026-W24
    cutoff       TEXT NOT NULL UNIQUE,        -- RFC 3339, UTC: the scheduled time
    status       TEXT NOT NULL CHECK (status IN ('sending', 'done')),
    created_at   TEXT NOT NULL,
    finished_at  TEXT
);

-- Which issue carried which article. An article is carried once, ever.
CREATE TABLE issue_articles (
    issue_id     INTEGER NOT NULL REFERENCES issues (id),
    article_id   TEXT NOT NULL UNIQUE,
    column_slug  TEXT NOT NULL,
    PRIMARY KEY (issue_id, article_id)
);

CREATE TABLE deliveries (
    id             INTEGER PRIMARY KEY,
    issue_id       INTEGER NOT NULL REFERENCES issues (id),
    subscriber_id  INTEGER NOT NULL REFERENCES subscribers (id),
    status         TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'deferred', 'failed', 'unknown')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_reply     TEXT,
    message_id     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    sent_at        TEXT,
    UNIQUE (issue_id, subscriber_id)
);
CREATE INDEX deliveries_by_status ON deliveries (issue_id, status);
