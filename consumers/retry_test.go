package consumers

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/rabbitmq"
)

// fast retries every millisecond for up to a few seconds.
var fast = RetryConfig{Initial: time.Millisecond, Max: 2 * time.Millisecond, Budget: 5 * time.Second}

// failing returns a handler that fails its first n calls with err and then
// succeeds, and the count of its calls.
func failing(n int, err error) (Handler, *atomic.Int32) {
	var calls atomic.Int32
	return func(context.Context, amqp.Delivery) error {
		if int(calls.Add(1)) <= n {
			return err
		}
		return nil
	}, &calls
}

func TestRetryUntilSuccess(t *testing.T) {
	t.Parallel()
	log, buf := newLogger()
	h, calls := failing(3, errors.New("database restarting"))
	require.NoError(t, Retry(fast, log)(h)(t.Context(), amqp.Delivery{MessageId: "m-1"}))
	require.EqualValues(t, 4, calls.Load())

	recs := buf.records(t)
	require.Len(t, recs, 3, "one warning per failed attempt")
	for i, r := range recs {
		require.Equal(t, "WARN", r["level"])
		require.Equal(t, "m-1", r["message_id"])
		require.EqualValues(t, i+1, r["attempt"])
	}
}

func TestRetryFirstSuccess(t *testing.T) {
	t.Parallel()
	h, calls := failing(0, nil)
	require.NoError(t, Retry(RetryConfig{}, discard())(h)(t.Context(), amqp.Delivery{}))
	require.EqualValues(t, 1, calls.Load())
}

func TestRetryStopsOnPoison(t *testing.T) {
	t.Parallel()
	for _, poison := range []error{ErrPoison, fmt.Errorf("decode: %w", ErrPoison)} {
		h, calls := failing(100, poison)
		err := Retry(fast, discard())(h)(t.Context(), amqp.Delivery{})
		require.ErrorIs(t, err, ErrPoison)
		require.Equal(t, poison, err, "returned as is")
		require.EqualValues(t, 1, calls.Load(), "poison is never retried")
		require.Equal(t, rabbitmq.Reject, DispositionOf(err))
	}
}

func TestRetryStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	fail := errors.New("database restarting")

	t.Run("DuringWait", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		h, calls := failing(100, fail)
		// The first wait is an hour: only the cancel can end it.
		cfg := RetryConfig{Initial: time.Hour, Max: time.Hour, Budget: 10 * time.Hour}
		time.AfterFunc(20*time.Millisecond, cancel)
		done := make(chan error, 1)
		go func() { done <- Retry(cfg, discard())(h)(ctx, amqp.Delivery{}) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Retry kept waiting after its context was cancelled")
		}
		require.ErrorIs(t, err, fail, "the handler's error, so DispositionOf requeues")
		require.EqualValues(t, 1, calls.Load())
		require.Equal(t, rabbitmq.Requeue, DispositionOf(err))
	})

	t.Run("DuringHandler", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var calls atomic.Int32
		h := func(ctx context.Context, _ amqp.Delivery) error {
			if calls.Add(1) == 2 {
				cancel() // shutdown while the handler runs
				return fmt.Errorf("submit: %w", ctx.Err())
			}
			return fail
		}
		err := Retry(fast, discard())(h)(ctx, amqp.Delivery{})
		require.ErrorIs(t, err, context.Canceled)
		require.EqualValues(t, 2, calls.Load(), "no attempt after ctx is done")
		require.Equal(t, rabbitmq.Requeue, DispositionOf(err))
	})

	t.Run("AlreadyCancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		h, calls := failing(100, fail)
		require.ErrorIs(t, Retry(fast, discard())(h)(ctx, amqp.Delivery{}), fail)
		require.EqualValues(t, 1, calls.Load())
	})
}

func TestRetryGivesUpAfterBudget(t *testing.T) {
	t.Parallel()
	fail := errors.New("database down")
	h, calls := failing(1_000_000, fail)
	cfg := RetryConfig{Initial: time.Millisecond, Max: 4 * time.Millisecond, Budget: 60 * time.Millisecond}
	start := time.Now()
	err := Retry(cfg, discard())(h)(t.Context(), amqp.Delivery{})
	elapsed := time.Since(start)
	require.ErrorIs(t, err, fail)
	require.Equal(t, rabbitmq.Requeue, DispositionOf(err), "handed back to the broker")
	require.GreaterOrEqual(t, calls.Load(), int32(3), "retried within the budget")
	require.Less(t, elapsed, cfg.Budget+time.Second, "gave up around the budget")
	require.GreaterOrEqual(t, elapsed, cfg.Budget/2, "used the budget")

	// A budget shorter than the first wait: one attempt.
	h, calls = failing(1_000_000, fail)
	cfg = RetryConfig{Initial: time.Second, Budget: 10 * time.Millisecond}
	start = time.Now()
	require.ErrorIs(t, Retry(cfg, discard())(h)(t.Context(), amqp.Delivery{}), fail)
	require.EqualValues(t, 1, calls.Load())
	require.Less(t, time.Since(start), 500*time.Millisecond, "does not wait for nothing")
}

// TestRetryBackoff: waits double from Initial up to Max.
func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	log, buf := newLogger()
	h, _ := failing(5, errors.New("down"))
	cfg := RetryConfig{Initial: time.Millisecond, Max: 4 * time.Millisecond, Budget: 5 * time.Second}
	require.NoError(t, Retry(cfg, log)(h)(t.Context(), amqp.Delivery{}))
	var waits []time.Duration
	for _, r := range buf.records(t) {
		ns, ok := r["wait"].(float64) // JSON logs a duration in nanoseconds
		require.True(t, ok, "wait %v", r["wait"])
		waits = append(waits, time.Duration(ns))
	}
	ms := time.Millisecond
	require.Equal(t, []time.Duration{1 * ms, 2 * ms, 4 * ms, 4 * ms, 4 * ms}, waits)
}
