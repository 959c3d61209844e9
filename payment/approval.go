package payment

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stage is a step of the approval flow that a person decides.
type Stage string

// The stages of the seed: the applicant's confirmation (steps 4-6), review
// (7-10) and authorization (11-14).
const (
	StageConfirmation  Stage = "confirmation"
	StageReview        Stage = "review"
	StageAuthorization Stage = "authorization"
)

// Stages lists the stages in flow order.
var Stages = []Stage{StageConfirmation, StageReview, StageAuthorization}

// Role is the role a stage requires.
func (s Stage) Role() Role {
	switch s {
	case StageConfirmation:
		return RoleApplicant
	case StageReview:
		return RoleReviewer
	case StageAuthorization:
		return RoleAuthorizer
	}
	return ""
}

// State is the state a payment waits in for the stage.
func (s Stage) State() State {
	switch s {
	case StageConfirmation:
		return StateAwaitingConfirmation
	case StageReview:
		return StateAwaitingReview
	case StageAuthorization:
		return StateAwaitingAuthorization
	}
	return ""
}

// Valid reports whether s is one of Stages.
func (s Stage) Valid() bool { return slices.Contains(Stages, s) }

// StageOf returns the stage a payment in state st waits for, if any.
func StageOf(st State) (Stage, bool) {
	for _, s := range Stages {
		if s.State() == st {
			return s, true
		}
	}
	return "", false
}

// Verdict is what a person decides at a stage.
type Verdict string

// The verdicts.
const (
	VerdictApprove Verdict = "approve"
	VerdictReject  Verdict = "reject"
)

// NeedsOTP reports whether a verdict at a stage must be confirmed with a
// one-time password under the default policy: the applicant's
// confirmation, the review and every authorization.
func NeedsOTP(s Stage, v Verdict) bool { return NeedsOTPFor(s, v, true) }

// NeedsOTPFor reports whether a verdict at a stage must be confirmed with
// a one-time password for a customer whose review policy is reviewOTP
// (on by default; a customer may turn it off): an approval at
// confirmation and authorization always, at review when reviewOTP holds.
func NeedsOTPFor(s Stage, v Verdict, reviewOTP bool) bool {
	return v == VerdictApprove && (s == StageConfirmation || s == StageAuthorization || s == StageReview && reviewOTP)
}

// DecisionInput is one person's decision about one payment.
type DecisionInput struct {
	Stage   Stage
	Verdict Verdict
	Actor   User
	Reason  string
	// Digest is the content digest the person was shown and approved.
	Digest string
}

// ApprovalFacts is what the store knows about earlier decisions and the
// rules that apply, read in the decision's transaction.
type ApprovalFacts struct {
	// Acted are the users who already decided this payment (applied).
	Acted []string
	// Authorizations counts the applied authorizations so far.
	Authorizations int
	// RequiredAuthorizers is how many distinct authorizers the payment needs.
	RequiredAuthorizers int
	// Limit is the actor's amount limit in the payment's currency, in minor
	// units; nil when the actor has none.
	Limit *int64
}

// Add records one applied decision of the payment: who made it and at
// which stage (an authorization counts towards the required ones). The
// decision path and the task list build their facts with it, so both count
// alike.
func (f *ApprovalFacts) Add(actorID string, stage Stage) {
	f.Acted = append(f.Acted, actorID)
	if stage == StageAuthorization {
		f.Authorizations++
	}
}

// Decide applies a person's decision to p, after every check of the seed:
// MayDecide (the payment waits for this stage; the person is active, of
// the payer customer, holds the stage's role, is the applicant at
// confirmation and nobody who already acted otherwise; an approval is
// within their limit), then a rejection has a reason and an approval
// approves the content they were shown. It returns the timeline entry;
// on refusal p is unchanged. The OTP is checked by the caller.
func (p *Payment) Decide(in DecisionInput, f ApprovalFacts, now time.Time) (Entry, error) {
	if err := p.checkDecision(in, f); err != nil {
		return Entry{}, err
	}
	action := ActionReject
	note := in.Reason
	if in.Verdict == VerdictApprove {
		switch in.Stage {
		case StageConfirmation:
			action = ActionConfirm
		case StageReview:
			action = ActionApprove
		case StageAuthorization:
			action = ActionAuthorize
			if f.Authorizations+1 < max(f.RequiredAuthorizers, 1) {
				action = ActionAuthorizePartial
			}
			note = "authorization " + strconv.Itoa(f.Authorizations+1) + " of " + strconv.Itoa(max(f.RequiredAuthorizers, 1))
		}
	}
	var code Code
	if in.Verdict == VerdictReject {
		code = CodeRejectedBy(in.Stage)
	}
	return p.apply(action, Actor{Kind: ActorUser, ID: in.Actor.ID}, now, note, code)
}

// CodeRejectedBy is the code a rejection at a stage leaves in the timeline.
func CodeRejectedBy(s Stage) Code { return Code("rejected_at_" + string(s)) }

func (p *Payment) checkDecision(in DecisionInput, f ApprovalFacts) error {
	if err := p.MayDecide(in.Actor, in.Stage, in.Verdict, f); err != nil {
		return err
	}
	switch {
	case in.Verdict == VerdictReject && strings.TrimSpace(in.Reason) == "":
		return Errorf(CodeReasonRequired, "a rejection needs a reason")
	case in.Verdict == VerdictApprove && in.Digest != p.Digest():
		return Errorf(CodeContentChanged, "the content approved (digest %s) is not the payment's content (digest %s)", Clip(in.Digest, 64), p.Digest())
	}
	return nil
}

// stageIndex orders the states of the flow, for telling "already decided"
// from "not yet there".
func stageIndex(s State) int {
	return slices.Index(States, s)
}

// Cancel cancels p on behalf of its applicant or its upstream, until it is
// authorized; after that it is frozen.
func (p *Payment) Cancel(by Actor, reason string, now time.Time) (Entry, error) {
	switch {
	case p.State.Frozen():
		return Entry{}, Errorf(CodeFrozen, "payment %s is %s: after authorization it can no longer be cancelled", p.ID, p.State)
	case by.Kind == ActorUser && by.ID != p.ApplicantID:
		return Entry{}, Errorf(CodeNotApplicant, "only the applicant %s or the upstream may cancel payment %s", p.ApplicantID, p.ID)
	case by.Kind == ActorUpstream && by.ID != p.UpstreamID:
		return Entry{}, Errorf(CodeUpstreamNotPermitted, "payment %s belongs to another upstream", p.ID)
	}
	return p.Apply(ActionCancel, by, now, reason)
}

// Digest is the hex SHA-256 of what a person approves: the payment's id and
// content (order, amount, currency, debtor, creditor, date, remittance).
// Any change of content changes the digest.
func (p *Payment) Digest() string {
	h := sha256.New()
	for _, f := range []string{
		"b2bpay.payment-content.v1", p.ID, p.OrderRef, strconv.FormatInt(p.AmountMinor, 10), p.Currency,
		p.BankID, p.DebtorAccount, p.Creditor.Name, p.Creditor.Account, p.Creditor.BankID,
		p.ExecutionDate.Format(DateLayout), p.Remittance,
	} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// RequiredAuthorizers is how many distinct authorizers an amount needs
// under a customer's tiers: the largest count whose threshold the amount
// exceeds, and at least one.
func RequiredAuthorizers(amountMinor int64, tiers []Tier) int {
	n := 1
	for _, t := range tiers {
		if amountMinor > t.AboveMinor && t.Authorizers > n {
			n = t.Authorizers
		}
	}
	return n
}

// Tier is one rule of a customer's approval policy: payments above
// AboveMinor (in one currency) need Authorizers distinct authorizers.
type Tier struct {
	Currency    string
	AboveMinor  int64
	Authorizers int
}
