package seal

import (
	"fmt"
	"slices"
	"strings"

	"github.com/b2bpay/b2bpay/payment"
)

// What can be wrong with a payment's approvals or timeline; each Problem
// has one of these kinds.
const (
	// ContentChanged: a decision's MAC checks, but over a content digest
	// that is not the payment's content now (amount, creditor, account…
	// changed after it was approved).
	ContentChanged = "content_changed"
	// DecisionMissing: a decision the payment's state needs is not there,
	// or the chain of decisions has a gap.
	DecisionMissing = "decision_missing"
	// DecisionMACInvalid: a decision's row does not match its MAC.
	DecisionMACInvalid = "decision_mac_invalid"
	// ActorSwapped: a decision's MAC checks only with another person than
	// the one its row names.
	ActorSwapped = "actor_swapped"
	// DecisionUnexpected: an applied decision that does not lead where the
	// payment is (a rejection on a payment said to be authorized).
	DecisionUnexpected = "decision_unexpected"
	// DutiesNotSeparated: one person holds two roles in the payment's path.
	DutiesNotSeparated = "duties_not_separated"
	// TimelineMACInvalid: a timeline entry does not match its MAC (or has
	// none).
	TimelineMACInvalid = "timeline_mac_invalid"
	// ChainBroken: the timeline's hash chain is broken.
	ChainBroken = "chain_broken"
	// StateMismatch: the payment's state or version is not where its
	// timeline ends.
	StateMismatch = "state_mismatch"
)

// Problem is one thing found wrong with a payment.
type Problem struct {
	Kind   string
	Detail string
}

// String renders a problem as "kind: detail".
func (p Problem) String() string { return p.Kind + ": " + p.Detail }

// Kinds lists the distinct kinds of problems, in the order found.
func Kinds(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		if !slices.Contains(out, p.Kind) {
			out = append(out, p.Kind)
		}
	}
	return out
}

// Summary renders problems on one line, separated by "; ".
func Summary(ps []Problem) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// Stored is an applied decision as read back from storage: the fields its
// MAC covers (Digest is the digest recorded with it, Prev is ignored: the
// chain gives it), and the MAC recorded.
type Stored struct {
	Decision
	MAC []byte
}

// CheckApprovals checks a payment's applied decisions (in any order)
// against the payment as it is now: each decision's MAC, with the chain of
// decisions and the payment's required authorizers; that each approved the
// payment's current content digest; and that the decisions the payment's
// state needs are there, by distinct people: the applicant's confirmation,
// a review, and as many authorizations as the payment needs. others are
// more people to try when a MAC does not check (for example the actors of
// the timeline), to tell a swapped actor from another change. It returns
// nothing when all is well.
func (k *Key) CheckApprovals(p *payment.Payment, stored []Stored, others ...string) []Problem {
	ds := slices.Clone(stored)
	slices.SortStableFunc(ds, func(a, b Stored) int { return a.Seq - b.Seq })
	current := p.Digest()
	var problems []Problem
	add := func(kind, format string, args ...any) {
		problems = append(problems, Problem{Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
	candidates := func() []string {
		out := append([]string{p.ApplicantID}, others...)
		for _, d := range ds {
			out = append(out, d.ActorID)
		}
		return out
	}

	var valid []Stored
	var prev []byte
	prevSeq := 0
	for _, d := range ds {
		name := func() string { return fmt.Sprintf("decision %d (%s %s by %s)", d.Seq, d.Stage, d.Verdict, d.ActorID) }
		after := prevSeq
		want := d.Decision
		want.PaymentID, want.RequiredAuthorizers, want.Prev = p.ID, p.RequiredAuthorizers, prev
		prev, prevSeq = d.MAC, d.Seq
		switch {
		case d.Seq != after+1:
			add(DecisionMissing, "%s does not follow decision %d: the chain of decisions has a gap", name(), after)
			continue
		case len(d.MAC) == 0:
			add(DecisionMACInvalid, "%s has no MAC", name())
			continue
		case k.checks(want, d.MAC):
			if d.Verdict == payment.VerdictApprove && d.Digest != current {
				add(ContentChanged, "%s approved content digest %s; the payment's content digest is now %s", name(), payment.Clip(d.Digest, 16), payment.Clip(current, 16))
				continue
			}
			valid = append(valid, d)
			continue
		}
		if who, ok := k.swapped(want, d.MAC, candidates()); ok {
			add(ActorSwapped, "%s was made by %s", name(), who)
			continue
		}
		if n, ok := k.requiredChanged(want, d.MAC); ok {
			add(DecisionMACInvalid, "%s was made when the payment needed %d authorizers; it now says %d", name(), n, p.RequiredAuthorizers)
			continue
		}
		add(DecisionMACInvalid, "%s does not match its MAC", name())
	}

	need := needs(p.State)
	if need == 0 {
		return problems
	}
	present := func(s payment.Stage) int {
		n := 0
		for _, d := range ds {
			if d.Stage == s && d.Verdict == payment.VerdictApprove {
				n++
			}
		}
		return n
	}
	var reviewer string
	var authorizers []string
	for _, d := range valid {
		switch {
		case d.Verdict != payment.VerdictApprove:
			add(DecisionUnexpected, "decision %d (%s %s by %s) does not lead to %s", d.Seq, d.Stage, d.Verdict, d.ActorID, p.State)
		case d.Stage == payment.StageConfirmation && d.ActorID != p.ApplicantID:
			add(DutiesNotSeparated, "decision %d: %s confirmed, not the applicant %s", d.Seq, d.ActorID, p.ApplicantID)
		case d.Stage == payment.StageReview:
			if d.ActorID == p.ApplicantID {
				add(DutiesNotSeparated, "decision %d: the applicant %s reviewed", d.Seq, d.ActorID)
			} else if reviewer == "" {
				reviewer = d.ActorID
			}
		case d.Stage == payment.StageAuthorization:
			if d.ActorID == p.ApplicantID || d.ActorID == reviewer || slices.Contains(authorizers, d.ActorID) {
				add(DutiesNotSeparated, "decision %d: %s authorized after acting on the payment already", d.Seq, d.ActorID)
			} else {
				authorizers = append(authorizers, d.ActorID)
			}
		}
	}
	confirmed := slices.ContainsFunc(valid, func(d Stored) bool {
		return d.Stage == payment.StageConfirmation && d.Verdict == payment.VerdictApprove && d.ActorID == p.ApplicantID
	})
	if !confirmed && present(payment.StageConfirmation) == 0 {
		add(DecisionMissing, "no confirmation by the applicant %s, and the payment is %s", p.ApplicantID, p.State)
	}
	if need >= 2 && reviewer == "" && present(payment.StageReview) == 0 {
		add(DecisionMissing, "no review, and the payment is %s", p.State)
	}
	if need >= 3 && len(authorizers) < p.RequiredAuthorizers && present(payment.StageAuthorization) < p.RequiredAuthorizers {
		add(DecisionMissing, "%d of %d authorizations, and the payment is %s", present(payment.StageAuthorization), p.RequiredAuthorizers, p.State)
	}
	return problems
}

// needs is how many stages of the approval a payment in state s must have
// passed: 0 none yet (or ended without moving money), 1 confirmation, 2
// review, 3 every authorization.
func needs(s payment.State) int {
	switch s {
	case payment.StateAwaitingReview:
		return 1
	case payment.StateAwaitingAuthorization:
		return 2
	case payment.StateAuthorized, payment.StateExported, payment.StateSettled, payment.StateReturned, payment.StateHeld:
		return 3
	}
	return 0
}

func (k *Key) checks(d Decision, mac []byte) bool { return k.verify(decisionInput(d), mac) }

// swapped finds another person with whom the decision's MAC checks.
func (k *Key) swapped(d Decision, mac []byte, candidates []string) (string, bool) {
	for _, who := range candidates {
		if who == d.ActorID {
			continue
		}
		try := d
		try.ActorID = who
		if k.checks(try, mac) {
			return who, true
		}
	}
	return "", false
}

// requiredChanged finds the required authorizers with which the MAC
// checks, when the payment's count was changed.
func (k *Key) requiredChanged(d Decision, mac []byte) (int, bool) {
	for n := 1; n <= 5; n++ {
		if n == d.RequiredAuthorizers {
			continue
		}
		try := d
		try.RequiredAuthorizers = n
		if k.checks(try, mac) {
			return n, true
		}
	}
	return 0, false
}

// CheckTimeline checks a payment's timeline (in order): the hash chain up
// to the payment's head hash, each entry's MAC over the payment's current
// content digest, and that the payment's state and version are where the
// timeline ends. It returns nothing when all is well.
func (k *Key) CheckTimeline(p *payment.Payment, entries []payment.Entry) []Problem {
	var problems []Problem
	if seq, why := payment.VerifyChain(entries, p.HeadHash); seq != 0 {
		problems = append(problems, Problem{Kind: ChainBroken, Detail: fmt.Sprintf("entry %d: %s", seq, why)})
	}
	digest := p.Digest()
	bad, first := 0, ""
	for _, e := range entries {
		if k.Sealed(digest, e) {
			continue
		}
		if bad++; first == "" {
			why := "does not match its MAC"
			if len(e.MAC) == 0 {
				why = "has no MAC"
			}
			first = fmt.Sprintf("entry %d (%s by %s) %s", e.Seq, e.Action, e.Actor, why)
		}
	}
	if bad > 0 {
		problems = append(problems, Problem{Kind: TimelineMACInvalid, Detail: fmt.Sprintf("%s (%d of %d entries fail)", first, bad, len(entries))})
	}
	switch {
	case len(entries) == 0:
		problems = append(problems, Problem{Kind: StateMismatch, Detail: "the payment has no timeline"})
	case entries[len(entries)-1].To != p.State || len(entries) != p.Version:
		last := entries[len(entries)-1]
		problems = append(problems, Problem{Kind: StateMismatch, Detail: fmt.Sprintf("the payment is %s at version %d; its timeline ends at %s after %d entries",
			p.State, p.Version, last.To, len(entries))})
	}
	return problems
}

// UserActors lists the people who acted in a timeline, for CheckApprovals.
func UserActors(entries []payment.Entry) []string {
	var out []string
	for _, e := range entries {
		if e.Actor.Kind == payment.ActorUser && !slices.Contains(out, e.Actor.ID) {
			out = append(out, e.Actor.ID)
		}
	}
	return out
}
