-- Version 7: bounces and complaints that arrive after the SMTP session (a
-- delivery status notification to the VERP address, a feedback-loop
-- report, a sending service's webhook), each kept with its evidence.
--
-- A subscriber who reported the digest as spam is `complained`. SQLite
-- changes a CHECK constraint only by making the table again: the rows are
-- copied into a new table that takes the old one's name. The migration
-- runs with foreign keys off (see `open.rs`), as SQLite's documented
-- procedure asks, and checks them before it commits.

CREATE TABLE subscribers_v7 (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    columns       TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL CHECK (status IN ('active', 'pending', 'unsubscribed', 'bounced', 'complained')),
    hard_bounces  INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
INSERT INTO subscribers_v7 (id, email, email_key, name, columns, status, hard_bounces, created_at, updated_at)
    SELECT id, email, email_key, name, columns, status, hard_bounces, created_at, updated_at FROM subscribers;
DROP TABLE subscribers;
ALTER TABLE subscribers_v7 RENAME TO subscribers;
CREATE INDEX subscribers_by_status ON subscribers (status);

-- One row per report. `report_key` is a digest of where it came from and
-- what it says, so the same DSN or webhook arriving twice is one row.
-- `issue_id` is what the VERP token named, with no foreign key: a bounce
-- may come for an issue deleted since. `kind` `unmatched` keeps what a
-- mail server's pipe handed over that names no subscriber of ours (or
-- could not be read), so nothing taken is lost.
CREATE TABLE bounce_events (
    id             INTEGER PRIMARY KEY,
    report_key     TEXT NOT NULL UNIQUE,
    subscriber_id  INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
    email_key      TEXT NOT NULL DEFAULT '',
    issue_id       INTEGER,
    kind           TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint', 'unmatched')),
    status_code    TEXT NOT NULL DEFAULT '',
    diagnostic     TEXT NOT NULL DEFAULT '',
    source         TEXT NOT NULL,
    reported_at    TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    evidence       BLOB NOT NULL
);
CREATE INDEX bounce_events_by_subscriber ON bounce_events (subscriber_id, kind, reported_at);
CREATE INDEX bounce_events_by_issue ON bounce_events (issue_id, kind);
CREATE INDEX bounce_events_by_time ON bounce_events (received_at);
