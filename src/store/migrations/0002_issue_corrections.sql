-- Version 2: corrections listed in a digest. A correction (an article and
-- the `updated` date it carries) is listed once, ever.

CREATE TABLE issue_corrections (
    issue_id     INTEGER NOT NULL REFERENCES issues (id),
    article_id   TEXT NOT NULL,
    updated      TEXT NOT NULL,               -- RFC 3339, UTC
    PRIMARY KEY (article_id, updated)
);
