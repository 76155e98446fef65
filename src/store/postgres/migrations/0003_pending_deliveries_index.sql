-- Version 3: the deliveries still to be tried, by issue and id, as a
-- claim reads them (the next few hundred above the last claimed), holding
-- only the rows still pending: a claim reads its batch and stops, however
-- many rows of the issue are left.

CREATE INDEX deliveries_pending ON deliveries (issue_id, id)
    WHERE status IN ('queued', 'deferred');
