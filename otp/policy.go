package otp

import (
	"errors"
	"fmt"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// State is a person's one-time password state as stored: the sealed seed
// (nil when none is enrolled), the last accepted time step, the wrong codes
// in a row and the lock they led to. The store reads it with the person's
// row locked and writes back what Check makes of it.
type State struct {
	Sealed      []byte
	LastStep    int64
	Failures    int
	LockedUntil *time.Time
}

// Opener opens a user's sealed seed; the caller binds it to the user,
// for example:
//
//	func(sealed []byte, userID string) ([]byte, error) {
//		return sealer.Open(sealed, postgres.OTPSeedAD(userID))
//	}
type Opener func(sealed []byte, userID string) ([]byte, error)

// Policy is how codes are checked: the TOTP options, and how many wrong
// codes in a row lock the user's OTP (default 5) for how long (default 15
// minutes).
type Policy struct {
	Options     Options
	MaxFailures int
	LockFor     time.Duration
}

// WithDefaults fills the zero limits with the defaults.
func (p Policy) WithDefaults() Policy {
	if p.MaxFailures <= 0 {
		p.MaxFailures = 5
	}
	if p.LockFor <= 0 {
		p.LockFor = 15 * time.Minute
	}
	return p
}

// Event is one line of the audit trail a check leaves: its event name and
// the detail that follows the purpose (" step=42"). The code itself is
// never in it.
type Event struct {
	Name   string
	Detail string
}

// Checked is what a user's OTP state makes of a code.
type Checked struct {
	// Step is the time step the code matched (0 when it matched none).
	Step int64
	// Refusal is nil for an accepted code; else CodeOTPLocked,
	// CodeOTPNotEnrolled, CodeOTPInvalid or CodeOTPReplayed.
	Refusal *payment.Error
	// Events are the audit lines, in order.
	Events []Event
	// State is the state after the check: the step recorded (accepted) or
	// the failure counted (a wrong code). Changed says whether it differs
	// from the state checked, that is whether the store writes it.
	State   State
	Changed bool
}

// Check judges a code against a user's OTP state at now under pol. It is
// pure: the store reads the state with the user's row locked, and writes
// back Checked.State (when Changed) and the events in the same
// transaction as what the code authorizes. In order: a lock still running
// refuses (otp_locked_out); no seed (otp_not_enrolled) or one that cannot
// be opened (otp_secret_unopenable) refuses; a code that matches no step
// of the window is wrong and counted towards the lock (otp_wrong, and
// otp_locked when it reaches the limit); a step at or before the last
// accepted one is a replay (RFC 6238 §5.2: a code is accepted once,
// otp_replay); anything else is accepted and its step recorded (otp_ok),
// which clears the count and the lock.
func Check(userID string, st State, code string, open Opener, pol Policy, now time.Time) Checked {
	pol = pol.WithDefaults()
	out := Checked{State: st}
	refuse := func(e *payment.Error, event, detail string) Checked {
		out.Refusal = e
		out.Events = append(out.Events, Event{Name: event, Detail: detail})
		return out
	}
	if st.LockedUntil != nil && now.Before(*st.LockedUntil) {
		return refuse(payment.Errorf(payment.CodeOTPLocked, "too many wrong one-time passwords; try again after %s",
			st.LockedUntil.UTC().Format(time.RFC3339)), "otp_locked_out", "")
	}
	if st.Sealed == nil {
		return refuse(payment.Errorf(payment.CodeOTPNotEnrolled, "user %s has no one-time password enrolled", userID), "otp_not_enrolled", "")
	}
	var seed []byte
	err := errors.New("no OTP opener")
	if open != nil {
		seed, err = open(st.Sealed, userID)
	}
	if err != nil {
		return refuse(payment.Errorf(payment.CodeOTPInvalid, "the one-time password secret of user %s cannot be opened; enrol again", userID),
			"otp_secret_unopenable", "")
	}
	step, ok := Match(seed, code, now, pol.Options)
	clear(seed)
	if !ok {
		return wrong(out, pol, now)
	}
	out.Step = step
	detail := fmt.Sprintf(" step=%d", step)
	if step <= st.LastStep {
		return refuse(payment.Errorf(payment.CodeOTPReplayed, "this one-time password was already used; wait for the next one"),
			"otp_replay", fmt.Sprintf("%s last_step=%d", detail, st.LastStep))
	}
	out.State.LastStep, out.State.Failures, out.State.LockedUntil = step, 0, nil
	out.Changed = true
	out.Events = append(out.Events, Event{Name: "otp_ok", Detail: detail})
	return out
}

// wrong counts a wrong code and locks the user's OTP at the policy's limit.
func wrong(out Checked, pol Policy, now time.Time) Checked {
	failures, lockUntil := CountFailure(out.State.Failures, out.State.LockedUntil, pol.MaxFailures, pol.LockFor, now)
	out.State.Failures, out.State.LockedUntil = failures, lockUntil
	out.Changed = true
	out.Events = append(out.Events, Event{Name: "otp_wrong", Detail: fmt.Sprintf(" failures=%d/%d", failures, pol.MaxFailures)})
	out.Refusal = payment.Errorf(payment.CodeOTPInvalid, "the one-time password is wrong")
	if lockUntil != nil {
		out.Events = append(out.Events, Event{Name: "otp_locked", Detail: " until=" + lockUntil.Format(time.RFC3339)})
		out.Refusal = payment.Errorf(payment.CodeOTPInvalid, "the one-time password is wrong; too many wrong ones, locked until %s",
			lockUntil.Format(time.RFC3339))
	}
	return out
}

// CountFailure counts one more failure in a row (a wrong code, or a failed
// sign-in) and says until when the user is locked once the count reaches
// max. A lock that has run out starts the count again.
func CountFailure(failures int, lockedUntil *time.Time, max int, lockFor time.Duration, now time.Time) (int, *time.Time) {
	if lockedUntil != nil {
		failures = 0
	}
	failures++
	if failures < max {
		return failures, nil
	}
	until := now.Add(lockFor)
	return failures, &until
}
