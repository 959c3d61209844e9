package staff

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

func TestPaymentQueryValues(t *testing.T) {
	require.Empty(t, PaymentQuery{}.Values(), "an empty query sends no parameter")
	q := PaymentQuery{ID: "019cd2a0-5d3e-7c41-9a0b-3f6e2d1c4b5a", OrderRef: "PO 1&2", State: "rejected", Currency: "CNY",
		AmountMin: "1000.00", AmountMax: "2000", Counterparty: "100% Acme_", From: "2026-03-01", To: "2026-03-31",
		After: "019cd2a0-0000-7c41-9a0b-3f6e2d1c4b5a", Limit: 25}
	require.Equal(t, url.Values{
		"id": {q.ID}, "order_ref": {"PO 1&2"}, "state": {"rejected"}, "currency": {"CNY"}, "amount_min": {"1000.00"},
		"amount_max": {"2000"}, "counterparty": {"100% Acme_"}, "created_from": {"2026-03-01"}, "created_to": {"2026-03-31"},
		"after": {q.After}, "limit": {"25"},
	}, q.Values())
	// Encoded, the text survives as typed.
	back, err := url.ParseQuery(q.Values().Encode())
	require.NoError(t, err)
	require.Equal(t, "PO 1&2", back.Get("order_ref"))
	require.Equal(t, "100% Acme_", back.Get("counterparty"))

	require.Equal(t, url.Values{"currency": {"USD"}}, PaymentQuery{Currency: "USD", Limit: 0}.Values(), "limit 0 is the API's default")
	require.Equal(t, url.Values{"counterparty": {"Acme"}}, PaymentQuery{Counterparty: "Acme", Limit: -3}.Values())
}

// fakePayments serves GET /v1/payments and GET /v1/payments/{id} from
// fixed answers, recording each query.
type fakePayments struct {
	list    []PaymentView
	next    string
	detail  PaymentView
	queries []string
}

func (f *fakePayments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer tok" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":"token_invalid","message":"the token is not valid"}}`))
		return
	}
	f.queries = append(f.queries, r.URL.RequestURI())
	switch {
	case r.URL.Path == "/v1/payments" && r.URL.Query().Get("currency") == "cny":
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"code":"invalid_input","message":"currency: \"cny\" is not an active ISO 4217 currency code"}}`))
	case r.URL.Path == "/v1/payments":
		_ = json.NewEncoder(w).Encode(map[string]any{"payments": f.list, "next": f.next})
	case r.URL.Path == "/v1/payments/"+f.detail.ID:
		_ = json.NewEncoder(w).Encode(map[string]any{"payment": f.detail, "timeline": []map[string]any{
			{"seq": 1, "at": "2026-12-06T09:00:00+08:00", "actor": map[string]string{"kind": "upstream", "id": "erp-1"},
				"action": "submit", "from": "", "to": "awaiting_confirmation", "code": "", "note": ""},
			{"seq": 2, "at": "2026-12-06T09:05:00+08:00", "actor": map[string]string{"kind": "user", "id": "alice"},
				"action": "reject", "from": "awaiting_confirmation", "to": "rejected", "code": "AM04", "note": "wrong amount"},
		}})
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no such payment"}}`))
	}
}

func TestSearchPayments(t *testing.T) {
	a, b := taskOf(1).Payment, taskOf(2).Payment
	f := &fakePayments{list: []PaymentView{a, b}, next: b.ID}
	srv := httptest.NewServer(f)
	defer srv.Close()
	s := Session{Token: "tok"}

	items, next, err := SearchPayments(t.Context(), srv.URL, s, PaymentQuery{Counterparty: "深圳", Currency: "CNY", AmountMin: "1000.00", Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []PaymentView{a, b}, items)
	require.Equal(t, b.ID, next)
	require.Equal(t, "/v1/payments?amount_min=1000.00&counterparty=%E6%B7%B1%E5%9C%B3&currency=CNY&limit=2", f.queries[0])

	// The last page: no cursor; an empty page is an empty slice.
	f.list, f.next = nil, ""
	items, next, err = SearchPayments(t.Context(), srv.URL, s, PaymentQuery{})
	require.NoError(t, err)
	require.NotNil(t, items)
	require.Empty(t, items)
	require.Empty(t, next)
	require.Equal(t, "/v1/payments", f.queries[1])

	// A payment whose digest is not its content's is refused, page and all.
	forged := b
	forged.Amount = "1.00"
	f.list = []PaymentView{a, forged}
	_, _, err = SearchPayments(t.Context(), srv.URL, s, PaymentQuery{})
	require.ErrorContains(t, err, "digest listed does not match")

	// The API's refusal comes back as its error.
	_, _, err = SearchPayments(t.Context(), srv.URL, s, PaymentQuery{Currency: "cny"})
	var ae *APIError
	require.True(t, errors.As(err, &ae), "got %v", err)
	require.Equal(t, http.StatusBadRequest, ae.Status)
	require.Equal(t, "invalid_input", ae.Code)
	require.Contains(t, ae.Message, "currency:")

	_, _, err = SearchPayments(t.Context(), srv.URL, Session{Token: "other"}, PaymentQuery{})
	require.True(t, errors.As(err, &ae))
	require.Equal(t, http.StatusUnauthorized, ae.Status)
}

func TestPaymentDetail(t *testing.T) {
	p := taskOf(3).Payment
	f := &fakePayments{detail: p}
	srv := httptest.NewServer(f)
	defer srv.Close()
	s := Session{Token: "tok"}

	got, tl, err := PaymentDetail(t.Context(), srv.URL, s, p.ID)
	require.NoError(t, err)
	require.Equal(t, p, got)
	require.Len(t, tl, 2)
	require.Equal(t, TimelineEntry{Seq: 2, At: tl[1].At, Actor: payment.Actor{Kind: payment.ActorUser, ID: "alice"},
		Action: "reject", From: payment.StateAwaitingConfirmation, To: payment.StateRejected, Code: "AM04", Note: "wrong amount"}, tl[1])
	require.True(t, tl[1].At.Equal(time.Date(2026, 12, 6, 1, 5, 0, 0, time.UTC)))
	require.Empty(t, tl[0].From)

	_, _, err = PaymentDetail(t.Context(), srv.URL, s, "019cd2a0-5d3e-7c41-9a0b-3f6e2d1c4b5a")
	var ae *APIError
	require.True(t, errors.As(err, &ae), "got %v", err)
	require.Equal(t, http.StatusNotFound, ae.Status)

	// An id is one path segment, whatever it holds.
	_, _, err = PaymentDetail(t.Context(), srv.URL, s, "../sessions/current?x=1")
	require.True(t, errors.As(err, &ae))
	require.Equal(t, "/v1/payments/..%2Fsessions%2Fcurrent%3Fx=1", f.queries[len(f.queries)-1])

	f.detail.Creditor.Account = "999"
	_, _, err = PaymentDetail(t.Context(), srv.URL, s, p.ID)
	require.ErrorContains(t, err, "digest listed does not match")
}

func TestWritePaymentsCSV(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	p := taskOf(1).Payment
	p.CreatedAt = time.Date(2026, 12, 6, 1, 0, 0, 0, time.UTC)
	p.UpdatedAt = time.Date(2026, 12, 6, 1, 30, 15, 0, time.UTC)
	p.OrderRef = `SO-1, "urgent"`
	evil := taskOf(2).Payment
	evil.OrderRef = "=HYPERLINK(\"http://x\",\"y\")"
	evil.Creditor.Name = "@SUM(A1)"
	evil.Creditor.BankID = "+86"
	evil.Creditor.Account = "-1"
	evil.ExecutionDate = "\t2026-12-07"
	evil.State = "\rx"
	evil.Currency = "＝1"
	evil.CreatedAt, evil.UpdatedAt = p.CreatedAt, p.CreatedAt

	var buf bytes.Buffer
	require.NoError(t, WritePaymentsCSV(&buf, []PaymentView{p, evil}, shanghai))
	rows, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"id", "order_ref", "state", "amount", "currency", "creditor_name", "creditor_account",
		"creditor_bank", "execution_date", "created_at", "updated_at"}, rows[0])
	require.Equal(t, []string{p.ID, `SO-1, "urgent"`, "awaiting_authorization", "1286400.50", "CNY", "深圳南方电子材料有限公司",
		"755912345610801", "308584000013", "2026-12-07", "2026-12-06T09:00:00+08:00", "2026-12-06T09:30:15+08:00"}, rows[1])
	require.Equal(t, []string{evil.ID, `'=HYPERLINK("http://x","y")`, "'\rx", "1286400.50", "'＝1", "'@SUM(A1)", "'-1", "'+86",
		"'\t2026-12-07", "2026-12-06T09:00:00+08:00", "2026-12-06T09:00:00+08:00"}, rows[2])
	require.Len(t, rows, 3)

	// Times in UTC without a zone; nothing but the header for no payment.
	buf.Reset()
	require.NoError(t, WritePaymentsCSV(&buf, []PaymentView{p}, nil))
	require.Contains(t, buf.String(), "2026-12-06T01:00:00Z,2026-12-06T01:30:15Z")
	buf.Reset()
	require.NoError(t, WritePaymentsCSV(&buf, nil, time.UTC))
	require.Equal(t, "id,order_ref,state,amount,currency,creditor_name,creditor_account,creditor_bank,execution_date,created_at,updated_at\n", buf.String())
}

func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "Acme": "Acme", "=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@x": "'@x", "\tx": "'\tx", "\rx": "'\rx",
		"＝1": "'＝1", "＋1": "'＋1", "－1": "'－1", "＠x": "'＠x", " =1": " =1", "a=1": "a=1", "'=1": "'=1", "1286400.50": "1286400.50",
	} {
		require.Equal(t, want, csvCell(in), "cell %q", in)
	}
}
