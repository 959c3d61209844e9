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

// TestCapsCommand: `b2bpay caps` sets what the batch decision reads (the
// customer's and a person's items per batch, a total per currency,
// replaced when set again), audited with the operator; bad input is
// refused with a clear error and changes nothing.
func TestCapsCommand(t *testing.T) {
	ctx := context.Background()
	dbURL := testkit.NewDatabase(t)
	a, err := server.Open(ctx, server.Config{DatabaseURL: dbURL, Location: shanghai(), Logger: slog.New(slog.DiscardHandler)}, nil)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NoError(t, a.Store.CustomerCreate(ctx, payment.Customer{ID: "C1", Name: "C1", OnlinePayment: true, Active: true}))
	require.NoError(t, a.Store.UserCreate(ctx, payment.User{ID: "carol", CustomerID: "C1", Name: "Carol", Roles: []payment.Role{payment.RoleAuthorizer}, Active: true}))

	out, err := runCLI(t, dbURL, "caps", "--customer", "C1", "--items", "200", "--max-total", "50000000.00", "--operator", "ops1")
	require.NoError(t, err)
	require.Contains(t, out, "customer C1: at most 200 payments in one batch")
	require.Contains(t, out, "customer C1: at most 50000000.00 CNY in one batch")
	_, err = runCLI(t, dbURL, "caps", "--user", "carol", "--items", "50", "--currency", "USD", "--max-total", "10000.00")
	require.NoError(t, err)
	_, err = runCLI(t, dbURL, "caps", "--customer", "C1", "--max-total", "60000000.00")
	require.NoError(t, err, "a total set again replaces the first")

	var custItems int
	var userItems *int
	require.NoError(t, a.Pool.QueryRow(ctx, `SELECT batch_max_items FROM customers WHERE id = 'C1'`).Scan(&custItems))
	require.NoError(t, a.Pool.QueryRow(ctx, `SELECT batch_max_items FROM users WHERE id = 'carol'`).Scan(&userItems))
	require.Equal(t, 200, custItems)
	require.Equal(t, 50, *userItems)
	caps := map[string]int64{}
	rows, err := a.Pool.Query(ctx, `SELECT coalesce(customer_id, 'user:' || user_id) || '/' || currency, max_minor FROM batch_total_caps`)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		var v int64
		require.NoError(t, rows.Scan(&k, &v))
		caps[k] = v
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]int64{"C1/CNY": 6_000_000_000, "user:carol/USD": 1_000_000}, caps)
	var audit int
	require.NoError(t, a.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE event = 'batch_caps_set' AND actor = 'admin:ops1'`).Scan(&audit))
	require.Equal(t, 1, audit)

	for _, bad := range [][]string{
		{"caps", "--items", "10"},                            // nobody named
		{"caps", "--customer", "C1", "--user", "carol"},      // both
		{"caps", "--customer", "C1"},                         // nothing to set
		{"caps", "--customer", "C1", "--items", "5001"},      // over the table's bound
		{"caps", "--customer", "C1", "--max-total", "1.234"}, // not CNY
		{"caps", "--customer", "C9", "--items", "10"},        // no such customer
	} {
		_, err := runCLI(t, dbURL, bad...)
		require.Error(t, err, "%v", bad)
	}
	require.NoError(t, a.Pool.QueryRow(ctx, `SELECT batch_max_items FROM customers WHERE id = 'C1'`).Scan(&custItems))
	require.Equal(t, 200, custItems)
}
