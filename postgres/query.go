package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/payment"
)

// The API reads payments through this store.
var _ httpapi.Store = (*Store)(nil)

// checkFilter refuses a filter that no query could honour, with an error that
// says which field is wrong.
func checkFilter(f httpapi.PaymentFilter) error {
	switch {
	case f.Limit < 0 || f.Limit > httpapi.MaxPageSize:
		return payment.FieldErrorf(payment.CodeInvalidInput, "limit", "%d is not between 1 and %d", f.Limit, httpapi.MaxPageSize)
	case f.After != "" && !canonicalUUID(f.After):
		return payment.FieldErrorf(payment.CodeInvalidInput, "after", "%q is not a payment id", payment.Clip(f.After, 64))
	case !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && !f.CreatedFrom.Before(f.CreatedTo):
		return payment.FieldErrorf(payment.CodeInvalidInput, "created_to", "%s is not after created_from %s",
			f.CreatedTo.Format(time.RFC3339), f.CreatedFrom.Format(time.RFC3339))
	}
	if err := comparableText(f.UpstreamID, f.OrderRef); err != nil {
		return err
	}
	if err := checkSearch(f); err != nil {
		return err
	}
	for _, st := range f.States {
		if !st.Valid() {
			return payment.FieldErrorf(payment.CodeInvalidInput, "state", "%q is not a payment state", payment.Clip(string(st), 64))
		}
	}
	return nil
}

// filterWhere builds the filter's WHERE clause and its arguments.
func filterWhere(f httpapi.PaymentFilter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if f.CustomerID != "" {
		add("customer_id = $?", f.CustomerID)
	}
	if f.ID != "" {
		add("id = $?", f.ID)
	}
	if f.UpstreamID != "" {
		add("upstream_id = $?", f.UpstreamID)
	}
	if f.OrderRef != "" {
		add("order_ref = $?", f.OrderRef)
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		add("state = ANY($?)", states)
	}
	if !f.CreatedFrom.IsZero() {
		add("created_at >= $?", f.CreatedFrom.UTC())
	}
	if !f.CreatedTo.IsZero() {
		add("created_at < $?", f.CreatedTo.UTC())
	}
	if f.Currency != "" {
		add("currency = $?", f.Currency)
	}
	if f.AmountMin > 0 {
		add("amount_minor >= $?", f.AmountMin)
	}
	if f.AmountMax > 0 {
		add("amount_minor <= $?", f.AmountMax)
	}
	if f.Counterparty != "" {
		// Two arguments: the escaped pattern for the name, the text itself for the account.
		args = append(args, likePattern(f.Counterparty), f.Counterparty)
		n := len(args)
		conds = append(conds, fmt.Sprintf(`(creditor_name ILIKE $%d ESCAPE '\' OR creditor_account = $%d)`, n-1, n))
	}
	if f.After != "" {
		add("id > $?", f.After)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// PaymentList returns one page of the payments that f selects, in id order
// (creation order). The next page starts after the last id returned; a page
// shorter than the limit is the last one.
func (s *Store) PaymentList(ctx context.Context, f httpapi.PaymentFilter) ([]*payment.Payment, error) {
	if err := checkFilter(f); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = httpapi.DefaultPageSize
	}
	where, args := filterWhere(f)
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments`+where+
		` ORDER BY id LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	out, err := collectPayments(rows)
	if err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	return out, nil
}

// PaymentGetByOrder returns every payment of an upstream's order, newest
// first: at most one holds the order, the others ended without moving money
// (rejected, cancelled, expired, returned). An order without payments gives
// an empty slice, not an error.
func (s *Store) PaymentGetByOrder(ctx context.Context, upstreamID, orderRef string) ([]*payment.Payment, error) {
	if err := comparableText(upstreamID, orderRef); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE upstream_id = $1 AND order_ref = $2 ORDER BY created_at DESC, id DESC`, upstreamID, orderRef)
	if err != nil {
		return nil, fmt.Errorf("payments of order %s/%s: %w", upstreamID, orderRef, err)
	}
	out, err := collectPayments(rows)
	if err != nil {
		return nil, fmt.Errorf("payments of order %s/%s: %w", upstreamID, orderRef, err)
	}
	return out, nil
}

// canonicalUUID reports whether s is a UUID in the form PostgreSQL reads
// (uuid.Validate also takes urn:uuid: and braces, which it does not).
func canonicalUUID(s string) bool { return len(s) == 36 && uuid.Validate(s) == nil }

// comparableText refuses, as invalid input, an upstream id or order
// reference PostgreSQL cannot hold (a NUL, invalid UTF-8): rather than
// a database error, the caller's mistake.
func comparableText(upstreamID, orderRef string) error {
	for field, v := range map[string]string{"upstream_id": upstreamID, "order_ref": orderRef} {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return payment.FieldErrorf(payment.CodeInvalidInput, field, "is not valid UTF-8 text without NUL")
		}
	}
	return nil
}

// collectPayments scans every row into a payment and closes rows.
func collectPayments(rows pgx.Rows) ([]*payment.Payment, error) {
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*payment.Payment, error) {
		return scanPayment(row)
	})
	if out == nil && err == nil {
		out = []*payment.Payment{}
	}
	return out, err
}
