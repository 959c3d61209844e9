package postgres

import (
	"context"
	"errors"
	"fmt"

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

// OTPSeedAD is the additional data that binds a sealed OTP seed to its
// user, so that a seed copied to another user's row does not open.
func OTPSeedAD(userID string) []byte { return []byte("otp-seed:" + userID) }

// OTPCheckTx checks a user's code inside the caller's transaction, so that
// accepting the code and what it authorizes commit together. It locks the
// user's row, matches the code (otp.Match), refuses a step at or before
// the last accepted one, and records the accepted step. A refusal is a
// *payment.Error (CodeOTPLocked, CodeOTPNotEnrolled, CodeOTPInvalid,
// CodeOTPReplayed) and leaves tx usable, with the failure count and audit
// rows written, for the caller to commit. Any other error leaves tx
// unusable. purpose and the step go to the audit trail; the code never
// does. paymentID is "" or a payment's UUID.
func (s *Store) OTPCheckTx(ctx context.Context, tx pgx.Tx, userID, code string, open otp.Opener, pol otp.Policy, purpose, paymentID string) (int64, error) {
	if paymentID != "" {
		if _, err := uuid.Parse(paymentID); err != nil {
			return 0, payment.Errorf(payment.CodeInvalidInput, "payment id %q is not a UUID", paymentID)
		}
	}
	var st otp.State
	err := tx.QueryRow(ctx, `SELECT otp_sealed, otp_last_step, otp_failures, otp_locked_until
		FROM users WHERE id = $1 FOR NO KEY UPDATE`, userID).Scan(&st.Sealed, &st.LastStep, &st.Failures, &st.LockedUntil)
	if err != nil {
		return 0, notFound(err, "user "+userID)
	}
	c := otp.Check(userID, st, code, open, pol, s.cfg.Now().UTC())
	if c.Changed {
		// The row is locked: the guard only says so once more.
		tag, err := tx.Exec(ctx, `UPDATE users SET otp_last_step = $2, otp_failures = $3, otp_locked_until = $4
			WHERE id = $1 AND otp_last_step = $5`, userID, c.State.LastStep, c.State.Failures, c.State.LockedUntil, st.LastStep)
		if err != nil {
			return 0, fmt.Errorf("record OTP state: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return 0, fmt.Errorf("record OTP state of %s: the row changed under its lock", userID)
		}
	}
	as := make([]AuditEntry, len(c.Events))
	for i, ev := range c.Events {
		as[i] = AuditEntry{UserID: userID, Actor: "user:" + userID, Event: ev.Name, PaymentID: paymentID,
			Detail: "purpose=" + purpose + ev.Detail}
	}
	if err := s.auditCopyTx(ctx, tx, as); err != nil {
		return 0, err
	}
	if c.Refusal != nil {
		return 0, c.Refusal
	}
	return c.Step, nil
}

// OTPCheck is OTPCheckTx in a transaction of its own, committed whatever
// the outcome, for callers with nothing else to write.
func (s *Store) OTPCheck(ctx context.Context, userID, code string, open otp.Opener, pol otp.Policy, purpose, paymentID string) (int64, error) {
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
