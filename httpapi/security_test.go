package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/httpapi"
	"github.com/b2bpay/b2bpay/payment"
)

// TestSecurityClientErrorsAre400 sends what the security probe of issue 11
// sent: UUIDs in a form PostgreSQL does not read (urn:uuid:, braces), NUL
// bytes and invalid UTF-8 in the list parameters and in the sign-in user.
// Each is the client's mistake: a 400 naming the field (a payment id in
// the path: the 404 of every id that names no payment of the user's
// customer), never a 500, and nothing logged at ERROR.
func TestSecurityClientErrorsAre400(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.submit(t, b.mine)
	esc := url.QueryEscape
	for _, tc := range []struct {
		name, method, path, body, says string
	}{
		{"after urn:uuid", http.MethodGet, "/v1/payments?after=" + esc("urn:uuid:"+p.ID), "", "after:"},
		{"after in braces", http.MethodGet, "/v1/payments?after=" + esc("{"+p.ID+"}"), "", "after:"},
		{"order_ref NUL", http.MethodGet, "/v1/payments?upstream_id=" + p.UpstreamID + "&order_ref=PO%00X", "", "order_ref:"},
		{"order_ref invalid UTF-8", http.MethodGet, "/v1/payments?upstream_id=" + p.UpstreamID + "&order_ref=PO%FFX", "", "order_ref:"},
		{"order_ref NUL in a filter", http.MethodGet, "/v1/payments?order_ref=PO%00X", "", "order_ref:"},
		{"upstream_id NUL", http.MethodGet, "/v1/payments?order_ref=" + p.OrderRef + "&upstream_id=erp%00", "", "upstream_id:"},
		{"upstream_id invalid UTF-8", http.MethodGet, "/v1/payments?upstream_id=%C3%28", "", "upstream_id:"},
		{"sign-in user NUL", http.MethodPost, "/v1/sessions", `{"user":"carol\u0000","password":"a password of some length"}`, "user:"},
		{"sign-in user invalid UTF-8", http.MethodPost, "/v1/sessions", "{\"user\":\"carol\xff\",\"password\":\"a password of some length\"}", "user:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := b.do(t, tc.method, tc.path, b.mine.token, tc.body)
			msg := a.requireError(t, http.StatusBadRequest, "invalid_input")
			require.True(t, strings.HasPrefix(msg, tc.says), "message %q does not start with %q", msg, tc.says)
		})
	}
	// A payment id in another form names no payment: the answer of the
	// API to every id that is not one of the customer's (404, same body).
	missing := b.do(t, http.MethodGet, "/v1/payments/01a21b23-e139-703c-8b96-c80ef836db0a", b.mine.token, "")
	for _, id := range []string{"urn:uuid:" + p.ID, "{" + p.ID + "}", "%00", "%FF"} {
		a := b.do(t, http.MethodGet, "/v1/payments/"+id, b.mine.token, "")
		a.requireError(t, http.StatusNotFound, "not_found")
		require.Equal(t, string(missing.body), string(a.body), "id %s", id)
	}
	require.NotContains(t, b.logs.String(), `"level":"ERROR"`)
}

// TestSecurityFailedSignInLogsNoUserID: a password typed into the user
// field must not land in the log. A refused sign-in logs no user id (nor
// the input); a successful one logs who signed in.
func TestSecurityFailedSignInLogsNoUserID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.auth.addUser("frank", fakeUser{password: "pw-frank-long-enough", customerID: b.mine.customer.ID})
	b.auth.addUser("gina", fakeUser{password: "pw-gina-long-enough", customerID: b.mine.customer.ID, throttled: true})
	typed := "Correct-Horse-Battery-9" // a password typed where the user id goes
	for _, body := range []string{
		`{"user":"` + typed + `","password":"pw-frank-long-enough"}`,
		`{"user":"frank","password":"` + typed + `"}`,
		`{"user":"gina","password":"pw-gina-long-enough"}`,
		`{"user":"` + typed + ` with a space","password":"x"}`,
	} {
		a := b.do(t, http.MethodPost, "/v1/sessions", "", body)
		require.GreaterOrEqual(t, a.status, 400, "body: %s", a.body)
	}
	logs := b.logs.String()
	require.NotContains(t, logs, typed)
	require.NotContains(t, logs, `"user_id":"gina"`)
	require.NotContains(t, logs, `"user_id":"frank"`)

	a := b.do(t, http.MethodPost, "/v1/sessions", "", `{"user":"frank","password":"pw-frank-long-enough"}`)
	require.Equal(t, http.StatusCreated, a.status, "body: %s", a.body)
	require.Contains(t, b.logs.String(), `"user_id":"frank"`)
}

// recordingGate is a SignInGate that refuses user ids starting with
// "blocked" and records what it admitted.
type recordingGate struct {
	mu     sync.Mutex
	admits []string // source + " " + user id
	failed []bool
}

type waitErr struct{ err *payment.Error }

func (e waitErr) Error() string        { return e.err.Error() }
func (waitErr) RetryAfterSeconds() int { return 7 }
func (e waitErr) Unwrap() error        { return e.err }

func (g *recordingGate) Admit(_ context.Context, source, userID string) (func(bool), error) {
	if strings.HasPrefix(userID, "blocked") {
		return nil, waitErr{payment.Errorf(payment.CodeLoginThrottled, "too many failed sign-ins from this address")}
	}
	g.mu.Lock()
	g.admits = append(g.admits, source+" "+userID)
	g.mu.Unlock()
	return func(failed bool) {
		g.mu.Lock()
		g.failed = append(g.failed, failed)
		g.mu.Unlock()
	}, nil
}

// TestSecuritySignInGoesThroughTheGate: every sign-in passes the gate with
// the TCP peer's address (never X-Forwarded-For) before its password is
// checked; the gate learns which failed; a refusal is 429 with the gate's
// Retry-After, and any other 429 says 60 s.
func TestSecuritySignInGoesThroughTheGate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	gate := &recordingGate{}
	srv := httptest.NewServer(httpapi.New(b.store, b.auth, httpapi.Config{Location: shanghai, SignIn: gate,
		Logger: slog.New(slog.NewJSONHandler(b.logs, nil))}))
	t.Cleanup(srv.Close)
	b.srv = srv
	b.auth.addUser("hana", fakeUser{password: "pw-hana-long-enough", customerID: b.mine.customer.ID})
	b.auth.addUser("ivan", fakeUser{password: "pw-ivan-long-enough", customerID: b.mine.customer.ID, throttled: true})

	post := func(body string) answer {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/v1/sessions", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		return send(t, req)
	}
	require.Equal(t, http.StatusUnauthorized, post(`{"user":"hana","password":"wrong-but-long"}`).status)
	require.Equal(t, http.StatusCreated, post(`{"user":"hana","password":"pw-hana-long-enough"}`).status)
	a := post(`{"user":"ivan","password":"pw-ivan-long-enough"}`)
	a.requireError(t, http.StatusTooManyRequests, "login_throttled")
	require.Equal(t, "60", a.header.Get("Retry-After"))
	a = post(`{"user":"blocked-1","password":"whatever-long"}`)
	a.requireError(t, http.StatusTooManyRequests, "login_throttled")
	require.Equal(t, "7", a.header.Get("Retry-After"))

	gate.mu.Lock()
	defer gate.mu.Unlock()
	require.Equal(t, []string{"127.0.0.1 hana", "127.0.0.1 hana", "127.0.0.1 ivan"}, gate.admits)
	require.Equal(t, []bool{true, false, true}, gate.failed)
}
