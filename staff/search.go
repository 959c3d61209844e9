package staff

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/b2bpay/b2bpay/payment"
)

// Searching payments through GET /v1/payments (the console's query page),
// reading one with its timeline, and writing a list as CSV.

// PaymentQuery is a search of GET /v1/payments. Every field set narrows
// the search; the API scopes it to the signed-in user's customer.
type PaymentQuery struct {
	// ID is an exact payment id; OrderRef an exact order reference; State
	// one payment state.
	ID, OrderRef, State string
	// Currency is an ISO 4217 code. AmountMin and AmountMax (decimal
	// strings such as "1000.00", inclusive) need it.
	Currency, AmountMin, AmountMax string
	// Counterparty is part of the creditor's name (any case) or its whole
	// account.
	Counterparty string
	// From and To are creation dates, YYYY-MM-DD in the customer's zone
	// (To's whole day included), or RFC 3339 times (To exclusive).
	From, To string
	// After is the cursor: the next of the previous page.
	After string
	// Limit is the page size, 0 for the API's default.
	Limit int
}

// Values is the query as GET /v1/payments reads it, without the fields
// left empty (the API refuses an empty parameter).
func (q PaymentQuery) Values() url.Values {
	v := url.Values{}
	for _, p := range []struct{ name, value string }{
		{"id", q.ID}, {"order_ref", q.OrderRef}, {"state", q.State}, {"currency", q.Currency},
		{"amount_min", q.AmountMin}, {"amount_max", q.AmountMax}, {"counterparty", q.Counterparty},
		{"created_from", q.From}, {"created_to", q.To}, {"after", q.After},
	} {
		if p.value != "" {
			v.Set(p.name, p.value)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// TimelineEntry is one line of a payment's timeline as the API shows it.
// From is "" for the entry that created the payment; Code is "" unless
// the move has one (a rejection's, a return's).
type TimelineEntry struct {
	Seq    int            `json:"seq"`
	At     time.Time      `json:"at"`
	Actor  payment.Actor  `json:"actor"`
	Action payment.Action `json:"action"`
	From   payment.State  `json:"from"`
	To     payment.State  `json:"to"`
	Code   payment.Code   `json:"code"`
	Note   string         `json:"note"`
}

// SearchPayments reads one page of the payments q selects through the API
// at api, in creation order, and checks each one's digest against its
// content. next is the cursor of the following page (PaymentQuery.After),
// "" after the last one.
func SearchPayments(ctx context.Context, api string, s Session, q PaymentQuery) (items []PaymentView, next string, err error) {
	var page struct {
		Payments []PaymentView `json:"payments"`
		Next     string        `json:"next"`
	}
	path := "/v1/payments"
	if v := q.Values(); len(v) > 0 {
		path += "?" + v.Encode()
	}
	if err := Call(ctx, api, http.MethodGet, path, s.Token, nil, &page); err != nil {
		return nil, "", err
	}
	for _, p := range page.Payments {
		if err := p.CheckDigest(); err != nil {
			return nil, "", err
		}
	}
	if page.Payments == nil {
		page.Payments = []PaymentView{}
	}
	return page.Payments, page.Next, nil
}

// PaymentDetail reads a payment and its whole timeline through the API
// at api, and checks the payment's digest against its content. Another
// customer's payment is not found, as one that does not exist.
func PaymentDetail(ctx context.Context, api string, s Session, id string) (PaymentView, []TimelineEntry, error) {
	var got struct {
		Payment  PaymentView     `json:"payment"`
		Timeline []TimelineEntry `json:"timeline"`
	}
	if err := Call(ctx, api, http.MethodGet, "/v1/payments/"+url.PathEscape(id), s.Token, nil, &got); err != nil {
		return PaymentView{}, nil, fmt.Errorf("payment %s: %w", payment.Clip(id, 64), err)
	}
	if got.Payment.ID != id {
		return PaymentView{}, nil, fmt.Errorf("payment %s: the API answered with payment %s", payment.Clip(id, 64), payment.Clip(got.Payment.ID, 64))
	}
	if err := got.Payment.CheckDigest(); err != nil {
		return PaymentView{}, nil, err
	}
	return got.Payment, got.Timeline, nil
}

// csvHeader is the header row of WritePaymentsCSV.
var csvHeader = []string{"id", "order_ref", "state", "amount", "currency", "creditor_name", "creditor_account",
	"creditor_bank", "execution_date", "created_at", "updated_at"}

// WritePaymentsCSV writes payments as CSV (RFC 4180): a header row, then
// one row a payment. Amounts are the API's decimal strings; times are RFC
// 3339 in loc (UTC when nil). A cell a spreadsheet would read as a formula
// (starting with = + - @, a tab or a carriage return) gets a leading
// single quote, so it stays text.
func WritePaymentsCSV(w io.Writer, items []PaymentView, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, p := range items {
		row := []string{p.ID, p.OrderRef, string(p.State), p.Amount, p.Currency, p.Creditor.Name, p.Creditor.Account,
			p.Creditor.BankID, p.ExecutionDate, p.CreatedAt.In(loc).Format(time.RFC3339), p.UpdatedAt.In(loc).Format(time.RFC3339)}
		for i, c := range row {
			row[i] = csvCell(c)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// formulaStarts are the first characters that make a spreadsheet read a
// cell as a formula: = + - @, tab and carriage return, and the full-width
// forms of the first four, which some spreadsheets in Chinese locales
// read as their ASCII forms.
const formulaStarts = "=+-@\t\r＝＋－＠"

// csvCell is s, quoted with a leading ' when a spreadsheet would take it
// for a formula (CSV injection).
func csvCell(s string) string {
	if c, _ := utf8.DecodeRuneInString(s); s != "" && strings.ContainsRune(formulaStarts, c) {
		return "'" + s
	}
	return s
}
