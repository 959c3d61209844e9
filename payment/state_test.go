package payment_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// wantMoves is the state machine drawn in doc.go, written out here
// independently of the table in state.go.
var wantMoves = map[payment.State]map[payment.Action]payment.State{
	payment.StateNone: {
		payment.ActionReceive: payment.StateReceived,
	},
	payment.StateReceived: {
		payment.ActionRequestConfirmation: payment.StateAwaitingConfirmation,
	},
	payment.StateAwaitingConfirmation: {
		payment.ActionConfirm: payment.StateAwaitingReview,
		payment.ActionReject:  payment.StateRejected,
		payment.ActionCancel:  payment.StateCancelled,
		payment.ActionExpire:  payment.StateExpired,
	},
	payment.StateAwaitingReview: {
		payment.ActionApprove: payment.StateAwaitingAuthorization,
		payment.ActionReject:  payment.StateRejected,
		payment.ActionCancel:  payment.StateCancelled,
		payment.ActionExpire:  payment.StateExpired,
	},
	payment.StateAwaitingAuthorization: {
		payment.ActionAuthorizePartial: payment.StateAwaitingAuthorization,
		payment.ActionAuthorize:        payment.StateAuthorized,
		payment.ActionReject:           payment.StateRejected,
		payment.ActionCancel:           payment.StateCancelled,
		payment.ActionExpire:           payment.StateExpired,
	},
	payment.StateAuthorized: {
		payment.ActionExport: payment.StateExported,
		payment.ActionHold:   payment.StateHeld,
	},
	payment.StateHeld: {
		payment.ActionVoid: payment.StateCancelled,
	},
	payment.StateExported: {
		payment.ActionSettle: payment.StateSettled,
		payment.ActionReturn: payment.StateReturned,
	},
}

func TestStatesAndActionsAreComplete(t *testing.T) {
	t.Parallel()

	require.ElementsMatch(t, []payment.State{
		payment.StateReceived, payment.StateAwaitingConfirmation, payment.StateAwaitingReview,
		payment.StateAwaitingAuthorization, payment.StateAuthorized, payment.StateExported,
		payment.StateSettled, payment.StateRejected, payment.StateCancelled, payment.StateExpired,
		payment.StateReturned, payment.StateHeld,
	}, payment.States)
	require.NotContains(t, payment.States, payment.StateNone)

	require.ElementsMatch(t, []payment.Action{
		payment.ActionReceive, payment.ActionRequestConfirmation, payment.ActionConfirm,
		payment.ActionApprove, payment.ActionAuthorizePartial, payment.ActionAuthorize,
		payment.ActionReject, payment.ActionCancel, payment.ActionExpire, payment.ActionExport,
		payment.ActionSettle, payment.ActionReturn, payment.ActionHold, payment.ActionVoid,
	}, payment.Actions)
}

func TestNextWalksTheWholeTable(t *testing.T) {
	t.Parallel()

	from := append([]payment.State{payment.StateNone}, payment.States...)
	allowed := 0
	for _, s := range from {
		for _, a := range payment.Actions {
			t.Run(string(a)+"_from_"+stateName(s), func(t *testing.T) {
				t.Parallel()

				got, err := payment.Next(s, a)
				if want, ok := wantMoves[s][a]; ok {
					require.NoError(t, err)
					require.Equal(t, want, got)
					return
				}
				require.Error(t, err)
				require.Equal(t, payment.CodeInvalidTransition, payment.ErrorCode(err))
				require.True(t, payment.IsRefusal(err))
				require.Empty(t, got)
				require.Contains(t, err.Error(), string(a))
				require.Contains(t, err.Error(), stateName(s))
			})
			if _, ok := wantMoves[s][a]; ok {
				allowed++
			}
		}
	}
	// Every expected move was visited: none of wantMoves names a state or
	// action outside States and Actions.
	n := 0
	for _, m := range wantMoves {
		n += len(m)
	}
	require.Equal(t, 20, n)
	require.Equal(t, n, allowed)
}

func TestNextRefusesUnknownStateAndAction(t *testing.T) {
	t.Parallel()

	_, err := payment.Next("bogus", payment.ActionConfirm)
	require.Equal(t, payment.CodeInvalidTransition, payment.ErrorCode(err))
	_, err = payment.Next(payment.StateAwaitingReview, "bogus")
	require.Equal(t, payment.CodeInvalidTransition, payment.ErrorCode(err))
}

// stateName is how Next's messages name a state.
func stateName(s payment.State) string {
	if s == payment.StateNone {
		return "(new)"
	}
	return string(s)
}

func TestStatePredicates(t *testing.T) {
	t.Parallel()

	tests := []struct {
		state                          payment.State
		valid, terminal, holds, frozen bool
	}{
		{payment.StateNone, false, false, true, false},
		{payment.StateReceived, true, false, true, false},
		{payment.StateAwaitingConfirmation, true, false, true, false},
		{payment.StateAwaitingReview, true, false, true, false},
		{payment.StateAwaitingAuthorization, true, false, true, false},
		{payment.StateAuthorized, true, false, true, true},
		{payment.StateExported, true, false, true, true},
		{payment.StateSettled, true, true, true, true},
		{payment.StateRejected, true, true, false, false},
		{payment.StateCancelled, true, true, false, false},
		{payment.StateExpired, true, true, false, false},
		{payment.StateReturned, true, true, false, true},
		{payment.StateHeld, true, false, true, true},
	}
	require.Len(t, tests, len(payment.States)+1, "one row for every state plus StateNone")
	for _, tt := range tests {
		t.Run(stateName(tt.state), func(t *testing.T) {
			t.Parallel()

			require.Equal(t, tt.valid, tt.state.Valid(), "Valid")
			require.Equal(t, tt.terminal, tt.state.Terminal(), "Terminal")
			require.Equal(t, tt.holds, tt.state.HoldsOrder(), "HoldsOrder")
			require.Equal(t, tt.frozen, tt.state.Frozen(), "Frozen")

			// Terminal agrees with the independent table: no way out.
			require.Equal(t, tt.terminal, len(wantMoves[tt.state]) == 0 && tt.state != payment.StateNone)
			// A frozen payment can never be cancelled.
			if tt.frozen {
				_, err := payment.Next(tt.state, payment.ActionCancel)
				require.Equal(t, payment.CodeInvalidTransition, payment.ErrorCode(err))
			}
		})
	}
	require.False(t, payment.State("bogus").Valid())
}

func TestApply(t *testing.T) {
	t.Parallel()

	created := time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC)
	shanghai := time.FixedZone("CST", 8*3600)
	newPayment := func() *payment.Payment {
		return &payment.Payment{
			ID: "pay-1", State: payment.StateAwaitingReview, Version: 3,
			CreatedAt: created, UpdatedAt: created,
		}
	}
	reviewer := payment.Actor{Kind: payment.ActorUser, ID: "li.na"}

	t.Run("Success", func(t *testing.T) {
		t.Parallel()

		p := newPayment()
		at := time.Date(2026, 3, 10, 9, 30, 0, 0, shanghai)
		e, err := p.Apply(payment.ActionApprove, reviewer, at, "checked against invoice")
		require.NoError(t, err)

		require.Equal(t, payment.StateAwaitingAuthorization, p.State)
		require.Equal(t, 4, p.Version)
		require.Equal(t, at.UTC(), p.UpdatedAt)
		require.Equal(t, time.UTC, p.UpdatedAt.Location())
		require.Equal(t, created, p.CreatedAt)

		want := payment.Entry{
			PaymentID: "pay-1", Seq: 4, At: at.UTC(), Actor: reviewer,
			Action: payment.ActionApprove, From: payment.StateAwaitingReview,
			To: payment.StateAwaitingAuthorization, Note: "checked against invoice",
		}
		want.Hash = want.ComputeHash()
		require.Equal(t, want, e)
		require.Equal(t, e.Hash, p.HeadHash, "the entry is the head of the chain")

		// The next move continues the sequence.
		authorizer := payment.Actor{Kind: payment.ActorUser, ID: "wang.fang"}
		e2, err := p.Apply(payment.ActionAuthorize, authorizer, at.Add(time.Hour), "")
		require.NoError(t, err)
		require.Equal(t, 5, e2.Seq)
		require.Equal(t, payment.StateAwaitingAuthorization, e2.From)
		require.Equal(t, payment.StateAuthorized, e2.To)
		require.Equal(t, authorizer, e2.Actor)
		require.Equal(t, payment.StateAuthorized, p.State)
		require.Equal(t, 5, p.Version)
		require.Equal(t, e.Hash, e2.PrevHash, "entries are chained")
	})

	t.Run("Refusal", func(t *testing.T) {
		t.Parallel()

		p := newPayment()
		before := *p
		e, err := p.Apply(payment.ActionExport, payment.Actor{Kind: payment.ActorSystem, ID: "exporter"}, created.Add(time.Hour), "")
		require.Error(t, err)
		require.Equal(t, payment.CodeInvalidTransition, payment.ErrorCode(err))
		require.True(t, strings.Contains(err.Error(), "pay-1"), "error names the payment: %v", err)
		require.Equal(t, payment.Entry{}, e)
		require.Equal(t, before, *p)
	})

	t.Run("FrozenRefusesCancel", func(t *testing.T) {
		t.Parallel()

		p := newPayment()
		p.State = payment.StateAuthorized
		before := *p
		_, err := p.Apply(payment.ActionCancel, reviewer, created.Add(time.Hour), "")
		require.Equal(t, payment.CodeInvalidTransition, payment.ErrorCode(err))
		require.Equal(t, before, *p)
	})
}
