DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (available_at, id) WHERE sent_at IS NULL;
