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
	mu   sync.Mutex
	step int64
}

// Next returns a code for a later step than the last one shown, within
// the ±1 step window b2bpay accepts, waiting for the clock when the window
// is used up.
func (a *Authenticator) Next() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		now, err := otp.Step(time.Now(), otp.Options{})
		if err != nil {
			return "", err
		}
		if next := max(now-1, a.step+1); next <= now+1 {
			a.step = next
			return otp.CodeAt(a.Seed, next, otp.Options{})
		}
		time.Sleep(time.Second)
	}
}

// Last returns the code shown last: using it again is a replay.
func (a *Authenticator) Last() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return otp.CodeAt(a.Seed, a.step, otp.Options{})
}
