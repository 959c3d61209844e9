-- The relay claims the oldest pending messages, in id order. Indexed by
-- (available_at, id), every claim sorted all the pending rows: with a
-- backlog, each claim cost as much as the backlog. Indexed by id, a claim
-- walks the pending rows in order and stops at its limit, skipping only
-- the few in a lease or a backoff.
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL;
