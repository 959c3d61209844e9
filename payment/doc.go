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
//	                            authorized      (frozen: no cancel, no edit)
//	                                │ export
//	                                ▼
//	                             exported ──return──▶ returned
//	                                │ settle
//	                                ▼
//	                             settled
//
// Every move is a row of the transition table in state.go; any other move is
// refused with an *Error whose code is CodeInvalidTransition.
package payment
