package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
)

// UserEnrollOTP stores a user's TOTP seed, sealed by the caller with
// secret.Sealer.Seal and additional data OTPSeedAD(userID), replacing any
// earlier seed. It clears the OTP failure count and lock but keeps the
// last accepted step: steps are absolute time, so a code accepted before
// stays refused.
func (s *Store) UserEnrollOTP(ctx context.Context, userID string, sealed []byte, keyVersion int, actor string) error {
	if len(sealed) == 0 {
		return payment.Errorf(payment.CodeInvalidInput, "an OTP seed must be stored sealed")
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var had bool
		err := tx.QueryRow(ctx, `SELECT otp_sealed IS NOT NULL FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID).Scan(&had)
		if err != nil {
			return notFound(err, "user "+userID)
		}
		_, err = tx.Exec(ctx, `UPDATE users SET otp_sealed = $2, otp_key_version = $3, otp_enrolled_at = $4,
				otp_failures = 0, otp_locked_until = NULL
			WHERE id = $1`, userID, sealed, keyVersion, s.cfg.Now().UTC())
		if err != nil {
			return fmt.Errorf("store OTP seed of %s: %w", userID, err)
		}
		event := "otp_enrolled"
		if had {
			event = "otp_reenrolled"
		}
		return s.auditTx(ctx, tx, AuditEntry{UserID: userID, Actor: actor, Event: event,
			Detail: fmt.Sprintf("key version %d", keyVersion)})
	})
}

// OTPOpener opens a user's sealed seed; the caller binds it to the user,
// for example:
//
//	func(sealed []byte, userID string) ([]byte, error) {
//		return sealer.Open(sealed, postgres.OTPSeedAD(userID))
//	}
type OTPOpener func(sealed []byte, userID string) ([]byte, error)

// OTPSeedAD is the additional data that binds a sealed OTP seed to its
// user, so that a seed copied to another user's row does not open.
func OTPSeedAD(userID string) []byte { return []byte("otp-seed:" + userID) }

// OTPPolicy is how codes are checked: the TOTP options, and how many wrong
// codes in a row lock the user's OTP (default 5) for how long (default 15
// minutes).
type OTPPolicy struct {
	Options     otp.Options
	MaxFailures int
	LockFor     time.Duration
}

func (p OTPPolicy) withDefaults() OTPPolicy {
	if p.MaxFailures <= 0 {
		p.MaxFailures = 5
	}
	if p.LockFor <= 0 {
		p.LockFor = 15 * time.Minute
	}
	return p
}

// otpRow is what OTPCheckTx reads of a user, locked.
type otpRow struct {
	sealed      []byte
	lastStep    int64
	failures    int
	lockedUntil *time.Time
}

// OTPCheckTx checks a user's code inside the caller's transaction, so that
// accepting the code and what it authorizes commit together. It locks the
// user's row, matches the code (otp.Match), refuses a step at or before
// the last accepted one, and records the accepted step. A refusal is a
// *payment.Error (CodeOTPLocked, CodeOTPNotEnrolled, CodeOTPInvalid,
// CodeOTPReplayed) and leaves tx usable, with the failure count and audit
// rows written, for the caller to commit. Any other error leaves tx
// unusable. purpose and the step go to the audit trail; the code never
// does. paymentID is "" or a payment's UUID.
func (s *Store) OTPCheckTx(ctx context.Context, tx pgx.Tx, userID, code string, open OTPOpener, pol OTPPolicy, purpose, paymentID string) (int64, error) {
	if paymentID != "" {
		if _, err := uuid.Parse(paymentID); err != nil {
			return 0, payment.Errorf(payment.CodeInvalidInput, "payment id %q is not a UUID", paymentID)
		}
	}
	pol = pol.withDefaults()
	now := s.cfg.Now().UTC()
	audit := func(event, detail string) error {
		return s.auditTx(ctx, tx, AuditEntry{UserID: userID, Actor: "user:" + userID, Event: event, PaymentID: paymentID,
			Detail: "purpose=" + purpose + detail})
	}
	refuse := func(e *payment.Error, event, detail string) (int64, error) {
		if err := audit(event, detail); err != nil {
			return 0, err
		}
		return 0, e
	}

	var r otpRow
	err := tx.QueryRow(ctx, `SELECT otp_sealed, otp_last_step, otp_failures, otp_locked_until
		FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID).Scan(&r.sealed, &r.lastStep, &r.failures, &r.lockedUntil)
	if err != nil {
		return 0, notFound(err, "user "+userID)
	}
	step, refusal, event, detail := otpJudge(userID, r, code, open, pol.Options, now)
	switch {
	case event == otpWrong:
		return s.otpWrongTx(ctx, tx, userID, r, pol, now, audit)
	case refusal != nil:
		return refuse(refusal, event, detail)
	}
	tag, err := tx.Exec(ctx, `UPDATE users SET otp_last_step = $2, otp_failures = 0, otp_locked_until = NULL
		WHERE id = $1 AND otp_last_step < $2`, userID, step)
	if err != nil {
		return 0, fmt.Errorf("record OTP step: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return refuse(payment.Errorf(payment.CodeOTPReplayed, "this one-time password was already used; wait for the next one"),
			"otp_replay", detail)
	}
	if err := audit("otp_ok", detail); err != nil {
		return 0, err
	}
	return step, nil
}

// otpWrong is otpJudge's event for a code that matches no step: counted
// towards the lock rather than simply refused.
const otpWrong = "otp_wrong"

// otpJudge says what a user's OTP row makes of a code: the step it
// matches, or the refusal with its audit event and detail. It only reads;
// the caller records the step, or the refusal and, for otpWrong, the
// failure.
func otpJudge(userID string, r otpRow, code string, open OTPOpener, opts otp.Options, now time.Time) (step int64, refusal *payment.Error, event, detail string) {
	if r.lockedUntil != nil && now.Before(*r.lockedUntil) {
		return 0, payment.Errorf(payment.CodeOTPLocked, "too many wrong one-time passwords; try again after %s",
			r.lockedUntil.UTC().Format(time.RFC3339)), "otp_locked_out", ""
	}
	if r.sealed == nil {
		return 0, payment.Errorf(payment.CodeOTPNotEnrolled, "user %s has no one-time password enrolled", userID), "otp_not_enrolled", ""
	}
	var seed []byte
	err := errors.New("no OTP opener")
	if open != nil {
		seed, err = open(r.sealed, userID)
	}
	if err != nil {
		return 0, payment.Errorf(payment.CodeOTPInvalid, "the one-time password secret of user %s cannot be opened; enrol again", userID),
			"otp_secret_unopenable", ""
	}
	step, ok := otp.Match(seed, code, now, opts)
	clear(seed)
	if !ok {
		return 0, payment.Errorf(payment.CodeOTPInvalid, "the one-time password is wrong"), otpWrong, ""
	}
	detail = fmt.Sprintf(" step=%d", step)
	if step <= r.lastStep {
		return step, payment.Errorf(payment.CodeOTPReplayed, "this one-time password was already used; wait for the next one"),
			"otp_replay", fmt.Sprintf("%s last_step=%d", detail, r.lastStep)
	}
	return step, nil, "otp_ok", detail
}

// otpWrongTx counts a wrong code and locks the user's OTP at the policy's
// limit. A lock that has run out starts the count again.
func (s *Store) otpWrongTx(ctx context.Context, tx pgx.Tx, userID string, r otpRow, pol OTPPolicy, now time.Time, audit func(event, detail string) error) (int64, error) {
	failures, lockUntil := countFailure(r.failures, r.lockedUntil, pol.MaxFailures, pol.LockFor, now)
	if _, err := tx.Exec(ctx, `UPDATE users SET otp_failures = $2, otp_locked_until = $3 WHERE id = $1`,
		userID, failures, lockUntil); err != nil {
		return 0, fmt.Errorf("count wrong OTP: %w", err)
	}
	if err := audit("otp_wrong", fmt.Sprintf(" failures=%d/%d", failures, pol.MaxFailures)); err != nil {
		return 0, err
	}
	if lockUntil != nil {
		if err := audit("otp_locked", " until="+lockUntil.Format(time.RFC3339)); err != nil {
			return 0, err
		}
		return 0, payment.Errorf(payment.CodeOTPInvalid, "the one-time password is wrong; too many wrong ones, locked until %s",
			lockUntil.Format(time.RFC3339))
	}
	return 0, payment.Errorf(payment.CodeOTPInvalid, "the one-time password is wrong")
}

// OTPCheck is OTPCheckTx in a transaction of its own, committed whatever
// the outcome, for callers with nothing else to write.
func (s *Store) OTPCheck(ctx context.Context, userID, code string, open OTPOpener, pol OTPPolicy, purpose, paymentID string) (int64, error) {
	var step int64
	var refusal error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		step, err = s.OTPCheckTx(ctx, tx, userID, code, open, pol, purpose, paymentID)
		var pe *payment.Error
		if errors.As(err, &pe) && !errors.Is(err, payment.ErrNotFound) {
			refusal = err
			return nil
		}
		refusal = nil
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("check OTP of %s: %w", userID, err)
	}
	return step, refusal
}
