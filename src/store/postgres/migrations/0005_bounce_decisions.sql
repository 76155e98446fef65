-- Version 5: each report keeps the status it gave its subscriber (SQLite's
-- version 8; its comments say more).
ALTER TABLE bounce_events ADD COLUMN became TEXT CHECK (became IN ('bounced', 'complained'));
