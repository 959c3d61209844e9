package admin_test

import (
	"context"
	"github.com/b2bpay/b2bpay/admin/admintest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/admin"
	"github.com/b2bpay/b2bpay/payment"
)

var t0 = time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)

// world is a customer with three administrators (ann, ben, cat), a
// reviewer (rob), a bank operator of the customer (ops), and a user of
// another customer (zed, an administrator there).
type world struct {
	f   *admintest.Store
	now time.Time
	s   *admin.Service
	// enrolled records the enroller's calls.
	enrolled []string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	user := func(id, customer string, roles ...payment.Role) payment.User {
		return payment.User{ID: id, CustomerID: customer, Name: id, Roles: roles, Active: true}
	}
	w := &world{now: t0, f: admintest.New(
		user("ann", "C1", payment.RoleAdmin),
		user("ben", "C1", payment.RoleAdmin),
		user("cat", "C1", payment.RoleAdmin, payment.RoleAuthorizer),
		user("rob", "C1", payment.RoleReviewer),
		user("ops", "C1", payment.RoleOperator),
		user("zed", "C2", payment.RoleAdmin),
		user("zoe", "C2", payment.RoleAdmin),
	)}
	w.s = admin.New(w.f, func() time.Time { return w.now }, func(_ context.Context, userID, issuer, actor string) (string, []byte, error) {
		w.enrolled = append(w.enrolled, userID+" "+issuer+" "+actor)
		return "otpauth://totp/" + issuer + ":" + userID, []byte("png"), nil
	})
	return w
}

func code(t *testing.T, err error) payment.Code {
	t.Helper()
	require.Error(t, err)
	return payment.ErrorCode(err)
}

func roles(rs ...payment.Role) admin.Proposal {
	return admin.Proposal{Kind: admin.KindRoles, UserID: "rob", Roles: rs}
}

func TestProposeApproveApplies(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c, err := w.s.Propose(ctx, "ann", roles(payment.RoleAuthorizer, payment.RoleReviewer, payment.RoleReviewer), "rob covers authorizations")
	require.NoError(t, err)
	require.Equal(t, admin.StatePending, c.State)
	require.Equal(t, "rob", c.Target)
	require.Equal(t, []payment.Role{payment.RoleAuthorizer, payment.RoleReviewer}, c.Proposal.Roles, "sorted, no repeats")
	rob, _ := w.f.UserGet(ctx, "rob")
	require.Equal(t, []payment.Role{payment.RoleReviewer}, rob.Roles, "nothing applied before the second administrator")

	d, err := w.s.Decide(ctx, "ben", c.ID, true, "")
	require.NoError(t, err)
	require.Equal(t, admin.StateApplied, d.State)
	require.Equal(t, "ben", d.DecidedBy)
	rob, _ = w.f.UserGet(ctx, "rob")
	require.Equal(t, []payment.Role{payment.RoleAuthorizer, payment.RoleReviewer}, rob.Roles)
	require.Equal(t, []string{"admin_change_proposed", "admin_change_applied"}, w.f.Events())
	require.Equal(t, "user:ben", w.f.Audits[1].Actor)
	require.Contains(t, w.f.Audits[1].Detail, c.ID)
	require.Contains(t, w.f.Audits[1].Detail, "kind=user_roles target=rob")

	// Nothing is applied twice.
	_, err = w.s.Decide(ctx, "cat", c.ID, true, "")
	require.Equal(t, payment.CodeAlreadyDecided, code(t, err))
	_, err = w.s.Decide(ctx, "cat", c.ID, false, "too late")
	require.Equal(t, payment.CodeAlreadyDecided, code(t, err))
}

func TestEveryKindApplies(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	for _, p := range []admin.Proposal{
		{Kind: admin.KindLimit, UserID: "cat", Currency: "CNY", MaxMinor: 500_000_00},
		{Kind: admin.KindTier, Currency: "CNY", AboveMinor: 1_000_000_00, Authorizers: 2},
		{Kind: admin.KindActive, UserID: "rob", Active: false},
	} {
		c, err := w.s.Propose(ctx, "ann", p, "policy")
		require.NoError(t, err, p.Kind)
		_, err = w.s.Decide(ctx, "ben", c.ID, true, "ok")
		require.NoError(t, err, p.Kind)
	}
	require.Equal(t, int64(500_000_00), w.f.Limits["cat/CNY"])
	require.Equal(t, 2, w.f.Tiers["C1/CNY/100000000"].Authorizers)
	rob, _ := w.f.UserGet(ctx, "rob")
	require.False(t, rob.Active)
}

func TestActorMustBeActiveAdmin(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	_, err := w.s.Users(ctx, "rob")
	require.Equal(t, payment.CodeWrongRole, code(t, err))
	_, err = w.s.Propose(ctx, "ops", roles(payment.RoleApplicant), "x")
	require.Equal(t, payment.CodeWrongRole, code(t, err), "the bank's operator is no customer administrator")
	_, err = w.s.Users(ctx, "nobody")
	require.Equal(t, payment.CodeNotFound, code(t, err))

	c, err := w.s.Propose(ctx, "ann", roles(payment.RoleApplicant), "x")
	require.NoError(t, err)
	w.f.Users["ben"] = payment.User{ID: "ben", CustomerID: "C1", Roles: []payment.Role{payment.RoleAdmin}, Active: false}
	_, err = w.s.Decide(ctx, "ben", c.ID, true, "")
	require.Equal(t, payment.CodeWrongRole, code(t, err), "a disabled administrator decides nothing")

	users, err := w.s.Users(ctx, "ann")
	require.NoError(t, err)
	require.Len(t, users, 5, "only the actor's customer's users")
}

func TestOtherCustomerIsNotFound(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	_, err := w.s.Propose(ctx, "ann", admin.Proposal{Kind: admin.KindActive, UserID: "zoe"}, "x")
	require.Equal(t, payment.CodeNotFound, code(t, err))
	_, _, err = w.s.EnrollOTP(ctx, "ann", "zoe", "b2bpay")
	require.Equal(t, payment.CodeNotFound, code(t, err))
	require.Empty(t, w.enrolled)

	c, err := w.s.Propose(ctx, "zed", admin.Proposal{Kind: admin.KindTier, Currency: "CNY", AboveMinor: 0, Authorizers: 2}, "x")
	require.NoError(t, err)
	_, err = w.s.Decide(ctx, "ann", c.ID, true, "")
	require.Equal(t, payment.CodeNotFound, code(t, err))
	cs, err := w.s.Changes(ctx, "ann", 0)
	require.NoError(t, err)
	require.Empty(t, cs)
	_, err = w.s.Decide(ctx, "zoe", c.ID, true, "")
	require.NoError(t, err)
}

func TestDualControl(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c, err := w.s.Propose(ctx, "ann", admin.Proposal{Kind: admin.KindLimit, UserID: "cat", Currency: "CNY", MaxMinor: 1}, "x")
	require.NoError(t, err)
	_, err = w.s.Decide(ctx, "ann", c.ID, true, "")
	require.Equal(t, payment.CodeDualControl, code(t, err), "the proposer approves")
	_, err = w.s.Decide(ctx, "ann", c.ID, false, "withdrawn")
	require.Equal(t, payment.CodeDualControl, code(t, err), "the proposer rejects")
	_, err = w.s.Decide(ctx, "cat", c.ID, true, "")
	require.Equal(t, payment.CodeDualControl, code(t, err), "the change is about the approver")
	require.Equal(t, []string{"admin_change_proposed", "admin_change_refused", "admin_change_refused", "admin_change_refused"}, w.f.Events())
	require.Equal(t, admin.StatePending, w.f.Changes[c.ID].State)

	// A change granting an administrator a role is approved by a third.
	g, err := w.s.Propose(ctx, "cat", admin.Proposal{Kind: admin.KindRoles, UserID: "ben", Roles: []payment.Role{payment.RoleAdmin, payment.RoleAuthorizer}}, "x")
	require.NoError(t, err)
	_, err = w.s.Decide(ctx, "ben", g.ID, true, "")
	require.Equal(t, payment.CodeDualControl, code(t, err))
	_, err = w.s.Decide(ctx, "ann", g.ID, true, "")
	require.NoError(t, err)
}

func TestRejectNeedsReason(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	_, err := w.s.Propose(ctx, "ann", roles(payment.RoleApplicant), "  ")
	require.Equal(t, payment.CodeReasonRequired, code(t, err))
	c, err := w.s.Propose(ctx, "ann", roles(payment.RoleApplicant), "x")
	require.NoError(t, err)
	_, err = w.s.Decide(ctx, "ben", c.ID, false, "")
	require.Equal(t, payment.CodeReasonRequired, code(t, err))
	d, err := w.s.Decide(ctx, "ben", c.ID, false, "rob stays a reviewer")
	require.NoError(t, err)
	require.Equal(t, admin.StateRejected, d.State)
	require.Equal(t, "rob stays a reviewer", d.DecidedReason)
	rob, _ := w.f.UserGet(ctx, "rob")
	require.Equal(t, []payment.Role{payment.RoleReviewer}, rob.Roles)
}

func TestExpiry(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c, err := w.s.Propose(ctx, "ann", roles(payment.RoleApplicant), "x")
	require.NoError(t, err)
	w.now = t0.Add(admin.Expiry - time.Second)
	cs, err := w.s.Changes(ctx, "ben", 10)
	require.NoError(t, err)
	require.Equal(t, admin.StatePending, cs[0].State)
	w.now = t0.Add(admin.Expiry)
	cs, err = w.s.Changes(ctx, "ben", 10)
	require.NoError(t, err)
	require.Equal(t, admin.StateExpired, cs[0].State, "shown expired")

	d, err := w.s.Decide(ctx, "ben", c.ID, true, "")
	require.Equal(t, payment.CodeChangeExpired, code(t, err))
	require.Equal(t, admin.StateExpired, d.State)
	require.Equal(t, admin.StateExpired, w.f.Changes[c.ID].State, "stored expired")
	rob, _ := w.f.UserGet(ctx, "rob")
	require.Equal(t, []payment.Role{payment.RoleReviewer}, rob.Roles)
	_, err = w.s.Decide(ctx, "ben", c.ID, true, "")
	require.Equal(t, payment.CodeAlreadyDecided, code(t, err))
	// The same change may be proposed again.
	_, err = w.s.Propose(ctx, "ann", roles(payment.RoleApplicant), "again")
	require.NoError(t, err)
}

// A change left pending past its expiry does not block a new one.
func TestExpiredDoesNotBlock(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c, err := w.s.Propose(ctx, "ann", roles(payment.RoleApplicant), "x")
	require.NoError(t, err)
	w.now = t0.Add(admin.Expiry + time.Minute)
	n, err := w.s.Propose(ctx, "ben", roles(payment.RoleAuthorizer), "y")
	require.NoError(t, err)
	require.Equal(t, admin.StateExpired, w.f.Changes[c.ID].State)
	require.Equal(t, admin.StatePending, w.f.Changes[n.ID].State)
	require.Equal(t, []string{"admin_change_proposed", "admin_change_expired", "admin_change_proposed"}, w.f.Events())
}

func TestOnePendingPerTarget(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	_, err := w.s.Propose(ctx, "ann", roles(payment.RoleApplicant), "x")
	require.NoError(t, err)
	_, err = w.s.Propose(ctx, "ben", roles(payment.RoleAuthorizer), "y")
	require.Equal(t, payment.CodeConflict, code(t, err))
	// Another kind of change to the same user is another target.
	_, err = w.s.Propose(ctx, "ben", admin.Proposal{Kind: admin.KindLimit, UserID: "rob", Currency: "CNY", MaxMinor: 100}, "y")
	require.NoError(t, err)
}

func TestInvalidProposals(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	for name, p := range map[string]admin.Proposal{
		"unknown kind":       {Kind: "delete_everything", UserID: "rob"},
		"no roles":           roles(),
		"bad role":           roles("auditor"),
		"operator":           roles(payment.RoleOperator),
		"zero limit":         {Kind: admin.KindLimit, UserID: "rob", Currency: "CNY"},
		"negative limit":     {Kind: admin.KindLimit, UserID: "rob", Currency: "CNY", MaxMinor: -5},
		"bad currency":       {Kind: admin.KindLimit, UserID: "rob", Currency: "XXX", MaxMinor: 5},
		"six authorizers":    {Kind: admin.KindTier, Currency: "CNY", Authorizers: 6},
		"negative tier":      {Kind: admin.KindTier, Currency: "CNY", AboveMinor: -1, Authorizers: 2},
		"bad user id":        {Kind: admin.KindActive, UserID: "has space"},
		"no change of roles": roles(payment.RoleReviewer),
		"already active":     {Kind: admin.KindActive, UserID: "rob", Active: true},
	} {
		_, err := w.s.Propose(ctx, "ann", p, "x")
		require.Error(t, err, name)
		require.True(t, payment.IsRefusal(err), "%s: %v", name, err)
	}
	require.Empty(t, w.f.Changes)
}

func TestOperatorRoleIsKept(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c, err := w.s.Propose(ctx, "ann", admin.Proposal{Kind: admin.KindRoles, UserID: "ops", Roles: []payment.Role{payment.RoleReviewer}}, "x")
	require.NoError(t, err)
	_, err = w.s.Decide(ctx, "ben", c.ID, true, "")
	require.NoError(t, err)
	ops, _ := w.f.UserGet(ctx, "ops")
	require.Equal(t, []payment.Role{payment.RoleOperator, payment.RoleReviewer}, ops.Roles)
}

func TestAdministratorsLeft(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	// Three administrators: one may go.
	c1, err := w.s.Propose(ctx, "ann", admin.Proposal{Kind: admin.KindActive, UserID: "cat", Active: false}, "left")
	require.NoError(t, err)
	_, err = w.s.Decide(ctx, "ben", c1.ID, true, "")
	require.NoError(t, err)
	// Two left: neither may go, by disabling or by taking the role away
	// (nobody could approve the next change).
	_, err = w.s.Propose(ctx, "ann", admin.Proposal{Kind: admin.KindActive, UserID: "ben", Active: false}, "x")
	require.Equal(t, payment.CodeDualControl, code(t, err))
	_, err = w.s.Propose(ctx, "ben", admin.Proposal{Kind: admin.KindRoles, UserID: "ann", Roles: []payment.Role{payment.RoleReviewer}}, "x")
	require.Equal(t, payment.CodeDualControl, code(t, err))
	// Giving a role beside admin is fine.
	_, err = w.s.Propose(ctx, "ben", admin.Proposal{Kind: admin.KindRoles, UserID: "ann", Roles: []payment.Role{payment.RoleAdmin, payment.RoleReviewer}}, "x")
	require.NoError(t, err)
}

func TestApplyChecksTheProposerAgain(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	c, err := w.s.Propose(ctx, "cat", roles(payment.RoleApplicant), "x")
	require.NoError(t, err)
	w.f.Users["cat"] = payment.User{ID: "cat", CustomerID: "C1", Roles: []payment.Role{payment.RoleAuthorizer}, Active: true}
	_, err = w.s.Decide(ctx, "ben", c.ID, true, "")
	require.Equal(t, payment.CodeWrongRole, code(t, err))
	require.Equal(t, admin.StatePending, w.f.Changes[c.ID].State)
	_, err = w.s.Decide(ctx, "ben", c.ID, false, "its proposer is no administrator now")
	require.NoError(t, err)
}

func TestEnrollOTP(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	uri, png, err := w.s.EnrollOTP(ctx, "ann", "rob", "b2bpay")
	require.NoError(t, err)
	require.Equal(t, "otpauth://totp/b2bpay:rob", uri)
	require.Equal(t, []byte("png"), png)
	require.Equal(t, []string{"rob b2bpay user:ann"}, w.enrolled)
	_, _, err = w.s.EnrollOTP(ctx, "rob", "rob", "b2bpay")
	require.Equal(t, payment.CodeWrongRole, code(t, err))
}
