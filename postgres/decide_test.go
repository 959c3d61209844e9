package postgres_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/route"
)

// approvals is a bundle whose store is configured as serve configures it
// for decisions: tasks, results to reply queues, OTP seeds opened with the
// test sealer. The applicant has an OTP.
type approvals struct {
	*bundle
	t             *testing.T
	otp           *otpKit
	applicantSeed []byte
	reviewSeeds   map[string][]byte // reviewers' OTP seeds, enrolled by decision
	// app is the approval use case over the store, configured as serve
	// configures it.
	app *approval.Applier
}

func setupApprovals(t *testing.T) *approvals { return setupApprovalsAt(t, baseTime) }

func setupApprovalsAt(t *testing.T, now time.Time) *approvals {
	return setupApprovalsOn(t, testPool(t), now)
}

// setupApprovalsOn is setupApprovalsAt on the database of pool.
func setupApprovalsOn(t *testing.T, pool *pgxpool.Pool, now time.Time) *approvals {
	t.Helper()
	b := setupOn(t, pool, now)
	k := newOTPKit(t)
	loc, err := time.LoadLocation("Asia/Shanghai")
	require.NoError(t, err)
	b.store, err = postgres.New(pool, postgres.Config{
		Seal:         pgtest.Key,
		Now:          b.clock.Now,
		Location:     loc,
		EventMessage: route.EventMessage,
		TaskMessage:  route.TaskMessage,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	app, err := approval.New(b.store, approval.Config{
		Now:           b.clock.Now,
		Seal:          pgtest.Key,
		OTPOpener:     k.open,
		EventMessage:  route.EventMessage,
		TaskMessage:   route.TaskMessage,
		ResultMessage: route.ResultMessage,
	})
	require.NoError(t, err)
	a := &approvals{bundle: b, t: t, otp: k, reviewSeeds: map[string][]byte{}, app: app}
	a.applicantSeed = k.enroll(t, b, b.applicant.ID, nil)
	return a
}

// decision is user's verdict on p at stage, of the content p has now,
// answered to a reply queue. An approval at review carries the
// reviewer's code (the default review policy), the reviewer enrolled with
// an OTP the first time.
func (a *approvals) decision(p *payment.Payment, user payment.User, stage payment.Stage, verdict payment.Verdict) approval.Decision {
	r := approval.Decision{
		DecisionID: "dec-" + randomHex(8), PaymentID: p.ID, Stage: stage, Verdict: verdict, Digest: p.Digest(),
		UserID: user.ID, SessionID: uuid.NewString(), ReplyTo: "amq.gen-" + randomHex(6),
	}
	if stage == payment.StageReview && verdict == payment.VerdictApprove && user.ID != "" {
		seed, ok := a.reviewSeeds[user.ID]
		if !ok {
			var exists bool
			require.NoError(a.t, a.pool.QueryRow(a.t.Context(), `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1 AND otp_sealed IS NULL)`, user.ID).Scan(&exists))
			if exists {
				seed = a.otp.enroll(a.t, a.bundle, user.ID, nil)
				a.reviewSeeds[user.ID] = seed
			}
		}
		if seed != nil {
			r.OTP, _ = code(a.t, a.bundle, seed, 0)
		}
	}
	return r
}

// apply applies r and requires that the store answered (applied or refused).
func (a *approvals) apply(t *testing.T, r approval.Decision) approval.Result {
	t.Helper()
	res, err := a.app.Apply(t.Context(), r)
	require.NoError(t, err)
	return res
}

// applied applies r and requires that it was applied.
func (a *approvals) applied(t *testing.T, r approval.Decision) approval.Result {
	t.Helper()
	res := a.apply(t, r)
	require.Equal(t, approval.Applied, res.Outcome, "%s: %s", res.Code, res.Reason)
	return res
}

// confirmation is the applicant's confirmation of p with a valid code.
func (a *approvals) confirmation(t *testing.T, p *payment.Payment) approval.Decision {
	t.Helper()
	r := a.decision(p, a.applicant, payment.StageConfirmation, payment.VerdictApprove)
	r.OTP, _ = code(t, a.bundle, a.applicantSeed, 0)
	return r
}

// authorizer registers an authorizer with an OTP.
func (a *approvals) authorizer(t *testing.T) (payment.User, []byte) {
	t.Helper()
	u := a.newUser(t, payment.RoleAuthorizer)
	return u, a.otp.enroll(t, a.bundle, u.ID, nil)
}

// authorization is u's approval at authorization with a valid code.
func (a *approvals) authorization(t *testing.T, p *payment.Payment, u payment.User, seed []byte) approval.Decision {
	t.Helper()
	r := a.decision(p, u, payment.StageAuthorization, payment.VerdictApprove)
	r.OTP, _ = code(t, a.bundle, seed, 0)
	return r
}

// reviewed submits a payment, has it confirmed and reviewed, and returns it
// waiting for authorization.
func (a *approvals) reviewed(t *testing.T, mods ...func(*payment.Request)) *payment.Payment {
	t.Helper()
	p := a.submitPayment(t, mods...)
	a.applied(t, a.confirmation(t, p))
	a.applied(t, a.decision(p, a.newUser(t, payment.RoleReviewer), payment.StageReview, payment.VerdictApprove))
	return a.payment(t, p.ID)
}

func (b *bundle) payment(t *testing.T, id string) *payment.Payment {
	t.Helper()
	p, err := b.store.PaymentGetByID(t.Context(), id)
	require.NoError(t, err)
	return p
}

// requireChain reads p's timeline back and checks its hash chain.
func (b *bundle) requireChain(t *testing.T, id string) (*payment.Payment, []payment.Entry) {
	t.Helper()
	p := b.payment(t, id)
	tl, err := b.store.PaymentTimeline(t.Context(), id)
	require.NoError(t, err)
	seq, why := payment.VerifyChain(tl, p.HeadHash)
	require.Zero(t, seq, why)
	require.Len(t, tl, p.Version)
	return p, tl
}

// decisionRow is a decisions row.
type decisionRow struct {
	PaymentID *string
	Stage     string
	Verdict   string
	ActorID   *string
	SessionID *string
	Outcome   string
	Code      string
	Reason    string
	Digest    string
	OTPStep   *int64
	Result    approval.Result
	DecidedAt time.Time
}

func (b *bundle) decisionRow(t *testing.T, id string) decisionRow {
	t.Helper()
	var d decisionRow
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT payment_id::text, stage, verdict, actor_id, session_id::text,
			outcome, code, reason, digest, otp_step, result, decided_at
		FROM decisions WHERE id = $1`, id).Scan(&d.PaymentID, &d.Stage, &d.Verdict, &d.ActorID, &d.SessionID,
		&d.Outcome, &d.Code, &d.Reason, &d.Digest, &d.OTPStep, &d.Result, &d.DecidedAt))
	return d
}

// countDecisions counts the decisions rows of a payment with an outcome.
func (b *bundle) countDecisions(t *testing.T, paymentID, outcome string) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM decisions WHERE payment_id = $1 AND outcome = $2`,
		paymentID, outcome).Scan(&n))
	return n
}

// sentRow is an outbox row with its discard flag.
type sentRow struct {
	MessageID  string
	Exchange   string
	RoutingKey string
	Headers    map[string]string
	Body       []byte
	Discard    bool
}

// sent returns the outbox rows with message id id, in id order.
func (b *bundle) sent(t *testing.T, id string) []sentRow {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT message_id, exchange, routing_key, headers, body, discard_unroutable
		FROM outbox WHERE message_id = $1 ORDER BY id`, id)
	require.NoError(t, err)
	defer rows.Close()
	var out []sentRow
	for rows.Next() {
		var r sentRow
		require.NoError(t, rows.Scan(&r.MessageID, &r.Exchange, &r.RoutingKey, &r.Headers, &r.Body, &r.Discard))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// tasksOf returns the task messages of a payment, in order.
func (b *bundle) tasksOf(t *testing.T, paymentID string) []route.Task {
	t.Helper()
	rows, err := b.pool.Query(t.Context(), `SELECT message_id, routing_key, body FROM outbox
		WHERE exchange = $1 AND starts_with(message_id, $2) ORDER BY id`, route.TasksExchange, paymentID+"/")
	require.NoError(t, err)
	defer rows.Close()
	var out []route.Task
	for rows.Next() {
		var id, key string
		var body []byte
		require.NoError(t, rows.Scan(&id, &key, &body))
		var task route.Task
		require.NoError(t, json.Unmarshal(body, &task))
		require.Equal(t, task.TaskID, id)
		require.Equal(t, route.TaskKey(task.CustomerID, task.Stage), key)
		out = append(out, task)
	}
	require.NoError(t, rows.Err())
	return out
}

// result reads the one result message of a decision.
func (b *bundle) result(t *testing.T, r approval.Decision) approval.Result {
	t.Helper()
	rows := b.sent(t, "result/"+r.DecisionID)
	require.NotEmpty(t, rows, "no result for decision %s", r.DecisionID)
	m := rows[len(rows)-1]
	require.Equal(t, "", m.Exchange, "the default exchange")
	require.Equal(t, r.ReplyTo, m.RoutingKey)
	require.True(t, m.Discard, "a reply to a queue that has gone may be dropped")
	require.Equal(t, r.DecisionID, m.Headers["x-b2bpay-correlation-id"])
	var res approval.Result
	require.NoError(t, json.Unmarshal(m.Body, &res))
	return res
}

// auditOf returns a user's audit entries with event.
func (b *bundle) auditOf(t *testing.T, userID, event string) []postgres.AuditEntry {
	t.Helper()
	all, err := b.store.AuditList(t.Context(), userID, 1000)
	require.NoError(t, err)
	var out []postgres.AuditEntry
	for _, e := range all {
		if e.Event == event {
			out = append(out, e)
		}
	}
	return out
}

func TestDecisionApplyConfirmation(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)
	a.clock.Advance(time.Minute + 1234567*time.Nanosecond)
	now := a.clock.Now()
	r := a.confirmation(t, p)
	_, step := code(t, a.bundle, a.applicantSeed, 0)

	res := a.apply(t, r)
	require.Equal(t, approval.Result{
		Schema: approval.ResultSchema, DecisionID: r.DecisionID, PaymentID: p.ID,
		Outcome: approval.Applied, State: payment.StateAwaitingReview, At: now,
	}, res)

	// The payment, its timeline and its chain.
	got, tl := a.requireChain(t, p.ID)
	require.Equal(t, payment.StateAwaitingReview, got.State)
	require.Equal(t, 3, got.Version)
	requireTime(t, now.Truncate(time.Microsecond), got.UpdatedAt)
	require.Len(t, tl, 3)
	e := tl[2]
	require.Equal(t, payment.Actor{Kind: payment.ActorUser, ID: a.applicant.ID}, e.Actor)
	require.Equal(t, payment.ActionConfirm, e.Action)
	require.Equal(t, payment.StateAwaitingConfirmation, e.From)
	require.Equal(t, payment.StateAwaitingReview, e.To)
	require.Equal(t, e.Hash, got.HeadHash)
	require.Equal(t, p.HeadHash, e.PrevHash, "the decision continues intake's chain")

	// The decision row, with the step of the code it spent.
	d := a.decisionRow(t, r.DecisionID)
	require.Equal(t, &p.ID, d.PaymentID)
	require.Equal(t, "confirmation", d.Stage)
	require.Equal(t, "approve", d.Verdict)
	require.Equal(t, &a.applicant.ID, d.ActorID)
	require.Equal(t, &r.SessionID, d.SessionID)
	require.Equal(t, approval.Applied, d.Outcome)
	require.Empty(t, d.Code)
	require.Equal(t, p.Digest(), d.Digest)
	require.Equal(t, &step, d.OTPStep)
	requireTime(t, now.Truncate(time.Microsecond), d.DecidedAt)
	requireTime(t, res.At, d.Result.At)
	d.Result.At = res.At
	require.Equal(t, res, d.Result)
	_, _, last := a.otpState(t, a.applicant.ID)
	require.Equal(t, step, last, "the code is spent")

	// The audit trail.
	require.Equal(t, []string{"otp_enrolled", "otp_ok", "decision_applied"}, a.auditEvents(t, a.applicant.ID))
	audit := a.auditOf(t, a.applicant.ID, "decision_applied")[0]
	require.Equal(t, p.ID, audit.PaymentID)
	require.Equal(t, "user:"+a.applicant.ID, audit.Actor)
	require.Equal(t, "confirmation approve: awaiting_confirmation -> awaiting_review", audit.Detail)

	// The result to the decider's reply queue.
	sentRes := a.result(t, r)
	requireTime(t, res.At, sentRes.At)
	sentRes.At = res.At
	require.Equal(t, res, sentRes)

	// The status event to the upstream.
	events := a.sent(t, a.upstream.ID+"/"+p.RequestID+"/3")
	require.Len(t, events, 1)
	require.Equal(t, "b2bpay.events", events[0].Exchange)
	require.False(t, events[0].Discard)
	ev := decodeEvent(t, events[0].Body)
	require.Equal(t, payment.EventStateChanged, ev.Kind)
	require.Equal(t, payment.StateAwaitingReview, ev.State)
	require.Equal(t, payment.ActionConfirm, ev.Action)
	require.Equal(t, &payment.Actor{Kind: payment.ActorUser, ID: a.applicant.ID}, ev.Actor)
	require.Equal(t, p.ID, ev.PaymentID)

	// The next task: review, of the same content.
	tasks := a.tasksOf(t, p.ID)
	require.Len(t, tasks, 2, "intake's confirmation task, then the review task")
	require.Equal(t, payment.StageConfirmation, tasks[0].Stage)
	task := tasks[1]
	require.Equal(t, payment.StageReview, task.Stage)
	require.Equal(t, p.ID+"/review/3", task.TaskID)
	require.Equal(t, 3, task.Version)
	require.Equal(t, got.Digest(), task.Digest)
	require.Equal(t, p.Digest(), task.Digest)
	require.Empty(t, task.Authorizations)
	require.False(t, a.sent(t, task.TaskID)[0].Discard, "a task must reach its queue")
}

func TestDecisionApplyRepeat(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)
	r := a.confirmation(t, p)
	first := a.applied(t, r)

	// The same decision again (a redelivery, or the client sending it
	// twice), later: the first result, nothing applied twice. The code,
	// already spent, is not even looked at.
	a.clock.Advance(time.Minute)
	again := a.apply(t, r)
	requireTime(t, first.At, again.At)
	again.At = first.At
	require.Equal(t, first, again)

	require.Equal(t, 1, a.countDecisions(t, p.ID, approval.Applied))
	require.Zero(t, a.countDecisions(t, p.ID, approval.Refused))
	got, _ := a.requireChain(t, p.ID)
	require.Equal(t, 3, got.Version)
	require.Equal(t, []string{"otp_enrolled", "otp_ok", "decision_applied"}, a.auditEvents(t, a.applicant.ID))
	require.Len(t, a.sent(t, "result/"+r.DecisionID), 2, "answered again")
	require.Len(t, a.tasksOf(t, p.ID), 2, "no second review task")
	require.Empty(t, a.sent(t, a.upstream.ID+"/"+p.RequestID+"/4"))

	// A refused decision repeated: the same refusal, one row.
	reviewer := a.newUser(t, payment.RoleReviewer)
	early := a.decision(p, reviewer, payment.StageAuthorization, payment.VerdictReject)
	early.Reason = "too early"
	refused := a.apply(t, early)
	require.Equal(t, payment.CodeInvalidTransition, refused.Code)
	repeated := a.apply(t, early)
	require.Equal(t, refused.Code, repeated.Code)
	require.Equal(t, 1, a.countDecisions(t, p.ID, approval.Refused))
}

func TestDecisionApplyWithoutReplyTo(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)
	r := a.confirmation(t, p)
	r.ReplyTo = ""
	a.applied(t, r)
	require.Empty(t, a.sent(t, "result/"+r.DecisionID), "nowhere to answer")
	require.Len(t, a.sent(t, a.upstream.ID+"/"+p.RequestID+"/3"), 1, "the upstream still hears of it")

	refused := a.decision(p, a.applicant, payment.StageConfirmation, payment.VerdictApprove)
	refused.ReplyTo = ""
	require.Equal(t, approval.Refused, a.apply(t, refused).Outcome)
	require.Empty(t, a.sent(t, "result/"+refused.DecisionID))
}

func TestDecisionApplyRefused(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)
	a.applied(t, a.confirmation(t, p))
	p = a.payment(t, p.ID)
	reviewer := a.newUser(t, payment.RoleReviewer)
	limited := a.newUser(t, payment.RoleReviewer)
	require.NoError(t, a.store.UserSetLimit(t.Context(), limited.ID, "CNY", p.AmountMinor-1, "admin"))
	enough := a.newUser(t, payment.RoleReviewer)
	require.NoError(t, a.store.UserSetLimit(t.Context(), enough.ID, "CNY", p.AmountMinor, "admin"))
	other := setup(t) // a reviewer of another customer
	outsider := other.newUser(t, payment.RoleReviewer)
	inactive := a.newUser(t, payment.RoleReviewer)
	require.NoError(t, a.store.UserSetActive(t.Context(), inactive.ID, false, "admin", "left"))
	authorizer, _ := a.authorizer(t)

	tests := []struct {
		name string
		r    approval.Decision
		code payment.Code
	}{
		{"WrongRole", a.decision(p, authorizer, payment.StageReview, payment.VerdictApprove), payment.CodeWrongRole},
		{"WrongCustomer", a.decision(p, outsider, payment.StageReview, payment.VerdictApprove), payment.CodeNotFound}, // as over HTTP
		{"Inactive", a.decision(p, inactive, payment.StageReview, payment.VerdictApprove), payment.CodeUserInactive},
		{"ApplicantReviews", a.decision(p, a.applicant, payment.StageReview, payment.VerdictApprove), payment.CodeWrongRole},
		{"AlreadyConfirmed", a.decision(p, a.applicant, payment.StageConfirmation, payment.VerdictApprove), payment.CodeAlreadyDecided},
		{"NotYetAtAuthorization", a.decision(p, authorizer, payment.StageAuthorization, payment.VerdictApprove), payment.CodeInvalidTransition},
		{"OverLimit", a.decision(p, limited, payment.StageReview, payment.VerdictApprove), payment.CodeOverLimit},
		{"ContentChanged", func() approval.Decision {
			r := a.decision(p, reviewer, payment.StageReview, payment.VerdictApprove)
			r.Digest = (&payment.Payment{ID: p.ID}).Digest()
			return r
		}(), payment.CodeContentChanged},
		{"RejectWithoutReason", a.decision(p, reviewer, payment.StageReview, payment.VerdictReject), payment.CodeReasonRequired},
		{"BadStage", a.decision(p, reviewer, "payout", payment.VerdictApprove), payment.CodeInvalidInput},
		{"UnknownPayment", func() approval.Decision {
			r := a.decision(p, reviewer, payment.StageReview, payment.VerdictApprove)
			r.PaymentID = uuid.NewString()
			return r
		}(), payment.CodeNotFound},
		{"PaymentIDNotAUUID", func() approval.Decision {
			r := a.decision(p, reviewer, payment.StageReview, payment.VerdictApprove)
			r.PaymentID = "not-a-payment"
			return r
		}(), payment.CodeNotFound},
		{"CancelByAnotherUser", a.decision(p, reviewer, "", approval.Cancel), payment.CodeNotApplicant},
	}
	for _, tt := range tests {
		// One after the other: each must find the payment as it was.
		res := a.apply(t, tt.r)
		require.Equal(t, approval.Refused, res.Outcome, tt.name)
		require.Equal(t, tt.code, res.Code, "%s: %s", tt.name, res.Reason)
		require.NotEmpty(t, res.Reason, tt.name)
		require.Empty(t, res.State, tt.name)

		d := a.decisionRow(t, tt.r.DecisionID)
		require.Equal(t, approval.Refused, d.Outcome, tt.name)
		require.Equal(t, string(tt.code), d.Code, tt.name)
		require.Equal(t, res.Reason, d.Reason, tt.name)
		require.Nil(t, d.OTPStep, tt.name)
		if tt.r.PaymentID == p.ID {
			require.Equal(t, &p.ID, d.PaymentID, tt.name)
		} else {
			require.Nil(t, d.PaymentID, "%s: no such payment to refer to", tt.name)
		}
		require.Equal(t, &tt.r.UserID, d.ActorID, tt.name)
		refusedAudit := a.auditOf(t, tt.r.UserID, "decision_refused")
		require.NotEmpty(t, refusedAudit, tt.name)
		require.Contains(t, refusedAudit[len(refusedAudit)-1].Detail, res.Reason, tt.name)

		sent := a.result(t, tt.r)
		require.Equal(t, approval.Refused, sent.Outcome, tt.name)
		require.Equal(t, tt.code, sent.Code, tt.name)
	}

	got, tl := a.requireChain(t, p.ID)
	require.Equal(t, payment.StateAwaitingReview, got.State)
	require.Equal(t, p.Version, got.Version)
	require.Equal(t, p.HeadHash, got.HeadHash)
	require.Len(t, tl, 3)
	require.Equal(t, 1, a.countDecisions(t, p.ID, approval.Applied))
	require.Len(t, a.tasksOf(t, p.ID), 2, "no task from a refusal")
	require.Empty(t, a.sent(t, a.upstream.ID+"/"+p.RequestID+"/4"), "no event from a refusal")
	require.Empty(t, a.auditOf(t, reviewer.ID, "decision_applied"))

	// Exactly at the limit is within it.
	res := a.applied(t, a.decision(p, enough, payment.StageReview, payment.VerdictApprove))
	require.Equal(t, payment.StateAwaitingAuthorization, res.State)
}

func TestDecisionApplyOTPRefused(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)

	missing := a.confirmation(t, p)
	missing.OTP = ""
	res := a.apply(t, missing)
	require.Equal(t, payment.CodeOTPRequired, res.Code)
	failures, _, _ := a.otpState(t, a.applicant.ID)
	require.Zero(t, failures, "no code is not a wrong code")

	wrong := a.confirmation(t, p)
	wrong.OTP = wrongCode(t, a.bundle, a.applicantSeed)
	res = a.apply(t, wrong)
	require.Equal(t, approval.Refused, res.Outcome)
	require.Equal(t, payment.CodeOTPInvalid, res.Code)

	// The refusal committed the failure count and the audit trail with it.
	failures, _, last := a.otpState(t, a.applicant.ID)
	require.Equal(t, 1, failures)
	require.Zero(t, last)
	require.Equal(t, []string{"otp_enrolled", "decision_refused", "otp_wrong", "decision_refused"}, a.auditEvents(t, a.applicant.ID))
	otpWrong := a.auditOf(t, a.applicant.ID, "otp_wrong")[0]
	require.Equal(t, p.ID, otpWrong.PaymentID)
	require.Equal(t, "purpose=confirmation failures=1/5", otpWrong.Detail)
	d := a.decisionRow(t, wrong.DecisionID)
	require.Equal(t, approval.Refused, d.Outcome)
	require.Equal(t, string(payment.CodeOTPInvalid), d.Code)
	require.Nil(t, d.OTPStep)
	require.Equal(t, payment.CodeOTPInvalid, a.result(t, wrong).Code)

	// The payment did not move.
	got, tl := a.requireChain(t, p.ID)
	require.Equal(t, payment.StateAwaitingConfirmation, got.State)
	require.Len(t, tl, 2)
	require.Equal(t, 2, a.countDecisions(t, p.ID, approval.Refused))

	// The right code still works, and resets the count.
	a.applied(t, a.confirmation(t, p))
	failures, _, _ = a.otpState(t, a.applicant.ID)
	require.Zero(t, failures)

	// A code already spent (here by a check of its own) is a replay.
	authorizer, seed := a.authorizer(t)
	a.applied(t, a.decision(p, a.newUser(t, payment.RoleReviewer), payment.StageReview, payment.VerdictApprove))
	spent := a.authorization(t, a.payment(t, p.ID), authorizer, seed)
	_, err := a.store.OTPCheck(t.Context(), authorizer.ID, spent.OTP, a.otp.open, a.otp.pol, "test", "")
	require.NoError(t, err)
	res = a.apply(t, spent)
	require.Equal(t, payment.CodeOTPReplayed, res.Code)
	require.Equal(t, payment.StateAwaitingAuthorization, a.payment(t, p.ID).State)
}

// TestDecisionOnePersonOnce: the database itself refuses a second applied
// decision by one person on one payment, whatever the domain checked.
func TestDecisionOnePersonOnce(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)
	r := a.confirmation(t, p)
	a.applied(t, r)

	insert := func(outcome string) error {
		_, err := a.pool.Exec(t.Context(), `INSERT INTO decisions (id, payment_id, stage, verdict, actor_id, outcome, result, decided_at)
			VALUES ($1, $2, 'review', 'approve', $3, $4, '{}', $5)`, "dec-"+randomHex(8), p.ID, a.applicant.ID, outcome, a.clock.Now())
		return err
	}
	pe := pgError(t, insert(approval.Applied))
	require.Equal(t, "23505", pe.Code)
	require.Equal(t, "decisions_one_act_per_person", pe.ConstraintName)
	require.NoError(t, insert(approval.Refused), "refusals are not acts")
	require.NoError(t, insert(approval.Refused))

	// An applied decision names its payment and its actor.
	_, err := a.pool.Exec(t.Context(), `INSERT INTO decisions (id, payment_id, stage, verdict, actor_id, outcome, result, decided_at)
		VALUES ($1, $2, 'review', 'approve', NULL, 'applied', '{}', $3)`, "dec-"+randomHex(8), p.ID, a.clock.Now())
	require.Equal(t, "23514", pgError(t, err).Code)
}

func TestDecisionRefuse(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	ctx := t.Context()
	p := a.submitPayment(t)
	badToken := payment.Errorf(payment.CodeTokenInvalid, "the session token is expired")

	// A bad token: nobody is known; the decision is recorded and answered.
	r := a.decision(p, payment.User{}, payment.StageConfirmation, payment.VerdictApprove)
	r.SessionID = ""
	res, err := a.app.Refuse(ctx, r, badToken)
	require.NoError(t, err)
	require.Equal(t, approval.Refused, res.Outcome)
	require.Equal(t, payment.CodeTokenInvalid, res.Code)
	require.Equal(t, badToken.Error(), res.Reason)
	d := a.decisionRow(t, r.DecisionID)
	require.Nil(t, d.ActorID)
	require.Nil(t, d.SessionID)
	require.Equal(t, &p.ID, d.PaymentID)
	require.Equal(t, approval.Refused, d.Outcome)
	require.Equal(t, string(payment.CodeTokenInvalid), d.Code)
	require.Equal(t, payment.CodeTokenInvalid, a.result(t, r).Code)
	var actor string
	var user *string
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT actor, user_id FROM audit_log WHERE event = 'decision_refused' AND payment_id = $1`,
		p.ID).Scan(&actor, &user))
	require.Equal(t, "unknown", actor)
	require.Nil(t, user)

	// Again: the same answer, one row.
	again, err := a.app.Refuse(ctx, r, payment.Errorf(payment.CodeTokenInvalid, "something else"))
	require.NoError(t, err)
	require.Equal(t, res.Reason, again.Reason)
	require.Equal(t, 1, a.countDecisions(t, p.ID, approval.Refused))

	// A token of a user that does not exist, and a payment id that is none.
	ghost := a.decision(p, payment.User{ID: "ghost-" + a.suffix}, payment.StageReview, payment.VerdictApprove)
	ghost.PaymentID = "../../etc"
	res, err = a.app.Refuse(ctx, ghost, badToken)
	require.NoError(t, err)
	require.Equal(t, payment.CodeTokenInvalid, res.Code)
	d = a.decisionRow(t, ghost.DecisionID)
	require.Nil(t, d.ActorID, "no such user to refer to")
	require.Nil(t, d.PaymentID)
	require.Equal(t, "ghost-"+a.suffix, a.auditOf(t, "ghost-"+a.suffix, "decision_refused")[0].UserID)

	// A user deleted... or never there, found only when applying.
	gone := a.decision(p, payment.User{ID: "gone-" + a.suffix}, payment.StageConfirmation, payment.VerdictApprove)
	res = a.apply(t, gone)
	require.Equal(t, payment.CodeTokenInvalid, res.Code)
	require.Nil(t, a.decisionRow(t, gone.DecisionID).ActorID)

	got, tl := a.requireChain(t, p.ID)
	require.Equal(t, payment.StateAwaitingConfirmation, got.State)
	require.Len(t, tl, 2)
}

// TestDecisionConcurrentReviewers: ten reviewers take the same task at
// once; one review is applied, the others find it decided.
func TestDecisionConcurrentReviewers(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)
	a.applied(t, a.confirmation(t, p))

	const n = 10
	reqs := make([]approval.Decision, n)
	for i := range reqs {
		reqs[i] = a.decision(p, a.newUser(t, payment.RoleReviewer), payment.StageReview, payment.VerdictApprove)
	}
	results := make([]approval.Result, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = a.app.Apply(t.Context(), reqs[i])
		})
	}
	close(start)
	wg.Wait()

	applied := 0
	for i := range n {
		require.NoError(t, errs[i])
		if results[i].Outcome == approval.Applied {
			applied++
			require.Equal(t, payment.StateAwaitingAuthorization, results[i].State)
			continue
		}
		require.Equal(t, payment.CodeAlreadyDecided, results[i].Code, results[i].Reason)
	}
	require.Equal(t, 1, applied)
	require.Equal(t, 2, a.countDecisions(t, p.ID, approval.Applied), "the confirmation and one review")
	require.Equal(t, n-1, a.countDecisions(t, p.ID, approval.Refused))
	got, tl := a.requireChain(t, p.ID)
	require.Equal(t, payment.StateAwaitingAuthorization, got.State)
	require.Len(t, tl, 4)
	tasks := a.tasksOf(t, p.ID)
	require.Len(t, tasks, 3)
	require.Equal(t, payment.StageAuthorization, tasks[2].Stage)
}

func TestDecisionTwoAuthorizers(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	require.NoError(t, a.store.ApprovalTierSet(t.Context(), a.customer.ID, "CNY", 1_000_000_00, 2))
	p := a.reviewed(t) // 1,286,400.50 CNY: above the tier
	require.Equal(t, 2, p.RequiredAuthorizers)
	first, firstSeed := a.authorizer(t)
	second, secondSeed := a.authorizer(t)

	res := a.applied(t, a.authorization(t, p, first, firstSeed))
	require.Equal(t, payment.StateAwaitingAuthorization, res.State)
	got, tl := a.requireChain(t, p.ID)
	require.Equal(t, payment.ActionAuthorizePartial, tl[4].Action)
	require.Equal(t, "authorization 1 of 2", tl[4].Note)
	tasks := a.tasksOf(t, p.ID)
	require.Len(t, tasks, 4)
	require.Equal(t, "1 of 2", tasks[2].Authorizations)
	require.Equal(t, "2 of 2", tasks[3].Authorizations, "the task goes out again for the second authorizer")
	require.Equal(t, p.ID+"/authorization/5", tasks[3].TaskID)
	require.Equal(t, got.Digest(), tasks[3].Digest)

	// The same authorizer again, with a fresh code.
	a.clock.Advance(time.Minute)
	res = a.apply(t, a.authorization(t, got, first, firstSeed))
	require.Equal(t, payment.CodeSeparationOfDuties, res.Code)

	res = a.applied(t, a.authorization(t, got, second, secondSeed))
	require.Equal(t, payment.StateAuthorized, res.State)
	got, tl = a.requireChain(t, p.ID)
	require.Equal(t, payment.StateAuthorized, got.State)
	require.Equal(t, "authorization 2 of 2", tl[5].Note)
	require.Equal(t, second.ID, tl[5].Actor.ID)
	require.Len(t, a.tasksOf(t, p.ID), 4, "nothing waits any more")
	ev := decodeEvent(t, a.sent(t, a.upstream.ID+"/"+p.RequestID+"/6")[0].Body)
	require.Equal(t, payment.StateAuthorized, ev.State)
}

func TestDecisionRejectAndCancel(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)

	// A rejection at review: its code is in the chain, and nothing follows.
	p := a.submitPayment(t)
	a.applied(t, a.confirmation(t, p))
	reject := a.decision(p, a.newUser(t, payment.RoleReviewer), payment.StageReview, payment.VerdictReject)
	reject.Reason, reject.Digest = "no invoice attached", ""
	res := a.applied(t, reject)
	require.Equal(t, payment.StateRejected, res.State)
	got, tl := a.requireChain(t, p.ID)
	require.Equal(t, payment.StateRejected, got.State)
	require.Equal(t, payment.CodeRejectedBy(payment.StageReview), tl[3].Code)
	require.Equal(t, "no invoice attached", tl[3].Note)
	require.Len(t, a.tasksOf(t, p.ID), 2)
	ev := decodeEvent(t, a.sent(t, a.upstream.ID+"/"+p.RequestID+"/4")[0].Body)
	require.Equal(t, payment.CodeRejectedBy(payment.StageReview), ev.Code)
	require.Equal(t, "no invoice attached", ev.Reason)
	require.Empty(t, a.decisionRow(t, reject.DecisionID).Digest)

	// The applicant withdraws a payment before confirming it.
	q := a.submitPayment(t)
	cancel := a.decision(q, a.applicant, "", approval.Cancel)
	cancel.Reason, cancel.Digest = "ordered twice", ""
	res = a.applied(t, cancel)
	require.Equal(t, payment.StateCancelled, res.State)
	got, tl = a.requireChain(t, q.ID)
	require.Equal(t, payment.StateCancelled, got.State)
	require.Equal(t, payment.ActionCancel, tl[2].Action)
	require.Equal(t, payment.Actor{Kind: payment.ActorUser, ID: a.applicant.ID}, tl[2].Actor)
	require.Equal(t, "ordered twice", tl[2].Note)
	require.Len(t, a.tasksOf(t, q.ID), 1, "no task after a cancel")
	require.Equal(t, approval.Applied, a.decisionRow(t, cancel.DecisionID).Outcome)
}

// TestDecisionCancelAfterConfirmation: the applicant may cancel until
// authorization (README, payment.Cancel), also after confirming.
//
// The applicant's confirmation is an applied decision, and so is the
// cancel: the unique index decisions_one_act_per_person leaves cancels out
// (migration 0003), so the second row is not refused.
func TestDecisionCancelAfterConfirmation(t *testing.T) {
	t.Parallel()
	a := setupApprovals(t)
	p := a.submitPayment(t)
	a.applied(t, a.confirmation(t, p))
	cancel := a.decision(p, a.applicant, "", approval.Cancel)
	cancel.Reason = "ordered twice"
	res := a.applied(t, cancel)
	require.Equal(t, payment.StateCancelled, res.State)
	got, _ := a.requireChain(t, p.ID)
	require.Equal(t, payment.StateCancelled, got.State)
}
