package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
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
