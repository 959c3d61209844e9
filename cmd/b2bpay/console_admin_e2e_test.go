package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/admin"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/testkit/browser"
)

// The administration area in chromium: dual control end to end. One
// administrator of C1 proposes a limit and a roles change for a reviewer;
// nothing changes in the database; the proposer cannot approve (the page
// says why, and a hand-posted approval is refused in words); a second
// administrator approves; the database holds both, and the audit trail
// names both administrators. Then an OTP enrolment shows its QR code once.
func TestConsoleAdministrationInChromium(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.person(t, "ada", "C1", payment.RoleAdmin)
	e.person(t, "bo", "C1", payment.RoleAdmin)
	e.person(t, "rob", "C1", payment.RoleReviewer)
	base := "http://" + e.consoleAddr
	s := e.app.Store
	rob := func() (payment.User, admin.UserView) {
		u, err := s.UserGet(ctx, "rob")
		require.NoError(t, err)
		views, err := s.AdminUsers(ctx, "C1")
		require.NoError(t, err)
		i := slices.IndexFunc(views, func(v admin.UserView) bool { return v.ID == "rob" })
		require.GreaterOrEqual(t, i, 0)
		return u, views[i]
	}
	b := browser.New(t)

	// ada: the users, then two proposals for rob.
	signInAs(t, b, base, "ada")
	b.Click("header nav a[href='/admin']")
	require.Contains(t, b.Text("#user-rob"), "复核")
	require.Contains(t, b.Text("#user-rob"), "已绑定")
	require.Contains(t, b.Text("#dual"), "双人控制")
	b.Shot("30-admin-users")
	b.Click("#edit-rob")
	require.Equal(t, "rob", b.Value("#limit-user"), "the forms are filled for rob")
	b.Fill("#limit-amount", "500000.00")
	b.Fill("#limit-reason", "复核大额付款")
	b.Submit("#limit-submit")
	require.Contains(t, b.Text("#note"), "等待另一名管理员批准")
	require.Contains(t, b.Text("#pending-changes"), "用户 rob 的 CNY 审批限额设为 500,000.00")
	require.Equal(t, "rob", b.Value("#roles-user"))
	b.Click("#role-authorizer")
	b.Fill("#roles-reason", "兼任授权")
	b.Submit("#roles-submit")
	require.Contains(t, b.Text("#note"), "等待另一名管理员批准")
	pending := b.Text("#pending-changes")
	require.Contains(t, pending, "用户 rob 的角色改为：复核、授权")
	require.Equal(t, 2, strings.Count(pending, "由您提出"), "the proposer sees why she cannot decide")
	require.False(t, b.Exists("button[id^='approve-']"), "no approve button for the proposer")
	b.Shot("31-admin-pending")

	// The database is unchanged.
	u, v := rob()
	require.Equal(t, []payment.Role{payment.RoleReviewer}, u.Roles)
	require.Empty(t, v.Limits)
	changes, err := s.AdminChanges(ctx, "C1", 10)
	require.NoError(t, err)
	require.Len(t, changes, 2)

	// ada posts an approval by hand: refused, in words.
	ac := e.consoleClient(t, "ada")
	_, page := ac.get("/admin")
	resp, body := ac.post("/admin/changes/"+changes[0].ID+"/decide", url.Values{"csrf": {csrfOf(t, page)}, "verdict": {"approve"}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "双人控制：提出变更的管理员")
	u, _ = rob()
	require.Equal(t, []payment.Role{payment.RoleReviewer}, u.Roles)
	signOut(b)

	// bo approves both.
	signInAs(t, b, base, "bo")
	b.Go(base + "/admin")
	require.True(t, b.Exists("#approve-"+changes[0].ID), "the second administrator may decide")
	b.Shot("33-admin-approve")
	for _, c := range changes {
		b.Fill("#reason-"+c.ID, "已核实")
		b.Submit("#approve-" + c.ID)
		require.Contains(t, b.Text("#note"), "已批准并已生效")
	}
	require.False(t, b.Exists("#pending-changes"))
	decided := b.Text("#decided-changes")
	require.Equal(t, 2, strings.Count(decided, "已批准生效"))
	require.Contains(t, decided, "bo")
	require.Contains(t, b.Text("#user-rob"), "500,000.00 CNY")
	u, v = rob()
	require.Equal(t, []payment.Role{payment.RoleAuthorizer, payment.RoleReviewer}, u.Roles)
	require.Equal(t, []admin.Limit{{Currency: "CNY", MaxMinor: 500_000_00}}, v.Limits)

	// The audit trail has both steps of both changes, by both people.
	trail, err := s.AuditList(ctx, "rob", 100)
	require.NoError(t, err)
	for _, c := range changes {
		require.Contains(t, trail, auditOf(t, trail, "admin_change_proposed", c.ID, "user:ada"))
		require.Contains(t, trail, auditOf(t, trail, "admin_change_applied", c.ID, "user:bo"))
	}

	// OTP enrolment for rob (enrolled: the replacement is confirmed): the
	// QR code and the URI once.
	b.Click("#otp-replace-rob")
	b.Submit("#otp-enrol-rob")
	require.True(t, strings.HasPrefix(b.Text("#otp-uri"), "otpauth://totp/b2bpay:rob?"), b.Text("#otp-uri"))
	require.Contains(t, b.Text("#otp-once"), "只显示这一次")
	require.Contains(t, b.HTML(), `src="data:image/png;base64,iVBOR`)
	uri := b.Text("#otp-uri")
	require.Contains(t, uri, "secret="+b.Text("#otp-key"))
	b.Shot("32-admin-otp")
	trail, err = s.AuditList(ctx, "rob", 100)
	require.NoError(t, err)
	require.Equal(t, "user:bo", trail[len(trail)-1].Actor)
	require.Equal(t, "otp_reenrolled", trail[len(trail)-1].Event)
	require.NotContains(t, trail[len(trail)-1].Detail, "secret=")
	b.Click("#otp-back")
	require.NotContains(t, b.HTML(), uri, "shown once")

	require.Empty(t, b.Errors(), "no console error or CSP violation")
}

// auditOf finds the audit line of event about change id by actor.
func auditOf(t *testing.T, trail []postgres.AuditEntry, event, id, actor string) postgres.AuditEntry {
	for _, a := range trail {
		if a.Event == event && strings.Contains(a.Detail, id) && a.Actor == actor {
			return a
		}
	}
	t.Fatalf("no %s of %s by %s in %v", event, id, actor, trail)
	return postgres.AuditEntry{}
}
