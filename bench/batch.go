package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/server"
)

// batchRun takes n payments through their three decisions in batch
// decisions of size items each: one applicant, one reviewer and one
// authorizer per batch, each using one OTP step for it (a person's code is
// good once per 30-second step, so the benchmark needs a person per batch
// and stage, not per payment).
type batchRun struct {
	a          *server.App
	run        string // the requests' run name, and the people's prefix
	n, size    int
	applicants []benchPerson
	reviewers  []benchPerson
	authorizer []benchPerson
	items      []approval.BatchItem // the i-th request's payment as an item
}

// newBatchRun enrols the people of a batch run and raises the bench
// customer's cap on items per batch to size if it is lower.
func newBatchRun(ctx context.Context, a *server.App, run string, n, size int) (*batchRun, error) {
	if size <= 0 || size > approval.MaxBatchItems {
		return nil, fmt.Errorf("batch size %d: want 1 to %d", size, approval.MaxBatchItems)
	}
	if _, err := a.Pool.Exec(ctx, `UPDATE customers SET batch_max_items = greatest(batch_max_items, $2) WHERE id = $1`,
		CustomerID, size); err != nil {
		return nil, fmt.Errorf("raise the batch cap: %w", err)
	}
	r := &batchRun{a: a, run: run, n: n, size: size}
	batches := (n + size - 1) / size
	var err error
	if r.applicants, err = benchStaff(ctx, a, run+"-appl", payment.RoleApplicant, batches); err != nil {
		return nil, err
	}
	if r.reviewers, err = benchStaff(ctx, a, run+"-rev", payment.RoleReviewer, batches); err != nil {
		return nil, err
	}
	if r.authorizer, err = benchStaff(ctx, a, run+"-auth", payment.RoleAuthorizer, batches); err != nil {
		return nil, err
	}
	return r, nil
}

// intake publishes the run's n requests (the payments of batch k applied
// for by applicant k) and waits until serve has stored and answered them;
// it returns the measure of that, then reads the payments back as batch
// items (not measured).
func (r *batchRun) intake(ctx context.Context, done <-chan error) (Result, error) {
	var stored int
	if err := r.a.Pool.QueryRow(ctx, `SELECT count(*) FROM intake_requests`).Scan(&stored); err != nil {
		return Result{}, err
	}
	u, _ := url.Parse(rabbitmq.FirstURL(r.a.Config.AMQPURL))
	open := func() (*amqp.Channel, error) { return r.a.Conn.Channel(ctx) }
	m := Start()
	for first := 0; first < r.n; first += 100_000 { // a million bodies at once would take gigabytes
		last := min(first+100_000, r.n)
		reqs := make([]amqp.Publishing, 0, last-first)
		for i := first; i < last; i++ {
			reqs = append(reqs, amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", UserId: u.User.Username(),
				MessageId: RequestID(r.run, i), Timestamp: time.Now(), Body: RequestBodyBy(r.run, i, r.applicants[i/r.size].id, r.a.Config.Location)})
		}
		if _, _, err := Publish(open, route.RequestsExchange, route.RequestKey, reqs, 1000, 0); err != nil {
			return Result{}, fmt.Errorf("publish requests: %w", err)
		}
	}
	if err := waitIntake(ctx, r.a, stored+r.n, RequestID(r.run, r.n-1), true, done); err != nil {
		return Result{}, err
	}
	res := m.Stop("intake", r.n)
	items, err := batchItems(ctx, r.a, r.run, r.n)
	r.items = items
	return res, err
}

// batchItems reads the run's n payments back, in request order, as batch
// items with their content digests.
func batchItems(ctx context.Context, a *server.App, run string, n int) ([]approval.BatchItem, error) {
	items := make([]approval.BatchItem, n)
	prefix := RequestID(run, 0)
	prefix = prefix[:strings.LastIndexByte(prefix, '-')+1]
	rows, err := a.Pool.Query(ctx, `SELECT request_id, id::text, order_ref, amount_minor, currency, bank_id, debtor_account,
			creditor_name, creditor_account, creditor_bank_id, execution_date, remittance
		FROM payments WHERE upstream_id = $1 AND request_id LIKE $2`, Upstream, prefix+"%")
	if err != nil {
		return nil, err
	}
	var reqID string
	var p payment.Payment
	found := 0
	_, err = pgx.ForEachRow(rows, []any{&reqID, &p.ID, &p.OrderRef, &p.AmountMinor, &p.Currency, &p.BankID, &p.DebtorAccount,
		&p.Creditor.Name, &p.Creditor.Account, &p.Creditor.BankID, &p.ExecutionDate, &p.Remittance}, func() error {
		i, err := strconv.Atoi(strings.TrimPrefix(reqID, prefix))
		if err != nil || i < 0 || i >= n || items[i].PaymentID != "" {
			return fmt.Errorf("unexpected request id %q", reqID)
		}
		items[i] = approval.BatchItem{PaymentID: p.ID, Digest: p.Digest(), Currency: p.Currency, AmountMinor: p.AmountMinor}
		found++
		return nil
	})
	if err == nil && found != n {
		err = fmt.Errorf("%d of %d payments of run %s found", found, n, run)
	}
	return items, err
}

// decide takes the run's payments through confirmation, review and
// authorization, stage after stage, in batch decisions published to the
// decisions queue and applied by serve; it waits for each chunk's batches
// to be recorded as applied, and at the end for the outbox (status events,
// next tasks, results) to be relayed. The measure counts 3n
// payment-approvals; its latency is from a batch's publishing to its
// recorded result.
func (r *batchRun) decide(ctx context.Context, name string, done <-chan error) (Result, error) {
	open := func() (*amqp.Channel, error) { return r.a.Conn.Channel(ctx) }
	stages := []struct {
		stage  payment.Stage
		staff  []benchPerson
		prefix string
	}{
		{payment.StageConfirmation, r.applicants, "c"},
		{payment.StageReview, r.reviewers, "r"},
		{payment.StageAuthorization, r.authorizer, "z"},
	}
	stamp := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	var lat []time.Duration
	m := Start()
	for _, st := range stages {
		// Chunks of batches within decisionChunk payments: their codes must
		// still be good when the worker checks them.
		perChunk := max(1, decisionChunk/r.size)
		batches := (r.n + r.size - 1) / r.size
		for first := 0; first < batches; first += perChunk {
			last := min(first+perChunk, batches)
			step := time.Now().Unix() / 30
			msgs := make([]amqp.Publishing, 0, last-first)
			ids := make([]string, 0, last-first)
			for k := first; k < last; k++ {
				id := fmt.Sprintf("bb-%s-%s-%s-%06d", r.run, stamp, st.prefix, k)
				body, err := r.batchBody(st.stage, st.staff[k], id, k, step)
				if err != nil {
					return Result{}, err
				}
				ids = append(ids, id)
				msgs = append(msgs, amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json",
					MessageId: uuid.NewString(), Body: body})
			}
			sent, _, err := Publish(open, route.DecisionsExchange, route.DecisionKey, msgs, 1000, 0)
			if err != nil {
				return Result{}, fmt.Errorf("publish %s batches: %w", st.stage, err)
			}
			l, err := waitBatches(ctx, r.a, ids, sent, done)
			if err != nil {
				return Result{}, fmt.Errorf("%s: %w", st.stage, err)
			}
			lat = append(lat, l...)
		}
	}
	if err := waitRelayed(ctx, r.a, done); err != nil {
		return Result{}, err
	}
	res := m.Stop(name, 3*r.n)
	res.SetLatencies("batch published → result recorded", lat)
	return res, nil
}

// batchBody is the k-th batch of a stage as its person sends it: the
// items, count, totals and digest, the OTP code of step, signed with the
// session's decision key.
func (r *batchRun) batchBody(stage payment.Stage, person benchPerson, id string, k int, step int64) ([]byte, error) {
	items := r.items[k*r.size : min((k+1)*r.size, r.n)]
	count, totals, digest, err := approval.Summarize(stage, payment.VerdictApprove, items)
	if err != nil {
		return nil, err
	}
	code, err := otp.CodeAt(person.seed, step, otp.Options{})
	if err != nil {
		return nil, err
	}
	d := route.BatchDecision{Schema: route.DecisionBatchSchema, DecisionID: id, Token: person.token, Stage: stage,
		Verdict: payment.VerdictApprove, OTP: code, Items: items, Count: count, Totals: totals, BatchDigest: digest}
	d.Sign(person.key)
	return json.Marshal(d)
}

// waitBatches waits until every batch of ids is recorded, requires each
// applied in full with its one OTP step recorded, and returns each one's time from publishing (sent, in
// the order of ids) to its recorded decision.
func waitBatches(ctx context.Context, a *server.App, ids []string, sent []time.Time, serveDone <-chan error) ([]time.Duration, error) {
	var recorded int
	err := poll(ctx, serveDone, time.Now().Add(time.Duration(len(ids))*time.Second+time.Minute), func() (bool, error) {
		err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM decision_batches WHERE id = ANY($1)`, ids).Scan(&recorded)
		return recorded == len(ids), err
	}, func() error {
		return fmt.Errorf("%d of %d batches recorded after the deadline", recorded, len(ids))
	})
	if err != nil {
		return nil, err
	}
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	rows, err := a.Pool.Query(ctx, `SELECT id, outcome, code, reason, otp_step IS NOT NULL, decided_at FROM decision_batches
		WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, len(ids))
	var id, outcome, code, reason string
	var stepped bool
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &outcome, &code, &reason, &stepped, &at}, func() error {
		switch {
		case outcome != approval.BatchApplied:
			return fmt.Errorf("batch %s %s: %s %s", id, outcome, code, reason)
		case !stepped:
			return fmt.Errorf("batch %s applied without an OTP step recorded", id)
		}
		out = append(out, at.Sub(sent[index[id]]))
		return nil
	})
	return out, err
}

// waitRelayed waits until the relay has published every outbox message.
func waitRelayed(ctx context.Context, a *server.App, serveDone <-chan error) error {
	var unsent int
	return poll(ctx, serveDone, time.Now().Add(10*time.Minute), func() (bool, error) {
		err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&unsent)
		return unsent == 0, err
	}, func() error {
		return fmt.Errorf("%d outbox messages unsent after the deadline", unsent)
	})
}

// benchBatchDecisions is the decisions-batch/size stage: n payments
// through intake (not measured), then their three decisions in batches of
// size (measured: stage decisionsBatchName), then a cutoff exports them
// (not measured: it leaves no authorized payment to the stages after, and
// checks that batched approvals export).
func benchBatchDecisions(ctx context.Context, a *server.App, opt Options, n, size int) (Result, error) {
	r, err := newBatchRun(ctx, a, fmt.Sprintf("b%d", size), n, size)
	if err != nil {
		return Result{}, err
	}
	halt, done := benchServe(ctx, a, opt)
	if _, err := r.intake(ctx, done); err != nil {
		return Result{}, errors.Join(err, halt())
	}
	name := fmt.Sprintf("decisions-batch/%d", size)
	stopProfile, err := profileStage(opt, fmt.Sprintf("decisions-batch-%d", size))
	if err != nil {
		return Result{}, errors.Join(err, halt())
	}
	res, err := r.decide(ctx, name, done)
	stopProfile()
	if err := errors.Join(err, halt()); err != nil {
		return res, err
	}
	_, err = exportAll(ctx, a, n)
	return res, err
}

// benchEndToEndBatch is the end-to-end stage with batch decisions: n
// payments published → stored → confirmed, reviewed, authorized in batches
// of size → exported by one cutoff. Its time is the parts' added up
// (Chain); the benchmark's reading back of the payments between intake and
// the decisions is not counted. Named end-to-end-1m at 1,000,000. It
// writes one line to w with the parts' times, to extrapolate from.
func benchEndToEndBatch(ctx context.Context, a *server.App, opt Options, n, size int, w io.Writer) (Result, error) {
	r, err := newBatchRun(ctx, a, "e2e", n, size)
	if err != nil {
		return Result{}, err
	}
	name := EndToEndName(n)
	stopProfile, err := profileStage(opt, "end-to-end-batch")
	if err != nil {
		return Result{}, err
	}
	defer stopProfile()
	halt, done := benchServe(ctx, a, opt)
	in, err := r.intake(ctx, done)
	if err != nil {
		return Result{}, errors.Join(err, halt())
	}
	dec, err := r.decide(ctx, "decisions", done)
	if err := errors.Join(err, halt()); err != nil {
		return Result{}, err
	}
	x, err := exportAll(ctx, a, n)
	if err != nil {
		return Result{}, err
	}
	e2e := Chain(name, n, in, dec, x)
	fmt.Fprintf(w, "bench: %s in %.1f s: intake %.1f s (%.0f payments/s), decisions in batches of %d %.1f s (%.0f payment-approvals/s), export %.1f s\n",
		name, e2e.Seconds, in.Seconds, in.PerSecond, size, dec.Seconds, dec.PerSecond, x.Seconds)
	return e2e, nil
}

// EndToEndName names the end-to-end stage with batch decisions of n
// payments: "end-to-end-1m" at 1,000,000, else "end-to-end-batch/<n>".
func EndToEndName(n int) string {
	if n == 1_000_000 {
		return "end-to-end-1m"
	}
	return fmt.Sprintf("end-to-end-batch/%d", n)
}

// exportAll runs a cutoff, measured, and requires it to export want
// payments: every authorized one.
func exportAll(ctx context.Context, a *server.App, want int) (Result, error) {
	x, cleanup, err := benchExporter(a)
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	at := nextSecond()
	m := Start()
	res, err := x.RunCutoff(ctx, at)
	r := m.Stop("export", res.Payments)
	if err != nil {
		return r, err
	}
	if res.Payments != want {
		return r, fmt.Errorf("the cutoff after the batch decisions exported %d of %d payments", res.Payments, want)
	}
	return r, nil
}
