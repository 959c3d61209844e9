package payment

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable reason. Codes travel in answer events
// and dead-letter headers, so they never change once published.
type Code string

// Refusal and failure codes.
const (
	CodeMalformed            Code = "malformed_message"
	CodeTooLarge             Code = "message_too_large"
	CodeUnknownVersion       Code = "unknown_schema_version"
	CodeInvalidField         Code = "invalid_field"
	CodeInvalidAmount        Code = "invalid_amount"
	CodeInvalidCurrency      Code = "invalid_currency"
	CodeInvalidAccount       Code = "invalid_account"
	CodeInvalidDate          Code = "invalid_date"
	CodeUnauthenticated      Code = "unauthenticated"
	CodeUpstreamNotPermitted Code = "upstream_not_permitted"
	CodeUnknownCustomer      Code = "unknown_customer"
	CodeCustomerNotEnabled   Code = "customer_not_enabled"
	CodeUnknownBank          Code = "unknown_bank"
	CodeBankNotB2B           Code = "bank_not_b2b"
	CodeUnknownAccount       Code = "unknown_account"
	CodeCurrencyMismatch     Code = "currency_mismatch"
	CodeUnknownApplicant     Code = "unknown_applicant"
	CodeApplicantNotAllowed  Code = "applicant_not_permitted"
	CodeOrderInUse           Code = "order_already_paid"
	CodeIdempotencyConflict  Code = "idempotency_conflict"
	CodeInvalidTransition    Code = "invalid_transition"
	CodeNotFound             Code = "not_found"
	CodeConflict             Code = "conflict"
	CodeInvalidInput         Code = "invalid_input"

	// Approval refusals.
	CodeAlreadyDecided     Code = "already_decided"
	CodeUserInactive       Code = "user_inactive"
	CodeWrongCustomer      Code = "wrong_customer"
	CodeWrongRole          Code = "wrong_role"
	CodeNotApplicant       Code = "not_the_applicant"
	CodeSeparationOfDuties Code = "separation_of_duties"
	CodeOverLimit          Code = "over_limit"
	CodeContentChanged     Code = "content_changed"
	CodeFrozen             Code = "frozen"
	CodeReasonRequired     Code = "reason_required"

	// Authentication and OTP refusals.
	CodeTokenInvalid   Code = "token_invalid"
	CodeLoginFailed    Code = "login_failed"
	CodeLoginThrottled Code = "login_throttled"
	CodeOTPRequired    Code = "otp_required"
	CodeOTPNotEnrolled Code = "otp_not_enrolled"
	CodeOTPInvalid     Code = "otp_invalid"
	CodeOTPReplayed    Code = "otp_replayed"
	CodeOTPLocked      Code = "otp_locked"

	// Decision message refusals: a decision without a valid proof of its
	// session's decision key, a reply queue that is not the decider's own,
	// a decision id already taken by another person.
	CodeProofInvalid    Code = "decision_proof_invalid"
	CodeReplyToRefused  Code = "reply_to_not_permitted"
	CodeDecisionIDTaken Code = "decision_id_taken"

	// Administration refusals (dual control): the second administrator
	// must be someone else than the one who proposed the change and than
	// the person it is about; a change not decided within its time expired.
	CodeDualControl   Code = "dual_control"
	CodeChangeExpired Code = "change_expired"
)

// Error is a domain error: a code for machines, a message for people, and
// the request field at fault where there is one.
type Error struct {
	Code    Code
	Field   string
	Message string
}

// Error implements error.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf builds an *Error that names the request field at fault.
func FieldErrorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or "" when
// err is nil or carries no domain error (an infrastructure failure).
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsRefusal reports whether err is a domain refusal: a final answer that no
// retry can change, as opposed to an infrastructure failure.
func IsRefusal(err error) bool { return ErrorCode(err) != "" }

// ErrNotFound is returned by stores when a record does not exist.
var ErrNotFound = &Error{Code: CodeNotFound, Message: "not found"}
