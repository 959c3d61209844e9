-- Interbank export: cutoff runs (a unique key decides which process runs a
-- cutoff), batches and the payments in each (a payment is in one batch,
-- ever), and the status reports read back from the clearing house.

CREATE TABLE cutoff_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cutoff_at   timestamptz NOT NULL UNIQUE,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    runner      text NOT NULL,
    batches     integer NOT NULL DEFAULT 0,
    payments    integer NOT NULL DEFAULT 0
);

CREATE TABLE batches (
    id                text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9-]{1,35}$'),
    cutoff_run_id     bigint NOT NULL REFERENCES cutoff_runs (id),
    debtor_bank_id    text NOT NULL REFERENCES banks (id),
    currency          char(3) NOT NULL,
    settlement_date   date NOT NULL,
    format            text NOT NULL,
    file_name         text NOT NULL UNIQUE,
    count             integer NOT NULL CHECK (count > 0),
    control_sum_minor bigint NOT NULL CHECK (control_sum_minor > 0),
    state             text NOT NULL CHECK (state IN ('claimed', 'written')),
    sha256            text,
    created_at        timestamptz NOT NULL,
    written_at        timestamptz,
    CHECK ((state = 'written') = (sha256 IS NOT NULL))
);
CREATE INDEX batches_state ON batches (state, created_at);

CREATE TABLE batch_payments (
    batch_id    text NOT NULL REFERENCES batches (id),
    seq         integer NOT NULL CHECK (seq > 0),
    payment_id  uuid NOT NULL UNIQUE REFERENCES payments (id),
    -- The debtor's name as it was at the claim: a file written again is
    -- byte-identical even if the customer is renamed meanwhile.
    debtor_name text NOT NULL,
    PRIMARY KEY (batch_id, seq)
);

CREATE TABLE status_reports (
    sha256      text PRIMARY KEY,
    file_name   text NOT NULL,
    message_id  text NOT NULL DEFAULT '',
    outcome     text NOT NULL CHECK (outcome IN ('applied', 'quarantined')),
    reason      text NOT NULL DEFAULT '',
    entries     integer NOT NULL DEFAULT 0,
    received_at timestamptz NOT NULL
);

CREATE INDEX payments_authorized ON payments (bank_id, currency, updated_at) WHERE state = 'authorized';

-- An applicant who confirmed a payment may still cancel it: a cancel is
-- not a second approval by the same person.
DROP INDEX decisions_one_act_per_person;
CREATE UNIQUE INDEX decisions_one_act_per_person ON decisions (payment_id, actor_id)
    WHERE outcome = 'applied' AND verdict <> 'cancel';
