package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/server"
)

// benchPerson is a member of the benchmark's staff: a user with an OTP
// seed and a signed-in session.
type benchPerson struct {
	id    string
	seed  []byte
	token string
	key   []byte // the session's decision key
}

// benchStaff enrols n people of one role, each with a sealed OTP seed and
// a session, written with COPY: each person's code is good once per
// 30-second step, so every decision of the stage needs a person of its own.
func benchStaff(ctx context.Context, a *server.App, prefix string, role payment.Role, n int) ([]benchPerson, error) {
	staff := make([]benchPerson, n)
	now := time.Now().UTC()
	users := make([][]any, n)
	sessions := make([][]any, n)
	for i := range staff {
		id := fmt.Sprintf("%s-%06d", prefix, i)
		seed, _, err := otp.Generate("b2bpay-bench", id)
		if err != nil {
			return nil, err
		}
		token, c, err := a.Sec.Signer.Issue(id, CustomerID)
		if err != nil {
			return nil, err
		}
		staff[i] = benchPerson{id: id, seed: seed, token: token, key: a.Sec.DecisionKeys.For(c.SessionID)}
		users[i] = []any{id, CustomerID, id, []string{string(role)}, true,
			a.Sec.Sealer.Seal(seed, postgres.OTPSeedAD(id)), int(a.Sec.Sealer.Version()), now}
		sessions[i] = []any{c.SessionID, id, c.IssuedAt, c.ExpiresAt}
	}
	if _, err := a.Pool.CopyFrom(ctx, pgx.Identifier{"users"},
		[]string{"id", "customer_id", "name", "roles", "active", "otp_sealed", "otp_key_version", "otp_enrolled_at"},
		pgx.CopyFromRows(users)); err != nil {
		return nil, fmt.Errorf("enrol %s staff: %w", role, err)
	}
	if _, err := a.Pool.CopyFrom(ctx, pgx.Identifier{"sessions"}, []string{"id", "user_id", "issued_at", "expires_at"},
		pgx.CopyFromRows(sessions)); err != nil {
		return nil, fmt.Errorf("sign in %s staff: %w", role, err)
	}
	return staff, nil
}

// decisionChunk is how many decisions the benchmark publishes before
// waiting for them: each carries a code of the current 30-second step,
// which must still be good when the worker checks it.
const decisionChunk = 10_000

// benchDecisions takes n payments through intake, then measures their
// three decisions (applicant's confirmation, review, authorization: 3n
// messages, each with its OTP code, token and digest checked) stage after
// stage, with serve running throughout; then a cutoff exports them. It
// returns the decisions stage and the whole run: intake, decisions and
// export one after the other (the benchmark's own reading back of the
// payments between them is not counted).
func benchDecisions(ctx context.Context, a *server.App, opt Options, n int) (dec, e2e Result, err error) {
	staff, err := benchStageStaff(ctx, a, "dec", n)
	if err != nil {
		return Result{}, Result{}, err
	}
	var stored int
	if err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM intake_requests`).Scan(&stored); err != nil {
		return Result{}, Result{}, err
	}
	x, cleanup, err := benchExporter(a)
	if err != nil {
		return Result{}, Result{}, err
	}
	defer cleanup()
	u, _ := url.Parse(rabbitmq.FirstURL(a.Config.AMQPURL))
	open := func() (*amqp.Channel, error) { return a.Conn.Channel(ctx) }
	reqs := requests("dec", n, u.User.Username(), a.Config.Location, func(i int) string { return staff[0][i].id })

	halt, done := benchServe(ctx, a, opt)
	fail := func(err error) (Result, Result, error) {
		return Result{}, Result{}, errors.Join(err, halt())
	}
	intakeMeter := Start()
	if _, _, err := Publish(open, route.RequestsExchange, route.RequestKey, reqs, 1000, 0); err != nil {
		return fail(fmt.Errorf("publish requests: %w", err))
	}
	if err := waitIntake(ctx, a, stored+n, RequestID("dec", n-1), true, done); err != nil {
		return fail(err)
	}
	intakePart := intakeMeter.Stop("intake", n)
	reqs = nil
	ps, err := benchPayments(ctx, a, n)
	if err != nil {
		return fail(err)
	}

	run := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	stopProfile, err := profileStage(opt, "decisions")
	if err != nil {
		return fail(err)
	}
	defer stopProfile()
	m := Start()
	for i, st := range decisionStages {
		for first := 0; first < n; first += decisionChunk {
			last := min(first+decisionChunk, n)
			if _, err := decideChunk(ctx, a, fmt.Sprintf("%s-%d", run, i), st, staff[i], ps, first, last, 0, done); err != nil {
				return fail(err) // every decision applied, none refused
			}
		}
	}
	dec = m.Stop("decisions", 3*n)
	stopProfile()
	if err := halt(); err != nil {
		return dec, e2e, err
	}
	at := nextSecond()
	exportMeter := Start()
	res, err := x.RunCutoff(ctx, at)
	exportPart := exportMeter.Stop("export", n)
	if err != nil {
		return dec, e2e, err
	}
	if res.Payments != n {
		return dec, e2e, fmt.Errorf("the cutoff after the decisions exported %d of %d payments", res.Payments, n)
	}
	e2e = Chain("end-to-end", n, intakePart, dec, exportPart)
	// Latency as for intake: a run paced at half the rate just measured,
	// so the queue stays short and publish → applied is b2bpay's own time
	// (the flood above measures throughput; its waits are queueing).
	paced, err := benchDecisionLatency(ctx, a, opt, x, min(n, 1000), dec.PerSecond/2)
	if err != nil {
		return dec, e2e, fmt.Errorf("paced decisions: %w", err)
	}
	dec.SetLatencies("decision published → applied (paced at half rate)", paced)
	return dec, e2e, nil
}

// decisionMessages are the signed decisions of staff[i] approving ps[i]
// at stage, for i in [first, last), each with a code of the current
// 30-second step; ids are prefixed with run.
func decisionMessages(run string, stage payment.Stage, staff []benchPerson, ps []*payment.Payment, first, last int) ([]amqp.Publishing, error) {
	step := time.Now().Unix() / 30
	msgs := make([]amqp.Publishing, 0, last-first)
	for i := first; i < last; i++ {
		person := staff[i]
		code, err := otp.CodeAt(person.seed, step, otp.Options{})
		if err != nil {
			return nil, err
		}
		d := route.Decision{Schema: route.DecisionSchema, DecisionID: fmt.Sprintf("bd-%s-%07d", run, i),
			Token: person.token, PaymentID: ps[i].ID, Stage: stage, Verdict: payment.VerdictApprove, OTP: code, Digest: ps[i].Digest()}
		d.Sign(person.key)
		body, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json",
			MessageId: uuid.NewString(), Body: body})
	}
	return msgs, nil
}

// decisionStage is one of a payment's three decisions: who takes it and
// the state it leaves the payment in.
type decisionStage struct {
	stage payment.Stage
	role  payment.Role
	reach payment.State
}

// decisionStages are the three decisions in order.
var decisionStages = []decisionStage{
	{payment.StageConfirmation, payment.RoleApplicant, payment.StateAwaitingReview},
	{payment.StageReview, payment.RoleReviewer, payment.StateAwaitingAuthorization},
	{payment.StageAuthorization, payment.RoleAuthorizer, payment.StateAuthorized},
}

// benchStageStaff enrols n people for each of decisionStages' roles, ids
// prefixed with prefix.
func benchStageStaff(ctx context.Context, a *server.App, prefix string, n int) ([][]benchPerson, error) {
	staff := make([][]benchPerson, len(decisionStages))
	for i, st := range decisionStages {
		var err error
		if staff[i], err = benchStaff(ctx, a, prefix+"-"+string(st.role), st.role, n); err != nil {
			return nil, err
		}
	}
	return staff, nil
}

// decideChunk publishes staff[i]'s approval of ps[i] at st, for i in
// [first, last), one every pace (0: at once), waits until the payments
// reach st's next state (they move on together) and returns each
// decision's time from publishing to applying; a refused decision fails it.
func decideChunk(ctx context.Context, a *server.App, run string, st decisionStage, staff []benchPerson, ps []*payment.Payment,
	first, last int, pace time.Duration, serveDone <-chan error) ([]time.Duration, error) {
	msgs, err := decisionMessages(run, st.stage, staff, ps, first, last)
	if err != nil {
		return nil, err
	}
	open := func() (*amqp.Channel, error) { return a.Conn.Channel(ctx) }
	sent, _, err := Publish(open, route.DecisionsExchange, route.DecisionKey, msgs, 1000, pace)
	if err != nil {
		return nil, fmt.Errorf("publish %s decisions: %w", st.stage, err)
	}
	if err := waitState(ctx, a, st.reach, last, serveDone); err != nil {
		return nil, fmt.Errorf("%s: %w", st.stage, err)
	}
	return decisionLatencies(ctx, a, st.stage, ps[first:last], sent)
}

// benchDecisionLatency takes m new payments through intake (not measured),
// then publishes their confirmations, reviews and authorizations at rate
// decisions a second, stage after stage, and returns each decision's time
// from publishing to applying; a cutoff then exports them, so no
// authorized payment is left to later stages.
func benchDecisionLatency(ctx context.Context, a *server.App, opt Options, x *export.Exporter, m int, rate float64) ([]time.Duration, error) {
	staff, err := benchStageStaff(ctx, a, "lat", m)
	if err != nil {
		return nil, err
	}
	var stored int
	if err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM intake_requests`).Scan(&stored); err != nil {
		return nil, err
	}
	u, _ := url.Parse(rabbitmq.FirstURL(a.Config.AMQPURL))
	open := func() (*amqp.Channel, error) { return a.Conn.Channel(ctx) }
	halt, done := benchServe(ctx, a, opt)
	fail := func(err error) ([]time.Duration, error) { return nil, errors.Join(err, halt()) }
	if _, _, err := Publish(open, route.RequestsExchange, route.RequestKey,
		requests("dlat", m, u.User.Username(), a.Config.Location, func(i int) string { return staff[0][i].id }), 1000, 0); err != nil {
		return fail(fmt.Errorf("publish requests: %w", err))
	}
	if err := waitIntake(ctx, a, stored+m, RequestID("dlat", m-1), true, done); err != nil {
		return fail(err)
	}
	ps, err := benchPaymentsOf(ctx, a, "dlat", m)
	if err != nil {
		return fail(err)
	}
	pace := time.Duration(float64(time.Second) / rate)
	run := fmt.Sprintf("lat%x", time.Now().UnixNano()&0xffffff)
	var lat []time.Duration
	for i, st := range decisionStages {
		l, err := decideChunk(ctx, a, fmt.Sprintf("%s-%d", run, i), st, staff[i], ps, 0, m, pace, done)
		if err != nil {
			return fail(err)
		}
		lat = append(lat, l...)
	}
	if err := halt(); err != nil {
		return nil, err
	}
	res, err := x.RunCutoff(ctx, nextSecond())
	if err != nil {
		return nil, err
	}
	if res.Payments != m {
		return nil, fmt.Errorf("the cutoff after the paced decisions exported %d of %d payments", res.Payments, m)
	}
	return lat, nil
}

// benchPayments reads back the decisions run's n payments, in order.
func benchPayments(ctx context.Context, a *server.App, n int) ([]*payment.Payment, error) {
	return benchPaymentsOf(ctx, a, "dec", n)
}

// benchPaymentsOf reads back the n payments of the requests published as
// run, in order.
func benchPaymentsOf(ctx context.Context, a *server.App, run string, n int) ([]*payment.Payment, error) {
	ps := make([]*payment.Payment, n)
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := w; i < n; i += 8 {
				p, err := a.Store.PaymentGetByRequest(ctx, Upstream, RequestID(run, i))
				if err != nil {
					errs <- err
					return
				}
				ps[i] = p
			}
			errs <- nil
		}()
	}
	var err error
	for range 8 {
		err = errors.Join(err, <-errs)
	}
	return ps, err
}

// decisionLatencies are the times from publishing to applying of the
// stage's decisions on ps, published at sent.
func decisionLatencies(ctx context.Context, a *server.App, stage payment.Stage, ps []*payment.Payment, sent []time.Time) ([]time.Duration, error) {
	ids := make([]string, len(ps))
	index := make(map[string]int, len(ps))
	for i, p := range ps {
		ids[i], index[p.ID] = p.ID, i
	}
	rows, err := a.Pool.Query(ctx, `SELECT payment_id::text, decided_at FROM decisions
		WHERE payment_id = ANY($1::uuid[]) AND stage = $2 AND outcome = 'applied'`, ids, string(stage))
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, len(ps))
	var id string
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &at}, func() error {
		out = append(out, at.Sub(sent[index[id]]))
		return nil
	})
	if err == nil && len(out) != len(ps) {
		err = fmt.Errorf("%d of %d %s decisions applied", len(out), len(ps), stage)
	}
	return out, err
}

// waitState waits until want payments are in state (the stage's payments
// move on together, so none is further). A refused decision leaves its
// payment behind: the wait then ends with the refusals' codes.
func waitState(ctx context.Context, a *server.App, state payment.State, want int, serveDone <-chan error) error {
	check := time.Now().Add(5 * time.Second)
	var reached int
	return poll(ctx, serveDone, time.Now().Add(time.Duration(want)*time.Millisecond+time.Minute), func() (bool, error) {
		if err := a.Pool.QueryRow(ctx, `SELECT count(*) FROM payments WHERE state = $1`, string(state)).Scan(&reached); err != nil {
			return false, err
		}
		if reached >= want || time.Now().Before(check) {
			return reached >= want, nil
		}
		// Slow: was something refused?
		check = time.Now().Add(5 * time.Second)
		var refused int
		var example string
		if err := a.Pool.QueryRow(ctx, `SELECT count(*), coalesce(min(code || ': ' || reason), '') FROM decisions
			WHERE outcome = 'refused'`).Scan(&refused, &example); err != nil {
			return false, err
		}
		if refused > 0 {
			return false, fmt.Errorf("%d decisions refused, for example %s", refused, example)
		}
		return false, nil
	}, func() error {
		return fmt.Errorf("%d of %d payments %s after the deadline", reached, want, state)
	})
}
