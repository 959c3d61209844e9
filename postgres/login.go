package postgres

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
)

// Login checks a user's password with check (auth.CheckPassword) under the
// throttle t. The password is checked outside any transaction and without
// any row lock (an argon2id check takes tens of milliseconds and 64 MiB):
// Login reads, checks, then records the outcome in a short transaction.
//
// The sign-in lock is kept per user id as typed (login_throttle, named by
// loginSubject), for unknown ids exactly as for users: t.MaxFailures
// failures in a row lock that id for t.LockFor, during which every
// sign-in with it is refused with CodeLoginThrottled (an *auth.Throttled
// saying when to come back), whatever the password. An unknown user, a
// user without a password and a wrong password get the same
// CodeLoginFailed after the same work (one argon2id check, one write); a
// disabled user with the right password gets CodeUserInactive. Failures
// and audit rows are committed even though an error is returned.
func (s *Store) Login(ctx context.Context, userID, password string, check func(hash, pw string) (bool, error), t auth.Throttle) (payment.User, error) {
	t = t.WithDefaults()
	subject := s.loginSubject(userID)
	r, err := s.loginRead(ctx, userID, subject)
	if err != nil {
		return payment.User{}, fmt.Errorf("login: %w", err)
	}
	now := s.cfg.Now().UTC()
	if r.lockedUntil != nil && now.Before(*r.lockedUntil) {
		return payment.User{}, s.loginThrottled(ctx, r, *r.lockedUntil, now)
	}
	hash, detail := dummyHash(), "no password set"
	switch {
	case !r.exists:
		detail = "unknown user"
	case r.hash != nil:
		hash, detail = *r.hash, "wrong password"
	}
	ok, err := check(hash, password)
	if err != nil && r.exists && r.hash != nil {
		return payment.User{}, fmt.Errorf("login: check password of %s: %w", r.user.ID, err)
	}
	now = s.cfg.Now().UTC()
	if !ok || !r.exists || r.hash == nil {
		return payment.User{}, s.loginFailed(ctx, r, t, now, detail)
	}
	return s.loginSucceeded(ctx, r, now)
}

// dummyHash is checked against when there is no hash to check, so that an
// unknown user takes as long to refuse as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, _ := auth.HashPassword("b2bpay: no such user, no password")
	return h
})

// loginRow is what Login reads of a user id: the user when there is one,
// and the id's sign-in lock.
type loginRow struct {
	subject     []byte
	exists      bool
	user        payment.User
	hash        *string
	failures    int
	lockedUntil *time.Time
}

// loginSubject names the sign-in lock of a user id as typed: an HMAC with
// Config.LoginKey (a SHA-256 without one), never the id itself.
func (s *Store) loginSubject(userID string) []byte {
	if len(s.cfg.LoginKey) == 0 {
		sum := sha256.Sum256([]byte("b2bpay/login-throttle\x00" + userID))
		return sum[:]
	}
	m := hmac.New(sha256.New, s.cfg.LoginKey)
	m.Write([]byte(userID))
	return m.Sum(nil)
}

// loginRead reads the user (if any) and the sign-in lock of an id in one
// round trip, without locking anything.
func (s *Store) loginRead(ctx context.Context, userID string, subject []byte) (loginRow, error) {
	r := loginRow{subject: subject}
	var id, customer, name *string
	var roles []string
	var active *bool
	var failures *int
	err := s.pool.QueryRow(ctx, `SELECT u.id, u.customer_id, u.name, u.roles, u.active, u.password_hash, l.failures, l.locked_until
		FROM (SELECT 1) one
		LEFT JOIN users u ON u.id = $1
		LEFT JOIN login_throttle l ON l.subject = $2`, userID, subject).
		Scan(&id, &customer, &name, &roles, &active, &r.hash, &failures, &r.lockedUntil)
	if err != nil {
		return r, fmt.Errorf("read user: %w", err)
	}
	if id != nil {
		r.exists = true
		r.user = payment.User{ID: *id, CustomerID: *customer, Name: *name, Roles: toRoles(roles), Active: *active}
	}
	if failures != nil {
		r.failures = *failures
	}
	return r, nil
}

// lockTx locks the sign-in lock row of subject, creating it when there is
// none, and returns its count and lock.
func lockTx(ctx context.Context, tx pgx.Tx, subject []byte, now time.Time) (int, *time.Time, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO login_throttle (subject, failures, updated_at) VALUES ($1, 0, $2)
		ON CONFLICT (subject) DO NOTHING`, subject, now); err != nil {
		return 0, nil, fmt.Errorf("sign-in lock: %w", err)
	}
	var failures int
	var until *time.Time
	err := tx.QueryRow(ctx, `SELECT failures, locked_until FROM login_throttle WHERE subject = $1 FOR UPDATE`, subject).
		Scan(&failures, &until)
	if err != nil {
		return 0, nil, fmt.Errorf("sign-in lock: %w", err)
	}
	return failures, until, nil
}

// loginActor is who a sign-in is from in the audit trail: never an
// unknown id, which may be a password typed in the wrong field.
func loginActor(r loginRow) (userID, actor string) {
	if !r.exists {
		return "", "anonymous"
	}
	return r.user.ID, "user:" + r.user.ID
}

// loginThrottled audits a sign-in refused by a running lock and returns
// its refusal.
func (s *Store) loginThrottled(ctx context.Context, r loginRow, until, now time.Time) error {
	userID, actor := loginActor(r)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		return s.auditTx(ctx, tx, AuditEntry{UserID: userID, Actor: actor, Event: "login_throttled"})
	})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	return auth.NewThrottled(until.Sub(now), "too many failed sign-ins; try again after %s", until.UTC().Format(time.RFC3339))
}

// loginFailed counts a failed sign-in against the id's lock (a lock taken
// meanwhile by concurrent failures stays as it is) and audits it.
func (s *Store) loginFailed(ctx context.Context, r loginRow, t auth.Throttle, now time.Time, detail string) error {
	userID, actor := loginActor(r)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		failures, until, err := lockTx(ctx, tx, r.subject, now)
		if err != nil {
			return err
		}
		if until != nil && now.Before(*until) {
			return s.auditTx(ctx, tx, AuditEntry{UserID: userID, Actor: actor, Event: "login_failed",
				Detail: fmt.Sprintf("%s (locked meanwhile)", detail)})
		}
		failures, lockUntil := otp.CountFailure(failures, until, t.MaxFailures, t.LockFor, now)
		if _, err := tx.Exec(ctx, `UPDATE login_throttle SET failures = $2, locked_until = $3, updated_at = $4 WHERE subject = $1`,
			r.subject, failures, lockUntil, now); err != nil {
			return fmt.Errorf("count failed sign-in: %w", err)
		}
		if err := s.auditTx(ctx, tx, AuditEntry{UserID: userID, Actor: actor, Event: "login_failed",
			Detail: fmt.Sprintf("%s (%d of %d)", detail, failures, t.MaxFailures)}); err != nil {
			return err
		}
		if err := pruneLoginThrottle(ctx, tx, now); err != nil {
			return err
		}
		if lockUntil == nil {
			return nil
		}
		return s.auditTx(ctx, tx, AuditEntry{UserID: userID, Actor: actor, Event: "login_locked",
			Detail: "sign-ins locked until " + lockUntil.Format(time.RFC3339)})
	})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	return payment.Errorf(payment.CodeLoginFailed, loginFailedMessage)
}

// loginThrottleHorizon is how long a count of failed sign-ins without a
// running lock is kept: ids typed once (mistyped, made up) do not pile up.
const loginThrottleHorizon = 24 * time.Hour

// pruneLoginThrottle deletes a few sign-in lock rows untouched for
// loginThrottleHorizon and not locked, at each failure.
func pruneLoginThrottle(ctx context.Context, tx pgx.Tx, now time.Time) error {
	_, err := tx.Exec(ctx, `DELETE FROM login_throttle WHERE subject IN (
		SELECT subject FROM login_throttle WHERE updated_at < $1 AND (locked_until IS NULL OR locked_until < $2)
		ORDER BY updated_at LIMIT 100 FOR UPDATE SKIP LOCKED)`, now.Add(-loginThrottleHorizon), now)
	if err != nil {
		return fmt.Errorf("prune sign-in locks: %w", err)
	}
	return nil
}

// errPasswordChanged ends a sign-in whose password changed while it was
// checked: the check proved the old one.
var errPasswordChanged = errors.New("password changed during the check")

// loginSucceeded records a sign-in whose password checked: unless a lock
// was taken meanwhile or the password changed, the id's failures are
// cleared. A disabled user is refused with CodeUserInactive.
func (s *Store) loginSucceeded(ctx context.Context, r loginRow, now time.Time) (payment.User, error) {
	var refusal error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		refusal = nil
		_, until, err := lockTx(ctx, tx, r.subject, now)
		if err != nil {
			return err
		}
		actor := "user:" + r.user.ID
		if until != nil && now.Before(*until) {
			refusal = auth.NewThrottled(until.Sub(now), "too many failed sign-ins; try again after %s", until.UTC().Format(time.RFC3339))
			return s.auditTx(ctx, tx, AuditEntry{UserID: r.user.ID, Actor: actor, Event: "login_throttled"})
		}
		var hash *string
		var active bool
		if err := tx.QueryRow(ctx, `SELECT password_hash, active FROM users WHERE id = $1`, r.user.ID).Scan(&hash, &active); err != nil {
			return fmt.Errorf("read user: %w", err)
		}
		if hash == nil || *hash != *r.hash {
			refusal = payment.Errorf(payment.CodeLoginFailed, loginFailedMessage)
			return s.auditTx(ctx, tx, AuditEntry{UserID: r.user.ID, Actor: actor, Event: "login_failed", Detail: errPasswordChanged.Error()})
		}
		if !active {
			refusal = payment.Errorf(payment.CodeUserInactive, "user %s is disabled", r.user.ID)
			return s.auditTx(ctx, tx, AuditEntry{UserID: r.user.ID, Actor: actor, Event: "login_inactive"})
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_throttle WHERE subject = $1`, r.subject); err != nil {
			return fmt.Errorf("clear failed sign-ins: %w", err)
		}
		return s.auditTx(ctx, tx, AuditEntry{UserID: r.user.ID, Actor: actor, Event: "login_ok"})
	})
	switch {
	case err != nil:
		return payment.User{}, fmt.Errorf("login: %w", err)
	case refusal != nil:
		return payment.User{}, refusal
	}
	r.user.Active = true
	return r.user, nil
}
