package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/cluster"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
)

// The cluster scenarios (cluster_test.go) run on the cluster
// scripts/cluster.sh starts (docs/cluster.md): each scenario's vhost on the
// three RabbitMQ nodes, its database on the PostgreSQL primary with its
// synchronous standby, and serve processes given all three broker URLs and
// the multi-host database URL. They run with B2BPAY_FAULTS_CLUSTER=1
// (make faults-cluster) after make cluster-up.

// clusterMode runs the cluster scenarios.
var clusterMode = os.Getenv("B2BPAY_FAULTS_CLUSTER") == "1"

// needCluster skips without B2BPAY_FAULTS_CLUSTER=1, fails when the
// cluster's environment file is missing, and brings back any node or
// PostgreSQL cluster an earlier scenario left down.
func needCluster(t *testing.T) cluster.Env {
	t.Helper()
	if !clusterMode {
		t.Skip("cluster scenario: set B2BPAY_FAULTS_CLUSTER=1 after make cluster-up (make faults-cluster)")
	}
	path, err := cluster.EnvPath()
	require.NoError(t, err)
	ce, err := cluster.ReadEnv(path)
	if err != nil {
		t.Fatalf("the cluster scenarios need the cluster: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for n := range ce.Nodes { // a node an earlier scenario left paused would hang up
		_, _ = ce.Run(ctx, "rmq-resume", strconv.Itoa(n+1))
	}
	if out, err := ce.Run(ctx, "up"); err != nil {
		t.Fatalf("scripts/cluster.sh up: %v\n%s", err, out)
	}
	waitHealthy(t, ce, 2*time.Minute)
	return ce
}

// clusterWorld is the cluster as a world for newEnvOn: rabbitmqctl goes to
// the first node that answers.
func clusterWorld(t *testing.T, ce cluster.Env) world {
	t.Helper()
	u, err := url.Parse(ce.AMQPURLs[0])
	require.NoError(t, err)
	return world{amqpURL: strings.Join(ce.AMQPURLs, ","), dbURL: ce.DatabaseURL, amqpUser: u.User.Username(),
		ctl: func(args ...string) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var errs []error
			for n := range ce.Nodes {
				if _, err := ce.Ctl(ctx, n+1, args...); err == nil {
					return nil
				} else {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		}}
}

// clusterStatus is what a node says of the cluster.
type clusterStatus struct {
	RunningNodes []string       `json:"running_nodes"`
	Partitions   map[string]any `json:"partitions"`
}

// status asks node n.
func status(ctx context.Context, ce cluster.Env, n int) (clusterStatus, error) {
	var st clusterStatus
	out, err := ce.Ctl(ctx, n, "cluster_status", "--formatter", "json")
	if err == nil {
		err = json.Unmarshal([]byte(out), &st)
	}
	return st, err
}

// waitHealthy waits until every node sees every node running and no
// partition, and PostgreSQL has a primary and a synchronous standby.
func waitHealthy(t *testing.T, ce cluster.Env, timeout time.Duration) {
	t.Helper()
	var last string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		last = healthy(ctx, ce)
		cancel()
		if last == "" {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("the cluster is not healthy within %s: %s", timeout, last)
}

// healthy is "" or what is wrong.
func healthy(ctx context.Context, ce cluster.Env) string {
	for n := range ce.Nodes {
		st, err := status(ctx, ce, n+1)
		switch {
		case err != nil:
			return err.Error()
		case len(st.RunningNodes) != len(ce.Nodes):
			return fmt.Sprintf("node %d sees %q running", n+1, st.RunningNodes)
		case len(st.Partitions) > 0:
			return fmt.Sprintf("node %d records partitions %v", n+1, st.Partitions)
		}
	}
	roles, err := ce.Run(ctx, "pg-roles")
	if err != nil {
		return err.Error()
	}
	if strings.Count(roles, " primary") != 1 || strings.Count(roles, " standby") != 1 {
		return "PostgreSQL: " + roles
	}
	return ""
}

// leader is the number (1 to 3) of the node that leads a quorum queue of
// the scenario's vhost.
func (e *env) leader(ce cluster.Env, queue string) int {
	e.t.Helper()
	var n int
	var last string
	waitUntil(e.t, time.Minute, "the leader of "+queue, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := ce.Run(ctx, "rmq-leader", queue, e.vhost)
		last = fmt.Sprint(out, err)
		n = slices.Index(ce.Nodes, strings.TrimSpace(out)) + 1
		if n == 0 {
			time.Sleep(time.Second)
		}
		return n > 0
	})
	e.t.Logf("%s is led by node %d (%s)", queue, n, last)
	return n
}

// fault runs a fault helper of scripts/cluster.sh and counts it.
func (e *env) fault(ce cluster.Env, args ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := ce.Run(ctx, args...)
	require.NoError(e.t, err, "scripts/cluster.sh %s: %s", strings.Join(args, " "), out)
	e.t.Logf("%s: %s (%.1f s)", strings.Join(args, " "), out, time.Since(start).Seconds())
	e.injected(1)
}

// tryCount is count that tolerates the database being away: -1 then.
func (e *env) tryCount(sql string, args ...any) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var n int
	if err := e.pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

// waitStored waits until at least min requests are stored; on timeout it
// says how far the publisher got and writes the test's goroutines to
// b2bpay-faults-cluster-goroutines.txt in the temporary directory.
func (e *env) waitStored(pub *publisher, min int, timeout time.Duration, what string) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for e.stored() < min {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<22)
			path := filepath.Join(os.TempDir(), "b2bpay-faults-cluster-goroutines.txt")
			_ = os.WriteFile(path, buf[:runtime.Stack(buf, true)], 0o644)
			e.t.Fatalf("%s: %d of %d stored within %s; %d publishes, %d confirmed (goroutines in %s)", what, e.stored(), min,
				timeout, pub.published.Load(), pub.confirmed.Load(), path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stored is how many requests are in the intake ledger (-1 while the
// database is away).
func (e *env) stored() int { return e.tryCount(`SELECT count(*) FROM intake_requests`) }

// twoServes starts the scenario's serve processes on the cluster: one
// with the intake, decision and relay roles, one with every role (the
// status API the staff use, the scheduler), and waits for both.
func (e *env) twoServes(args ...string) (workers, full *server) {
	e.t.Helper()
	workers = e.serveWith("", []string{"--roles", "intake,decisions,relay"}, nil)
	full = e.serveWith("", args, nil)
	workers.ready()
	full.ready()
	return workers, full
}

// approveSure is approve for a client that may lose its result in a
// broker fault (its private reply queue lives on one node): when the
// staff client fails, the payment's state says whether the decision was
// applied; if not, the person decides again with a fresh code.
func (p *person) approveSure(s *server, paymentID string, stage payment.Stage) error {
	var err error
	for range 4 {
		if err = p.approve(s, paymentID, stage); err == nil {
			return nil
		}
		time.Sleep(2 * time.Second) // a decision still on its way
		var st string
		if e := p.e.pool.QueryRow(context.Background(), `SELECT state FROM payments WHERE id = $1`, paymentID).Scan(&st); e == nil &&
			st != string(stage.State()) {
			p.e.t.Logf("%s at %s of %s: applied, the client lost its result: %v", p.id, stage, paymentID, err)
			return nil
		}
		p.e.t.Logf("%s at %s of %s: again: %v", p.id, stage, paymentID, err)
	}
	return err
}

// approveAllSure is crew.approveAll with approveSure.
func (c crew) approveAllSure(s *server, ps []staffPayment, stages ...payment.Stage) {
	s.e.t.Helper()
	who := map[payment.Stage]func(p staffPayment) *person{
		payment.StageConfirmation:  func(p staffPayment) *person { return p.applicant },
		payment.StageReview:        func(p staffPayment) *person { return c.reviewers[p.index%len(c.reviewers)] },
		payment.StageAuthorization: func(p staffPayment) *person { return c.authorizers[p.index%len(c.authorizers)] },
	}
	if len(stages) == 0 {
		stages = payment.Stages
	}
	for _, st := range stages {
		byPerson := map[*person][]string{}
		for _, p := range ps {
			w := who[st](p)
			byPerson[w] = append(byPerson[w], p.id)
		}
		var fns []func() error
		for w, ids := range byPerson {
			fns = append(fns, func() error {
				for _, id := range ids {
					if err := w.approveSure(s, id, st); err != nil {
						return err
					}
				}
				return nil
			})
		}
		parallel(s.e.t, fns...)
	}
}

// clusterRow is one line of the cluster table.
type clusterRow struct {
	Scenario                     string
	Published, Publishes, Stored int
	Answered                     string
	Lost, Duplicated, Unexpected int
	OTPReuses, ReplaysRefused    int
	Faults                       int
	Took                         time.Duration
	Failed                       bool
}

var clusterTable struct {
	sync.Mutex
	rows       []clusterRow
	throughput []string // and the scenarios' notes
}

// noted adds a line under the cluster table.
func (e *env) noted(line string) {
	clusterTable.Lock()
	defer clusterTable.Unlock()
	clusterTable.throughput = append(clusterTable.throughput, e.name+": "+line)
}

const clusterHeader = "SCENARIO                  PUBLISHED  PUBLISHES  STORED  ANSWERED   LOST  DUPLICATED  UNEXPECTED  OTP-REUSES  REPLAYS-REFUSED  FAULTS  SECONDS  RESULT"

func (r clusterRow) String() string {
	result := "ok"
	if r.Failed {
		result = "FAIL"
	}
	return fmt.Sprintf("%-25s %9d  %9d  %6d  %-9s  %4d  %10d  %10d  %10d  %15d  %6d  %7.1f  %s", r.Scenario, r.Published,
		r.Publishes, r.Stored, r.Answered, r.Lost, r.Duplicated, r.Unexpected, r.OTPReuses, r.ReplaysRefused, r.Faults,
		r.Took.Seconds(), result)
}

// clusterCheck is check for a cluster scenario: the same checker, and a
// row of the cluster table with the OTP steps used twice (must be 0) and
// the replays refused.
func (e *env) clusterCheck(p *plan, opts checkOptions, replaysRefused int) result {
	e.t.Helper()
	e.pool.Reset() // connections from before a failover are gone
	r := e.settle(p, opts)
	e.finish(p, r)
	reuses := e.count(`SELECT coalesce(sum(n - 1), 0) FROM (
			SELECT count(*) AS n FROM (
				SELECT actor_id, otp_step FROM decisions WHERE outcome = 'applied' AND otp_step IS NOT NULL AND batch_id IS NULL
				UNION ALL SELECT actor_id, otp_step FROM decision_batches WHERE otp_step IS NOT NULL) used
			GROUP BY actor_id, otp_step HAVING count(*) > 1) twice`)
	rw := clusterRow{Scenario: e.name, Published: r.messages, Publishes: p.publishes(), Stored: e.stored(),
		Answered: fmt.Sprintf("%d/%d", r.answersGot, r.answersWant), Lost: r.lost(), Duplicated: r.duplicated,
		Unexpected: r.unexpected, OTPReuses: reuses, ReplaysRefused: replaysRefused, Faults: e.faultCount(),
		Took: time.Since(e.began), Failed: e.t.Failed() || reuses > 0}
	clusterTable.Lock()
	clusterTable.rows = append(clusterTable.rows, rw)
	clusterTable.Unlock()
	e.t.Logf("\n%s\n%s", clusterHeader, rw)
	require.Zero(e.t, reuses, "an OTP step used twice")
	return r
}

// clusterReport prints the cluster table and writes it to
// var/faults-cluster-last-run.txt of the module.
func clusterReport() {
	clusterTable.Lock()
	defer clusterTable.Unlock()
	if len(clusterTable.rows) == 0 && len(clusterTable.throughput) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "b2bpay fault suite on the cluster, %s\n%s\n", time.Now().UTC().Format(time.RFC3339), clusterHeader)
	for _, r := range clusterTable.rows {
		b.WriteString(r.String() + "\n")
	}
	for _, l := range clusterTable.throughput {
		b.WriteString(l + "\n")
	}
	fmt.Print(b.String())
	path := filepath.Join("..", "var", "faults-cluster-last-run.txt")
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil {
		err = os.WriteFile(path, []byte(b.String()), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults: write the cluster report:", err)
	}
}

// replay sends a decision with a code already used and requires it
// refused with otp_replayed, nothing changed.
func (e *env) replay(s *server, who *person, sp staffPayment, stage payment.Stage, code string) {
	e.t.Helper()
	who.mu.Lock()
	defer who.mu.Unlock()
	e.refusal(who, sp, stage, payment.VerdictApprove, payment.CodeOTPReplayed, "otp_replay", func() (approval.Result, error) {
		return who.decide(s, sp.id, stage, payment.VerdictApprove, code)
	})
}

// intakeLeader is the node leading the scenario's intake queue.
func (e *env) intakeLeader(ce cluster.Env) int { return e.leader(ce, route.IntakeQueue) }

// netTick is the nodes' net_ticktime, in seconds.
func netTick(t *testing.T, ce cluster.Env) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := ce.Ctl(ctx, 1, "eval", "net_kernel:get_net_ticktime().")
	require.NoError(t, err)
	s, err := strconv.Atoi(strings.TrimSpace(out))
	require.NoError(t, err, "net_ticktime %q", out)
	return time.Duration(s) * time.Second
}
