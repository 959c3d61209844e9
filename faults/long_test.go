package faults

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/crash"
)

// The long scenarios wait out the relay's 30 s lease or run a longer
// stream; they run with B2BPAY_FAULTS=1 (make faults).

func needLong(t *testing.T) {
	if !long {
		t.Skip("slow scenario: set B2BPAY_FAULTS=1 (make faults)")
	}
}

// TestKill9 kills serve with SIGKILL twice in the middle of a stream and
// starts it again each time: deliveries in flight come back from the
// broker, committed ones are recognised, outbox rows leased by the dead
// relay are published after their lease, nothing is lost or doubled.
func TestKill9(t *testing.T) {
	needLong(t)
	e := newEnv(t, "kill-9")
	n := 2000
	s := e.serveReady()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	ms := series("kill", n)
	p.add(ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := pub.stream(ctx, ms, 50, 20*time.Millisecond)
	for _, at := range []int{n / 3, 2 * n / 3} {
		waitUntil(t, 2*time.Minute, "stored", func() bool { return e.count(`SELECT count(*) FROM payments`) >= at })
		s.kill9()
		e.injected(1)
		require.Less(t, e.count(`SELECT count(*) FROM payments`), n, "killed mid-stream")
		s = e.serveReady()
	}
	require.NoError(t, <-done)
	e.check(p, checkOptions{timeout: 3 * time.Minute})
	s.stop()
}

// TestPostgresTerminate terminates every backend of serve on the
// scenario's database every 300 ms while a stream is consumed: handlers
// retry, the relay and the listener reconnect, the elector steps down and
// is elected again; a commit whose answer was lost is resolved by the
// intake ledger.
func TestPostgresTerminate(t *testing.T) {
	needLong(t)
	e := newEnv(t, "pg-terminate")
	n := 1000
	s := e.serveReady()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	ms := series("term", n)
	p.add(ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := pub.stream(ctx, ms, 20, 100*time.Millisecond)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var terminated int
	go func() {
		defer wg.Done()
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if k, err := e.terminateBackends(ctx); err == nil && k > 0 {
				e.injected(1)
				terminated += k
			}
		}
	}()
	require.NoError(t, <-done)
	waitUntil(t, 3*time.Minute, "stored under fire", func() bool { return e.count(`SELECT count(*) FROM intake_requests`) >= n })
	close(stop)
	wg.Wait()
	t.Logf("%d backends terminated in %d rounds", terminated, e.faultCount())
	require.Greater(t, e.faultCount(), 5, "the faults must hit while the stream is consumed")
	e.check(p, checkOptions{timeout: 3 * time.Minute})
	s.stop()
}

// TestRelayCrashAfterConfirm stops serve (exit 3) after the broker
// confirmed the relay's first batch and before it was marked sent: once
// their lease ends, the serve started again publishes those messages
// again under the same message ids (receivers drop the copies), and the
// outbox ends with nothing pending.
func TestRelayCrashAfterConfirm(t *testing.T) {
	needLong(t)
	e := newEnv(t, "relay-after-confirm")
	c := e.collect()
	first := e.serve(crash.RelayAfterConfirm)
	first.ready()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	ms := series("relay", 10)
	p.add(ms...)
	require.NoError(t, pub.send(context.Background(), ms, 10, 0))
	first.crashed(30 * time.Second)

	// The rows published but not marked: still leased, not sent.
	leased := e.requestIDs(`SELECT message_id FROM outbox WHERE sent_at IS NULL AND available_at > now() AND exchange = 'b2bpay.events'`)
	require.NotEmpty(t, leased, "the crash left confirmed answers unmarked")
	t.Logf("%d answers confirmed and left unmarked by the crash", len(leased))
	waitUntil(t, 10*time.Second, "the first copies", func() bool { return c.copiesOf(leased[0]) >= 1 })

	s := e.serveReady()
	e.check(p, checkOptions{timeout: 2 * time.Minute})
	for _, id := range leased {
		require.GreaterOrEqual(t, c.copiesOf(id), 2, "%s is published again after the crash", id)
	}
	require.Zero(t, e.count(`SELECT count(*) FROM outbox WHERE sent_at IS NULL`))
	s.stop()
}

// The disruptive scenarios restart the whole broker or the whole
// PostgreSQL server, which every other test on the machine shares: they
// run only with B2BPAY_FAULTS_DISRUPTIVE=1.

func needDisruptive(t *testing.T) {
	if !disruptive {
		t.Skip("restarts a shared server: set B2BPAY_FAULTS_DISRUPTIVE=1 on a machine nobody else is testing on")
	}
}

// TestBrokerRestart stops and starts the RabbitMQ application in the
// middle of a stream.
func TestBrokerRestart(t *testing.T) {
	needDisruptive(t)
	e := newEnv(t, "broker-restart")
	n := 1500
	s := e.serveReady()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	ms := series("brestart", n)
	p.add(ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := pub.stream(ctx, ms, 25, 20*time.Millisecond)
	waitUntil(t, 2*time.Minute, "stored", func() bool { return e.count(`SELECT count(*) FROM payments`) >= n/3 })
	run(t, "rabbitmqctl", "stop_app")
	e.injected(1)
	time.Sleep(3 * time.Second)
	run(t, "rabbitmqctl", "start_app")
	run(t, "rabbitmqctl", "await_startup")
	require.NoError(t, <-done)
	e.check(p, checkOptions{timeout: 3 * time.Minute})
	require.GreaterOrEqual(t, strings.Count(e.logs(), `msg="rabbitmq connection restored"`), 1)
	s.stop()
}

// TestPostgresRestart restarts the PostgreSQL cluster under load.
func TestPostgresRestart(t *testing.T) {
	needDisruptive(t)
	e := newEnv(t, "postgres-restart")
	n := 1500
	s := e.serveReady()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	ms := series("prestart", n)
	p.add(ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	done := pub.stream(ctx, ms, 25, 20*time.Millisecond)
	waitUntil(t, 2*time.Minute, "stored", func() bool { return e.count(`SELECT count(*) FROM payments`) >= n/3 })
	run(t, "pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart")
	e.injected(1)
	require.NoError(t, <-done)
	e.check(p, checkOptions{timeout: 3 * time.Minute})
	s.stop()
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
}
