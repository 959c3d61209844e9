package postgres_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/payment"
)

func init() {
	// Cheap argon2id parameters keep the login tests fast.
	auth.Params = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// newUser registers one more user of the bundle's customer.
func (b *bundle) newUser(t *testing.T, roles ...payment.Role) payment.User {
	t.Helper()
	u := payment.User{ID: "user-" + randomHex(5), CustomerID: b.customer.ID, Name: "User", Roles: roles, Active: true}
	require.NoError(t, b.store.UserCreate(t.Context(), u))
	return u
}

// auditEvents lists the events of a user's audit trail, oldest first.
func (b *bundle) auditEvents(t *testing.T, userID string) []string {
	t.Helper()
	entries, err := b.store.AuditList(t.Context(), userID, 1000)
	require.NoError(t, err)
	events := make([]string, len(entries))
	for i, e := range entries {
		events[i] = e.Event
	}
	return events
}

// loginState reads a user's failed-login count and lock.
func (b *bundle) loginState(t *testing.T, userID string) (int, *time.Time) {
	t.Helper()
	var n int
	var until *time.Time
	subject := sha256.Sum256([]byte("b2bpay/login-throttle\x00" + userID))
	err := b.pool.QueryRow(t.Context(), `SELECT failures, locked_until FROM login_throttle WHERE subject = $1`, subject[:]).
		Scan(&n, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	require.NoError(t, err)
	return n, until
}

// withPassword registers a user with a password.
func (b *bundle) withPassword(t *testing.T, pw string) payment.User {
	t.Helper()
	u := b.newUser(t, payment.RoleReviewer)
	h, err := auth.HashPassword(pw)
	require.NoError(t, err)
	require.NoError(t, b.store.UserSetPassword(t.Context(), u.ID, h, "admin"))
	return u
}

func TestUserGetAndLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	u, err := b.store.UserGet(ctx, b.applicant.ID)
	require.NoError(t, err)
	require.Equal(t, b.applicant, u)
	_, err = b.store.UserGet(ctx, "nobody-"+b.suffix)
	require.ErrorIs(t, err, payment.ErrNotFound)

	require.NoError(t, b.store.UserSetLimit(ctx, u.ID, "CNY", 100_000, "admin"))
	require.NoError(t, b.store.UserSetLimit(ctx, u.ID, "CNY", 500_000, "admin"))
	var max int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT max_minor FROM user_limits WHERE user_id = $1 AND currency = 'CNY'`, u.ID).Scan(&max))
	require.EqualValues(t, 500_000, max)
	require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(b.store.UserSetLimit(ctx, u.ID, "CNY", 0, "admin")))
	require.Equal(t, payment.CodeInvalidCurrency, payment.ErrorCode(b.store.UserSetLimit(ctx, u.ID, "cny", 1, "admin")))
	require.Equal(t, payment.CodeNotFound, payment.ErrorCode(b.store.UserSetLimit(ctx, "nobody-"+b.suffix, "CNY", 1, "admin")))
	require.Equal(t, []string{"limit_set", "limit_set"}, b.auditEvents(t, u.ID))

	require.NoError(t, b.store.ApprovalTierSet(ctx, b.customer.ID, "CNY", 1_000_000_00, 2))
	require.NoError(t, b.store.ApprovalTierSet(ctx, b.customer.ID, "CNY", 1_000_000_00, 3))
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT authorizers FROM approval_tiers WHERE customer_id = $1`, b.customer.ID).Scan(&n))
	require.Equal(t, 3, n)
	require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(b.store.ApprovalTierSet(ctx, b.customer.ID, "CNY", 0, 6)))

	require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(b.store.UserSetPassword(ctx, u.ID, "plain text password", "admin")))
	require.ErrorIs(t, b.store.UserSetPassword(ctx, "nobody-"+b.suffix, "$argon2id$x", "admin"), payment.ErrNotFound)
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	const pw = "correct horse battery staple"
	u := b.withPassword(t, pw)
	th := auth.Throttle{}
	const attempt = "Tr0ub4dor&3-guess"

	got, err := b.store.Login(ctx, u.ID, pw, auth.CheckPassword, th)
	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)

	for i := 1; i <= 4; i++ {
		_, err := b.store.Login(ctx, u.ID, attempt, auth.CheckPassword, th)
		require.Equal(t, payment.CodeLoginFailed, payment.ErrorCode(err))
		n, until := b.loginState(t, u.ID)
		require.Equal(t, i, n, "failure %d is committed", i)
		require.Nil(t, until)
	}
	// A success clears the count.
	_, err = b.store.Login(ctx, u.ID, pw, auth.CheckPassword, th)
	require.NoError(t, err)
	n, _ := b.loginState(t, u.ID)
	require.Zero(t, n)

	for range 5 {
		_, err := b.store.Login(ctx, u.ID, attempt, auth.CheckPassword, th)
		require.Equal(t, payment.CodeLoginFailed, payment.ErrorCode(err))
	}
	n, until := b.loginState(t, u.ID)
	require.Equal(t, 5, n)
	require.NotNil(t, until)
	requireTime(t, baseTime.Add(15*time.Minute), *until)

	_, err = b.store.Login(ctx, u.ID, pw, auth.CheckPassword, th)
	require.Equal(t, payment.CodeLoginThrottled, payment.ErrorCode(err), "the right password is throttled too")
	b.clock.Advance(15*time.Minute - time.Second)
	_, err = b.store.Login(ctx, u.ID, pw, auth.CheckPassword, th)
	require.Equal(t, payment.CodeLoginThrottled, payment.ErrorCode(err))
	b.clock.Advance(time.Second)
	got, err = b.store.Login(ctx, u.ID, pw, auth.CheckPassword, th)
	require.NoError(t, err)
	require.Equal(t, u.ID, got.ID)
	n, until = b.loginState(t, u.ID)
	require.Zero(t, n)
	require.Nil(t, until)

	require.Equal(t, []string{"password_set", "login_ok",
		"login_failed", "login_failed", "login_failed", "login_failed", "login_ok",
		"login_failed", "login_failed", "login_failed", "login_failed", "login_failed", "login_locked",
		"login_throttled", "login_throttled", "login_ok"}, b.auditEvents(t, u.ID))
	entries, err := b.store.AuditList(ctx, u.ID, 100)
	require.NoError(t, err)
	for _, e := range entries {
		require.NotContains(t, e.Detail, attempt, "never a password in the audit trail")
		require.NotContains(t, e.Detail, pw)
	}
}

func TestLoginThrottleCustomAndExpiredLock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	u := b.withPassword(t, "correct horse battery staple")
	th := auth.Throttle{MaxFailures: 2, LockFor: time.Minute}
	for range 2 {
		_, err := b.store.Login(ctx, u.ID, "nope", auth.CheckPassword, th)
		require.Equal(t, payment.CodeLoginFailed, payment.ErrorCode(err))
	}
	_, err := b.store.Login(ctx, u.ID, "nope", auth.CheckPassword, th)
	require.Equal(t, payment.CodeLoginThrottled, payment.ErrorCode(err))
	// After the lock runs out the count starts again: one more failure
	// does not lock at once.
	b.clock.Advance(time.Minute)
	_, err = b.store.Login(ctx, u.ID, "nope", auth.CheckPassword, th)
	require.Equal(t, payment.CodeLoginFailed, payment.ErrorCode(err))
	n, _ := b.loginState(t, u.ID)
	require.Equal(t, 1, n)
	_, err = b.store.Login(ctx, u.ID, "correct horse battery staple", auth.CheckPassword, th)
	require.NoError(t, err)
}

func TestLoginDoesNotTellWhoExists(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	u := b.withPassword(t, "correct horse battery staple")
	noPassword := b.newUser(t, payment.RoleReviewer)

	_, wrong := b.store.Login(ctx, u.ID, "wrong password", auth.CheckPassword, auth.Throttle{})
	_, unknown := b.store.Login(ctx, "nobody-"+b.suffix, "wrong password", auth.CheckPassword, auth.Throttle{})
	_, unset := b.store.Login(ctx, noPassword.ID, "", auth.CheckPassword, auth.Throttle{})
	for _, err := range []error{wrong, unknown, unset} {
		require.Equal(t, payment.CodeLoginFailed, payment.ErrorCode(err))
		require.Equal(t, wrong.Error(), err.Error(), "one message for every failed login")
	}
	n, _ := b.loginState(t, noPassword.ID)
	require.Equal(t, 1, n, "a user without a password counts failures too")
	require.Equal(t, []string{"login_failed"}, b.auditEvents(t, noPassword.ID))

	var unknownRows int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log
		WHERE user_id IS NULL AND event = 'login_failed' AND detail LIKE 'unknown user (%'`).Scan(&unknownRows))
	require.Positive(t, unknownRows, "the unknown user's attempt is audited")
}

func TestLoginInactiveUser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	const pw = "correct horse battery staple"
	u := b.withPassword(t, pw)
	require.NoError(t, b.store.UserSetActive(ctx, u.ID, false, "admin", "left the company"))
	_, err := b.store.Login(ctx, u.ID, pw, auth.CheckPassword, auth.Throttle{})
	require.Equal(t, payment.CodeUserInactive, payment.ErrorCode(err))
	_, err = b.store.Login(ctx, u.ID, "wrong password", auth.CheckPassword, auth.Throttle{})
	require.Equal(t, payment.CodeLoginFailed, payment.ErrorCode(err), "a wrong password does not learn the user is disabled")
	require.NoError(t, b.store.UserSetActive(ctx, u.ID, true, "admin", "came back"))
	_, err = b.store.Login(ctx, u.ID, pw, auth.CheckPassword, auth.Throttle{})
	require.NoError(t, err)
	require.Equal(t, []string{"password_set", "user_disabled", "login_inactive", "login_failed", "user_enabled", "login_ok"},
		b.auditEvents(t, u.ID))
}

func TestSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	signer, err := auth.NewSigner(auth.DeriveKey([]byte("0123456789abcdef0123456789abcdef"), "session-token"), time.Hour, b.clock.Now)
	require.NoError(t, err)
	u := b.newUser(t, payment.RoleReviewer)

	token, c, err := signer.Issue(u.ID, u.CustomerID)
	require.NoError(t, err)
	require.NoError(t, b.store.SessionCreate(ctx, c))
	verified, err := signer.Verify(token)
	require.NoError(t, err)
	who, err := b.store.SessionCheck(ctx, verified.SessionID)
	require.NoError(t, err)
	require.Equal(t, u.ID, who)

	require.NoError(t, b.store.SessionRevoke(ctx, c.SessionID, "user:"+u.ID))
	require.NoError(t, b.store.SessionRevoke(ctx, c.SessionID, "user:"+u.ID), "revoking twice is harmless")
	_, err = b.store.SessionCheck(ctx, c.SessionID)
	require.Equal(t, payment.CodeTokenInvalid, payment.ErrorCode(err))
	require.Contains(t, err.Error(), "revoked")

	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-uuid", ""} {
		_, err = b.store.SessionCheck(ctx, id)
		require.Equal(t, payment.CodeTokenInvalid, payment.ErrorCode(err), "session %q", id)
	}
	require.ErrorIs(t, b.store.SessionRevoke(ctx, "00000000-0000-0000-0000-000000000000", "admin"), payment.ErrNotFound)

	_, c2, err := signer.Issue(u.ID, u.CustomerID)
	require.NoError(t, err)
	require.NoError(t, b.store.SessionCreate(ctx, c2))
	b.clock.Advance(time.Hour - time.Second)
	_, err = b.store.SessionCheck(ctx, c2.SessionID)
	require.NoError(t, err)
	b.clock.Advance(time.Second)
	_, err = b.store.SessionCheck(ctx, c2.SessionID)
	require.Equal(t, payment.CodeTokenInvalid, payment.ErrorCode(err))
	require.Contains(t, err.Error(), "expired")

	_, bad, err := signer.Issue(u.ID, "another-customer")
	require.NoError(t, err)
	require.Equal(t, payment.CodeWrongCustomer, payment.ErrorCode(b.store.SessionCreate(ctx, bad)))
	_, ghost, err := signer.Issue("nobody-"+b.suffix, u.CustomerID)
	require.NoError(t, err)
	require.ErrorIs(t, b.store.SessionCreate(ctx, ghost), payment.ErrNotFound)

	require.Equal(t, []string{"session_issued", "session_revoked", "session_issued"}, b.auditEvents(t, u.ID))
}

func TestDisablingRevokesSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	signer, err := auth.NewSigner(make([]byte, 32), time.Hour, b.clock.Now)
	require.NoError(t, err)
	u := b.newUser(t, payment.RoleAuthorizer)
	other := b.newUser(t, payment.RoleAuthorizer)
	var ids []string
	for _, who := range []payment.User{u, u, u, other} {
		_, c, err := signer.Issue(who.ID, who.CustomerID)
		require.NoError(t, err)
		require.NoError(t, b.store.SessionCreate(ctx, c))
		ids = append(ids, c.SessionID)
	}
	require.NoError(t, b.store.SessionRevoke(ctx, ids[0], "user:"+u.ID))
	require.NoError(t, b.store.UserSetActive(ctx, u.ID, false, "admin", "suspected compromise"))
	for _, id := range ids[:3] {
		_, err := b.store.SessionCheck(ctx, id)
		require.Equal(t, payment.CodeTokenInvalid, payment.ErrorCode(err))
	}
	who, err := b.store.SessionCheck(ctx, ids[3])
	require.NoError(t, err, "another user's session lives on")
	require.Equal(t, other.ID, who)

	var revoked int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at = $2`,
		u.ID, baseTime).Scan(&revoked))
	require.Equal(t, 3, revoked)
	entries, err := b.store.AuditList(ctx, u.ID, 100)
	require.NoError(t, err)
	last := entries[len(entries)-1]
	require.Equal(t, "user_disabled", last.Event)
	require.Equal(t, "suspected compromise (sessions revoked: 2)", last.Detail)

	_, c, err := signer.Issue(u.ID, u.CustomerID)
	require.NoError(t, err)
	require.Equal(t, payment.CodeUserInactive, payment.ErrorCode(b.store.SessionCreate(ctx, c)))
	require.ErrorIs(t, b.store.UserSetActive(ctx, "nobody-"+b.suffix, false, "admin", ""), payment.ErrNotFound)
}
