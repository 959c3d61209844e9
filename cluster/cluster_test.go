package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The cluster tests need the cluster of `make cluster-up` and run only
// with B2BPAY_CLUSTER=1 (make cluster-test sets it). Without it they are
// skipped, and TestMain says so on every run, make test included.
func TestMain(m *testing.M) {
	if os.Getenv("B2BPAY_CLUSTER") != "1" {
		fmt.Fprintln(os.Stderr, "cluster: the cluster tests are skipped: run make cluster-up, then make cluster-test (B2BPAY_CLUSTER=1)")
	}
	os.Exit(m.Run())
}

// clusterEnv returns the cluster's environment, or skips the test (with
// the reason) unless B2BPAY_CLUSTER=1. With B2BPAY_CLUSTER=1 a missing
// cluster fails the test.
func clusterEnv(t *testing.T) Env {
	t.Helper()
	if os.Getenv("B2BPAY_CLUSTER") != "1" {
		t.Skip("needs the cluster of make cluster-up and B2BPAY_CLUSTER=1 (make cluster-test)")
	}
	p, err := EnvPath()
	if err != nil {
		t.Fatal(err)
	}
	e, err := ReadEnv(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func TestClusterRabbitMQ(t *testing.T) {
	e := clusterEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	out, err := e.Ctl(ctx, 1, "cluster_status", "--formatter", "json")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		RunningNodes []string `json:"running_nodes"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("cluster_status: %v: %s", err, out)
	}
	if len(st.RunningNodes) != 3 {
		t.Fatalf("running nodes %q, want 3", st.RunningNodes)
	}

	c1 := dial(t, e.AMQPURLs[0])
	c3 := dial(t, e.AMQPURLs[2])
	ch1, err := c1.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q := randomName("cluster-test-")
	if _, err := ch1.QueueDeclare(q, true, false, false, false, amqp.Table{"x-queue-type": "quorum"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ch, err := c1.Channel(); err == nil {
			_, _ = ch.QueueDelete(q, false, false, false)
		}
	})

	out, err = e.Ctl(ctx, 1, "list_queues", "--no-table-headers", "name", "type", "members", "leader")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, q+"\t") {
			line = l
		}
	}
	for _, n := range e.Nodes {
		if !strings.Contains(line, n) {
			t.Errorf("queue %s: %q does not list member %s", q, line, n)
		}
	}
	if !strings.Contains(line, "quorum") {
		t.Errorf("queue %s is not a quorum queue: %q", q, line)
	}
	leader, err := e.Run(ctx, "rmq-leader", q)
	if err != nil || !strings.Contains(line, "\t"+leader) {
		t.Errorf("rmq-leader %s = %q, %v; list_queues says %q", q, leader, err, line)
	}

	if err := ch1.Confirm(false); err != nil {
		t.Fatal(err)
	}
	body := randomName("payment-")
	conf, err := ch1.PublishWithDeferredConfirmWithContext(ctx, "", q, true, false,
		amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := conf.WaitContext(ctx); err != nil || !ok {
		t.Fatalf("publish on node 1 not confirmed: %v %v", ok, err)
	}
	ch3, err := c3.Channel()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, ok, err := ch3.Get(q, false)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if string(d.Body) != body {
				t.Fatalf("node 3 got %q, want %q", d.Body, body)
			}
			if err := d.Ack(false); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the message published on node 1 never reached a consumer on node 3")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func dial(t *testing.T, url string) *amqp.Connection {
	t.Helper()
	c, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestClusterPostgreSQL(t *testing.T) {
	e := clusterEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	table := randomName("cluster_test_")

	primary, standby := roles(ctx, t, e)
	if primary == 0 || standby == 0 {
		t.Fatalf("want a running primary and standby (make cluster-status; scripts/cluster.sh pg-rejoin repairs): %d %d", primary, standby)
	}
	if primary != e.PrimaryPort || standby != e.StandbyPort {
		t.Logf("roles swapped before the test: primary %d, standby %d", primary, standby)
	}
	writer := connect(ctx, t, e.DatabaseURL)
	if err := writer.QueryRow(ctx, "select inet_server_port()").Scan(&primary); err != nil {
		t.Fatal(err)
	}
	mustExec(ctx, t, writer, "create table "+table+" (id bigint primary key, amount_minor bigint not null)")
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), e.DatabaseURL)
		if err == nil {
			_, _ = c.Exec(context.Background(), "drop table if exists "+table)
			_ = c.Close(context.Background())
		}
	})
	checkSync(ctx, t, writer)
	insertAndSee(ctx, t, writer, standby, table, 1)
	_ = writer.Close(ctx)

	// Promote the standby and bring the old primary back as its standby;
	// then the same the other way round, so the roles end as they began.
	for round := 1; round <= 2; round++ {
		for _, step := range []string{"pg-stop-primary", "pg-promote"} {
			if out, err := e.Run(ctx, step); err != nil {
				t.Fatalf("round %d: %s: %v %s", round, step, err, out)
			}
		}
		p, _ := roles(ctx, t, e)
		if p != standby {
			t.Fatalf("round %d: after pg-promote the primary is on %d, want %d", round, p, standby)
		}
		// The multi-host URL finds the new primary; it accepts a commit
		// with no standby (asynchronous until pg-rejoin).
		writer = connect(ctx, t, e.DatabaseURL)
		mustExec(ctx, t, writer, fmt.Sprintf("insert into %s values (%d, 100)", table, 10+round))
		if out, err := e.Run(ctx, "pg-rejoin"); err != nil {
			t.Fatalf("round %d: pg-rejoin: %v %s", round, err, out)
		}
		p, s := roles(ctx, t, e)
		if p != standby || s != primary {
			t.Fatalf("round %d: roles after rejoin: primary %d standby %d, want %d %d", round, p, s, standby, primary)
		}
		checkSync(ctx, t, writer)
		insertAndSee(ctx, t, writer, s, table, 20+round)
		var n int
		sc := connect(ctx, t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/b2bpay?sslmode=disable", s))
		if err := sc.QueryRow(ctx, fmt.Sprintf("select count(*) from %s where id = %d", table, 10+round)).Scan(&n); err != nil || n != 1 {
			t.Fatalf("round %d: the commit made before rejoin is not on the rejoined standby: %d %v", round, n, err)
		}
		_ = writer.Close(ctx)
		primary, standby = p, s
	}
}

// roles returns the ports of the running primary and standby (0 for
// none), from scripts/cluster.sh pg-roles.
func roles(ctx context.Context, t *testing.T, e Env) (primary, standby int) {
	t.Helper()
	out, err := e.Run(ctx, "pg-roles")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out, "\n") {
		var name, role string
		var port int
		if _, err := fmt.Sscan(l, &name, &port, &role); err != nil {
			t.Fatalf("pg-roles: %q: %v", l, err)
		}
		switch role {
		case "primary":
			primary = port
		case "standby":
			standby = port
		}
	}
	return primary, standby
}

func connect(ctx context.Context, t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func mustExec(ctx context.Context, t *testing.T, c *pgx.Conn, sql string) {
	t.Helper()
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// checkSync fails unless the primary's one standby streams synchronously
// and commits wait for it.
func checkSync(ctx context.Context, t *testing.T, primary *pgx.Conn) {
	t.Helper()
	var state, syncCommit string
	err := primary.QueryRow(ctx, "select sync_state, current_setting('synchronous_commit') from pg_stat_replication").Scan(&state, &syncCommit)
	if err != nil || state != "sync" || syncCommit != "on" {
		t.Fatalf("replication: sync_state %q synchronous_commit %q (%v), want sync and on", state, syncCommit, err)
	}
}

// insertAndSee commits a row on the primary, waiting until the standby
// has applied it (remote_apply), then reads it on the standby.
func insertAndSee(ctx context.Context, t *testing.T, primary *pgx.Conn, standbyPort int, table string, id int) {
	t.Helper()
	mustExec(ctx, t, primary, "set synchronous_commit = remote_apply")
	mustExec(ctx, t, primary, fmt.Sprintf("insert into %s values (%d, 12345)", table, id))
	mustExec(ctx, t, primary, "reset synchronous_commit")
	s := connect(ctx, t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/b2bpay?sslmode=disable", standbyPort))
	var amount int64
	var recovery bool
	err := s.QueryRow(ctx, fmt.Sprintf("select amount_minor, pg_is_in_recovery() from %s where id = %d", table, id)).Scan(&amount, &recovery)
	if err != nil || amount != 12345 || !recovery {
		t.Fatalf("row %d on the standby (%d): amount %d, in recovery %v, %v", id, standbyPort, amount, recovery, err)
	}
}

// With the standby down, a commit on the primary is not acknowledged: it
// waits for the standby. Started again, the standby has the row and is
// synchronous again.
func TestClusterSynchronousCommitWaitsForStandby(t *testing.T) {
	e := clusterEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	primary, standby := roles(ctx, t, e)
	if primary == 0 || standby == 0 {
		t.Fatalf("want a running primary and standby (make cluster-status): %d %d", primary, standby)
	}
	table := randomName("cluster_test_")
	w := connect(ctx, t, e.DatabaseURL)
	mustExec(ctx, t, w, "create table "+table+" (id bigint primary key)")
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), e.DatabaseURL); err == nil {
			_, _ = c.Exec(context.Background(), "drop table if exists "+table)
			_ = c.Close(context.Background())
		}
	})
	if out, err := e.Run(ctx, "pg-stop-standby"); err != nil {
		t.Fatalf("pg-stop-standby: %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = e.Run(context.Background(), "pg-start") })

	wait, stop := context.WithTimeout(ctx, 3*time.Second)
	_, err := w.Exec(wait, "insert into "+table+" values (1)")
	stop()
	if err == nil {
		t.Fatal("a commit was acknowledged while the synchronous standby was down")
	}
	if out, err := e.Run(ctx, "pg-start"); err != nil {
		t.Fatalf("pg-start: %v %s", err, out)
	}
	// The row was committed on the primary, unacknowledged: the standby
	// receives it once it streams again.
	s := connect(ctx, t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/b2bpay?sslmode=disable", standby))
	p := connect(ctx, t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/b2bpay?sslmode=disable", primary))
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n int
		var state string
		errS := s.QueryRow(ctx, "select count(*) from "+table).Scan(&n)
		errP := p.QueryRow(ctx, "select coalesce(max(sync_state), '') from pg_stat_replication").Scan(&state)
		if errS == nil && errP == nil && n == 1 && state == "sync" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after pg-start: rows on the standby %d (%v), sync_state %q (%v)", n, errS, state, errP)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
