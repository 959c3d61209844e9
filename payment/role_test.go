package payment_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// The stages need the approval roles only: operator and admin are roles a
// user may hold, but no stage's, so they decide no payment.
func TestRolesAndStages(t *testing.T) {
	var stageRoles []payment.Role
	for _, s := range payment.Stages {
		stageRoles = append(stageRoles, s.Role())
	}
	require.Equal(t, payment.ApprovalRoles, stageRoles)
	for _, r := range payment.Roles {
		require.True(t, r.Valid(), r)
	}
	for _, r := range []payment.Role{payment.RoleOperator, payment.RoleAdmin} {
		require.True(t, r.Valid())
		require.False(t, slices.Contains(payment.ApprovalRoles, r), r)
	}
	require.False(t, payment.Role("auditor").Valid())
}

// An administrator or operator who holds no stage's role may decide no
// payment at any stage.
func TestAdminDecidesNoPayment(t *testing.T) {
	p := &payment.Payment{ID: "p", CustomerID: "C", ApplicantID: "alice", State: payment.StateAwaitingReview, AmountMinor: 1, Currency: "CNY"}
	u := payment.User{ID: "root", CustomerID: "C", Roles: []payment.Role{payment.RoleAdmin, payment.RoleOperator}, Active: true}
	err := p.MayDecide(u, payment.StageReview, payment.VerdictApprove, payment.ApprovalFacts{})
	require.Equal(t, payment.CodeWrongRole, payment.ErrorCode(err), "got %v", err)
}
