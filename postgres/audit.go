package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/payment"
)

// AuditEntry is one line of the audit trail.
type AuditEntry struct {
	UserID    string // the user concerned, "" if none
	Actor     string // who did it: "admin", "user:<id>", "system:<job>"
	Event     string // snake_case, e.g. otp_wrong, login_failed, decision_refused
	PaymentID string // "" if none
	Detail    string // never a secret, a password or a code
}

// auditTx appends to the audit trail inside tx.
func (s *Store) auditTx(ctx context.Context, tx pgx.Tx, a AuditEntry) error {
	return s.auditCopyTx(ctx, tx, []AuditEntry{a})
}

// auditCopyTx appends entries to the audit trail, in order, with one COPY.
func (s *Store) auditCopyTx(ctx context.Context, tx pgx.Tx, as []AuditEntry) error {
	now := s.cfg.Now().UTC()
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_log"}, []string{"at", "user_id", "actor", "event", "payment_id", "detail"},
		pgx.CopyFromSlice(len(as), func(i int) ([]any, error) {
			a := as[i]
			var user, pay any
			if a.UserID != "" {
				user = a.UserID
			}
			if a.PaymentID != "" {
				pay = copyUUID(a.PaymentID)
			}
			return []any{now, user, payment.Text(a.Actor), a.Event, pay, payment.Text(a.Detail)}, nil
		}))
	if err != nil {
		return fmt.Errorf("write audit trail: %w", err)
	}
	return nil
}

// Audit appends one entry to the audit trail in its own transaction.
func (s *Store) Audit(ctx context.Context, a AuditEntry) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return s.auditTx(ctx, tx, a) })
}

// AuditList returns the audit trail of a user (or of everyone when userID
// is ""), oldest first, at most limit entries.
func (s *Store) AuditList(ctx context.Context, userID string, limit int) ([]AuditEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT coalesce(user_id, ''), actor, event, coalesce(payment_id::text, ''), detail
		FROM audit_log WHERE $1 = '' OR user_id = $1 ORDER BY id LIMIT $2`, userID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEntry, error) {
		var a AuditEntry
		return a, row.Scan(&a.UserID, &a.Actor, &a.Event, &a.PaymentID, &a.Detail)
	})
}
