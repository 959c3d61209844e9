package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
)

// TestDemo runs the demo (intake of every kind of request, then the
// approval walk-through) on a database and vhost of its own: `make demo`
// must keep working.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	amqpURL, dropVhost, err := rabbitmqtest.NewVhost()
	require.NoError(t, err)
	t.Cleanup(dropVhost)
	dbURL, dropDB, err := pgtest.NewDatabase(ctx)
	require.NoError(t, err)
	t.Cleanup(dropDB)
	cfg := config{DatabaseURL: dbURL, AMQPURL: amqpURL, Location: shanghai(), Logger: slog.New(slog.DiscardHandler)}
	require.NoError(t, runDemo(ctx, cfg, 60, t.TempDir()))
}
