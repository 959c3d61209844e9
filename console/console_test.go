package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// fakeAPI answers the few API calls the handlers make without services:
// sign-in by password ("good" signs in; "throttled", "disabled" get those
// answers; anything else is a wrong password), sign-out, an empty task
// list.
type fakeAPI struct {
	signIns   []string // client addresses the sign-ins came from
	loggedOut int
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/sessions":
		f.signIns = append(f.signIns, r.RemoteAddr)
		var in struct{ User, Password string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		switch in.Password {
		case "good":
			tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": in.User, "cid": "C1"}).SignedString([]byte("k"))
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_at": time.Now().Add(time.Hour), "decision_key": strings.Repeat("ab", 32)})
		case "throttled":
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"error":{"code":"login_throttled","message":"later"}}`)
		case "disabled":
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"error":{"code":"user_inactive","message":"disabled"}}`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"code":"login_failed","message":"wrong user id or password"}}`)
		}
	case r.Method == http.MethodDelete && r.URL.Path == "/v1/sessions/current":
		f.loggedOut++
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/tasks":
		_, _ = io.WriteString(w, `{"stage":"`+r.URL.Query().Get("stage")+`","tasks":[],"next":""}`)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/payments/"):
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"no such payment"}}`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

type rig struct {
	t   *testing.T
	api *fakeAPI
	c   *Console
	now time.Time
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, api: &fakeAPI{}, now: time.Now()}
	c, err := New(Config{API: r.api, CookieKey: make([]byte, 32), Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return r.now }})
	require.NoError(t, err)
	r.c = c
	return r
}

// do serves one request with the cookies given and returns the answer.
func (r *rig) do(method, path string, form url.Values, cookies []*http.Cookie, hdr ...string) *http.Response {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, "http://console.test"+path, body)
	req.RemoteAddr = "198.51.100.7:4242"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	r.c.ServeHTTP(w, req)
	return w.Result()
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func text(t *testing.T, resp *http.Response) string {
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// signIn signs in with password and returns the answer and the cookies.
func (r *rig) signIn(user, password string) (*http.Response, []*http.Cookie) {
	page := r.do(http.MethodGet, "/login", nil, nil)
	m := csrfField.FindStringSubmatch(text(r.t, page))
	require.NotNil(r.t, m)
	resp := r.do(http.MethodPost, "/login", url.Values{"csrf": {m[1]}, "user": {user}, "password": {password}}, page.Cookies())
	return resp, resp.Cookies()
}

func TestSecurityHeadersOnEveryPage(t *testing.T) {
	r := newRig(t)
	for _, path := range []string{"/login", "/", "/static/console.css", "/no-such-page"} {
		resp := r.do(http.MethodGet, path, nil, nil)
		csp := resp.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "script-src 'self'", path)
		require.Contains(t, csp, "frame-ancestors 'none'", path)
		require.NotContains(t, csp, "unsafe-inline", path)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"), path)
	}
	// No inline script or style in any template: the CSP would block it.
	entries, err := assets.ReadDir("templates")
	require.NoError(t, err)
	for _, e := range entries {
		b, err := assets.ReadFile("templates/" + e.Name())
		require.NoError(t, err)
		require.NotRegexp(t, `<script>|<script [^>]*>[^<]|style="|onclick=|onchange=|onload=|javascript:`, string(b), e.Name())
	}
}

func TestSignInSetsASealedStrictCookie(t *testing.T) {
	r := newRig(t)
	resp, cookies := r.signIn("zhang.wei", "good")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/", resp.Header.Get("Location"))
	var sess *http.Cookie
	for _, ck := range cookies {
		if ck.Name == "__Host-b2bpay_session" {
			sess = ck
		}
	}
	require.NotNil(t, sess, "the session cookie")
	require.True(t, sess.HttpOnly)
	require.True(t, sess.Secure)
	require.Equal(t, http.SameSiteStrictMode, sess.SameSite)
	require.Equal(t, "/", sess.Path)
	require.NotContains(t, sess.Value, "zhang.wei", "the cookie is sealed, not readable")
	require.Equal(t, []string{"198.51.100.7:0"}, r.api.signIns, "the API sees the browser's address")

	inbox := r.do(http.MethodGet, "/", nil, []*http.Cookie{sess})
	require.Equal(t, http.StatusOK, inbox.StatusCode)
	require.Contains(t, text(t, inbox), "zhang.wei")

	// A cookie changed by one byte is no session.
	forged := *sess
	forged.Value = sess.Value[:len(sess.Value)-2] + "AA"
	resp = r.do(http.MethodGet, "/", nil, []*http.Cookie{&forged})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/login", resp.Header.Get("Location"))

	// An expired session says so.
	r.now = r.now.Add(2 * time.Hour)
	resp = r.do(http.MethodGet, "/", nil, []*http.Cookie{sess})
	require.Equal(t, "/login?why=expired", resp.Header.Get("Location"))
	page := r.do(http.MethodGet, "/login?why=expired", nil, nil)
	require.Contains(t, text(t, page), "会话已过期")
}

func TestSignInRefusalsSayWhyWithoutSayingWhichPart(t *testing.T) {
	r := newRig(t)
	for _, c := range []struct {
		user, password string
		status         int
		says           string
	}{
		{"zhang.wei", "wrong", http.StatusUnauthorized, "用户名或密码不正确"},
		{"nobody", "wrong", http.StatusUnauthorized, "用户名或密码不正确"},
		{"zhang.wei", "throttled", http.StatusTooManyRequests, "尝试次数过多"},
		{"zhang.wei", "disabled", http.StatusForbidden, "该用户已停用"},
		{"", "x", http.StatusBadRequest, "请填写用户名和密码"},
	} {
		resp, cookies := r.signIn(c.user, c.password)
		require.Equal(t, c.status, resp.StatusCode, c)
		body := text(t, resp)
		require.Contains(t, body, c.says, c)
		require.NotContains(t, body, c.password+"<", c)
		for _, ck := range cookies {
			require.NotEqual(t, "__Host-b2bpay_session", ck.Name, "no session on a refusal")
		}
	}
}

func TestFormsWithoutTheirCSRFTokenAreRefused(t *testing.T) {
	r := newRig(t)
	// Sign-in without the token of its form.
	resp := r.do(http.MethodPost, "/login", url.Values{"user": {"zhang.wei"}, "password": {"good"}}, nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, r.api.signIns, "the password never reached the API")

	_, cookies := r.signIn("zhang.wei", "good")
	form := url.Values{"stage": {"review"}, "verdict": {"approve"}, "id": {"p1"}}
	resp = r.do(http.MethodPost, "/batch/preview", form, cookies)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	form.Set("csrf", "not-the-token")
	resp = r.do(http.MethodPost, "/batch/decide", form, cookies)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp = r.do(http.MethodPost, "/logout", url.Values{}, cookies)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Zero(t, r.api.loggedOut)

	// The right token from another site is refused too.
	inbox := text(t, r.do(http.MethodGet, "/", nil, cookies))
	token := csrfField.FindStringSubmatch(inbox)[1]
	resp = r.do(http.MethodPost, "/logout", url.Values{"csrf": {token}}, cookies, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	// And accepted from the page itself.
	resp = r.do(http.MethodPost, "/logout", url.Values{"csrf": {token}}, cookies, "Origin", "http://console.test", "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, 1, r.api.loggedOut)
}

func TestAnotherCustomersPaymentIsNotFound(t *testing.T) {
	r := newRig(t)
	_, cookies := r.signIn("zhang.wei", "good")
	resp := r.do(http.MethodGet, "/payments/someone-elses", nil, cookies)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, text(t, resp), "未找到该支付")
}

func TestLanguageSwitchStaysOnThisSite(t *testing.T) {
	r := newRig(t)
	for back, want := range map[string]string{"/query?state=settled": "/query?state=settled", "//evil.example/": "/",
		"https://evil.example/": "/", "/\\evil.example": "/"} {
		resp := r.do(http.MethodGet, "/lang/en?back="+url.QueryEscape(back), nil, nil)
		require.Equal(t, want, resp.Header.Get("Location"), back)
	}
	resp := r.do(http.MethodGet, "/lang/en?back=/login", nil, nil)
	page := r.do(http.MethodGet, "/login", nil, resp.Cookies())
	require.Contains(t, text(t, page), "User id")
}

func TestAmountsAreGrouped(t *testing.T) {
	for in, want := range map[string]string{"0.01": "0.01", "999.00": "999.00", "1000.00": "1,000.00",
		"1286400.50": "1,286,400.50", "-1234567": "-1,234,567", "100": "100"} {
		require.Equal(t, want, groupAmount(in), in)
	}
}

func TestEveryMessageHasBothLanguages(t *testing.T) {
	for k, m := range messages {
		require.NotEmpty(t, m[0], k)
		require.NotEmpty(t, m[1], k)
	}
	require.Equal(t, "Wrong one-time password.", langEN.Code("otp_invalid"))
	require.Contains(t, langZH.Code("something_new"), "something_new")
}

func TestARevokedSessionEndsOnTheNextPage(t *testing.T) {
	r := newRig(t)
	revoked := map[string]bool{}
	r.c.cfg.CheckToken = func(_ context.Context, token string) error {
		if revoked[token] {
			return errors.New("token_invalid: revoked")
		}
		return nil
	}
	_, cookies := r.signIn("zhang.wei", "good")
	require.Equal(t, http.StatusOK, r.do(http.MethodGet, "/", nil, cookies).StatusCode)
	var s session
	for _, ck := range cookies {
		if ck.Name == "__Host-b2bpay_session" {
			require.NoError(t, r.c.open(ck.Value, sessionAD, &s))
		}
	}
	revoked[s.Token] = true
	resp := r.do(http.MethodGet, "/", nil, cookies)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/login?why=revoked", resp.Header.Get("Location"))
}
