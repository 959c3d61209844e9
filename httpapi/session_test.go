package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoginLogout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.submit(t, b.mine)
	const password = "correct horse battery staple"
	b.auth.addUser("bob", fakeUser{password: password, customerID: b.mine.customer.ID})

	a := b.do(t, http.MethodPost, "/v1/sessions", "", `{"user":"bob","password":"`+password+`"}`)
	require.Equal(t, http.StatusCreated, a.status, "body: %s", a.body)
	var session struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
	}
	a.decode(t, &session)
	require.NotEmpty(t, session.Token)
	require.Equal(t, "2026-03-10T18:00:00+08:00", session.ExpiresAt, "in the customer's zone")

	// The token opens our payments, and only while the session lasts.
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/payments/"+p.ID, session.Token, "").status)
	a = b.do(t, http.MethodDelete, "/v1/sessions/current", session.Token, "")
	require.Equal(t, http.StatusNoContent, a.status, "body: %s", a.body)
	require.Empty(t, a.body)
	b.do(t, http.MethodGet, "/v1/payments/"+p.ID, session.Token, "").requireError(t, http.StatusUnauthorized, "token_invalid")
	b.do(t, http.MethodDelete, "/v1/sessions/current", session.Token, "").requireError(t, http.StatusUnauthorized, "token_invalid")

	// Neither the password nor the token is ever logged; the requests are,
	// with their ids and who made them.
	logs := b.logs.String()
	require.NotContains(t, logs, password)
	require.NotContains(t, logs, session.Token)
	require.NotContains(t, logs, b.mine.token)
	require.Contains(t, logs, `"request_id":`)
	require.Contains(t, logs, `"user_id":"bob"`)
	require.Contains(t, logs, `"path":"/v1/sessions/current"`)
}

func TestLoginRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.auth.addUser("carol", fakeUser{password: "pw-carol", customerID: b.mine.customer.ID})
	b.auth.addUser("dave", fakeUser{password: "pw-dave", customerID: b.mine.customer.ID, inactive: true})
	b.auth.addUser("erin", fakeUser{password: "pw-erin", customerID: b.mine.customer.ID, throttled: true})

	for _, tc := range []struct {
		name        string
		contentType string
		body        string
		status      int
		code        string
	}{
		{"wrong password", "application/json", `{"user":"carol","password":"nope"}`, http.StatusUnauthorized, "login_failed"},
		{"unknown user", "application/json", `{"user":"mallory","password":"pw"}`, http.StatusUnauthorized, "login_failed"},
		{"throttled", "application/json", `{"user":"erin","password":"pw-erin"}`, http.StatusTooManyRequests, "login_throttled"},
		{"inactive", "application/json", `{"user":"dave","password":"pw-dave"}`, http.StatusForbidden, "user_inactive"},
		{"unknown field", "application/json", `{"user":"carol","password":"pw-carol","otp":"123456"}`, http.StatusBadRequest, "invalid_input"},
		{"missing password", "application/json", `{"user":"carol"}`, http.StatusBadRequest, "invalid_input"},
		{"empty user", "application/json", `{"user":"","password":"pw-carol"}`, http.StatusBadRequest, "invalid_input"},
		{"password a number", "application/json", `{"user":"carol","password":123}`, http.StatusBadRequest, "invalid_input"},
		{"not JSON", "application/json", `user=carol&password=pw-carol`, http.StatusBadRequest, "invalid_input"},
		{"two objects", "application/json", `{"user":"carol","password":"pw-carol"}{}`, http.StatusBadRequest, "invalid_input"},
		{"empty body", "application/json", ``, http.StatusBadRequest, "invalid_input"},
		{"form content type", "application/x-www-form-urlencoded", `{"user":"carol","password":"pw-carol"}`, http.StatusBadRequest, "invalid_input"},
		{"over 64 KiB", "application/json", `{"user":"carol","password":"` + strings.Repeat("x", 64<<10) + `"}`, http.StatusRequestEntityTooLarge, "message_too_large"},
		{"auth store down", "application/json", `{"user":"` + brokenUser + `","password":"pw"}`, http.StatusInternalServerError, "internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL+"/v1/sessions", strings.NewReader(tc.body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", tc.contentType)
			a := send(t, req)
			msg := a.requireError(t, tc.status, tc.code)
			require.NotContains(t, msg, "pw-", "a message never echoes a password")
			require.NotContains(t, msg, infraDetail, "infrastructure errors never reach clients")
			require.Empty(t, a.header.Get("WWW-Authenticate"))
		})
	}
	require.Contains(t, b.logs.String(), infraDetail, "the real error is logged")

	// A good sign-in still works after all that.
	a := b.do(t, http.MethodPost, "/v1/sessions", "", `{"user":"carol","password":"pw-carol"}`)
	require.Equal(t, http.StatusCreated, a.status, "body: %s", a.body)
	require.NotContains(t, b.logs.String(), "pw-carol")
}

func TestLogoutEndsOnlyThatSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.submit(t, b.mine)
	b.auth.addUser("frank", fakeUser{password: "pw-frank", customerID: b.mine.customer.ID})

	// Two sign-ins of one user (two browsers); no Content-Type is fine too.
	var tokens []string
	for range 2 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL+"/v1/sessions",
			strings.NewReader(`{"user":"frank","password":"pw-frank"}`))
		require.NoError(t, err)
		a := send(t, req)
		require.Equal(t, http.StatusCreated, a.status, "body: %s", a.body)
		var s struct{ Token string }
		a.decode(t, &s)
		tokens = append(tokens, s.Token)
	}
	require.NotEqual(t, tokens[0], tokens[1])

	require.Equal(t, http.StatusNoContent, b.do(t, http.MethodDelete, "/v1/sessions/current", tokens[0], "").status)
	b.do(t, http.MethodGet, "/v1/payments/"+p.ID, tokens[0], "").requireError(t, http.StatusUnauthorized, "token_invalid")
	require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/v1/payments/"+p.ID, tokens[1], "").status)
}
