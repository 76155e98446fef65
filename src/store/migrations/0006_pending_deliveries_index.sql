-- Version 6: the deliveries still to be tried, by issue and id. A sender
-- claims the next few hundred above the last it claimed; through the
-- index by (issue, status) that meant ordering every row still queued for
-- each claim, so an issue to a million readers cost time in the square of
-- its size. This index holds only the rows still pending, in the order a
-- claim reads them.

CREATE INDEX deliveries_pending ON deliveries (issue_id, id)
    WHERE status IN ('queued', 'deferred');
