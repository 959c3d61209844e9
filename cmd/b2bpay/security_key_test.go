package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/producers"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/server"
)

// TestSecurityWrongMasterKeyRefused: once a database has its key, every
// command given another master key stops at once with a clear message,
// before anything is sealed, signed or MACed with it; a database from
// before key versions (nothing recorded) refuses a key that does not open
// its sealed secrets.
func TestSecurityWrongMasterKeyRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.enroll(t, "ann")
	wrong := secret.NewKey()
	sec, err := server.NewSecurity(wrong, 15*time.Minute, nil)
	require.NoError(t, err)
	a, err := server.Open(ctx, e.cfg, sec)
	if err == nil {
		a.Close()
	}
	require.ErrorContains(t, err, "the master key is not this database's key")
	require.ErrorContains(t, err, "current key version 1")

	out, err := runCLI(t, e.cfg.DatabaseURL, "--master-key-file", keyFile(t, wrong), "verify")
	require.ErrorContains(t, err, "the master key is not this database's key", out)

	// Nothing recorded yet (a database from before key versions): the key
	// must open what is sealed there.
	_, err = e.app.Pool.Exec(ctx, `DELETE FROM key_versions`)
	require.NoError(t, err)
	a, err = server.Open(ctx, e.cfg, sec)
	if err == nil {
		a.Close()
	}
	require.ErrorContains(t, err, "does not open the secrets sealed in this database (upstream-hmac)")
	require.Equal(t, 0, e.count(`SELECT count(*) FROM key_versions`))
	// The right key is recorded again as version 1.
	out, err = runCLI(t, e.cfg.DatabaseURL, "--master-key-file", keyFile(t, e.master), "key", "status")
	require.NoError(t, err, out)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM key_versions WHERE version = 1 AND retired_at IS NULL`))
}

// TestSecurityKeyRotate: `b2bpay key rotate` re-seals every upstream HMAC
// key and OTP seed with a new master key and keeps the MAC keys of the old
// one, so that: serve with the old key refuses to start; serve with the
// new key opens the OTP seeds and the upstream's HMAC key; a payment
// approved before the rotation and one approved across it export, and
// verify finds nothing broken; old session tokens no longer work.
func TestSecurityKeyRotate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	alex := e.person(t, "alex", "C1", payment.RoleAuthorizer)
	before := e.submit(t, request("rotate-before"))
	across := e.submit(t, request("rotate-across"))
	for _, p := range []*payment.Payment{before, across} {
		require.Equal(t, approval.Applied, e.decide(t, ann.token, p.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), p.Digest(), "").Outcome)
		require.Equal(t, approval.Applied, e.decide(t, rita.token, p.ID, payment.StageReview, payment.VerdictApprove, rita.code(t), p.Digest(), "").Outcome)
	}
	res := e.decide(t, alex.token, before.ID, payment.StageAuthorization, payment.VerdictApprove, alex.code(t), before.Digest(), "")
	require.Equal(t, payment.StateAuthorized, res.State, res.Reason)
	e.halt()

	old, next := e.master, secret.NewKey()
	oldFile, nextFile := keyFile(t, old), keyFile(t, next)
	out, err := runCLI(t, e.cfg.DatabaseURL, "--master-key-file", oldFile, "key", "rotate", "--new-key-file", nextFile)
	require.NoError(t, err, out)
	require.Equal(t, 2, e.count(`SELECT count(*) FROM key_versions`))
	require.Equal(t, 0, e.count(`SELECT count(*) FROM users WHERE otp_sealed IS NOT NULL AND otp_key_version <> 2`))
	require.Equal(t, 0, e.count(`SELECT count(*) FROM upstreams WHERE hmac_key_sealed IS NOT NULL AND key_version <> 2`))
	_, err = runCLI(t, e.cfg.DatabaseURL, "--master-key-file", nextFile, "key", "rotate", "--new-key-file", nextFile)
	require.ErrorContains(t, err, "already")

	// The old key is refused, by serve and every command.
	sec, err := server.NewSecurity(old, 15*time.Minute, nil)
	require.NoError(t, err)
	a, err := server.Open(ctx, e.cfg, sec)
	if err == nil {
		a.Close()
	}
	require.ErrorContains(t, err, "retired by a rotation: it is key version 1, the database's current key is version 2")
	_, err = runCLI(t, e.cfg.DatabaseURL, "--master-key-file", oldFile, "verify")
	require.ErrorContains(t, err, "retired")

	// Serve with the new key: the seeds open, the old MACs check.
	sec, err = server.NewSecurity(next, 15*time.Minute, nil)
	require.NoError(t, err)
	a, err = server.Open(ctx, e.cfg, sec)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NoError(t, a.OpenBroker(ctx, "b2bpay-test-rotated", 30*time.Second))
	e.app, e.sealer, e.master = a, sec.Sealer, next
	e.start()
	stale := e.decide(t, alex.token, across.ID, payment.StageAuthorization, payment.VerdictApprove, alex.code(t), across.Digest(), "")
	require.Equal(t, approval.Refused, stale.Outcome, "a token signed with the old key")
	alex.token = e.login(t, "alex", testPassword)
	res = e.decide(t, alex.token, across.ID, payment.StageAuthorization, payment.VerdictApprove, alex.code(t), across.Digest(), "")
	require.Equal(t, payment.StateAuthorized, res.State, res.Reason)

	mall, err := producers.Dial(ctx, producers.Config{URL: e.cfg.AMQPURL, UpstreamID: "mall", HMACKey: e.mallKey})
	require.NoError(t, err)
	defer mall.Close()
	require.NoError(t, mall.Submit(ctx, request("rotate-mall")))
	require.Eventually(t, func() bool {
		_, err := e.app.Store.PaymentGetByRequest(ctx, "mall", "rotate-mall")
		return err == nil
	}, 20*time.Second, 20*time.Millisecond, "the upstream's re-sealed HMAC key opens")

	cut, err := e.exporter(t, t.TempDir()).RunManual(ctx, time.Now())
	require.NoError(t, err)
	require.Equal(t, 2, cut.Payments)
	require.Equal(t, payment.StateExported, e.payment(t, before.ID).State)
	require.Equal(t, payment.StateExported, e.payment(t, across.ID).State)
	out, err = runCLI(t, e.cfg.DatabaseURL, "--master-key-file", nextFile, "verify")
	require.NoError(t, err, out)
}
