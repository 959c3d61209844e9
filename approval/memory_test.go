package approval_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
)

// memStore is approval.Store in memory: a test double of our own
// interface, with the rows a database would keep and the guards its
// statements have (unique decision ids, updates guarded by what was read).
// A transaction works on a copy, kept only when fn returns nil.
type memStore struct {
	mu sync.Mutex
	db memDB
	// failWrite, when set, fails the named write of the next transaction.
	failWrite string
	// txs counts the transactions run.
	txs int
}

type memDB struct {
	payments  map[string]*payment.Payment
	people    map[string]approval.Person
	limits    map[approval.Limit]int64
	reviewOTP map[string]bool // by customer
	decisions []approval.Record
	audits    []approval.Audit
	outbox    []outbox.Message
	timeline  []payment.Entry
	rejects   map[string]approval.Rejection
	batches   []approval.BatchRecord
	// caps by customer and by person
	customerCaps, personCaps map[string]approval.BatchCap
}

func newMemStore() *memStore {
	return &memStore{db: memDB{payments: map[string]*payment.Payment{}, people: map[string]approval.Person{},
		limits: map[approval.Limit]int64{}, reviewOTP: map[string]bool{}, rejects: map[string]approval.Rejection{},
		customerCaps: map[string]approval.BatchCap{}, personCaps: map[string]approval.BatchCap{}}}
}

func (db memDB) clone() memDB {
	c := db
	c.payments = map[string]*payment.Payment{}
	for id, p := range db.payments {
		q := *p
		c.payments[id] = &q
	}
	c.people = maps.Clone(db.people)
	c.limits = maps.Clone(db.limits)
	c.reviewOTP = maps.Clone(db.reviewOTP)
	c.decisions = slices.Clone(db.decisions)
	c.audits = slices.Clone(db.audits)
	c.outbox = slices.Clone(db.outbox)
	c.timeline = slices.Clone(db.timeline)
	c.rejects = maps.Clone(db.rejects)
	c.batches = slices.Clone(db.batches)
	return c
}

func (s *memStore) DecisionTx(ctx context.Context, fn func(approval.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txs++
	tx := &memTx{db: s.db.clone(), fail: s.failWrite}
	s.failWrite = ""
	if err := fn(tx); err != nil {
		return err
	}
	s.db = tx.db
	return nil
}

func (s *memStore) DecisionReject(ctx context.Context, r approval.Rejection) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.db.rejects[r.Key]; ok {
		return false, nil
	}
	s.db.rejects[r.Key] = r
	s.db.outbox = append(s.db.outbox, r.DeadLetter)
	return true, nil
}

// memTx is one transaction: Facts once, then the writes in their order.
type memTx struct {
	db     memDB
	fail   string
	read   bool
	writes []string
}

var errWrite = errors.New("write failed")

func (tx *memTx) write(name string) error {
	order := []string{"otp", "batches", "decisions", "audit", "payments", "timeline", "outbox"}
	if !tx.read {
		return fmt.Errorf("%s before Facts", name)
	}
	if n := len(tx.writes); n > 0 && slices.Index(order, tx.writes[n-1]) >= slices.Index(order, name) {
		return fmt.Errorf("%s written after %s", name, tx.writes[n-1])
	}
	tx.writes = append(tx.writes, name)
	if tx.fail == name {
		return errWrite
	}
	return nil
}

func (tx *memTx) Facts(ctx context.Context, k approval.Keys) (approval.Facts, error) {
	if tx.read {
		return approval.Facts{}, errors.New("Facts read twice")
	}
	tx.read = true
	f := approval.Facts{Prior: map[string]approval.Prior{}, Payments: map[string]*payment.Payment{},
		People: map[string]approval.Person{}, Applied: map[string][]approval.AppliedDecision{},
		ReviewOTP: map[string]bool{}, Limits: map[approval.Limit]int64{}, Batches: map[string]approval.PriorBatch{},
		CustomerCaps: map[string]approval.BatchCap{}, PersonCaps: map[string]approval.BatchCap{}}
	for _, r := range tx.db.batches {
		if slices.Contains(k.BatchIDs, r.Batch.DecisionID) {
			raw, err := json.Marshal(r.Result)
			if err != nil {
				return f, err
			}
			var res approval.BatchResult
			if err := json.Unmarshal(raw, &res); err != nil {
				return f, err
			}
			f.Batches[r.Batch.DecisionID] = approval.PriorBatch{Result: res, ActorID: r.ActorID}
		}
	}
	for _, r := range tx.db.decisions {
		if slices.Contains(k.DecisionIDs, r.Decision.DecisionID) {
			// As a database keeps it: the result through its JSON.
			raw, err := json.Marshal(r.Result)
			if err != nil {
				return f, err
			}
			var res approval.Result
			if err := json.Unmarshal(raw, &res); err != nil {
				return f, err
			}
			f.Prior[r.Decision.DecisionID] = approval.Prior{Result: res, ActorID: r.ActorID}
		}
		if slices.Contains(k.PaymentIDs, r.PaymentID) && r.Result.Outcome == approval.Applied {
			a := approval.AppliedDecision{ActorID: r.ActorID, Stage: r.Decision.Stage}
			if r.Seal != nil {
				a.Seq, a.MAC = r.Seal.Seq, r.Seal.MAC
			}
			f.Applied[r.PaymentID] = append(f.Applied[r.PaymentID], a)
		}
	}
	for _, id := range k.PaymentIDs {
		if p, ok := tx.db.payments[id]; ok {
			q := *p
			f.Payments[id] = &q
			f.ReviewOTP[p.CustomerID] = tx.db.reviewOTP[p.CustomerID]
		}
	}
	for _, id := range k.UserIDs {
		if p, ok := tx.db.people[id]; ok {
			f.People[id] = p
			f.ReviewOTP[p.User.CustomerID] = tx.db.reviewOTP[p.User.CustomerID]
			if len(k.BatchIDs) > 0 {
				f.CustomerCaps[p.User.CustomerID] = tx.db.customerCaps[p.User.CustomerID]
				f.PersonCaps[id] = tx.db.personCaps[id]
			}
		}
		for l, v := range tx.db.limits {
			if l.UserID == id {
				f.Limits[l] = v
			}
		}
	}
	return f, nil
}

func (tx *memTx) SaveOTP(ctx context.Context, ws []approval.OTPWrite) error {
	if err := tx.write("otp"); err != nil {
		return err
	}
	for _, w := range ws {
		p, ok := tx.db.people[w.UserID]
		if !ok || p.OTP.LastStep != w.From.LastStep {
			return fmt.Errorf("OTP state of %s changed under its lock", w.UserID)
		}
		p.OTP = w.To
		tx.db.people[w.UserID] = p
	}
	return nil
}

func (tx *memTx) SaveBatches(ctx context.Context, bs []approval.BatchRecord) error {
	if err := tx.write("batches"); err != nil {
		return err
	}
	for _, b := range bs {
		for _, o := range tx.db.batches {
			if o.Batch.DecisionID == b.Batch.DecisionID {
				return fmt.Errorf("batch %s: unique key", b.Batch.DecisionID)
			}
		}
		tx.db.batches = append(tx.db.batches, b)
	}
	return nil
}

func (tx *memTx) SaveDecisions(ctx context.Context, rs []approval.Record) error {
	if err := tx.write("decisions"); err != nil {
		return err
	}
	for _, r := range rs {
		for _, d := range tx.db.decisions {
			if d.Decision.DecisionID == r.Decision.DecisionID {
				return fmt.Errorf("decision %s: unique key", d.Decision.DecisionID)
			}
		}
		tx.db.decisions = append(tx.db.decisions, r)
	}
	return nil
}

func (tx *memTx) Audit(ctx context.Context, as []approval.Audit) error {
	if err := tx.write("audit"); err != nil {
		return err
	}
	tx.db.audits = append(tx.db.audits, as...)
	return nil
}

func (tx *memTx) UpdatePayments(ctx context.Context, ms []approval.Move) error {
	if err := tx.write("payments"); err != nil {
		return err
	}
	for _, m := range ms {
		p, ok := tx.db.payments[m.To.ID]
		if !ok || p.Version != m.FromVersion || p.State != m.FromState {
			return payment.Errorf(payment.CodeConflict, "payment %s changed meanwhile", m.To.ID)
		}
		q := *m.To
		tx.db.payments[m.To.ID] = &q
	}
	return nil
}

func (tx *memTx) AppendTimeline(ctx context.Context, entries []payment.Entry, digests []string) error {
	if err := tx.write("timeline"); err != nil {
		return err
	}
	if len(entries) != len(digests) {
		return errors.New("one digest per entry")
	}
	tx.db.timeline = append(tx.db.timeline, entries...)
	return nil
}

func (tx *memTx) Outbox(ctx context.Context, msgs []outbox.Message, _ time.Time) error {
	if err := tx.write("outbox"); err != nil {
		return err
	}
	tx.db.outbox = append(tx.db.outbox, msgs...)
	return nil
}
