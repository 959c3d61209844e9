package export_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
)

// TestRunCutoffClaimsAndWrites runs a cutoff over payments of two banks in
// two currencies: they are batched by bank and currency, three to a file;
// each payment is exported in exactly one batch with its timeline entry and
// status event; each file is valid pacs.008 and matches its manifest and
// its record; what was authorized after the cutoff or executes after the
// settlement date waits; the same cutoff run again does nothing.
func TestRunCutoffClaimsAndWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	// 7 + 2 + 1 + 4 payments: files of 3+3+1, 2, 1, 3+1.
	groups := []struct {
		bank, currency string
		n              int
		files          []int
	}{
		{bankCNAPS, "CNY", 7, []int{3, 3, 1}},
		{bankCNAPS, "USD", 2, []int{2}},
		{bankBIC, "CNY", 1, []int{1}},
		{bankBIC, "USD", 4, []int{3, 1}},
	}
	var due []string
	for _, g := range groups {
		due = append(due, f.submit(t, g.bank, g.currency, g.n, "2026-03-10")...)
	}
	late := f.submit(t, bankCNAPS, "CNY", 1, "2026-03-10")     // authorized at the cutoff's very instant
	tomorrow := f.submit(t, bankCNAPS, "CNY", 1, "2026-03-11") // executes after the settlement date
	waiting := f.submit(t, bankBIC, "USD", 1, "2026-03-10")    // never authorized
	f.authorize(t, due, at(2026, 3, 10, 9, 30))
	f.authorize(t, tomorrow, at(2026, 3, 10, 9, 30))
	f.authorize(t, late, at(2026, 3, 10, 10, 0))

	dir := t.TempDir()
	x := f.exporter(t, f.store, dir)
	cutoff := at(2026, 3, 10, 10, 0)
	f.clock.Set(cutoff.Add(5 * time.Second))
	res, err := x.RunCutoff(ctx, cutoff)
	require.NoError(t, err)
	require.False(t, res.Taken)
	require.True(t, cutoff.Equal(res.CutoffAt))
	require.Equal(t, len(due), res.Payments)

	// Batches: grouped by bank and currency, chunked three to a file.
	type key struct{ bank, currency string }
	sizes := map[key][]int{}
	for _, b := range res.Batches {
		require.Equal(t, "claimed", b.State, "the claim returns the batches before their files are written")
		require.Equal(t, "2026-03-10", b.SettlementDate.Format(payment.DateLayout))
		require.True(t, strings.HasPrefix(b.ID, "B20260310100000-"), b.ID)
		require.Equal(t, b.ID+".pacs.008.001.08.xml", b.FileName)
		sizes[key{b.DebtorBankID, b.Currency}] = append(sizes[key{b.DebtorBankID, b.Currency}], b.Count)
	}
	require.Len(t, sizes, len(groups))
	for _, g := range groups {
		got := sizes[key{g.bank, g.currency}]
		slices.Sort(got)
		want := slices.Clone(g.files)
		slices.Sort(want)
		require.Equal(t, want, got, "%s %s", g.bank, g.currency)
	}

	// Every due payment in exactly one batch, with its sequence in the file.
	batchOf := f.batchOf(t)
	require.Len(t, batchOf, len(due))
	rows, err := f.pool.Query(ctx, `SELECT batch_id, array_agg(seq ORDER BY seq) FROM batch_payments GROUP BY 1`)
	require.NoError(t, err)
	seqs, err := collectSeqs(rows)
	require.NoError(t, err)
	for _, b := range res.Batches {
		want := make([]int32, b.Count)
		for i := range want {
			want[i] = int32(i + 1)
		}
		require.Equal(t, want, seqs[b.ID], "batch %s numbers its payments 1..n", b.ID)
	}

	// Each payment exported, with a timeline entry naming batch and file and
	// a status event in the outbox.
	f.requireStates(t, due, payment.StateExported)
	events := f.stateEvents(t)
	for _, id := range due {
		tl, err := f.store.PaymentTimeline(ctx, id)
		require.NoError(t, err)
		last := tl[len(tl)-1]
		require.Equal(t, payment.ActionExport, last.Action)
		require.Equal(t, payment.StateAuthorized, last.From)
		require.Equal(t, payment.StateExported, last.To)
		require.Equal(t, payment.ActorSystem, last.Actor.Kind)
		b := batchOf[id]
		require.Equal(t, "batch "+b+", file "+b+".pacs.008.001.08.xml", last.Note)
		require.Equal(t, []payment.State{payment.StateExported}, events[id], "payment %s: one state_changed event", id)
		q, err := f.store.PaymentGetByID(ctx, id)
		require.NoError(t, err)
		seq, why := payment.VerifyChain(tl, q.HeadHash)
		require.Zero(t, seq, why)
	}

	// The payments that were not due wait.
	f.requireStates(t, late, payment.StateAuthorized)
	f.requireStates(t, tomorrow, payment.StateAuthorized)
	f.requireStates(t, waiting, payment.StateAwaitingConfirmation)
	for _, id := range slices.Concat(late, tomorrow, waiting) {
		require.NotContains(t, batchOf, id)
		require.Empty(t, events[id])
	}

	// The files: valid, complete, matching manifest and record.
	f.requireComplete(t, dir, due)
	last, err := f.store.CutoffLast(ctx)
	require.NoError(t, err)
	require.True(t, cutoff.Equal(last))
	var finished *time.Time
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT finished_at FROM cutoff_runs WHERE cutoff_at = $1`, cutoff).Scan(&finished))
	require.NotNil(t, finished, "the run is recorded as finished")

	// The same cutoff again: taken, nothing claimed, nothing written.
	before := snapshot(t, dir)
	again, err := x.RunCutoff(ctx, cutoff)
	require.NoError(t, err)
	require.True(t, again.Taken)
	require.Empty(t, again.Batches)
	require.Zero(t, again.Payments)
	require.Equal(t, before, snapshot(t, dir), "a cutoff run twice writes nothing new")
	require.Len(t, f.batchOf(t), len(due))

	// The next cutoff takes the payment authorized after this one.
	next := at(2026, 3, 10, 14, 0)
	f.clock.Set(next.Add(time.Second))
	res, err = x.RunCutoff(ctx, next)
	require.NoError(t, err)
	require.Equal(t, 1, res.Payments)
	f.requireStates(t, late, payment.StateExported)
	f.requireStates(t, tomorrow, payment.StateAuthorized)
	f.requireComplete(t, dir, slices.Concat(due, late))
}

// TestRedeliver writes a delivered file again, byte for byte, elsewhere;
// a stored SHA-256 that no longer matches makes it fail clearly without
// touching any delivered file.
func TestRedeliver(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	ids := f.submit(t, bankCNAPS, "CNY", 5, "2026-03-10")
	f.authorize(t, ids, at(2026, 3, 10, 9, 30))
	dir, again := t.TempDir(), t.TempDir()
	x := f.exporter(t, f.store, dir)
	f.clock.Set(at(2026, 3, 10, 10, 0).Add(time.Second))
	res, err := x.RunCutoff(ctx, at(2026, 3, 10, 10, 0))
	require.NoError(t, err)
	require.Len(t, res.Batches, 2)
	b := res.Batches[0]
	original, err := os.ReadFile(filepath.Join(dir, b.FileName))
	require.NoError(t, err)
	stored, err := f.store.BatchGet(ctx, b.ID)
	require.NoError(t, err)

	// Later, from another process, with the clock moved on: the same bytes.
	f.clock.Set(at(2026, 3, 12, 16, 0))
	_, store2 := f.newStore(t)
	x2 := f.exporter(t, store2, t.TempDir())
	sum, err := x2.Redeliver(ctx, b.ID, again)
	require.NoError(t, err)
	require.Equal(t, stored.SHA256, sum)
	copied, err := os.ReadFile(filepath.Join(again, b.FileName))
	require.NoError(t, err)
	require.Equal(t, original, copied, "a redelivered file is byte-identical")
	require.Equal(t, sum, readManifest(t, filepath.Join(again, b.FileName)).SHA256)
	requireNoTemp(t, again)

	// Into the outbound directory (the default) after the gateway took it.
	require.NoError(t, os.Remove(filepath.Join(dir, b.FileName)))
	_, err = x.Redeliver(ctx, b.ID, "")
	require.NoError(t, err)
	back, err := os.ReadFile(filepath.Join(dir, b.FileName))
	require.NoError(t, err)
	require.Equal(t, original, back)

	// A record that no longer matches: a clear error, and neither the
	// delivered file nor a copy elsewhere is replaced by different bytes.
	_, err = f.pool.Exec(ctx, `UPDATE batches SET sha256 = $2 WHERE id = $1`, b.ID, strings.Repeat("0", 64))
	require.NoError(t, err)
	elsewhere := t.TempDir()
	_, err = x.Redeliver(ctx, b.ID, elsewhere)
	require.Error(t, err)
	require.Contains(t, err.Error(), b.ID)
	require.Contains(t, err.Error(), "SHA-256 "+stored.SHA256+", not "+strings.Repeat("0", 64))
	require.Empty(t, dirNames(t, elsewhere), "nothing is delivered when the bytes differ from the record")
	before := snapshot(t, dir)
	_, err = x.Redeliver(ctx, b.ID, "")
	require.Error(t, err)
	require.Equal(t, before, snapshot(t, dir))

	// Only delivered batches can be delivered again.
	_, err = f.pool.Exec(ctx, `UPDATE batches SET state = 'claimed', sha256 = NULL WHERE id = $1`, res.Batches[1].ID)
	require.NoError(t, err)
	_, err = x.Redeliver(ctx, res.Batches[1].ID, elsewhere)
	require.ErrorContains(t, err, "has not been written yet")
	_, err = x.Redeliver(ctx, "B20990101000000-0001", elsewhere)
	require.ErrorIs(t, err, payment.ErrNotFound)
}

// TestNewRefusesIncompleteConfig checks the required settings.
func TestNewRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	_, err := export.New(nil, export.Config{Dir: t.TempDir(), Format: iso20022.Pacs008()})
	require.ErrorContains(t, err, "Dir, Format, Schedule and Calendar are required")
}

// fileState is what a test remembers of a file to tell whether it was
// written again.
type fileState struct {
	Size    int64
	ModTime time.Time
	SHA256  string
}

// snapshot records every file in dir.
func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	out := map[string]fileState{}
	for _, n := range dirNames(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, n))
		require.NoError(t, err)
		out[n] = fileState{Size: fi.Size(), ModTime: fi.ModTime(), SHA256: fileSHA256(t, filepath.Join(dir, n))}
	}
	return out
}

// stateEvents returns, per payment, the states its state_changed events in
// the outbox report, in order.
func (f *fixture) stateEvents(t *testing.T) map[string][]payment.State {
	t.Helper()
	rows, err := f.pool.Query(t.Context(), `SELECT body FROM outbox ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string][]payment.State{}
	for rows.Next() {
		var body []byte
		require.NoError(t, rows.Scan(&body))
		var ev payment.Event
		require.NoError(t, json.Unmarshal(body, &ev))
		if ev.Kind == payment.EventStateChanged {
			out[ev.PaymentID] = append(out[ev.PaymentID], ev.State)
		}
	}
	require.NoError(t, rows.Err())
	return out
}

// collectSeqs reads (batch id, seqs) rows.
func collectSeqs(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close()
}) (map[string][]int32, error) {
	defer rows.Close()
	out := map[string][]int32{}
	for rows.Next() {
		var id string
		var seqs []int32
		if err := rows.Scan(&id, &seqs); err != nil {
			return nil, err
		}
		out[id] = seqs
	}
	return out, rows.Err()
}
