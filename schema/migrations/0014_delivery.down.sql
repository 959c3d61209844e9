DROP INDEX batch_payments_payment;
DROP INDEX batch_payments_one_live;
DELETE FROM batch_payments WHERE NOT live;
ALTER TABLE batch_payments ADD CONSTRAINT batch_payments_payment_id_key UNIQUE (payment_id);
ALTER TABLE batch_payments DROP COLUMN live;
DROP INDEX batches_delivered;
DROP INDEX batches_to_deliver;
UPDATE batches SET superseded_by = NULL, reissue_of = NULL;
UPDATE batches SET state = 'written' WHERE state <> 'claimed';
ALTER TABLE batches DROP CONSTRAINT batches_superseded_by;
ALTER TABLE batches
    DROP COLUMN delivery_attempts, DROP COLUMN next_attempt_at, DROP COLUMN last_error, DROP COLUMN delivered_at,
    DROP COLUMN delivered_to, DROP COLUMN ack_status, DROP COLUMN ack_reason, DROP COLUMN acknowledged_at,
    DROP COLUMN unacked_alert_at, DROP COLUMN superseded_by, DROP COLUMN reissue_of;
ALTER TABLE batches DROP CONSTRAINT batches_sha256_once_written;
ALTER TABLE batches ADD CONSTRAINT batches_check CHECK ((state = 'written') = (sha256 IS NOT NULL));
ALTER TABLE batches DROP CONSTRAINT batches_state_check;
ALTER TABLE batches ADD CONSTRAINT batches_state_check CHECK (state IN ('claimed', 'written'));
