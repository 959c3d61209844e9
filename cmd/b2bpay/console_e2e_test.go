package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/testkit/browser"
)

// The staff console end to end in Debian's chromium, headless: the seed's
// flow with three people (applicant, reviewer, authorizer) signing in,
// working from their inboxes, approving many payments with one code
// (made by oathtool or an authenticator stand-in), the payment page, the
// query and its CSV, and the refusals: a wrong and a replayed code,
// another customer's payment, a form without its CSRF token, a reviewer
// posting an authorization. What each page shows is asserted, and what
// the database holds. B2BPAY_SCREENSHOTS=docs/console keeps the
// screenshots (make screenshots).

// consoleClient is a browser stand-in for the refusals a page never
// offers: a cookie jar and forms posted by hand.
type consoleClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (e *env) consoleClient(t *testing.T, user string) *consoleClient {
	jar, _ := cookiejar.New(nil)
	cc := &consoleClient{t: t, base: "http://" + e.consoleAddr, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	_, page := cc.get("/login")
	resp, _ := cc.post("/login", url.Values{"csrf": {csrfOf(t, page)}, "user": {user}, "password": {testPassword}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "sign-in of %s", user)
	return cc
}

func (cc *consoleClient) get(path string) (*http.Response, string) {
	resp, err := cc.c.Get(cc.base + path)
	require.NoError(cc.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (cc *consoleClient) post(path string, form url.Values) (*http.Response, string) {
	resp, err := cc.c.PostForm(cc.base+path, form)
	require.NoError(cc.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	m := csrfRE.FindStringSubmatch(page)
	require.NotNil(t, m, "a CSRF field on the page")
	return m[1]
}

// signInAs signs in through the console's form.
func signInAs(t *testing.T, b *browser.Browser, base, user string) {
	b.Go(base + "/login")
	b.Fill("#user", user)
	b.Fill("#password", testPassword)
	b.Submit("#login-form")
	require.Equal(t, user, b.Text("#whoami"), "signed in as %s", user)
}

func signOut(b *browser.Browser) {
	b.Submit("form[action='/logout']")
	b.WaitVisible("#login-form")
}

// tabTo presses Tab until the element want ("tag#id") has the focus.
func tabTo(t *testing.T, b *browser.Browser, want string) {
	for range 80 {
		if b.Focused() == want {
			return
		}
		b.Press("Tab")
	}
	t.Fatalf("Tab never reached %s (focus on %s)", want, b.Focused())
}

func wrongCode(code string) string {
	n, _ := strconv.Atoi(code)
	return fmt.Sprintf("%06d", (n+500001)%1000000)
}

func TestConsoleSeedFlowInChromium(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	alex := e.person(t, "alex", "C1", payment.RoleAuthorizer)
	alan := e.person(t, "alan", "C1", payment.RoleAuthorizer)
	e.person(t, "eve", "C2", payment.RoleReviewer)
	// Above 5,000,000.00 CNY two authorizers must sign: "1 of 2".
	require.NoError(t, e.app.Store.ApprovalTierSet(ctx, "C1", "CNY", 500000000, 2))
	var ids []string
	for i, amount := range []string{"1286400.50", "98000.00", "5300000.00", "12.34"} {
		r := request(fmt.Sprintf("console-%d", i))
		r.Amount = amount
		if i == 3 {
			r.Creditor.Name = "广州恒通物流有限公司"
		}
		ids = append(ids, e.submit(t, r).ID)
	}
	state := func(id string) payment.State { return e.payment(t, id).State }
	base := "http://" + e.consoleAddr
	b := browser.New(t)

	// The applicant: sign in, the inbox, all four selected, confirmed with
	// one code from oathtool.
	b.Go(base + "/")
	require.Contains(t, b.URL(), "/login", "no session: the sign-in page")
	b.Shot("01-sign-in")
	b.Fill("#user", "ann")
	b.Fill("#password", "not the password")
	b.Submit("#login-form")
	require.Contains(t, b.Text("#error"), "用户名或密码不正确")
	signInAs(t, b, base, "ann")
	require.Equal(t, "4", b.Text("#count-confirmation"))
	b.Shot("02-inbox-applicant")
	// The counts update live: a fifth payment arrives while the page is
	// open, and its count moves without a reload (the page polls).
	fifth := request("console-4")
	fifth.Creditor.Name = "杭州西湖文具有限公司"
	extra := e.submit(t, fifth).ID
	require.Eventually(t, func() bool { return b.Text("#count-confirmation") == "5" }, 25*time.Second, 500*time.Millisecond,
		"the inbox's count follows without a reload")
	// A tablet's width: the page fits, nothing to scroll sideways.
	b.Viewport(768, 1024)
	b.Go(base + "/")
	require.LessOrEqual(t, b.Int("document.documentElement.scrollWidth"), 768, "the inbox fits a tablet's width")
	b.Shot("02b-inbox-tablet")
	b.Viewport(1280, 800)
	b.Go(base + "/")
	b.Click("#select-all")
	b.Click("#pick-" + extra) // not this one
	b.Submit("#batch-approve")
	require.Equal(t, "4", b.Text("#batch-count"))
	require.Contains(t, b.Text("dl.summary"), "6,684,412.84 CNY", "the total, grouped")
	digest := b.Text("#batch-digest")
	require.Len(t, digest, 64)
	b.Shot("03-batch-confirm-otp")
	b.Fill("#otp", ann.oathtool(t))
	b.Submit("#sign-form")
	require.Contains(t, b.Text("#batch-summary"), "4 笔生效")
	b.Shot("04-batch-result")
	for _, id := range ids {
		require.Equal(t, payment.StateAwaitingReview, state(id))
	}
	require.Equal(t, payment.StateAwaitingConfirmation, state(extra), "the payment left out of the batch")
	signOut(b)

	// The reviewer: the payment page, a wrong code, the right one, then the
	// same code again on another payment (a replay).
	signInAs(t, b, base, "rita")
	require.Equal(t, "4", b.Text("#count-review"))
	b.Go(base + "/payments/" + ids[0])
	require.Equal(t, "SO-console-0", strings.TrimSpace(b.Text("h1"))[len("支付详情 "):])
	require.Equal(t, "1,286,400.50 CNY", b.Text("#payment-amount"))
	require.Equal(t, e.payment(t, ids[0]).Digest(), b.Text("#payment-digest"))
	require.Contains(t, b.Text("#payment-steps"), "ann", "who confirmed")
	require.Contains(t, b.Text("#chain"), "校验通过")
	// The cutoff it will make: see TestConsoleOperationsInChromium (this env runs no export).
	b.Shot("05-payment-review")
	code := rita.code(t)
	b.Fill("#otp", wrongCode(code))
	b.Submit("#approve")
	require.Contains(t, b.Text("#error"), "动态口令不正确")
	require.Equal(t, payment.StateAwaitingReview, state(ids[0]))
	b.Shot("06-wrong-otp")
	b.Fill("#otp", code)
	b.Submit("#approve")
	require.Contains(t, b.Text("#note"), "已生效")
	require.Equal(t, payment.StateAwaitingAuthorization, state(ids[0]))
	b.Go(base + "/payments/" + ids[1])
	b.Fill("#otp", code)
	b.Submit("#approve")
	require.Contains(t, b.Text("#error"), "已使用过")
	require.Equal(t, payment.StateAwaitingReview, state(ids[1]))
	b.Shot("07-replayed-otp")

	// Keyboard only: reject the small one with a reason.
	b.Go(base + "/payments/" + ids[3])
	tabTo(t, b, "input#otp")
	b.Press(strings.Split(rita.code(t), "")...)
	tabTo(t, b, "input#reason")
	b.Press(strings.Split("dup", "")...)
	tabTo(t, b, "button#reject")
	b.Press("Enter")
	require.Contains(t, b.Text("#note"), "已拒绝")
	require.Equal(t, payment.StateRejected, state(ids[3]))

	// The other two in one batch.
	b.Go(base + "/?stage=review")
	require.Equal(t, "2", b.Text("#count-review"))
	b.Click("#select-all")
	b.Submit("#batch-approve")
	b.Fill("#otp", rita.code(t))
	b.Submit("#sign-form")
	require.Contains(t, b.Text("#batch-summary"), "2 笔生效")

	// A reviewer posting an authorization (a form the page never shows
	// her): the decision worker refuses it, in plain words.
	rc := e.consoleClient(t, "rita")
	_, page := rc.get("/payments/" + ids[0])
	resp, body := rc.post("/payments/"+ids[0]+"/decide", url.Values{"csrf": {csrfOf(t, page)}, "stage": {"authorization"},
		"verdict": {"approve"}, "digest": {e.payment(t, ids[0]).Digest()}, "otp": {rita.code(t)}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, body, "您没有该环节所需的角色")
	require.Equal(t, payment.StateAwaitingAuthorization, state(ids[0]))
	// A forged form without the CSRF token changes nothing.
	resp, _ = rc.post("/batch/decide", url.Values{"stage": {"review"}, "verdict": {"reject"}, "id": {ids[0]}, "reason": {"x"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Equal(t, payment.StateAwaitingAuthorization, state(ids[0]))
	signOut(b)

	// Another customer's reviewer: the payment does not exist for them.
	ec := e.consoleClient(t, "eve")
	resp, body = ec.get("/payments/" + ids[0])
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.NotContains(t, body, "SO-console-0")

	// The authorizer, in English: three payments authorized with one code;
	// the largest needs a second authorizer ("1 of 2").
	b.Go(base + "/lang/en?back=/login")
	signInAs(t, b, base, "alex")
	require.Equal(t, "3", b.Text("#count-authorization"))
	require.Contains(t, b.Text("#tasks"), "0 of 2 authorizations")
	b.Shot("08-inbox-authorizer-en")
	b.Click("#select-all")
	b.Submit("#batch-approve")
	b.Fill("#otp", alex.oathtool(t))
	b.Submit("#sign-form")
	require.Contains(t, b.Text("#batch-summary"), "3 applied")
	b.Shot("09-batch-result-en")
	require.Equal(t, payment.StateAuthorized, state(ids[0]))
	require.Equal(t, payment.StateAuthorized, state(ids[1]))
	require.Equal(t, payment.StateAwaitingAuthorization, state(ids[2]))
	b.Go(base + "/payments/" + ids[2])
	require.Contains(t, b.Text("#payment-auths"), "1 of 2 authorizations")
	require.False(t, b.Exists("#decide-form"), "no second authorization by the same person")
	b.Shot("10-payment-one-of-two-en")
	signOut(b)
	signInAs(t, b, base, "alan")
	b.Go(base + "/payments/" + ids[2])
	b.Fill("#otp", alan.oathtool(t))
	b.Submit("#approve")
	require.Contains(t, b.Text("#note"), "authorized")
	require.Equal(t, payment.StateAuthorized, state(ids[2]))
	require.Contains(t, b.Text("#payment-auths"), "2 of 2 authorizations")
	require.Contains(t, b.Text("#payment-steps"), "rita")

	// The query: by counterparty, then the CSV of the result.
	b.Go(base + "/query")
	b.Fill("#q-cp", "深圳南方")
	b.Submit("#query-form")
	require.Equal(t, 3, strings.Count(b.Text("#results tbody"), "SO-console-"))
	b.Shot("11-query")
	ac := e.consoleClient(t, "alex")
	resp, body = ac.get("/query.csv?counterparty=" + url.QueryEscape("深圳南方"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4, "a header and three payments")
	require.Equal(t, "5300000.00", rows[1+indexOf(rows[1:], ids[2])][3], "amounts exact, as decimals")

	requireNoPageErrors(t, b)
}

// requireNoPageErrors: no script error and no CSP violation on any page
// (the 4xx answers of refused forms are expected and not counted).
func requireNoPageErrors(t *testing.T, b *browser.Browser) {
	var bad []string
	for _, e := range b.Errors() {
		if !strings.HasPrefix(e, "error (network)") {
			bad = append(bad, e)
		}
	}
	require.Empty(t, bad, "no script error or CSP violation on any page")
}

func indexOf(rows [][]string, id string) int {
	for i, r := range rows {
		if r[0] == id {
			return i
		}
	}
	return -1
}
