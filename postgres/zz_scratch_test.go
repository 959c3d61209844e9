package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/b2bpay/b2bpay/postgres/pgtest"
)

func TestScratch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		u, cleanup, err := pgtest.NewDatabase(ctx)
		t.Log(u, err)
		if cleanup != nil {
			cleanup()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("hang")
	}
}
