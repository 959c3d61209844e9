package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/b2bpay/b2bpay/payment"
)

const paymentColumns = `id, upstream_id, request_id, order_ref, customer_id, applicant_id, bank_id,
	debtor_account, creditor_name, creditor_account, creditor_bank_id, amount_minor, currency,
	remittance, execution_date, state, version, created_at, updated_at, required_authorizers, head_hash`

// paymentColumnList is paymentColumns as COPY takes them.
var paymentColumnList = func() []string {
	var out []string
	for _, c := range strings.Split(paymentColumns, ",") {
		out = append(out, strings.TrimSpace(c))
	}
	return out
}()

func scanPayment(row pgx.Row) (*payment.Payment, error) { return scanPaymentExtra(row) }

// PaymentGetByID returns a payment.
func (s *Store) PaymentGetByID(ctx context.Context, id string) (*payment.Payment, error) {
	if !canonicalUUID(id) {
		// Not a payment id at all: no such payment, rather than a SQL error.
		return nil, fmt.Errorf("payment %s: %w", id, payment.ErrNotFound)
	}
	p, err := scanPayment(s.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, id))
	return p, notFound(err, "payment "+id)
}

// PaymentGetByRequest returns the payment an upstream request became.
func (s *Store) PaymentGetByRequest(ctx context.Context, upstreamID, requestID string) (*payment.Payment, error) {
	p, err := scanPayment(s.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE upstream_id = $1 AND request_id = $2`, upstreamID, requestID))
	return p, notFound(err, "payment for request "+requestID)
}

// PaymentTimeline returns a payment's timeline in order.
func (s *Store) PaymentTimeline(ctx context.Context, id string) ([]payment.Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT payment_id, seq, at, actor_kind, actor_id, action, coalesce(from_state, ''), to_state, code, note, prev_hash, hash,
			coalesce(otp_step, 0), mac
		FROM payment_timeline WHERE payment_id = $1 ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (payment.Entry, error) {
		var e payment.Entry
		var kind, action, from, to, code string
		err := row.Scan(&e.PaymentID, &e.Seq, &e.At, &kind, &e.Actor.ID, &action, &from, &to, &code, &e.Note, &e.PrevHash, &e.Hash, &e.OTPStep, &e.MAC)
		e.Actor.Kind, e.Action, e.From, e.To, e.Code = payment.ActorKind(kind), payment.Action(action), payment.State(from), payment.State(to), payment.Code(code)
		return e, err
	})
}

// PaymentCountByState counts payments in each state.
func (s *Store) PaymentCountByState(ctx context.Context) (map[payment.State]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, count(*) FROM payments GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[payment.State]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[payment.State(st)] = n
	}
	return out, rows.Err()
}

// PaymentIDs lists every payment's id, oldest first.
func (s *Store) PaymentIDs(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text FROM payments ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// errNoSeal is returned when the store would write a timeline entry or a
// decision without the key that makes their MACs.
var errNoSeal = errors.New("postgres: no MAC key (Config.Seal): set the master key")

// timelineCopyTx appends many timeline entries with COPY, each sealed with
// its MAC over digests[i], its payment's content digest.
func (s *Store) timelineCopyTx(ctx context.Context, tx pgx.Tx, entries []payment.Entry, digests []string) error {
	if s.cfg.Seal == nil {
		return errNoSeal
	}
	for i := range entries {
		s.cfg.Seal.Seal(digests[i], &entries[i])
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"payment_timeline"},
		[]string{"payment_id", "seq", "at", "actor_kind", "actor_id", "action", "from_state", "to_state", "code", "note", "prev_hash", "hash", "otp_step", "mac"},
		pgx.CopyFromSlice(len(entries), func(i int) ([]any, error) {
			e := entries[i]
			var from, step any
			if e.From != payment.StateNone {
				from = string(e.From)
			}
			if e.OTPStep != 0 {
				step = e.OTPStep
			}
			return []any{copyUUID(e.PaymentID), e.Seq, e.At, string(e.Actor.Kind), e.Actor.ID, string(e.Action), from, string(e.To),
				string(e.Code), e.Note, e.PrevHash, e.Hash, step, e.MAC}, nil
		}))
	if err != nil {
		return fmt.Errorf("append timelines: %w", err)
	}
	return nil
}

// paymentCopyTx inserts new payments with one COPY.
func paymentCopyTx(ctx context.Context, tx pgx.Tx, ps []*payment.Payment) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"payments"}, paymentColumnList,
		pgx.CopyFromSlice(len(ps), func(i int) ([]any, error) {
			p := ps[i]
			return []any{copyUUID(p.ID), p.UpstreamID, p.RequestID, p.OrderRef, p.CustomerID, p.ApplicantID, p.BankID,
				p.DebtorAccount, p.Creditor.Name, p.Creditor.Account, p.Creditor.BankID, p.AmountMinor, p.Currency,
				p.Remittance, p.ExecutionDate, string(p.State), p.Version, p.CreatedAt, p.UpdatedAt, max(p.RequiredAuthorizers, 1), p.HeadHash}, nil
		}))
	if err != nil {
		return fmt.Errorf("insert payments: %w", err)
	}
	return nil
}

// copyUUID is a UUID as COPY's binary format takes it. Given as text, pgx
// would first fail to encode it in binary (building an error) and then
// parse it: several times the work, on every row.
func copyUUID(s string) any {
	u, err := uuid.Parse(s)
	if err != nil {
		return s // let the database say what is wrong with it
	}
	return pgtype.UUID{Bytes: u, Valid: true}
}
