package postgres

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
)

// IntakeSubmit stores a request exactly once: IntakeSubmitMany of one.
func (s *Store) IntakeSubmit(ctx context.Context, sub Submission) (Outcome, error) {
	outs, err := s.IntakeSubmitMany(ctx, []Submission{sub})
	if err != nil {
		return Outcome{}, err
	}
	return outs[0], nil
}

// IntakeSubmitMany stores requests exactly once, all in one transaction,
// and returns one outcome per submission in the same order. It reads the
// intake ledger and every registry fact the batch needs in one round trip,
// lets the domain admit or refuse each request in order (a request id or
// an order reference taken earlier in the batch counts as taken; a
// submission the decoder refused is recorded as refused), and
// writes the payments, their timelines, the ledger rows and the outgoing
// messages (answers, tasks, dead-letter copies) with COPY. A concurrent
// transaction that took the same request id or order first makes the
// unique keys refuse this one; it is then tried again from the start and
// sees what the other committed. Either every submission is stored or
// none is.
func (s *Store) IntakeSubmitMany(ctx context.Context, subs []Submission) ([]Outcome, error) {
	if len(subs) == 0 {
		return nil, nil
	}
	var outs []Outcome
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		b := &intakeBatch{s: s, now: s.cfg.Now().UTC()}
		if err := b.read(ctx, tx, subs); err != nil {
			return err
		}
		outs = make([]Outcome, len(subs))
		for i, sub := range subs {
			var err error
			if outs[i], err = b.submit(ctx, tx, sub); err != nil {
				return err
			}
		}
		return b.write(ctx, tx)
	})
	return outs, err
}

type ledgerKey struct{ upstream, request string }

type accountKey struct{ bank, number string }

// ledgerEntry is a request id already answered, in the database or
// earlier in the batch.
type ledgerEntry struct {
	hash   []byte
	answer payment.Event
}

// ledgerRow is an intake_requests row to write.
type ledgerRow struct {
	sub       Submission
	outcome   string
	paymentID *string
	answer    payment.Event
}

// intakeBatch is one transaction's worth of submissions: the facts read
// for them, and the rows to write.
type intakeBatch struct {
	s   *Store
	now time.Time

	upstreams map[string]payment.Upstream
	ledger    map[ledgerKey]ledgerEntry
	customers map[string]*payment.Customer
	banks     map[string]*payment.Bank
	accounts  map[accountKey]*payment.Account
	users     map[string]*payment.User
	tiers     map[string][]payment.Tier
	held      map[ledgerKey]bool // (upstream, order reference) of active payments

	payments []*payment.Payment
	entries  []payment.Entry
	digests  []string // the content digest of each entry's payment
	rows     []ledgerRow
	msgs     []outbox.Message
}

// read loads, in one round trip, the ledger rows and registry facts of
// every submission.
func (b *intakeBatch) read(ctx context.Context, tx pgx.Tx, subs []Submission) error {
	var ups, reqUps, reqIDs, customers, banks, accBanks, accNumbers, users, orderUps, orders []string
	for _, sub := range subs {
		r := sub.Request
		ups = append(ups, sub.Upstream.ID)
		reqUps, reqIDs = append(reqUps, sub.Upstream.ID), append(reqIDs, r.RequestID)
		customers = append(customers, r.CustomerID)
		banks = append(banks, r.BankID)
		accBanks, accNumbers = append(accBanks, r.BankID), append(accNumbers, r.DebtorAccount)
		users = append(users, r.Applicant)
		orderUps, orders = append(orderUps, sub.Upstream.ID), append(orders, r.OrderRef)
	}
	b.upstreams = map[string]payment.Upstream{}
	b.ledger = map[ledgerKey]ledgerEntry{}
	b.customers = map[string]*payment.Customer{}
	b.banks = map[string]*payment.Bank{}
	b.accounts = map[accountKey]*payment.Account{}
	b.users = map[string]*payment.User{}
	b.tiers = map[string][]payment.Tier{}
	b.held = map[ledgerKey]bool{}

	batch := &pgx.Batch{}
	batch.Queue(`SELECT id, name, active, ARRAY(SELECT customer_id FROM upstream_customers uc WHERE uc.upstream_id = u.id)
		FROM upstreams u WHERE id = ANY($1)`, ups).Query(func(rows pgx.Rows) error {
		return collect(rows, "upstreams", func(row pgx.CollectableRow) error {
			var u payment.Upstream
			err := row.Scan(&u.ID, &u.Name, &u.Active, &u.Customers)
			b.upstreams[u.ID] = u
			return err
		})
	})
	// The ledger and the held orders are probed key by key (LATERAL …
	// LIMIT 1): a join the planner may hash would scan the whole table
	// whenever its statistics are older than its growth (a plan made when
	// payments held a thousand rows, kept while it grew to millions).
	batch.Queue(`SELECT u.upstream_id, u.request_id, r.body_sha256, r.answer
		FROM unnest($1::text[], $2::text[]) AS u(upstream_id, request_id)
		CROSS JOIN LATERAL (SELECT body_sha256, answer FROM intake_requests r
			WHERE r.upstream_id = u.upstream_id AND r.request_id = u.request_id LIMIT 1) r`, reqUps, reqIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "intake ledger", func(row pgx.CollectableRow) error {
			var k ledgerKey
			var e ledgerEntry
			var answer []byte
			if err := row.Scan(&k.upstream, &k.request, &e.hash, &answer); err != nil {
				return err
			}
			if err := json.Unmarshal(answer, &e.answer); err != nil {
				return fmt.Errorf("decode stored answer of %s/%s: %w", k.upstream, k.request, err)
			}
			b.ledger[k] = e
			return nil
		})
	})
	batch.Queue(`SELECT id, name, online_payment_enabled, active FROM customers WHERE id = ANY($1)`, customers).Query(func(rows pgx.Rows) error {
		return collect(rows, "customers", func(row pgx.CollectableRow) error {
			var c payment.Customer
			err := row.Scan(&c.ID, &c.Name, &c.OnlinePayment, &c.Active)
			b.customers[c.ID] = &c
			return err
		})
	})
	batch.Queue(`SELECT id, name, b2b FROM banks WHERE id = ANY($1)`, banks).Query(func(rows pgx.Rows) error {
		return collect(rows, "banks", func(row pgx.CollectableRow) error {
			var k payment.Bank
			err := row.Scan(&k.ID, &k.Name, &k.B2B)
			b.banks[k.ID] = &k
			return err
		})
	})
	batch.Queue(`SELECT number, bank_id, customer_id, currency, active FROM accounts
		WHERE (bank_id, number) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, accBanks, accNumbers).Query(func(rows pgx.Rows) error {
		return collect(rows, "accounts", func(row pgx.CollectableRow) error {
			var a payment.Account
			err := row.Scan(&a.Number, &a.BankID, &a.CustomerID, &a.Currency, &a.Active)
			b.accounts[accountKey{a.BankID, a.Number}] = &a
			return err
		})
	})
	batch.Queue(`SELECT id, customer_id, name, roles, active FROM users WHERE id = ANY($1)`, users).Query(func(rows pgx.Rows) error {
		return collect(rows, "users", func(row pgx.CollectableRow) error {
			var u payment.User
			var roles []string
			err := row.Scan(&u.ID, &u.CustomerID, &u.Name, &roles, &u.Active)
			u.Roles = toRoles(roles)
			b.users[u.ID] = &u
			return err
		})
	})
	batch.Queue(`SELECT customer_id, currency, above_minor, authorizers FROM approval_tiers WHERE customer_id = ANY($1)`, customers).Query(func(rows pgx.Rows) error {
		return collect(rows, "approval tiers", func(row pgx.CollectableRow) error {
			var c string
			var t payment.Tier
			err := row.Scan(&c, &t.Currency, &t.AboveMinor, &t.Authorizers)
			b.tiers[c] = append(b.tiers[c], t)
			return err
		})
	})
	batch.Queue(`SELECT u.upstream_id, u.order_ref FROM unnest($1::text[], $2::text[]) AS u(upstream_id, order_ref)
		CROSS JOIN LATERAL (SELECT 1 FROM payments p WHERE p.upstream_id = u.upstream_id AND p.order_ref = u.order_ref
			AND p.state NOT IN ('rejected', 'cancelled', 'expired', 'returned') LIMIT 1) held`, orderUps, orders).Query(func(rows pgx.Rows) error {
		return collect(rows, "orders", func(row pgx.CollectableRow) error {
			var k ledgerKey
			err := row.Scan(&k.upstream, &k.request)
			b.held[k] = true
			return err
		})
	})
	return tx.SendBatch(ctx, batch).Close()
}

// collect runs fn on every row, naming what was read in an error.
func collect(rows pgx.Rows, what string, fn func(pgx.CollectableRow) error) error {
	_, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) { return struct{}{}, fn(row) })
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

// submit decides one submission against what is stored and what the batch
// decided before it.
func (b *intakeBatch) submit(ctx context.Context, tx pgx.Tx, sub Submission) (Outcome, error) {
	r := sub.Request
	key := ledgerKey{sub.Upstream.ID, r.RequestID}
	if prev, ok := b.ledger[key]; ok {
		return b.repeat(ctx, tx, sub, prev)
	}
	up, ok := b.upstreams[sub.Upstream.ID]
	if !ok {
		return Outcome{}, fmt.Errorf("upstream %s: %w", sub.Upstream.ID, payment.ErrNotFound)
	}
	facts := payment.IntakeFacts{
		Customer:  b.customers[r.CustomerID],
		Bank:      b.banks[r.BankID],
		Account:   b.accounts[accountKey{r.BankID, r.DebtorAccount}],
		Applicant: b.users[r.Applicant],
		OrderHeld: b.held[ledgerKey{up.ID, r.OrderRef}],
		Tiers:     b.tiers[r.CustomerID],
	}
	var p *payment.Payment
	var entries []payment.Entry
	refusal := sub.Refusal // the decoder's: nothing to admit
	if refusal == nil {
		p, entries, refusal = payment.Admit(uuid.Must(uuid.NewV7()).String(), up, r, facts, b.now, b.s.cfg.Location)
	}
	if refusal != nil {
		if !payment.IsRefusal(refusal) {
			return Outcome{}, refusal
		}
		ev := payment.RefusedEvent(up.ID+"/"+r.RequestID+"/answer", up.ID, r, sub.MessageID, refusal, b.now)
		b.record(sub, "refused", nil, ev)
		if err := b.refuse(sub, ev); err != nil {
			return Outcome{}, err
		}
		return Outcome{Answer: ev}, nil
	}
	ev := payment.AcceptedEvent(p, b.now)
	b.payments = append(b.payments, p)
	b.entries = append(b.entries, entries...)
	digest := p.Digest()
	for range entries {
		b.digests = append(b.digests, digest)
	}
	b.held[ledgerKey{up.ID, r.OrderRef}] = true
	b.record(sub, "accepted", &p.ID, ev)
	if err := b.event(ev); err != nil {
		return Outcome{}, err
	}
	task, ok, err := b.s.taskMessage(p, 0) // a new payment waits for its applicant
	if err != nil {
		return Outcome{}, err
	}
	if ok {
		b.msgs = append(b.msgs, task)
	}
	return Outcome{Answer: ev, Payment: p}, nil
}

// repeat answers a request id seen before: the same content gets the
// first answer again; other content is an idempotency conflict.
func (b *intakeBatch) repeat(ctx context.Context, tx pgx.Tx, sub Submission, prev ledgerEntry) (Outcome, error) {
	if bytes.Equal(prev.hash, sub.BodySHA256[:]) {
		return Outcome{Answer: prev.answer, Duplicate: true}, b.event(prev.answer)
	}
	r := sub.Request
	h := hex.EncodeToString(sub.BodySHA256[:])
	refusal := payment.FieldErrorf(payment.CodeIdempotencyConflict, "request_id",
		"request %s was already received with different content; the first request stands", r.RequestID)
	ev := payment.RefusedEvent(sub.Upstream.ID+"/"+r.RequestID+"/conflict/"+h[:16], sub.Upstream.ID, r, sub.MessageID, refusal, b.now)
	first, err := rejectOnceTx(ctx, tx, "conflict:"+sub.Upstream.ID+"/"+r.RequestID+"/"+h, sub.Upstream.ID, ev.Code, ev.Reason, b.now)
	if err != nil {
		return Outcome{}, err
	}
	if first {
		b.s.cfg.Logger.ErrorContext(ctx, "idempotency key reused with different content",
			"alert", "idempotency_conflict", "upstream_id", sub.Upstream.ID, "request_id", r.RequestID, "message_id", sub.MessageID)
		err = b.refuse(sub, ev)
	} else {
		err = b.event(ev)
	}
	if err != nil {
		return Outcome{}, err
	}
	return Outcome{Answer: ev, Conflict: true}, nil
}

// record adds the ledger row of a first answer, which later submissions of
// the batch see.
func (b *intakeBatch) record(sub Submission, outcome string, paymentID *string, ev payment.Event) {
	ev.Reason, ev.MessageID = payment.Text(ev.Reason), payment.Text(ev.MessageID)
	b.rows = append(b.rows, ledgerRow{sub: sub, outcome: outcome, paymentID: paymentID, answer: ev})
	b.ledger[ledgerKey{sub.Upstream.ID, sub.Request.RequestID}] = ledgerEntry{hash: sub.BodySHA256[:], answer: ev}
}

// event queues a status event for the outbox.
func (b *intakeBatch) event(ev payment.Event) error {
	m, err := b.s.cfg.EventMessage(ev)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	b.msgs = append(b.msgs, m)
	return nil
}

// refuse queues the refusal answer and the dead-letter copy.
func (b *intakeBatch) refuse(sub Submission, ev payment.Event) error {
	if err := b.event(ev); err != nil {
		return err
	}
	if sub.DeadLetter != nil {
		b.msgs = append(b.msgs, sub.DeadLetter(ev.Code, ev.Reason))
	}
	return nil
}

// write stores what the batch decided: payments, timelines, ledger rows
// and outgoing messages, each with one COPY.
func (b *intakeBatch) write(ctx context.Context, tx pgx.Tx) error {
	if len(b.payments) > 0 {
		if err := paymentCopyTx(ctx, tx, b.payments); err != nil {
			return err
		}
		if err := b.s.timelineCopyTx(ctx, tx, b.entries, b.digests); err != nil {
			return err
		}
	}
	if len(b.rows) > 0 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"intake_requests"},
			[]string{"upstream_id", "request_id", "body_sha256", "outcome", "code", "payment_id", "answer", "received_at"},
			pgx.CopyFromSlice(len(b.rows), func(i int) ([]any, error) {
				r := b.rows[i]
				answer, err := json.Marshal(r.answer)
				if err != nil {
					return nil, err
				}
				var paymentID any
				if r.paymentID != nil {
					paymentID = copyUUID(*r.paymentID)
				}
				return []any{r.sub.Upstream.ID, r.sub.Request.RequestID, r.sub.BodySHA256[:], r.outcome,
					string(r.answer.Code), paymentID, string(answer), b.now}, nil
			}))
		if err != nil {
			return fmt.Errorf("write intake ledger: %w", err)
		}
	}
	if len(b.msgs) > 0 {
		return outboxCopyTx(ctx, tx, b.msgs, b.now)
	}
	return nil
}
