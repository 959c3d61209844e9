package admin

import (
	"context"
	"fmt"
	"slices"

	"github.com/b2bpay/b2bpay/payment"
)

// check checks change c against what is stored now, inside tx: its user
// is a user of the customer (another customer's is not found), it changes
// something, and it leaves the customer at least MinAdmins active
// administrators when it removes one.
func check(ctx context.Context, tx Tx, c Change) error {
	p := c.Proposal
	if p.User() == "" {
		return nil
	}
	u, err := tx.User(ctx, p.UserID)
	if err != nil {
		return err
	}
	if u.CustomerID != c.CustomerID {
		return fmt.Errorf("user %s: %w", p.UserID, payment.ErrNotFound)
	}
	after := u
	switch p.Kind {
	case KindRoles:
		after.Roles = rolesAfter(u, p.Roles)
		if sameRoles(after.Roles, u.Roles) {
			return payment.Errorf(payment.CodeInvalidInput, "user %s already holds exactly these roles", u.ID)
		}
	case KindActive:
		if u.Active == p.Active {
			return payment.Errorf(payment.CodeInvalidInput, "user %s is already %s", u.ID, map[bool]string{true: "enabled", false: "disabled"}[p.Active])
		}
		after.Active = p.Active
	default:
		return nil
	}
	if isAdmin(u) == nil && isAdmin(after) != nil {
		admins, err := tx.ActiveAdmins(ctx, c.CustomerID)
		if err != nil {
			return err
		}
		if left := len(admins) - 1; left < MinAdmins {
			return payment.Errorf(payment.CodeDualControl, "this would leave %d active administrator(s) of %s; dual control needs at least %d: add another administrator first", left, c.CustomerID, MinAdmins)
		}
	}
	return nil
}

// rolesAfter is a user's roles once a change gives them roles: those
// roles, and the operator role if the user held it (the bank's, never
// granted or removed by an administrator).
func rolesAfter(u payment.User, roles []payment.Role) []payment.Role {
	out := slices.Clone(roles)
	if u.Has(payment.RoleOperator) && !slices.Contains(out, payment.RoleOperator) {
		out = append(out, payment.RoleOperator)
	}
	slices.Sort(out)
	return out
}

// apply checks change c again (its proposer is still an active
// administrator of the customer, and check) and makes it, inside tx. It
// returns what it did beyond the proposal, for the audit line.
func apply(ctx context.Context, tx Tx, c Change) (string, error) {
	p, err := c.Proposal.Normalize()
	if err != nil {
		return "", err
	}
	c.Proposal = p
	maker, err := tx.User(ctx, c.ProposedBy)
	if err != nil {
		return "", err
	}
	if maker.CustomerID != c.CustomerID || isAdmin(maker) != nil {
		return "", payment.Errorf(payment.CodeWrongRole, "change %s cannot be applied: its proposer %s is no longer an active administrator; reject it", c.ID, c.ProposedBy)
	}
	if err := check(ctx, tx, c); err != nil {
		return "", err
	}
	switch p.Kind {
	case KindRoles:
		u, err := tx.User(ctx, p.UserID)
		if err != nil {
			return "", err
		}
		return "", tx.SetRoles(ctx, p.UserID, rolesAfter(u, p.Roles))
	case KindLimit:
		return "", tx.SetLimit(ctx, p.UserID, p.Currency, p.MaxMinor)
	case KindTier:
		return "", tx.SetTier(ctx, c.CustomerID, payment.Tier{Currency: p.Currency, AboveMinor: p.AboveMinor, Authorizers: p.Authorizers})
	case KindActive:
		n, err := tx.SetActive(ctx, p.UserID, p.Active)
		if err != nil || p.Active {
			return "", err
		}
		return fmt.Sprintf("sessions revoked: %d", n), nil
	}
	return "", payment.Errorf(payment.CodeInvalidInput, "kind %q is unknown", p.Kind)
}
