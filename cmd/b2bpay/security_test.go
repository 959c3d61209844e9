package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/server"
	"github.com/b2bpay/b2bpay/testkit"
)

// TestSecuritySubmitUnderUpstreamPermissions: `b2bpay submit` works as an
// upstream's broker user with only the permissions the README gives it
// (route.UpstreamPermissions: no configure, write on b2bpay.requests, read
// on its own status queue), and takes only its own answer from that queue:
// an event waiting there before stays for the upstream's consumer.
func TestSecuritySubmitUnderUpstreamPermissions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := route.UpstreamPermissions("erp-sec")
	user, userURL, dropUser, err := rabbitmqtest.NewUser(e.cfg.AMQPURL, p.Configure, p.Write, p.Read)
	require.NoError(t, err)
	t.Cleanup(dropUser)
	require.NoError(t, e.app.Store.UpstreamCreate(ctx, payment.Upstream{ID: "erp-sec", Name: "ERP", AMQPUser: user, Active: true,
		Customers: []string{"C1"}}, nil, 0))
	require.NoError(t, e.app.Declare(ctx))

	ch := e.channel()
	require.NoError(t, ch.Confirm(false))
	dc, err := ch.PublishWithDeferredConfirm(route.EventsExchange, route.EventKey("erp-sec", payment.EventStateChanged), true, false,
		amqp.Publishing{CorrelationId: "earlier", Body: []byte(`{"event_id":"earlier"}`), DeliveryMode: amqp.Persistent})
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ok, err := dc.WaitContext(wctx)
	require.NoError(t, err)
	require.True(t, ok)

	r := request("sec-submit-1")
	out, err := runCLI(t, e.cfg.DatabaseURL, "--amqp-url", userURL, "submit", "--upstream", "erp-sec", "--timeout", "60s",
		"--request-id", r.RequestID, "--order-ref", r.OrderRef, "--customer", r.CustomerID, "--applicant", r.Applicant,
		"--bank", r.BankID, "--debtor-account", r.DebtorAccount, "--creditor-name", r.Creditor.Name,
		"--creditor-account", r.Creditor.Account, "--creditor-bank", r.Creditor.BankID, "--amount", r.Amount)
	require.NoError(t, err, out)
	var ev payment.Event
	require.NoError(t, json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &ev), out)
	require.Equal(t, payment.EventAccepted, ev.Kind)
	require.Equal(t, "sec-submit-1", ev.RequestID)

	left := e.getAll(route.StatusQueue("erp-sec"), 1, 30*time.Second)
	require.Len(t, left, 1)
	require.Equal(t, "earlier", left[0].CorrelationId)
}

// TestSecurityUnsafeUpstreamIDs: an upstream id with '.', '*' or '#' is
// refused at registration; an active one registered before the rule
// (written into the table directly here) stops serve and topology before
// they declare anything; once deactivated it is left out and the rest is
// declared, each status queue bound exactly.
func TestSecurityUnsafeUpstreamIDs(t *testing.T) {
	ctx := context.Background()
	amqpURL := testkit.OwnVhost(t)
	dbURL := testkit.NewDatabase(t)
	a, err := server.Open(ctx, server.Config{DatabaseURL: dbURL, AMQPURL: amqpURL, Location: shanghai(), Logger: slog.New(slog.DiscardHandler)}, nil)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NoError(t, a.Store.CustomerCreate(ctx, payment.Customer{ID: "C1", Name: "C1", OnlinePayment: true, Active: true}))

	for _, id := range []string{"erp.sh", "erp*", "erp#"} {
		_, err := runCLI(t, dbURL, "upstream", "add", "--id", id, "--name", "x", "--amqp-user", "u-"+id, "--customer", "C1")
		require.ErrorContains(t, err, "upstream id", id)
	}
	require.NoError(t, a.Store.UpstreamCreate(ctx, payment.Upstream{ID: "erp", Name: "ERP", AMQPUser: "erp", Active: true}, nil, 0))
	// The database refuses such an id too, even written with SQL.
	_, err = a.Pool.Exec(ctx, `INSERT INTO upstreams (id, name, amqp_user, active, created_at) VALUES ('erp.sh', 'old', 'erpsh', true, now())`)
	require.ErrorContains(t, err, `upstream id "erp.sh" is not 1-64 letters`)
	// One registered by an older version (before migration 9): written
	// here with the check switched off, as a superuser could.
	tx, err := a.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SET LOCAL session_replication_role = replica`)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO upstreams (id, name, amqp_user, active, created_at) VALUES ('erp.sh', 'old', 'erpsh', true, now())`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	err = a.Declare(ctx) // a.Conn is nil: it must stop before touching the broker
	require.ErrorContains(t, err, `"erp.sh"`)
	require.NotContains(t, err.Error(), `"erp"`)

	_, err = a.Pool.Exec(ctx, `UPDATE upstreams SET active = false WHERE id = 'erp.sh'`)
	require.NoError(t, err)
	require.NoError(t, a.OpenBroker(ctx, "security-test", 30*time.Second))
	require.NoError(t, a.Declare(ctx))
	ch, err := a.Conn.Channel(ctx)
	require.NoError(t, err)
	defer ch.Close()
	_, err = ch.QueueDeclarePassive(route.StatusQueue("erp"), true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	require.NoError(t, err)
	ch2, err := a.Conn.Channel(ctx)
	require.NoError(t, err)
	defer ch2.Close()
	_, err = ch2.QueueDeclarePassive(route.StatusQueue("erp.sh"), true, false, false, false, amqp.Table{"x-queue-type": "quorum"})
	var ae *amqp.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, amqp.NotFound, ae.Code)
}
