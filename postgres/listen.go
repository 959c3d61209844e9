package postgres

import (
	"context"
	"time"
)

// Listen waits for notifications on a PostgreSQL channel and signals wake
// (without blocking) for each, until ctx is done. It holds one pooled
// connection and takes a fresh one after any error, so a database restart
// only delays the signals; callers poll as well, so none is needed for
// correctness.
func (s *Store) Listen(ctx context.Context, channel string, wake chan<- struct{}) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, channel, wake)
		if ctx.Err() != nil {
			return
		}
		s.cfg.Logger.WarnContext(ctx, "listen interrupted; listening again", "channel", channel, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, channel string, wake chan<- struct{}) error {
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that was listening must not go back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+channel); err != nil {
		return err
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}
