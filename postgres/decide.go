package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/outbox"
	"github.com/b2bpay/b2bpay/payment"
)

// The approval use case (approval.Applier) decides; the store only reads,
// locks and writes for it, with SQL.
var _ approval.Store = (*Store)(nil)

// DecisionTx runs fn in one transaction of decisions (approval.Store). A
// transaction that lost a race (a unique key: the same decision id
// recorded meanwhile by another worker) is run again and sees the winner.
func (s *Store) DecisionTx(ctx context.Context, fn func(approval.Tx) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return fn(decisionTx{s: s, tx: tx}) })
}

// DecisionReject records a decision message that cannot be read at all,
// as the intake records its own: one row in intake_rejects under the key,
// and the dead letter, once.
func (s *Store) DecisionReject(ctx context.Context, r approval.Rejection) (bool, error) {
	return s.IntakeReject(ctx, intake.Rejection{Key: r.Key, Code: r.Code, Reason: r.Reason, DeadLetter: r.DeadLetter})
}

// decisionTx is approval.Tx over one pgx transaction.
type decisionTx struct {
	s  *Store
	tx pgx.Tx
}

// Facts reads, in one round trip, the decisions already recorded under
// the batch's ids, the payments (locked FOR UPDATE), the people with
// their OTP state (locked FOR NO KEY UPDATE), each set in id order, the
// payments' applied decisions, the review policy of their customers and
// the people's, the people's limits and, for a batch decision
// (queueBatchFacts), the batch recorded before and the caps.
func (d decisionTx) Facts(ctx context.Context, k approval.Keys) (approval.Facts, error) {
	f := approval.Facts{Prior: map[string]approval.Prior{}, Payments: map[string]*payment.Payment{},
		People: map[string]approval.Person{}, Applied: map[string][]approval.AppliedDecision{},
		ReviewOTP: map[string]bool{}, Limits: map[approval.Limit]int64{}}
	var payIDs []string
	for _, id := range k.PaymentIDs {
		// Not a payment id at all: not found, rather than a SQL error
		// retried until the broker dead-letters the message.
		if validUUIDOrEmpty(id) != "" {
			payIDs = append(payIDs, id)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT id, result, coalesce(actor_id, '') FROM decisions WHERE id = ANY($1)`, k.DecisionIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "decisions", func(row pgx.CollectableRow) error {
			var id, actor string
			var raw []byte
			if err := row.Scan(&id, &raw, &actor); err != nil {
				return err
			}
			var res approval.Result
			if err := json.Unmarshal(raw, &res); err != nil {
				return fmt.Errorf("decode decision %s: %w", id, err)
			}
			f.Prior[id] = approval.Prior{Result: res, ActorID: actor}
			return nil
		})
	})
	b.Queue(`SELECT `+paymentColumns+` FROM payments WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, payIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "payments", func(row pgx.CollectableRow) error {
			p, err := scanPayment(row)
			if err == nil {
				f.Payments[p.ID] = p
			}
			return err
		})
	})
	b.Queue(`SELECT id, customer_id, name, roles, active, otp_sealed, otp_last_step, otp_failures, otp_locked_until
		FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, k.UserIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "users", func(row pgx.CollectableRow) error {
			var p approval.Person
			var roles []string
			err := row.Scan(&p.User.ID, &p.User.CustomerID, &p.User.Name, &roles, &p.User.Active,
				&p.OTP.Sealed, &p.OTP.LastStep, &p.OTP.Failures, &p.OTP.LockedUntil)
			p.User.Roles = toRoles(roles)
			f.People[p.User.ID] = p
			return err
		})
	})
	b.Queue(`SELECT payment_id::text, actor_id, stage, coalesce(seal_seq, 0), mac FROM decisions
		WHERE payment_id = ANY($1::uuid[]) AND outcome = 'applied' ORDER BY payment_id, decided_at, seal_seq`, payIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "applied decisions", func(row pgx.CollectableRow) error {
			var pay, who, stage string
			var a approval.AppliedDecision
			err := row.Scan(&pay, &who, &stage, &a.Seq, &a.MAC)
			a.ActorID, a.Stage = who, payment.Stage(stage)
			f.Applied[pay] = append(f.Applied[pay], a)
			return err
		})
	})
	b.Queue(`SELECT id, review_otp FROM customers WHERE id IN (SELECT customer_id FROM payments WHERE id = ANY($1::uuid[]))
		OR id IN (SELECT customer_id FROM users WHERE id = ANY($2))`, payIDs, k.UserIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "customers", func(row pgx.CollectableRow) error {
			var id string
			var on bool
			err := row.Scan(&id, &on)
			f.ReviewOTP[id] = on
			return err
		})
	})
	b.Queue(`SELECT user_id, currency, max_minor FROM user_limits WHERE user_id = ANY($1)`, k.UserIDs).Query(func(rows pgx.Rows) error {
		return collect(rows, "limits", func(row pgx.CollectableRow) error {
			var l approval.Limit
			var limit int64
			err := row.Scan(&l.UserID, &l.Currency, &limit)
			f.Limits[l] = limit
			return err
		})
	})
	if len(k.BatchIDs) > 0 {
		queueBatchFacts(b, k, &f)
	}
	if err := d.tx.SendBatch(ctx, b).Close(); err != nil {
		return approval.Facts{}, err
	}
	return f, nil
}

// SaveOTP writes people's OTP state, each where the row still has the
// last step it was read with. The rows are locked: a mismatch is
// impossible, and never guessed at.
func (d decisionTx) SaveOTP(ctx context.Context, ws []approval.OTPWrite) error {
	ids, froms, steps, failures := make([]string, len(ws)), make([]int64, len(ws)), make([]int64, len(ws)), make([]int32, len(ws))
	until := make([]*time.Time, len(ws))
	for i, w := range ws {
		ids[i], froms[i], steps[i], failures[i], until[i] = w.UserID, w.From.LastStep, w.To.LastStep, int32(w.To.Failures), w.To.LockedUntil
	}
	tag, err := d.tx.Exec(ctx, `UPDATE users SET otp_last_step = u.step, otp_failures = u.failures, otp_locked_until = u.until
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[], $5::timestamptz[]) AS u(id, from_step, step, failures, until)
		WHERE users.id = u.id AND users.otp_last_step = u.from_step`, ids, froms, steps, failures, until)
	if err != nil {
		return fmt.Errorf("record OTP state: %w", err)
	}
	if int(tag.RowsAffected()) != len(ws) {
		return fmt.Errorf("record OTP state: %d of %d users updated", tag.RowsAffected(), len(ws))
	}
	return nil
}

// SaveDecisions writes decision rows with one COPY.
func (d decisionTx) SaveDecisions(ctx context.Context, rs []approval.Record) error {
	rows := make([]decisionRow, len(rs))
	for i, r := range rs {
		raw, err := json.Marshal(r.Result)
		if err != nil {
			return err
		}
		row := decisionRow{r: r.Decision, raw: raw, outcome: r.Result.Outcome, code: r.Result.Code, reason: r.Result.Reason,
			step: r.OTPStep, at: r.At}
		if r.PaymentID != "" {
			row.pay = r.PaymentID
		}
		if r.ActorID != "" {
			row.actor = r.ActorID
		}
		if validUUIDOrEmpty(r.Decision.SessionID) != "" {
			row.session = r.Decision.SessionID
		}
		if r.Decision.BatchID != "" {
			row.batch = r.Decision.BatchID
		}
		if r.Seal != nil {
			row.seal = decisionSeal{seq: r.Seal.Seq, digest: r.Seal.Digest, mac: r.Seal.MAC}
		}
		rows[i] = row
	}
	return decisionCopyTx(ctx, d.tx, rows)
}

// Audit appends entries to the audit trail with one COPY; a payment id
// that is not a UUID (a decision's, as sent) is left out.
func (d decisionTx) Audit(ctx context.Context, as []approval.Audit) error {
	entries := make([]AuditEntry, len(as))
	for i, a := range as {
		entries[i] = AuditEntry{UserID: a.UserID, Actor: a.Actor, Event: a.Event, PaymentID: validUUIDOrEmpty(a.PaymentID), Detail: a.Detail}
	}
	return d.s.auditCopyTx(ctx, d.tx, entries)
}

// UpdatePayments writes payments' new state, each guarded by the version
// and state it was read with: fewer rows than payments means somebody
// else changed one first.
func (d decisionTx) UpdatePayments(ctx context.Context, ms []approval.Move) error {
	n := len(ms)
	ids, fromStates, states := make([]string, n), make([]string, n), make([]string, n)
	fromVersions, versions := make([]int32, n), make([]int32, n)
	updated, heads := make([]time.Time, n), make([][]byte, n)
	for i, m := range ms {
		p := m.To
		ids[i], fromVersions[i], fromStates[i] = p.ID, int32(m.FromVersion), string(m.FromState)
		states[i], versions[i], updated[i], heads[i] = string(p.State), int32(p.Version), p.UpdatedAt, p.HeadHash
	}
	tag, err := d.tx.Exec(ctx, `UPDATE payments p SET state = u.state, version = u.version, updated_at = u.updated_at, head_hash = u.head
		FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::bytea[])
			AS u(id, from_version, from_state, state, version, updated_at, head)
		WHERE p.id = u.id AND p.version = u.from_version AND p.state = u.from_state`,
		ids, fromVersions, fromStates, states, versions, updated, heads)
	if err != nil {
		return fmt.Errorf("update payments: %w", err)
	}
	if int(tag.RowsAffected()) != n {
		return fmt.Errorf("update payments: %w", payment.Errorf(payment.CodeConflict, "%d of %d payments changed meanwhile", n-int(tag.RowsAffected()), n))
	}
	return nil
}

// AppendTimeline appends timeline entries with one COPY, each sealed.
func (d decisionTx) AppendTimeline(ctx context.Context, entries []payment.Entry, digests []string) error {
	return d.s.timelineCopyTx(ctx, d.tx, entries, digests)
}

// Outbox writes messages to the outbox with one COPY.
func (d decisionTx) Outbox(ctx context.Context, msgs []outbox.Message, at time.Time) error {
	return outboxCopyTx(ctx, d.tx, msgs, at)
}

// decisionSeal is what an applied decision's row carries for its MAC: its
// place in the payment's chain of decisions, the content digest it was made
// on, and the MAC.
type decisionSeal struct {
	seq    int
	digest string
	mac    []byte
}

// decisionRow is a decisions row to write.
type decisionRow struct {
	r                   approval.Decision
	raw                 []byte // the result, as JSON
	pay, actor, session any    // nil when unknown
	batch               any    // the batch's id, nil for a decision alone
	outcome             string
	code                payment.Code
	reason              string
	step                *int64
	at                  time.Time
	seal                decisionSeal // zero for a refusal
}

// decisionCopyTx writes decision rows with one COPY.
func decisionCopyTx(ctx context.Context, tx pgx.Tx, rows []decisionRow) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"decisions"},
		[]string{"id", "payment_id", "stage", "verdict", "actor_id", "session_id", "outcome", "code", "reason", "digest", "otp_step", "result", "decided_at",
			"seal_seq", "mac", "batch_id"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			d := rows[i]
			if s, ok := d.pay.(string); ok {
				d.pay = copyUUID(s)
			}
			if s, ok := d.session.(string); ok {
				d.session = copyUUID(s)
			}
			digest := payment.Text(d.r.Digest)
			var seq any
			if d.seal.seq > 0 {
				// An applied decision records the digest its MAC covers.
				digest, seq = d.seal.digest, d.seal.seq
			}
			return []any{d.r.DecisionID, d.pay, payment.Text(string(d.r.Stage)), payment.Text(string(d.r.Verdict)), d.actor, d.session, d.outcome,
				string(d.code), d.reason, digest, d.step, string(d.raw), d.at, seq, d.seal.mac, d.batch}, nil
		}))
	if err != nil {
		return fmt.Errorf("record decisions: %w", err)
	}
	return nil
}

// validUUIDOrEmpty returns id if it is a UUID, else "".
func validUUIDOrEmpty(id string) string {
	if uuid.Validate(id) != nil {
		return ""
	}
	return id
}
