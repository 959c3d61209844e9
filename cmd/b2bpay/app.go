package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/b2bpay/b2bpay/consumers"
	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/relay"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/secret"
)

// app is b2bpay wired together: the database, the store, the broker
// connection. Subcommands and end-to-end tests build it the same way.
type app struct {
	cfg   config
	log   *slog.Logger
	pool  *pgxpool.Pool
	store *postgres.Store
	conn  *rabbitmq.Conn
}

// openDB opens the database side only.
func openDB(ctx context.Context, cfg config) (*app, error) {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, 0)
	if err != nil {
		return nil, err
	}
	store, err := postgres.New(pool, postgres.Config{Location: cfg.Location, EventMessage: route.EventMessage, Logger: cfg.Logger})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &app{cfg: cfg, log: cfg.Logger, pool: pool, store: store}, nil
}

// openBroker connects to RabbitMQ, waiting at most timeout for it.
func (a *app) openBroker(ctx context.Context, name string, timeout time.Duration) error {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := rabbitmq.Dial(dctx, rabbitmq.Config{URL: a.cfg.AMQPURL, Name: name, Logger: a.log})
	if err != nil {
		return fmt.Errorf("connect to RabbitMQ at %s: %w", rabbitmq.RedactURL(a.cfg.AMQPURL), err)
	}
	a.conn = conn
	return nil
}

// declare declares the intake topology and every upstream's status queue.
func (a *app) declare(ctx context.Context) error {
	if err := route.Topology().Declare(ctx, a.conn); err != nil {
		return err
	}
	ids, err := a.store.UpstreamIDs(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := route.UpstreamTopology(id).Declare(ctx, a.conn); err != nil {
			return err
		}
	}
	return nil
}

// close releases everything, broker first, database last.
func (a *app) close() {
	if a.conn != nil {
		_ = a.conn.Close()
	}
	a.pool.Close()
}

// serveOptions tune the workers.
type serveOptions struct {
	Prefetch    int
	Concurrency int
	Drain       time.Duration
	Sealer      *secret.Sealer
}

// serve runs the intake consumer and the outbox relay until ctx is done,
// then shuts down in order: stop taking messages and let in-flight ones
// finish, then stop the relay (which publishes what was committed).
func (a *app) serve(ctx context.Context, opt serveOptions) error {
	if err := a.declare(ctx); err != nil {
		return fmt.Errorf("declare topology: %w", err)
	}
	auth := intake.NewAuthenticator(a.store, opt.Sealer)
	handler := consumers.Chain(consumers.NewIntake(a.store, auth, a.log).Handle,
		consumers.Log(a.log, route.IntakeQueue),
		consumers.Retry(consumers.RetryConfig{}, a.log),
		consumers.Recover(a.log),
	)
	pub := rabbitmq.NewPublisher(a.conn, a.log)
	defer pub.Close()
	rl := relay.New(a.store, pub, relay.Config{Logger: a.log})

	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	var wg sync.WaitGroup
	wake := make(chan struct{}, 1)
	wg.Add(2)
	go func() { defer wg.Done(); a.store.Listen(relayCtx, postgres.OutboxChannel, wake) }()
	go func() { defer wg.Done(); _ = rl.Start(relayCtx, wake) }()

	a.log.Info("b2bpay serving", "queue", route.IntakeQueue, "prefetch", opt.Prefetch, "concurrency", opt.Concurrency)
	err := rabbitmq.Consume(ctx, a.conn, rabbitmq.ConsumeConfig{
		Queue: route.IntakeQueue, Tag: "b2bpay-intake", Prefetch: opt.Prefetch,
		Concurrency: opt.Concurrency, DrainTimeout: opt.Drain,
	}, consumers.Batch(handler))
	// Consumption has stopped and in-flight handlers have committed; give
	// the relay a moment to publish their answers, then stop it.
	flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	for flush.Err() == nil {
		sent, _, rerr := rl.RunOnce(flush)
		if rerr != nil || sent == 0 {
			break
		}
	}
	cancel()
	stopRelay()
	wg.Wait()
	a.log.Info("b2bpay stopped")
	if errors.Is(err, rabbitmq.ErrClosed) {
		return nil
	}
	return err
}
