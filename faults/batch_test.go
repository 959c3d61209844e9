package faults

import (
	"context"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/crash"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/staff"
)

// TestBatchDecisions: people decide overlapping sets of payments in batch
// decisions (one OTP each) at every stage at once, against two serve
// processes on the same queues. At confirmation ann's batch also names two
// payments of ap1 (refused not_applicant, or already_decided once his own
// batch confirmed them), while ap1 confirms his with the binary (`b2bpay
// confirm ID...`, the code from oathtool); one serve stops at
// decision-after-commit, a batch committed and never acked: the other
// serve gets it again and answers its first result. At review and
// authorization the two people's batches share a third of the payments:
// one applies each, the other finds it already decided; one serve is
// killed with SIGKILL once the first authorization batch is committed,
// with the other in flight, and started again. Last, a batch is sent
// again with its id: its first result, nothing written.
//
// Every batch is answered, every copy of its answer is its first result
// (the one stored), every item has one outcome, each payment is moved
// once per stage, each batch uses one OTP step of its person, the checker
// finds nothing lost, duplicated or unexpected, and PostgreSQL detected no
// deadlock in the scenario's database.
func TestBatchDecisions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "batch-decisions")
	e.scenarioEnv = []string{"B2BPAY_CUTOFFS=" + quietCutoffs()} // nothing is exported meanwhile
	n := size(60, 600)                                           // payments; a batch at review or authorization takes 2n/3
	mark := func(what string) { t.Logf("%5.1f s  %s", time.Since(e.began).Seconds(), what) }
	a, b := e.serve(crash.DecisionAfterCommit), e.serve("")
	a.ready()
	b.ready()

	// Two people per stage (ann is seeded): enough to overlap, few to
	// enrol (each costs three commands and a password hash).
	roles := map[string][]payment.Role{"ann": {payment.RoleApplicant}, "ap1": {payment.RoleApplicant}}
	for i := range 2 {
		roles[fmt.Sprintf("rv%d", i)] = []payment.Role{payment.RoleReviewer}
		roles[fmt.Sprintf("au%d", i)] = []payment.Role{payment.RoleAuthorizer}
	}
	ppl := e.people("C1", roles)
	var everyone []*person
	for _, p := range ppl {
		everyone = append(everyone, p)
	}
	loginAll(b, everyone...)
	applicants := []*person{ppl["ann"], ppl["ap1"]}
	reviewers, authorizers := []*person{ppl["rv0"], ppl["rv1"]}, []*person{ppl["au0"], ppl["au1"]}

	pub := e.publisher("erp", nil)
	p := &plan{}
	p.publishers(pub)
	reqs := crew{applicants: applicants}.requests("batch", 0, n)
	p.add(msgs(reqs)...)
	reqs = e.submit(pub, reqs)
	deadlocks := func() int {
		return e.count(`SELECT deadlocks FROM pg_stat_database WHERE datname = $1`, e.dbName)
	}
	deadlocksBefore := deadlocks()
	mark("staff signed in, payments stored")

	var all []*rawBatch
	// Confirmation: ann's batch names her payments and two of ap1's; ap1
	// confirms his with the binary, `b2bpay confirm ID...` (one batch, one
	// code, from oathtool). Serve a stops right after committing the first
	// batch it takes; b answers it again from the database.
	own := func(who *person) []string {
		var ids []string
		for _, r := range reqs {
			if r.applicant == who {
				ids = append(ids, r.id)
			}
		}
		return ids
	}
	ann, ap1 := applicants[0], applicants[1]
	conf := []*rawBatch{e.prepareBatch(b, ann, payment.StageConfirmation, append(own(ann), own(ap1)[:2]...))}
	cli := make(chan ran, 1)
	go func() {
		code := oathtool(t, ap1.seed)
		args := append([]string{"confirm"}, own(ap1)...)
		r, err := e.run(nil, "", append(args, "--otp", code, "--wait", "90s", "--api-url", b.apiURL(), "--session-file", ap1.session)...)
		if err != nil {
			r.code, r.stderr = -1, err.Error()
		}
		cli <- r
	}()
	results := e.sendBatches(conf)
	confirmed := <-cli
	a.crashed(60 * time.Second)
	a = e.serveReady()
	mark("confirmed; serve 1 crashed after a batch's commit, started again")
	all = append(all, conf...)
	for _, it := range results[0].Items {
		if e.applicantOf(reqs, it.PaymentID) == ann {
			require.Equal(t, approval.Applied, it.Outcome, "ann confirms %s: %s", it.PaymentID, it.Reason)
			continue
		}
		// ap1's payment: refused, as not hers or (once his batch
		// confirmed it) as decided.
		require.Contains(t, []payment.Code{payment.CodeNotApplicant, payment.CodeAlreadyDecided}, it.Code,
			"ann confirms %s: %s", it.PaymentID, it.Reason)
	}
	require.Equal(t, 0, confirmed.code, "b2bpay confirm of ap1's %d payments:\n%s%s", len(own(ap1)), confirmed.stdout, confirmed.stderr)
	m := batchLine.FindStringSubmatch(confirmed.stdout)
	require.NotNil(t, m, confirmed.stdout)
	require.Equal(t, fmt.Sprintf("%d", len(own(ap1))), m[2], confirmed.stdout)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM decision_batches WHERE id = $1 AND actor_id = 'ap1' AND outcome = 'applied'
		AND item_count = $2`, m[1], len(own(ap1))), "ap1's batch is stored as the binary printed it")

	// Review: reviewer k takes every payment whose number is not k mod 3:
	// both name the payments numbered 2 mod 3.
	overlapping := func(who []*person, stage payment.Stage, s *server) []*rawBatch {
		var out []*rawBatch
		for k, w := range who {
			var ids []string
			for _, r := range reqs {
				if r.index%3 != k {
					ids = append(ids, r.id)
				}
			}
			out = append(out, e.prepareBatch(s, w, stage, ids))
		}
		return out
	}
	rev := overlapping(reviewers, payment.StageReview, b)
	results = e.sendBatches(rev)
	all = append(all, rev...)
	e.requireOncePerPayment(rev, results, reqs)
	mark("reviewed")

	// Authorization, with serve b killed once the first batch is committed.
	auth := overlapping(authorizers, payment.StageAuthorization, a)
	for _, rb := range auth {
		require.NoError(t, rb.send())
	}
	committed := func() int {
		return e.count(`SELECT count(*) FROM decision_batches WHERE stage = 'authorization'`)
	}
	waitUntil(t, 30*time.Second, "the first authorization batch committed", func() bool { return committed() > 0 })
	b.kill9()
	e.injected(1)
	t.Logf("serve %d killed with %d of %d authorization batches committed", b.n, committed(), len(auth))
	b = e.serveReady()
	results = e.awaitBatches(auth)
	all = append(all, auth...)
	e.requireOncePerPayment(auth, results, reqs)
	mark("authorized")

	// The same batch sent again: its first result again, nothing more.
	again := auth[0]
	copies := func() int { again.mu.Lock(); defer again.mu.Unlock(); return len(again.copies) }
	before, rows := copies(), e.count(`SELECT count(*) FROM decisions`)
	require.NoError(t, again.send())
	e.injected(1)
	waitUntil(t, 30*time.Second, "the batch sent again answered", func() bool { return copies() > before })
	require.Equal(t, rows, e.count(`SELECT count(*) FROM decisions`), "a batch sent again writes no decision")

	// Every batch answered with its first result, the one stored, however
	// many copies arrived; its items' rows point to it; one OTP step each.
	for _, rb := range all {
		e.requireFirstResult(rb)
	}
	require.Equal(t, len(all)+1, e.count(`SELECT count(DISTINCT (actor_id, otp_step)) FROM decision_batches WHERE otp_step IS NOT NULL`),
		"each batch (ap1's from the binary too) used an OTP step of its own")
	require.Equal(t, len(all)+1, e.count(`SELECT count(*) FROM decision_batches`))
	require.Equal(t, 3*n, e.count(`SELECT count(*) FROM decisions WHERE outcome = 'applied' AND batch_id IS NOT NULL`),
		"each payment moved once per stage, by a batch")

	var events []string
	for _, r := range reqs {
		require.Equal(t, string(payment.StateAuthorized), e.state(r.id), r.requestID)
		events = append(events, eventsUpTo(r.requestID, payment.StateAuthorized)...)
	}
	mark("results checked")
	e.check(p, checkOptions{states: []payment.State{payment.StateAuthorized}, events: events, timeout: 2 * time.Minute})
	mark("checker done")
	require.Contains(t, e.cli("verify"), fmt.Sprintf("%d payments checked, 0 broken", n))
	a.stop()
	b.stop()
	// A backend's counts reach pg_stat_database when it ends at the latest.
	time.Sleep(time.Second)
	require.Equal(t, deadlocksBefore, deadlocks(), "no deadlock detected in the scenario's database")
}

// rawBatch is a batch decision published straight to the decisions
// exchange with a person's session, as the staff client sends it (the
// items read through the API first), with a reply queue of its own that
// keeps every copy of the result that arrives.
type rawBatch struct {
	who    *person
	bd     route.BatchDecision
	key    []byte
	conn   *amqp.Connection
	ch     *amqp.Channel
	reply  string
	mu     sync.Mutex
	copies [][]byte
	first  chan struct{}
}

// prepareBatch reads the payments as who sees them through s's API, sums
// them up (approval.Summarize, as the client does), draws a code that
// lasts and opens the reply queue. The batch is approved, not
// all-or-nothing.
func (e *env) prepareBatch(s *server, who *person, stage payment.Stage, ids []string) *rawBatch {
	e.t.Helper()
	t := e.t
	items := make([]approval.BatchItem, len(ids))
	for i, id := range ids {
		var amount int64
		var currency string
		require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT amount_minor, currency FROM payments WHERE id = $1`, id).
			Scan(&amount, &currency))
		items[i] = approval.BatchItem{PaymentID: id, Digest: who.digest(s, id), Currency: currency, AmountMinor: amount}
	}
	count, totals, digest, err := approval.Summarize(stage, payment.VerdictApprove, items)
	require.NoError(t, err)
	raw, err := os.ReadFile(who.session)
	require.NoError(t, err)
	var sess staff.Session
	require.NoError(t, json.Unmarshal(raw, &sess))
	key, err := hex.DecodeString(sess.DecisionKey)
	require.NoError(t, err)
	who.mu.Lock()
	code := who.lastingCode()
	who.mu.Unlock()
	rb := &rawBatch{who: who, key: key, first: make(chan struct{}),
		bd: route.BatchDecision{Schema: route.DecisionBatchSchema, DecisionID: staff.NewDecisionID(), Token: sess.Token, Stage: stage,
			Verdict: payment.VerdictApprove, OTP: code, Items: items, Count: count, Totals: totals, BatchDigest: digest}}
	rb.conn, err = amqp.Dial(e.amqpURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rb.conn.Close() })
	rb.ch, err = rb.conn.Channel()
	require.NoError(t, err)
	q, err := rb.ch.QueueDeclare(route.ReplyQueue(sess.UserID), false, true, true, false, nil)
	require.NoError(t, err)
	rb.reply = q.Name
	ds, err := rb.ch.Consume(q.Name, "", true, true, false, false, nil)
	require.NoError(t, err)
	go func() {
		for d := range ds {
			var res approval.BatchResult
			if json.Unmarshal(d.Body, &res) != nil || res.DecisionID != rb.bd.DecisionID {
				continue
			}
			rb.mu.Lock()
			rb.copies = append(rb.copies, d.Body)
			if len(rb.copies) == 1 {
				close(rb.first)
			}
			rb.mu.Unlock()
		}
	}()
	return rb
}

// send signs the batch with the session's decision key and publishes it.
func (rb *rawBatch) send() error {
	rb.bd.Sign(rb.key)
	body, err := json.Marshal(rb.bd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rb.ch.PublishWithContext(ctx, route.DecisionsExchange, route.DecisionKey, true, false, amqp.Publishing{
		MessageId: rb.bd.DecisionID, CorrelationId: rb.bd.DecisionID, ReplyTo: rb.reply, ContentType: "application/json",
		DeliveryMode: amqp.Persistent, Body: body,
	})
}

// result is the first copy of the batch's result.
func (rb *rawBatch) result(wait time.Duration) (approval.BatchResult, error) {
	select {
	case <-rb.first:
	case <-time.After(wait):
		return approval.BatchResult{}, fmt.Errorf("no result for batch %s of %s within %s", rb.bd.DecisionID, rb.who.id, wait)
	}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	var res approval.BatchResult
	err := json.Unmarshal(rb.copies[0], &res)
	return res, err
}

// sendBatches sends the batches at the same instant and waits for their
// results.
func (e *env) sendBatches(bs []*rawBatch) []approval.BatchResult {
	e.t.Helper()
	for _, rb := range bs {
		require.NoError(e.t, rb.send())
	}
	return e.awaitBatches(bs)
}

// awaitBatches waits for the batches' results: each answers every item
// once, in the batch's count.
func (e *env) awaitBatches(bs []*rawBatch) []approval.BatchResult {
	e.t.Helper()
	out := make([]approval.BatchResult, len(bs))
	for i, rb := range bs {
		res, err := rb.result(90 * time.Second)
		require.NoError(e.t, err)
		require.Empty(e.t, res.Code, "batch %s of %s refused as a whole: %s", rb.bd.DecisionID, rb.who.id, res.Reason)
		require.Equal(e.t, len(rb.bd.Items), res.Count)
		require.Equal(e.t, res.Count, res.Applied+res.Refused)
		var want, got []string
		for _, it := range rb.bd.Items {
			want = append(want, it.PaymentID)
		}
		for _, it := range res.Items {
			got = append(got, it.PaymentID)
			require.Equal(e.t, it.Outcome == approval.Applied, it.Code == "", "%s: %s %s", it.PaymentID, it.Outcome, it.Code)
		}
		sort.Strings(want)
		sort.Strings(got)
		require.Equal(e.t, want, got, "one outcome per item of batch %s", rb.bd.DecisionID)
		out[i] = res
	}
	return out
}

// requireOncePerPayment: across the overlapping batches of a stage, each
// payment is applied by exactly one; every other batch naming it finds it
// already decided.
func (e *env) requireOncePerPayment(bs []*rawBatch, results []approval.BatchResult, reqs []staffPayment) {
	e.t.Helper()
	named, applied, refused := map[string]int{}, map[string]int{}, map[string]int{}
	for i, res := range results {
		for _, it := range bs[i].bd.Items {
			named[it.PaymentID]++
		}
		for _, it := range res.Items {
			if it.Outcome == approval.Applied {
				applied[it.PaymentID]++
				continue
			}
			require.Equal(e.t, payment.CodeAlreadyDecided, it.Code, "%s of %s by %s: %s", bs[i].bd.Stage, it.PaymentID, bs[i].who.id, it.Reason)
			refused[it.PaymentID]++
		}
	}
	overlaps := 0
	for _, r := range reqs {
		require.Equal(e.t, 1, applied[r.id], "%s applied once at %s", r.requestID, bs[0].bd.Stage)
		require.Equal(e.t, named[r.id]-1, refused[r.id], "%s found decided by every other batch at %s", r.requestID, bs[0].bd.Stage)
		if named[r.id] > 1 {
			overlaps++
		}
	}
	require.Positive(e.t, overlaps, "the batches overlap")
}

// requireFirstResult: every copy of the batch's result that arrived is the
// result stored with the batch (its first), and the batch's item rows are
// its items.
func (e *env) requireFirstResult(rb *rawBatch) {
	e.t.Helper()
	var stored []byte
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT result FROM decision_batches WHERE id = $1`, rb.bd.DecisionID).Scan(&stored))
	var want approval.BatchResult
	require.NoError(e.t, json.Unmarshal(stored, &want))
	rb.mu.Lock()
	copies := append([][]byte(nil), rb.copies...)
	rb.mu.Unlock()
	require.NotEmpty(e.t, copies)
	canonical := func(r approval.BatchResult) string {
		b, err := json.Marshal(r)
		require.NoError(e.t, err)
		return string(b)
	}
	for _, c := range copies {
		var got approval.BatchResult
		require.NoError(e.t, json.Unmarshal(c, &got))
		require.Equal(e.t, canonical(want), canonical(got), "every answer of batch %s is its first result", rb.bd.DecisionID)
	}
	if len(copies) > 1 {
		e.t.Logf("batch %s of %s answered %d times, each time with its first result", rb.bd.DecisionID, rb.who.id, len(copies))
	}
	require.Equal(e.t, len(rb.bd.Items), e.count(`SELECT count(*) FROM decisions WHERE batch_id = $1`, rb.bd.DecisionID))
}

// batchLine is the last line `b2bpay confirm` prints of a batch's result.
var batchLine = regexp.MustCompile(`(?m)^batch (\S+): applied, (\d+) applied, 0 refused of \d+$`)

// oathtool draws the current code of a seed with oathtool(1), an
// authenticator b2bpay did not write.
func oathtool(t *testing.T, seed []byte) string {
	out, err := exec.Command("oathtool", "--totp", "-b", base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(seed)).Output()
	if err != nil {
		t.Errorf("oathtool: %v", err)
		return ""
	}
	return strings.TrimSpace(string(out))
}

// applicantOf is the applicant of the scenario's payment id.
func (e *env) applicantOf(reqs []staffPayment, id string) *person {
	for _, r := range reqs {
		if r.id == id {
			return r.applicant
		}
	}
	e.t.Fatalf("no payment %s in the scenario", id)
	return nil
}
