-- Administration with dual control (issue 14): two more roles, and the
-- changes a customer's administrator proposes and a second administrator
-- of the same customer approves (then applied) or rejects.

-- operator: the bank's operations staff (cutoffs, batches, dead letters);
-- admin: a customer's administrator. Neither decides a payment.
ALTER TABLE users DROP CONSTRAINT users_roles_check;
ALTER TABLE users ADD CONSTRAINT users_roles_check
    CHECK (roles <@ ARRAY['applicant', 'reviewer', 'authorizer', 'operator', 'admin']::text[]);

-- One row per proposed change. payload is the proposal (kind-specific,
-- written by the admin package); target the user id it is about, or
-- tier:<currency>:<above_minor> for an approval tier. The proposer never
-- decides their own change (the CHECK), a decided change keeps who decided,
-- when and why; an expired one only when it was found expired.
CREATE TABLE admin_changes (
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    customer_id    text NOT NULL REFERENCES customers (id),
    kind           text NOT NULL CHECK (kind IN ('user_roles', 'user_limit', 'customer_tier', 'user_active')),
    target         text NOT NULL CHECK (target <> ''),
    payload        jsonb NOT NULL,
    reason         text NOT NULL CHECK (reason <> ''),
    proposed_by    text NOT NULL REFERENCES users (id),
    proposed_at    timestamptz NOT NULL,
    state          text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'applied', 'rejected', 'expired')),
    decided_by     text REFERENCES users (id),
    decided_at     timestamptz,
    decided_reason text NOT NULL DEFAULT '',
    CHECK (decided_by <> proposed_by),
    CHECK ((state = 'pending') = (decided_at IS NULL)),
    CHECK ((state IN ('applied', 'rejected')) = (decided_by IS NOT NULL))
);
-- One pending change per customer, kind and target: a second proposal
-- waits until the first is decided or expired.
CREATE UNIQUE INDEX admin_changes_one_pending ON admin_changes (customer_id, kind, target) WHERE state = 'pending';
CREATE INDEX admin_changes_customer ON admin_changes (customer_id, proposed_at DESC);

-- The app role gets SELECT, INSERT, UPDATE, DELETE on admin_changes from
-- GrantApp (b2bpay db grant), as on every ordinary table: its state moves.
