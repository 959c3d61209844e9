package staff

import (
	"sync"
	"time"

	"github.com/b2bpay/b2bpay/otp"
)

// Authenticator stands in for a person's authenticator app (the demo and
// the tests use it): it shows the code of the current time step, and never
// the same step twice, since b2bpay accepts each step once per user.
type Authenticator struct {
	// Seed is the person's OTP seed.
	Seed []byte
	// Now is the authenticator's clock; nil is time.Now.
	Now  func() time.Time
	mu   sync.Mutex
	step int64
}

// Next returns a code for a later step than the last one shown, within
// the ±1 step window b2bpay accepts, waiting for the clock when the window
// is used up. The previous step's code is shown only while more than
// previousMargin of the current step is left: the server checks it a
// moment later, and once the clock has moved on a step that code is two
// steps old and refused.
func (a *Authenticator) Next() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		t := time.Now()
		if a.Now != nil {
			t = a.Now()
		}
		now, err := otp.Step(t, otp.Options{})
		if err != nil {
			return "", err
		}
		earliest := now - 1
		if left := time.Unix((now+1)*stepSeconds, 0).Sub(t); left <= previousMargin {
			earliest = now
		}
		if next := max(earliest, a.step+1); next <= now+1 {
			a.step = next
			return otp.CodeAt(a.Seed, next, otp.Options{})
		}
		time.Sleep(time.Second)
	}
}

// stepSeconds is the TOTP period b2bpay uses (otp.Options' default).
const stepSeconds = 30

// previousMargin is how much of the current step must be left for the
// previous step's code to be shown: more than a decision takes to reach
// the server under load.
const previousMargin = 10 * time.Second

// Last returns the code shown last: using it again is a replay.
func (a *Authenticator) Last() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return otp.CodeAt(a.Seed, a.step, otp.Options{})
}
