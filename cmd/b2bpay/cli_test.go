package main

import (
	"bytes"
	"context"
	"log/slog"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/server"
	"github.com/b2bpay/b2bpay/testkit"
)

// runCLI runs b2bpay with args against a database, as an operator would,
// and returns what it printed.
func runCLI(t *testing.T, dbURL string, args ...string) (string, error) {
	t.Helper()
	c := root()
	var out bytes.Buffer
	c.Writer = &out
	err := c.Run(t.Context(), append([]string{"b2bpay", "--database-url", dbURL, "--log-level", "warn"}, args...))
	return out.String(), err
}

// TestUserUnlockCommand: `b2bpay user unlock` ends a person's OTP lock and
// sign-in lock at once, and the audit trail names the operator and the
// reason.
func TestUserUnlockCommand(t *testing.T) {
	ctx := context.Background()
	dbURL := testkit.NewDatabase(t)
	a, err := server.Open(ctx, server.Config{DatabaseURL: dbURL, Location: shanghai(), Logger: slog.New(slog.DiscardHandler)}, nil)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	auth.Params = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	s := a.Store
	require.NoError(t, s.CustomerCreate(ctx, payment.Customer{ID: "C1", Name: "C1", OnlinePayment: true, Active: true}))
	require.NoError(t, s.UserCreate(ctx, payment.User{ID: "bob", CustomerID: "C1", Name: "Bob", Roles: []payment.Role{payment.RoleAuthorizer}, Active: true}))
	const pw = "correct horse battery staple"
	hash, err := auth.HashPassword(pw)
	require.NoError(t, err)
	require.NoError(t, s.UserSetPassword(ctx, "bob", hash, "admin"))
	lock := func() {
		for range 5 {
			_, err := s.Login(ctx, "bob", "a wrong password", auth.CheckPassword, auth.Throttle{})
			require.Equal(t, payment.CodeLoginFailed, payment.ErrorCode(err))
		}
		_, err = a.Pool.Exec(ctx, `UPDATE users SET otp_failures = 5, otp_locked_until = now() + interval '15 minutes' WHERE id = 'bob'`)
		require.NoError(t, err)
		_, err := s.Login(ctx, "bob", pw, auth.CheckPassword, auth.Throttle{})
		require.Equal(t, payment.CodeLoginThrottled, payment.ErrorCode(err))
	}
	lock()

	_, err = runCLI(t, dbURL, "user", "unlock", "bob")
	require.ErrorContains(t, err, "reason", "a reason is required")
	_, err = runCLI(t, dbURL, "user", "unlock", "nobody", "--reason", "typo")
	require.Equal(t, payment.CodeNotFound, payment.ErrorCode(err))

	out, err := runCLI(t, dbURL, "user", "unlock", "bob", "--reason", "ticket 4711", "--operator", "ops-alice")
	require.NoError(t, err)
	require.Contains(t, out, "bob: OTP lock until ")
	require.Contains(t, out, "bob: sign-in lock until ")
	_, err = s.Login(ctx, "bob", pw, auth.CheckPassword, auth.Throttle{})
	require.NoError(t, err, "bob signs in at once")
	var otpFailures int
	var otpLock *time.Time
	require.NoError(t, a.Pool.QueryRow(ctx, `SELECT otp_failures, otp_locked_until FROM users WHERE id = 'bob'`).Scan(&otpFailures, &otpLock))
	require.Zero(t, otpFailures)
	require.Nil(t, otpLock)

	// Without --operator the OS user is named; --id works as for the other
	// user commands.
	lock()
	out, err = runCLI(t, dbURL, "user", "unlock", "--id", "bob", "--reason", "ticket 4712")
	require.NoError(t, err)
	require.Contains(t, out, "sign-in lock until")
	me, err := user.Current()
	require.NoError(t, err)

	entries, err := s.AuditList(ctx, "bob", 100)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		if e.Event == "user_unlocked" {
			got = append(got, e.Actor+" | "+e.Detail)
		}
	}
	require.Len(t, got, 2)
	require.True(t, strings.HasPrefix(got[0], "admin:ops-alice | OTP lock until "), got[0])
	require.Contains(t, got[0], "sign-in lock until ")
	require.True(t, strings.HasSuffix(got[0], "reason: ticket 4711"), got[0])
	require.True(t, strings.HasPrefix(got[1], "admin:"+me.Username+" | "), got[1])

	out, err = runCLI(t, dbURL, "user", "unlock", "bob", "--reason", "checking", "--operator", "ops-alice")
	require.NoError(t, err)
	require.Contains(t, out, "bob was not locked")
}
