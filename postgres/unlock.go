package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Unlocked is what UserUnlock ended: each lock that was still running
// (nil when there was none) and the failure counts it cleared.
type Unlocked struct {
	OTPLockedUntil   *time.Time
	OTPFailures      int
	LoginLockedUntil *time.Time
	LoginFailures    int
}

// UserUnlock ends a user's OTP lock and sign-in lock (the login_throttle
// row of the user's id) early and clears both failure counts, in one
// transaction with the user's row and that lock row locked, and appends a
// user_unlocked line to the audit trail: the actor, which locks were ended and the reason. It is
// audited even when nothing was locked.
func (s *Store) UserUnlock(ctx context.Context, userID, actor, reason string) (Unlocked, error) {
	var u Unlocked
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.cfg.Now().UTC()
		u = Unlocked{}
		err := tx.QueryRow(ctx, `SELECT otp_failures, otp_locked_until FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID).
			Scan(&u.OTPFailures, &u.OTPLockedUntil)
		if err != nil {
			return notFound(err, "user "+userID)
		}
		subject := s.loginSubject(userID)
		err = tx.QueryRow(ctx, `DELETE FROM login_throttle WHERE subject = $1 RETURNING failures, locked_until`, subject).
			Scan(&u.LoginFailures, &u.LoginLockedUntil)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("unlock user %s: %w", userID, err)
		}
		if u.OTPLockedUntil != nil && !now.Before(*u.OTPLockedUntil) {
			u.OTPLockedUntil = nil // it ran out by itself
		}
		if u.LoginLockedUntil != nil && !now.Before(*u.LoginLockedUntil) {
			u.LoginLockedUntil = nil
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET otp_failures = 0, otp_locked_until = NULL WHERE id = $1`, userID); err != nil {
			return fmt.Errorf("unlock user %s: %w", userID, err)
		}
		return s.auditTx(ctx, tx, AuditEntry{UserID: userID, Actor: actor, Event: "user_unlocked", Detail: u.describe(reason)})
	})
	return u, err
}

// describe says what was ended, for the audit trail.
func (u Unlocked) describe(reason string) string {
	var parts []string
	lock := func(what string, until *time.Time, failures int) {
		if until != nil {
			parts = append(parts, fmt.Sprintf("%s lock until %s ended (%d failures)", what, until.UTC().Format(time.RFC3339), failures))
		} else if failures > 0 {
			parts = append(parts, fmt.Sprintf("%s failures cleared (%d)", what, failures))
		}
	}
	lock("OTP", u.OTPLockedUntil, u.OTPFailures)
	lock("sign-in", u.LoginLockedUntil, u.LoginFailures)
	if len(parts) == 0 {
		parts = append(parts, "nothing was locked")
	}
	return strings.Join(parts, "; ") + "; reason: " + reason
}
