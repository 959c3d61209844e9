package approval

import (
	"context"
	"errors"
	"time"

	"github.com/b2bpay/b2bpay/otp"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/seal"
)

// Config configures an Applier.
type Config struct {
	// Now is the clock; tests pin it. Defaults to time.Now.
	Now func() time.Time
	// Seal makes the MACs of applied decisions, each chained to the
	// payment's previous one. Without it no decision is applied.
	Seal *seal.Key
	// OTPOpener opens people's sealed OTP seeds; OTPPolicy sets the checks.
	OTPOpener otp.Opener
	OTPPolicy otp.Policy
	// NextCutoff, when set, tells which cutoff a payment authorized at a
	// time will make; results report it.
	NextCutoff func(time.Time) time.Time
	// EventMessage turns a status event into the message that carries it.
	EventMessage func(payment.Event) (outbox.Message, error)
	// TaskMessage, when set, turns a payment waiting for a stage into the
	// task message staff take (authorizationsDone counts those applied).
	TaskMessage func(p *payment.Payment, s payment.Stage, authorizationsDone int) (outbox.Message, error)
	// ResultMessage, when set, turns a result into the message for the
	// decider's reply queue (ok false: nowhere to send it).
	ResultMessage func(r Result, replyTo string) (m outbox.Message, ok bool, err error)
	// BatchResultMessage, when set, turns a batch's result into the
	// message for the decider's reply queue (ok false: nowhere to send it).
	BatchResultMessage func(r BatchResult, replyTo string) (m outbox.Message, ok bool, err error)
}

// errNoSeal refuses to apply a decision that could not be sealed.
var errNoSeal = errors.New("approval: no MAC key (Config.Seal): set the master key")

// Applier is the approval use case: it applies people's decisions over a
// Store, each batch in one transaction (see ApplyMany).
type Applier struct {
	store Store
	cfg   Config
}

// New returns an Applier over store.
func New(store Store, cfg Config) (*Applier, error) {
	if store == nil {
		return nil, errors.New("approval: a Store is required")
	}
	if cfg.EventMessage == nil {
		return nil, errors.New("approval: Config.EventMessage is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Applier{store: store, cfg: cfg}, nil
}

// SetNextCutoff sets Config.NextCutoff; call it before the Applier is used.
func (a *Applier) SetNextCutoff(f func(time.Time) time.Time) { a.cfg.NextCutoff = f }

// Apply applies one person's decision: the batch of one.
func (a *Applier) Apply(ctx context.Context, d Decision) (Result, error) {
	rs, err := a.run(ctx, []item{{d: d}})
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// ApplyMany applies decisions in one transaction and answers each, in
// order: one read of everything the batch needs (its payments and people
// locked), then the decisions one by one, in memory, each seeing what the
// ones before it did (a payment moved, an OTP step used up, a decision id
// recorded), then one write of each kind. Every decision gets what it
// would get alone: applied, refused (recorded, audited and answered, the
// others applied all the same), or, for a decision id seen before, its
// first result again (see repeat). The batch commits whole or not at all:
// on an error nothing of it is written.
func (a *Applier) ApplyMany(ctx context.Context, ds []Decision) ([]Result, error) {
	items := make([]item, len(ds))
	for i, d := range ds {
		items[i] = item{d: d}
	}
	return a.run(ctx, items)
}

// Refuse records a decision refused before it could reach a payment, such
// as one with an invalid token, and answers it; a decision id seen before
// is answered as a repeat, with this refusal for anyone but its sender.
func (a *Applier) Refuse(ctx context.Context, d Decision, refusal error) (Result, error) {
	rs, err := a.run(ctx, []item{{d: d, refusal: refusal}})
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// ApplyBatch applies a batch decision in one transaction (see
// judgeBatch): one OTP step for the batch, every check of a single
// decision for each item, one result listing each item's. A batch id seen
// before gets its first result again.
func (a *Applier) ApplyBatch(ctx context.Context, bd BatchDecision) (BatchResult, error) {
	return a.runBatch(ctx, bd, nil)
}

// RefuseBatch records a batch decision refused before it could reach its
// payments (a bad token or proof) and answers it; a batch id seen before
// is answered as a repeat.
func (a *Applier) RefuseBatch(ctx context.Context, bd BatchDecision, refusal error) (BatchResult, error) {
	return a.runBatch(ctx, bd, refusal)
}

// runBatch decides a batch in one transaction: read, judge, write.
func (a *Applier) runBatch(ctx context.Context, bd BatchDecision, refusal error) (BatchResult, error) {
	var res BatchResult
	err := a.store.DecisionTx(ctx, func(tx Tx) error {
		facts, err := tx.Facts(ctx, keysOfBatch(bd))
		if err != nil {
			return err
		}
		b := newBatch(a.cfg, facts)
		if res, err = b.judgeBatch(bd, refusal); err != nil {
			return err
		}
		return b.write(ctx, tx)
	})
	if err != nil {
		return BatchResult{}, err
	}
	return res, nil
}

// keysOfBatch names the rows a batch reads: the batch, its items'
// decision ids and payments, its person.
func keysOfBatch(bd BatchDecision) Keys {
	k := Keys{BatchIDs: []string{bd.DecisionID}}
	for i, it := range SortItems(bd.Items) {
		k.DecisionIDs = append(k.DecisionIDs, ItemDecisionID(bd.DecisionID, i+1))
		k.PaymentIDs = append(k.PaymentIDs, it.PaymentID)
	}
	if bd.UserID != "" {
		k.UserIDs = []string{bd.UserID}
	}
	return k
}

// Reject records a decision message that cannot be read at all (once per
// key, dead-lettered once); first is false for one recorded before.
func (a *Applier) Reject(ctx context.Context, r Rejection) (first bool, err error) {
	return a.store.DecisionReject(ctx, r)
}

// item is one decision of a batch; refusal, when set, refuses it before it
// reaches a payment.
type item struct {
	d       Decision
	refusal error
}

// run decides items in one transaction: read, judge each in order, write.
func (a *Applier) run(ctx context.Context, items []item) ([]Result, error) {
	var results []Result
	err := a.store.DecisionTx(ctx, func(tx Tx) error {
		facts, err := tx.Facts(ctx, keysOf(items))
		if err != nil {
			return err
		}
		// A fresh batch on every run of the transaction: a run again after
		// a lost race sees the winner's rows and decides anew.
		b := newBatch(a.cfg, facts)
		results = make([]Result, len(items))
		for i, it := range items {
			if results[i], err = b.judge(it); err != nil {
				return err
			}
		}
		return b.write(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// keysOf names the rows the items read, each once.
func keysOf(items []item) Keys {
	var k Keys
	seen := map[string]bool{}
	add := func(to *[]string, kind, id string) {
		if id == "" || seen[kind+id] {
			return
		}
		seen[kind+id] = true
		*to = append(*to, id)
	}
	for _, it := range items {
		add(&k.DecisionIDs, "d", it.d.DecisionID)
		add(&k.PaymentIDs, "p", it.d.PaymentID)
		add(&k.UserIDs, "u", it.d.UserID)
	}
	return k
}

// paymentNotFound is the one refusal for a payment that does not exist
// and for a payment of another customer.
func paymentNotFound(id string) error {
	return payment.Errorf(payment.CodeNotFound, "payment %s does not exist", id)
}

func actorOf(userID string) string {
	if userID == "" {
		return "unknown"
	}
	return "user:" + userID
}
