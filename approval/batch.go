package approval

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/seal"
)

// batch is one run of a decision transaction: the facts read, changed in
// memory as each decision is judged (so that the next one sees it), and
// the writes gathered for the end.
type batch struct {
	cfg   Config
	now   time.Time
	facts Facts

	people map[string]*Person // facts.People, changed as codes are used

	otpOrder []string             // people whose OTP state changed, first change first
	otpFrom  map[string]otp.State // their state as read
	records  []Record
	audits   []Audit
	moved    []string                   // payments that moved, first move first
	from     map[string]payment.Payment // their state as read
	entries  []payment.Entry
	digests  []string
	msgs     []outbox.Message
	batches  []BatchRecord

	// refusals, when set, keeps each refused decision's refusal by its
	// id (a batch's items, for all-or-nothing).
	refusals map[string]error
}

func newBatch(cfg Config, f Facts) *batch {
	b := &batch{cfg: cfg, now: cfg.Now().UTC(), facts: f, people: map[string]*Person{},
		otpFrom: map[string]otp.State{}, from: map[string]payment.Payment{}}
	// The batch changes the facts as it goes (decisions recorded, applied,
	// codes used up): on copies, leaving what the store returned as it was.
	b.facts.Prior = maps.Clone(f.Prior)
	if b.facts.Prior == nil {
		b.facts.Prior = map[string]Prior{}
	}
	b.facts.Batches = maps.Clone(f.Batches)
	b.facts.Applied = map[string][]AppliedDecision{}
	for id, as := range f.Applied {
		b.facts.Applied[id] = append([]AppliedDecision(nil), as...)
	}
	for id, p := range f.People {
		b.people[id] = &p
	}
	return b
}

// judge decides one item, as a decision alone would be decided, and
// gathers its writes. The checks, in order: a decision id seen before is a
// repeat; a decision refused before it was read (a bad token) is refused;
// then decide's checks, with the OTP judged for this decision alone.
func (b *batch) judge(it item) (Result, error) {
	d := it.d
	if prior, ok := b.facts.Prior[d.DecisionID]; ok {
		return b.repeat(d, prior, it.refusal)
	}
	if it.refusal != nil {
		return b.refuse(d, it.refusal)
	}
	return b.decide(d, nil, func(person *Person, p *payment.Payment) (*int64, error) {
		reviewOTP, ok := b.facts.ReviewOTP[p.CustomerID]
		if !ok {
			return nil, fmt.Errorf("review policy of customer %s not read", p.CustomerID)
		}
		if !payment.NeedsOTPFor(d.Stage, d.Verdict, reviewOTP) {
			return nil, nil
		}
		if d.OTP == "" {
			return nil, payment.Errorf(payment.CodeOTPRequired, "%s needs a one-time password", d.Stage)
		}
		st, refusal := b.otpCheck(person, d.OTP, string(d.Stage), p.ID)
		if refusal != nil {
			return nil, refusal
		}
		return &st, nil
	})
}

// decide runs the checks of a decision on its payment and gathers its
// writes: the payment must exist, the person too, and be of the payment's
// customer (else the payment does not exist for them, as over HTTP); then
// check, when given (a batch item's amount); then every check of the
// domain (payment.Decide, or payment.Cancel); then the OTP (otpStep: the
// step used, nil when none is needed). A refusal is recorded and answered;
// only an error that is no refusal ends the batch.
func (b *batch) decide(d Decision, check func(p *payment.Payment) error,
	otpStep func(person *Person, p *payment.Payment) (*int64, error)) (Result, error) {
	p := b.facts.Payments[d.PaymentID]
	if p == nil {
		return b.refuse(d, paymentNotFound(d.PaymentID))
	}
	person := b.people[d.UserID]
	if person == nil {
		return b.refuse(d, payment.Errorf(payment.CodeTokenInvalid, "user %s no longer exists", d.UserID))
	}
	actor := person.User
	if actor.CustomerID != p.CustomerID {
		// Another customer's payment does not exist for this person, as
		// over HTTP: nothing of its state or its people is told.
		return b.refuse(d, paymentNotFound(d.PaymentID))
	}
	if check != nil {
		if err := check(p); err != nil {
			return b.refuse(d, err)
		}
	}
	before := *p
	var entry payment.Entry
	var err error
	if d.Verdict == Cancel {
		entry, err = p.Cancel(payment.Actor{Kind: payment.ActorUser, ID: actor.ID}, d.Reason, b.now)
	} else {
		entry, err = p.Decide(payment.DecisionInput{Stage: d.Stage, Verdict: d.Verdict, Actor: actor, Reason: d.Reason, Digest: d.Digest},
			b.approvalFacts(p, actor.ID), b.now)
	}
	if err != nil {
		*p = before
		if !payment.IsRefusal(err) {
			return Result{}, err
		}
		return b.refuse(d, err)
	}
	step, err := otpStep(person, p)
	if err != nil {
		*p = before
		if !payment.IsRefusal(err) {
			return Result{}, err
		}
		return b.refuse(d, err)
	}
	if step != nil {
		entry.OTPStep = *step
	}
	return b.apply(d, &before, p, actor.ID, entry, step)
}

// approvalFacts is what payment.Decide needs to know of p: who already
// acted on it, how many authorizations it has, and the actor's limit in
// its currency.
func (b *batch) approvalFacts(p *payment.Payment, actorID string) payment.ApprovalFacts {
	f := payment.ApprovalFacts{RequiredAuthorizers: p.RequiredAuthorizers}
	for _, a := range b.facts.Applied[p.ID] {
		f.Add(a.ActorID, a.Stage)
	}
	if limit, ok := b.facts.Limits[Limit{UserID: actorID, Currency: p.Currency}]; ok {
		f.Limit = &limit
	}
	return f
}

// otpCheck judges a person's code (otp.Check) against their state as the
// batch has it, audits what it found, and keeps the new state (a step used
// up, a failure counted) for the write and for the decisions after it.
func (b *batch) otpCheck(person *Person, code, purpose, paymentID string) (int64, error) {
	id := person.User.ID
	c := otp.Check(id, person.OTP, code, b.cfg.OTPOpener, b.cfg.OTPPolicy, b.now)
	for _, ev := range c.Events {
		b.audits = append(b.audits, Audit{UserID: id, Actor: "user:" + id, Event: ev.Name, PaymentID: paymentID,
			Detail: "purpose=" + purpose + ev.Detail})
	}
	if c.Changed {
		if _, ok := b.otpFrom[id]; !ok {
			b.otpOrder = append(b.otpOrder, id)
			b.otpFrom[id] = person.OTP
		}
		person.OTP = c.State
	}
	if c.Refusal != nil {
		return 0, c.Refusal
	}
	return c.Step, nil
}

// apply gathers an applied decision's writes: its row with its MAC, the
// audit entry, the payment's new state and timeline entry, and what
// follows (status event, next task, result).
func (b *batch) apply(d Decision, before, p *payment.Payment, actorID string, entry payment.Entry, step *int64) (Result, error) {
	if b.cfg.Seal == nil {
		return Result{}, errNoSeal
	}
	sealed := b.seal(p, actorID, d, entry.OTPStep)
	res := Result{Schema: ResultSchema, DecisionID: d.DecisionID, PaymentID: p.ID, Outcome: Applied, State: p.State, At: b.now}
	if p.State == payment.StateAuthorized && b.cfg.NextCutoff != nil {
		next := b.cfg.NextCutoff(b.now)
		res.NextCutoff = &next
	}
	b.record(Record{Decision: d, Result: res, PaymentID: p.ID, ActorID: actorID, OTPStep: step, At: b.now, Seal: &sealed})
	b.facts.Applied[p.ID] = append(b.facts.Applied[p.ID], AppliedDecision{ActorID: actorID, Stage: d.Stage, Seq: sealed.Seq, MAC: sealed.MAC})
	b.audits = append(b.audits, Audit{UserID: actorID, Actor: "user:" + actorID, Event: "decision_applied",
		PaymentID: p.ID, Detail: fmt.Sprintf("%s %s: %s -> %s", d.Stage, d.Verdict, entry.From, entry.To)})
	// After the decision is counted: the next task counts the applied
	// authorizations.
	if err := b.move(before, p, entry); err != nil {
		return Result{}, err
	}
	return res, b.answer(res, d.ReplyTo)
}

// seal makes the MAC of an applied decision, chained to the payment's last
// applied decision. An approval's digest is the content's (payment.Decide
// checked that the person approved it); a rejection or a cancel records
// what was sent.
func (b *batch) seal(p *payment.Payment, actorID string, d Decision, step int64) Seal {
	var seq int
	var prev []byte
	for _, a := range b.facts.Applied[p.ID] {
		if a.Seq > seq {
			seq, prev = a.Seq, a.MAC
		}
	}
	digest := payment.Text(d.Digest)
	if d.Verdict == payment.VerdictApprove {
		digest = p.Digest()
	}
	sd := seal.Decision{PaymentID: p.ID, Digest: digest, ActorID: actorID, Stage: d.Stage, Verdict: d.Verdict,
		OTPStep: step, RequiredAuthorizers: p.RequiredAuthorizers, Seq: seq + 1, Prev: prev}
	return Seal{Seq: sd.Seq, Digest: sd.Digest, MAC: b.cfg.Seal.Decision(sd)}
}

// move gathers one change of state the domain made: the payment's new
// state (written once per payment, from the state it was read with), the
// timeline entry, and what follows: the status event and, when the
// payment now waits for a stage, its task, which says how many
// authorizations are done.
func (b *batch) move(before, p *payment.Payment, e payment.Entry) error {
	if _, ok := b.from[p.ID]; !ok {
		b.moved = append(b.moved, p.ID)
		b.from[p.ID] = *before
	}
	b.entries, b.digests = append(b.entries, e), append(b.digests, p.Digest())
	ev, err := b.cfg.EventMessage(payment.StateChangedEvent(p, e))
	if err != nil {
		return fmt.Errorf("encode event of %s: %w", p.ID, err)
	}
	b.msgs = append(b.msgs, ev)
	stage, ok := payment.StageOf(p.State)
	if !ok || b.cfg.TaskMessage == nil {
		return nil
	}
	done := 0
	if stage == payment.StageAuthorization {
		for _, a := range b.facts.Applied[p.ID] {
			if a.Stage == payment.StageAuthorization {
				done++
			}
		}
	}
	task, err := b.cfg.TaskMessage(p, stage, done)
	if err != nil {
		return fmt.Errorf("encode task of %s: %w", p.ID, err)
	}
	b.msgs = append(b.msgs, task)
	return nil
}

// refuse gathers a refused decision's writes: its row, the audit entry and
// the result. No payment changes.
func (b *batch) refuse(d Decision, refusal error) (Result, error) {
	res := Refusal(d, refusal, b.now)
	res.Reason = payment.Text(res.Reason)
	if b.refusals != nil {
		b.refusals[d.DecisionID] = refusal
	}
	var pay, actor string
	if b.facts.Payments[d.PaymentID] != nil {
		pay = d.PaymentID
	}
	if b.people[d.UserID] != nil {
		actor = d.UserID
	}
	b.record(Record{Decision: d, Result: res, PaymentID: pay, ActorID: actor, At: b.now})
	b.audits = append(b.audits, Audit{UserID: d.UserID, Actor: actorOf(d.UserID), Event: "decision_refused",
		PaymentID: d.PaymentID, Detail: fmt.Sprintf("%s %s refused: %s", d.Stage, d.Verdict, res.Reason)})
	return res, b.answer(res, d.ReplyTo)
}

// repeat answers a decision id seen before: its first result, again, to
// the person who sent it (the same user, or nobody known for both); to
// anyone else a refusal that tells nothing of the first decision (refusal
// if given, else CodeDecisionIDTaken), audited and not recorded (the id
// stays the first sender's).
func (b *batch) repeat(d Decision, prior Prior, refusal error) (Result, error) {
	if prior.ActorID == d.UserID {
		return prior.Result, b.answer(prior.Result, d.ReplyTo)
	}
	if refusal == nil {
		refusal = payment.Errorf(payment.CodeDecisionIDTaken, "decision id %s is taken: send the decision with an id of its own", d.DecisionID)
	}
	res := Refusal(d, refusal, b.now)
	res.Reason = payment.Text(res.Reason)
	b.audits = append(b.audits, Audit{UserID: d.UserID, Actor: actorOf(d.UserID), Event: "decision_refused",
		Detail: payment.Text(fmt.Sprintf("decision %s sent again by another person: %s", d.DecisionID, res.Reason))})
	return res, b.answer(res, d.ReplyTo)
}

// record gathers a decision's row, and remembers its result for a
// decision later in the batch with the same id: that one is a repeat. The
// result is remembered as it will be read back, through its JSON.
func (b *batch) record(r Record) {
	b.records = append(b.records, r)
	prior := Prior{Result: r.Result, ActorID: r.ActorID}
	if raw, err := json.Marshal(r.Result); err == nil {
		var back Result
		if json.Unmarshal(raw, &back) == nil {
			prior.Result = back
		}
	}
	b.facts.Prior[r.Decision.DecisionID] = prior
}

// answer gathers the result for the decider's reply queue, if any.
func (b *batch) answer(res Result, replyTo string) error {
	if b.cfg.ResultMessage == nil {
		return nil
	}
	m, ok, err := b.cfg.ResultMessage(res, replyTo)
	if err != nil || !ok {
		return err
	}
	b.msgs = append(b.msgs, m)
	return nil
}

// write writes what the batch gathered, each kind with one statement, in
// the order a single decision wrote them.
func (b *batch) write(ctx context.Context, tx Tx) error {
	if len(b.otpOrder) > 0 {
		ws := make([]OTPWrite, len(b.otpOrder))
		for i, id := range b.otpOrder {
			ws[i] = OTPWrite{UserID: id, From: b.otpFrom[id], To: b.people[id].OTP}
		}
		if err := tx.SaveOTP(ctx, ws); err != nil {
			return err
		}
	}
	if len(b.batches) > 0 {
		if err := tx.SaveBatches(ctx, b.batches); err != nil {
			return err
		}
	}
	if len(b.records) > 0 {
		if err := tx.SaveDecisions(ctx, b.records); err != nil {
			return err
		}
	}
	if len(b.audits) > 0 {
		if err := tx.Audit(ctx, b.audits); err != nil {
			return err
		}
	}
	if len(b.moved) > 0 {
		ms := make([]Move, len(b.moved))
		for i, id := range b.moved {
			from := b.from[id]
			ms[i] = Move{FromVersion: from.Version, FromState: from.State, To: b.facts.Payments[id]}
		}
		if err := tx.UpdatePayments(ctx, ms); err != nil {
			return err
		}
		if err := tx.AppendTimeline(ctx, b.entries, b.digests); err != nil {
			return err
		}
	}
	if len(b.msgs) > 0 {
		return tx.Outbox(ctx, b.msgs, b.now)
	}
	return nil
}
