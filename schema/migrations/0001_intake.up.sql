-- Intake: the registry (customers, accounts, banks, users, upstream systems),
-- payments with their append-only timeline, the intake ledger that makes
-- requests idempotent, and the transactional outbox.

CREATE TABLE customers (
    id                     text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    name                   text NOT NULL CHECK (name <> ''),
    online_payment_enabled boolean NOT NULL DEFAULT false,
    active                 boolean NOT NULL DEFAULT true,
    created_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE banks (
    id         text PRIMARY KEY CHECK (id ~ '^([0-9]{12}|[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?)$'),
    name       text NOT NULL CHECK (name <> ''),
    b2b        boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    bank_id     text NOT NULL REFERENCES banks (id),
    number      text NOT NULL CHECK (number ~ '^[A-Za-z0-9]{1,34}$'),
    customer_id text NOT NULL REFERENCES customers (id),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bank_id, number)
);

CREATE TABLE users (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    customer_id text NOT NULL REFERENCES customers (id),
    name        text NOT NULL CHECK (name <> ''),
    roles       text[] NOT NULL CHECK (roles <@ ARRAY['applicant', 'reviewer', 'authorizer']::text[]),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE upstreams (
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    name           text NOT NULL CHECK (name <> ''),
    amqp_user      text UNIQUE,
    -- HMAC key sealed with AES-256-GCM; never stored in clear.
    hmac_key_sealed bytea,
    key_version    integer,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (amqp_user IS NOT NULL OR hmac_key_sealed IS NOT NULL),
    CHECK ((hmac_key_sealed IS NULL) = (key_version IS NULL))
);

CREATE TABLE upstream_customers (
    upstream_id text NOT NULL REFERENCES upstreams (id),
    customer_id text NOT NULL REFERENCES customers (id),
    PRIMARY KEY (upstream_id, customer_id)
);

CREATE TABLE payments (
    id               uuid PRIMARY KEY,
    upstream_id      text NOT NULL REFERENCES upstreams (id),
    request_id       text NOT NULL,
    order_ref        text NOT NULL CHECK (order_ref <> '' AND char_length(order_ref) <= 35),
    customer_id      text NOT NULL REFERENCES customers (id),
    applicant_id     text NOT NULL REFERENCES users (id),
    bank_id          text NOT NULL REFERENCES banks (id),
    debtor_account   text NOT NULL,
    creditor_name    text NOT NULL CHECK (creditor_name <> '' AND char_length(creditor_name) <= 140),
    creditor_account text NOT NULL CHECK (creditor_account ~ '^[A-Za-z0-9]{1,34}$'),
    creditor_bank_id text NOT NULL,
    amount_minor     bigint NOT NULL CHECK (amount_minor > 0 AND amount_minor <= 999999999999999),
    currency         char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    remittance       text NOT NULL DEFAULT '' CHECK (char_length(remittance) <= 140),
    execution_date   date NOT NULL,
    state            text NOT NULL CHECK (state IN ('received', 'awaiting_confirmation', 'awaiting_review',
                         'awaiting_authorization', 'authorized', 'exported', 'settled',
                         'rejected', 'cancelled', 'expired', 'returned')),
    version          integer NOT NULL CHECK (version > 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (upstream_id, request_id),
    FOREIGN KEY (bank_id, debtor_account) REFERENCES accounts (bank_id, number)
);

-- One order, one online payment: while a payment holds an order reference no
-- other payment of the same upstream can take it.
CREATE UNIQUE INDEX payments_active_order ON payments (upstream_id, order_ref)
    WHERE state NOT IN ('rejected', 'cancelled', 'expired', 'returned');
CREATE INDEX payments_state ON payments (state, updated_at);
CREATE INDEX payments_customer ON payments (customer_id, created_at);

-- The timeline: one row per change of state, appended in the same transaction
-- as the change. Rows are never updated or deleted (the trigger below).
CREATE TABLE payment_timeline (
    payment_id uuid NOT NULL REFERENCES payments (id),
    seq        integer NOT NULL CHECK (seq > 0),
    at         timestamptz NOT NULL,
    actor_kind text NOT NULL CHECK (actor_kind IN ('upstream', 'user', 'system')),
    actor_id   text NOT NULL,
    action     text NOT NULL,
    from_state text,
    to_state   text NOT NULL,
    code       text NOT NULL DEFAULT '',
    note       text NOT NULL DEFAULT '',
    PRIMARY KEY (payment_id, seq)
);

CREATE FUNCTION b2bpay_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END;
$$;

CREATE TRIGGER payment_timeline_append_only
    BEFORE UPDATE OR DELETE ON payment_timeline
    FOR EACH ROW EXECUTE FUNCTION b2bpay_append_only();

-- The intake ledger: one row per (upstream, request id), whatever the outcome,
-- so a request published again gets the same answer and never a second payment.
CREATE TABLE intake_requests (
    upstream_id  text NOT NULL REFERENCES upstreams (id),
    request_id   text NOT NULL,
    body_sha256  bytea NOT NULL CHECK (length(body_sha256) = 32),
    outcome      text NOT NULL CHECK (outcome IN ('accepted', 'refused')),
    code         text NOT NULL DEFAULT '',
    payment_id   uuid REFERENCES payments (id),
    answer       jsonb NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (upstream_id, request_id),
    CHECK ((outcome = 'accepted') = (payment_id IS NOT NULL))
);

-- Messages that never became a request (malformed, oversized, unauthenticated),
-- keyed so a redelivery is dead-lettered once.
CREATE TABLE intake_rejects (
    message_key  text PRIMARY KEY,
    upstream_id  text,
    code         text NOT NULL,
    reason       text NOT NULL,
    received_at  timestamptz NOT NULL
);

-- The transactional outbox: every message b2bpay sends is a row written in the
-- transaction that decided it; the relay publishes it with confirms and marks it sent.
CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id   text NOT NULL,
    exchange     text NOT NULL,
    routing_key  text NOT NULL,
    content_type text NOT NULL DEFAULT 'application/json',
    headers      jsonb NOT NULL DEFAULT '{}',
    body         bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    available_at timestamptz NOT NULL,
    sent_at      timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (available_at, id) WHERE sent_at IS NULL;

CREATE FUNCTION b2bpay_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('b2bpay_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION b2bpay_outbox_notify();
