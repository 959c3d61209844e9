package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/b2bpay/b2bpay/admin"
	"github.com/b2bpay/b2bpay/payment"
)

// The administration's storage (admin.Store): users, tiers and changes of
// a customer, and its transactions (admin.Tx) under a per-customer lock.

var _ admin.Store = (*Store)(nil)

// AdminUsers returns the users of a customer, by id, with their limits,
// whether they have an OTP secret, and the locks running now.
func (s *Store) AdminUsers(ctx context.Context, customerID string) ([]admin.UserView, error) {
	now := s.cfg.Now().UTC()
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.name, u.roles, u.active, u.otp_sealed IS NOT NULL, u.otp_locked_until,
			COALESCE((SELECT array_agg(l.currency::text ORDER BY l.currency) FROM user_limits l WHERE l.user_id = u.id), '{}'),
			COALESCE((SELECT array_agg(l.max_minor ORDER BY l.currency) FROM user_limits l WHERE l.user_id = u.id), '{}')
		FROM users u WHERE u.customer_id = $1 ORDER BY u.id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("admin users of %s: %w", customerID, err)
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (admin.UserView, error) {
		var u admin.UserView
		var roles, curs []string
		var maxes []int64
		if err := row.Scan(&u.ID, &u.Name, &roles, &u.Active, &u.OTPEnrolled, &u.OTPLockedUntil, &curs, &maxes); err != nil {
			return u, err
		}
		u.Roles = toRoles(roles)
		for i := range curs {
			u.Limits = append(u.Limits, admin.Limit{Currency: curs[i], MaxMinor: maxes[i]})
		}
		u.OTPLockedUntil = running(u.OTPLockedUntil, now)
		return u, nil
	})
	if err != nil {
		return nil, fmt.Errorf("admin users of %s: %w", customerID, err)
	}
	if len(users) == 0 {
		return users, nil
	}
	subjects := make([][]byte, len(users))
	index := map[string]int{}
	for i, u := range users {
		subjects[i] = s.loginSubject(u.ID)
		index[string(subjects[i])] = i
	}
	rows, err = s.pool.Query(ctx, `SELECT subject, locked_until FROM login_throttle WHERE subject = ANY ($1) AND locked_until IS NOT NULL`, subjects)
	if err != nil {
		return nil, fmt.Errorf("sign-in locks of %s: %w", customerID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var subject []byte
		var until *time.Time
		if err := rows.Scan(&subject, &until); err != nil {
			return nil, fmt.Errorf("sign-in locks of %s: %w", customerID, err)
		}
		if i, ok := index[string(subject)]; ok {
			users[i].LoginLockedUntil = running(until, now)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sign-in locks of %s: %w", customerID, err)
	}
	return users, nil
}

// running is until if it is after now, else nil.
func running(until *time.Time, now time.Time) *time.Time {
	if until == nil || !now.Before(*until) {
		return nil
	}
	t := until.UTC()
	return &t
}

// AdminTiers returns a customer's approval tiers by currency and amount.
func (s *Store) AdminTiers(ctx context.Context, customerID string) ([]admin.TierView, error) {
	rows, err := s.pool.Query(ctx, `SELECT currency, above_minor, authorizers FROM approval_tiers
		WHERE customer_id = $1 ORDER BY currency, above_minor`, customerID)
	if err != nil {
		return nil, fmt.Errorf("tiers of %s: %w", customerID, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (admin.TierView, error) {
		var t admin.TierView
		return t, row.Scan(&t.Currency, &t.AboveMinor, &t.Authorizers)
	})
}

const changeColumns = `id, customer_id, kind, target, payload, reason, proposed_by, proposed_at, state,
	COALESCE(decided_by, ''), decided_at, decided_reason`

func scanChange(row pgx.Row) (admin.Change, error) {
	var c admin.Change
	var payload []byte
	err := row.Scan(&c.ID, &c.CustomerID, &c.Kind, &c.Target, &payload, &c.Reason, &c.ProposedBy, &c.ProposedAt,
		&c.State, &c.DecidedBy, &c.DecidedAt, &c.DecidedReason)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(payload, &c.Proposal); err != nil {
		return c, fmt.Errorf("change %s: payload: %w", c.ID, err)
	}
	c.ProposedAt = c.ProposedAt.UTC()
	if c.DecidedAt != nil {
		t := c.DecidedAt.UTC()
		c.DecidedAt = &t
	}
	return c, nil
}

// AdminChanges returns at most limit changes of a customer: pending ones
// first, newest first, then the others, most recently decided first.
func (s *Store) AdminChanges(ctx context.Context, customerID string, limit int) ([]admin.Change, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+changeColumns+` FROM admin_changes WHERE customer_id = $1
		ORDER BY state = 'pending' DESC, COALESCE(decided_at, proposed_at) DESC, id LIMIT $2`, customerID, limit)
	if err != nil {
		return nil, fmt.Errorf("changes of %s: %w", customerID, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (admin.Change, error) { return scanChange(row) })
}

// AdminTx runs fn in one transaction holding the customer's
// administration lock (a transaction-scoped advisory lock), run again from
// the start if it lost a race.
func (s *Store) AdminTx(ctx context.Context, customerID string, fn func(admin.Tx) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('b2bpay.admin:' || $1, 0))`, customerID); err != nil {
			return fmt.Errorf("administration lock of %s: %w", customerID, err)
		}
		return fn(adminTx{s: s, tx: tx})
	})
}

// adminTx implements admin.Tx.
type adminTx struct {
	s  *Store
	tx pgx.Tx
}

func (a adminTx) User(ctx context.Context, id string) (payment.User, error) {
	var u payment.User
	var roles []string
	err := a.tx.QueryRow(ctx, `SELECT id, customer_id, name, roles, active FROM users WHERE id = $1 FOR NO KEY UPDATE`, id).
		Scan(&u.ID, &u.CustomerID, &u.Name, &roles, &u.Active)
	if err != nil {
		return u, notFound(err, "user "+id)
	}
	u.Roles = toRoles(roles)
	return u, nil
}

func (a adminTx) ActiveAdmins(ctx context.Context, customerID string) ([]string, error) {
	rows, err := a.tx.Query(ctx, `SELECT id FROM users WHERE customer_id = $1 AND active AND 'admin' = ANY (roles) ORDER BY id`, customerID)
	if err != nil {
		return nil, fmt.Errorf("administrators of %s: %w", customerID, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (a adminTx) Pending(ctx context.Context, customerID string, kind admin.Kind, target string) (string, error) {
	var id string
	err := a.tx.QueryRow(ctx, `SELECT id FROM admin_changes WHERE customer_id = $1 AND kind = $2 AND target = $3 AND state = 'pending'`,
		customerID, kind, target).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return id, err
}

func (a adminTx) Change(ctx context.Context, customerID, id string) (admin.Change, error) {
	c, err := scanChange(a.tx.QueryRow(ctx, `SELECT `+changeColumns+` FROM admin_changes
		WHERE id = $1 AND customer_id = $2 FOR UPDATE`, id, customerID))
	if err != nil {
		return c, notFound(err, "change "+id)
	}
	return c, nil
}

func (a adminTx) Insert(ctx context.Context, c admin.Change) error {
	payload, err := json.Marshal(c.Proposal)
	if err != nil {
		return fmt.Errorf("change %s: payload: %w", c.ID, err)
	}
	_, err = a.tx.Exec(ctx, `INSERT INTO admin_changes (id, customer_id, kind, target, payload, reason, proposed_by, proposed_at, state)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')`,
		c.ID, c.CustomerID, c.Kind, c.Target, payload, c.Reason, c.ProposedBy, c.ProposedAt.UTC())
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		// Not retried: the customer's lock makes this a change already pending.
		return payment.Errorf(payment.CodeConflict, "a change of %s to %s is already pending", c.Kind, c.Target)
	}
	return constraintError(err, "change "+c.ID)
}

func (a adminTx) Finish(ctx context.Context, c admin.Change) error {
	var by any
	if c.DecidedBy != "" {
		by = c.DecidedBy
	}
	if c.DecidedAt == nil {
		return payment.Errorf(payment.CodeInvalidInput, "change %s: a decision needs its time", c.ID)
	}
	tag, err := a.tx.Exec(ctx, `UPDATE admin_changes SET state = $2, decided_by = $3, decided_at = $4, decided_reason = $5
		WHERE id = $1 AND state = 'pending'`, c.ID, c.State, by, c.DecidedAt.UTC(), c.DecidedReason)
	if err != nil {
		return constraintError(err, "decision of change "+c.ID)
	}
	if tag.RowsAffected() == 0 {
		return payment.Errorf(payment.CodeAlreadyDecided, "change %s is no longer pending", c.ID)
	}
	return nil
}

func (a adminTx) SetRoles(ctx context.Context, userID string, roles []payment.Role) error {
	return a.exec(ctx, "roles of user "+userID, `UPDATE users SET roles = $2 WHERE id = $1`, userID, roleStrings(roles))
}

func (a adminTx) SetLimit(ctx context.Context, userID, currency string, maxMinor int64) error {
	_, err := a.tx.Exec(ctx, `INSERT INTO user_limits (user_id, currency, max_minor) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, currency) DO UPDATE SET max_minor = EXCLUDED.max_minor`, userID, currency, maxMinor)
	return constraintError(err, "limit of user "+userID)
}

func (a adminTx) SetTier(ctx context.Context, customerID string, t payment.Tier) error {
	_, err := a.tx.Exec(ctx, `INSERT INTO approval_tiers (customer_id, currency, above_minor, authorizers)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (customer_id, currency, above_minor) DO UPDATE SET authorizers = EXCLUDED.authorizers`,
		customerID, t.Currency, t.AboveMinor, t.Authorizers)
	return constraintError(err, "approval tier of customer "+customerID)
}

func (a adminTx) SetActive(ctx context.Context, userID string, active bool) (int, error) {
	if err := a.exec(ctx, "user "+userID, `UPDATE users SET active = $2 WHERE id = $1`, userID, active); err != nil || active {
		return 0, err
	}
	tag, err := a.tx.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
		userID, a.s.cfg.Now().UTC())
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of %s: %w", userID, err)
	}
	return int(tag.RowsAffected()), nil
}

func (a adminTx) Audit(ctx context.Context, e admin.Audit) error {
	return a.s.auditTx(ctx, a.tx, AuditEntry{UserID: e.UserID, Actor: e.Actor, Event: e.Event, Detail: e.Detail})
}

// exec runs an UPDATE of one row; none is not found.
func (a adminTx) exec(ctx context.Context, what, sql string, args ...any) error {
	tag, err := a.tx.Exec(ctx, sql, args...)
	if err != nil {
		return constraintError(err, what)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, payment.ErrNotFound)
	}
	return nil
}
