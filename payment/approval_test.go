package payment_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// decideNow is the pinned time of the approval tests, with nanoseconds
// that entries do not keep.
var decideNow = time.Date(2026, 3, 11, 2, 30, 0, 123456789, time.UTC)

// waiting returns a payment of customerID, applied for by zhang.wei, that
// waits in state st.
func waiting(st payment.State) *payment.Payment {
	created := time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC)
	return &payment.Payment{
		ID: "pay-1", UpstreamID: "erp-sh", RequestID: "req-1", OrderRef: "PO-2026-0310-8841",
		CustomerID: customerID, ApplicantID: "zhang.wei", BankID: bankID, DebtorAccount: "340058712345",
		Creditor:    payment.Creditor{Name: "上海华东机电设备有限公司", Account: "31001520313050012345", BankID: "105290036005"},
		AmountMinor: 128640050, Currency: "CNY", Remittance: "采购合同 HT-2026-0215 第二期货款",
		ExecutionDate: time.Date(2026, 3, 12, 0, 0, 0, 0, time.UTC),
		State:         st, CreatedAt: created, UpdatedAt: created, Version: 4,
		RequiredAuthorizers: 1, HeadHash: []byte("head-of-chain"),
	}
}

// person is an active user of customerID.
func person(id string, roles ...payment.Role) payment.User {
	return payment.User{ID: id, CustomerID: customerID, Name: id, Roles: roles, Active: true}
}

var (
	theApplicant  = person("zhang.wei", payment.RoleApplicant)
	theReviewer   = person("li.na", payment.RoleReviewer)
	theAuthorizer = person("wang.fang", payment.RoleAuthorizer)
)

// approveAt is the approval that stage st waits for, by the right person,
// of the content of p.
func approveAt(p *payment.Payment, st payment.Stage) payment.DecisionInput {
	in := payment.DecisionInput{Stage: st, Verdict: payment.VerdictApprove, Digest: p.Digest()}
	switch st {
	case payment.StageConfirmation:
		in.Actor = theApplicant
	case payment.StageReview:
		in.Actor = theReviewer
	case payment.StageAuthorization:
		in.Actor = theAuthorizer
	}
	return in
}

func limit(n int64) *int64 { return &n }

func TestDecideRefuses(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		state  payment.State
		stage  payment.Stage
		change func(in *payment.DecisionInput, f *payment.ApprovalFacts)
		code   payment.Code
	}{
		{"InvalidStage", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Stage = "payout" }, payment.CodeInvalidInput},
		{"EmptyStage", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Stage = "" }, payment.CodeInvalidInput},
		{"InvalidVerdict", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Verdict = "maybe" }, payment.CodeInvalidInput},
		{"CancelIsNoVerdict", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Verdict = "cancel" }, payment.CodeInvalidInput},

		// The payment is past the stage: somebody decided it already.
		{"ConfirmationWhenAwaitingReview", payment.StateAwaitingReview, payment.StageConfirmation, nil, payment.CodeAlreadyDecided},
		{"ConfirmationWhenAwaitingAuthorization", payment.StateAwaitingAuthorization, payment.StageConfirmation, nil, payment.CodeAlreadyDecided},
		{"ReviewWhenAwaitingAuthorization", payment.StateAwaitingAuthorization, payment.StageReview, nil, payment.CodeAlreadyDecided},
		{"ReviewWhenAuthorized", payment.StateAuthorized, payment.StageReview, nil, payment.CodeAlreadyDecided},
		{"AuthorizationWhenAuthorized", payment.StateAuthorized, payment.StageAuthorization, nil, payment.CodeAlreadyDecided},
		{"AuthorizationWhenExported", payment.StateExported, payment.StageAuthorization, nil, payment.CodeAlreadyDecided},
		{"AuthorizationWhenSettled", payment.StateSettled, payment.StageAuthorization, nil, payment.CodeAlreadyDecided},
		{"ConfirmationWhenRejected", payment.StateRejected, payment.StageConfirmation, nil, payment.CodeAlreadyDecided},
		{"ReviewWhenCancelled", payment.StateCancelled, payment.StageReview, nil, payment.CodeAlreadyDecided},
		{"AuthorizationWhenExpired", payment.StateExpired, payment.StageAuthorization, nil, payment.CodeAlreadyDecided},
		{"ConfirmationWhenReturned", payment.StateReturned, payment.StageConfirmation, nil, payment.CodeAlreadyDecided},

		// The payment is not there yet.
		{"ConfirmationWhenReceived", payment.StateReceived, payment.StageConfirmation, nil, payment.CodeInvalidTransition},
		{"ReviewWhenAwaitingConfirmation", payment.StateAwaitingConfirmation, payment.StageReview, nil, payment.CodeInvalidTransition},
		{"AuthorizationWhenAwaitingConfirmation", payment.StateAwaitingConfirmation, payment.StageAuthorization, nil, payment.CodeInvalidTransition},
		{"AuthorizationWhenAwaitingReview", payment.StateAwaitingReview, payment.StageAuthorization, nil, payment.CodeInvalidTransition},

		{"UserInactive", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Actor.Active = false }, payment.CodeUserInactive},
		{"WrongCustomer", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Actor.CustomerID = "CUST-320500000777" }, payment.CodeWrongCustomer},
		{"WrongRoleAtReview", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Actor = theAuthorizer }, payment.CodeWrongRole},
		{"WrongRoleAtAuthorization", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Actor = theReviewer }, payment.CodeWrongRole},
		{"WrongRoleAtConfirmation", payment.StateAwaitingConfirmation, payment.StageConfirmation,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) {
				in.Actor.Roles = []payment.Role{payment.RoleReviewer, payment.RoleAuthorizer}
			}, payment.CodeWrongRole},
		{"NoRoles", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Actor.Roles = nil }, payment.CodeWrongRole},
		{"AnotherApplicantConfirms", payment.StateAwaitingConfirmation, payment.StageConfirmation,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) {
				in.Actor = person("zhao.lei", payment.RoleApplicant)
			},
			payment.CodeNotApplicant},
		{"AnotherApplicantRejects", payment.StateAwaitingConfirmation, payment.StageConfirmation,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) {
				in.Actor, in.Verdict, in.Reason = person("zhao.lei", payment.RoleApplicant), payment.VerdictReject, "not mine"
			}, payment.CodeNotApplicant},

		// Separation of duties.
		{"ApplicantReviews", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) {
				in.Actor = person("zhang.wei", payment.RoleApplicant, payment.RoleReviewer)
			}, payment.CodeSeparationOfDuties},
		{"ApplicantAuthorizes", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) {
				in.Actor = person("zhang.wei", payment.RoleApplicant, payment.RoleAuthorizer)
			}, payment.CodeSeparationOfDuties},
		{"ReviewerAuthorizes", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(in *payment.DecisionInput, f *payment.ApprovalFacts) {
				in.Actor = person("li.na", payment.RoleReviewer, payment.RoleAuthorizer)
				f.Acted = []string{"zhang.wei", "li.na"}
			}, payment.CodeSeparationOfDuties},
		{"AuthorizerAuthorizesTwice", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(_ *payment.DecisionInput, f *payment.ApprovalFacts) {
				f.Acted, f.Authorizations, f.RequiredAuthorizers = []string{"zhang.wei", "li.na", "wang.fang"}, 1, 2
			}, payment.CodeSeparationOfDuties},
		{"ActedRejectsToo", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(in *payment.DecisionInput, f *payment.ApprovalFacts) {
				in.Verdict, in.Reason = payment.VerdictReject, "changed my mind"
				f.Acted, f.Authorizations, f.RequiredAuthorizers = []string{"wang.fang"}, 1, 2
			}, payment.CodeSeparationOfDuties},

		{"RejectWithoutReason", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Verdict = payment.VerdictReject }, payment.CodeReasonRequired},
		{"RejectWithBlankReason", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) {
				in.Verdict, in.Reason = payment.VerdictReject, " \t\n"
			},
			payment.CodeReasonRequired},
		{"OverLimit", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(_ *payment.DecisionInput, f *payment.ApprovalFacts) { f.Limit = limit(128640050 - 1) }, payment.CodeOverLimit},
		{"OverLimitAtReview", payment.StateAwaitingReview, payment.StageReview,
			func(_ *payment.DecisionInput, f *payment.ApprovalFacts) { f.Limit = limit(100) }, payment.CodeOverLimit},
		{"ContentChanged", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) {
				other := waiting(payment.StateAwaitingReview)
				other.AmountMinor++
				in.Digest = other.Digest()
			}, payment.CodeContentChanged},
		{"NoDigest", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Digest = "" }, payment.CodeContentChanged},
		{"ConfirmationOfOtherContent", payment.StateAwaitingConfirmation, payment.StageConfirmation,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Digest = "00" + in.Digest[2:] }, payment.CodeContentChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			p := waiting(tt.state)
			in := approveAt(p, tt.stage)
			f := payment.ApprovalFacts{RequiredAuthorizers: 1}
			if tt.change != nil {
				tt.change(&in, &f)
			}
			before := *p
			before.HeadHash = slices.Clone(p.HeadHash)

			e, err := p.Decide(in, f, decideNow)
			require.Error(t, err)
			var de *payment.Error
			require.ErrorAs(t, err, &de)
			require.Equal(t, tt.code, de.Code, "error: %v", err)
			require.True(t, payment.IsRefusal(err))
			require.Equal(t, payment.Entry{}, e)
			require.Equal(t, before, *p, "a refused decision leaves the payment unchanged")
		})
	}
}

func TestDecideApplies(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		state  payment.State
		stage  payment.Stage
		change func(in *payment.DecisionInput, f *payment.ApprovalFacts)
		action payment.Action
		to     payment.State
		code   payment.Code
		note   string
	}{
		{"Confirm", payment.StateAwaitingConfirmation, payment.StageConfirmation, nil,
			payment.ActionConfirm, payment.StateAwaitingReview, "", ""},
		{"ConfirmWithNote", payment.StateAwaitingConfirmation, payment.StageConfirmation,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) { in.Reason = "as agreed" },
			payment.ActionConfirm, payment.StateAwaitingReview, "", "as agreed"},
		{"Review", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, f *payment.ApprovalFacts) { f.Acted = []string{"zhang.wei"} },
			payment.ActionApprove, payment.StateAwaitingAuthorization, "", ""},
		{"ReviewerWhoMayAlsoAuthorize", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) {
				in.Actor = person("li.na", payment.RoleReviewer, payment.RoleAuthorizer)
			},
			payment.ActionApprove, payment.StateAwaitingAuthorization, "", ""},
		{"Authorize", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(in *payment.DecisionInput, f *payment.ApprovalFacts) { f.Acted = []string{"zhang.wei", "li.na"} },
			payment.ActionAuthorize, payment.StateAuthorized, "", "authorization 1 of 1"},
		{"AuthorizeNoRequirementMeansOne", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(_ *payment.DecisionInput, f *payment.ApprovalFacts) { f.RequiredAuthorizers = 0 },
			payment.ActionAuthorize, payment.StateAuthorized, "", "authorization 1 of 1"},
		{"AuthorizeExactlyAtLimit", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(_ *payment.DecisionInput, f *payment.ApprovalFacts) { f.Limit = limit(128640050) },
			payment.ActionAuthorize, payment.StateAuthorized, "", "authorization 1 of 1"},
		{"ReviewExactlyAtLimit", payment.StateAwaitingReview, payment.StageReview,
			func(_ *payment.DecisionInput, f *payment.ApprovalFacts) { f.Limit = limit(128640050) },
			payment.ActionApprove, payment.StateAwaitingAuthorization, "", ""},
		{"FirstOfTwoAuthorizations", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(_ *payment.DecisionInput, f *payment.ApprovalFacts) {
				f.Acted, f.RequiredAuthorizers = []string{"zhang.wei", "li.na"}, 2
			},
			payment.ActionAuthorizePartial, payment.StateAwaitingAuthorization, "", "authorization 1 of 2"},
		{"SecondOfTwoAuthorizations", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(in *payment.DecisionInput, f *payment.ApprovalFacts) {
				in.Actor = person("chen.jie", payment.RoleAuthorizer)
				f.Acted, f.Authorizations, f.RequiredAuthorizers = []string{"zhang.wei", "li.na", "wang.fang"}, 1, 2
			},
			payment.ActionAuthorize, payment.StateAuthorized, "", "authorization 2 of 2"},
		{"SecondOfThreeAuthorizations", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(in *payment.DecisionInput, f *payment.ApprovalFacts) {
				in.Actor = person("chen.jie", payment.RoleAuthorizer)
				f.Acted, f.Authorizations, f.RequiredAuthorizers = []string{"wang.fang"}, 1, 3
			},
			payment.ActionAuthorizePartial, payment.StateAwaitingAuthorization, "", "authorization 2 of 3"},

		// Rejections: a reason is enough; no limit, no digest.
		{"RejectAtConfirmation", payment.StateAwaitingConfirmation, payment.StageConfirmation,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) {
				in.Verdict, in.Reason, in.Digest = payment.VerdictReject, "wrong creditor", ""
			},
			payment.ActionReject, payment.StateRejected, "rejected_at_confirmation", "wrong creditor"},
		{"RejectAtReview", payment.StateAwaitingReview, payment.StageReview,
			func(in *payment.DecisionInput, f *payment.ApprovalFacts) {
				in.Verdict, in.Reason, in.Digest = payment.VerdictReject, "invoice missing", "stale"
				f.Limit = limit(1)
			},
			payment.ActionReject, payment.StateRejected, "rejected_at_review", "invoice missing"},
		{"RejectAtAuthorization", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(in *payment.DecisionInput, _ *payment.ApprovalFacts) {
				in.Verdict, in.Reason = payment.VerdictReject, "budget exhausted"
			},
			payment.ActionReject, payment.StateRejected, "rejected_at_authorization", "budget exhausted"},
		{"RejectAfterAPartialAuthorization", payment.StateAwaitingAuthorization, payment.StageAuthorization,
			func(in *payment.DecisionInput, f *payment.ApprovalFacts) {
				in.Actor = person("chen.jie", payment.RoleAuthorizer)
				in.Verdict, in.Reason = payment.VerdictReject, "second look says no"
				f.Acted, f.Authorizations, f.RequiredAuthorizers = []string{"wang.fang"}, 1, 2
			},
			payment.ActionReject, payment.StateRejected, "rejected_at_authorization", "second look says no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			p := waiting(tt.state)
			in := approveAt(p, tt.stage)
			f := payment.ApprovalFacts{RequiredAuthorizers: 1}
			if tt.change != nil {
				tt.change(&in, &f)
			}
			head := slices.Clone(p.HeadHash)

			e, err := p.Decide(in, f, decideNow)
			require.NoError(t, err)
			at := decideNow.Truncate(time.Microsecond)
			want := payment.Entry{
				PaymentID: "pay-1", Seq: 5, At: at, Actor: payment.Actor{Kind: payment.ActorUser, ID: in.Actor.ID},
				Action: tt.action, From: tt.state, To: tt.to, Code: tt.code, Note: tt.note, PrevHash: head,
			}
			want.Hash = want.ComputeHash()
			require.Equal(t, want, e)
			require.Equal(t, tt.to, p.State)
			require.Equal(t, 5, p.Version)
			require.Equal(t, at, p.UpdatedAt)
			require.Equal(t, e.Hash, p.HeadHash)
			if tt.code != "" {
				require.Equal(t, payment.CodeRejectedBy(tt.stage), e.Code)
			}
		})
	}
}

// TestDecideTwoAuthorizers walks one payment through two authorizations.
func TestDecideTwoAuthorizers(t *testing.T) {
	t.Parallel()

	p := waiting(payment.StateAwaitingAuthorization)
	p.RequiredAuthorizers = 2
	f := payment.ApprovalFacts{Acted: []string{"zhang.wei", "li.na"}, RequiredAuthorizers: p.RequiredAuthorizers}

	first, err := p.Decide(approveAt(p, payment.StageAuthorization), f, decideNow)
	require.NoError(t, err)
	require.Equal(t, payment.ActionAuthorizePartial, first.Action)
	require.Equal(t, "authorization 1 of 2", first.Note)
	require.Equal(t, payment.StateAwaitingAuthorization, first.To)
	require.Equal(t, payment.StateAwaitingAuthorization, p.State, "one authorization of two leaves the state")
	require.Equal(t, 5, p.Version)

	// The same authorizer again is refused.
	f.Acted, f.Authorizations = append(f.Acted, "wang.fang"), 1
	_, err = p.Decide(approveAt(p, payment.StageAuthorization), f, decideNow)
	require.Equal(t, payment.CodeSeparationOfDuties, payment.ErrorCode(err))

	second := approveAt(p, payment.StageAuthorization)
	second.Actor = person("chen.jie", payment.RoleAuthorizer)
	e, err := p.Decide(second, f, decideNow.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, payment.ActionAuthorize, e.Action)
	require.Equal(t, "authorization 2 of 2", e.Note)
	require.Equal(t, payment.StateAuthorized, p.State)
	require.Equal(t, 6, e.Seq)
	require.Equal(t, first.Hash, e.PrevHash)
}

func TestCodeRejectedBy(t *testing.T) {
	t.Parallel()
	require.Equal(t, payment.Code("rejected_at_confirmation"), payment.CodeRejectedBy(payment.StageConfirmation))
	require.Equal(t, payment.Code("rejected_at_review"), payment.CodeRejectedBy(payment.StageReview))
	require.Equal(t, payment.Code("rejected_at_authorization"), payment.CodeRejectedBy(payment.StageAuthorization))
}

func TestNeedsOTP(t *testing.T) {
	t.Parallel()

	tests := []struct {
		stage   payment.Stage
		verdict payment.Verdict
		want    bool
	}{
		{payment.StageConfirmation, payment.VerdictApprove, true},
		{payment.StageConfirmation, payment.VerdictReject, false},
		{payment.StageReview, payment.VerdictApprove, true}, // the default review policy
		{payment.StageReview, payment.VerdictReject, false},
		{payment.StageAuthorization, payment.VerdictApprove, true},
		{payment.StageAuthorization, payment.VerdictReject, false},
		{payment.StageConfirmation, "cancel", false},
		{payment.StageAuthorization, "cancel", false},
		{"", payment.VerdictApprove, false},
		{"payout", payment.VerdictApprove, false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, payment.NeedsOTP(tt.stage, tt.verdict), "%s %s", tt.stage, tt.verdict)
		require.Equal(t, tt.want, payment.NeedsOTPFor(tt.stage, tt.verdict, true), "%s %s", tt.stage, tt.verdict)
		want := tt.want && tt.stage != payment.StageReview
		require.Equal(t, want, payment.NeedsOTPFor(tt.stage, tt.verdict, false), "%s %s, review OTP off", tt.stage, tt.verdict)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()

	byApplicant := payment.Actor{Kind: payment.ActorUser, ID: "zhang.wei"}
	byUpstream := payment.Actor{Kind: payment.ActorUpstream, ID: "erp-sh"}
	tests := []struct {
		name  string
		state payment.State
		by    payment.Actor
		code  payment.Code // "" when the payment is cancelled
	}{
		{"ApplicantAwaitingConfirmation", payment.StateAwaitingConfirmation, byApplicant, ""},
		{"ApplicantAwaitingReview", payment.StateAwaitingReview, byApplicant, ""},
		{"ApplicantAwaitingAuthorization", payment.StateAwaitingAuthorization, byApplicant, ""},
		{"UpstreamAwaitingConfirmation", payment.StateAwaitingConfirmation, byUpstream, ""},
		{"UpstreamAwaitingAuthorization", payment.StateAwaitingAuthorization, byUpstream, ""},

		{"AnotherUser", payment.StateAwaitingReview, payment.Actor{Kind: payment.ActorUser, ID: "li.na"}, payment.CodeNotApplicant},
		{"AnotherUpstream", payment.StateAwaitingReview, payment.Actor{Kind: payment.ActorUpstream, ID: "mall"}, payment.CodeUpstreamNotPermitted},
		{"UserNamedLikeTheUpstream", payment.StateAwaitingReview, payment.Actor{Kind: payment.ActorUser, ID: "erp-sh"}, payment.CodeNotApplicant},

		{"ApplicantAuthorized", payment.StateAuthorized, byApplicant, payment.CodeFrozen},
		{"UpstreamAuthorized", payment.StateAuthorized, byUpstream, payment.CodeFrozen},
		{"Exported", payment.StateExported, byUpstream, payment.CodeFrozen},
		{"Settled", payment.StateSettled, byApplicant, payment.CodeFrozen},
		{"Returned", payment.StateReturned, byUpstream, payment.CodeFrozen},
		{"AnotherUserAuthorized", payment.StateAuthorized, payment.Actor{Kind: payment.ActorUser, ID: "li.na"}, payment.CodeFrozen},

		// Over, but not frozen: the state machine has no way out.
		{"Rejected", payment.StateRejected, byApplicant, payment.CodeInvalidTransition},
		{"AlreadyCancelled", payment.StateCancelled, byUpstream, payment.CodeInvalidTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			p := waiting(tt.state)
			before := *p
			e, err := p.Cancel(tt.by, "order withdrawn", decideNow)
			if tt.code != "" {
				require.Equal(t, tt.code, payment.ErrorCode(err), "error: %v", err)
				require.Equal(t, payment.Entry{}, e)
				require.Equal(t, before, *p)
				return
			}
			require.NoError(t, err)
			require.Equal(t, payment.StateCancelled, p.State)
			require.Equal(t, payment.ActionCancel, e.Action)
			require.Equal(t, tt.by, e.Actor)
			require.Equal(t, tt.state, e.From)
			require.Equal(t, payment.StateCancelled, e.To)
			require.Equal(t, "order withdrawn", e.Note)
			require.Equal(t, 5, e.Seq)
		})
	}
}

func TestDigest(t *testing.T) {
	t.Parallel()

	base := waiting(payment.StateAwaitingReview)
	d := base.Digest()
	require.Len(t, d, 64, "hex SHA-256")
	require.Equal(t, d, base.Digest(), "stable")
	require.Equal(t, d, waiting(payment.StateAwaitingReview).Digest(), "the same content, the same digest")

	t.Run("ContentChanges", func(t *testing.T) {
		t.Parallel()
		changes := []struct {
			field  string
			change func(p *payment.Payment)
		}{
			{"ID", func(p *payment.Payment) { p.ID = "pay-2" }},
			{"OrderRef", func(p *payment.Payment) { p.OrderRef += "X" }},
			{"Amount", func(p *payment.Payment) { p.AmountMinor++ }},
			{"Currency", func(p *payment.Payment) { p.Currency = "USD" }},
			{"Bank", func(p *payment.Payment) { p.BankID = "102100099996" }},
			{"DebtorAccount", func(p *payment.Payment) { p.DebtorAccount = "340058712346" }},
			{"CreditorName", func(p *payment.Payment) { p.Creditor.Name = "深圳南方电子材料有限公司" }},
			{"CreditorAccount", func(p *payment.Payment) { p.Creditor.Account = "31001520313050012346" }},
			{"CreditorBank", func(p *payment.Payment) { p.Creditor.BankID = "308584000013" }},
			{"ExecutionDate", func(p *payment.Payment) { p.ExecutionDate = p.ExecutionDate.AddDate(0, 0, 1) }},
			{"Remittance", func(p *payment.Payment) { p.Remittance = "采购合同 HT-2026-0215 第三期货款" }},
			{"RemittanceRemoved", func(p *payment.Payment) { p.Remittance = "" }},
			// Text moved across a field boundary is another content.
			{"BoundaryMoved", func(p *payment.Payment) {
				p.Creditor.Name, p.Creditor.Account = p.Creditor.Name+"3", p.Creditor.Account[1:]
			}},
		}
		seen := map[string]string{d: "base"}
		for _, c := range changes {
			p := waiting(payment.StateAwaitingReview)
			c.change(p)
			got := p.Digest()
			require.NotContains(t, seen, got, "changing %s gives the digest of %s", c.field, seen[got])
			seen[got] = c.field
		}
	})

	t.Run("StateIsNotContent", func(t *testing.T) {
		t.Parallel()
		// What the decisions change is not what people approve: a task built
		// after one authorization has the digest of the task before it.
		p := waiting(payment.StateAwaitingReview)
		p.State, p.Version, p.HeadHash = payment.StateAwaitingAuthorization, 9, []byte("other")
		p.UpdatedAt, p.RequiredAuthorizers = p.UpdatedAt.Add(time.Hour), 3
		p.UpstreamID, p.RequestID, p.ApplicantID = "mall", "req-9", "zhao.lei"
		require.Equal(t, d, p.Digest())
		// Nor is the zone of the execution date.
		p.ExecutionDate = time.Date(2026, 3, 12, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
		require.Equal(t, d, p.Digest())
	})
}

func TestRequiredAuthorizers(t *testing.T) {
	t.Parallel()

	tiers := []payment.Tier{
		{Currency: "CNY", AboveMinor: 1_000_000_00, Authorizers: 2},
		{Currency: "CNY", AboveMinor: 10_000_000_00, Authorizers: 3},
		{Currency: "CNY", AboveMinor: 5_000_000_00, Authorizers: 2}, // out of order, smaller count
	}
	tests := []struct {
		name   string
		amount int64
		tiers  []payment.Tier
		want   int
	}{
		{"NoTiers", 999_999_999_00, nil, 1},
		{"EmptyTiers", 1, []payment.Tier{}, 1},
		{"BelowEveryTier", 1, tiers, 1},
		{"AtTheThresholdIsNotAbove", 1_000_000_00, tiers, 1},
		{"JustAbove", 1_000_000_01, tiers, 2},
		{"AboveTwoTiersOfTwo", 5_000_000_01, tiers, 2},
		{"AtTheTopThreshold", 10_000_000_00, tiers, 2},
		{"AboveTheTop", 10_000_000_01, tiers, 3},
		{"LargestCountWinsNotLastTier", 20_000_000_00, []payment.Tier{
			{AboveMinor: 0, Authorizers: 4}, {AboveMinor: 100, Authorizers: 2},
		}, 4},
		{"ZeroThreshold", 1, []payment.Tier{{AboveMinor: 0, Authorizers: 2}}, 2},
		{"TierOfOneNeverLowers", 500, []payment.Tier{{AboveMinor: 0, Authorizers: 1}}, 1},
		{"TierOfZeroStillOne", 500, []payment.Tier{{AboveMinor: 0, Authorizers: 0}}, 1},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, payment.RequiredAuthorizers(tt.amount, tt.tiers), tt.name)
	}
}

func TestAdmitUsesTiersOfTheCurrency(t *testing.T) {
	t.Parallel()

	f := newAdmitFixture(t) // 1,286,400.50 CNY
	f.facts.Tiers = []payment.Tier{
		{Currency: "USD", AboveMinor: 0, Authorizers: 5},
		{Currency: "CNY", AboveMinor: 1_000_000_00, Authorizers: 2},
	}
	p, _, err := payment.Admit("pay-1", f.up, f.req, f.facts, admitNow, shanghai(t))
	require.NoError(t, err)
	require.Equal(t, 2, p.RequiredAuthorizers)
}

func TestStages(t *testing.T) {
	t.Parallel()

	tests := []struct {
		stage payment.Stage
		role  payment.Role
		state payment.State
		valid bool
	}{
		{payment.StageConfirmation, payment.RoleApplicant, payment.StateAwaitingConfirmation, true},
		{payment.StageReview, payment.RoleReviewer, payment.StateAwaitingReview, true},
		{payment.StageAuthorization, payment.RoleAuthorizer, payment.StateAwaitingAuthorization, true},
		{"", "", "", false},
		{"payout", "", "", false},
		{"Review", "", "", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.role, tt.stage.Role(), "Role of %q", tt.stage)
		require.Equal(t, tt.state, tt.stage.State(), "State of %q", tt.stage)
		require.Equal(t, tt.valid, tt.stage.Valid(), "Valid of %q", tt.stage)
	}
	require.Equal(t, []payment.Stage{payment.StageConfirmation, payment.StageReview, payment.StageAuthorization}, payment.Stages)
}

func TestStageOf(t *testing.T) {
	t.Parallel()

	want := map[payment.State]payment.Stage{
		payment.StateAwaitingConfirmation:  payment.StageConfirmation,
		payment.StateAwaitingReview:        payment.StageReview,
		payment.StateAwaitingAuthorization: payment.StageAuthorization,
	}
	for _, st := range append([]payment.State{payment.StateNone, "bogus"}, payment.States...) {
		s, ok := payment.StageOf(st)
		w, waits := want[st]
		require.Equal(t, waits, ok, "state %q", st)
		require.Equal(t, w, s, "state %q", st)
		if ok {
			require.Equal(t, st, s.State(), "StageOf inverts State")
		}
	}
}

// TestApprovalFactsAdd: every applied decision names its person; only
// authorizations count towards the required ones.
func TestApprovalFactsAdd(t *testing.T) {
	f := payment.ApprovalFacts{RequiredAuthorizers: 2}
	f.Add("ann", payment.StageConfirmation)
	f.Add("rita", payment.StageReview)
	f.Add("alex", payment.StageAuthorization)
	require.Equal(t, []string{"ann", "rita", "alex"}, f.Acted)
	require.Equal(t, 1, f.Authorizations)
}
