package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

func TestConsoleSmoke(t *testing.T) {
	e := newEnv(t)
	e.person(t, "rita", "C1", payment.RoleReviewer)
	ann := e.enroll(t, "ann")
	p := e.submit(t, request("smoke-1"))
	_ = ann
	_ = p
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	base := "http://" + e.consoleAddr
	get := func(path string) (int, string) {
		resp, err := c.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := get("/login")
	require.Equal(t, 200, st, body)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)[1]
	resp, err := c.PostForm(base+"/login", url.Values{"csrf": {csrf}, "user": {"ann"}, "password": {testPassword}})
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("login: %d %s", resp.StatusCode, b[:min(len(b), 3000)])
	st, body = get("/")
	t.Logf("inbox: %d %s", st, body)
	st, body = get("/payments/" + p.ID)
	t.Logf("payment: %d %s", st, body)
}
