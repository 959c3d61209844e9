// Package payment is b2bpay's domain: customers, accounts, banks, users and
// upstream systems; payments and the state machine that carries each one
// from the upstream request to the interbank file; the request contract;
// and the errors every layer above maps to acks, rejections and answers.
//
// It imports the standard library only. Storage, messaging and transports
// live in packages that import this one, never the other way round.
//
// The state machine (actions on the arrows):
//
//	               receive
//	 (none) ───────────────────▶ received
//	                                │ request_confirmation
//	                                ▼
//	                     awaiting_confirmation ──┐
//	                                │ confirm    │
//	                                ▼            │
//	                       awaiting_review ──────┤ reject / cancel / expire
//	                                │ approve    │
//	                                ▼            ▼
//	authorize (more needed) ┌─ awaiting_authorization ──▶ rejected | cancelled | expired
//	                        └──────▶│ authorize
//	                                ▼
//	                            authorized ──hold──▶ held ──void (operator)──▶ cancelled
//	                                │ export    (authorized, held: frozen, no cancel, no edit)
//	                                ▼
//	                             exported ──return──▶ returned
//	                                │ settle
//	                                ▼
//	                             settled
//
// Every move is a row of the transition table in state.go; any other move is
// refused with an *Error whose code is CodeInvalidTransition.
//
// hold: at the claim, the exporter re-checks that the payment's content is
// what each required approver approved, with valid MACs (package seal); a
// payment that fails is held instead of exported. A held payment is frozen
// and never released into a file: an operator voids it (it ends cancelled).
package payment
