package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/payment"
)

// loginFailedMessage is the one answer to an unknown user, a user without a
// password and a wrong password, so that answers do not tell who exists.
const loginFailedMessage = "user id or password is wrong"

// UserGet returns a user of the registry.
func (s *Store) UserGet(ctx context.Context, id string) (payment.User, error) {
	var u payment.User
	var roles []string
	err := s.pool.QueryRow(ctx, `SELECT id, customer_id, name, roles, active FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.CustomerID, &u.Name, &roles, &u.Active)
	if err != nil {
		return u, notFound(err, "user "+id)
	}
	u.Roles = toRoles(roles)
	return u, nil
}

// UserSetPassword stores a user's new password hash (made by
// auth.HashPassword; never a password) and clears the login throttle.
func (s *Store) UserSetPassword(ctx context.Context, userID, hash, actor string) error {
	if !strings.HasPrefix(hash, "$argon2id$") {
		return payment.Errorf(payment.CodeInvalidInput, "a password must be stored as an argon2id hash")
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, failed_logins = 0, login_locked_until = NULL
			WHERE id = $1`, userID, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %s: %w", userID, payment.ErrNotFound)
		}
		return s.auditTx(ctx, tx, AuditEntry{UserID: userID, Actor: actor, Event: "password_set"})
	})
}

// UserSetActive enables or disables a user. Disabling revokes every
// session of the user in the same transaction.
func (s *Store) UserSetActive(ctx context.Context, userID string, active bool, actor, reason string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET active = $2 WHERE id = $1`, userID, active)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %s: %w", userID, payment.ErrNotFound)
		}
		event, detail := "user_enabled", reason
		if !active {
			tag, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
				userID, s.cfg.Now().UTC())
			if err != nil {
				return fmt.Errorf("revoke sessions of %s: %w", userID, err)
			}
			event = "user_disabled"
			detail = strings.TrimSpace(fmt.Sprintf("%s (sessions revoked: %d)", reason, tag.RowsAffected()))
		}
		return s.auditTx(ctx, tx, AuditEntry{UserID: userID, Actor: actor, Event: event, Detail: detail})
	})
}

// UserSetLimit sets the most a user may approve in a currency, in minor
// units (replacing any earlier limit in that currency).
func (s *Store) UserSetLimit(ctx context.Context, userID, currency string, maxMinor int64, actor string) error {
	if err := payment.ValidCurrency(currency); err != nil {
		return err
	}
	if maxMinor <= 0 {
		return payment.Errorf(payment.CodeInvalidInput, "a limit must be positive, not %d", maxMinor)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO user_limits (user_id, currency, max_minor) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, currency) DO UPDATE SET max_minor = EXCLUDED.max_minor`, userID, currency, maxMinor)
		if err != nil {
			return constraintError(err, "limit of user "+userID)
		}
		return s.auditTx(ctx, tx, AuditEntry{UserID: userID, Actor: actor, Event: "limit_set",
			Detail: fmt.Sprintf("%s max_minor=%d", currency, maxMinor)})
	})
}

// ApprovalTierSet makes payments of a customer above aboveMinor in a
// currency need that many distinct authorizers (1 to 5).
func (s *Store) ApprovalTierSet(ctx context.Context, customerID, currency string, aboveMinor int64, authorizers int) error {
	if err := payment.ValidCurrency(currency); err != nil {
		return err
	}
	if aboveMinor < 0 || authorizers < 1 || authorizers > 5 {
		return payment.Errorf(payment.CodeInvalidInput, "a tier needs an amount of at least 0 and 1 to 5 authorizers")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO approval_tiers (customer_id, currency, above_minor, authorizers)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (customer_id, currency, above_minor) DO UPDATE SET authorizers = EXCLUDED.authorizers`,
		customerID, currency, aboveMinor, authorizers)
	return constraintError(err, "approval tier of customer "+customerID)
}

// dummyHash is checked against when there is no hash to check, so that an
// unknown user takes as long to refuse as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := auth.HashPassword("b2bpay: no such user, no password")
	return h
})

// loginRow is what Login reads of a user, locked.
type loginRow struct {
	user        payment.User
	hash        *string
	failures    int
	lockedUntil *time.Time
}

// Login checks a user's password with check (auth.CheckPassword) under the
// throttle t, in one transaction with the user's row locked. An unknown
// user, a user without a password and a wrong password get the same
// CodeLoginFailed; a wrong password counts a failure and locks logins for
// t.LockFor at t.MaxFailures (CodeLoginThrottled until then, whatever the
// password); a disabled user with the right password gets
// CodeUserInactive. Failures and audit rows are committed even though an
// error is returned.
func (s *Store) Login(ctx context.Context, userID, password string, check func(hash, pw string) (bool, error), t auth.Throttle) (payment.User, error) {
	t = t.WithDefaults()
	var u payment.User
	var refusal *payment.Error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, refusal, err = s.loginTx(ctx, tx, userID, password, check, t)
		return err
	})
	switch {
	case err != nil:
		return payment.User{}, fmt.Errorf("login %s: %w", userID, err)
	case refusal != nil:
		return payment.User{}, refusal
	}
	return u, nil
}

func (s *Store) loginTx(ctx context.Context, tx pgx.Tx, userID, password string, check func(hash, pw string) (bool, error), t auth.Throttle) (payment.User, *payment.Error, error) {
	now := s.cfg.Now().UTC()
	failed := payment.Errorf(payment.CodeLoginFailed, loginFailedMessage)
	var r loginRow
	var roles []string
	err := tx.QueryRow(ctx, `SELECT id, customer_id, name, roles, active, password_hash, failed_logins, login_locked_until
		FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID).
		Scan(&r.user.ID, &r.user.CustomerID, &r.user.Name, &roles, &r.user.Active, &r.hash, &r.failures, &r.lockedUntil)
	if errors.Is(err, pgx.ErrNoRows) {
		_, _ = check(dummyHash(), password)
		return payment.User{}, failed, s.auditTx(ctx, tx, AuditEntry{Actor: "anonymous", Event: "login_failed", Detail: "unknown user"})
	}
	if err != nil {
		return payment.User{}, nil, fmt.Errorf("read user: %w", err)
	}
	r.user.Roles = toRoles(roles)
	actor := "user:" + r.user.ID
	if r.lockedUntil != nil && now.Before(*r.lockedUntil) {
		return payment.User{}, payment.Errorf(payment.CodeLoginThrottled, "too many failed logins; try again after %s", r.lockedUntil.UTC().Format(time.RFC3339)),
			s.auditTx(ctx, tx, AuditEntry{UserID: r.user.ID, Actor: actor, Event: "login_throttled"})
	}
	hash, detail := dummyHash(), "no password set"
	if r.hash != nil {
		hash, detail = *r.hash, "wrong password"
	}
	ok, err := check(hash, password)
	if err != nil {
		return payment.User{}, nil, fmt.Errorf("check password of %s: %w", r.user.ID, err)
	}
	if !ok || r.hash == nil {
		return payment.User{}, failed, s.loginFailedTx(ctx, tx, r, t, now, detail)
	}
	if !r.user.Active {
		return payment.User{}, payment.Errorf(payment.CodeUserInactive, "user %s is disabled", r.user.ID),
			s.auditTx(ctx, tx, AuditEntry{UserID: r.user.ID, Actor: actor, Event: "login_inactive"})
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = 0, login_locked_until = NULL WHERE id = $1`, r.user.ID); err != nil {
		return payment.User{}, nil, fmt.Errorf("reset failed logins: %w", err)
	}
	return r.user, nil, s.auditTx(ctx, tx, AuditEntry{UserID: r.user.ID, Actor: actor, Event: "login_ok"})
}

// loginFailedTx counts a failed login and locks logins at the throttle's
// limit. A lock that has run out starts the count again.
func (s *Store) loginFailedTx(ctx context.Context, tx pgx.Tx, r loginRow, t auth.Throttle, now time.Time, detail string) error {
	failures, lockUntil := countFailure(r.failures, r.lockedUntil, t.MaxFailures, t.LockFor, now)
	if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = $2, login_locked_until = $3 WHERE id = $1`,
		r.user.ID, failures, lockUntil); err != nil {
		return fmt.Errorf("count failed login: %w", err)
	}
	actor := "user:" + r.user.ID
	if err := s.auditTx(ctx, tx, AuditEntry{UserID: r.user.ID, Actor: actor, Event: "login_failed",
		Detail: fmt.Sprintf("%s (%d of %d)", detail, failures, t.MaxFailures)}); err != nil {
		return err
	}
	if lockUntil == nil {
		return nil
	}
	return s.auditTx(ctx, tx, AuditEntry{UserID: r.user.ID, Actor: actor, Event: "login_locked",
		Detail: "logins locked until " + lockUntil.Format(time.RFC3339)})
}

// SessionCreate records a session issued by auth.Signer.Issue, so that it
// can be checked and revoked. The user must be active and belong to the
// claims' customer.
func (s *Store) SessionCreate(ctx context.Context, c auth.Claims) error {
	if _, err := uuid.Parse(c.SessionID); err != nil {
		return payment.Errorf(payment.CodeInvalidInput, "session id %q is not a UUID", c.SessionID)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var customer string
		var active bool
		err := tx.QueryRow(ctx, `SELECT customer_id, active FROM users WHERE id = $1 FOR SHARE`, c.UserID).Scan(&customer, &active)
		if err != nil {
			return notFound(err, "user "+c.UserID)
		}
		if !active {
			return payment.Errorf(payment.CodeUserInactive, "user %s is disabled", c.UserID)
		}
		if customer != c.CustomerID {
			return payment.Errorf(payment.CodeWrongCustomer, "user %s is not a user of customer %s", c.UserID, c.CustomerID)
		}
		_, err = tx.Exec(ctx, `INSERT INTO sessions (id, user_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)`,
			c.SessionID, c.UserID, c.IssuedAt.UTC(), c.ExpiresAt.UTC())
		if err != nil {
			return constraintError(err, "session "+c.SessionID)
		}
		return s.auditTx(ctx, tx, AuditEntry{UserID: c.UserID, Actor: "user:" + c.UserID, Event: "session_issued",
			Detail: fmt.Sprintf("session %s until %s", c.SessionID, c.ExpiresAt.UTC().Format(time.RFC3339))})
	})
}

// SessionCheck returns the user of a live session; an unknown, revoked or
// expired session is CodeTokenInvalid, a disabled user CodeUserInactive.
func (s *Store) SessionCheck(ctx context.Context, sessionID string) (string, error) {
	if _, err := uuid.Parse(sessionID); err != nil {
		return "", payment.Errorf(payment.CodeTokenInvalid, "session is unknown")
	}
	var userID string
	var expires time.Time
	var revoked *time.Time
	var active bool
	err := s.pool.QueryRow(ctx, `SELECT s.user_id, s.expires_at, s.revoked_at, u.active
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`, sessionID).Scan(&userID, &expires, &revoked, &active)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", payment.Errorf(payment.CodeTokenInvalid, "session is unknown")
	case err != nil:
		return "", fmt.Errorf("read session %s: %w", sessionID, err)
	case revoked != nil:
		return "", payment.Errorf(payment.CodeTokenInvalid, "session was revoked")
	case !s.cfg.Now().Before(expires):
		return "", payment.Errorf(payment.CodeTokenInvalid, "session has expired")
	case !active:
		return "", payment.Errorf(payment.CodeUserInactive, "user %s is disabled", userID)
	}
	return userID, nil
}

// SessionRevoke ends a session before it expires. Revoking a revoked
// session changes nothing; an unknown one is payment.ErrNotFound.
func (s *Store) SessionRevoke(ctx context.Context, sessionID, actor string) error {
	if _, err := uuid.Parse(sessionID); err != nil {
		return fmt.Errorf("session %s: %w", sessionID, payment.ErrNotFound)
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var userID string
		var revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT user_id, revoked_at FROM sessions WHERE id = $1 FOR UPDATE`, sessionID).Scan(&userID, &revoked)
		if err != nil {
			return notFound(err, "session "+sessionID)
		}
		if revoked != nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE id = $1`, sessionID, s.cfg.Now().UTC()); err != nil {
			return fmt.Errorf("revoke session: %w", err)
		}
		return s.auditTx(ctx, tx, AuditEntry{UserID: userID, Actor: actor, Event: "session_revoked", Detail: "session " + sessionID})
	})
}

// countFailure counts one more failure in a row (sign-in or OTP) and says
// until when the user is locked once the count reaches max. A lock that
// has run out starts the count again.
func countFailure(failures int, lockedUntil *time.Time, max int, lockFor time.Duration, now time.Time) (int, *time.Time) {
	if lockedUntil != nil {
		failures = 0
	}
	failures++
	if failures < max {
		return failures, nil
	}
	until := now.Add(lockFor)
	return failures, &until
}
