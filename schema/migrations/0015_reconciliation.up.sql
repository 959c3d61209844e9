-- Reconciliation (issue 16): every camt.054 debit/credit notification the
-- bank sends is recorded once by its SHA-256, and every entry in it with
-- the payment it matched and its classification. Both tables are
-- append-only: a notification is evidence, never edited.

CREATE TABLE recon_files (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    file_name   text NOT NULL,
    message_id  text NOT NULL,
    created_at  timestamptz NOT NULL,           -- GrpHdr/CreDtTm
    entries     integer NOT NULL CHECK (entries >= 0),
    mismatches  integer NOT NULL CHECK (mismatches >= 0),
    received_at timestamptz NOT NULL
);

CREATE TABLE recon_entries (
    file_sha256    text NOT NULL REFERENCES recon_files (sha256),
    seq            integer NOT NULL CHECK (seq > 0),
    entry_ref      text NOT NULL DEFAULT '',
    end_to_end_id  text NOT NULL DEFAULT '',
    tx_id          text NOT NULL DEFAULT '',
    msg_id         text NOT NULL DEFAULT '',
    amount_minor   bigint NOT NULL CHECK (amount_minor > 0),
    currency       char(3) NOT NULL,
    credit         boolean NOT NULL,
    reversal       boolean NOT NULL,
    status         text NOT NULL,
    booking_date   date,
    return_code    text NOT NULL DEFAULT '',
    return_info    text NOT NULL DEFAULT '',
    -- settlement (a debit) or return (a reversal, a return, a credit)
    kind           text NOT NULL CHECK (kind IN ('settlement', 'return')),
    payment_id     uuid REFERENCES payments (id),
    class          text NOT NULL CHECK (class IN ('settled', 'returned', 'unmatched', 'short', 'duplicated', 'conflict', 'not_booked')),
    reason         text NOT NULL DEFAULT '',
    -- the payment's state before and after this entry (equal: unchanged)
    state_before   text NOT NULL DEFAULT '',
    state_after    text NOT NULL DEFAULT '',
    recorded_at    timestamptz NOT NULL,
    PRIMARY KEY (file_sha256, seq),
    CHECK (class <> 'unmatched' OR payment_id IS NULL),
    CHECK (class IN ('unmatched', 'not_booked') OR payment_id IS NOT NULL)
);
-- A payment's first booked settlement and first booked return count;
-- any later one is 'duplicated' (the index decides a race between two
-- imports).
CREATE UNIQUE INDEX recon_entries_first ON recon_entries (payment_id, kind)
    WHERE class IN ('settled', 'returned', 'short', 'conflict');
CREATE INDEX recon_entries_booking ON recon_entries (booking_date);
CREATE INDEX recon_entries_payment ON recon_entries (payment_id) WHERE payment_id IS NOT NULL;
-- Matching by end-to-end id (the order reference in pacs.008).
CREATE INDEX payments_order_ref ON payments (order_ref);

CREATE TRIGGER recon_files_append_only
    BEFORE UPDATE OR DELETE ON recon_files
    FOR EACH ROW EXECUTE FUNCTION b2bpay_append_only();
CREATE TRIGGER recon_entries_append_only
    BEFORE UPDATE OR DELETE ON recon_entries
    FOR EACH ROW EXECUTE FUNCTION b2bpay_append_only();
