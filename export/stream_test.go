package export_test

import (
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
)

// TestWriteStreams writes a batch of 20,000 payments (5,000 with -short)
// and checks the heap never grows by more than a few MiB while it does:
// payments stream from the database through the format into the file; no
// stage holds the batch or the file. Not parallel: the heap is the
// process's, and other tests would allocate in it.
func TestWriteStreams(t *testing.T) {
	ctx := t.Context()
	n := 20000
	if testing.Short() {
		n = 5000
	}
	f := newFixture(t)
	// A fixture: payments inserted already authorized, in one statement (the
	// rows are what intake would store; the approvals are not the point).
	tag, err := f.pool.Exec(ctx, `INSERT INTO payments (id, upstream_id, request_id, order_ref, customer_id, applicant_id,
			bank_id, debtor_account, creditor_name, creditor_account, creditor_bank_id, amount_minor, currency, remittance,
			execution_date, state, version, created_at, updated_at)
		SELECT gen_random_uuid(), $1, 'bulk-' || i, 'BULK-' || i, $2, 'zhang.wei', $3, $4,
			'上海华东机电设备有限公司', '31001520313050012345', '105290036005', 100000 + i, 'CNY',
			'采购合同 HT-2026-' || i || ' 货款', '2026-03-10', 'authorized', 1, $5, $5
		FROM generate_series(1, $6) AS i`,
		f.upstream.ID, f.customer.ID, bankCNAPS, f.accounts[bankCNAPS+"/CNY"], at(2026, 3, 10, 9, 30), n)
	require.NoError(t, err)
	require.EqualValues(t, n, tag.RowsAffected())
	_, err = pgtest.Approve(ctx, f.pool, pgtest.Key)
	require.NoError(t, err)

	// Claim only (the run stops after its claim), then write in a fresh
	// exporter while watching the heap.
	dir := t.TempDir()
	cutoff := at(2026, 3, 10, 10, 0)
	f.clock.Set(cutoff.Add(5 * time.Second))
	x := f.exporter(t, f.store, dir, crashAt(export.CrashAfterClaim), func(c *export.Config) { c.MaxPerFile = n })
	runCrashing(t, func() { _, _ = x.RunCutoff(ctx, cutoff) })
	pending, err := f.store.BatchesClaimed(ctx)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, n, pending[0].Count)

	x = f.exporter(t, f.store, dir, func(c *export.Config) { c.MaxPerFile = n })
	base, peak := heapDuring(func() { _, err := x.WritePending(ctx); require.NoError(t, err) })
	growth := int64(peak) - int64(base)
	t.Logf("%d payments: heap in use %.1f MiB before, %.1f MiB at most while writing (+%.1f MiB)",
		n, mib(base), mib(peak), float64(growth)/(1<<20))
	require.Less(t, growth, int64(16<<20), "writing a batch must not hold it in memory")

	b, err := f.store.BatchGet(ctx, pending[0].ID)
	require.NoError(t, err)
	require.Equal(t, "written", b.State)
	path := filepath.Join(dir, b.FileName)
	require.Equal(t, b.SHA256, fileSHA256(t, path))
	m := readManifest(t, path)
	require.Equal(t, n, m.Count)
	require.Equal(t, payment.FormatAmount(b.ControlSumMinor, "CNY"), m.ControlSum)
	ids := paymentsInFile(t, path)
	require.Len(t, ids, n)
	batchOf := f.batchOf(t)
	for _, id := range ids {
		require.Equal(t, b.ID, batchOf[id])
	}
	if !testing.Short() {
		validate(t, path)
	}
}

// heapDuring returns the heap in use after a collection before fn, and the
// most in use while fn ran (sampled every 2ms, and once at the end).
func heapDuring(fn func()) (base, peak uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak = ms.HeapInuse, ms.HeapInuse
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		var s runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				runtime.ReadMemStats(&s)
				mu.Lock()
				peak = max(peak, s.HeapInuse)
				mu.Unlock()
			}
		}
	})
	fn()
	close(done)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	return base, max(peak, ms.HeapInuse)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
