package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/route"
)

// Migrate applies the embedded migrations to the database of cfg, as the
// role that owns the tables, and then, when appRole is set, grants that
// role (serve's) what it needs. Migrating needs no master key: the owner's
// environment need not hold it.
func Migrate(ctx context.Context, w io.Writer, cfg Config, appRole string) error {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, 0)
	if err != nil {
		return err
	}
	defer pool.Close()
	v, err := postgres.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "database at migration %d\n", v)
	if appRole != "" {
		if err := postgres.GrantApp(ctx, pool, appRole); err != nil {
			return err
		}
		fmt.Fprintf(w, "role %s may read and write b2bpay's tables, and only insert into the append-only ones\n", appRole)
	}
	return nil
}

// Definitions writes b2bpay's exchanges and queues as a RabbitMQ
// definitions file naming vhost.
func Definitions(w io.Writer, vhost string) error {
	b, err := route.Static().Definitions(vhost)
	if err != nil {
		return err
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	_, err = w.Write(b)
	return err
}

// Topology connects to the broker and declares b2bpay's exchanges and
// queues, every upstream's and every customer's (Declare).
func (a *App) Topology(ctx context.Context, w io.Writer) error {
	if err := a.OpenBroker(ctx, "b2bpay-topology", 10*time.Second); err != nil {
		return err
	}
	if err := a.Declare(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "topology declared")
	return nil
}
