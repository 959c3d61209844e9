package payment

import "slices"

// MayDecide is the rule of who may decide a payment at a stage, shared by
// the decision (Decide checks it first) and by a person's task list (a
// payment is listed only if it holds for an approval, so the list never
// offers what the decision would refuse). It holds when the payment waits
// for the stage and the person is active, a user of the payer customer,
// holds the stage's role, is the applicant at confirmation and, at review
// and authorization, neither the applicant nor anyone who already acted on
// it (the reviewer at authorization; an authorizer who gave the first of
// two authorizations); an approval must also be within the person's limit
// in the payment's currency, if they have one. The refusal is the one
// Decide gives. The verdict's reason and the digest approved are checked
// by Decide afterwards: they belong to the decision, not to the person.
func (p *Payment) MayDecide(u User, s Stage, v Verdict, f ApprovalFacts) error {
	switch {
	case !s.Valid():
		return Errorf(CodeInvalidInput, "stage %q is not one of confirmation, review, authorization", s)
	case v != VerdictApprove && v != VerdictReject:
		return Errorf(CodeInvalidInput, "verdict %q is not approve or reject", v)
	case p.State != s.State():
		if p.State.Terminal() || stageIndex(p.State) > stageIndex(s.State()) {
			return Errorf(CodeAlreadyDecided, "payment %s is already %s", p.ID, p.State)
		}
		return Errorf(CodeInvalidTransition, "payment %s is %s, not %s", p.ID, p.State, s.State())
	case !u.Active:
		return Errorf(CodeUserInactive, "user %s is disabled", u.ID)
	case u.CustomerID != p.CustomerID:
		return Errorf(CodeWrongCustomer, "user %s is not a user of customer %s", u.ID, p.CustomerID)
	case !u.Has(s.Role()):
		return Errorf(CodeWrongRole, "user %s does not hold the %s role needed for %s", u.ID, s.Role(), s)
	case s == StageConfirmation && u.ID != p.ApplicantID:
		return Errorf(CodeNotApplicant, "only the applicant %s confirms payment %s", p.ApplicantID, p.ID)
	case s != StageConfirmation && (u.ID == p.ApplicantID || slices.Contains(f.Acted, u.ID)):
		return Errorf(CodeSeparationOfDuties, "user %s already acted on payment %s; applicant, reviewer and authorizers are different people", u.ID, p.ID)
	case v == VerdictApprove && f.Limit != nil && p.AmountMinor > *f.Limit:
		return Errorf(CodeOverLimit, "%s %s exceeds the %s limit of %s %s for user %s",
			FormatAmount(p.AmountMinor, p.Currency), p.Currency, s, FormatAmount(*f.Limit, p.Currency), p.Currency, u.ID)
	}
	return nil
}
