package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/payment"
)

// BatchCaps are the caps on one batch decision of a customer's people or of
// one person: items (0: unchanged) and a total per currency (MaxMinor 0:
// unchanged; Currency must be set with it).
type BatchCaps struct {
	Items    int
	Currency string
	MaxMinor int64
}

// BatchCapsSet sets the caps of a customer's batches (customer true) or of
// one person's, audited with the actor: items per batch (1 to 5,000) and
// the largest total of a batch in a currency.
func (s *Store) BatchCapsSet(ctx context.Context, customer bool, id string, c BatchCaps, actor string) error {
	if c.Items == 0 && c.MaxMinor == 0 {
		return payment.Errorf(payment.CodeInvalidInput, "give items per batch, or a currency and a largest total, or both")
	}
	if c.Items != 0 && (c.Items < 1 || c.Items > 5000) {
		return payment.Errorf(payment.CodeInvalidInput, "items per batch must be 1 to 5,000, not %d", c.Items)
	}
	if c.MaxMinor != 0 {
		if err := payment.ValidCurrency(c.Currency); err != nil {
			return err
		}
		if c.MaxMinor < 0 {
			return payment.Errorf(payment.CodeInvalidInput, "a largest total must be positive")
		}
	}
	table, key, kind := "users", "user_id", "user"
	if customer {
		table, key, kind = "customers", "customer_id", "customer"
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE id = $1)`, id).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return payment.Errorf(payment.CodeNotFound, "%s %s does not exist", kind, id)
		}
		if c.Items != 0 {
			if _, err := tx.Exec(ctx, `UPDATE `+table+` SET batch_max_items = $2 WHERE id = $1`, id, c.Items); err != nil {
				return fmt.Errorf("set the item cap of %s %s: %w", kind, id, err)
			}
		}
		if c.MaxMinor != 0 {
			// One row per owner and currency (a partial unique index each).
			if _, err := tx.Exec(ctx, `DELETE FROM batch_total_caps WHERE `+key+` = $1 AND currency = $2`, id, c.Currency); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO batch_total_caps (`+key+`, currency, max_minor) VALUES ($1, $2, $3)`,
				id, c.Currency, c.MaxMinor); err != nil {
				return constraintError(err, "batch cap of "+kind+" "+id)
			}
		}
		e := AuditEntry{Actor: actor, Event: "batch_caps_set",
			Detail: fmt.Sprintf("%s %s items=%d %s max_minor=%d", kind, id, c.Items, c.Currency, c.MaxMinor)}
		if !customer {
			e.UserID = id
		}
		return s.auditTx(ctx, tx, e)
	})
}
