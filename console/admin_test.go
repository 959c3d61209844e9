package console

import (
	"context"
	"github.com/b2bpay/b2bpay/admin/admintest"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/admin"
	"github.com/b2bpay/b2bpay/payment"
)

// adminRig is the fake-API rig with the administration area: the real
// admin.Service over an in-memory store, customer C1 with administrators
// ann and ben, reviewer rob and "new" (no OTP yet).
type adminRig struct {
	*rig
	store    *admintest.Store
	enrolled []string
}

func newAdminRig(t *testing.T) *adminRig {
	user := func(id string, roles ...payment.Role) payment.User {
		return payment.User{ID: id, CustomerID: "C1", Name: "名" + id, Roles: roles, Active: true}
	}
	a := &adminRig{rig: &rig{t: t, api: &fakeAPI{}, now: time.Now()}, store: admintest.New(
		user("ann", payment.RoleAdmin), user("ben", payment.RoleAdmin), user("rob", payment.RoleReviewer),
		user("new", payment.RoleApplicant), payment.User{ID: "zed", CustomerID: "C2", Roles: []payment.Role{payment.RoleAdmin}, Active: true})}
	a.store.Unenrolled = []string{"new"}
	svc := admin.New(a.store, func() time.Time { return a.now }, func(_ context.Context, userID, issuer, actor string) (string, []byte, error) {
		a.enrolled = append(a.enrolled, userID+" "+actor)
		return "otpauth://totp/" + issuer + ":" + userID + "?secret=JBSWY3DPEHPK3PXP", []byte("\x89PNG fake"), nil
	})
	c, err := New(Config{API: a.api, CookieKey: make([]byte, 32), Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return a.now }, People: svc.Person, Admin: svc})
	require.NoError(t, err)
	a.c = c
	return a
}

// as signs in as user and returns the cookies and the CSRF token of the
// page at path.
func (a *adminRig) as(user, path string) ([]*http.Cookie, string) {
	_, cookies := a.signIn(user, "good")
	page := text(a.t, a.do(http.MethodGet, path, nil, cookies))
	return cookies, csrfField.FindStringSubmatch(page)[1]
}

// get follows a redirect as a browser does: without its fragment.
func (a *adminRig) get(location string, cookies []*http.Cookie) string {
	location, _, _ = strings.Cut(location, "#")
	return text(a.t, a.do(http.MethodGet, location, nil, cookies))
}

func (a *adminRig) post(path string, cookies []*http.Cookie, csrf string, form url.Values) (*http.Response, string) {
	form.Set("csrf", csrf)
	resp := a.do(http.MethodPost, path, form, cookies)
	return resp, text(a.t, resp)
}

func TestAdminAreaIsForAdministratorsOnly(t *testing.T) {
	a := newAdminRig(t)
	cookies, csrf := a.as("rob", "/")
	require.NotContains(t, text(t, a.do(http.MethodGet, "/", nil, cookies)), `href="/admin"`, "no link for a reviewer")
	resp := a.do(http.MethodGet, "/admin", nil, cookies)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, text(t, resp), "您没有访问此页面的权限")
	for _, path := range []string{"/admin/propose/roles", "/admin/propose/limit", "/admin/propose/tier", "/admin/propose/active",
		"/admin/changes/x/decide", "/admin/users/rob/otp"} {
		resp, _ := a.post(path, cookies, csrf, url.Values{"user": {"rob"}, "role": {"admin"}, "reason": {"x"}, "verdict": {"approve"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}
	require.Empty(t, a.store.Changes, "nothing proposed")
	require.Empty(t, a.enrolled, "nothing enrolled")

	// Signed out: the sign-in page.
	resp = a.do(http.MethodGet, "/admin", nil, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	// A disabled administrator: refused before the service is asked.
	a.store.Users["ben"] = payment.User{ID: "ben", CustomerID: "C1", Roles: []payment.Role{payment.RoleAdmin}}
	cookies, _ = a.as("ben", "/")
	resp = a.do(http.MethodGet, "/admin", nil, cookies)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, text(t, resp), "您没有访问此页面的权限")
}

func TestAdminFormsNeedTheirCSRFToken(t *testing.T) {
	a := newAdminRig(t)
	cookies, _ := a.as("ann", "/admin")
	for _, path := range []string{"/admin/propose/limit", "/admin/changes/x/decide", "/admin/users/new/otp"} {
		resp, _ := a.post(path, cookies, "not-the-token", url.Values{"user": {"rob"}, "currency": {"CNY"}, "amount": {"1.00"}, "reason": {"x"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}
	require.Empty(t, a.store.Changes)
	require.Empty(t, a.enrolled)
}

var approveButton = regexp.MustCompile(`id="approve-chg-`)

func TestDualControlInTheConsole(t *testing.T) {
	a := newAdminRig(t)
	ann, annCSRF := a.as("ann", "/admin")
	page := text(t, a.do(http.MethodGet, "/admin", nil, ann))
	require.Contains(t, page, "双人控制")
	require.Contains(t, page, `id="user-rob"`)

	// ann proposes a limit, typed grouped: the page says it waits.
	resp, _ := a.post("/admin/propose/limit", ann, annCSRF, url.Values{"user": {"rob"}, "currency": {"cny"}, "amount": {"500,000.00"}, "reason": {"新岗位"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	page = a.get(resp.Header.Get("Location"), ann)
	require.Contains(t, page, "等待另一名管理员批准")
	require.Contains(t, page, "用户 rob 的 CNY 审批限额设为 500,000.00")
	require.Contains(t, page, "由您提出")
	require.NotRegexp(t, approveButton, page, "no buttons for the proposer")
	require.Empty(t, a.store.Limits, "nothing applied yet")
	var id string
	for id = range a.store.Changes {
	}

	// Posting the approval by hand: refused in words.
	resp, page = a.post("/admin/changes/"+id+"/decide", ann, annCSRF, url.Values{"verdict": {"approve"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, page, "双人控制：提出变更的管理员")
	require.Empty(t, a.store.Limits)

	// ben sees the buttons and approves: applied.
	ben, benCSRF := a.as("ben", "/admin")
	page = text(t, a.do(http.MethodGet, "/admin", nil, ben))
	require.Contains(t, page, `id="approve-`+id+`"`)
	resp, _ = a.post("/admin/changes/"+id+"/decide", ben, benCSRF, url.Values{"verdict": {"approve"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, int64(500_000_00), a.store.Limits["rob/CNY"])
	page = a.get(resp.Header.Get("Location"), ben)
	require.Contains(t, page, "已批准并已生效")
	require.Regexp(t, `(?s)id="decided-changes".*已批准生效.*ben`, page)
	require.Contains(t, page, "500,000.00 CNY", "the user's limit")
	require.Equal(t, []string{"admin_change_proposed", "admin_change_refused", "admin_change_applied"}, a.store.Events())

	// Again: already decided, in words.
	resp, page = a.post("/admin/changes/"+id+"/decide", ben, benCSRF, url.Values{"verdict": {"reject"}, "reason": {"x"}})
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, page, "该变更已被处理")
}

func TestAdminRefusalsInWords(t *testing.T) {
	a := newAdminRig(t)
	ann, csrf := a.as("ann", "/admin")
	for _, c := range []struct {
		form   string
		values url.Values
		status int
		says   string
	}{
		{"limit", url.Values{"user": {"rob"}, "currency": {"CNY"}, "amount": {"5e5"}, "reason": {"x"}}, 400, "金额格式有误"},
		{"limit", url.Values{"user": {"rob"}, "currency": {"CNY"}, "amount": {"1.005"}, "reason": {"x"}}, 400, "金额格式有误"},
		{"limit", url.Values{"user": {"rob"}, "currency": {"XXX"}, "amount": {"1"}, "reason": {"x"}}, 400, "币种代码有误"},
		{"limit", url.Values{"user": {"rob"}, "currency": {"CNY"}, "amount": {"1"}, "reason": {" "}}, 400, "请填写理由"},
		{"roles", url.Values{"user": {"rob"}, "reason": {"x"}}, 400, "输入有误"},
		{"roles", url.Values{"user": {"rob"}, "role": {"operator"}, "reason": {"x"}}, 400, "输入有误"},
		{"roles", url.Values{"user": {"zed"}, "role": {"reviewer"}, "reason": {"x"}}, 404, "未找到该用户或变更"},
		{"tier", url.Values{"currency": {"CNY"}, "above": {"0"}, "authorizers": {"many"}, "reason": {"x"}}, 400, "输入有误"},
		{"tier", url.Values{"currency": {"CNY"}, "above": {"0"}, "authorizers": {"9"}, "reason": {"x"}}, 400, "输入有误"},
		{"active", url.Values{"user": {"ann"}, "active": {"false"}, "reason": {"x"}}, 403, "双人控制"},
		{"active", url.Values{"user": {"rob"}, "active": {"maybe"}, "reason": {"x"}}, 400, "输入有误"},
		{"nonsense", url.Values{"reason": {"x"}}, 400, "输入有误"},
	} {
		resp, page := a.post("/admin/propose/"+c.form, ann, csrf, c.values)
		require.Equal(t, c.status, resp.StatusCode, "%v", c)
		require.Contains(t, page, c.says, "%v", c)
		require.Contains(t, page, `id="form-roles"`, "the page again, with its forms")
	}
	require.Empty(t, a.store.Changes)

	// A refused form keeps what was typed.
	_, page := a.post("/admin/propose/limit", ann, csrf, url.Values{"user": {"rob"}, "currency": {"CNY"}, "amount": {"12,34"}, "reason": {"见工单 42"}})
	require.Contains(t, page, `value="12,34"`)
	require.Contains(t, page, `value="见工单 42"`)

	// A tier above 0, then the same again: one pending per target.
	ok := url.Values{"currency": {"CNY"}, "above": {"0"}, "authorizers": {"2"}, "reason": {"x"}}
	resp, _ := a.post("/admin/propose/tier", ann, csrf, ok)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, page = a.post("/admin/propose/tier", ann, csrf, ok)
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, page, "已有一项待审批的变更")

	// A rejection needs a reason; English words too.
	var id string
	for id = range a.store.Changes {
	}
	ben, benCSRF := a.as("ben", "/admin")
	ben = append(ben, &http.Cookie{Name: "b2bpay_lang", Value: "en"})
	resp, page = a.post("/admin/changes/"+id+"/decide", ben, benCSRF, url.Values{"verdict": {"reject"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "A reason is required.")
	resp, page = a.post("/admin/changes/"+id+"/decide", ben, benCSRF, url.Values{"verdict": {"maybe"}})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "choose approve or reject")
	resp, page = a.post("/admin/changes/nope/decide", ben, benCSRF, url.Values{"verdict": {"approve"}})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Contains(t, page, "No such user or change.")

	// Expired after 24 hours (proposed a day ago: the session would
	// expire if the clock moved).
	ch := a.store.Changes[id]
	ch.ProposedAt = ch.ProposedAt.Add(-admin.Expiry - time.Minute)
	a.store.Changes[id] = ch
	resp, page = a.post("/admin/changes/"+id+"/decide", ben, benCSRF, url.Values{"verdict": {"approve"}})
	require.Equal(t, http.StatusConflict, resp.StatusCode)
	require.Contains(t, page, "waited more than 24 hours and expired")
}

func TestAdminOTPEnrolmentShowsTheQRCodeOnce(t *testing.T) {
	a := newAdminRig(t)
	ann, csrf := a.as("ann", "/admin")
	resp, page := a.post("/admin/users/new/otp", ann, csrf, url.Values{})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Contains(t, page, `src="data:image/png;base64,iVBORyBmYWtl"`)
	require.Contains(t, page, "otpauth://totp/b2bpay:new?secret=JBSWY3DPEHPK3PXP")
	require.Contains(t, page, "只显示这一次")
	require.Contains(t, page, `id="otp-key">JBSWY3DPEHPK3PXP<`)
	require.Equal(t, []string{"new user:ann"}, a.enrolled)
	require.NotContains(t, text(t, a.do(http.MethodGet, "/admin", nil, ann)), "JBSWY3DPEHPK3PXP", "shown once")

	// An enrolled user's secret is replaced only when confirmed.
	resp, page = a.post("/admin/users/rob/otp", ann, csrf, url.Values{})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, page, "确认替换现有口令")
	resp, _ = a.post("/admin/users/rob/otp", ann, csrf, url.Values{"replace": {"1"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// Another customer's user is not found.
	resp, _ = a.post("/admin/users/zed/otp", ann, csrf, url.Values{"replace": {"1"}})
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, []string{"new user:ann", "rob user:ann"}, a.enrolled)
}

func TestAdminMessagesHaveBothLanguages(t *testing.T) {
	for k, m := range adminMessages {
		require.NotEmpty(t, m[0], k)
		require.NotEmpty(t, m[1], k)
	}
	for _, code := range []payment.Code{payment.CodeDualControl, payment.CodeChangeExpired, payment.CodeWrongRole, payment.CodeNotFound,
		payment.CodeInvalidInput, payment.CodeAlreadyDecided} {
		require.NotContains(t, langZH.AdminCode(code), string(code), code)
		require.NotContains(t, langEN.AdminCode(code), "refused", code)
	}
	require.True(t, strings.HasPrefix(langEN.Proposal(admin.Proposal{Kind: admin.KindTier, Currency: "CNY", AboveMinor: 100_000_000, Authorizers: 2}),
		"CNY payments above 1,000,000.00 need 2"))
}
