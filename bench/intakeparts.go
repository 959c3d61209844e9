package bench

import (
	"context"
	"fmt"
	"net/url"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/server"
)

// benchIntakeParts measures intake's two halves apart, on Count new
// requests: intake/store runs serve with the intake role alone (requests
// consumed, admitted and stored with their outbox rows, nothing
// published), then relay runs serve with the relay role alone until that
// backlog is published with confirms and its rows deleted (two messages
// a payment: the answer and the confirmation task). The intake stage runs
// both at once; the two stages say which half costs what.
func benchIntakeParts(ctx context.Context, a *server.App, opt Options) (store, relay Result, err error) {
	u, _ := url.Parse(rabbitmq.FirstURL(a.Config.AMQPURL))
	open := func() (*amqp.Channel, error) { return a.Conn.Channel(ctx) }
	var before, unsentBefore int
	if err := a.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM intake_requests),
		(SELECT count(*) FROM outbox WHERE sent_at IS NULL)`).Scan(&before, &unsentBefore); err != nil {
		return store, relay, err
	}
	if unsentBefore != 0 {
		return store, relay, fmt.Errorf("%d outbox messages unsent before the intake parts", unsentBefore)
	}
	if _, _, err := Publish(open, route.RequestsExchange, route.RequestKey,
		requests("pt", opt.Count, u.User.Username(), a.Config.Location, nil), 1000, 0); err != nil {
		return store, relay, fmt.Errorf("publish requests: %w", err)
	}

	stop, err := profileStage(opt, "intake-store")
	if err != nil {
		return store, relay, err
	}
	m := Start()
	halt, done := benchServeRoles(ctx, a, opt, server.Roles{server.RoleIntake})
	err = waitIntake(ctx, a, before+opt.Count, RequestID("pt", opt.Count-1), false, done)
	if err != nil {
		_ = halt()
		return store, relay, err
	}
	store = m.Stop("intake/store", opt.Count)
	store.LatencyOf = "-"
	stop()
	if err := halt(); err != nil {
		return store, relay, err
	}
	var unsent int
	if err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&unsent); err != nil {
		return store, relay, err
	}
	if unsent != 2*opt.Count {
		return store, relay, fmt.Errorf("intake alone left %d outbox messages for %d requests, want 2 each", unsent, opt.Count)
	}

	if stop, err = profileStage(opt, "relay"); err != nil {
		return store, relay, err
	}
	var lastID int64
	if err := a.Pool.QueryRow(ctx, `SELECT max(id) FROM outbox`).Scan(&lastID); err != nil {
		return store, relay, err
	}
	m = Start()
	halt, done = benchServeRoles(ctx, a, opt, server.Roles{server.RoleRelay})
	err = poll(ctx, done, time.Now().Add(time.Duration(opt.Count)*5*time.Millisecond+time.Minute), func() (bool, error) {
		var pending bool // the relay goes in id order: one probe a look until the last is sent
		if err := a.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE id = $1 AND sent_at IS NULL)`,
			lastID).Scan(&pending); err != nil || pending {
			return false, err
		}
		err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&unsent)
		return unsent == 0, err
	}, func() error { return fmt.Errorf("%d outbox messages unsent after the deadline", unsent) })
	if err != nil {
		_ = halt()
		return store, relay, err
	}
	relay = m.Stop("relay", opt.Count)
	relay.LatencyOf = "-"
	stop()
	return store, relay, halt()
}
