package payment

import "slices"

// State is where a payment stands in its life.
type State string

// The states of a payment.
const (
	StateNone                  State = ""
	StateReceived              State = "received"
	StateAwaitingConfirmation  State = "awaiting_confirmation"
	StateAwaitingReview        State = "awaiting_review"
	StateAwaitingAuthorization State = "awaiting_authorization"
	StateAuthorized            State = "authorized"
	StateExported              State = "exported"
	StateSettled               State = "settled"
	StateRejected              State = "rejected"
	StateCancelled             State = "cancelled"
	StateExpired               State = "expired"
	StateReturned              State = "returned"
	// StateHeld is an authorized payment the exporter refused to put in a
	// file: its content no longer matches what its approvers approved, or
	// their decisions' MACs do not check. It waits for investigation.
	StateHeld State = "held"
)

// States lists every state a stored payment can be in, in life order.
var States = []State{
	StateReceived, StateAwaitingConfirmation, StateAwaitingReview,
	StateAwaitingAuthorization, StateAuthorized, StateExported, StateSettled,
	StateRejected, StateCancelled, StateExpired, StateReturned, StateHeld,
}

// Action is what moves a payment from one state to another.
type Action string

// The actions of the state machine.
const (
	ActionReceive             Action = "receive"
	ActionRequestConfirmation Action = "request_confirmation"
	ActionConfirm             Action = "confirm"
	ActionApprove             Action = "approve"
	ActionAuthorizePartial    Action = "authorize_partial"
	ActionAuthorize           Action = "authorize"
	ActionReject              Action = "reject"
	ActionCancel              Action = "cancel"
	ActionExpire              Action = "expire"
	ActionExport              Action = "export"
	ActionSettle              Action = "settle"
	ActionReturn              Action = "return"
	// ActionHold moves an authorized payment whose approvals do not check
	// out of the exporter's way.
	ActionHold Action = "hold"
	// ActionVoid is an operator ending a held payment after investigation.
	ActionVoid Action = "void"
)

// Actions lists every action.
var Actions = []Action{
	ActionReceive, ActionRequestConfirmation, ActionConfirm, ActionApprove,
	ActionAuthorizePartial, ActionAuthorize, ActionReject, ActionCancel,
	ActionExpire, ActionExport, ActionSettle, ActionReturn, ActionHold, ActionVoid,
}

type move struct {
	from   State
	action Action
}

// transitions is the whole state machine: (from, action) → to. A move that
// is not a key here is refused.
var transitions = map[move]State{
	{StateNone, ActionReceive}: StateReceived,

	{StateReceived, ActionRequestConfirmation}: StateAwaitingConfirmation,

	{StateAwaitingConfirmation, ActionConfirm}: StateAwaitingReview,
	{StateAwaitingConfirmation, ActionReject}:  StateRejected,
	{StateAwaitingConfirmation, ActionCancel}:  StateCancelled,
	{StateAwaitingConfirmation, ActionExpire}:  StateExpired,

	{StateAwaitingReview, ActionApprove}: StateAwaitingAuthorization,
	{StateAwaitingReview, ActionReject}:  StateRejected,
	{StateAwaitingReview, ActionCancel}:  StateCancelled,
	{StateAwaitingReview, ActionExpire}:  StateExpired,

	{StateAwaitingAuthorization, ActionAuthorizePartial}: StateAwaitingAuthorization,
	{StateAwaitingAuthorization, ActionAuthorize}:        StateAuthorized,
	{StateAwaitingAuthorization, ActionReject}:           StateRejected,
	{StateAwaitingAuthorization, ActionCancel}:           StateCancelled,
	{StateAwaitingAuthorization, ActionExpire}:           StateExpired,

	{StateAuthorized, ActionExport}: StateExported,
	{StateAuthorized, ActionHold}:   StateHeld,

	// A held payment is never released into a file: an operator voids it
	// (b2bpay held void), which ends it cancelled and frees its order for a
	// new request.
	{StateHeld, ActionVoid}: StateCancelled,

	{StateExported, ActionSettle}: StateSettled,
	{StateExported, ActionReturn}: StateReturned,
}

// Next returns the state that action leads to from state from, or an error
// with CodeInvalidTransition when the machine has no such move.
func Next(from State, action Action) (State, error) {
	to, ok := transitions[move{from, action}]
	if !ok {
		name := string(from)
		if from == StateNone {
			name = "(new)"
		}
		return "", Errorf(CodeInvalidTransition, "cannot %s a payment that is %s", action, name)
	}
	return to, nil
}

// Terminal reports whether no action leads out of s.
func (s State) Terminal() bool {
	for m := range transitions {
		if m.from == s {
			return false
		}
	}
	return s != StateNone
}

// Valid reports whether s is one of States.
func (s State) Valid() bool { return slices.Contains(States, s) }

// HoldsOrder reports whether a payment in state s keeps its order reference:
// one order, one online payment. Only a payment that ended without moving
// money (rejected, cancelled, expired, returned) frees the order for a new
// request.
func (s State) HoldsOrder() bool {
	switch s {
	case StateRejected, StateCancelled, StateExpired, StateReturned:
		return false
	}
	return true
}

// Frozen reports whether the payment can no longer be cancelled or edited:
// from authorization on it belongs to interbank processing. A held payment
// is frozen too: neither its applicant nor its upstream may cancel it, only
// an operator voids it after investigation.
func (s State) Frozen() bool {
	switch s {
	case StateAuthorized, StateExported, StateSettled, StateReturned, StateHeld:
		return true
	}
	return false
}
