-- Fails while a payment is held: decide what becomes of it first.
ALTER TABLE payment_timeline DROP COLUMN mac, DROP COLUMN otp_step;
ALTER TABLE decisions DROP COLUMN mac, DROP COLUMN seal_seq;
ALTER TABLE payments DROP CONSTRAINT payments_state_check;
ALTER TABLE payments ADD CONSTRAINT payments_state_check CHECK (state IN ('received', 'awaiting_confirmation',
    'awaiting_review', 'awaiting_authorization', 'authorized', 'exported', 'settled',
    'rejected', 'cancelled', 'expired', 'returned'));
