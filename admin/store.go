package admin

import (
	"context"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// Store is what administration needs of storage. It holds no rules: it
// reads, locks and writes what the Service says.
type Store interface {
	// UserGet returns a user; payment.ErrNotFound if there is none.
	UserGet(ctx context.Context, id string) (payment.User, error)
	// AdminUsers returns the users of a customer, by id.
	AdminUsers(ctx context.Context, customerID string) ([]UserView, error)
	// AdminTiers returns the approval tiers of a customer, by currency
	// and amount.
	AdminTiers(ctx context.Context, customerID string) ([]TierView, error)
	// AdminChanges returns at most limit changes of a customer: the
	// pending ones first (newest first), then the decided and expired
	// ones, most recently decided first.
	AdminChanges(ctx context.Context, customerID string, limit int) ([]Change, error)
	// AdminTx runs fn in one transaction that holds the customer's
	// administration lock (administration transactions of one customer
	// run one after the other), and commits when fn returns nil. A
	// transaction that lost a race is run again from the start: fn keeps
	// nothing from one run to the next.
	AdminTx(ctx context.Context, customerID string, fn func(Tx) error) error
}

// Tx is one administration transaction.
type Tx interface {
	// User reads a user and locks the row (FOR NO KEY UPDATE);
	// payment.ErrNotFound if there is none.
	User(ctx context.Context, id string) (payment.User, error)
	// ActiveAdmins returns the ids of the customer's active users who
	// hold RoleAdmin.
	ActiveAdmins(ctx context.Context, customerID string) ([]string, error)
	// Pending returns the id of the customer's pending change of this
	// kind and target, "" if there is none.
	Pending(ctx context.Context, customerID string, kind Kind, target string) (string, error)
	// Change reads and locks (FOR UPDATE) a change of the customer;
	// payment.ErrNotFound if there is none, or it is another customer's.
	Change(ctx context.Context, customerID, id string) (Change, error)
	// Insert writes a new pending change.
	Insert(ctx context.Context, c Change) error
	// Finish writes a change's decision (state, decided by, at, reason),
	// guarded by state = 'pending': a change no longer pending is a
	// *payment.Error with CodeAlreadyDecided.
	Finish(ctx context.Context, c Change) error
	// SetRoles replaces a user's roles.
	SetRoles(ctx context.Context, userID string, roles []payment.Role) error
	// SetLimit sets a user's limit in a currency (replacing any earlier).
	SetLimit(ctx context.Context, userID, currency string, maxMinor int64) error
	// SetTier sets a customer's approval tier (replacing the one of the
	// same currency and amount).
	SetTier(ctx context.Context, customerID string, t payment.Tier) error
	// SetActive enables or disables a user; disabling revokes the user's
	// sessions and returns how many.
	SetActive(ctx context.Context, userID string, active bool) (revoked int, err error)
	// Audit appends a line to the audit trail.
	Audit(ctx context.Context, a Audit) error
}

// Audit is one line of the audit trail: never a secret.
type Audit struct {
	UserID string // the user concerned, "" for a tier
	Actor  string // "user:<id>"
	Event  string // admin_change_proposed, _applied, _rejected, _expired, _refused
	Detail string
}

// UserView is a user as the administration shows it.
type UserView struct {
	ID               string
	Name             string
	Roles            []payment.Role
	Active           bool
	Limits           []Limit // by currency
	OTPEnrolled      bool
	OTPLockedUntil   *time.Time // nil unless locked now
	LoginLockedUntil *time.Time // nil unless locked now
}

// Limit is the most a user may approve in a currency, in minor units.
type Limit struct {
	Currency string
	MaxMinor int64
}

// TierView is an approval tier of a customer: payments above AboveMinor
// in Currency need Authorizers distinct authorizers.
type TierView = payment.Tier
