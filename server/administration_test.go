package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/testkit"
)

// TestAdministrationEnrollOTP: the console's enrolment and the CLI's share
// one path: the secret stored sealed, the URI and QR code given back once,
// the audit line naming who enrolled whom.
func TestAdministrationEnrollOTP(t *testing.T) {
	ctx := context.Background()
	url := testkit.NewDatabase(t)
	sec, err := NewSecurity(secret.NewKey(), 15*time.Minute, nil)
	require.NoError(t, err)
	a, err := Open(ctx, Config{DatabaseURL: url, Location: shanghai(), Logger: slog.New(slog.DiscardHandler)}, sec)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NoError(t, a.Store.CustomerCreate(ctx, payment.Customer{ID: "C1", Name: "C1", Active: true}))
	require.NoError(t, a.Store.CustomerCreate(ctx, payment.Customer{ID: "C2", Name: "C2", Active: true}))
	for _, u := range []payment.User{
		{ID: "ann", CustomerID: "C1", Name: "Ann", Roles: []payment.Role{payment.RoleAdmin}, Active: true},
		{ID: "rob", CustomerID: "C1", Name: "Rob", Roles: []payment.Role{payment.RoleReviewer}, Active: true},
		{ID: "zoe", CustomerID: "C2", Name: "Zoe", Roles: []payment.Role{payment.RoleReviewer}, Active: true},
	} {
		require.NoError(t, a.Store.UserCreate(ctx, u))
	}
	adm := a.Administration()
	uri, png, err := adm.EnrollOTP(ctx, "ann", "rob", "b2bpay")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(uri, "otpauth://totp/"), uri)
	require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")))
	var sealed []byte
	require.NoError(t, a.Pool.QueryRow(ctx, `SELECT otp_sealed FROM users WHERE id = 'rob'`).Scan(&sealed))
	require.NotEmpty(t, sealed)
	var actor, event string
	require.NoError(t, a.Pool.QueryRow(ctx, `SELECT actor, event FROM audit_log WHERE user_id = 'rob' ORDER BY id DESC LIMIT 1`).Scan(&actor, &event))
	require.Equal(t, []string{"user:ann", "otp_enrolled"}, []string{actor, event})

	_, _, err = adm.EnrollOTP(ctx, "ann", "zoe", "b2bpay")
	require.Equal(t, payment.CodeNotFound, payment.ErrorCode(err), "got %v", err)
	_, _, err = adm.EnrollOTP(ctx, "rob", "rob", "b2bpay")
	require.Equal(t, payment.CodeWrongRole, payment.ErrorCode(err), "got %v", err)

	// The CLI writes the QR code to a private file and prints the URI.
	dir := t.TempDir()
	var out bytes.Buffer
	qr := filepath.Join(dir, "rob.png")
	require.NoError(t, a.UserEnrollOTP(ctx, &out, "rob", "b2bpay", qr))
	require.Contains(t, out.String(), "otpauth://totp/")
	st, err := os.Stat(qr)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	// An unknown user: nothing written, and a file already there stays.
	keep := filepath.Join(dir, "keep.png")
	require.NoError(t, os.WriteFile(keep, []byte("mine"), 0o600))
	require.Error(t, a.UserEnrollOTP(ctx, &out, "nobody", "b2bpay", keep))
	got, err := os.ReadFile(keep)
	require.NoError(t, err)
	require.Equal(t, "mine", string(got))
}
