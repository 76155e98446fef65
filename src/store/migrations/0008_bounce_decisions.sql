-- Version 8: each report keeps the status it gave its subscriber, so that
-- `subscribers list --status bounced|complained` can say which report
-- decided it. Empty (NULL) when the report changed nothing, and for the
-- reports taken before this version, for which the latest report of the
-- deciding kind stands in.
ALTER TABLE bounce_events ADD COLUMN became TEXT CHECK (became IN ('bounced', 'complained'));
