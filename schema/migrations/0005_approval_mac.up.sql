-- Money moves only as approved, even against someone who can write to the
-- database: each applied decision and each timeline entry carries a MAC
-- (HMAC-SHA256 with a key derived from the master key, which the database
-- never holds) over the payment's content digest, the person, the stage,
-- the OTP step and the entry before it. The exporter re-checks the
-- decisions at the claim; a payment whose approvals do not check is held.

ALTER TABLE payments DROP CONSTRAINT payments_state_check;
ALTER TABLE payments ADD CONSTRAINT payments_state_check CHECK (state IN ('received', 'awaiting_confirmation',
    'awaiting_review', 'awaiting_authorization', 'authorized', 'exported', 'settled',
    'rejected', 'cancelled', 'expired', 'returned', 'held'));

-- seal_seq orders a payment's applied decisions (1, 2, …); each MAC covers
-- the MAC of the one before it.
ALTER TABLE decisions
    ADD COLUMN seal_seq integer CHECK (seal_seq > 0),
    ADD COLUMN mac      bytea;

ALTER TABLE payment_timeline
    ADD COLUMN otp_step bigint,
    ADD COLUMN mac      bytea;
