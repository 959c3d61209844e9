-- Delivery to the clearing gateway, its acknowledgement, re-issue.
--
-- A batch's file, once written, is delivered (SFTP or a directory), then
-- acknowledged or rejected by a pacs.002 group status; a failed delivery
-- waits for its next attempt (exponential backoff); a rejected or lost
-- file is re-issued as a new batch (a new message id) and the old one is
-- superseded.
ALTER TABLE batches DROP CONSTRAINT batches_state_check;
ALTER TABLE batches ADD CONSTRAINT batches_state_check CHECK (state IN
    ('claimed', 'written', 'delivered', 'delivery_failed', 'acknowledged', 'rejected', 'superseded'));
ALTER TABLE batches DROP CONSTRAINT batches_check;
ALTER TABLE batches ADD CONSTRAINT batches_sha256_once_written CHECK ((state = 'claimed') = (sha256 IS NULL));

ALTER TABLE batches
    ADD COLUMN delivery_attempts integer NOT NULL DEFAULT 0 CHECK (delivery_attempts >= 0),
    ADD COLUMN next_attempt_at   timestamptz,
    ADD COLUMN last_error        text NOT NULL DEFAULT '',
    ADD COLUMN delivered_at      timestamptz,
    ADD COLUMN delivered_to      text NOT NULL DEFAULT '',
    ADD COLUMN ack_status        text NOT NULL DEFAULT '',
    ADD COLUMN ack_reason        text NOT NULL DEFAULT '',
    ADD COLUMN acknowledged_at   timestamptz,
    -- When the batch_unacknowledged alert was raised (once per batch).
    ADD COLUMN unacked_alert_at  timestamptz,
    ADD COLUMN superseded_by     text REFERENCES batches (id),
    ADD COLUMN reissue_of        text UNIQUE REFERENCES batches (id),
    ADD CONSTRAINT batches_superseded_by CHECK ((state = 'superseded') = (superseded_by IS NOT NULL));

-- The delivery job's work: written files, and failed ones whose next
-- attempt has come.
CREATE INDEX batches_to_deliver ON batches (next_attempt_at, created_at) WHERE state IN ('written', 'delivery_failed');
CREATE INDEX batches_delivered ON batches (delivered_at) WHERE state = 'delivered';

-- A payment moves to the new batch when its file is re-issued: the old
-- row stays (what the old file held) but is no longer live, and a payment
-- is live in one batch at most.
ALTER TABLE batch_payments ADD COLUMN live boolean NOT NULL DEFAULT true;
ALTER TABLE batch_payments DROP CONSTRAINT batch_payments_payment_id_key;
CREATE UNIQUE INDEX batch_payments_one_live ON batch_payments (payment_id) WHERE live;
CREATE INDEX batch_payments_payment ON batch_payments (payment_id);

-- The files written before delivery was tracked were delivered by being
-- written into the outbound directory, where the gateway took them. One
-- whose payments the clearing has all answered (settled or returned) is
-- acknowledged by those transaction statuses ('TXST'); the others are
-- delivered at their write, their unacknowledged alert taken as raised
-- (the gauge still counts them: their payments are still exported).
UPDATE batches b SET state = 'acknowledged', delivered_at = b.written_at, delivered_to = 'outbound directory (before migration 0014)',
    ack_status = 'TXST', ack_reason = 'transaction statuses before migration 0014', acknowledged_at = b.written_at
WHERE b.state = 'written' AND NOT EXISTS (SELECT 1 FROM batch_payments bp JOIN payments p ON p.id = bp.payment_id
    WHERE bp.batch_id = b.id AND p.state = 'exported');
UPDATE batches SET state = 'delivered', delivered_at = written_at, delivered_to = 'outbound directory (before migration 0014)',
    unacked_alert_at = now()
WHERE state = 'written';
