package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// Enroller makes a new TOTP secret for a user, stores it sealed (replacing
// any earlier one, audited as actor) and returns its otpauth:// URI and QR
// code PNG, to be shown once. The composition root provides it (the seal
// key is not this package's).
type Enroller func(ctx context.Context, userID, issuer, actor string) (uri string, qrPNG []byte, err error)

// Service is the administration use case. Its methods take the actor, the
// signed-in user id the caller has authenticated.
type Service struct {
	store  Store
	now    func() time.Time
	enroll Enroller
}

// New returns the service over store, with now as its clock and enroll
// making OTP secrets (nil: EnrollOTP refuses).
func New(store Store, now func() time.Time, enroll Enroller) *Service {
	return &Service{store: store, now: now, enroll: enroll}
}

// The most changes Changes returns, and its default.
const (
	MaxChanges     = 500
	DefaultChanges = 50
	maxReason      = 500
)

// Person returns who someone is (customer, roles, active), for the
// console's checks.
func (s *Service) Person(ctx context.Context, userID string) (payment.User, error) {
	return s.store.UserGet(ctx, userID)
}

// admin returns the actor if they are an active administrator, else a
// *payment.Error with CodeWrongRole (CodeNotFound for an unknown id).
func (s *Service) admin(ctx context.Context, actor string) (payment.User, error) {
	u, err := s.store.UserGet(ctx, actor)
	if err != nil {
		return payment.User{}, err
	}
	return u, isAdmin(u)
}

func isAdmin(u payment.User) error {
	if !u.Active || !u.Has(payment.RoleAdmin) {
		return payment.Errorf(payment.CodeWrongRole, "user %s is not an active administrator", u.ID)
	}
	return nil
}

// Users returns the actor's customer's users.
func (s *Service) Users(ctx context.Context, actor string) ([]UserView, error) {
	a, err := s.admin(ctx, actor)
	if err != nil {
		return nil, err
	}
	return s.store.AdminUsers(ctx, a.CustomerID)
}

// Tiers returns the actor's customer's approval tiers.
func (s *Service) Tiers(ctx context.Context, actor string) ([]TierView, error) {
	a, err := s.admin(ctx, actor)
	if err != nil {
		return nil, err
	}
	return s.store.AdminTiers(ctx, a.CustomerID)
}

// Changes returns the actor's customer's changes, pending first, then the
// most recently decided, at most limit (DefaultChanges when limit <= 0,
// at most MaxChanges). A pending change past Expiry is shown expired.
func (s *Service) Changes(ctx context.Context, actor string, limit int) ([]Change, error) {
	a, err := s.admin(ctx, actor)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultChanges
	}
	limit = min(limit, MaxChanges)
	cs, err := s.store.AdminChanges(ctx, a.CustomerID, limit)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for i := range cs {
		if cs[i].Expired(now) {
			cs[i].State = StateExpired
		}
	}
	return cs, nil
}

// Propose records a pending change by the actor. The proposal is checked
// (kind, fields, the user is of the actor's customer, it changes
// something, it leaves at least MinAdmins administrators); one change of
// a kind and target may be pending at a time (CodeConflict).
func (s *Service) Propose(ctx context.Context, actor string, p Proposal, reason string) (Change, error) {
	a, err := s.admin(ctx, actor)
	if err != nil {
		return Change{}, err
	}
	if p, err = p.Normalize(); err != nil {
		return Change{}, err
	}
	if reason, err = cleanReason(reason, true); err != nil {
		return Change{}, err
	}
	id, err := newID()
	if err != nil {
		return Change{}, err
	}
	c := Change{ID: id, CustomerID: a.CustomerID, Kind: p.Kind, Target: p.Target(), Proposal: p, Reason: reason,
		ProposedBy: a.ID, ProposedAt: s.now().UTC(), State: StatePending}
	err = s.store.AdminTx(ctx, a.CustomerID, func(tx Tx) error {
		if err := s.stillAdmin(ctx, tx, a); err != nil {
			return err
		}
		if err := check(ctx, tx, c); err != nil {
			return err
		}
		if err := expireOrConflict(ctx, tx, c, a.ID); err != nil {
			return err
		}
		if err := tx.Insert(ctx, c); err != nil {
			return err
		}
		return tx.Audit(ctx, audit(c, a.ID, "admin_change_proposed", reason))
	})
	if err != nil {
		return Change{}, err
	}
	return c, nil
}

// Decide approves or rejects a pending change of the actor's customer. An
// approval applies the change in the same transaction, after checking it
// again against what is stored now. The actor must be another
// administrator than the proposer and than the user the change is about
// (CodeDualControl); a change no longer pending is CodeAlreadyDecided; a
// change past Expiry becomes expired (CodeChangeExpired); a rejection
// needs a reason. Concurrent decisions of one change: one wins, the
// others find it decided.
func (s *Service) Decide(ctx context.Context, actor, changeID string, approve bool, reason string) (Change, error) {
	a, err := s.admin(ctx, actor)
	if err != nil {
		return Change{}, err
	}
	if reason, err = cleanReason(reason, !approve); err != nil {
		return Change{}, err
	}
	var out Change
	var refusal error
	err = s.store.AdminTx(ctx, a.CustomerID, func(tx Tx) error {
		refusal = nil
		if err := s.stillAdmin(ctx, tx, a); err != nil {
			return err
		}
		c, err := tx.Change(ctx, a.CustomerID, changeID)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		switch {
		case c.State != StatePending:
			return payment.Errorf(payment.CodeAlreadyDecided, "change %s is already %s", c.ID, c.State)
		case c.Expired(now):
			c.State, c.DecidedAt = StateExpired, &now
			if err := tx.Finish(ctx, c); err != nil {
				return err
			}
			out = c
			refusal = payment.Errorf(payment.CodeChangeExpired, "change %s waited more than %s for a second administrator and expired: propose it again", c.ID, Expiry)
			return tx.Audit(ctx, audit(c, a.ID, "admin_change_expired", "found expired on decision"))
		case c.ProposedBy == a.ID:
			refusal = payment.Errorf(payment.CodeDualControl, "change %s was proposed by %s: a second administrator decides it", c.ID, a.ID)
		case c.Proposal.User() == a.ID:
			refusal = payment.Errorf(payment.CodeDualControl, "change %s is about %s: another administrator decides it", c.ID, a.ID)
		}
		if refusal != nil {
			out = c
			return tx.Audit(ctx, audit(c, a.ID, "admin_change_refused", refusal.Error()))
		}
		c.DecidedBy, c.DecidedAt, c.DecidedReason = a.ID, &now, reason
		event := "admin_change_rejected"
		c.State = StateRejected
		detail := reason
		if approve {
			event, c.State = "admin_change_applied", StateApplied
			if detail, err = apply(ctx, tx, c); err != nil {
				return err
			}
			if reason != "" {
				detail = strings.TrimSpace(detail + "; reason: " + reason)
			}
		}
		if err := tx.Finish(ctx, c); err != nil {
			return err
		}
		out = c
		return tx.Audit(ctx, audit(c, a.ID, event, detail))
	})
	if err != nil {
		return Change{}, err
	}
	if refusal != nil {
		return out, refusal
	}
	return out, nil
}

// EnrollOTP gives a user of the actor's customer a new OTP secret,
// replacing any earlier one, and returns its URI and QR code, to be shown
// once and never logged. It needs no second administrator: it grants no
// power (the user still signs in with their own password), and it is
// audited (otp_enrolled or otp_reenrolled, actor user:<admin>).
func (s *Service) EnrollOTP(ctx context.Context, actor, userID, issuer string) (string, []byte, error) {
	a, err := s.admin(ctx, actor)
	if err != nil {
		return "", nil, err
	}
	if s.enroll == nil {
		return "", nil, errors.New("admin: OTP enrolment is not configured")
	}
	if _, err := s.customerUser(ctx, a.CustomerID, userID); err != nil {
		return "", nil, err
	}
	return s.enroll(ctx, userID, issuer, "user:"+a.ID)
}

// expireOrConflict refuses (CodeConflict) a new change while a change of
// its kind and target is pending, unless that one has expired: then it is
// stored expired (audited) and the new one may go in.
func expireOrConflict(ctx context.Context, tx Tx, c Change, actor string) error {
	other, err := tx.Pending(ctx, c.CustomerID, c.Kind, c.Target)
	if err != nil || other == "" {
		return err
	}
	old, err := tx.Change(ctx, c.CustomerID, other)
	if err != nil {
		return err
	}
	if !old.Expired(c.ProposedAt) {
		return payment.Errorf(payment.CodeConflict, "change %s of %s to %s is already pending: approve or reject it first", other, c.Kind, c.Target)
	}
	at := c.ProposedAt
	old.State, old.DecidedAt = StateExpired, &at
	if err := tx.Finish(ctx, old); err != nil {
		return err
	}
	return tx.Audit(ctx, audit(old, actor, "admin_change_expired", "found expired when "+c.ID+" was proposed"))
}

// customerUser returns a user of the customer; another customer's user is
// not found, as an unknown one.
func (s *Service) customerUser(ctx context.Context, customerID, userID string) (payment.User, error) {
	u, err := s.store.UserGet(ctx, userID)
	if err == nil && u.CustomerID != customerID {
		err = fmt.Errorf("user %s: %w", userID, payment.ErrNotFound)
	}
	return u, err
}

// stillAdmin checks, under the customer's lock, that the actor is still an
// active administrator of the customer.
func (s *Service) stillAdmin(ctx context.Context, tx Tx, a payment.User) error {
	u, err := tx.User(ctx, a.ID)
	if err != nil {
		return err
	}
	if u.CustomerID != a.CustomerID {
		return payment.Errorf(payment.CodeWrongRole, "user %s is not an administrator of %s", a.ID, a.CustomerID)
	}
	return isAdmin(u)
}

// cleanReason trims a reason and refuses an empty one where one is needed.
func cleanReason(reason string, required bool) (string, error) {
	reason = strings.TrimSpace(payment.Text(reason))
	if required && reason == "" {
		return "", payment.Errorf(payment.CodeReasonRequired, "a reason is required")
	}
	if len([]rune(reason)) > maxReason {
		return "", payment.Errorf(payment.CodeInvalidInput, "a reason is at most %d characters", maxReason)
	}
	return reason, nil
}

// audit is the audit line of a step of change c by actor.
func audit(c Change, actor, event, detail string) Audit {
	d := fmt.Sprintf("change %s kind=%s target=%s: %s", c.ID, c.Kind, c.Target, c.Proposal.Describe())
	if detail != "" {
		d += "; " + detail
	}
	return Audit{UserID: c.Proposal.User(), Actor: "user:" + actor, Event: event, Detail: d}
}

// newID returns a new change id.
func newID() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("admin: change id: %w", err)
	}
	return "chg-" + hex.EncodeToString(b), nil
}

// sameRoles reports whether two role lists hold the same roles.
func sameRoles(a, b []payment.Role) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
