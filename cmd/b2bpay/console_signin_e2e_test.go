package main

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// TestConsoleSignInRefusals: through the console against the real API, a
// wrong password, an unknown user, a flood of wrong passwords (throttled)
// and a disabled user each get their own words, and none says which part
// was wrong; a refused sign-in opens no session.
func TestConsoleSignInRefusals(t *testing.T) {
	e := newEnv(t)
	e.person(t, "vic", "C1", payment.RoleReviewer)
	e.person(t, "olga", "C1", payment.RoleOperator)
	e.person(t, "dora", "C1", payment.RoleReviewer)
	require.NoError(t, e.app.Store.UserSetActive(context.Background(), "dora", false, "test", "left the company"))

	try := func(user, password string) (int, string) {
		jar, _ := cookiejar.New(nil)
		cc := &consoleClient{t: t, base: "http://" + e.consoleAddr, c: &http.Client{Jar: jar,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
		_, page := cc.get("/login")
		resp, body := cc.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "user": {user}, "password": {password}})
		for _, ck := range resp.Cookies() {
			require.NotContains(t, ck.Name, "session", "no session on a refusal")
		}
		return resp.StatusCode, body
	}
	status, body := try("vic", "wrong password")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body, "用户名或密码不正确")
	status, body2 := try("nobody-here", "wrong password")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body2, "用户名或密码不正确", "an unknown user reads the same")

	// A disabled user learns it only with the right password.
	_, body = try("dora", "wrong password")
	require.Contains(t, body, "用户名或密码不正确")
	status, body = try("dora", testPassword)
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "该用户已停用")

	// A flood of wrong passwords for one user id: throttled, in words.
	throttled := false
	for range 12 {
		status, body = try("vic", "wrong password")
		if status == http.StatusTooManyRequests {
			require.Contains(t, body, "尝试次数过多")
			throttled = true
			break
		}
	}
	require.True(t, throttled, "the API's gate throttles sign-ins made through the console")
	status, _ = try("vic", testPassword)
	require.Equal(t, http.StatusTooManyRequests, status, "even the right password waits while throttled")

	// A session outlives nothing: disabling its user ends it on the next
	// page, the operations area included (it reads no API).
	oc := e.consoleClient(t, "olga")
	resp, _ := oc.get("/ops")
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "this env serves no operations area: the role check answers")
	require.NoError(t, e.app.Store.UserSetActive(context.Background(), "olga", false, "test", "left"))
	resp, _ = oc.get("/ops")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/login?why=revoked", resp.Header.Get("Location"))
}
