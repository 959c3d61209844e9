package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/testkit"
)

func TestParseRoles(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", " ", "all"} {
		rs, err := ParseRoles(s)
		require.NoError(t, err)
		require.Nil(t, rs, "%q is every role", s)
		require.True(t, rs.Has(RoleConsole) && rs.NeedsBroker())
	}
	rs, err := ParseRoles(" http, Scheduler,http ")
	require.NoError(t, err)
	require.Equal(t, Roles{RoleHTTP, RoleScheduler}, rs)
	require.False(t, rs.Has(RoleIntake))
	require.False(t, rs.NeedsBroker(), "the API and the jobs need no broker")
	require.Equal(t, "http,scheduler", rs.String())
	for _, r := range []Role{RoleIntake, RoleDecisions, RoleRelay, RoleConsole} {
		require.True(t, Roles{r}.NeedsBroker(), r)
	}

	_, err = ParseRoles("intake,bogus")
	require.EqualError(t, err, `unknown role "bogus": the roles are intake,decisions,relay,scheduler,http,console (or all)`)
	_, err = ParseRoles(",")
	require.ErrorContains(t, err, "no role given")

	require.NoError(t, Roles(nil).checkAddrs("", ""), "by default a listener without its address is left out")
	require.EqualError(t, Roles{RoleHTTP}.checkAddrs("", ""), "role http needs --http-addr")
	require.EqualError(t, Roles{RoleConsole}.checkAddrs("x", ""), "role console needs --console-addr")
}

// rolesApp opens an App on a database and a vhost of the test's own, with
// the topology declared.
func rolesApp(t *testing.T) *App {
	t.Helper()
	ctx := t.Context()
	sec, err := NewSecurity(secret.NewKey(), 15*time.Minute, nil)
	require.NoError(t, err)
	a, err := Open(ctx, Config{DatabaseURL: testkit.NewDatabase(t), AMQPURL: testkit.OwnVhost(t), Location: shanghai(),
		Logger: slog.New(slog.DiscardHandler)}, sec)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NoError(t, a.OpenBroker(ctx, "b2bpay-test", 30*time.Second))
	require.NoError(t, a.Declare(ctx))
	return a
}

// served is a Serve running in the background.
type served struct {
	api, metrics string
	stop         func() error
}

// serveRoles runs a.Serve with roles until the test stops it (or ends).
func serveRoles(t *testing.T, a *App, roles Roles, httpAddr string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, metricsReady, consoleReady := make(chan string, 1), make(chan string, 1), make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- a.Serve(ctx, ServeOptions{Roles: roles, Prefetch: 50, Concurrency: 2, IntakeBatch: 10, BatchWait: 5 * time.Millisecond,
			Drain: 5 * time.Second, HTTPAddr: httpAddr, MetricsAddr: "127.0.0.1:0", ExpiryEvery: time.Minute,
			Ready: ready, MetricsReady: metricsReady, ConsoleReady: consoleReady})
	}()
	s := &served{}
	select {
	case s.api = <-ready:
		s.metrics = <-metricsReady
		<-consoleReady
	case err := <-done:
		cancel()
		t.Fatalf("serve stopped at start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start within 30 s")
	}
	var stopped bool
	var result error
	s.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

// consumers returns the consumer counts of the intake and decision queues.
func consumerCounts(t *testing.T, a *App) (intake, decisions int) {
	t.Helper()
	qs, err := a.Conn.Inspect(t.Context(), route.IntakeQueue, route.DecisionsQueue)
	require.NoError(t, err)
	return qs[0].Consumers, qs[1].Consumers
}

// get answers GET url's status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestServeRoles runs serve with subsets of its roles on one database and
// vhost: only http (no consumer on the queues, the API and the probes
// answer), only intake (a message is taken in, the API port is not bound,
// nothing is published without a relay), then only relay (it publishes
// the rows the intake process left in the outbox).
func TestServeRoles(t *testing.T) {
	a := rolesApp(t)
	ctx := t.Context()

	h := serveRoles(t, a, Roles{RoleHTTP}, "127.0.0.1:0")
	in, dec := consumerCounts(t, a)
	require.Zero(t, in)
	require.Zero(t, dec)
	code, body := get(t, "http://"+h.api+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", body)
	code, body = get(t, "http://"+h.metrics+"/readyz")
	require.Equal(t, http.StatusOK, code, body)
	code, body = get(t, "http://"+h.metrics+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok", body)
	require.NoError(t, h.stop())

	apiAddr := freeAddr(t)
	i := serveRoles(t, a, Roles{RoleIntake}, apiAddr)
	require.Empty(t, i.api, "no API without the http role")
	_, err := net.DialTimeout("tcp", apiAddr, time.Second)
	require.Error(t, err, "the API port is not bound")
	require.Eventually(t, func() bool { in, dec = consumerCounts(t, a); return in == 1 }, 10*time.Second, 20*time.Millisecond,
		"the intake consumer starts")
	require.Zero(t, dec)
	code, body = get(t, "http://"+i.metrics+"/readyz")
	require.Equal(t, http.StatusOK, code, body)

	ch, err := a.Conn.Channel(ctx)
	require.NoError(t, err)
	defer ch.Close()
	require.NoError(t, ch.PublishWithContext(ctx, route.RequestsExchange, route.RequestKey, false, false,
		amqp.Publishing{MessageId: "poison-1", ContentType: "application/json", Body: []byte("not json")}))
	rejects := func() (n int) {
		require.NoError(t, a.Pool.QueryRow(ctx, `SELECT count(*) FROM intake_rejects`).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return rejects() == 1 }, 15*time.Second, 50*time.Millisecond, "the intake role takes messages in")
	pending := func() (n int) {
		require.NoError(t, a.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n))
		return n
	}
	time.Sleep(500 * time.Millisecond)
	require.Positive(t, pending(), "no relay here: the dead-letter copy waits in the outbox")
	var ex, key string
	require.NoError(t, a.Pool.QueryRow(ctx, `SELECT exchange, routing_key FROM outbox WHERE sent_at IS NULL`).Scan(&ex, &key))
	require.Equal(t, [2]string{route.DeadLetterExchange, route.IntakeDeadKey}, [2]string{ex, key})
	require.NoError(t, i.stop())

	serveRoles(t, a, Roles{RoleRelay}, "127.0.0.1:0")
	require.Eventually(t, func() bool { return pending() == 0 }, 15*time.Second, 50*time.Millisecond,
		"another process's relay publishes the rows")
	require.Eventually(t, func() bool {
		qs, err := a.Conn.Inspect(ctx, route.IntakeDeadQueue)
		require.NoError(t, err)
		return qs[0].Messages == 1
	}, 10*time.Second, 50*time.Millisecond, "the dead letter reached its queue")
}

// TestReadyz: /readyz answers 200 while the database answers and the
// broker connection is open, 503 with a reason when the database does not
// answer (a process whose URL names a closed port) or the broker is
// needed and not connected; /healthz stays 200.
func TestReadyz(t *testing.T) {
	a := rolesApp(t)
	m := NewMetrics(a.Store)
	probe := func(app *App, broker bool) (int, string, int) {
		srv, addr, err := app.listenMetrics("127.0.0.1:0", m, broker)
		require.NoError(t, err)
		defer srv.Close()
		code, body := get(t, "http://"+addr+"/readyz")
		health, _ := get(t, "http://"+addr+"/healthz")
		return code, body, health
	}
	code, body, health := probe(a, true)
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, "ok", body)
	require.Equal(t, http.StatusOK, health)

	noBroker := *a
	noBroker.Conn = nil
	code, body, _ = probe(&noBroker, true)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "not ready: broker: connection not open", body)
	code, _, _ = probe(&noBroker, false)
	require.Equal(t, http.StatusOK, code, "roles without the broker do not need it")

	dead, err := pgxpool.New(t.Context(), "postgres://postgres:s3cret@127.0.0.1:1/b2bpay?sslmode=disable&connect_timeout=1")
	require.NoError(t, err)
	defer dead.Close()
	noDB := *a
	noDB.Pool = dead
	code, body, health = probe(&noDB, false)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "not ready: database: ")
	require.NotContains(t, body, "\n")
	require.NotContains(t, body, "s3cret")
	require.Equal(t, http.StatusOK, health, "the process is up")
}
