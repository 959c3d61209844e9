package payment_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// TestMayDecideExclusions: each reason a person may not decide a payment,
// one at a time, with the code Decide gives for it.
func TestMayDecideExclusions(t *testing.T) {
	other := person("chen.jie", payment.RoleReviewer, payment.RoleAuthorizer)
	stranger := other
	stranger.CustomerID = "CUST-OTHER"
	disabled := other
	disabled.Active = false
	both := person("zhang.wei", payment.RoleApplicant, payment.RoleReviewer, payment.RoleAuthorizer)
	tier2 := func(p *payment.Payment) { p.RequiredAuthorizers = 2 }
	for _, c := range []struct {
		name  string
		st    payment.State
		mod   func(*payment.Payment)
		stage payment.Stage
		who   payment.User
		facts payment.ApprovalFacts
		want  payment.Code // "" for may decide
	}{
		{"the applicant confirms", payment.StateAwaitingConfirmation, nil, payment.StageConfirmation, theApplicant, payment.ApprovalFacts{}, ""},
		{"another applicant", payment.StateAwaitingConfirmation, nil, payment.StageConfirmation, person("liu.yang", payment.RoleApplicant), payment.ApprovalFacts{}, payment.CodeNotApplicant},
		{"a reviewer", payment.StateAwaitingReview, nil, payment.StageReview, theReviewer, payment.ApprovalFacts{Acted: []string{"zhang.wei"}}, ""},
		{"another customer", payment.StateAwaitingReview, nil, payment.StageReview, stranger, payment.ApprovalFacts{}, payment.CodeWrongCustomer},
		{"disabled", payment.StateAwaitingReview, nil, payment.StageReview, disabled, payment.ApprovalFacts{}, payment.CodeUserInactive},
		{"wrong role", payment.StateAwaitingReview, nil, payment.StageReview, theAuthorizer, payment.ApprovalFacts{}, payment.CodeWrongRole},
		{"the applicant reviewing", payment.StateAwaitingReview, nil, payment.StageReview, both, payment.ApprovalFacts{}, payment.CodeSeparationOfDuties},
		{"the reviewer authorizing", payment.StateAwaitingAuthorization, nil, payment.StageAuthorization, other, payment.ApprovalFacts{Acted: []string{"zhang.wei", "chen.jie"}}, payment.CodeSeparationOfDuties},
		{"over limit", payment.StateAwaitingAuthorization, nil, payment.StageAuthorization, theAuthorizer, payment.ApprovalFacts{Limit: limit(128640049)}, payment.CodeOverLimit},
		{"at the limit", payment.StateAwaitingAuthorization, nil, payment.StageAuthorization, theAuthorizer, payment.ApprovalFacts{Limit: limit(128640050)}, ""},
		{"first of two", payment.StateAwaitingAuthorization, tier2, payment.StageAuthorization, theAuthorizer, payment.ApprovalFacts{RequiredAuthorizers: 2, Acted: []string{"zhang.wei", "li.na"}}, ""},
		{"already authorized by me, 1 of 2", payment.StateAwaitingAuthorization, tier2, payment.StageAuthorization, theAuthorizer,
			payment.ApprovalFacts{RequiredAuthorizers: 2, Authorizations: 1, Acted: []string{"zhang.wei", "li.na", "wang.fang"}}, payment.CodeSeparationOfDuties},
		{"second of two", payment.StateAwaitingAuthorization, tier2, payment.StageAuthorization, other,
			payment.ApprovalFacts{RequiredAuthorizers: 2, Authorizations: 1, Acted: []string{"zhang.wei", "li.na", "wang.fang"}}, ""},
		{"not there yet", payment.StateAwaitingReview, nil, payment.StageAuthorization, theAuthorizer, payment.ApprovalFacts{}, payment.CodeInvalidTransition},
		{"decided already", payment.StateAuthorized, nil, payment.StageAuthorization, theAuthorizer, payment.ApprovalFacts{}, payment.CodeAlreadyDecided},
		{"no such stage", payment.StateAwaitingReview, nil, payment.Stage("audit"), theReviewer, payment.ApprovalFacts{}, payment.CodeInvalidInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := waiting(c.st)
			if c.mod != nil {
				c.mod(p)
			}
			err := p.MayDecide(c.who, c.stage, payment.VerdictApprove, c.facts)
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.Equal(t, c.want, payment.ErrorCode(err), "%v", err)
		})
	}
}

// TestMayDecideLimitOnlyForApprovals: a person over their limit may still
// reject (as Decide lets them), but the task list, which asks for an
// approval, leaves the payment out.
func TestMayDecideLimitOnlyForApprovals(t *testing.T) {
	p := waiting(payment.StateAwaitingReview)
	f := payment.ApprovalFacts{Limit: limit(1)}
	require.NoError(t, p.MayDecide(theReviewer, payment.StageReview, payment.VerdictReject, f))
	require.Equal(t, payment.CodeOverLimit, payment.ErrorCode(p.MayDecide(theReviewer, payment.StageReview, payment.VerdictApprove, f)))
}

// TestMayDecideAgreesWithDecide: over every combination of state, stage,
// person and facts, an approval of the content shown is applied by Decide
// exactly when MayDecide holds, and refused with the same code otherwise:
// the rule has one home, and the list and the decision cannot drift apart.
func TestMayDecideAgreesWithDecide(t *testing.T) {
	people := []payment.User{theApplicant, theReviewer, theAuthorizer,
		person("chen.jie", payment.RoleReviewer, payment.RoleAuthorizer),
		person("zhang.wei", payment.RoleApplicant, payment.RoleReviewer, payment.RoleAuthorizer)}
	stranger := theAuthorizer
	stranger.CustomerID = "CUST-OTHER"
	disabled := theReviewer
	disabled.Active = false
	people = append(people, stranger, disabled)
	facts := []payment.ApprovalFacts{
		{},
		{Acted: []string{"zhang.wei"}},
		{Acted: []string{"zhang.wei", "li.na"}},
		{Acted: []string{"zhang.wei", "chen.jie"}},
		{Acted: []string{"zhang.wei", "li.na", "wang.fang"}, Authorizations: 1, RequiredAuthorizers: 2},
		{Limit: limit(100)},
		{Limit: limit(1 << 40)},
	}
	checked, allowed := 0, 0
	for _, st := range payment.States {
		for _, stage := range payment.Stages {
			for _, who := range people {
				for i, f := range facts {
					p := waiting(st)
					p.RequiredAuthorizers = max(f.RequiredAuthorizers, 1)
					name := fmt.Sprintf("%s/%s/%s/facts%d", st, stage, who.ID, i)
					may := p.MayDecide(who, stage, payment.VerdictApprove, f)
					_, err := p.Decide(payment.DecisionInput{Stage: stage, Verdict: payment.VerdictApprove, Actor: who, Digest: p.Digest()}, f, decideNow)
					require.Equal(t, payment.ErrorCode(may), payment.ErrorCode(err), name)
					checked++
					if may == nil {
						allowed++
					}
				}
			}
		}
	}
	require.Positive(t, allowed)
	require.Greater(t, checked, allowed)
}
