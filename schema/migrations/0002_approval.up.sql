-- Approval: credentials and OTP state of users, sessions, amount limits and
-- approval tiers, the decisions people make, the audit trail of every
-- authentication and OTP attempt, and the timeline's hash chain.

ALTER TABLE users
    ADD COLUMN password_hash      text,
    ADD COLUMN failed_logins      integer NOT NULL DEFAULT 0,
    ADD COLUMN login_locked_until timestamptz,
    -- The TOTP seed, sealed with AES-256-GCM and bound to the user.
    ADD COLUMN otp_sealed         bytea,
    ADD COLUMN otp_key_version    integer,
    ADD COLUMN otp_enrolled_at    timestamptz,
    -- The last accepted time step: a code is never accepted twice (RFC 6238 5.2).
    ADD COLUMN otp_last_step      bigint NOT NULL DEFAULT 0,
    ADD COLUMN otp_failures       integer NOT NULL DEFAULT 0,
    ADD COLUMN otp_locked_until   timestamptz,
    ADD CONSTRAINT users_otp_sealed_version CHECK ((otp_sealed IS NULL) = (otp_key_version IS NULL));

-- Per-user amount limits: a user may approve payments up to max_minor in a
-- currency. No row for a currency: no limit.
CREATE TABLE user_limits (
    user_id   text NOT NULL REFERENCES users (id),
    currency  char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    max_minor bigint NOT NULL CHECK (max_minor > 0),
    PRIMARY KEY (user_id, currency)
);

-- Approval tiers: payments of a customer above above_minor in a currency
-- need `authorizers` distinct authorizers (default one).
CREATE TABLE approval_tiers (
    customer_id text NOT NULL REFERENCES customers (id),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    above_minor bigint NOT NULL CHECK (above_minor >= 0),
    authorizers integer NOT NULL CHECK (authorizers BETWEEN 1 AND 5),
    PRIMARY KEY (customer_id, currency, above_minor)
);

-- Session tokens are signed; this table lets them be revoked before they expire.
CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id),
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    CHECK (expires_at > issued_at)
);
CREATE INDEX sessions_user ON sessions (user_id);

ALTER TABLE payments
    ADD COLUMN required_authorizers integer NOT NULL DEFAULT 1 CHECK (required_authorizers BETWEEN 1 AND 5),
    ADD COLUMN head_hash bytea;

ALTER TABLE payment_timeline
    ADD COLUMN prev_hash bytea,
    ADD COLUMN hash      bytea;

-- Every decision message, applied or refused, keyed by its id so a
-- redelivered decision gets the same result and is applied at most once.
CREATE TABLE decisions (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    payment_id  uuid REFERENCES payments (id),
    stage       text NOT NULL,
    verdict     text NOT NULL,
    actor_id    text REFERENCES users (id),
    session_id  uuid,
    outcome     text NOT NULL CHECK (outcome IN ('applied', 'refused')),
    code        text NOT NULL DEFAULT '',
    reason      text NOT NULL DEFAULT '',
    digest      text NOT NULL DEFAULT '',
    otp_step    bigint,
    result      jsonb NOT NULL,
    decided_at  timestamptz NOT NULL,
    CHECK (outcome = 'refused' OR (payment_id IS NOT NULL AND actor_id IS NOT NULL))
);
-- One person acts once on a payment: the database backs separation of duties.
CREATE UNIQUE INDEX decisions_one_act_per_person ON decisions (payment_id, actor_id) WHERE outcome = 'applied';
CREATE INDEX decisions_payment ON decisions (payment_id, decided_at);

-- The audit trail of users: enrolment, passwords, sign-ins, sessions and
-- every OTP attempt (never the code itself), and every refused action.
CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    user_id    text,
    actor      text NOT NULL,
    event      text NOT NULL,
    payment_id uuid,
    detail     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_user ON audit_log (user_id, at);
CREATE INDEX audit_log_payment ON audit_log (payment_id, at);

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION b2bpay_append_only();

-- A reply to a client that has gone (its private queue deleted) is
-- recorded in the database anyway; such messages may be dropped when the
-- broker returns them, instead of staying pending.
ALTER TABLE outbox ADD COLUMN discard_unroutable boolean NOT NULL DEFAULT false;
