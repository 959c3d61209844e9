package postgres_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/secret"
)

// otpKit is a sealer and the policy the OTP tests check codes with.
type otpKit struct {
	sealer *secret.Sealer
	pol    otp.Policy
}

func newOTPKit(t *testing.T) *otpKit {
	t.Helper()
	s, err := secret.NewSealer(1, map[byte][]byte{1: secret.NewKey()})
	require.NoError(t, err)
	return &otpKit{sealer: s}
}

// open opens a seed bound to its user, as callers do.
func (k *otpKit) open(sealed []byte, userID string) ([]byte, error) {
	return k.sealer.Open(sealed, postgres.OTPSeedAD(userID))
}

// enroll gives a user a seed (a fresh random one when seed is nil).
func (k *otpKit) enroll(t *testing.T, b *bundle, userID string, seed []byte) []byte {
	t.Helper()
	if seed == nil {
		var err error
		seed, _, err = otp.Generate("b2bpay", userID)
		require.NoError(t, err)
	}
	sealed := k.sealer.Seal(seed, postgres.OTPSeedAD(userID))
	require.NoError(t, b.store.UserEnrollOTP(t.Context(), userID, sealed, int(k.sealer.Version()), "admin"))
	return seed
}

// code is the seed's code at a step offset from the bundle's now.
func code(t *testing.T, b *bundle, seed []byte, offset int64) (string, int64) {
	t.Helper()
	step := b.clock.Now().Unix()/30 + offset
	c, err := otp.CodeAt(seed, step, otp.Options{})
	require.NoError(t, err)
	return c, step
}

func (k *otpKit) check(t *testing.T, b *bundle, userID, code string) (int64, error) {
	t.Helper()
	return b.store.OTPCheck(t.Context(), userID, code, k.open, k.pol, "test", "")
}

// otpState reads a user's OTP failure count, lock and last step.
func (b *bundle) otpState(t *testing.T, userID string) (failures int, until *time.Time, last int64) {
	t.Helper()
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT otp_failures, otp_locked_until, otp_last_step FROM users WHERE id = $1`,
		userID).Scan(&failures, &until, &last))
	return failures, until, last
}

func TestOTPEnroll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := newOTPKit(t)
	u := b.newUser(t, payment.RoleAuthorizer)
	seed := k.enroll(t, b, u.ID, nil)

	var sealed []byte
	var version int
	var enrolled time.Time
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT otp_sealed, otp_key_version, otp_enrolled_at FROM users WHERE id = $1`, u.ID).
		Scan(&sealed, &version, &enrolled))
	require.False(t, bytes.Contains(sealed, seed), "the seed is stored sealed")
	require.Equal(t, 1, version)
	requireTime(t, baseTime, enrolled)
	opened, err := k.open(sealed, u.ID)
	require.NoError(t, err)
	require.Equal(t, seed, opened)

	k.enroll(t, b, u.ID, nil)
	require.Equal(t, []string{"otp_enrolled", "otp_reenrolled"}, b.auditEvents(t, u.ID))
	require.ErrorIs(t, b.store.UserEnrollOTP(t.Context(), "nobody-"+b.suffix, sealed, 1, "admin"), payment.ErrNotFound)
	require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(b.store.UserEnrollOTP(t.Context(), u.ID, nil, 1, "admin")))

	_, err = k.check(t, b, b.applicant.ID, "123456")
	require.Equal(t, payment.CodeOTPNotEnrolled, payment.ErrorCode(err))
}

func TestOTPAcceptedOnceThenReplay(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := newOTPKit(t)
	u := b.newUser(t, payment.RoleAuthorizer)
	seed := k.enroll(t, b, u.ID, nil)
	c, want := code(t, b, seed, 0)

	step, err := k.check(t, b, u.ID, c)
	require.NoError(t, err)
	require.Equal(t, want, step)
	_, _, last := b.otpState(t, u.ID)
	require.Equal(t, want, last)

	_, err = k.check(t, b, u.ID, c)
	require.Equal(t, payment.CodeOTPReplayed, payment.ErrorCode(err))
	b.clock.Advance(20 * time.Second) // still within the skew window
	_, err = k.check(t, b, u.ID, c)
	require.Equal(t, payment.CodeOTPReplayed, payment.ErrorCode(err))
	require.Equal(t, []string{"otp_enrolled", "otp_ok", "otp_replay", "otp_replay"}, b.auditEvents(t, u.ID))
}

func TestOTPConcurrentSameCode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := newOTPKit(t)
	u := b.newUser(t, payment.RoleAuthorizer)
	seed := k.enroll(t, b, u.ID, nil)
	c, _ := code(t, b, seed, 0)

	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = k.check(t, b, u.ID, c)
		})
	}
	close(start)
	wg.Wait()
	ok, replayed := 0, 0
	for _, err := range errs {
		switch payment.ErrorCode(err) {
		case "":
			require.NoError(t, err)
			ok++
		case payment.CodeOTPReplayed:
			replayed++
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	require.Equal(t, 1, ok, "exactly one of %d concurrent uses of one code succeeds", n)
	require.Equal(t, n-1, replayed)
}

func TestOTPSkewThenCurrent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := newOTPKit(t)
	u := b.newUser(t, payment.RoleAuthorizer)
	seed := k.enroll(t, b, u.ID, nil)
	prev, prevStep := code(t, b, seed, -1)
	cur, curStep := code(t, b, seed, 0)
	older, _ := code(t, b, seed, -2)

	step, err := k.check(t, b, u.ID, prev)
	require.NoError(t, err, "the previous step's code is within the skew")
	require.Equal(t, prevStep, step)
	step, err = k.check(t, b, u.ID, cur)
	require.NoError(t, err, "a later step is still accepted once")
	require.Equal(t, curStep, step)
	_, err = k.check(t, b, u.ID, cur)
	require.Equal(t, payment.CodeOTPReplayed, payment.ErrorCode(err))
	_, err = k.check(t, b, u.ID, prev)
	require.Equal(t, payment.CodeOTPReplayed, payment.ErrorCode(err), "an older step than the last accepted is refused")
	_, err = k.check(t, b, u.ID, older)
	require.Equal(t, payment.CodeOTPInvalid, payment.ErrorCode(err), "two steps back is outside the window")
}

func TestOTPLockout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := newOTPKit(t)
	u := b.newUser(t, payment.RoleAuthorizer)
	seed := k.enroll(t, b, u.ID, nil)
	right, _ := code(t, b, seed, 0)
	wrong := wrongCode(t, b, seed)

	for i := 1; i <= 5; i++ {
		_, err := k.check(t, b, u.ID, wrong)
		require.Equal(t, payment.CodeOTPInvalid, payment.ErrorCode(err), "wrong code %d", i)
		failures, _, _ := b.otpState(t, u.ID)
		require.Equal(t, i, failures, "failure %d is committed", i)
	}
	_, until, _ := b.otpState(t, u.ID)
	require.NotNil(t, until)
	requireTime(t, baseTime.Add(15*time.Minute), *until)

	_, err := k.check(t, b, u.ID, right)
	require.Equal(t, payment.CodeOTPLocked, payment.ErrorCode(err), "even the right code")
	b.clock.Advance(15*time.Minute - time.Second)
	late, _ := code(t, b, seed, 0)
	_, err = k.check(t, b, u.ID, late)
	require.Equal(t, payment.CodeOTPLocked, payment.ErrorCode(err))

	b.clock.Advance(time.Second)
	now, _ := code(t, b, seed, 0)
	_, err = k.check(t, b, u.ID, now)
	require.NoError(t, err, "the lock runs out")
	failures, until, _ := b.otpState(t, u.ID)
	require.Zero(t, failures)
	require.Nil(t, until)

	require.Equal(t, []string{"otp_enrolled", "otp_wrong", "otp_wrong", "otp_wrong", "otp_wrong", "otp_wrong", "otp_locked",
		"otp_locked_out", "otp_locked_out", "otp_ok"}, b.auditEvents(t, u.ID))
}

func TestOTPReenrollResetsLock(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := newOTPKit(t)
	u := b.newUser(t, payment.RoleAuthorizer)
	seed := k.enroll(t, b, u.ID, nil)
	c, _ := code(t, b, seed, 0)
	_, err := k.check(t, b, u.ID, c)
	require.NoError(t, err)
	wrong := wrongCode(t, b, seed)
	for range 5 {
		_, err := k.check(t, b, u.ID, wrong)
		require.Equal(t, payment.CodeOTPInvalid, payment.ErrorCode(err))
	}
	_, err = k.check(t, b, u.ID, wrong)
	require.Equal(t, payment.CodeOTPLocked, payment.ErrorCode(err))

	k.enroll(t, b, u.ID, seed) // the same seed again: the last step stays
	failures, until, last := b.otpState(t, u.ID)
	require.Zero(t, failures)
	require.Nil(t, until)
	require.Equal(t, b.clock.Now().Unix()/30, last)
	_, err = k.check(t, b, u.ID, c)
	require.Equal(t, payment.CodeOTPReplayed, payment.ErrorCode(err), "re-enrolling does not make a used code usable")
	b.clock.Advance(30 * time.Second)
	next, _ := code(t, b, seed, 0)
	_, err = k.check(t, b, u.ID, next)
	require.NoError(t, err)
}

func TestOTPSeedBoundToUser(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := newOTPKit(t)
	alice, mallory := b.newUser(t, payment.RoleAuthorizer), b.newUser(t, payment.RoleAuthorizer)
	aliceSeed := k.enroll(t, b, alice.ID, nil)
	k.enroll(t, b, mallory.ID, nil)
	// Mallory copies Alice's sealed seed into his own row, hoping to use
	// codes of a seed he controls... or Alice's.
	_, err := b.pool.Exec(t.Context(), `UPDATE users SET otp_sealed = (SELECT otp_sealed FROM users WHERE id = $1) WHERE id = $2`,
		alice.ID, mallory.ID)
	require.NoError(t, err)
	c, _ := code(t, b, aliceSeed, 0)
	_, err = k.check(t, b, mallory.ID, c)
	require.Equal(t, payment.CodeOTPInvalid, payment.ErrorCode(err))
	require.Contains(t, err.Error(), "cannot be opened")
	require.Equal(t, []string{"otp_enrolled", "otp_secret_unopenable"}, b.auditEvents(t, mallory.ID))

	// A tampered ciphertext does not open either.
	_, err = b.pool.Exec(t.Context(), `UPDATE users SET otp_sealed = set_byte(otp_sealed, 20, get_byte(otp_sealed, 20) # 1) WHERE id = $1`, alice.ID)
	require.NoError(t, err)
	_, err = k.check(t, b, alice.ID, c)
	require.Equal(t, payment.CodeOTPInvalid, payment.ErrorCode(err))
	require.Contains(t, err.Error(), "cannot be opened")
}

func TestOTPCheckTxCommitsWithTheCaller(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := newOTPKit(t)
	u := b.newUser(t, payment.RoleAuthorizer)
	seed := k.enroll(t, b, u.ID, nil)
	c, want := code(t, b, seed, 0)
	ctx := t.Context()
	payID := "01a21b23-e139-703c-8b96-c80ef836db0a"

	// Accepted, then the caller's decision fails and rolls back: the code
	// was not spent.
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	step, err := b.store.OTPCheckTx(ctx, tx, u.ID, c, k.open, k.pol, "authorization", payID)
	require.NoError(t, err)
	require.Equal(t, want, step)
	require.NoError(t, tx.Rollback(ctx))
	_, _, last := b.otpState(t, u.ID)
	require.Zero(t, last)

	// Refused: the transaction stays usable and the caller commits the
	// failure count and audit row.
	tx, err = b.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = b.store.OTPCheckTx(ctx, tx, u.ID, wrongCode(t, b, seed), k.open, k.pol, "authorization", payID)
	require.Equal(t, payment.CodeOTPInvalid, payment.ErrorCode(err))
	_, err = tx.Exec(ctx, `SELECT 1`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	failures, _, _ := b.otpState(t, u.ID)
	require.Equal(t, 1, failures)

	entries, err := b.store.AuditList(ctx, u.ID, 100)
	require.NoError(t, err)
	last2 := entries[len(entries)-1]
	require.Equal(t, "otp_wrong", last2.Event)
	require.Equal(t, payID, last2.PaymentID)
	require.Equal(t, "purpose=authorization failures=1/5", last2.Detail)

	_, err = b.store.OTPCheck(ctx, u.ID, c, k.open, k.pol, "authorization", "not-a-uuid")
	require.Equal(t, payment.CodeInvalidInput, payment.ErrorCode(err))
	_, err = b.store.OTPCheck(ctx, "nobody-"+b.suffix, c, k.open, k.pol, "authorization", "")
	require.ErrorIs(t, err, payment.ErrNotFound)
}

func TestOTPAuditNeverHoldsTheCode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	k := newOTPKit(t)
	u := b.newUser(t, payment.RoleAuthorizer)
	// A fixed seed at the pinned time gives fixed codes; none of them is a
	// substring of the step numbers the audit trail does hold.
	seed := k.enroll(t, b, u.ID, []byte("12345678901234567890"))
	right, step := code(t, b, seed, 0)
	prev, _ := code(t, b, seed, -1)
	wrong := wrongCode(t, b, seed)
	for _, c := range []string{right, prev, wrong} {
		require.NotContains(t, fmt.Sprint(step-1, step), c, "pick another seed for this test")
	}
	for _, c := range []string{right, right, wrong, prev} {
		_, _ = k.check(t, b, u.ID, c)
	}
	require.Equal(t, []string{"otp_enrolled", "otp_ok", "otp_replay", "otp_wrong", "otp_replay"}, b.auditEvents(t, u.ID))
	for _, c := range []string{right, prev, wrong} {
		var n int
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_log
			WHERE user_id = $1 AND (strpos(detail, $2) > 0 OR strpos(actor, $2) > 0 OR strpos(event, $2) > 0)`, u.ID, c).Scan(&n))
		require.Zero(t, n, "code %s is in the audit trail", c)
	}
	entries, err := b.store.AuditList(t.Context(), u.ID, 100)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("purpose=test step=%d", step), entries[1].Detail, "the step is recorded instead")
}

// wrongCode is a code that matches no step of the window around now.
func wrongCode(t *testing.T, b *bundle, seed []byte) string {
	t.Helper()
	for n := 0; ; n += 7919 {
		c := fmt.Sprintf("%06d", n%1_000_000)
		if _, ok := otp.Match(seed, c, b.clock.Now(), otp.Options{}); !ok {
			return c
		}
	}
}
