// Package admintest is the administration use case's in-memory store for
// tests: the admin package's own rules and the console's administration
// pages run over it.
package admintest

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

// Store is an in-memory admin.Store: AdminTx runs one at a time and rolls
// back what fn wrote when it fails.
type Store struct {
	mu      sync.Mutex
	Users   map[string]payment.User
	Changes map[string]admin.Change
	Limits  map[string]int64 // user/currency
	Tiers   map[string]payment.Tier
	Audits  []admin.Audit
	// Unenrolled are the users shown without OTP.
	Unenrolled []string
}

// New is a store holding users.
func New(users ...payment.User) *Store {
	f := &Store{Users: map[string]payment.User{}, Changes: map[string]admin.Change{}, Limits: map[string]int64{}, Tiers: map[string]payment.Tier{}}
	for _, u := range users {
		f.Users[u.ID] = u
	}
	return f
}

func (f *Store) UserGet(_ context.Context, id string) (payment.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.Users[id]
	if !ok {
		return u, fmt.Errorf("user %s: %w", id, payment.ErrNotFound)
	}
	return u, nil
}

func (f *Store) AdminUsers(_ context.Context, customerID string) ([]admin.UserView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []admin.UserView
	for _, id := range slices.Sorted(maps.Keys(f.Users)) {
		if u := f.Users[id]; u.CustomerID == customerID {
			v := admin.UserView{ID: u.ID, Name: u.Name, Roles: u.Roles, Active: u.Active, OTPEnrolled: !slices.Contains(f.Unenrolled, u.ID)}
			for _, k := range slices.Sorted(maps.Keys(f.Limits)) {
				if cur, ok := strings.CutPrefix(k, u.ID+"/"); ok {
					v.Limits = append(v.Limits, admin.Limit{Currency: cur, MaxMinor: f.Limits[k]})
				}
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func (f *Store) AdminTiers(context.Context, string) ([]admin.TierView, error) { return nil, nil }

func (f *Store) AdminChanges(_ context.Context, customerID string, limit int) ([]admin.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []admin.Change
	for _, c := range f.Changes {
		if c.CustomerID == customerID {
			out = append(out, c)
		}
	}
	return out[:min(limit, len(out))], nil
}

func (f *Store) AdminTx(ctx context.Context, _ string, fn func(admin.Tx) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	users, changes, limits, tiers, n := maps.Clone(f.Users), maps.Clone(f.Changes), maps.Clone(f.Limits), maps.Clone(f.Tiers), len(f.Audits)
	if err := fn(tx{f}); err != nil {
		f.Users, f.Changes, f.Limits, f.Tiers, f.Audits = users, changes, limits, tiers, f.Audits[:n]
		return err
	}
	return nil
}

// tx is a transaction of Store; its lock is held by AdminTx.
type tx struct{ f *Store }

func (t tx) User(_ context.Context, id string) (payment.User, error) {
	u, ok := t.f.Users[id]
	if !ok {
		return u, fmt.Errorf("user %s: %w", id, payment.ErrNotFound)
	}
	return u, nil
}

func (t tx) ActiveAdmins(_ context.Context, customerID string) ([]string, error) {
	var out []string
	for _, u := range t.f.Users {
		if u.CustomerID == customerID && u.Active && u.Has(payment.RoleAdmin) {
			out = append(out, u.ID)
		}
	}
	return out, nil
}

func (t tx) Pending(_ context.Context, customerID string, kind admin.Kind, target string) (string, error) {
	for _, c := range t.f.Changes {
		if c.CustomerID == customerID && c.Kind == kind && c.Target == target && c.State == admin.StatePending {
			return c.ID, nil
		}
	}
	return "", nil
}

func (t tx) Change(_ context.Context, customerID, id string) (admin.Change, error) {
	c, ok := t.f.Changes[id]
	if !ok || c.CustomerID != customerID {
		return admin.Change{}, fmt.Errorf("change %s: %w", id, payment.ErrNotFound)
	}
	return c, nil
}

func (t tx) Insert(_ context.Context, c admin.Change) error {
	t.f.Changes[c.ID] = c
	return nil
}

func (t tx) Finish(_ context.Context, c admin.Change) error {
	if t.f.Changes[c.ID].State != admin.StatePending {
		return payment.Errorf(payment.CodeAlreadyDecided, "change %s is no longer pending", c.ID)
	}
	if c.DecidedBy == c.ProposedBy {
		return fmt.Errorf("CHECK decided_by <> proposed_by")
	}
	t.f.Changes[c.ID] = c
	return nil
}

func (t tx) SetRoles(_ context.Context, userID string, roles []payment.Role) error {
	u := t.f.Users[userID]
	u.Roles = roles
	t.f.Users[userID] = u
	return nil
}

func (t tx) SetLimit(_ context.Context, userID, currency string, maxMinor int64) error {
	t.f.Limits[userID+"/"+currency] = maxMinor
	return nil
}

func (t tx) SetTier(_ context.Context, customerID string, tier payment.Tier) error {
	t.f.Tiers[fmt.Sprintf("%s/%s/%d", customerID, tier.Currency, tier.AboveMinor)] = tier
	return nil
}

func (t tx) SetActive(_ context.Context, userID string, active bool) (int, error) {
	u := t.f.Users[userID]
	u.Active = active
	t.f.Users[userID] = u
	return 0, nil
}

func (t tx) Audit(_ context.Context, a admin.Audit) error {
	t.f.Audits = append(t.f.Audits, a)
	return nil
}

// Events lists the audit events written, in order.
func (f *Store) Events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, a := range f.Audits {
		out = append(out, a.Event)
	}
	return out
}
