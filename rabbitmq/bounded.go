package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// bounded runs fn in its own goroutine and waits for it until ctx is done or timeout passes.
// amqp091-go's RPCs are not context-aware and can block while the network is gone (until the
// heartbeat kills the connection); this puts a bound on the caller's wait. If the wait gives up,
// the goroutine keeps running and hands fn's result to abandon (if not nil) once fn returns, so an
// object opened late (a channel) is closed rather than leaked.
func bounded[T any](ctx context.Context, timeout time.Duration, op string, fn func() (T, error),
	abandon func(T)) (T, error) {
	type result struct {
		v   T
		err error
	}
	res := make(chan result, 1)
	go func() {
		v, err := fn()
		res <- result{v, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	var zero T
	var err error
	select {
	case r := <-res:
		if r.err != nil {
			return r.v, fmt.Errorf("%s: %w", op, r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		err = fmt.Errorf("%s: %w", op, ctx.Err())
	case <-t.C:
		err = fmt.Errorf("%s: timed out after %s", op, timeout)
	}
	go func() {
		r := <-res
		if r.err == nil && abandon != nil {
			abandon(r.v)
		}
	}()
	return zero, err
}

// boundedDo is bounded for calls that return only an error.
func boundedDo(ctx context.Context, timeout time.Duration, op string, fn func() error) error {
	_, err := bounded(ctx, timeout, op, func() (struct{}, error) { return struct{}{}, fn() }, nil)
	return err
}

// closeQuietly closes a channel that nobody will use, ignoring the error.
func closeQuietly(ch *amqp.Channel) {
	if ch != nil {
		_ = ch.Close()
	}
}

// closeChannel closes ch, waiting at most timeout: on a dead network channel.close waits for the
// heartbeat to kill the connection, and the caller need not wait for that.
func closeChannel(ch *amqp.Channel, timeout time.Duration) {
	if ch == nil || ch.IsClosed() {
		return
	}
	_ = boundedDo(context.Background(), timeout, "close channel", ch.Close)
}

// backoff yields exponentially growing delays between min and max, with jitter.
type backoff struct {
	min, max time.Duration
	n        uint
}

// next returns the delay to wait before the next attempt: a random value in [d/2, d], where d
// doubles from min up to max.
func (b *backoff) next() time.Duration {
	d := b.min << b.n
	if d <= 0 || d >= b.max {
		d = b.max
	} else {
		b.n++
	}
	half := d / 2
	return half + mrand.N(d-half+1)
}

// reset starts the delays over at min.
func (b *backoff) reset() { b.n = 0 }

// sleepCtx waits for d or until ctx is done, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// randomSuffix returns n random bytes as hex, for consumer tags.
func randomSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
