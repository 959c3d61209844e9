package payment_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

// rejectedChain admits the sample request and walks it through
// confirmation and review to a rejection at authorization: five entries.
func rejectedChain(t *testing.T) (*payment.Payment, []payment.Entry) {
	t.Helper()
	f := newAdmitFixture(t)
	p, entries, err := payment.Admit("pay-1", f.up, f.req, f.facts, admitNow, shanghai(t))
	require.NoError(t, err)

	at := admitNow
	decide := func(in payment.DecisionInput, acted ...string) {
		t.Helper()
		at = at.Add(7*time.Minute + 123456789*time.Nanosecond)
		e, err := p.Decide(in, payment.ApprovalFacts{Acted: acted, RequiredAuthorizers: 1}, at)
		require.NoError(t, err)
		entries = append(entries, e)
	}
	decide(approveAt(p, payment.StageConfirmation))
	decide(approveAt(p, payment.StageReview), "zhang.wei")
	reject := approveAt(p, payment.StageAuthorization)
	reject.Verdict, reject.Reason = payment.VerdictReject, "creditor not on the approved list"
	decide(reject, "zhang.wei", "li.na")

	require.Equal(t, payment.StateRejected, p.State)
	require.Len(t, entries, 5)
	require.Equal(t, payment.CodeRejectedBy(payment.StageAuthorization), entries[4].Code)
	return p, entries
}

// cloneEntries copies entries deeply, so a test may tamper with the copy.
func cloneEntries(in []payment.Entry) []payment.Entry {
	out := make([]payment.Entry, len(in))
	for i, e := range in {
		e.PrevHash, e.Hash = slices.Clone(e.PrevHash), slices.Clone(e.Hash)
		out[i] = e
	}
	return out
}

func TestVerifyChainIntact(t *testing.T) {
	t.Parallel()

	p, entries := rejectedChain(t)
	n, why := payment.VerifyChain(entries, p.HeadHash)
	require.Zero(t, n, why)
	require.Empty(t, why)
	require.Nil(t, entries[0].PrevHash, "the first entry links to nothing")
	for i := 1; i < len(entries); i++ {
		require.Equal(t, entries[i-1].Hash, entries[i].PrevHash, "entry %d links to entry %d", i+1, i)
	}

	n, why = payment.VerifyChain(nil, nil)
	require.Zero(t, n, "an empty timeline with no head is intact: %s", why)
	n, _ = payment.VerifyChain(nil, p.HeadHash)
	require.Equal(t, 1, n, "an empty timeline does not end at a head")
}

func TestVerifyChainTampered(t *testing.T) {
	t.Parallel()

	const (
		content = "its content does not match its hash"
		link    = "its link to the previous entry is broken"
		head    = "the chain does not end at the payment's head hash"
	)
	tests := []struct {
		name   string
		tamper func(es []payment.Entry) []payment.Entry
		seq    int
		why    string
	}{
		{"Note", func(es []payment.Entry) []payment.Entry { es[4].Note = "creditor approved"; return es }, 5, content},
		{"Code", func(es []payment.Entry) []payment.Entry { es[4].Code = ""; return es }, 5, content},
		{"ActorID", func(es []payment.Entry) []payment.Entry { es[3].Actor.ID = "wang.fang"; return es }, 4, content},
		{"ActorKind", func(es []payment.Entry) []payment.Entry { es[2].Actor.Kind = payment.ActorSystem; return es }, 3, content},
		{"At", func(es []payment.Entry) []payment.Entry { es[2].At = es[2].At.Add(-time.Hour); return es }, 3, content},
		{"AtByAMicrosecond", func(es []payment.Entry) []payment.Entry { es[1].At = es[1].At.Add(time.Microsecond); return es }, 2, content},
		{"Action", func(es []payment.Entry) []payment.Entry { es[4].Action = payment.ActionAuthorize; return es }, 5, content},
		{"To", func(es []payment.Entry) []payment.Entry { es[4].To = payment.StateAuthorized; return es }, 5, content},
		{"From", func(es []payment.Entry) []payment.Entry { es[3].From = payment.StateAwaitingConfirmation; return es }, 4, content},
		{"PaymentID", func(es []payment.Entry) []payment.Entry { es[0].PaymentID = "pay-2"; return es }, 1, content},
		{"SwapTwo", func(es []payment.Entry) []payment.Entry { es[2], es[3] = es[3], es[2]; return es }, 3,
			"entry 3 is missing (found 4 in its place)"},
		{"SwapTwoAndRenumber", func(es []payment.Entry) []payment.Entry {
			es[2], es[3] = es[3], es[2]
			es[2].Seq, es[3].Seq = 3, 4
			return es
		}, 3, link},
		{"RemoveLast", func(es []payment.Entry) []payment.Entry { return es[:4] }, 5, head},
		{"RemoveMiddle", func(es []payment.Entry) []payment.Entry { return slices.Delete(es, 2, 3) }, 3,
			"entry 3 is missing (found 4 in its place)"},
		{"RemoveFirst", func(es []payment.Entry) []payment.Entry { return es[1:] }, 1,
			"entry 1 is missing (found 2 in its place)"},
		{"AddOne", func(es []payment.Entry) []payment.Entry {
			extra := es[4]
			extra.Seq, extra.PrevHash = 6, es[4].Hash
			extra.Hash = extra.ComputeHash()
			return append(es, extra)
		}, 7, head},
		{"Hash", func(es []payment.Entry) []payment.Entry { es[2].Hash[0] ^= 1; return es }, 3, content},
		{"PrevHash", func(es []payment.Entry) []payment.Entry { es[3].PrevHash[0] ^= 1; return es }, 4, link},
		{"FirstGetsAPrevHash", func(es []payment.Entry) []payment.Entry { es[0].PrevHash = []byte{0}; return es }, 1, link},
		// Rehashing the changed entry moves the break to the next link.
		{"NoteRehashed", func(es []payment.Entry) []payment.Entry {
			es[1].Note = "awaiting nobody"
			es[1].Hash = es[1].ComputeHash()
			return es
		}, 3, link},
		// Rehashing the whole chain leaves the payment's head behind.
		{"ChainRebuilt", func(es []payment.Entry) []payment.Entry {
			es[2].Actor.ID = "someone.else"
			var prev []byte
			for i := range es {
				es[i].PrevHash = prev
				es[i].Hash = es[i].ComputeHash()
				prev = es[i].Hash
			}
			return es
		}, 6, head},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			p, entries := rejectedChain(t)
			tampered := tt.tamper(cloneEntries(entries))
			n, why := payment.VerifyChain(tampered, p.HeadHash)
			require.Equal(t, tt.seq, n, "reason: %s", why)
			require.Contains(t, why, tt.why)

			n, why = payment.VerifyChain(entries, p.HeadHash)
			require.Zero(t, n, "the original is untouched: %s", why)
		})
	}
}

// TestApplyKeepsMicroseconds: an entry's time is what PostgreSQL stores
// (microseconds, UTC), so its hash still matches when it is read back.
func TestApplyKeepsMicroseconds(t *testing.T) {
	t.Parallel()

	p := waiting(payment.StateAwaitingReview)
	cst := time.FixedZone("CST", 8*3600)
	at := time.Date(2026, 3, 11, 10, 30, 15, 123456789, cst)
	e, err := p.Apply(payment.ActionApprove, payment.Actor{Kind: payment.ActorUser, ID: "li.na"}, at, "")
	require.NoError(t, err)

	want := time.Date(2026, 3, 11, 2, 30, 15, 123456000, time.UTC)
	require.Equal(t, want, e.At)
	require.Equal(t, time.UTC, e.At.Location())
	require.Equal(t, want, p.UpdatedAt)

	// Read back as a database driver would: microseconds, in another zone.
	stored := e
	stored.At = time.UnixMicro(e.At.UnixMicro()).In(cst)
	require.Equal(t, e.Hash, stored.ComputeHash())

	// A whole timeline decided at times with nanoseconds survives the trip.
	q, entries := rejectedChain(t)
	for i := range entries {
		require.Zero(t, entries[i].At.Nanosecond()%1000, "entry %d keeps nanoseconds", i+1)
		entries[i].At = time.UnixMicro(entries[i].At.UnixMicro()).In(cst)
	}
	n, why := payment.VerifyChain(entries, q.HeadHash)
	require.Zero(t, n, why)

	// Had the nanoseconds been kept, the stored entry would not match.
	untruncated := e
	untruncated.At = at
	require.NotEqual(t, e.Hash, untruncated.ComputeHash())
}
