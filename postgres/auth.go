package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %s: %w", userID, payment.ErrNotFound)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_throttle WHERE subject = $1`, s.loginSubject(userID)); err != nil {
			return fmt.Errorf("clear sign-in lock of %s: %w", userID, err)
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
