package postgres_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
)

// reportSetup is a database of its own with one claimed batch of four
// payments (in file order) and one other batch.
func reportSetup(t *testing.T) (*bundle, export.Batch, []string, string) {
	t.Helper()
	b, accounts, bic := setupOwnDB(t, baseTime.Add(-2*time.Hour))
	b.submitAuthorized(t, accounts, b.bank.ID, "CNY", "2026-03-12", 4, cutoffAt10.Add(-time.Hour))
	other := b.submitAuthorized(t, accounts, bic.ID, "CNY", "2026-03-12", 1, cutoffAt10.Add(-time.Hour))
	b.clock.Set(cutoffAt10.Add(time.Second))
	batches, err := b.store.CutoffClaimBatches(t.Context(), claim(cutoffAt10, 10))
	require.NoError(t, err)
	require.Len(t, batches, 2)
	b.clock.Set(cutoffAt10.Add(8 * time.Hour))
	return b, batches[0], idsOf(batchItems(t, b.store, batches[0].ID)), other[0]
}

// refusal returns the reason of a *export.ReportRefusal, failing the test
// on any other error.
func refusal(t *testing.T, err error) string {
	t.Helper()
	var rr *export.ReportRefusal
	require.True(t, errors.As(err, &rr), "want a refusal, got %v", err)
	return rr.Reason
}

// state returns a payment's state.
func (b *bundle) state(t *testing.T, id string) payment.State {
	t.Helper()
	p, err := b.store.PaymentGetByID(t.Context(), id)
	require.NoError(t, err)
	return p.State
}

// reportRow returns a status_reports row's outcome, reason and entries.
func (b *bundle) reportRow(t *testing.T, sha string) (string, string, int) {
	t.Helper()
	var outcome, reason string
	var entries int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT outcome, reason, entries FROM status_reports WHERE sha256 = $1`, sha).
		Scan(&outcome, &reason, &entries))
	return outcome, reason, entries
}

// TestStatusReportApply settles and returns payments of a batch, each with
// its timeline entry and status event; applies nothing of a report with one
// wrong entry; refuses what the payments' states forbid; and knows a report
// seen before.
func TestStatusReportApply(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b, batch, p, other := reportSetup(t)
	sha := func(n int) string { return strings.Repeat(string(rune('a'+n)), 64) }

	// Settle one, return one (with the reason code), one pending.
	info := strings.Repeat("收款账户已销户", 5) // 105 bytes: clipped to 80 in the note
	n, err := b.store.StatusReportApply(ctx, sha(0), "r0.xml", "STS-0", []export.ReportEntry{
		{BatchID: batch.ID, PaymentID: p[0], Status: "ACSC"},
		{BatchID: batch.ID, PaymentID: strings.ReplaceAll(p[1], "-", ""), Status: "RJCT", ReasonCode: "AC04", Info: info},
		{BatchID: batch.ID, PaymentID: p[2], Status: "PDNG"},
	})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, payment.StateSettled, b.state(t, p[0]))
	require.Equal(t, payment.StateReturned, b.state(t, p[1]))
	require.Equal(t, payment.StateExported, b.state(t, p[2]))
	outcome, reason, entries := b.reportRow(t, sha(0))
	require.Equal(t, []any{"applied", "", 3}, []any{outcome, reason, entries})

	tl, err := b.store.PaymentTimeline(ctx, p[1])
	require.NoError(t, err)
	last := tl[len(tl)-1]
	require.Equal(t, payment.ActionReturn, last.Action)
	require.Equal(t, payment.StateReturned, last.To)
	require.Equal(t, payment.Code("AC04"), last.Code)
	require.Equal(t, payment.Actor{Kind: payment.ActorSystem, ID: "clearing"}, last.Actor)
	require.True(t, strings.HasPrefix(last.Note, "status report STS-0: RJCT (收款账户已销户"), last.Note)
	require.True(t, utf8.ValidString(last.Note), "the note is clipped on a character boundary: %q", last.Note)
	require.NotContains(t, last.Note, "\uFFFD", "the note is clipped on a character boundary")
	q, err := b.store.PaymentGetByID(ctx, p[1])
	require.NoError(t, err)
	seq, why := payment.VerifyChain(tl, q.HeadHash)
	require.Zero(t, seq, why)
	tl, err = b.store.PaymentTimeline(ctx, p[0])
	require.NoError(t, err)
	require.Equal(t, payment.ActionSettle, tl[len(tl)-1].Action)
	require.Equal(t, "status report STS-0: ACSC", tl[len(tl)-1].Note)

	events := map[string][]payment.State{}
	for _, r := range byExchange(b.outboxRows(t), "b2bpay.events") {
		ev := decodeEvent(t, r.Body)
		if ev.Kind == payment.EventStateChanged {
			events[ev.PaymentID] = append(events[ev.PaymentID], ev.State)
		}
	}
	require.Equal(t, []payment.State{payment.StateExported, payment.StateSettled}, events[p[0]])
	require.Equal(t, []payment.State{payment.StateExported, payment.StateReturned}, events[p[1]])
	require.Equal(t, []payment.State{payment.StateExported}, events[p[2]])

	// The same content again: seen, nothing changes.
	_, err = b.store.StatusReportApply(ctx, sha(0), "r0-again.xml", "STS-0", []export.ReportEntry{
		{BatchID: batch.ID, PaymentID: p[2], Status: "ACSC"},
	})
	require.ErrorIs(t, err, export.ErrReportSeen)
	require.Equal(t, payment.StateExported, b.state(t, p[2]))

	// The same statuses in a new report change nothing and are applied.
	n, err = b.store.StatusReportApply(ctx, sha(1), "r1.xml", "STS-1", []export.ReportEntry{
		{BatchID: batch.ID, PaymentID: p[0], Status: "ACSC"},
		{BatchID: batch.ID, PaymentID: p[1], Status: "RJCT", ReasonCode: "AC04"},
	})
	require.NoError(t, err)
	require.Zero(t, n)

	// Refused whole: the valid first entry is not applied either, and the
	// report is not recorded (the caller quarantines it).
	for i, tc := range []struct {
		entry export.ReportEntry
		why   string
	}{
		{export.ReportEntry{BatchID: batch.ID, PaymentID: other, Status: "ACSC"}, "payment " + other + " is not in batch " + batch.ID},
		{export.ReportEntry{BatchID: "B20990101000000-0001", PaymentID: p[3], Status: "ACSC"}, "payment " + p[3] + " is not in batch B20990101000000-0001"},
		{export.ReportEntry{BatchID: batch.ID, PaymentID: "PO-0001", Status: "ACSC"}, `transaction id "PO-0001" is not a b2bpay payment id`},
		{export.ReportEntry{BatchID: batch.ID, PaymentID: p[0], Status: "RJCT", ReasonCode: "AM04"}, "payment " + p[0] + " is settled; a report cannot return it"},
		{export.ReportEntry{BatchID: batch.ID, PaymentID: p[1], Status: "ACSC"}, "payment " + p[1] + " is returned; a report cannot settle it"},
	} {
		_, err := b.store.StatusReportApply(ctx, sha(10+i), "bad.xml", "STS-BAD", []export.ReportEntry{
			{BatchID: batch.ID, PaymentID: p[2], Status: "ACSC"}, tc.entry,
		})
		require.Equal(t, "entry 2: "+tc.why, refusal(t, err))
		require.Equal(t, payment.StateExported, b.state(t, p[2]), "case %d: nothing applied", i)
		var recorded bool
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM status_reports WHERE sha256 = $1)`, sha(10+i)).Scan(&recorded))
		require.False(t, recorded)
	}
	require.Equal(t, payment.StateExported, b.state(t, other))
	require.Equal(t, payment.StateExported, b.state(t, p[3]))
}

// TestStatusReportQuarantine records a refused report once, and a report
// quarantined before is refused again rather than taken for one applied.
func TestStatusReportQuarantine(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b, batch, p, _ := reportSetup(t)
	sha := strings.Repeat("e", 64)
	require.NoError(t, b.store.StatusReportQuarantine(ctx, sha, "bad\x00.xml", "STS-Q", "entry 1: payment x is not in batch y"))
	require.NoError(t, b.store.StatusReportQuarantine(ctx, sha, "bad.xml", "STS-Q", "another reason"))
	outcome, reason, _ := b.reportRow(t, sha)
	require.Equal(t, "quarantined", outcome)
	require.Equal(t, "entry 1: payment x is not in batch y", reason, "the first record stands")
	var n int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM status_reports`).Scan(&n))
	require.Equal(t, 1, n)

	_, err := b.store.StatusReportApply(ctx, sha, "bad-again.xml", "STS-Q", []export.ReportEntry{{BatchID: batch.ID, PaymentID: p[0], Status: "ACSC"}})
	require.Equal(t, "quarantined before: entry 1: payment x is not in batch y", refusal(t, err))
	require.Equal(t, payment.StateExported, b.state(t, p[0]))
}
