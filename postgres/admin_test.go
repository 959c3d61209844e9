package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/admin"
	"github.com/b2bpay/b2bpay/auth"
	"github.com/b2bpay/b2bpay/payment"
)

// adminBundle is a bundle with three administrators (ann, ben, cat) and a
// reviewer (rob), and the administration over its store.
type adminBundle struct {
	*bundle
	svc                *admin.Service
	ann, ben, cat, rob string
}

func setupAdmin(t *testing.T) *adminBundle {
	t.Helper()
	b := setup(t)
	a := &adminBundle{bundle: b, ann: "ann-" + b.suffix, ben: "ben-" + b.suffix, cat: "cat-" + b.suffix, rob: "rob-" + b.suffix}
	for id, roles := range map[string][]payment.Role{
		a.ann: {payment.RoleAdmin}, a.ben: {payment.RoleAdmin}, a.cat: {payment.RoleAdmin, payment.RoleAuthorizer},
		a.rob: {payment.RoleReviewer},
	} {
		require.NoError(t, b.store.UserCreate(t.Context(), payment.User{ID: id, CustomerID: b.customer.ID, Name: id, Roles: roles, Active: true}))
	}
	a.svc = admin.New(b.store, b.clock.Now, nil)
	return a
}

func (a *adminBundle) roles(t *testing.T, id string) []payment.Role {
	t.Helper()
	u, err := a.store.UserGet(t.Context(), id)
	require.NoError(t, err)
	return u.Roles
}

// auditEvents are the events of the audit trail naming change id.
func (a *adminBundle) auditEvents(t *testing.T, changeID string) []string {
	t.Helper()
	rows, err := a.pool.Query(t.Context(), `SELECT event || ' ' || actor FROM audit_log WHERE detail LIKE '%' || $1 || '%' ORDER BY id`, "change "+changeID+" ")
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestAdminProposeApprove(t *testing.T) {
	t.Parallel()
	a := setupAdmin(t)
	ctx := t.Context()
	c, err := a.svc.Propose(ctx, a.ann, admin.Proposal{Kind: admin.KindRoles, UserID: a.rob, Roles: []payment.Role{payment.RoleReviewer, payment.RoleAuthorizer}}, "covers authorizations")
	require.NoError(t, err)
	require.Equal(t, []payment.Role{payment.RoleReviewer}, a.roles(t, a.rob))

	cs, err := a.svc.Changes(ctx, a.ben, 10)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.Equal(t, c.ID, cs[0].ID)
	require.Equal(t, c.Proposal, cs[0].Proposal, "the payload round-trips")
	requireTime(t, baseTime, cs[0].ProposedAt)

	a.clock.Advance(time.Hour)
	d, err := a.svc.Decide(ctx, a.ben, c.ID, true, "checked with rob's manager")
	require.NoError(t, err)
	require.Equal(t, admin.StateApplied, d.State)
	require.Equal(t, []payment.Role{payment.RoleAuthorizer, payment.RoleReviewer}, a.roles(t, a.rob))
	require.Equal(t, []string{"admin_change_proposed user:" + a.ann, "admin_change_applied user:" + a.ben}, a.auditEvents(t, c.ID))

	var state, by, reason string
	var at time.Time
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT state, decided_by, decided_at, decided_reason FROM admin_changes WHERE id = $1`, c.ID).
		Scan(&state, &by, &at, &reason))
	require.Equal(t, []string{"applied", a.ben, "checked with rob's manager"}, []string{state, by, reason})
	requireTime(t, baseTime.Add(time.Hour), at)

	// Limits, tiers and disabling go through the same path.
	for _, p := range []admin.Proposal{
		{Kind: admin.KindLimit, UserID: a.rob, Currency: "CNY", MaxMinor: 2_000_000_00},
		{Kind: admin.KindTier, Currency: "CNY", AboveMinor: 1_000_000_00, Authorizers: 2},
		{Kind: admin.KindActive, UserID: a.rob, Active: false},
	} {
		c, err := a.svc.Propose(ctx, a.cat, p, "policy")
		require.NoError(t, err)
		_, err = a.svc.Decide(ctx, a.ann, c.ID, true, "")
		require.NoError(t, err)
	}
	users, err := a.svc.Users(ctx, a.ann)
	require.NoError(t, err)
	var rob admin.UserView
	for _, u := range users {
		if u.ID == a.rob {
			rob = u
		}
	}
	require.False(t, rob.Active)
	require.Equal(t, []admin.Limit{{Currency: "CNY", MaxMinor: 2_000_000_00}}, rob.Limits)
	require.False(t, rob.OTPEnrolled)
	tiers, err := a.svc.Tiers(ctx, a.ann)
	require.NoError(t, err)
	require.Equal(t, []admin.TierView{{Currency: "CNY", AboveMinor: 1_000_000_00, Authorizers: 2}}, tiers)
}

func TestAdminApplyIsOneTransaction(t *testing.T) {
	t.Parallel()
	a := setupAdmin(t)
	ctx := t.Context()
	c, err := a.svc.Propose(ctx, a.ann, admin.Proposal{Kind: admin.KindRoles, UserID: a.rob, Roles: []payment.Role{payment.RoleApplicant}}, "x")
	require.NoError(t, err)
	// A transaction that fails after applying keeps nothing of it.
	boom := errors.New("boom")
	err = a.store.AdminTx(ctx, a.customer.ID, func(tx admin.Tx) error {
		require.NoError(t, tx.SetRoles(ctx, a.rob, []payment.Role{payment.RoleApplicant}))
		got, err := tx.Change(ctx, a.customer.ID, c.ID)
		require.NoError(t, err)
		now := a.clock.Now()
		got.State, got.DecidedBy, got.DecidedAt = admin.StateApplied, a.ben, &now
		require.NoError(t, tx.Finish(ctx, got))
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, []payment.Role{payment.RoleReviewer}, a.roles(t, a.rob))
	cs, err := a.svc.Changes(ctx, a.ann, 0)
	require.NoError(t, err)
	require.Equal(t, admin.StatePending, cs[0].State)

	// The SQL guard: a change no longer pending is not finished again,
	// whatever the caller read.
	_, err = a.svc.Decide(ctx, a.ben, c.ID, true, "")
	require.NoError(t, err)
	err = a.store.AdminTx(ctx, a.customer.ID, func(tx admin.Tx) error {
		now := a.clock.Now()
		return tx.Finish(ctx, admin.Change{ID: c.ID, ProposedBy: a.ann, State: admin.StateRejected, DecidedBy: a.cat, DecidedAt: &now})
	})
	require.Equal(t, payment.CodeAlreadyDecided, payment.ErrorCode(err), "got %v", err)

	// The database refuses a proposer deciding their own change.
	_, err = a.pool.Exec(ctx, `UPDATE admin_changes SET state = 'rejected', decided_by = proposed_by, decided_at = now() WHERE id = $1`, c.ID)
	require.Equal(t, "23514", pgError(t, err).Code)
}

func TestAdminConcurrentApproveAppliesOnce(t *testing.T) {
	t.Parallel()
	a := setupAdmin(t)
	ctx := t.Context()
	c, err := a.svc.Propose(ctx, a.ann, admin.Proposal{Kind: admin.KindLimit, UserID: a.rob, Currency: "CNY", MaxMinor: 100_00}, "x")
	require.NoError(t, err)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			approver := a.ben
			if i%2 == 1 {
				approver = a.cat
			}
			_, errs[i] = a.svc.Decide(context.WithoutCancel(ctx), approver, c.ID, true, "")
		}()
	}
	wg.Wait()
	applied := 0
	for _, err := range errs {
		if err == nil {
			applied++
			continue
		}
		require.Equal(t, payment.CodeAlreadyDecided, payment.ErrorCode(err), "got %v", err)
	}
	require.Equal(t, 1, applied)
	events := a.auditEvents(t, c.ID)
	require.Len(t, events, 2, "%v", events)
	var max int64
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT max_minor FROM user_limits WHERE user_id = $1 AND currency = 'CNY'`, a.rob).Scan(&max))
	require.Equal(t, int64(100_00), max)
}

func TestAdminOtherCustomerNotFound(t *testing.T) {
	t.Parallel()
	a := setupAdmin(t)
	other := setupOn(t, a.pool, baseTime)
	ctx := t.Context()
	zed := "zed-" + other.suffix
	require.NoError(t, other.store.UserCreate(ctx, payment.User{ID: zed, CustomerID: other.customer.ID, Name: "Zed", Roles: []payment.Role{payment.RoleAdmin}, Active: true}))

	c, err := a.svc.Propose(ctx, a.ann, admin.Proposal{Kind: admin.KindActive, UserID: a.rob}, "x")
	require.NoError(t, err)
	_, err = a.svc.Decide(ctx, zed, c.ID, true, "")
	require.Equal(t, payment.CodeNotFound, payment.ErrorCode(err), "got %v", err)
	_, err = a.svc.Decide(ctx, zed, c.ID, false, "mine now")
	require.Equal(t, payment.CodeNotFound, payment.ErrorCode(err), "got %v", err)
	_, err = a.svc.Propose(ctx, zed, admin.Proposal{Kind: admin.KindActive, UserID: a.rob}, "x")
	require.Equal(t, payment.CodeNotFound, payment.ErrorCode(err), "got %v", err)
	cs, err := a.svc.Changes(ctx, zed, 0)
	require.NoError(t, err)
	require.Empty(t, cs)
	users, err := a.svc.Users(ctx, zed)
	require.NoError(t, err)
	require.Len(t, users, 2, "the other customer's applicant and zed")
	for _, u := range users {
		require.NotEqual(t, a.rob, u.ID)
	}
	require.Equal(t, []payment.Role{payment.RoleReviewer}, a.roles(t, a.rob))
}

func TestAdminExpiry(t *testing.T) {
	t.Parallel()
	a := setupAdmin(t)
	ctx := t.Context()
	c, err := a.svc.Propose(ctx, a.ann, admin.Proposal{Kind: admin.KindRoles, UserID: a.rob, Roles: []payment.Role{payment.RoleApplicant}}, "x")
	require.NoError(t, err)
	a.clock.Advance(admin.Expiry)
	d, err := a.svc.Decide(ctx, a.ben, c.ID, true, "")
	require.Equal(t, payment.CodeChangeExpired, payment.ErrorCode(err), "got %v", err)
	require.Equal(t, admin.StateExpired, d.State)
	require.Equal(t, []payment.Role{payment.RoleReviewer}, a.roles(t, a.rob))
	var state string
	var by *string
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT state, decided_by FROM admin_changes WHERE id = $1`, c.ID).Scan(&state, &by))
	require.Equal(t, "expired", state)
	require.Nil(t, by)
	require.Equal(t, []string{"admin_change_proposed user:" + a.ann, "admin_change_expired user:" + a.ben}, a.auditEvents(t, c.ID))
	// It can be proposed again: only a pending change holds its target.
	_, err = a.svc.Propose(ctx, a.ann, admin.Proposal{Kind: admin.KindRoles, UserID: a.rob, Roles: []payment.Role{payment.RoleApplicant}}, "again")
	require.NoError(t, err)
	_, err = a.svc.Propose(ctx, a.cat, admin.Proposal{Kind: admin.KindRoles, UserID: a.rob, Roles: []payment.Role{payment.RoleAuthorizer}}, "other")
	require.Equal(t, payment.CodeConflict, payment.ErrorCode(err), "got %v", err)
	// Left pending past its expiry, it no longer blocks a new proposal.
	a.clock.Advance(admin.Expiry)
	_, err = a.svc.Propose(ctx, a.cat, admin.Proposal{Kind: admin.KindRoles, UserID: a.rob, Roles: []payment.Role{payment.RoleAuthorizer}}, "other")
	require.NoError(t, err)
	var pending, expired int
	require.NoError(t, a.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'expired')
		FROM admin_changes WHERE customer_id = $1`, a.customer.ID).Scan(&pending, &expired))
	require.Equal(t, []int{1, 2}, []int{pending, expired})
}

func TestAdminUsersView(t *testing.T) {
	t.Parallel()
	a := setupAdmin(t)
	ctx := t.Context()
	require.NoError(t, a.store.UserEnrollOTP(ctx, a.rob, []byte("sealed"), 1, "test"))
	_, err := a.pool.Exec(ctx, `UPDATE users SET otp_locked_until = $2 WHERE id = $1`, a.rob, baseTime.Add(time.Hour))
	require.NoError(t, err)
	_, err = a.pool.Exec(ctx, `UPDATE users SET otp_locked_until = $2 WHERE id = $1`, a.cat, baseTime.Add(-time.Hour))
	require.NoError(t, err)
	th := auth.Throttle{MaxFailures: 1, LockFor: 10 * time.Minute}
	_, err = a.store.Login(ctx, a.rob, "nope", auth.CheckPassword, th)
	require.Equal(t, payment.CodeLoginFailed, payment.ErrorCode(err))
	require.NoError(t, a.store.UserSetLimit(ctx, a.rob, "USD", 5_00, "test"))
	require.NoError(t, a.store.UserSetLimit(ctx, a.rob, "CNY", 7_00, "test"))

	users, err := a.svc.Users(ctx, a.ben)
	require.NoError(t, err)
	byID := map[string]admin.UserView{}
	for _, u := range users {
		byID[u.ID] = u
	}
	require.Len(t, byID, 5)
	rob := byID[a.rob]
	require.True(t, rob.OTPEnrolled)
	require.NotNil(t, rob.OTPLockedUntil)
	requireTime(t, baseTime.Add(time.Hour), *rob.OTPLockedUntil)
	require.NotNil(t, rob.LoginLockedUntil)
	requireTime(t, baseTime.Add(10*time.Minute), *rob.LoginLockedUntil)
	require.Equal(t, []admin.Limit{{Currency: "CNY", MaxMinor: 7_00}, {Currency: "USD", MaxMinor: 5_00}}, rob.Limits)
	cat := byID[a.cat]
	require.False(t, cat.OTPEnrolled)
	require.Nil(t, cat.OTPLockedUntil, "a lock that ran out is none")
	require.Nil(t, cat.LoginLockedUntil)
	require.Equal(t, []payment.Role{payment.RoleAdmin, payment.RoleAuthorizer}, cat.Roles)
}
