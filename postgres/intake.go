package postgres

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/payment"
)

// The intake contract's types, under the names this package's callers used
// before they moved to package intake.
type (
	// Submission is intake.Submission.
	Submission = intake.Submission
	// Outcome is intake.Outcome.
	Outcome = intake.Outcome
	// Rejection is intake.Rejection.
	Rejection = intake.Rejection
)

var _ intake.Store = (*Store)(nil)

// IntakeSubmit stores a request exactly once. In one transaction it checks
// the intake ledger, reads the registry facts, lets the domain admit or
// refuse the request, and writes the payment, its timeline, the ledger row
// and the outgoing messages (answer, and dead-letter copy on refusal).
func (s *Store) IntakeSubmit(ctx context.Context, sub Submission) (Outcome, error) {
	var out Outcome
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = s.intakeSubmitTx(ctx, tx, sub)
		return err
	})
	return out, err
}

func (s *Store) intakeSubmitTx(ctx context.Context, tx pgx.Tx, sub Submission) (Outcome, error) {
	now := s.cfg.Now().UTC()
	r := sub.Request
	up, err := upstreamTx(ctx, tx, sub.Upstream.ID)
	if err != nil {
		return Outcome{}, err
	}

	var prevHash []byte
	var prevAnswer []byte
	err = tx.QueryRow(ctx, `SELECT body_sha256, answer FROM intake_requests WHERE upstream_id = $1 AND request_id = $2`,
		up.ID, r.RequestID).Scan(&prevHash, &prevAnswer)
	switch {
	case err == nil:
		return s.intakeRepeatTx(ctx, tx, sub, prevHash, prevAnswer, now)
	case !errors.Is(err, pgx.ErrNoRows):
		return Outcome{}, fmt.Errorf("read intake ledger: %w", err)
	}

	facts, err := intakeFactsTx(ctx, tx, r, up.ID)
	if err != nil {
		return Outcome{}, err
	}
	p, entries, refusal := payment.Admit(uuid.Must(uuid.NewV7()).String(), up, r, facts, now, s.cfg.Location)
	if refusal != nil {
		if !payment.IsRefusal(refusal) {
			return Outcome{}, refusal
		}
		ev := payment.RefusedEvent(up.ID+"/"+r.RequestID+"/answer", up.ID, r, sub.MessageID, refusal, now)
		if err := s.ledgerTx(ctx, tx, sub, "refused", ev.Code, nil, ev, now); err != nil {
			return Outcome{}, err
		}
		if err := s.refuseMessagesTx(ctx, tx, sub, ev, now); err != nil {
			return Outcome{}, err
		}
		return Outcome{Answer: ev}, nil
	}
	if err := paymentInsertTx(ctx, tx, p); err != nil {
		return Outcome{}, err
	}
	if err := timelineCopyTx(ctx, tx, entries); err != nil {
		return Outcome{}, err
	}
	ev := payment.AcceptedEvent(p, now)
	if err := s.ledgerTx(ctx, tx, sub, "accepted", "", &p.ID, ev, now); err != nil {
		return Outcome{}, err
	}
	if err := s.eventTx(ctx, tx, ev, now); err != nil {
		return Outcome{}, err
	}
	if err := s.taskTx(ctx, tx, p); err != nil {
		return Outcome{}, err
	}
	return Outcome{Answer: ev, Payment: p}, nil
}

// intakeRepeatTx answers a request id seen before: the same content gets the
// first answer again; other content is an idempotency conflict.
func (s *Store) intakeRepeatTx(ctx context.Context, tx pgx.Tx, sub Submission, prevHash, prevAnswer []byte, now time.Time) (Outcome, error) {
	if bytes.Equal(prevHash, sub.BodySHA256[:]) {
		var ev payment.Event
		if err := json.Unmarshal(prevAnswer, &ev); err != nil {
			return Outcome{}, fmt.Errorf("decode stored answer: %w", err)
		}
		return Outcome{Answer: ev, Duplicate: true}, s.eventTx(ctx, tx, ev, now)
	}
	r := sub.Request
	h := hex.EncodeToString(sub.BodySHA256[:])
	refusal := payment.FieldErrorf(payment.CodeIdempotencyConflict, "request_id",
		"request %s was already received with different content; the first request stands", r.RequestID)
	ev := payment.RefusedEvent(sub.Upstream.ID+"/"+r.RequestID+"/conflict/"+h[:16], sub.Upstream.ID, r, sub.MessageID, refusal, now)
	first, err := rejectOnceTx(ctx, tx, "conflict:"+sub.Upstream.ID+"/"+r.RequestID+"/"+h, sub.Upstream.ID, ev.Code, ev.Reason, now)
	if err != nil {
		return Outcome{}, err
	}
	if first {
		s.cfg.Logger.ErrorContext(ctx, "idempotency key reused with different content",
			"alert", "idempotency_conflict", "upstream_id", sub.Upstream.ID, "request_id", r.RequestID, "message_id", sub.MessageID)
		if err := s.refuseMessagesTx(ctx, tx, sub, ev, now); err != nil {
			return Outcome{}, err
		}
	} else if err := s.eventTx(ctx, tx, ev, now); err != nil {
		return Outcome{}, err
	}
	return Outcome{Answer: ev, Conflict: true}, nil
}

// refuseMessagesTx writes the refusal answer and the dead-letter copy.
func (s *Store) refuseMessagesTx(ctx context.Context, tx pgx.Tx, sub Submission, ev payment.Event, now time.Time) error {
	if err := s.eventTx(ctx, tx, ev, now); err != nil {
		return err
	}
	if sub.DeadLetter == nil {
		return nil
	}
	return outboxInsertTx(ctx, tx, sub.DeadLetter(ev.Code, ev.Reason), now)
}

func (s *Store) ledgerTx(ctx context.Context, tx pgx.Tx, sub Submission, outcome string, code payment.Code, paymentID *string, ev payment.Event, now time.Time) error {
	ev.Reason, ev.MessageID = pgText(ev.Reason), pgText(ev.MessageID)
	answer, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO intake_requests (upstream_id, request_id, body_sha256, outcome, code, payment_id, answer, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		sub.Upstream.ID, sub.Request.RequestID, sub.BodySHA256[:], outcome, string(code), paymentID, answer, now)
	if err != nil {
		return fmt.Errorf("write intake ledger: %w", err)
	}
	return nil
}

// eventTx writes a status event to the outbox.
func (s *Store) eventTx(ctx context.Context, tx pgx.Tx, ev payment.Event, now time.Time) error {
	m, err := s.cfg.EventMessage(ev)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", ev.ID, err)
	}
	return outboxInsertTx(ctx, tx, m, now)
}

// IntakeReject records a rejected message once and writes its dead-letter
// copy (and answer) to the outbox. A redelivery of the same message changes
// nothing; first reports whether this call was the first.
func (s *Store) IntakeReject(ctx context.Context, r Rejection) (first bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.cfg.Now().UTC()
		first, err = rejectOnceTx(ctx, tx, r.Key, r.UpstreamID, r.Code, r.Reason, now)
		if err != nil || !first {
			return err
		}
		if err := outboxInsertTx(ctx, tx, r.DeadLetter, now); err != nil {
			return err
		}
		if r.Answer != nil {
			return s.eventTx(ctx, tx, *r.Answer, now)
		}
		return nil
	})
	return first, err
}

func rejectOnceTx(ctx context.Context, tx pgx.Tx, key, upstreamID string, code payment.Code, reason string, now time.Time) (bool, error) {
	var up any
	if upstreamID != "" {
		up = upstreamID
	}
	tag, err := tx.Exec(ctx, `INSERT INTO intake_rejects (message_key, upstream_id, code, reason, received_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_key) DO NOTHING`, key, up, string(code), pgText(reason), now)
	if err != nil {
		return false, fmt.Errorf("record rejected message: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// upstreamTx reads an upstream's current registration inside the transaction.
func upstreamTx(ctx context.Context, tx pgx.Tx, id string) (payment.Upstream, error) {
	var u payment.Upstream
	err := tx.QueryRow(ctx, `SELECT id, name, active,
			ARRAY(SELECT customer_id FROM upstream_customers uc WHERE uc.upstream_id = u.id)
		FROM upstreams u WHERE id = $1`, id).Scan(&u.ID, &u.Name, &u.Active, &u.Customers)
	return u, notFound(err, "upstream "+id)
}

// intakeFactsTx reads what the intake rules need about a request.
func intakeFactsTx(ctx context.Context, tx pgx.Tx, r payment.Request, upstreamID string) (payment.IntakeFacts, error) {
	var f payment.IntakeFacts
	var c payment.Customer
	err := tx.QueryRow(ctx, `SELECT id, name, online_payment_enabled, active FROM customers WHERE id = $1`, r.CustomerID).
		Scan(&c.ID, &c.Name, &c.OnlinePayment, &c.Active)
	if err := found(err, func() { f.Customer = &c }); err != nil {
		return f, fmt.Errorf("read customer: %w", err)
	}
	var b payment.Bank
	err = tx.QueryRow(ctx, `SELECT id, name, b2b FROM banks WHERE id = $1`, r.BankID).Scan(&b.ID, &b.Name, &b.B2B)
	if err := found(err, func() { f.Bank = &b }); err != nil {
		return f, fmt.Errorf("read bank: %w", err)
	}
	var a payment.Account
	err = tx.QueryRow(ctx, `SELECT number, bank_id, customer_id, currency, active FROM accounts WHERE bank_id = $1 AND number = $2`,
		r.BankID, r.DebtorAccount).Scan(&a.Number, &a.BankID, &a.CustomerID, &a.Currency, &a.Active)
	if err := found(err, func() { f.Account = &a }); err != nil {
		return f, fmt.Errorf("read account: %w", err)
	}
	var u payment.User
	var roles []string
	err = tx.QueryRow(ctx, `SELECT id, customer_id, name, roles, active FROM users WHERE id = $1`, r.Applicant).
		Scan(&u.ID, &u.CustomerID, &u.Name, &roles, &u.Active)
	if err := found(err, func() { u.Roles = toRoles(roles); f.Applicant = &u }); err != nil {
		return f, fmt.Errorf("read applicant: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT currency, above_minor, authorizers FROM approval_tiers WHERE customer_id = $1`, r.CustomerID)
	if err != nil {
		return f, fmt.Errorf("read approval tiers: %w", err)
	}
	f.Tiers, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (payment.Tier, error) {
		var t payment.Tier
		return t, row.Scan(&t.Currency, &t.AboveMinor, &t.Authorizers)
	})
	if err != nil {
		return f, fmt.Errorf("read approval tiers: %w", err)
	}
	err = tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM payments WHERE upstream_id = $1 AND order_ref = $2
			AND state NOT IN ('rejected', 'cancelled', 'expired', 'returned'))`, upstreamID, r.OrderRef).Scan(&f.OrderHeld)
	if err != nil {
		return f, fmt.Errorf("read order: %w", err)
	}
	return f, nil
}

// found calls set when err is nil, ignores a missing row, and passes any
// other error on.
func found(err error, set func()) error {
	switch {
	case err == nil:
		set()
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	}
	return err
}

func toRoles(ss []string) []payment.Role {
	out := make([]payment.Role, len(ss))
	for i, s := range ss {
		out[i] = payment.Role(s)
	}
	return out
}

// pgText makes s storable as PostgreSQL text: valid UTF-8, no NUL.
func pgText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
