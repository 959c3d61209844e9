package main

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

	"github.com/b2bpay/b2bpay/bench"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/route"
)

// benchPerson is a member of the benchmark's staff: a user with an OTP
// seed and a signed-in session.
type benchPerson struct {
	id    string
	seed  []byte
	token string
}

// benchStaff enrols n people of one role, each with a sealed OTP seed and
// a session, written with COPY: each person's code is good once per
// 30-second step, so every decision of the stage needs a person of its own.
func benchStaff(ctx context.Context, a *app, prefix string, role payment.Role, n int) ([]benchPerson, error) {
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
		token, c, err := a.sec.signer.Issue(id, bench.CustomerID)
		if err != nil {
			return nil, err
		}
		staff[i] = benchPerson{id: id, seed: seed, token: token}
		users[i] = []any{id, bench.CustomerID, id, []string{string(role)}, true,
			a.sec.sealer.Seal(seed, postgres.OTPSeedAD(id)), int(a.sec.sealer.Version()), now}
		sessions[i] = []any{c.SessionID, id, c.IssuedAt, c.ExpiresAt}
	}
	if _, err := a.pool.CopyFrom(ctx, pgx.Identifier{"users"},
		[]string{"id", "customer_id", "name", "roles", "active", "otp_sealed", "otp_key_version", "otp_enrolled_at"},
		pgx.CopyFromRows(users)); err != nil {
		return nil, fmt.Errorf("enrol %s staff: %w", role, err)
	}
	if _, err := a.pool.CopyFrom(ctx, pgx.Identifier{"sessions"}, []string{"id", "user_id", "issued_at", "expires_at"},
		pgx.CopyFromRows(sessions)); err != nil {
		return nil, fmt.Errorf("sign in %s staff: %w", role, err)
	}
	return staff, nil
}

// benchDecisions takes n payments through intake, then measures their
// three decisions (applicant's confirmation, review, authorization: 3n
// messages, each with its OTP code, token and digest checked) stage after
// stage, with serve running throughout; then a cutoff exports them. It
// returns the decisions stage and the whole run, from the first request
// published to the last file written.
func benchDecisions(ctx context.Context, a *app, opt benchOptions, n int) (dec, e2e bench.Result, err error) {
	applicants, err := benchStaff(ctx, a, "appl", payment.RoleApplicant, n)
	if err != nil {
		return bench.Result{}, bench.Result{}, err
	}
	reviewers, err := benchStaff(ctx, a, "rev", payment.RoleReviewer, n)
	if err != nil {
		return bench.Result{}, bench.Result{}, err
	}
	authorizers, err := benchStaff(ctx, a, "auth", payment.RoleAuthorizer, n)
	if err != nil {
		return bench.Result{}, bench.Result{}, err
	}
	var stored int
	if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM intake_requests`).Scan(&stored); err != nil {
		return bench.Result{}, bench.Result{}, err
	}

	x, cleanup, err := benchExporter(a)
	if err != nil {
		return bench.Result{}, bench.Result{}, err
	}
	defer cleanup()
	whole := bench.Start()
	halt, done := benchServe(ctx, a, opt)
	fail := func(err error) (bench.Result, bench.Result, error) {
		return bench.Result{}, bench.Result{}, errors.Join(err, halt())
	}
	u, _ := url.Parse(a.cfg.AMQPURL)
	open := func() (*amqp.Channel, error) { return a.conn.Channel(ctx) }
	reqs := make([]amqp.Publishing, n)
	for i := range reqs {
		reqs[i] = amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json", UserId: u.User.Username(),
			MessageId: bench.RequestID("dec", i), Timestamp: time.Now(), Body: bench.RequestBodyBy("dec", i, applicants[i].id, a.cfg.Location)}
	}
	if _, _, err := bench.Publish(open, route.RequestsExchange, route.RequestKey, reqs, 1000, 0); err != nil {
		return fail(fmt.Errorf("publish requests: %w", err))
	}
	if err := waitIntake(ctx, a, stored+n, done); err != nil {
		return fail(err)
	}
	ps := make([]*payment.Payment, n)
	for i := range ps {
		if ps[i], err = a.store.PaymentGetByRequest(ctx, bench.Upstream, bench.RequestID("dec", i)); err != nil {
			return fail(err)
		}
	}

	stages := []struct {
		stage  payment.Stage
		staff  []benchPerson
		reach  payment.State
		prefix string
	}{
		{payment.StageConfirmation, applicants, payment.StateAwaitingReview, "c"},
		{payment.StageReview, reviewers, payment.StateAwaitingAuthorization, "r"},
		{payment.StageAuthorization, authorizers, payment.StateAuthorized, "z"},
	}
	run := fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff)
	var lat []time.Duration
	stopProfile, err := profileStage(opt, "decisions")
	if err != nil {
		return fail(err)
	}
	defer stopProfile()
	m := bench.Start()
	for _, st := range stages {
		step := time.Now().Unix() / 30
		msgs := make([]amqp.Publishing, n)
		for i, p := range ps {
			person := st.staff[i]
			code, err := otp.CodeAt(person.seed, step, otp.Options{})
			if err != nil {
				return fail(err)
			}
			body, err := json.Marshal(route.Decision{Schema: route.DecisionSchema, DecisionID: fmt.Sprintf("bd-%s-%s-%06d", run, st.prefix, i),
				Token: person.token, PaymentID: p.ID, Stage: st.stage, Verdict: payment.VerdictApprove, OTP: code, Digest: p.Digest()})
			if err != nil {
				return fail(err)
			}
			msgs[i] = amqp.Publishing{DeliveryMode: amqp.Persistent, ContentType: "application/json",
				MessageId: uuid.NewString(), Body: body}
		}
		sent, _, err := bench.Publish(open, route.DecisionsExchange, route.DecisionKey, msgs, 1000, 0)
		if err != nil {
			return fail(fmt.Errorf("publish %s decisions: %w", st.stage, err))
		}
		if err := waitDecisions(ctx, a, "bd-"+run+"-"+st.prefix+"-%", n, done); err != nil {
			return fail(fmt.Errorf("%s: %w", st.stage, err))
		}
		rows, err := a.pool.Query(ctx, `SELECT id, decided_at FROM decisions WHERE id LIKE $1`, "bd-"+run+"-"+st.prefix+"-%")
		if err != nil {
			return fail(err)
		}
		var id string
		var at time.Time
		_, err = pgx.ForEachRow(rows, []any{&id, &at}, func() error {
			var i int
			if _, err := fmt.Sscanf(id[len(id)-6:], "%d", &i); err != nil || i >= n {
				return fmt.Errorf("unexpected decision id %q", id)
			}
			lat = append(lat, at.Sub(sent[i]))
			return nil
		})
		if err != nil {
			return fail(err)
		}
		var reached int
		if err := a.pool.QueryRow(ctx, `SELECT count(*) FROM payments WHERE state = $1 AND request_id LIKE 'erp-dec-%'`,
			string(st.reach)).Scan(&reached); err != nil {
			return fail(err)
		}
		if reached != n {
			return fail(fmt.Errorf("%s: %d of %d payments reached %s", st.stage, reached, n, st.reach))
		}
	}
	dec = m.Stop("decisions", 3*n)
	dec.SetLatencies("decision published → applied", lat)
	stopProfile()
	if err := halt(); err != nil {
		return dec, e2e, err
	}
	res, err := x.RunCutoff(ctx, nextSecond())
	if err != nil {
		return dec, e2e, err
	}
	if res.Payments != n {
		return dec, e2e, fmt.Errorf("the cutoff after the decisions exported %d of %d payments", res.Payments, n)
	}
	e2e = whole.Stop("end-to-end", n)
	e2e.LatencyOf = "-"
	return dec, e2e, nil
}

// waitDecisions waits until want decisions whose id is like pattern are
// recorded; any refused one is an error, with its code.
func waitDecisions(ctx context.Context, a *app, pattern string, want int, serveDone <-chan error) error {
	deadline := time.Now().Add(time.Duration(want)*5*time.Millisecond + time.Minute)
	for {
		var applied, refused int
		var code string
		if err := a.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE outcome = 'applied'), count(*) FILTER (WHERE outcome = 'refused'),
			coalesce(min(code || ': ' || reason) FILTER (WHERE outcome = 'refused'), '') FROM decisions WHERE id LIKE $1`, pattern).
			Scan(&applied, &refused, &code); err != nil {
			return err
		}
		switch {
		case refused > 0:
			return fmt.Errorf("%d decisions refused, for example %s", refused, code)
		case applied >= want:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%d of %d decisions applied after the deadline", applied, want)
		}
		select {
		case err := <-serveDone:
			return fmt.Errorf("serve stopped: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
