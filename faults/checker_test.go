package faults

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
)

// collector reads every answer (the upstreams' status queues) and every
// dead letter of the scenario's vhost, acking each after it is recorded,
// and reconnects when its connection is closed.
type collector struct {
	url     string
	queues  []string
	tries   int // connections tried: a cluster's nodes are dialled in turn
	mu      sync.Mutex
	answers map[string]*seen // by event id
	dead    map[string]*seen // by message id
	cancel  context.CancelFunc
	done    chan struct{}
}

// seen is what arrived under one message id.
type seen struct {
	copies  int
	summary string // what must be the same in every copy
	differs bool
	ev      payment.Event
	code    string // a dead letter's reason code
}

// collect starts the collector (once) and returns it.
func (e *env) collect() *collector {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.collector != nil {
		return e.collector
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{url: e.amqpURL, cancel: cancel, done: make(chan struct{}),
		queues:  []string{route.StatusQueue("erp"), route.StatusQueue("mall"), route.IntakeDeadQueue},
		answers: map[string]*seen{}, dead: map[string]*seen{}}
	e.collector = c
	e.t.Cleanup(func() { c.cancel(); <-c.done })
	go c.run(ctx)
	return c
}

func (c *collector) run(ctx context.Context) {
	defer close(c.done)
	for ctx.Err() == nil {
		_ = c.once(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *collector) once(ctx context.Context) error {
	urls := rabbitmq.SplitURLs(c.url)
	c.tries++
	conn, err := amqp.DialConfig(urls[c.tries%len(urls)], amqp.Config{Properties: amqp.Table{"connection_name": "b2bpay-faults-collector"}})
	if err != nil {
		return err
	}
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(200, 0, false); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer conn.Close()
	for _, q := range c.queues {
		ds, err := ch.Consume(q, "", false, false, false, false, nil)
		if err != nil {
			return err // the queue is not declared yet
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range ds {
				c.record(q, d)
				_ = d.Ack(false)
			}
		}()
	}
	select {
	case <-ctx.Done():
	case <-closed:
	}
	return nil
}

func (c *collector) record(queue string, d amqp.Delivery) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if queue == route.IntakeDeadQueue {
		code, _ := d.Headers[route.HeaderReasonCode].(string)
		sum := sha256.Sum256(d.Body)
		add(c.dead, d.MessageId, &seen{code: code, summary: code + "/" + hex.EncodeToString(sum[:])})
		return
	}
	var ev payment.Event
	if err := json.Unmarshal(d.Body, &ev); err != nil || ev.ID != d.MessageId {
		add(c.answers, d.MessageId, &seen{summary: "unreadable: " + string(d.Body), differs: true})
		return
	}
	add(c.answers, ev.ID, &seen{ev: ev, summary: fmt.Sprintf("%s %s %s %s %s", ev.Kind, ev.RequestID, ev.PaymentID, ev.Code, ev.State)})
}

func add(m map[string]*seen, id string, s *seen) {
	prev, ok := m[id]
	if !ok {
		s.copies = 1
		m[id] = s
		return
	}
	prev.copies++
	if prev.summary != s.summary {
		prev.differs = true
	}
}

// copiesOf returns how many copies of an answer arrived.
func (c *collector) copiesOf(eventID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.answers[eventID]; ok {
		return s.copies
	}
	return 0
}

func (c *collector) snapshot() (answers, dead map[string]seen) {
	c.mu.Lock()
	defer c.mu.Unlock()
	answers, dead = make(map[string]seen, len(c.answers)), make(map[string]seen, len(c.dead))
	for k, v := range c.answers {
		answers[k] = *v
	}
	for k, v := range c.dead {
		dead[k] = *v
	}
	return answers, dead
}

// checkOptions tune a check.
type checkOptions struct {
	// states a payment may be in; default awaiting_confirmation.
	states []payment.State
	// timeout bounds the wait for everything to arrive; default 60 s.
	timeout time.Duration
	// pendingOK does not wait for an empty outbox.
	pendingOK bool
	// events are the ids of status events expected besides the answers
	// (state_changed events of later stages).
	events []string
}

// result is the checker's verdict.
type result struct {
	messages                           int
	lostRecords, lostAnswers, lostDead int
	duplicated, unexpected             int
	answersGot, answersWant            int
	deadGot, deadWant                  int
	pending                            int
	notes                              []string
}

func (r result) lost() int { return r.lostRecords + r.lostAnswers + r.lostDead }

func (r *result) note(format string, args ...any) {
	if len(r.notes) < 12 {
		r.notes = append(r.notes, fmt.Sprintf(format, args...))
	} else if len(r.notes) == 12 {
		r.notes = append(r.notes, "…")
	}
}

// check waits until every message published has its record, answer and
// dead letter (and the outbox is empty, unless pendingOK), or the timeout
// passes; then it records the scenario's row and fails the test on
// anything lost, duplicated or unexpected.
func (e *env) check(p *plan, opts checkOptions) result {
	e.t.Helper()
	r := e.settle(p, opts)
	e.finish(p, r)
	return r
}

// settle evaluates until nothing is missing (and the outbox is empty,
// unless pendingOK) or the timeout passes, and returns the last verdict.
func (e *env) settle(p *plan, opts checkOptions) result {
	e.t.Helper()
	if opts.timeout == 0 {
		opts.timeout = 60 * time.Second
	}
	if opts.states == nil {
		opts.states = []payment.State{payment.StateAwaitingConfirmation}
	}
	c := e.collect()
	deadline := time.Now().Add(opts.timeout)
	var r result
	for {
		r = e.evaluate(p.msgs, c, opts)
		if (r.lost() == 0 && (opts.pendingOK || r.pending == 0)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return r
}

// finish records the scenario's row and fails on any loss, duplicate or
// surprise.
func (e *env) finish(p *plan, r result) {
	e.t.Helper()
	failed := r.lost() > 0 || r.duplicated > 0 || r.unexpected > 0
	rw := row{Scenario: e.name, Messages: r.messages, Publishes: p.publishes(), Faults: e.faultCount(),
		Lost: r.lost(), Duplicated: r.duplicated, Unexpected: r.unexpected,
		Answers: fmt.Sprintf("%d/%d", r.answersGot, r.answersWant), Dead: fmt.Sprintf("%d/%d", r.deadGot, r.deadWant),
		Pending: r.pending, Took: time.Since(e.began), Failed: failed || e.t.Failed()}
	record(rw)
	e.t.Logf("\n%s\n%s", header, rw)
	for _, n := range r.notes {
		e.t.Log("checker: " + n)
	}
	if failed {
		e.t.Errorf("%s: lost %d (records %d, answers %d, dead letters %d), duplicated %d, unexpected %d",
			e.name, r.lost(), r.lostRecords, r.lostAnswers, r.lostDead, r.duplicated, r.unexpected)
	}
	if !e.t.Failed() && r.pending > 0 {
		e.t.Logf("%d outbox messages still pending (allowed in this scenario)", r.pending)
	}
}

type ledgerRow struct {
	outcome, code, paymentID, bodyHex string
}

// evaluate compares the messages meant with what the database stores and
// the queues received.
func (e *env) evaluate(all []msg, c *collector, opts checkOptions) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var r result

	// The messages meant, once each (a message published several times is
	// one message).
	byKey := map[string]msg{}
	var ms []msg
	for _, m := range all {
		if _, ok := byKey[m.key()]; !ok {
			byKey[m.key()] = m
			ms = append(ms, m)
		}
	}
	r.messages = len(ms)

	// The answers first, then the tables in one snapshot: an answer is
	// published only after its transaction commits, so everything the
	// answers name is in the snapshot, and the tables agree with each
	// other (read one by one, a batch committed between two reads looked
	// like a ledger row without its payment).
	answers, dead := c.snapshot()
	tx, err := e.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	require.NoError(e.t, err)
	defer func() { _ = tx.Rollback(ctx) }()

	payments := map[string][]string{} // upstream/request → payment ids
	states := map[string]string{}     // payment id → state
	rows, err := tx.Query(ctx, `SELECT upstream_id, request_id, id::text, state FROM payments`)
	require.NoError(e.t, err)
	for rows.Next() {
		var up, req, id, state string
		require.NoError(e.t, rows.Scan(&up, &req, &id, &state))
		payments[up+"/"+req] = append(payments[up+"/"+req], id)
		states[id] = state
	}
	require.NoError(e.t, rows.Err())

	ledger := map[string]ledgerRow{}
	rows, err = tx.Query(ctx, `SELECT upstream_id, request_id, outcome, code, coalesce(payment_id::text, ''), encode(body_sha256, 'hex')
		FROM intake_requests`)
	require.NoError(e.t, err)
	for rows.Next() {
		var up, req string
		var l ledgerRow
		require.NoError(e.t, rows.Scan(&up, &req, &l.outcome, &l.code, &l.paymentID, &l.bodyHex))
		ledger[up+"/"+req] = l
	}
	require.NoError(e.t, rows.Err())

	rejects := map[string]string{} // message key → code
	rows, err = tx.Query(ctx, `SELECT message_key, code FROM intake_rejects`)
	require.NoError(e.t, err)
	for rows.Next() {
		var k, code string
		require.NoError(e.t, rows.Scan(&k, &code))
		rejects[k] = code
	}
	require.NoError(e.t, rows.Err())

	require.NoError(e.t, tx.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&r.pending))

	// Duplicates the database should make impossible: count them anyway.
	for _, q := range []struct{ what, sql string }{
		{"payments per (upstream, request id)", `SELECT upstream_id || '/' || request_id, count(*) FROM payments GROUP BY 1 HAVING count(*) > 1`},
		{"active payments per order", `SELECT upstream_id || '/' || order_ref, count(*) FROM payments
			WHERE state NOT IN ('rejected', 'cancelled', 'expired', 'returned') GROUP BY 1 HAVING count(*) > 1`},
		{"batches per payment", `SELECT payment_id::text, count(*) FROM batch_payments GROUP BY 1 HAVING count(*) > 1`},
		// awaiting_authorization is entered again by the first of two
		// authorizers; every other state at most once.
		{"timeline entries into one state", `SELECT payment_id::text || ' ' || to_state, count(*) FROM payment_timeline
			WHERE to_state <> 'awaiting_authorization' GROUP BY 1 HAVING count(*) > 1`},
		{"applied decisions per person and payment", `SELECT payment_id::text || ' ' || actor_id, count(*) FROM decisions
			WHERE outcome = 'applied' AND verdict <> 'cancel' GROUP BY 1 HAVING count(*) > 1`},
		{"dead letters in the outbox per message", `SELECT message_id, count(*) FROM outbox
			WHERE message_id LIKE 'dead/%' GROUP BY 1 HAVING count(*) > 1`},
		// A one-time password is good for one decision or one batch (whose
		// items all carry its step): a person's time step consumed twice is
		// a replay that got through.
		{"applied decisions and batches per person and OTP step", `SELECT who, count(*) FROM (
				SELECT actor_id || ' step ' || otp_step AS who FROM decisions
					WHERE outcome = 'applied' AND otp_step IS NOT NULL AND batch_id IS NULL
				UNION ALL
				SELECT actor_id || ' step ' || otp_step FROM decision_batches WHERE otp_step IS NOT NULL) used
			GROUP BY 1 HAVING count(*) > 1`},
	} {
		rows, err := tx.Query(ctx, q.sql)
		require.NoError(e.t, err)
		for rows.Next() {
			var what string
			var n int
			require.NoError(e.t, rows.Scan(&what, &n))
			r.duplicated += n - 1
			r.note("duplicated: %d %s (%s)", n, q.what, what)
		}
		require.NoError(e.t, rows.Err())
	}

	e.evaluateApprovals(ctx, &r)

	wantLedger, wantRejects, wantAnswers, wantDead := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, m := range ms {
		lk := m.Upstream + "/" + m.RequestID
		switch m.Want {
		case wantAccepted, wantRefused:
			wantLedger[lk] = true
			l, ok := ledger[lk]
			switch {
			case !ok:
				r.lostRecords++
				r.note("lost: %s %s (%s) has no record", m.Want, lk, m.What)
			case l.bodyHex != m.bodyHex():
				r.unexpected++
				r.note("unexpected: %s is recorded with another body", lk)
			case m.Want == wantAccepted && (l.outcome != "accepted" || len(payments[lk]) == 0):
				r.unexpected++
				r.note("unexpected: %s (%s) was meant to be accepted, is %s %s", lk, m.What, l.outcome, l.code)
			case m.Want == wantRefused && (l.outcome != "refused" || l.code != string(m.Code)):
				r.unexpected++
				r.note("unexpected: %s (%s) was meant to be refused with %s, is %s %s", lk, m.What, m.Code, l.outcome, l.code)
			}
		default:
			k := m.rejectKey()
			wantRejects[k] = true
			code, ok := rejects[k]
			switch {
			case !ok:
				r.lostRecords++
				r.note("lost: %s message %q (%s) has no record", m.Want, m.MessageID, m.What)
			case code != string(m.Code):
				r.unexpected++
				r.note("unexpected: message %q (%s) was rejected with %s, not %s", m.MessageID, m.What, code, m.Code)
			}
		}

		if id := m.answerID(); id != "" {
			wantAnswers[id] = true
			r.answersWant++
			a, ok := answers[id]
			switch {
			case !ok:
				r.lostAnswers++
				r.note("lost: no answer %s (%s)", id, m.What)
			case m.Want == wantAccepted && (a.ev.Kind != payment.EventAccepted || !slices.Contains(payments[lk], a.ev.PaymentID)):
				r.answersGot++
				r.unexpected++
				r.note("unexpected: answer %s is %s for payment %q", id, a.ev.Kind, a.ev.PaymentID)
			case m.Want != wantAccepted && (a.ev.Kind != payment.EventRefused || a.ev.Code != m.Code):
				r.answersGot++
				r.unexpected++
				r.note("unexpected: answer %s is %s %s, not refused %s", id, a.ev.Kind, a.ev.Code, m.Code)
			default:
				r.answersGot++
			}
		}
		if id := m.deadID(); id != "" {
			wantDead[id] = true
			r.deadWant++
			d, ok := dead[id]
			switch {
			case !ok:
				r.lostDead++
				r.note("lost: no dead letter for message %q (%s)", m.MessageID, m.What)
			case d.code != string(m.Code):
				r.deadGot++
				r.unexpected++
				r.note("unexpected: dead letter of %q has reason code %q, not %s", m.MessageID, d.code, m.Code)
			default:
				r.deadGot++
			}
		}
	}

	for _, id := range opts.events {
		wantAnswers[id] = true
		r.answersWant++
		if _, ok := answers[id]; ok {
			r.answersGot++
		} else {
			r.lostAnswers++
			r.note("lost: no event %s", id)
		}
	}

	// What nobody meant.
	okStates := map[string]bool{}
	for _, s := range opts.states {
		okStates[string(s)] = true
	}
	for lk, ids := range payments {
		switch {
		case !wantLedger[lk]:
			r.unexpected += len(ids)
			r.note("unexpected: payment of %s, which nobody published", lk)
		case ledger[lk].outcome != "accepted":
			r.unexpected += len(ids)
			r.note("unexpected: payment of %s, whose ledger row is not accepted", lk)
		}
		for _, id := range ids {
			if !okStates[states[id]] {
				r.unexpected++
				r.note("unexpected: payment %s of %s is %s", id, lk, states[id])
			}
		}
	}
	for lk := range ledger {
		if !wantLedger[lk] {
			r.unexpected++
			r.note("unexpected: intake ledger row %s that nobody published", lk)
		}
	}
	for k, code := range rejects {
		if !wantRejects[k] {
			r.unexpected++
			r.note("unexpected: rejected message %s (%s) that nobody published", short(k), code)
		}
	}
	for id, a := range answers {
		if !wantAnswers[id] {
			r.unexpected++
			r.note("unexpected: answer %s (%s)", short(id), a.summary)
		}
		if a.differs {
			r.unexpected++
			r.note("unexpected: copies of answer %s differ", short(id))
		}
	}
	for id, d := range dead {
		if !wantDead[id] {
			r.unexpected++
			r.note("unexpected: dead letter %s (%s)", short(id), d.code)
		}
		if d.differs {
			r.unexpected++
			r.note("unexpected: copies of dead letter %s differ", short(id))
		}
	}
	return r
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// The approval path: a payment past a stage was moved by the right people.
var (
	// pathStates are the states of the approval path, in order.
	pathStates = []payment.State{payment.StateAwaitingReview, payment.StateAwaitingAuthorization,
		payment.StateAuthorized, payment.StateExported}
	// afterExport are states only an exported payment reaches.
	afterExport = []payment.State{payment.StateSettled, payment.StateReturned}
)

// evaluateApprovals checks every payment against its decisions: one that
// reached awaiting_review was confirmed by its applicant with a one-time
// password; awaiting_authorization, approved at review by someone else;
// authorized, approved by as many authorizers as it needs, each with a
// one-time password, none of them its applicant or reviewer; exported, in
// one batch. A payment moved without them is unexpected; an exported
// payment in no batch is lost.
func (e *env) evaluateApprovals(ctx context.Context, r *result) {
	e.t.Helper()
	type decided struct {
		stage, actor string
		otp          bool
	}
	decisions := map[string][]decided{}
	rows, err := e.pool.Query(ctx, `SELECT payment_id::text, stage, actor_id, otp_step IS NOT NULL FROM decisions
		WHERE outcome = 'applied' AND verdict = 'approve'`)
	require.NoError(e.t, err)
	for rows.Next() {
		var id string
		var d decided
		require.NoError(e.t, rows.Scan(&id, &d.stage, &d.actor, &d.otp))
		decisions[id] = append(decisions[id], d)
	}
	require.NoError(e.t, rows.Err())

	batches := map[string]int{}
	rows, err = e.pool.Query(ctx, `SELECT payment_id::text, count(*) FROM batch_payments GROUP BY 1`)
	require.NoError(e.t, err)
	for rows.Next() {
		var id string
		var n int
		require.NoError(e.t, rows.Scan(&id, &n))
		batches[id] = n
	}
	require.NoError(e.t, rows.Err())

	rows, err = e.pool.Query(ctx, `SELECT p.id::text, p.upstream_id || '/' || p.request_id, p.applicant_id, p.required_authorizers,
			p.state, array_agg(t.to_state)
		FROM payments p LEFT JOIN payment_timeline t ON t.payment_id = p.id GROUP BY p.id`)
	require.NoError(e.t, err)
	defer rows.Close()
	for rows.Next() {
		var id, lk, applicant, state string
		var required int
		var entered []*string
		require.NoError(e.t, rows.Scan(&id, &lk, &applicant, &required, &state, &entered))
		reached := map[payment.State]bool{}
		for _, s := range entered {
			if s != nil {
				reached[payment.State(*s)] = true
			}
		}
		// The current state implies the states before it on the path.
		if i := slices.Index(pathStates, payment.State(state)); i >= 0 {
			for _, s := range pathStates[:i+1] {
				reached[s] = true
			}
		}
		if slices.Contains(afterExport, payment.State(state)) {
			for _, s := range pathStates {
				reached[s] = true
			}
		}

		var why []string
		var reviewer string
		ds := decisions[id]
		if reached[payment.StateAwaitingReview] && !slices.ContainsFunc(ds, func(d decided) bool {
			return d.stage == string(payment.StageConfirmation) && d.actor == applicant && d.otp
		}) {
			why = append(why, "no confirmation by its applicant with a one-time password")
		}
		if reached[payment.StateAwaitingAuthorization] {
			i := slices.IndexFunc(ds, func(d decided) bool { return d.stage == string(payment.StageReview) && d.actor != applicant })
			if i < 0 {
				why = append(why, "no review by someone other than its applicant")
			} else {
				reviewer = ds[i].actor
			}
		}
		if reached[payment.StateAuthorized] {
			authorizers := map[string]bool{}
			for _, d := range ds {
				if d.stage != string(payment.StageAuthorization) {
					continue
				}
				switch {
				case !d.otp:
					why = append(why, "an authorization by "+d.actor+" without a one-time password")
				case d.actor == applicant || d.actor == reviewer:
					why = append(why, "authorized by "+d.actor+", who already acted on it")
				default:
					authorizers[d.actor] = true
				}
			}
			if len(authorizers) < required {
				why = append(why, fmt.Sprintf("%d of %d authorizers", len(authorizers), required))
			}
		}
		if len(why) > 0 {
			r.unexpected++
			r.note("unexpected: payment %s of %s is %s with %s", id, lk, state, strings.Join(why, "; "))
		}
		if reached[payment.StateExported] && batches[id] == 0 {
			r.lostRecords++
			r.note("lost: payment %s of %s is %s and in no batch", id, lk, state)
		}
	}
	require.NoError(e.t, rows.Err())
}
