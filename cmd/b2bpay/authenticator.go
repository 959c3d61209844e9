package main

import (
	"sync"
	"time"

	"github.com/b2bpay/b2bpay/otp"
)

// authenticator stands in for a person's authenticator app (the demo and
// the tests use it): it shows the code of the current time step, and never
// the same step twice, since b2bpay accepts each step once per user.
type authenticator struct {
	seed []byte
	mu   sync.Mutex
	step int64
}

// next returns a code for a later step than the last one shown, within
// the ±1 step window b2bpay accepts, waiting for the clock when the window
// is used up.
func (a *authenticator) next() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		now, err := otp.Step(time.Now(), otp.Options{})
		if err != nil {
			return "", err
		}
		if next := max(now-1, a.step+1); next <= now+1 {
			a.step = next
			return otp.CodeAt(a.seed, next, otp.Options{})
		}
		time.Sleep(time.Second)
	}
}

// last returns the code shown last: using it again is a replay.
func (a *authenticator) last() (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return otp.CodeAt(a.seed, a.step, otp.Options{})
}
