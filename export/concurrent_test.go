package export_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
)

// runTogether starts every run at once and returns their results in order.
func runTogether(t *testing.T, runs ...func() (export.Result, error)) []export.Result {
	t.Helper()
	results := make([]export.Result, len(runs))
	errs := make([]error, len(runs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, run := range runs {
		wg.Go(func() {
			<-start
			results[i], errs[i] = run()
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "run %d", i)
	}
	return results
}

// roundDays are the business days the concurrent tests run a round on.
var roundDays = []int{10, 11, 12, 13, 16}

// submitRound stores and authorizes, before 10:00 on March d, payments
// of both banks in both currencies.
func (f *fixture) submitRound(t *testing.T, d int) []string {
	t.Helper()
	exec := time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC).Format("2006-01-02")
	f.clock.Set(at(2026, 3, d, 9, 0))
	ids := f.submit(t, bankCNAPS, "CNY", 7, exec)
	ids = append(ids, f.submit(t, bankCNAPS, "USD", 3, exec)...)
	ids = append(ids, f.submit(t, bankBIC, "CNY", 2, exec)...)
	ids = append(ids, f.submit(t, bankBIC, "USD", 5, exec)...)
	f.authorize(t, ids, at(2026, 3, d, 9, 30))
	return ids
}

// TestTwoRunnersOneCutoff: two processes run the same cutoff at the same
// moment; the cutoff record lets exactly one claim, and every payment ends
// in one batch and one file.
func TestTwoRunnersOneCutoff(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	dir := t.TempDir()
	_, store1 := f.newStore(t)
	_, store2 := f.newStore(t)
	x1 := f.exporter(t, store1, dir, func(c *export.Config) { c.Runner = "one" })
	x2 := f.exporter(t, store2, dir, func(c *export.Config) { c.Runner = "two" })
	var all []string
	for _, d := range roundDays {
		ids := f.submitRound(t, d)
		all = append(all, ids...)
		cutoff := at(2026, 3, d, 10, 0)
		f.clock.Set(cutoff.Add(5 * time.Second))
		res := runTogether(t,
			func() (export.Result, error) { return x1.RunCutoff(ctx, cutoff) },
			func() (export.Result, error) { return x2.RunCutoff(ctx, cutoff) })
		require.NotEqual(t, res[0].Taken, res[1].Taken, "March %d: exactly one runner claims", d)
		winner := res[0]
		if winner.Taken {
			winner = res[1]
		}
		require.Equal(t, len(ids), winner.Payments, "March %d", d)
		require.Len(t, winner.Batches, 3+1+1+2)
		f.requireComplete(t, dir, all)
	}
	var runs int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM cutoff_runs`).Scan(&runs))
	require.Equal(t, len(roundDays), runs)
}

// TestTwoCutoffsAtOnce: two processes run different cutoffs over the same
// authorized payments at the same moment; the row locks and the state guard
// give each payment to one of them, never to both.
func TestTwoCutoffsAtOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	dir := t.TempDir()
	_, store1 := f.newStore(t)
	_, store2 := f.newStore(t)
	x1 := f.exporter(t, store1, dir)
	x2 := f.exporter(t, store2, dir)
	var all []string
	for _, d := range roundDays {
		ids := f.submitRound(t, d)
		all = append(all, ids...)
		morning, afternoon := at(2026, 3, d, 10, 0), at(2026, 3, d, 14, 0)
		f.clock.Set(afternoon.Add(5 * time.Second))
		res := runTogether(t,
			func() (export.Result, error) { return x1.RunCutoff(ctx, morning) },
			func() (export.Result, error) { return x2.RunCutoff(ctx, afternoon) })
		require.False(t, res[0].Taken)
		require.False(t, res[1].Taken)
		require.Equal(t, len(ids), res[0].Payments+res[1].Payments, "March %d: %d + %d payments", d, res[0].Payments, res[1].Payments)
		batchOf := f.batchOf(t)
		for _, id := range ids {
			require.Contains(t, batchOf, id)
		}
		f.requireComplete(t, dir, all)
	}
	// Each payment was exported once: one export entry on its timeline.
	var exports, distinct int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT payment_id) FROM payment_timeline WHERE action = 'export'`).
		Scan(&exports, &distinct))
	require.Equal(t, len(all), exports)
	require.Equal(t, len(all), distinct)
}
