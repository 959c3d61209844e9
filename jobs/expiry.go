// Package jobs holds b2bpay's scheduled work. Each job is a RunOnce(ctx,
// now) function that tests call directly; the scheduler (gocron) only
// calls it.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// ExpiryStore expires payments that waited too long.
type ExpiryStore interface {
	PaymentExpireDue(ctx context.Context, state payment.State, ttl time.Duration, limit int) (int, error)
}

// DefaultTTLs are how long a payment may wait in each waiting state.
var DefaultTTLs = map[payment.State]time.Duration{
	payment.StateAwaitingConfirmation:  24 * time.Hour,
	payment.StateAwaitingReview:        72 * time.Hour,
	payment.StateAwaitingAuthorization: 72 * time.Hour,
}

// Expiry moves payments left too long in a waiting state to expired.
type Expiry struct {
	Store ExpiryStore
	TTLs  map[payment.State]time.Duration
	Batch int
	Log   *slog.Logger
}

// RunOnce expires everything due now, in batches, and returns how many.
func (j *Expiry) RunOnce(ctx context.Context) (int, error) {
	batch := j.Batch
	if batch <= 0 {
		batch = 500
	}
	total := 0
	var errs []error
	for state, ttl := range j.TTLs {
		if _, ok := payment.StageOf(state); !ok {
			errs = append(errs, fmt.Errorf("expiry: %s is not a waiting state", state))
			continue
		}
		for {
			n, err := j.Store.PaymentExpireDue(ctx, state, ttl, batch)
			total += n
			if err != nil {
				errs = append(errs, fmt.Errorf("expire %s: %w", state, err))
				break
			}
			if n < batch {
				break
			}
		}
	}
	if total > 0 && j.Log != nil {
		j.Log.InfoContext(ctx, "expired payments", "count", total)
	}
	return total, errors.Join(errs...)
}
