package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/ops"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/server"
	"github.com/b2bpay/b2bpay/testkit"
)

// env is a running b2bpay on a database and a vhost of its own, with a
// seeded registry: customer C1 (online), C2 (not online), bank B2B and
// bank NOB2B, accounts, applicant "ann", upstream "erp" (publishes as the
// broker user, user_id) and upstream "mall" (HMAC key mallKey).
type env struct {
	t       *testing.T
	cfg     server.Config
	app     *server.App
	sealer  *secret.Sealer
	master  []byte // the master key, for the commands run as processes
	mallKey []byte
	stop    context.CancelFunc
	apiAddr string
	// metricsAddr is where serve's /metrics is, consoleAddr the staff
	// console.
	metricsAddr, consoleAddr string
	// expiryEvery and ttls, when set before start, run the expiry job.
	expiryEvery time.Duration
	ttls        map[payment.State]time.Duration
	dead        []amqp.Delivery
	tasks       []route.Task
	done        chan error

	// ops, when set before start, serves the console's operations area.
	ops *ops.Service
}

const (
	bankB2B      = "104100000004"
	bankNoB2B    = "105100000017"
	accountC1    = "6217000010001234567"
	accountNoB2B = "6227000020009876543"
	accountC2    = "6222000030005555555"
)

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvAt(t, testkit.NewDatabase(t))
}

// newEnvAt is newEnv on a migrated database of the caller's, connecting
// with dbURL (for example as the app role).
func newEnvAt(t *testing.T, dbURL string) *env {
	t.Helper()
	ctx := context.Background()
	amqpURL := testkit.OwnVhost(t)

	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	level := slog.LevelWarn
	if os.Getenv("B2BPAY_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	cfg := server.Config{DatabaseURL: dbURL, AMQPURL: amqpURL, Location: loc,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))}
	master := secret.NewKey()
	sec, err := server.NewSecurity(master, 15*time.Minute, nil)
	require.NoError(t, err)
	sealer := sec.Sealer
	a, err := server.Open(ctx, cfg, sec)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	e := &env{t: t, cfg: cfg, app: a, sealer: sealer, master: master, mallKey: secret.NewKey()}
	e.seed(ctx)
	require.NoError(t, a.OpenBroker(ctx, "b2bpay-test", 30*time.Second))
	e.start()
	t.Cleanup(e.halt)
	return e
}

func (e *env) seed(ctx context.Context) {
	s := e.app.Store
	r := require.New(e.t)
	r.NoError(s.CustomerCreate(ctx, payment.Customer{ID: "C1", Name: "上海华东机电设备有限公司", OnlinePayment: true, Active: true}))
	r.NoError(s.CustomerCreate(ctx, payment.Customer{ID: "C2", Name: "北京远航贸易有限公司", Active: true}))
	r.NoError(s.BankCreate(ctx, payment.Bank{ID: bankB2B, Name: "中国银行", B2B: true}))
	r.NoError(s.BankCreate(ctx, payment.Bank{ID: bankNoB2B, Name: "中国建设银行"}))
	r.NoError(s.AccountCreate(ctx, payment.Account{Number: accountC1, BankID: bankB2B, CustomerID: "C1", Currency: "CNY", Active: true}))
	r.NoError(s.AccountCreate(ctx, payment.Account{Number: accountNoB2B, BankID: bankNoB2B, CustomerID: "C1", Currency: "CNY", Active: true}))
	r.NoError(s.AccountCreate(ctx, payment.Account{Number: accountC2, BankID: bankB2B, CustomerID: "C2", Currency: "CNY", Active: true}))
	r.NoError(s.UserCreate(ctx, payment.User{ID: "ann", CustomerID: "C1", Name: "Ann", Roles: []payment.Role{payment.RoleApplicant}, Active: true}))
	r.NoError(s.UserCreate(ctx, payment.User{ID: "dan", CustomerID: "C2", Name: "Dan", Roles: []payment.Role{payment.RoleApplicant}, Active: true}))
	r.NoError(s.UpstreamCreate(ctx, payment.Upstream{ID: "erp", Name: "ERP", AMQPUser: "guest", Active: true, Customers: []string{"C1", "C2"}}, nil, 0))
	r.NoError(s.UpstreamCreate(ctx, payment.Upstream{ID: "mall", Name: "Mall", Active: true, Customers: []string{"C1"}},
		e.sealer.Seal(e.mallKey, intake.KeyAD("mall")), int(e.sealer.Version())))
}

// start runs serve in the background.
func (e *env) start() {
	// serve declares the topology too; declaring it first means every
	// queue and binding exists once start returns.
	require.NoError(e.t, e.app.Declare(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	e.stop, e.done = cancel, make(chan error, 1)
	ready, metricsReady, consoleReady := make(chan string, 1), make(chan string, 1), make(chan string, 1)
	go func() {
		e.done <- e.app.Serve(ctx, server.ServeOptions{Prefetch: 50, Concurrency: 4, IntakeBatch: 10, Drain: 10 * time.Second,
			HTTPAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", ExpiryEvery: e.expiryEvery, TTLs: e.ttls, Ops: e.ops,
			ConsoleAddr: "127.0.0.1:0", Ready: ready, MetricsReady: metricsReady, ConsoleReady: consoleReady})
	}()
	select {
	case e.apiAddr = <-ready:
		e.metricsAddr, e.consoleAddr = <-metricsReady, <-consoleReady
	case err := <-e.done:
		e.t.Fatalf("serve stopped at start: %v", err)
	case <-time.After(30 * time.Second):
		e.t.Fatal("serve did not start within 30 s")
	}
}

// halt stops serve and waits for its orderly shutdown.
func (e *env) halt() {
	if e.stop == nil {
		return
	}
	e.stop()
	select {
	case err := <-e.done:
		require.NoError(e.t, err)
	case <-time.After(30 * time.Second):
		e.t.Fatal("serve did not stop within 30 s")
	}
	e.stop = nil
}

func (e *env) channel() *amqp.Channel {
	ch, err := e.app.Conn.Channel(context.Background())
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = ch.Close() })
	return ch
}

// request is a valid request of customer C1.
func request(id string) payment.Request {
	return payment.Request{
		SchemaVersion: 1, RequestID: id, OrderRef: "SO-" + id, CustomerID: "C1", Applicant: "ann",
		BankID: bankB2B, DebtorAccount: accountC1,
		Creditor: payment.Creditor{Name: "深圳南方电子材料有限公司", Account: "755912345610801", BankID: "308584000013"},
		Amount:   "1286400.50", Currency: "CNY", Remittance: "发票 INV-1", ExecutionDate: time.Now().In(shanghai()).Format(payment.DateLayout),
	}
}

func shanghai() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}

func body(t *testing.T, r payment.Request) []byte {
	b, err := json.Marshal(r)
	require.NoError(t, err)
	return b
}

// publish sends a raw message to the intake exchange with confirms.
func (e *env) publish(p amqp.Publishing) {
	ch := e.channel()
	require.NoError(e.t, ch.Confirm(false))
	p.DeliveryMode = amqp.Persistent
	dc, err := ch.PublishWithDeferredConfirm("b2bpay.requests", "payment.request.v1", true, false, p)
	require.NoError(e.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := dc.WaitContext(ctx)
	require.NoError(e.t, err)
	require.True(e.t, ok)
}

// getAll takes every message from queue until n have arrived or timeout.
func (e *env) getAll(queue string, n int, timeout time.Duration) []amqp.Delivery {
	ch := e.channel()
	var out []amqp.Delivery
	deadline := time.Now().Add(timeout)
	for len(out) < n && time.Now().Before(deadline) {
		d, ok, err := ch.Get(queue, true)
		require.NoError(e.t, err)
		if !ok {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		out = append(out, d)
	}
	return out
}

// events decodes status-event deliveries.
func events(t *testing.T, ds []amqp.Delivery) []payment.Event {
	out := make([]payment.Event, len(ds))
	for i, d := range ds {
		require.NoError(t, json.Unmarshal(d.Body, &out[i]))
		require.Equal(t, out[i].ID, d.MessageId, "the message id is the event id")
	}
	return out
}

func (e *env) count(sql string, args ...any) int {
	var n int
	require.NoError(e.t, e.app.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
