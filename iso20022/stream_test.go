package iso20022

import (
	"crypto/sha256"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// TestPacs008Streams writes 1,000,000 transactions (100,000 with -short)
// from a generator to io.Discard and checks that the heap does not grow
// with them: the peak HeapInuse, sampled while writing, stays within
// 8 MiB of where it started.
func TestPacs008Streams(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	const limit = 8 << 20
	base := sampleTx(1)
	base.AmountMinor = 123456
	g := Group{
		MessageID:       "B2B-STREAM",
		CreatedAt:       time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC),
		SettlementDate:  time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		Currency:        "CNY",
		Count:           n,
		ControlSumMinor: int64(n) * base.AmountMinor,
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before, peak := ms.HeapInuse, ms.HeapInuse
	i := 0
	next := func() (Transaction, bool, error) {
		if i == n {
			return Transaction{}, false, nil
		}
		i++
		if i%20_000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		tx := base
		tx.EndToEndID = "PO-" + strconv.Itoa(i)
		return tx, true, nil
	}
	counter := &countingWriter{}
	start := time.Now()
	if err := Pacs008().Write(counter, g, next); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms)
	peak = max(peak, ms.HeapInuse)
	growth := int64(peak) - int64(before)
	t.Logf("%d transactions, %d MB written in %v; heap in use %d KiB before, peak growth %d KiB",
		n, counter.n>>20, elapsed.Round(time.Millisecond), before>>10, growth>>10)
	if growth > limit {
		t.Fatalf("heap grew by %d KiB while streaming, limit %d KiB", growth>>10, limit>>10)
	}
	if i != n {
		t.Fatalf("read %d transactions, want %d", i, n)
	}
}

// countingWriter counts bytes and discards them.
type countingWriter struct{ n int64 }

// Write implements io.Writer.
func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// TestPacs008StopsOnWriteError returns the destination's error and stops
// asking for transactions.
func TestPacs008StopsOnWriteError(t *testing.T) {
	t.Parallel()
	asked := 0
	next := func() (Transaction, bool, error) {
		asked++
		return sampleTx(asked), true, nil
	}
	g := sampleGroup(many(100_000))
	err := Pacs008().Write(&failingWriter{after: 64 << 10}, g, next)
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("got %v, want the writer's error", err)
	}
	if asked >= 100_000 {
		t.Fatalf("kept reading after the write failed (%d transactions)", asked)
	}
}

// failingWriter accepts after bytes, then fails.
type failingWriter struct{ after int }

// Write implements io.Writer.
func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.after {
		n := f.after
		f.after = 0
		return n, errDiskFull
	}
	f.after -= len(p)
	return len(p), nil
}

// errDiskFull is what failingWriter returns.
var errDiskFull = errors.New("disk full")

// BenchmarkPacs008Write measures the writer alone: transactions from a
// generator, written and SHA-256 checksummed, as the exporter does.
func BenchmarkPacs008Write(b *testing.B) {
	base := sampleTx(1)
	base.AmountMinor = 123456
	const n = 10_000
	g := Group{MessageID: "B2B-BENCH", CreatedAt: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC),
		SettlementDate: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), Currency: "CNY", Count: n, ControlSumMinor: n * base.AmountMinor}
	b.ReportAllocs()
	for b.Loop() {
		i := 0
		next := func() (Transaction, bool, error) {
			if i == n {
				return Transaction{}, false, nil
			}
			i++
			tx := base
			tx.EndToEndID = "PO-" + strconv.Itoa(i)
			return tx, true, nil
		}
		h := sha256.New()
		if err := Pacs008().Write(h, g, next); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tx/s")
}
