-- Batch decisions (issue 13): one person's verdict on many payments at one
-- stage, confirmed with one one-time password. The batch is recorded with
-- its digest, OTP step and MAC; each item's decision row is an ordinary
-- decision row (sealed in its payment's chain as a decision alone is) that
-- points to its batch.

-- Caps on one batch. Items: the customer's (500 unless set) and, when
-- set, the person's own; both apply. Totals per currency: rows of
-- batch_total_caps, of a customer or of a person; no row, no cap of that
-- kind (each payment still needs the person's limit).
ALTER TABLE customers
    ADD COLUMN batch_max_items integer NOT NULL DEFAULT 500 CHECK (batch_max_items BETWEEN 1 AND 5000);
ALTER TABLE users
    ADD COLUMN batch_max_items integer CHECK (batch_max_items BETWEEN 1 AND 5000);

CREATE TABLE batch_total_caps (
    customer_id text REFERENCES customers (id),
    user_id     text REFERENCES users (id),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    max_minor   bigint NOT NULL CHECK (max_minor > 0),
    CHECK ((customer_id IS NULL) <> (user_id IS NULL))
);
CREATE UNIQUE INDEX batch_total_caps_customer ON batch_total_caps (customer_id, currency) WHERE customer_id IS NOT NULL;
CREATE UNIQUE INDEX batch_total_caps_user ON batch_total_caps (user_id, currency) WHERE user_id IS NOT NULL;

-- Every batch decision, applied or refused, keyed by its id: a batch sent
-- again gets its first result. The MAC (seal.Key.BatchDecision) covers id,
-- actor, session, stage, verdict, all_or_nothing, count, totals, digest,
-- OTP step, outcome and decided_at.
CREATE TABLE decision_batches (
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,57}$'),
    actor_id       text REFERENCES users (id),
    session_id     uuid,
    stage          text NOT NULL,
    verdict        text NOT NULL,
    all_or_nothing boolean NOT NULL,
    item_count     integer NOT NULL,
    totals         jsonb NOT NULL,
    batch_digest   text NOT NULL,
    otp_step       bigint,
    outcome        text NOT NULL CHECK (outcome IN ('applied', 'partial', 'refused')),
    code           text NOT NULL DEFAULT '',
    reason         text NOT NULL DEFAULT '',
    result         jsonb NOT NULL,
    mac            bytea,
    decided_at     timestamptz NOT NULL
);
CREATE INDEX decision_batches_actor ON decision_batches (actor_id, decided_at);

CREATE TRIGGER decision_batches_append_only
    BEFORE UPDATE OR DELETE ON decision_batches
    FOR EACH ROW EXECUTE FUNCTION b2bpay_append_only();

ALTER TABLE decisions ADD COLUMN batch_id text REFERENCES decision_batches (id);
CREATE INDEX decisions_batch ON decisions (batch_id) WHERE batch_id IS NOT NULL;
