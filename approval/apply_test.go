package approval_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/seal"
)

// The approval rules, judged without a database or a broker: the Applier
// over memStore.

const customerID = "cust-sh"

// start is the tests' clock at its start, on a step boundary.
var start = time.Date(2026, 3, 11, 2, 30, 0, 0, time.UTC)

// kit is an Applier over a memStore, with a clock the test moves and
// people enrolled with an OTP whose sealed seed is the seed itself.
type kit struct {
	t     *testing.T
	store *memStore
	app   *approval.Applier
	now   time.Time
	seeds map[string][]byte
	n     int
}

func newKit(t *testing.T) *kit {
	t.Helper()
	k := &kit{t: t, store: newMemStore(), now: start, seeds: map[string][]byte{}}
	key, err := seal.New(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	k.app, err = approval.New(k.store, approval.Config{
		Now:  func() time.Time { return k.now },
		Seal: key,
		// The test's "sealed" seed is the seed; Check clears what it opens.
		OTPOpener:     func(sealed []byte, _ string) ([]byte, error) { return bytes.Clone(sealed), nil },
		NextCutoff:    func(t time.Time) time.Time { return t.Truncate(time.Hour).Add(time.Hour) },
		EventMessage:  eventMessage,
		TaskMessage:   taskMessage,
		ResultMessage: resultMessage,
	})
	require.NoError(t, err)
	k.store.db.reviewOTP[customerID] = true
	return k
}

func eventMessage(e payment.Event) (outbox.Message, error) {
	return outbox.Message{MessageID: "event/" + e.ID, RoutingKey: "event", Body: []byte(e.State)}, nil
}

func taskMessage(p *payment.Payment, s payment.Stage, done int) (outbox.Message, error) {
	return outbox.Message{MessageID: fmt.Sprintf("task/%s/%s/%d", p.ID, s, done), RoutingKey: "task." + string(s)}, nil
}

func resultMessage(r approval.Result, replyTo string) (outbox.Message, bool, error) {
	if replyTo == "" {
		return outbox.Message{}, false, nil
	}
	body, err := json.Marshal(r)
	return outbox.Message{MessageID: "result/" + r.DecisionID, RoutingKey: replyTo, Body: body}, true, err
}

// person adds an active member of staff of the customer, enrolled with an
// OTP.
func (k *kit) person(id string, roles ...payment.Role) payment.User {
	k.t.Helper()
	u := payment.User{ID: id, CustomerID: customerID, Name: id, Roles: roles, Active: true}
	seed, _, err := otp.Generate("b2bpay", id)
	require.NoError(k.t, err)
	k.seeds[id] = seed
	k.store.db.people[id] = approval.Person{User: u, OTP: otp.State{Sealed: bytes.Clone(seed)}}
	return u
}

// payment adds a payment of the customer, applied for by applicant, that
// waits in state st and needs required authorizers.
func (k *kit) payment(applicant string, st payment.State, required int) *payment.Payment {
	k.n++
	p := &payment.Payment{
		ID: fmt.Sprintf("pay-%d", k.n), UpstreamID: "erp-sh", RequestID: fmt.Sprintf("req-%d", k.n), OrderRef: fmt.Sprintf("PO-%d", k.n),
		CustomerID: customerID, ApplicantID: applicant, BankID: "105290036005", DebtorAccount: "340058712345",
		Creditor:    payment.Creditor{Name: "上海华东机电设备有限公司", Account: "31001520313050012345", BankID: "105290036005"},
		AmountMinor: 128640050, Currency: "CNY", ExecutionDate: time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC),
		State: st, CreatedAt: start, UpdatedAt: start, Version: 2, RequiredAuthorizers: required, HeadHash: []byte("head"),
	}
	q := *p
	k.store.db.payments[p.ID] = &q
	return p
}

// stored is a payment as the store has it now.
func (k *kit) stored(id string) payment.Payment { return *k.store.db.payments[id] }

// code is u's code now.
func (k *kit) code(u payment.User) string {
	k.t.Helper()
	step, err := otp.Step(k.now, otp.Options{})
	require.NoError(k.t, err)
	c, err := otp.CodeAt(k.seeds[u.ID], step, otp.Options{})
	require.NoError(k.t, err)
	return c
}

// decision is u's verdict on p at stage, of p's content as stored, with
// u's code where the stage needs one, answered to u's reply queue.
func (k *kit) decision(p *payment.Payment, u payment.User, stage payment.Stage, verdict payment.Verdict) approval.Decision {
	k.n++
	stored := k.stored(p.ID)
	d := approval.Decision{DecisionID: fmt.Sprintf("dec-%d", k.n), PaymentID: p.ID, Stage: stage, Verdict: verdict,
		Digest: stored.Digest(), UserID: u.ID, SessionID: "sess-" + u.ID, ReplyTo: "reply." + u.ID}
	if verdict == payment.VerdictReject {
		d.Reason = "wrong supplier"
	}
	if payment.NeedsOTPFor(stage, verdict, true) {
		d.OTP = k.code(u)
	}
	return d
}

func (k *kit) apply(d approval.Decision) approval.Result {
	k.t.Helper()
	res, err := k.app.Apply(k.t.Context(), d)
	require.NoError(k.t, err)
	return res
}

func (k *kit) applied(d approval.Decision) approval.Result {
	k.t.Helper()
	res := k.apply(d)
	require.Equal(k.t, approval.Applied, res.Outcome, "%s: %s", res.Code, res.Reason)
	return res
}

// next moves the clock to the next OTP step: everyone's next code.
func (k *kit) next() { k.now = k.now.Add(30 * time.Second) }

// record is the decision row of id.
func (k *kit) record(id string) (approval.Record, bool) {
	for _, r := range k.store.db.decisions {
		if r.Decision.DecisionID == id {
			return r, true
		}
	}
	return approval.Record{}, false
}

// events are the audit events of user, in order.
func (k *kit) events(user string) []string {
	var out []string
	for _, a := range k.store.db.audits {
		if a.UserID == user {
			out = append(out, a.Event)
		}
	}
	return out
}

// messages are the outbox message ids with prefix, in order.
func (k *kit) messages(prefix string) []string {
	var out []string
	for _, m := range k.store.db.outbox {
		if strings.HasPrefix(m.MessageID, prefix) {
			out = append(out, m.MessageID)
		}
	}
	return out
}

// staff is the customer's applicant, reviewer and two authorizers.
type staff struct{ applicant, reviewer, auth1, auth2 payment.User }

func (k *kit) staff() staff {
	return staff{
		applicant: k.person("zhang.wei", payment.RoleApplicant),
		reviewer:  k.person("li.na", payment.RoleReviewer),
		auth1:     k.person("wang.fang", payment.RoleAuthorizer),
		auth2:     k.person("chen.jie", payment.RoleAuthorizer),
	}
}

// Each stage's approval, by the right person with their code: the payment
// moves to the next stage, with its timeline entry, status event, next
// task and result, the decision's row sealed in a chain, the code used up.
func TestApplyEachStage(t *testing.T) {
	k := newKit(t)
	s := k.staff()
	p := k.payment(s.applicant.ID, payment.StateAwaitingConfirmation, 1)

	steps := []struct {
		u     payment.User
		stage payment.Stage
		want  payment.State
		task  string
	}{
		{s.applicant, payment.StageConfirmation, payment.StateAwaitingReview, "task/pay-1/review/0"},
		{s.reviewer, payment.StageReview, payment.StateAwaitingAuthorization, "task/pay-1/authorization/0"},
		{s.auth1, payment.StageAuthorization, payment.StateAuthorized, ""},
	}
	for i, st := range steps {
		d := k.decision(p, st.u, st.stage, payment.VerdictApprove)
		res := k.applied(d)
		require.Equal(t, st.want, res.State)
		require.Equal(t, st.want, k.stored(p.ID).State)
		require.Equal(t, 2+i+1, k.stored(p.ID).Version, "one version a move")

		r, ok := k.record(d.DecisionID)
		require.True(t, ok, "recorded")
		require.Equal(t, approval.Applied, r.Result.Outcome)
		require.Equal(t, st.u.ID, r.ActorID)
		require.Equal(t, p.ID, r.PaymentID)
		require.NotNil(t, r.OTPStep, "the code's step is kept")
		require.Equal(t, *r.OTPStep, k.store.db.people[st.u.ID].OTP.LastStep, "the code is used up")
		require.NotNil(t, r.Seal)
		require.Equal(t, i+1, r.Seal.Seq, "chained to the payment's previous decision")
		require.Equal(t, []string{"otp_ok", "decision_applied"}, k.events(st.u.ID))

		var got approval.Result
		require.NoError(t, json.Unmarshal(k.store.db.outbox[len(k.store.db.outbox)-1].Body, &got))
		require.Equal(t, res.DecisionID, got.DecisionID, "the result went to the reply queue, last")
		if st.task != "" {
			require.Contains(t, k.messages("task/"), st.task)
		}
		k.next()
	}
	require.Len(t, k.store.db.timeline, 3)
	require.Len(t, k.messages("event/"), 3, "a status event a move")
	res, _ := k.record(k.store.db.decisions[2].Decision.DecisionID)
	require.NotNil(t, res.Result.NextCutoff, "an authorized payment's result names its cutoff")
}

// A rejection needs a reason and no code; it ends the payment.
func TestApplyReject(t *testing.T) {
	k := newKit(t)
	s := k.staff()
	p := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	d := k.decision(p, s.reviewer, payment.StageReview, payment.VerdictReject)
	require.Empty(t, d.OTP)
	k.applied(d)
	require.Equal(t, payment.StateRejected, k.stored(p.ID).State)

	q := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	bare := k.decision(q, s.reviewer, payment.StageReview, payment.VerdictReject)
	bare.Reason = " "
	require.Equal(t, payment.CodeReasonRequired, k.apply(bare).Code)
}

// Separation of duties: the applicant, reviewer and authorizers are
// different people, whatever roles they hold.
func TestApplySeparationOfDuties(t *testing.T) {
	k := newKit(t)
	everything := k.person("all.roles", payment.RoleApplicant, payment.RoleReviewer, payment.RoleAuthorizer)
	rev := k.person("rev.auth", payment.RoleReviewer, payment.RoleAuthorizer)

	p := k.payment(everything.ID, payment.StateAwaitingReview, 1)
	res := k.apply(k.decision(p, everything, payment.StageReview, payment.VerdictApprove))
	require.Equal(t, payment.CodeSeparationOfDuties, res.Code, "the applicant reviews")

	k.applied(k.decision(p, rev, payment.StageReview, payment.VerdictApprove))
	reviewStep := k.store.db.people[rev.ID].OTP.LastStep
	k.next()
	res = k.apply(k.decision(p, rev, payment.StageAuthorization, payment.VerdictApprove))
	require.Equal(t, payment.CodeSeparationOfDuties, res.Code, "the reviewer authorizes")
	require.Equal(t, payment.StateAwaitingAuthorization, k.stored(p.ID).State)
	r, _ := k.record(res.DecisionID)
	require.Equal(t, approval.Refused, r.Result.Outcome, "the refusal is recorded")
	require.Nil(t, r.Seal, "a refusal is not sealed")
	require.Nil(t, r.OTPStep)
	require.Equal(t, "decision_refused", k.events(rev.ID)[len(k.events(rev.ID))-1])
	require.Equal(t, reviewStep, k.store.db.people[rev.ID].OTP.LastStep, "refused before the code is judged: not used up")

	// The wrong role, and a person of another customer.
	q := k.payment(everything.ID, payment.StateAwaitingAuthorization, 1)
	require.Equal(t, payment.CodeWrongRole, k.apply(k.decision(q, k.person("only.reviewer", payment.RoleReviewer),
		payment.StageAuthorization, payment.VerdictApprove)).Code)
	outsider := k.person("outsider", payment.RoleAuthorizer)
	o := k.store.db.people[outsider.ID]
	o.User.CustomerID = "cust-bj"
	k.store.db.people[outsider.ID] = o
	res = k.apply(k.decision(q, outsider, payment.StageAuthorization, payment.VerdictApprove))
	require.Equal(t, payment.CodeNotFound, res.Code, "another customer's payment does not exist for them")
	require.NotContains(t, res.Reason, string(payment.StateAwaitingAuthorization))
}

// An authorizer's limit in the payment's currency.
func TestApplyLimit(t *testing.T) {
	k := newKit(t)
	s := k.staff()
	p := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	k.store.db.limits[approval.Limit{UserID: s.auth1.ID, Currency: "CNY"}] = p.AmountMinor - 1
	k.store.db.limits[approval.Limit{UserID: s.auth2.ID, Currency: "CNY"}] = p.AmountMinor
	k.store.db.limits[approval.Limit{UserID: s.auth2.ID, Currency: "USD"}] = 1
	require.Equal(t, payment.CodeOverLimit, k.apply(k.decision(p, s.auth1, payment.StageAuthorization, payment.VerdictApprove)).Code)
	require.Zero(t, k.store.db.people[s.auth1.ID].OTP.LastStep, "refused before the code is judged: not used up")
	k.applied(k.decision(p, s.auth2, payment.StageAuthorization, payment.VerdictApprove))
}

// A payment that needs two authorizers: the first is partial, the task
// says one is done; the second, by another person, authorizes.
func TestApplyTwoAuthorizers(t *testing.T) {
	k := newKit(t)
	s := k.staff()
	p := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 2)
	res := k.applied(k.decision(p, s.auth1, payment.StageAuthorization, payment.VerdictApprove))
	require.Equal(t, payment.StateAwaitingAuthorization, res.State)
	require.Nil(t, res.NextCutoff)
	require.Equal(t, []string{"task/pay-1/authorization/1"}, k.messages("task/"))
	require.Equal(t, payment.ActionAuthorizePartial, k.store.db.timeline[0].Action)
	k.next()
	again := k.apply(k.decision(p, s.auth1, payment.StageAuthorization, payment.VerdictApprove))
	require.Equal(t, payment.CodeSeparationOfDuties, again.Code, "one person counts once")
	res = k.applied(k.decision(p, s.auth2, payment.StageAuthorization, payment.VerdictApprove))
	require.Equal(t, payment.StateAuthorized, res.State)
	require.NotNil(t, res.NextCutoff)
	require.Equal(t, 2, k.store.db.decisions[2].Seal.Seq)
}

// The OTP: required, wrong (counted, then locked), replayed, not enrolled.
func TestApplyOTP(t *testing.T) {
	k := newKit(t)
	s := k.staff()
	p := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)

	none := k.decision(p, s.auth1, payment.StageAuthorization, payment.VerdictApprove)
	none.OTP = ""
	require.Equal(t, payment.CodeOTPRequired, k.apply(none).Code)

	for i := 1; i <= 5; i++ {
		wrong := k.decision(p, s.auth1, payment.StageAuthorization, payment.VerdictApprove)
		wrong.OTP = "000000"
		if wrong.OTP == k.code(s.auth1) {
			wrong.OTP = "000001"
		}
		res := k.apply(wrong)
		require.Equal(t, payment.CodeOTPInvalid, res.Code)
		require.Equal(t, i, k.store.db.people[s.auth1.ID].OTP.Failures)
	}
	st := k.store.db.people[s.auth1.ID].OTP
	require.NotNil(t, st.LockedUntil, "locked at the fifth")
	require.Contains(t, k.events(s.auth1.ID), "otp_locked")
	locked := k.apply(k.decision(p, s.auth1, payment.StageAuthorization, payment.VerdictApprove))
	require.Equal(t, payment.CodeOTPLocked, locked.Code, "a right code while locked")
	require.Equal(t, payment.StateAwaitingAuthorization, k.stored(p.ID).State)

	// Replay: the other authorizer's code, used once on one payment, again
	// on another.
	q := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	first := k.decision(q, s.auth2, payment.StageAuthorization, payment.VerdictApprove)
	k.applied(first)
	r := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	replay := k.decision(r, s.auth2, payment.StageAuthorization, payment.VerdictApprove)
	require.Equal(t, first.OTP, replay.OTP)
	require.Equal(t, payment.CodeOTPReplayed, k.apply(replay).Code)
	require.Equal(t, "otp_replay", k.events(s.auth2.ID)[2])
	k.next()
	k.applied(k.decision(r, s.auth2, payment.StageAuthorization, payment.VerdictApprove))

	// Not enrolled.
	bare := k.person("no.otp", payment.RoleAuthorizer)
	b := k.store.db.people[bare.ID]
	b.OTP.Sealed = nil
	k.store.db.people[bare.ID] = b
	u := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	require.Equal(t, payment.CodeOTPNotEnrolled, k.apply(k.decision(u, bare, payment.StageAuthorization, payment.VerdictApprove)).Code)
}

// A review needs a code only under the customer's review policy.
func TestApplyReviewPolicy(t *testing.T) {
	k := newKit(t)
	s := k.staff()
	p := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	d := k.decision(p, s.reviewer, payment.StageReview, payment.VerdictApprove)
	d.OTP = ""
	require.Equal(t, payment.CodeOTPRequired, k.apply(d).Code)
	k.store.db.reviewOTP[customerID] = false
	d.DecisionID += "-again"
	res := k.applied(d)
	r, _ := k.record(res.DecisionID)
	require.Nil(t, r.OTPStep)
}

// A decision id seen before: its first result again for its sender, not
// recorded twice; anyone else is refused decision_id_taken, audited, not
// recorded; a refusal before reading (a bad token) is refused the same.
func TestApplyRepeat(t *testing.T) {
	k := newKit(t)
	s := k.staff()
	p := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	d := k.decision(p, s.reviewer, payment.StageReview, payment.VerdictApprove)
	first := k.applied(d)
	k.next()
	d.OTP = k.code(s.reviewer)
	again := k.apply(d)
	require.Equal(t, first, again, "the first result, again")
	require.Len(t, k.store.db.decisions, 1, "recorded once")
	require.Equal(t, []string{"result/" + d.DecisionID, "result/" + d.DecisionID}, k.messages("result/"), "answered again")

	other := k.person("li.other", payment.RoleReviewer)
	stolen := d
	stolen.UserID, stolen.ReplyTo = other.ID, "reply."+other.ID
	res := k.apply(stolen)
	require.Equal(t, approval.Refused, res.Outcome)
	require.Equal(t, payment.CodeDecisionIDTaken, res.Code)
	require.Empty(t, res.State, "nothing of the first result")
	require.NotContains(t, res.Reason, s.reviewer.ID)
	require.Equal(t, []string{"decision_refused"}, k.events(other.ID), "audited")
	require.Len(t, k.store.db.decisions, 1, "not recorded: the id stays the first sender's")

	anon := d
	anon.UserID, anon.SessionID, anon.ReplyTo = "", "", ""
	res, err := k.app.Refuse(t.Context(), anon, payment.Errorf(payment.CodeTokenInvalid, "garbage"))
	require.NoError(t, err)
	require.Equal(t, payment.CodeTokenInvalid, res.Code, "the refusal given, not the first result")
}

// A decision refused before it reached a payment (a bad token) is recorded
// once and answered; sent again, it gets its first result.
func TestRefuse(t *testing.T) {
	k := newKit(t)
	d := approval.Decision{DecisionID: "dec-x", PaymentID: "pay-none", Stage: payment.StageReview, Verdict: payment.VerdictApprove}
	res, err := k.app.Refuse(t.Context(), d, payment.Errorf(payment.CodeTokenInvalid, "bad token"))
	require.NoError(t, err)
	require.Equal(t, payment.CodeTokenInvalid, res.Code)
	r, ok := k.record(d.DecisionID)
	require.True(t, ok)
	require.Empty(t, r.PaymentID, "no such payment")
	require.Empty(t, r.ActorID, "nobody known")
	again, err := k.app.Refuse(t.Context(), d, payment.Errorf(payment.CodeTokenInvalid, "something else"))
	require.NoError(t, err)
	require.Equal(t, res, again)
	require.Len(t, k.store.db.decisions, 1)

	// A payment that does not exist, a person who no longer does.
	s := k.staff()
	ghost := approval.Decision{DecisionID: "dec-g", PaymentID: "pay-404", Stage: payment.StageReview, Verdict: payment.VerdictReject,
		Reason: "no", UserID: s.reviewer.ID}
	require.Equal(t, payment.CodeNotFound, k.apply(ghost).Code)
	p := k.payment(s.applicant.ID, payment.StateAwaitingReview, 1)
	gone := k.decision(p, payment.User{ID: "gone"}, payment.StageReview, payment.VerdictReject)
	require.Equal(t, payment.CodeTokenInvalid, k.apply(gone).Code)
	r, _ = k.record(gone.DecisionID)
	require.Equal(t, p.ID, r.PaymentID, "the payment exists")
	require.Empty(t, r.ActorID)
}

// The applicant cancels until authorization; nobody else does.
func TestApplyCancel(t *testing.T) {
	k := newKit(t)
	s := k.staff()
	p := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	cancel := approval.Decision{DecisionID: "dec-c1", PaymentID: p.ID, Verdict: approval.Cancel, Reason: "order withdrawn", UserID: s.reviewer.ID}
	require.Equal(t, payment.CodeNotApplicant, k.apply(cancel).Code)
	cancel.DecisionID, cancel.UserID = "dec-c2", s.applicant.ID
	res := k.applied(cancel)
	require.Equal(t, payment.StateCancelled, res.State)
	require.Empty(t, k.messages("task/"), "nothing waits")
	q := k.payment(s.applicant.ID, payment.StateAuthorized, 1)
	cancel.DecisionID, cancel.PaymentID = "dec-c3", q.ID
	require.Equal(t, payment.CodeFrozen, k.apply(cancel).Code)
}

// In a batch, every decision gets what it would get alone: the refused
// are recorded and answered, the others applied, in one transaction.
func TestApplyManyRefusedBlockNothing(t *testing.T) {
	k := newKit(t)
	s := k.staff()
	ps := []*payment.Payment{
		k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1),
		k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1),
		k.payment(s.applicant.ID, payment.StateAwaitingReview, 1),
	}
	wrong := k.decision(ps[0], s.auth1, payment.StageAuthorization, payment.VerdictApprove)
	wrong.OTP = "12345x"
	ds := []approval.Decision{
		wrong,
		k.decision(ps[1], s.auth2, payment.StageAuthorization, payment.VerdictApprove),
		k.decision(ps[2], s.reviewer, payment.StageReview, payment.VerdictApprove),
		k.decision(ps[2], s.applicant, payment.StageConfirmation, payment.VerdictApprove), // long past
	}
	results, err := k.app.ApplyMany(t.Context(), ds)
	require.NoError(t, err)
	require.Equal(t, 1, k.store.txs, "one transaction")
	require.Equal(t, payment.CodeOTPInvalid, results[0].Code)
	require.Equal(t, approval.Applied, results[1].Outcome)
	require.Equal(t, approval.Applied, results[2].Outcome)
	require.Equal(t, payment.CodeAlreadyDecided, results[3].Code, results[3].Reason)
	require.Equal(t, payment.StateAwaitingAuthorization, k.stored(ps[0].ID).State)
	require.Equal(t, payment.StateAuthorized, k.stored(ps[1].ID).State)
	require.Equal(t, payment.StateAwaitingAuthorization, k.stored(ps[2].ID).State)
	require.Equal(t, 1, k.store.db.people[s.auth1.ID].OTP.Failures, "the wrong code counted")
	require.Len(t, k.store.db.decisions, 4)
	require.Len(t, k.messages("result/"), 4, "each answered")
}

// Items of one batch see each other: the same payment twice moves once and
// the second is refused as already decided; one person's code twice is a
// replay; one decision id twice is a repeat.
func TestApplyManySeeEachOther(t *testing.T) {
	k := newKit(t)
	s := k.staff()
	p := k.payment(s.applicant.ID, payment.StateAwaitingConfirmation, 1)
	q := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	r := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	confirm := k.decision(p, s.applicant, payment.StageConfirmation, payment.VerdictApprove)
	confirmAgain := confirm
	confirmAgain.DecisionID = "dec-confirm-again"
	review := k.decision(p, s.reviewer, payment.StageReview, payment.VerdictApprove)
	review.Digest = confirm.Digest // the content, unchanged by confirming
	auth := k.decision(q, s.auth1, payment.StageAuthorization, payment.VerdictApprove)
	sameCode := k.decision(r, s.auth1, payment.StageAuthorization, payment.VerdictApprove)
	ds := []approval.Decision{confirm, confirmAgain, review, auth, sameCode, confirm}
	results, err := k.app.ApplyMany(t.Context(), ds)
	require.NoError(t, err)

	require.Equal(t, approval.Applied, results[0].Outcome)
	require.Equal(t, payment.CodeAlreadyDecided, results[1].Code, "the payment moved before it in the batch")
	require.Equal(t, approval.Applied, results[2].Outcome, "a review of the payment confirmed before it in the batch")
	require.Equal(t, payment.StateAwaitingAuthorization, results[2].State)
	require.Equal(t, approval.Applied, results[3].Outcome)
	require.Equal(t, payment.CodeOTPReplayed, results[4].Code, "the code used before it in the batch")
	require.Equal(t, results[0], results[5], "a repeat in the batch gets the first result")

	stored := k.stored(p.ID)
	require.Equal(t, payment.StateAwaitingAuthorization, stored.State)
	require.Equal(t, 4, stored.Version, "two moves, written once from the version read")
	require.Len(t, k.store.db.timeline, 3)
	require.Equal(t, k.store.db.timeline[0].Hash, k.store.db.timeline[1].PrevHash, "the second entry chained to the first")
	var seqs []int
	for _, d := range k.store.db.decisions {
		if d.PaymentID == p.ID && d.Seal != nil {
			seqs = append(seqs, d.Seal.Seq)
		}
	}
	require.Equal(t, []int{1, 2}, seqs, "the review's MAC chained to the confirmation's")
	require.Len(t, k.store.db.decisions, 5, "the repeat is not recorded again")
	require.Equal(t, payment.StateAwaitingAuthorization, k.stored(r.ID).State)
	require.Contains(t, k.messages("task/"), "task/pay-1/authorization/0")
}

// A batch that fails to write leaves nothing: no decision, no OTP step, no
// payment moved.
func TestApplyManyAllOrNothing(t *testing.T) {
	k := newKit(t)
	s := k.staff()
	p := k.payment(s.applicant.ID, payment.StateAwaitingAuthorization, 1)
	k.store.failWrite = "timeline"
	_, err := k.app.ApplyMany(t.Context(), []approval.Decision{k.decision(p, s.auth1, payment.StageAuthorization, payment.VerdictApprove)})
	require.ErrorIs(t, err, errWrite)
	require.Empty(t, k.store.db.decisions)
	require.Zero(t, k.store.db.people[s.auth1.ID].OTP.LastStep)
	require.Equal(t, payment.StateAwaitingAuthorization, k.stored(p.ID).State)
	k.applied(k.decision(p, s.auth1, payment.StageAuthorization, payment.VerdictApprove))
}

// Reject records an unreadable message once.
func TestReject(t *testing.T) {
	k := newKit(t)
	r := approval.Rejection{Key: "decision/m-1", Code: payment.CodeMalformed, Reason: "not JSON",
		DeadLetter: outbox.Message{MessageID: "dead/decision/m-1"}}
	first, err := k.app.Reject(t.Context(), r)
	require.NoError(t, err)
	require.True(t, first)
	first, err = k.app.Reject(t.Context(), r)
	require.NoError(t, err)
	require.False(t, first)
	require.Len(t, k.messages("dead/"), 1)
}
