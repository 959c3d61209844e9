package faults

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/cluster"
	"github.com/b2bpay/b2bpay/payment"
)

// TestClusterThroughput measures the same steady stream (requests
// through intake, every one answered, two serve processes) on the system
// broker and database and on the cluster, one after the other in the same
// run: requests per second each and their ratio.
func TestClusterThroughput(t *testing.T) {
	ce := needCluster(t)
	n := 1500
	single := throughput(t, newEnv(t, "throughput-single"), n)
	multi := throughput(t, newEnvOn(t, "throughput-cluster", clusterWorld(t, ce)), n)
	line := fmt.Sprintf("THROUGHPUT %d requests through intake, answered, two serve processes: single broker and database %.0f/s, "+
		"3-node cluster and synchronous standby %.0f/s, cluster/single %.2f", n, single, multi, multi/single)
	t.Log(line)
	clusterTable.Lock()
	clusterTable.throughput = append(clusterTable.throughput, line)
	clusterTable.Unlock()
}

// throughput publishes n requests in batches of 50 as fast as the broker
// confirms them and returns requests per second from the first publish to
// the last answer.
func throughput(t *testing.T, e *env, n int) float64 {
	t.Helper()
	workers, full := e.twoServes()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	ms := series("tput", n)
	p.add(ms...)
	c := e.collect()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	require.NoError(t, pub.send(ctx, ms, 50, 0))
	waitUntil(t, 3*time.Minute, "every answer", func() bool {
		a, _ := c.snapshot()
		return len(a) >= n
	})
	took := time.Since(start)
	e.clusterCheck(p, checkOptions{}, 0)
	workers.stop()
	full.stop()
	return float64(n) / took.Seconds()
}

// TestClusterKillNodes kills with SIGKILL the node leading the intake
// queue while requests are published and taken in, then another node (one
// of three left: the quorum queues stop until a node is back), then starts
// both again: the stream goes on, nothing lost or doubled.
func TestClusterKillNodes(t *testing.T) {
	ce := needCluster(t)
	e := newEnvOn(t, "cluster-kill-nodes", clusterWorld(t, ce))
	n := 600
	workers, full := e.twoServes()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	ms := series("ckill", n)
	p.add(ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	done := pub.stream(ctx, ms, 10, 250*time.Millisecond)

	e.waitStored(pub, n/5, 2*time.Minute, "stored")
	first := e.intakeLeader(ce)
	e.fault(ce, "rmq-kill", strconv.Itoa(first))
	e.waitStored(pub, e.stored()+n/5, 2*time.Minute, "stored on two nodes")
	second := e.intakeLeader(ce) // the new leader
	if second == first {
		second = first%len(ce.Nodes) + 1
	}
	e.fault(ce, "rmq-kill", strconv.Itoa(second))
	time.Sleep(5 * time.Second)
	require.Less(t, e.stored(), n, "killed mid-stream")
	parallel(t, func() error { return start(ce, first) }, func() error { return start(ce, second) })
	waitHealthy(t, ce, 3*time.Minute)
	require.NoError(t, <-done)
	e.clusterCheck(p, checkOptions{timeout: 3 * time.Minute}, 0)
	workers.stop()
	full.stop()
}

// start starts node n again; n 0 resumes every paused node.
func start(ce cluster.Env, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if n == 0 {
		var errs []error
		for i := range ce.Nodes {
			_, err := ce.Run(ctx, "rmq-resume", strconv.Itoa(i+1))
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	_, err := ce.Run(ctx, "rmq-start", strconv.Itoa(n))
	return err
}

// TestClusterPartition stops the node leading the intake queue with
// SIGSTOP for longer than the net tick, so the other two drop it (a
// partition, as a cut network would make), while the stream goes on
// through the majority; then SIGCONT: autoheal restarts the paused node,
// which rejoins.
func TestClusterPartition(t *testing.T) {
	ce := needCluster(t)
	tick := netTick(t, ce)
	e := newEnvOn(t, "cluster-partition", clusterWorld(t, ce))
	n := 500
	paused := tick + 40*time.Second
	workers, full := e.twoServes()
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	ms := series("cpart", n)
	p.add(ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// The stream lasts about the pause and 40 s more.
	done := pub.stream(ctx, ms, 10, (paused+40*time.Second)/time.Duration(n/10))

	waitUntil(t, 2*time.Minute, "stored", func() bool { return e.stored() >= n/10 })
	victim := e.intakeLeader(ce)
	e.fault(ce, "rmq-pause", strconv.Itoa(victim))
	t.Cleanup(func() { _ = start(ce, 0) }) // not left paused if the scenario fails
	// What the majority stores while the node is cut off, every 5 s: the
	// nodes wait for the paused one until the net tick declares it down.
	paused0 := time.Now()
	before, last := e.stored(), e.stored()
	var samples []string
	for time.Since(paused0) < paused {
		time.Sleep(5 * time.Second)
		if n := e.stored(); n != last {
			samples = append(samples, fmt.Sprintf("+%d at %.0f s", n-last, time.Since(paused0).Seconds()))
			last = n
		}
	}
	t.Logf("node %d paused %s (net tick %s): %d requests stored meanwhile (%s)", victim, paused, tick, last-before,
		strings.Join(samples, ", "))
	e.noted(fmt.Sprintf("%d stored while node %d was paused %.0f s %v", last-before, victim, paused.Seconds(), samples))
	e.fault(ce, "rmq-resume", strconv.Itoa(victim))
	waitHealthy(t, ce, 3*time.Minute)
	require.NoError(t, <-done)
	e.clusterCheck(p, checkOptions{timeout: 3 * time.Minute}, 0)
	workers.stop()
	full.stop()
}

// TestClusterPostgresFailover stops the PostgreSQL primary while requests
// stream in, promotes the standby and lets b2bpay reconnect through the
// multi-host URL, then rejoins the old primary as the standby. Decisions
// with one-time passwords are made before and after: an authorizer's
// code committed just before the stop is refused as a replay by the
// promoted standby, and each step is used once.
func TestClusterPostgresFailover(t *testing.T) {
	ce := needCluster(t)
	e := newEnvOn(t, "cluster-pg-failover", clusterWorld(t, ce))
	e.scenarioEnv = []string{"B2BPAY_CUTOFFS=" + quietCutoffs()}
	workers, full := e.twoServes()
	crew := e.newCrew(full, 6)
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	reqs := crew.requests("cfo", 0, 6)
	p.add(msgs(reqs)...)
	reqs = e.submit(pub, reqs)
	crew.approveAllSure(full, reqs, payment.StageConfirmation, payment.StageReview)
	crew.approveAllSure(full, []staffPayment{reqs[0], reqs[2]}, payment.StageAuthorization)

	n := 400
	ms := series("cfo-stream", n)
	p.add(ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	done := pub.stream(ctx, ms, 10, 300*time.Millisecond)
	waitUntil(t, 2*time.Minute, "stored", func() bool { return e.stored() >= len(reqs)+n/5 })

	// An authorization committed (on the primary and its synchronous
	// standby) just before the primary stops.
	au := crew.authorizers[1]
	au.mu.Lock()
	code := au.lastingCode()
	res, err := au.decide(full, reqs[1].id, payment.StageAuthorization, payment.VerdictApprove, code)
	au.mu.Unlock()
	require.NoError(t, err)
	require.Equal(t, approval.Applied, res.Outcome, "%s %s", res.Code, res.Reason)

	e.fault(ce, "pg-stop-primary")
	e.fault(ce, "pg-promote")
	e.pool.Reset()
	waitUntil(t, time.Minute, "the promoted standby answers", func() bool { return e.stored() >= 0 })
	at := e.stored()
	waitUntil(t, 2*time.Minute, "b2bpay stores on the promoted standby", func() bool { return e.stored() > at })

	// The same code again, on another payment: a replay.
	require.Equal(t, 3%len(crew.authorizers), 1, "payment 3 is authorized by the authorizer of payment 1")
	e.replay(full, au, reqs[3], payment.StageAuthorization, code)
	crew.approveAllSure(full, reqs[3:], payment.StageAuthorization)

	e.fault(ce, "pg-rejoin")
	require.NoError(t, <-done)
	var events []string
	for _, r := range reqs {
		events = append(events, eventsUpTo(r.requestID, payment.StateAuthorized)...)
	}
	e.clusterCheck(p, checkOptions{timeout: 3 * time.Minute, events: events,
		states: []payment.State{payment.StateAwaitingConfirmation, payment.StateAuthorized}}, 1)
	require.Equal(t, len(reqs), e.count(`SELECT count(*) FROM payments WHERE state = 'authorized'`))
	workers.stop()
	full.stop()
}

// TestClusterRollingRestart restarts the three brokers one at a time,
// each back in the cluster before the next, while requests stream in,
// the staff decide with one-time passwords and the cutoff (every minute)
// exports what is authorized.
func TestClusterRollingRestart(t *testing.T) {
	ce := needCluster(t)
	e := newEnvOn(t, "cluster-rolling-restart", clusterWorld(t, ce))
	e.exportSetup()
	workers, full := e.twoServes("--cutoff-tick", "1s")
	crew := e.newCrew(full, 6)
	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	reqs := crew.requests("croll", 0, 6)
	p.add(msgs(reqs)...)
	reqs = e.submit(pub, reqs)

	n := 400
	ms := series("croll-stream", n)
	p.add(ms...)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	done := pub.stream(ctx, ms, 10, time.Second)
	// Half the payments authorized early in a minute; the restarts begin 3 s
	// before the next, whose cutoff exports them while node 1 restarts; the
	// other half is decided during the restarts.
	sleepUntil(time.Now().Truncate(time.Minute).Add(time.Minute + time.Second))
	crew.approveAllSure(full, reqs[:3])
	boundary := time.Now().Truncate(time.Minute).Add(time.Minute)
	require.Zero(t, e.count(`SELECT count(*) FROM payments WHERE state = 'exported'`), "approved before the minute's cutoff")
	sleepUntil(boundary.Add(-3 * time.Second))
	rollStart := time.Now()
	stages := payment.Stages
	require.NoError(t, e.rollingRestart(ce, func(n int) {
		crew.approveAllSure(full, reqs[3:], stages[n-1]) // each stage while a node is down
	}))
	rollEnd := time.Since(rollStart)
	var during bool
	for _, at := range e.cutoffRuns() {
		during = during || (!at.Before(rollStart) && at.Before(rollStart.Add(rollEnd)))
	}
	require.True(t, during, "a cutoff runs during the restarts")
	waitHealthy(t, ce, 3*time.Minute)
	waitUntil(t, 3*time.Minute, "the cutoff exports the authorized payments", func() bool {
		return e.stored() >= 0 && e.count(`SELECT count(*) FROM payments WHERE state = 'exported'`) == len(reqs)
	})
	require.NoError(t, <-done)
	var runs []string
	for _, at := range e.cutoffRuns() {
		if d := at.Sub(rollStart); d > -time.Minute {
			runs = append(runs, fmt.Sprintf("%+.0f s", d.Seconds()))
		}
	}
	e.noted(fmt.Sprintf("restarts from 0 to %.0f s, cutoffs at %s", rollEnd.Seconds(), strings.Join(runs, ", ")))
	var events []string
	for _, r := range reqs {
		events = append(events, eventsUpTo(r.requestID, payment.StateExported)...)
	}
	e.clusterCheck(p, checkOptions{timeout: 3 * time.Minute, events: events,
		states: []payment.State{payment.StateAwaitingConfirmation, payment.StateExported}}, 0)
	workers.stop()
	full.stop()
}

// rollingRestart restarts node 1, 2 and 3 in turn, each a fault: a clean
// stop, while the node is down during(n), a start, and the node back among
// the running before the next.
func (e *env) rollingRestart(ce cluster.Env, during func(n int)) error {
	for n := 1; n <= len(ce.Nodes); n++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		started := time.Now()
		out, err := ce.Run(ctx, "rmq-stop", strconv.Itoa(n))
		if err == nil {
			during(n)
			out, err = ce.Run(ctx, "rmq-start", strconv.Itoa(n))
		}
		if err == nil {
			for ctx.Err() == nil {
				if st, serr := status(ctx, ce, 1+n%len(ce.Nodes)); serr == nil && len(st.RunningNodes) == len(ce.Nodes) {
					break
				}
				time.Sleep(time.Second)
			}
			err = ctx.Err()
		}
		cancel()
		if err != nil {
			return fmt.Errorf("restart of node %d: %w: %s", n, err, out)
		}
		e.t.Logf("node %d stopped, decisions made, started, back in %.1f s", n, time.Since(started).Seconds())
		e.injected(1)
	}
	return nil
}
