-- Version 4: deliveries are claimed in batches, with a lease. `claimed_by`
-- names the sender (host, process and start), `lease_until` (Unix
-- milliseconds) ends its claim, and `tried_at` (Unix milliseconds) is when
-- the last attempt began, so a run never takes again what it already tried.

ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN lease_until INTEGER;
ALTER TABLE deliveries ADD COLUMN tried_at INTEGER;
