// Package admin is the administration use case of a customer's
// administrators, with dual control (maker/checker): one administrator
// proposes a change to a user's roles, a user's limit, an approval tier or
// whether a user is active, and a second administrator of the same
// customer approves it (then it is applied, in the same transaction) or
// rejects it. Both steps, and OTP enrolments, are audited. It holds the
// rules only: storage is the Store of store.go, implemented by postgres;
// sign-in is the caller's (the actor is an authenticated user id).
package admin

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// Kind is what a change changes.
type Kind string

// The kinds of change.
const (
	KindRoles  Kind = "user_roles"    // a user's roles
	KindLimit  Kind = "user_limit"    // a user's limit in a currency
	KindTier   Kind = "customer_tier" // an approval tier of the customer
	KindActive Kind = "user_active"   // a user enabled or disabled
)

// Kinds lists every kind.
var Kinds = []Kind{KindRoles, KindLimit, KindTier, KindActive}

// State is where a change is: pending until a second administrator
// decides it or it expires.
type State string

// The states of a change.
const (
	StatePending  State = "pending"
	StateApplied  State = "applied"
	StateRejected State = "rejected"
	StateExpired  State = "expired"
)

// Expiry is how long a change waits for its second administrator.
const Expiry = 24 * time.Hour

// MinAdmins is the fewest active administrators a change may leave a
// customer with when it removes one: with fewer, nobody could approve the
// next change.
const MinAdmins = 2

// GrantableRoles are the roles an administrator may give or take away.
// RoleOperator is the bank's (given with `b2bpay user add`): a change
// neither grants nor removes it.
var GrantableRoles = []payment.Role{payment.RoleApplicant, payment.RoleReviewer, payment.RoleAuthorizer, payment.RoleAdmin}

// Proposal is what a change would do. The fields used depend on Kind:
// KindRoles UserID and Roles; KindLimit UserID, Currency and MaxMinor;
// KindTier Currency, AboveMinor and Authorizers; KindActive UserID and
// Active.
type Proposal struct {
	Kind        Kind           `json:"kind"`
	UserID      string         `json:"user_id,omitempty"`
	Roles       []payment.Role `json:"roles,omitempty"`
	Currency    string         `json:"currency,omitempty"`
	MaxMinor    int64          `json:"max_minor,omitempty"`   // minor units
	AboveMinor  int64          `json:"above_minor,omitempty"` // minor units
	Authorizers int            `json:"authorizers,omitempty"`
	Active      bool           `json:"active,omitempty"`
}

// Change is a proposal with its life: who proposed it, when and why, and
// who decided it.
type Change struct {
	ID         string
	CustomerID string
	Kind       Kind
	// Target is the user the change is about, or tier:<currency>:<above>
	// for an approval tier.
	Target        string
	Proposal      Proposal
	Reason        string
	ProposedBy    string
	ProposedAt    time.Time
	State         State
	DecidedBy     string     // "" while pending, and for an expired change
	DecidedAt     *time.Time // nil while pending
	DecidedReason string
}

// Expired reports whether a pending change has waited Expiry or longer at
// now.
func (c Change) Expired(now time.Time) bool {
	return c.State == StatePending && !now.Before(c.ProposedAt.Add(Expiry))
}

// User reports the user a change is about, "" for an approval tier.
func (p Proposal) User() string {
	if p.Kind == KindTier {
		return ""
	}
	return p.UserID
}

// Target is the change's target: its user, or tier:<currency>:<above>.
func (p Proposal) Target() string {
	if p.Kind == KindTier {
		return fmt.Sprintf("tier:%s:%d", p.Currency, p.AboveMinor)
	}
	return p.UserID
}

// Normalize checks a proposal on its own and returns it cleaned: roles
// sorted without repeats, fields of other kinds cleared. Every refusal is
// a *payment.Error with CodeInvalidInput, CodeInvalidField or
// CodeInvalidCurrency.
func (p Proposal) Normalize() (Proposal, error) {
	out := Proposal{Kind: p.Kind}
	switch p.Kind {
	case KindRoles, KindLimit, KindActive:
		if err := payment.ValidID("user_id", p.UserID); err != nil {
			return Proposal{}, err
		}
		out.UserID = p.UserID
	case KindTier:
	default:
		return Proposal{}, payment.Errorf(payment.CodeInvalidInput, "kind %q is not one of %s", payment.Clip(string(p.Kind), 40), kindList())
	}
	switch p.Kind {
	case KindRoles:
		if len(p.Roles) == 0 {
			return Proposal{}, payment.Errorf(payment.CodeInvalidInput, "a user needs at least one role (to take every role away, disable the user)")
		}
		for _, r := range p.Roles {
			if !slices.Contains(GrantableRoles, r) {
				return Proposal{}, payment.Errorf(payment.CodeInvalidInput, "role %q is not one an administrator may grant (applicant, reviewer, authorizer, admin)", payment.Clip(string(r), 40))
			}
		}
		out.Roles = slices.Clone(p.Roles)
		slices.Sort(out.Roles)
		out.Roles = slices.Compact(out.Roles)
	case KindLimit:
		if err := payment.ValidCurrency(p.Currency); err != nil {
			return Proposal{}, err
		}
		if p.MaxMinor <= 0 {
			return Proposal{}, payment.Errorf(payment.CodeInvalidInput, "a limit must be positive, not %d", p.MaxMinor)
		}
		out.Currency, out.MaxMinor = p.Currency, p.MaxMinor
	case KindTier:
		if err := payment.ValidCurrency(p.Currency); err != nil {
			return Proposal{}, err
		}
		if p.AboveMinor < 0 || p.Authorizers < 1 || p.Authorizers > 5 {
			return Proposal{}, payment.Errorf(payment.CodeInvalidInput, "a tier needs an amount of at least 0 and 1 to 5 authorizers")
		}
		out.Currency, out.AboveMinor, out.Authorizers = p.Currency, p.AboveMinor, p.Authorizers
	case KindActive:
		out.Active = p.Active
	}
	return out, nil
}

// Describe says what a proposal does, for the audit trail and the
// console: never a secret.
func (p Proposal) Describe() string {
	switch p.Kind {
	case KindRoles:
		rs := make([]string, len(p.Roles))
		for i, r := range p.Roles {
			rs[i] = string(r)
		}
		return fmt.Sprintf("roles of %s := %s", p.UserID, strings.Join(rs, ","))
	case KindLimit:
		return fmt.Sprintf("limit of %s := %s %s", p.UserID, payment.FormatAmount(p.MaxMinor, p.Currency), p.Currency)
	case KindTier:
		return fmt.Sprintf("above %s %s: %d authorizers", payment.FormatAmount(p.AboveMinor, p.Currency), p.Currency, p.Authorizers)
	case KindActive:
		if p.Active {
			return "enable " + p.UserID
		}
		return "disable " + p.UserID
	}
	return string(p.Kind)
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
