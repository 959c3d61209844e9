package export_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/route"
)

// The crash helper's environment: TestHelperProcess runs a cutoff only
// when helperEnv is set, in the database, directory and at the cutoff
// the others name, and B2BPAY_CRASH_AT says where it dies.
const (
	helperEnv       = "B2BPAY_EXPORT_HELPER"
	helperDBEnv     = "B2BPAY_EXPORT_HELPER_DB"
	helperDirEnv    = "B2BPAY_EXPORT_HELPER_DIR"
	helperCutoffEnv = "B2BPAY_EXPORT_HELPER_CUTOFF"
)

// crash is what the Crash hook panics with, to stop a run at a point the
// way a crash would (nothing after it runs).
type crash struct{ point string }

// crashAt returns a Crash hook that panics at point.
func crashAt(point string) func(*export.Config) {
	return func(c *export.Config) {
		c.Crash = func(p string) {
			if p == point {
				panic(crash{p})
			}
		}
	}
}

// runCrashing runs fn and returns the crash it stopped at, failing the test
// if it did not crash.
func runCrashing(t *testing.T, fn func()) (got crash) {
	t.Helper()
	defer func() {
		r := recover()
		c, ok := r.(crash)
		require.True(t, ok, "want a crash, got %v", r)
		got = c
	}()
	fn()
	return crash{}
}

// crashFixture has payments for 7 files (two banks, two currencies, three
// a file) authorized before the 10:00 cutoff.
func crashFixture(t *testing.T) (*fixture, []string) {
	t.Helper()
	f := newFixture(t)
	ids := f.submit(t, bankCNAPS, "CNY", 7, "2026-03-10")
	ids = append(ids, f.submit(t, bankCNAPS, "USD", 2, "2026-03-10")...)
	ids = append(ids, f.submit(t, bankBIC, "CNY", 4, "2026-03-10")...)
	ids = append(ids, f.submit(t, bankBIC, "USD", 1, "2026-03-10")...)
	f.authorize(t, ids, at(2026, 3, 10, 9, 30))
	f.clock.Set(at(2026, 3, 10, 10, 0).Add(5 * time.Second))
	return f, ids
}

// TestCrashAfterClaim: a run that dies once its claim is committed leaves
// batches claimed and no file; the next process writes them all.
func TestCrashAfterClaim(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f, ids := crashFixture(t)
	dir := t.TempDir()
	cutoff := at(2026, 3, 10, 10, 0)
	x := f.exporter(t, f.store, dir, crashAt(export.CrashAfterClaim))
	require.Equal(t, crash{export.CrashAfterClaim}, runCrashing(t, func() { _, _ = x.RunCutoff(ctx, cutoff) }))

	batches := f.batchStates(t)
	require.Len(t, batches, 7)
	for id, st := range batches {
		require.Equal(t, "claimed", st, "batch %s", id)
	}
	require.Empty(t, dirNames(t, dir), "no file before the claim is followed by a write")
	f.requireStates(t, ids, payment.StateExported)
	require.Len(t, f.batchOf(t), len(ids))

	// Another process: its WritePending finishes the work.
	_, store2 := f.newStore(t)
	x2 := f.exporter(t, store2, dir)
	_, err := x2.WritePending(ctx)
	require.NoError(t, err)
	f.requireComplete(t, dir, ids)

	// Running the cutoff again claims nothing and writes nothing.
	before := snapshot(t, dir)
	res, err := x2.RunCutoff(ctx, cutoff)
	require.NoError(t, err)
	require.True(t, res.Taken)
	require.Equal(t, before, snapshot(t, dir))
}

// TestCrashAfterWrite: a run that dies after a file is in place but before
// it is marked written leaves the file; the next run writes it again
// byte for byte, marks it, and leaves one file per batch.
func TestCrashAfterWrite(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f, ids := crashFixture(t)
	dir := t.TempDir()
	cutoff := at(2026, 3, 10, 10, 0)
	x := f.exporter(t, f.store, dir, crashAt(export.CrashAfterWrite))
	require.Equal(t, crash{export.CrashAfterWrite}, runCrashing(t, func() { _, _ = x.RunCutoff(ctx, cutoff) }))

	for id, st := range f.batchStates(t) {
		require.Equal(t, "claimed", st, "batch %s: the crash came before it was marked", id)
	}
	first := dirNames(t, dir)
	require.Len(t, first, 2, "the first batch's file and manifest are in place: %v", first)
	pending, err := f.store.BatchesClaimed(ctx)
	require.NoError(t, err)
	written := pending[0]
	require.Equal(t, []string{written.FileName, written.FileName + ".manifest.json"}, first)
	crashed, err := os.ReadFile(filepath.Join(dir, written.FileName))
	require.NoError(t, err)
	validate(t, filepath.Join(dir, written.FileName))

	// The next run (the following cutoff, in another process, an hour on).
	f.clock.Set(at(2026, 3, 10, 14, 0).Add(time.Minute))
	_, store2 := f.newStore(t)
	x2 := f.exporter(t, store2, dir)
	res, err := x2.RunCutoff(ctx, at(2026, 3, 10, 14, 0))
	require.NoError(t, err)
	require.Zero(t, res.Payments)
	f.requireComplete(t, dir, ids)
	requireNoTemp(t, dir)
	again, err := os.ReadFile(filepath.Join(dir, written.FileName))
	require.NoError(t, err)
	require.Equal(t, crashed, again, "the file written again is the file the crash left")
}

// TestCrashProcess kills a real process (exit 3 from export.CrashFromEnv,
// no cleanup, as kill -9) at each crash point, then recovers in this one.
// Killed inside a file's write, the process leaves part of the file in the
// temporary directory and nothing in the outbound directory a gateway
// would take; the recovery removes it and writes every file whole.
func TestCrashProcess(t *testing.T) {
	t.Parallel()
	for _, point := range []string{export.CrashAfterClaim, export.CrashDuringWrite, export.CrashAfterWrite} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			f, ids := crashFixture(t)
			dir := t.TempDir()
			cutoff := at(2026, 3, 10, 10, 0)

			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), helperEnv+"=1", helperDBEnv+"="+f.url, helperDirEnv+"="+dir,
				helperCutoffEnv+"="+cutoff.Format(time.RFC3339), "B2BPAY_CRASH_AT="+point)
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = io.Discard, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "the helper must crash, got %v; stderr: %s", err, stderr.String())
			require.Equal(t, 3, exit.ExitCode(), stderr.String())
			require.Contains(t, stderr.String(), "crashing at "+point)

			for id, st := range f.batchStates(t) {
				require.Equal(t, "claimed", st, "batch %s", id)
			}
			var crashed []byte
			var crashedName string
			switch point {
			case export.CrashAfterClaim:
				require.Empty(t, dirNames(t, dir))
			case export.CrashDuringWrite:
				require.Empty(t, dirNames(t, dir), "no file, whole or partial, where the gateway takes files")
				temps := tempNames(t, dir)
				require.Len(t, temps, 1, "the partial file is in the temporary directory")
				raw, err := os.ReadFile(filepath.Join(dir, export.TempDir, temps[0]))
				require.NoError(t, err)
				require.NotEmpty(t, raw, "part of the file was written")
				require.NotContains(t, string(raw), "</Document>", "the file was not complete")
			case export.CrashAfterWrite:
				pending, err := f.store.BatchesClaimed(ctx)
				require.NoError(t, err)
				require.Equal(t, []string{pending[0].FileName, pending[0].FileName + ".manifest.json"}, dirNames(t, dir))
				crashedName = pending[0].FileName
				crashed, err = os.ReadFile(filepath.Join(dir, crashedName))
				require.NoError(t, err)
			}

			// Recovery: this process runs the same cutoff (taken by the
			// dead one) and writes what it left.
			x := f.exporter(t, f.store, dir)
			res, err := x.RunCutoff(ctx, cutoff)
			require.NoError(t, err)
			require.True(t, res.Taken)
			require.Len(t, res.Recovered, 7, "the run reports the files it recovered")
			f.requireComplete(t, dir, ids)
			if crashed != nil {
				again, err := os.ReadFile(filepath.Join(dir, crashedName))
				require.NoError(t, err)
				require.Equal(t, crashed, again)
			}
		})
	}
}

// TestHelperProcess is the process TestCrashProcess kills: it runs one
// cutoff with the Crash hook reading B2BPAY_CRASH_AT. It does nothing in a
// normal test run.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("only run by TestCrashProcess")
	}
	ctx := t.Context()
	cutoff, err := time.Parse(time.RFC3339, os.Getenv(helperCutoffEnv))
	require.NoError(t, err)
	now := func() time.Time { return cutoff.Add(5 * time.Second) }
	pool, err := postgres.Open(ctx, os.Getenv(helperDBEnv), 4)
	require.NoError(t, err)
	defer pool.Close()
	store, err := postgres.New(pool, postgres.Config{Seal: pgtest.Key, Now: now, Location: shanghai(), EventMessage: route.EventMessage})
	require.NoError(t, err)
	x, err := export.New(store, export.Config{
		Dir: os.Getenv(helperDirEnv), Format: iso20022.Pacs008(), MaxPerFile: 3, Schedule: schedule(t, calendar.Weekdays()),
		Calendar: calendar.Weekdays(), Location: shanghai(), Runner: fmt.Sprintf("helper/%d", os.Getpid()), Now: now,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Crash: export.CrashFromEnv,
	})
	require.NoError(t, err)
	_, err = x.RunCutoff(ctx, cutoff)
	require.NoError(t, err)
}
