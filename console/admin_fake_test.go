package console

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/b2bpay/b2bpay/admin"
	"github.com/b2bpay/b2bpay/payment"
)

// A copy of admin's test fake (package admin_test cannot be imported),
// its users' views with their limits.

// adminFake is an in-memory admin.Store: AdminTx runs one at a time and rolls
// back what fn wrote when it fails.
type adminFake struct {
	mu      sync.Mutex
	users   map[string]payment.User
	changes map[string]admin.Change
	limits  map[string]int64 // user/currency
	tiers   map[string]payment.Tier
	audits  []admin.Audit
}

func newAdminFake(users ...payment.User) *adminFake {
	f := &adminFake{users: map[string]payment.User{}, changes: map[string]admin.Change{}, limits: map[string]int64{}, tiers: map[string]payment.Tier{}}
	for _, u := range users {
		f.users[u.ID] = u
	}
	return f
}

func (f *adminFake) UserGet(_ context.Context, id string) (payment.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[id]
	if !ok {
		return u, fmt.Errorf("user %s: %w", id, payment.ErrNotFound)
	}
	return u, nil
}

func (f *adminFake) AdminUsers(_ context.Context, customerID string) ([]admin.UserView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []admin.UserView
	for _, id := range slices.Sorted(maps.Keys(f.users)) {
		if u := f.users[id]; u.CustomerID == customerID {
			v := admin.UserView{ID: u.ID, Name: u.Name, Roles: u.Roles, Active: u.Active, OTPEnrolled: u.ID != "new"}
			for _, k := range slices.Sorted(maps.Keys(f.limits)) {
				if cur, ok := strings.CutPrefix(k, u.ID+"/"); ok {
					v.Limits = append(v.Limits, admin.Limit{Currency: cur, MaxMinor: f.limits[k]})
				}
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func (f *adminFake) AdminTiers(context.Context, string) ([]admin.TierView, error) { return nil, nil }

func (f *adminFake) AdminChanges(_ context.Context, customerID string, limit int) ([]admin.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []admin.Change
	for _, c := range f.changes {
		if c.CustomerID == customerID {
			out = append(out, c)
		}
	}
	return out[:min(limit, len(out))], nil
}

func (f *adminFake) AdminTx(ctx context.Context, _ string, fn func(admin.Tx) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	users, changes, limits, tiers, n := maps.Clone(f.users), maps.Clone(f.changes), maps.Clone(f.limits), maps.Clone(f.tiers), len(f.audits)
	if err := fn(adminFakeTx{f}); err != nil {
		f.users, f.changes, f.limits, f.tiers, f.audits = users, changes, limits, tiers, f.audits[:n]
		return err
	}
	return nil
}

// adminFakeTx is a transaction of adminFake; its lock is held by AdminTx.
type adminFakeTx struct{ f *adminFake }

func (t adminFakeTx) User(_ context.Context, id string) (payment.User, error) {
	u, ok := t.f.users[id]
	if !ok {
		return u, fmt.Errorf("user %s: %w", id, payment.ErrNotFound)
	}
	return u, nil
}

func (t adminFakeTx) ActiveAdmins(_ context.Context, customerID string) ([]string, error) {
	var out []string
	for _, u := range t.f.users {
		if u.CustomerID == customerID && u.Active && u.Has(payment.RoleAdmin) {
			out = append(out, u.ID)
		}
	}
	return out, nil
}

func (t adminFakeTx) Pending(_ context.Context, customerID string, kind admin.Kind, target string) (string, error) {
	for _, c := range t.f.changes {
		if c.CustomerID == customerID && c.Kind == kind && c.Target == target && c.State == admin.StatePending {
			return c.ID, nil
		}
	}
	return "", nil
}

func (t adminFakeTx) Change(_ context.Context, customerID, id string) (admin.Change, error) {
	c, ok := t.f.changes[id]
	if !ok || c.CustomerID != customerID {
		return admin.Change{}, fmt.Errorf("change %s: %w", id, payment.ErrNotFound)
	}
	return c, nil
}

func (t adminFakeTx) Insert(_ context.Context, c admin.Change) error {
	t.f.changes[c.ID] = c
	return nil
}

func (t adminFakeTx) Finish(_ context.Context, c admin.Change) error {
	if t.f.changes[c.ID].State != admin.StatePending {
		return payment.Errorf(payment.CodeAlreadyDecided, "change %s is no longer pending", c.ID)
	}
	if c.DecidedBy == c.ProposedBy {
		return fmt.Errorf("CHECK decided_by <> proposed_by")
	}
	t.f.changes[c.ID] = c
	return nil
}

func (t adminFakeTx) SetRoles(_ context.Context, userID string, roles []payment.Role) error {
	u := t.f.users[userID]
	u.Roles = roles
	t.f.users[userID] = u
	return nil
}

func (t adminFakeTx) SetLimit(_ context.Context, userID, currency string, maxMinor int64) error {
	t.f.limits[userID+"/"+currency] = maxMinor
	return nil
}

func (t adminFakeTx) SetTier(_ context.Context, customerID string, tier payment.Tier) error {
	t.f.tiers[fmt.Sprintf("%s/%s/%d", customerID, tier.Currency, tier.AboveMinor)] = tier
	return nil
}

func (t adminFakeTx) SetActive(_ context.Context, userID string, active bool) (int, error) {
	u := t.f.users[userID]
	u.Active = active
	t.f.users[userID] = u
	return 0, nil
}

func (t adminFakeTx) Audit(_ context.Context, a admin.Audit) error {
	t.f.audits = append(t.f.audits, a)
	return nil
}

// events lists the audit events written, in order.
func (f *adminFake) events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.audits {
		out = append(out, a.Event)
	}
	return out
}
