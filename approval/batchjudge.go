package approval

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/seal"
)

// judgeBatch decides a batch decision and gathers its writes. The checks
// of the batch, in order: a batch id seen before is a repeat (its first
// result, to its sender); a batch refused before it was read (a bad token,
// a bad proof) is refused; the person must exist; the count, totals and
// digest must be those of the items (CheckBatchSums); the customer's and
// the person's caps; then the one-time password, judged once for the whole
// batch (one step used). A batch refused at any of these is recorded with
// every item refused for the same reason, and no item row is written.
// Then each item gets every check of a single decision (decide), in
// canonical order, with the batch's OTP step: a refused item does not stop
// the others, unless the batch is all-or-nothing, when nothing is applied
// and every item says why.
func (b *batch) judgeBatch(bd BatchDecision, refusal error) (BatchResult, error) {
	items := SortItems(bd.Items)
	ds := itemDecisions(bd, items)
	if prior, ok := b.facts.Batches[bd.DecisionID]; ok {
		if prior.ActorID == bd.UserID {
			return prior.Result, b.answerBatch(prior.Result, bd.ReplyTo)
		}
		if refusal == nil {
			refusal = payment.Errorf(payment.CodeDecisionIDTaken, "decision id %s is taken: send the batch with an id of its own", bd.DecisionID)
		}
		// Not recorded: the id stays its first sender's.
		res := b.batchRefusal(bd, ds, refusal)
		b.audits = append(b.audits, Audit{UserID: bd.UserID, Actor: actorOf(bd.UserID), Event: "decision_refused",
			Detail: payment.Text(fmt.Sprintf("batch %s sent again by another person: %s", bd.DecisionID, res.Reason))})
		return res, b.answerBatch(res, bd.ReplyTo)
	}
	if refusal != nil {
		return b.refuseBatch(bd, ds, refusal)
	}
	person := b.people[bd.UserID]
	if person == nil {
		return b.refuseBatch(bd, ds, payment.Errorf(payment.CodeTokenInvalid, "user %s no longer exists", bd.UserID))
	}
	if err := CheckBatchSums(bd); err != nil {
		return b.refuseBatch(bd, ds, err)
	}
	if err := b.checkCaps(person.User, bd); err != nil {
		return b.refuseBatch(bd, ds, err)
	}
	reviewOTP, ok := b.facts.ReviewOTP[person.User.CustomerID]
	if !ok {
		return BatchResult{}, fmt.Errorf("review policy of customer %s not read", person.User.CustomerID)
	}
	var step *int64
	if payment.NeedsOTPFor(bd.Stage, bd.Verdict, reviewOTP) {
		if bd.OTP == "" {
			return b.refuseBatch(bd, ds, payment.Errorf(payment.CodeOTPRequired, "%s needs a one-time password", bd.Stage))
		}
		st, refusal := b.otpCheck(person, bd.OTP, "batch "+string(bd.Stage), "")
		if refusal != nil {
			return b.refuseBatch(bd, ds, refusal)
		}
		step = &st
	}
	// The items are judged on a fork of the batch: an all-or-nothing batch
	// with a refused item goes on from the batch as it was before them.
	try := b.fork()
	results, err := try.items(ds, items, step)
	if err != nil {
		return BatchResult{}, err
	}
	if _, _, refused := outcomeOf(results); bd.AllOrNothing && refused > 0 {
		for i, d := range ds {
			why := try.refusals[d.DecisionID]
			if why == nil {
				why = payment.Errorf(CodeBatchNotApplied, "not applied: the batch is all-or-nothing and %d of its %d items were refused", refused, len(ds))
			}
			if _, taken := b.facts.Prior[d.DecisionID]; taken {
				results[i] = b.itemTaken(d)
				continue
			}
			if results[i], err = b.refuse(d, why); err != nil {
				return BatchResult{}, err
			}
		}
	} else {
		*b = *try
		b.refusals = nil
	}
	res := b.batchResult(bd, results)
	if err := b.recordBatch(bd, res, person.User.ID, step); err != nil {
		return BatchResult{}, err
	}
	b.audits = append(b.audits, Audit{UserID: person.User.ID, Actor: "user:" + person.User.ID, Event: "batch_decided",
		Detail: fmt.Sprintf("batch %s: %s %s of %d payments, %d applied, %d refused, digest %s", bd.DecisionID, bd.Stage, bd.Verdict,
			res.Count, res.Applied, res.Refused, payment.Text(bd.BatchDigest))})
	return res, b.answerBatch(res, bd.ReplyTo)
}

// items judges each item of a batch as a decision alone, with the batch's
// OTP step (nil: none needed) instead of a code of its own, after checking
// that the amount the person was shown is the payment's.
func (b *batch) items(ds []Decision, items []BatchItem, step *int64) ([]Result, error) {
	results := make([]Result, len(ds))
	for i, d := range ds {
		if _, taken := b.facts.Prior[d.DecisionID]; taken {
			results[i] = b.itemTaken(d)
			continue
		}
		it := items[i]
		var err error
		results[i], err = b.decide(d, func(p *payment.Payment) error {
			if p.Currency != it.Currency || p.AmountMinor != it.AmountMinor {
				return payment.Errorf(CodeBatchMismatch, "the batch says %s %s, the payment is %s %s", payment.FormatAmount(it.AmountMinor, it.Currency),
					payment.Text(it.Currency), payment.FormatAmount(p.AmountMinor, p.Currency), p.Currency)
			}
			return nil
		}, func(_ *Person, p *payment.Payment) (*int64, error) {
			if !payment.NeedsOTPFor(d.Stage, d.Verdict, b.facts.ReviewOTP[p.CustomerID]) {
				return nil, nil
			}
			if step == nil {
				return nil, payment.Errorf(payment.CodeOTPRequired, "%s needs a one-time password", d.Stage)
			}
			return step, nil
		})
		if err != nil {
			return nil, err
		}
	}
	return results, nil
}

// itemTaken answers an item whose decision id is taken already (by a
// decision sent alone under that id): refused, not recorded.
func (b *batch) itemTaken(d Decision) Result {
	res := Refusal(d, payment.Errorf(payment.CodeDecisionIDTaken, "decision id %s is taken: send the batch with an id of its own", d.DecisionID), b.now)
	b.audits = append(b.audits, Audit{UserID: d.UserID, Actor: actorOf(d.UserID), Event: "decision_refused",
		Detail: payment.Text(fmt.Sprintf("batch item %s: %s", d.DecisionID, res.Reason))})
	return res
}

// itemDecisions are a batch's items as decisions, in canonical order, each
// with its id (ItemDecisionID) and the batch's id.
func itemDecisions(bd BatchDecision, items []BatchItem) []Decision {
	ds := make([]Decision, len(items))
	for i, it := range items {
		ds[i] = Decision{DecisionID: ItemDecisionID(bd.DecisionID, i+1), PaymentID: it.PaymentID, Stage: bd.Stage, Verdict: bd.Verdict,
			Reason: bd.Reason, Digest: it.Digest, UserID: bd.UserID, SessionID: bd.SessionID, BatchID: bd.DecisionID}
	}
	return ds
}

// checkCaps refuses a batch over the customer's or the person's caps.
func (b *batch) checkCaps(u payment.User, bd BatchDecision) error {
	totals, err := SumItems(bd.Items)
	if err != nil {
		return err
	}
	if err := b.facts.CustomerCaps[u.CustomerID].Check("customer "+u.CustomerID, len(bd.Items), totals); err != nil {
		return err
	}
	return b.facts.PersonCaps[u.ID].Check("your own cap", len(bd.Items), totals)
}

// batchRefusal is the result of a batch refused as a whole: every item
// refused for the same reason.
func (b *batch) batchRefusal(bd BatchDecision, ds []Decision, refusal error) BatchResult {
	rs := make([]Result, len(ds))
	for i, d := range ds {
		rs[i] = Refusal(d, refusal, b.now)
		rs[i].Reason = payment.Text(rs[i].Reason)
	}
	res := b.batchResult(bd, rs)
	res.Code, res.Reason = payment.ErrorCode(refusal), payment.Text(refusal.Error())
	return res
}

// refuseBatch records a batch refused as a whole (no item row), audits and
// answers it.
func (b *batch) refuseBatch(bd BatchDecision, ds []Decision, refusal error) (BatchResult, error) {
	res := b.batchRefusal(bd, ds, refusal)
	actor := ""
	if b.people[bd.UserID] != nil {
		actor = bd.UserID
	}
	if err := b.recordBatch(bd, res, actor, nil); err != nil {
		return BatchResult{}, err
	}
	b.audits = append(b.audits, Audit{UserID: bd.UserID, Actor: actorOf(bd.UserID), Event: "decision_refused",
		Detail: payment.Text(fmt.Sprintf("batch %s: %s %s of %d payments refused: %s", bd.DecisionID, bd.Stage, bd.Verdict, len(ds), res.Reason))})
	return res, b.answerBatch(res, bd.ReplyTo)
}

// batchResult sums up the items' results.
func (b *batch) batchResult(bd BatchDecision, rs []Result) BatchResult {
	outcome, applied, refused := outcomeOf(rs)
	return BatchResult{Schema: BatchResultSchema, DecisionID: bd.DecisionID, Outcome: outcome, Stage: bd.Stage, Verdict: bd.Verdict,
		Count: len(rs), Applied: applied, Refused: refused, BatchDigest: payment.Text(bd.BatchDigest), Items: rs, At: b.now}
}

// recordBatch gathers a batch's record with its MAC, and remembers its
// result (through its JSON, as it will be read back) for a repeat.
func (b *batch) recordBatch(bd BatchDecision, res BatchResult, actorID string, step *int64) error {
	at := b.now.Truncate(time.Microsecond) // what the database keeps
	r := BatchRecord{Batch: bd, Result: res, ActorID: actorID, OTPStep: step, At: at}
	if b.cfg.Seal != nil {
		r.MAC = b.cfg.Seal.BatchDecision(BatchSeal(r))
	} else if res.Applied > 0 {
		return errNoSeal
	}
	b.batches = append(b.batches, r)
	if b.facts.Batches == nil {
		b.facts.Batches = map[string]PriorBatch{}
	}
	b.facts.Batches[bd.DecisionID] = PriorBatch{Result: res, ActorID: actorID}
	return nil
}

// BatchSeal is what the MAC of a batch's record covers, as the record has
// it (and as it is read back).
func BatchSeal(r BatchRecord) seal.BatchDecision {
	totals := make([]string, len(r.Batch.Totals))
	for i, t := range r.Batch.Totals {
		totals[i] = t.Currency + ":" + strconv.FormatInt(t.AmountMinor, 10)
	}
	var step int64
	if r.OTPStep != nil {
		step = *r.OTPStep
	}
	return seal.BatchDecision{DecisionID: r.Batch.DecisionID, ActorID: r.ActorID, SessionID: r.Batch.SessionID, Stage: r.Batch.Stage,
		Verdict: r.Batch.Verdict, AllOrNothing: r.Batch.AllOrNothing, Count: r.Batch.Count, Totals: totals,
		BatchDigest: payment.Text(r.Batch.BatchDigest), OTPStep: step, Outcome: r.Result.Outcome, DecidedAtMicros: r.At.UnixMicro()}
}

// answerBatch gathers the batch's result for the decider's reply queue,
// if any.
func (b *batch) answerBatch(res BatchResult, replyTo string) error {
	if b.cfg.BatchResultMessage == nil {
		return nil
	}
	m, ok, err := b.cfg.BatchResultMessage(res, replyTo)
	if err != nil || !ok {
		return err
	}
	b.msgs = append(b.msgs, m)
	return nil
}

// fork copies the batch, deep enough that judging on the copy leaves the
// original as it was (its payments, people, applied decisions and
// gathered writes).
func (b *batch) fork() *batch {
	c := *b
	c.facts.Prior = maps.Clone(b.facts.Prior)
	c.facts.Batches = maps.Clone(b.facts.Batches)
	c.facts.Applied = make(map[string][]AppliedDecision, len(b.facts.Applied))
	for id, as := range b.facts.Applied {
		c.facts.Applied[id] = slices.Clone(as)
	}
	c.facts.Payments = make(map[string]*payment.Payment, len(b.facts.Payments))
	for id, p := range b.facts.Payments {
		q := *p
		c.facts.Payments[id] = &q
	}
	c.people = make(map[string]*Person, len(b.people))
	for id, p := range b.people {
		q := *p
		c.people[id] = &q
	}
	c.otpOrder, c.otpFrom = slices.Clone(b.otpOrder), maps.Clone(b.otpFrom)
	c.records, c.audits, c.moved = slices.Clone(b.records), slices.Clone(b.audits), slices.Clone(b.moved)
	c.from, c.entries, c.digests = maps.Clone(b.from), slices.Clone(b.entries), slices.Clone(b.digests)
	c.msgs, c.batches = slices.Clone(b.msgs), slices.Clone(b.batches)
	c.refusals = map[string]error{}
	return &c
}
