package staff

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// viewOf is p as the API shows it.
func viewOf(p *payment.Payment) PaymentView {
	v := PaymentView{ID: p.ID, State: p.State, OrderRef: p.OrderRef, CustomerID: p.CustomerID, ApplicantID: p.ApplicantID,
		Amount: payment.FormatAmount(p.AmountMinor, p.Currency), Currency: p.Currency, Creditor: p.Creditor,
		RemittanceInfo: p.Remittance, ExecutionDate: p.ExecutionDate.Format(payment.DateLayout), RequiredAuthorizers: p.RequiredAuthorizers,
		Digest: p.Digest()}
	v.Debtor.BankID, v.Debtor.Account = p.BankID, p.DebtorAccount
	return v
}

func taskOf(i int) TaskItem {
	p := &payment.Payment{ID: "6f1c2a9e-0000-4000-8000-00000000000" + string(rune('0'+i)), OrderRef: "SO-" + string(rune('0'+i)),
		AmountMinor: 128640050, Currency: "CNY", BankID: "104100000004", DebtorAccount: "6217000010001234567",
		ExecutionDate: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), State: payment.StateAwaitingAuthorization, RequiredAuthorizers: 2,
		Creditor: payment.Creditor{Name: "深圳南方电子材料有限公司", Account: "755912345610801", BankID: "308584000013"}, Remittance: "发票 INV-1"}
	shanghai := time.FixedZone("CST", 8*3600)
	return TaskItem{Payment: viewOf(p), Applied: Act{By: "alice", At: time.Date(2026, 12, 6, 9, 0, 0, 0, shanghai)},
		Confirmed: &Act{By: "alice", At: time.Date(2026, 12, 6, 9, 5, 0, 0, shanghai)}, Reviewed: &Act{By: "bob"},
		Authorized: []Act{{By: "carol"}}, Authorizations: &Authorizations{Done: 1, Required: 2}}
}

// fakeTasks serves GET /v1/tasks from pages of tasks, two at a time,
// recording each query.
type fakeTasks struct {
	mu      sync.Mutex
	tasks   []TaskItem
	queries []string
}

func (f *fakeTasks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, r.URL.RawQuery)
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer tok" || r.URL.Path != "/v1/tasks" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":"token_invalid","message":"the token is not valid"}}`))
		return
	}
	if r.URL.Query().Get("stage") == "review" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"code":"invalid_input","message":"after: is not a cursor of this list"}}`))
		return
	}
	start := 0
	if a := r.URL.Query().Get("after"); a != "" {
		start = int(a[0] - '0')
	}
	end := min(start+2, len(f.tasks))
	page := TaskPage{Stage: payment.StageAuthorization, Tasks: f.tasks[start:end]}
	if end < len(f.tasks) {
		page.Next = string(rune('0' + end))
	}
	_ = json.NewEncoder(w).Encode(page)
}

// TestListTasks: the client follows the pages, stops at its limit, sends
// the token, checks every digest and passes the API's errors on.
func TestListTasks(t *testing.T) {
	t.Parallel()
	f := &fakeTasks{tasks: []TaskItem{taskOf(1), taskOf(2), taskOf(3)}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	s := Session{Token: "tok", UserID: "dave"}

	got, err := ListTasks(t.Context(), srv.URL, s, payment.StageAuthorization, 0)
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.Equal(t, f.tasks[2].Payment.ID, got[2].Payment.ID)
	require.Equal(t, []string{"limit=500&stage=authorization", "after=2&limit=500&stage=authorization"}, f.queries)

	f.queries = nil
	got, err = ListTasks(t.Context(), srv.URL, s, payment.StageAuthorization, 1)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, []string{"limit=1&stage=authorization"}, f.queries)

	_, err = ListTasks(t.Context(), srv.URL, Session{Token: "old"}, payment.StageAuthorization, 0)
	var ae *APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "token_invalid", ae.Code)
	_, err = ListTasks(t.Context(), srv.URL, s, payment.StageReview, 0)
	require.ErrorContains(t, err, "invalid_input: after:")
	_, err = ListTasks(t.Context(), srv.URL, s, "audit", 0)
	require.ErrorContains(t, err, "want confirmation, review or authorization")

	// A payment that moved down the list while the pages were read comes
	// once, where it is now.
	f.queries = nil
	moved := f.tasks[0]
	moved.Authorizations = &Authorizations{Done: 1, Required: 2}
	f.tasks = append(f.tasks, moved)
	got, err = ListTasks(t.Context(), srv.URL, s, payment.StageAuthorization, 0)
	require.NoError(t, err)
	require.Len(t, got, 3)
	require.Equal(t, []string{f.tasks[1].Payment.ID, f.tasks[2].Payment.ID, moved.Payment.ID},
		[]string{got[0].Payment.ID, got[1].Payment.ID, got[2].Payment.ID})
	require.Equal(t, 1, got[2].Authorizations.Done)
	f.tasks = f.tasks[:3]

	// Content that is not what the digest covers is never shown.
	f.tasks[1].Payment.Amount = "1286400.51"
	_, err = ListTasks(t.Context(), srv.URL, s, payment.StageAuthorization, 0)
	require.ErrorContains(t, err, "does not match its content")
}

// TestWriteTaskTable: one line a payment with what the person chooses by.
func TestWriteTaskTable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	task := taskOf(1)
	task.Payment.Creditor.Name = "ACME\x1b[31m Ltd\tShenzhen"
	exp := time.Date(2026, 12, 9, 9, 5, 0, 0, time.FixedZone("CST", 8*3600))
	task.ExpiresAt = &exp
	require.NoError(t, WriteTaskTable(&out, payment.StageAuthorization, []TaskItem{task, taskOf(2)}))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4)
	require.Regexp(t, `^PAYMENT\s+ORDER\s+AMOUNT\s+CREDITOR\s+APPLICANT\s+CONFIRMED\s+REVIEWED\s+AUTHORIZED\s+EXECUTION\s+EXPIRES$`, lines[0])
	require.Regexp(t, `^6f1c2a9e-0000-4000-8000-000000000001\s+SO-1\s+1286400.50 CNY\s+ACME \[31m Ltd Shenzhen\s+alice\s+alice\s+bob\s+1 of 2\s+2026-12-07\s+2026-12-09 09:05$`, lines[1])
	require.NotContains(t, out.String(), "\x1b")
	require.True(t, strings.HasSuffix(lines[2], "  -"), "no expiry known: %q", lines[2])
	require.Equal(t, "2 payments waiting for you at authorization, most urgent first", lines[3])

	out.Reset()
	require.NoError(t, WriteTaskTable(&out, payment.StageReview, nil))
	require.Equal(t, "no payment is waiting for you at review\n", out.String())
}

// TestListCandidates: a batch's candidates come from the person's own list,
// in its order, up to the limit, and within --max-total per currency (a
// payment that would pass the total is left out, a later one that fits is
// taken).
func TestListCandidates(t *testing.T) {
	t.Parallel()
	small := taskOf(3)
	small.Payment = viewOf(&payment.Payment{ID: small.Payment.ID, OrderRef: "SO-3", AmountMinor: 5_000_00, Currency: "CNY",
		BankID: "104100000004", DebtorAccount: "6217000010001234567", ExecutionDate: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC),
		State: payment.StateAwaitingAuthorization, RequiredAuthorizers: 2,
		Creditor: payment.Creditor{Name: "深圳南方电子材料有限公司", Account: "755912345610801", BankID: "308584000013"}})
	f := &fakeTasks{tasks: []TaskItem{taskOf(1), taskOf(2), small}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := &Client{API: srv.URL, Session: Session{Token: "tok", UserID: "dave"}}
	ids := func(cs []Candidate) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Task.PaymentID)
		}
		return out
	}

	got, _, err := ListCandidates(t.Context(), c, payment.StageAuthorization, Selection{All: true})
	require.NoError(t, err)
	require.Equal(t, []string{f.tasks[0].Payment.ID, f.tasks[1].Payment.ID, small.Payment.ID}, ids(got))
	item, err := got[0].Item()
	require.NoError(t, err)
	require.Equal(t, int64(128640050), item.AmountMinor)
	require.Equal(t, f.tasks[0].Payment.Digest, item.Digest)

	got, _, err = ListCandidates(t.Context(), c, payment.StageAuthorization, Selection{All: true, Limit: 2})
	require.NoError(t, err)
	require.Len(t, got, 2)

	got, _, err = ListCandidates(t.Context(), c, payment.StageAuthorization, Selection{MaxTotal: "1300000.00"})
	require.NoError(t, err)
	require.Equal(t, []string{f.tasks[0].Payment.ID, small.Payment.ID}, ids(got), "the second 1,286,400.50 would pass the total; 5,000.00 fits")

	_, _, err = ListCandidates(t.Context(), c, payment.StageAuthorization, Selection{MaxTotal: "12.345"})
	require.ErrorContains(t, err, "--max-total")
}
