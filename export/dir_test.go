package export_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
)

// TestOtherOutboundDir: a batch records the (absolute) directory it was
// claimed for. An exporter configured with another directory neither
// writes it there nor loses it: WritePending refuses it with ErrOtherDir
// and an alert, the batch stays claimed, and the exporter of its own
// directory writes it. Redeliver without a directory refuses too.
func TestOtherOutboundDir(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f, ids := crashFixture(t)
	dir, other := t.TempDir(), t.TempDir()
	cutoff := at(2026, 3, 10, 10, 0)

	// The claim, by an exporter given a relative path to dir, dies before
	// writing.
	wd, err := os.Getwd()
	require.NoError(t, err)
	rel, err := filepath.Rel(wd, dir)
	require.NoError(t, err)
	x := f.exporter(t, f.store, rel, crashAt(export.CrashAfterClaim))
	require.Equal(t, dir, x.Dir())
	runCrashing(t, func() { _, _ = x.RunCutoff(ctx, cutoff) })
	pending, err := f.store.BatchesClaimed(ctx)
	require.NoError(t, err)
	require.Len(t, pending, 7)
	for _, b := range pending {
		require.Equal(t, dir, b.Dir, "batch %s records the absolute directory", b.ID)
	}

	var logs bytes.Buffer
	wrong := f.exporter(t, f.store, other, func(c *export.Config) { c.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	written, err := wrong.WritePending(ctx)
	require.ErrorIs(t, err, export.ErrOtherDir)
	require.ErrorContains(t, err, "goes to "+dir+", this exporter writes to "+other)
	require.ErrorContains(t, err, "every exporter must share one --outbound-dir")
	require.Empty(t, written)
	require.Contains(t, logs.String(), "alert=outbound_dir")
	entries, err := os.ReadDir(other)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing written in the other directory")
	for id, st := range f.batchStates(t) {
		require.Equal(t, "claimed", st, "batch %s stays claimed", id)
	}
	// The same from a cutoff run: the run claims nothing (taken) and fails.
	res, err := wrong.RunCutoff(ctx, cutoff)
	require.ErrorIs(t, err, export.ErrOtherDir)
	require.True(t, res.Taken)
	require.Empty(t, res.Recovered)

	// The exporter of the batch's directory writes every file; the run
	// says which it recovered.
	right := f.exporter(t, f.store, dir)
	res, err = right.RunCutoff(ctx, cutoff)
	require.NoError(t, err)
	require.True(t, res.Taken)
	require.Len(t, res.Recovered, 7)
	f.requireComplete(t, dir, ids)

	// Redeliver: refused to another configured directory, allowed to one
	// named on purpose, and to its own.
	_, err = wrong.Redeliver(ctx, pending[0].ID, "")
	require.ErrorIs(t, err, export.ErrOtherDir)
	entries, err = os.ReadDir(other)
	require.NoError(t, err)
	require.Empty(t, entries)
	copyDir := t.TempDir()
	sum, err := wrong.Redeliver(ctx, pending[0].ID, copyDir)
	require.NoError(t, err)
	require.Equal(t, fileSHA256(t, filepath.Join(dir, pending[0].FileName)), sum)
	_, err = right.Redeliver(ctx, pending[0].ID, "")
	require.NoError(t, err)
	f.requireComplete(t, dir, ids)
}

// TestTempFilesCleaned: New removes the temporary files a killed writer
// left (unlocked), keeps those a live writer holds, and removes the
// earlier layout's .tmp-* files once they are old.
func TestTempFilesCleaned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	tmp := filepath.Join(dir, export.TempDir)
	require.NoError(t, os.MkdirAll(tmp, 0o750))
	dead := filepath.Join(tmp, "B1.xml-dead")
	require.NoError(t, os.WriteFile(dead, []byte("<?xml"), 0o640))
	live := filepath.Join(tmp, "B2.xml-live")
	lf, err := os.Create(live)
	require.NoError(t, err)
	defer lf.Close()
	require.NoError(t, syscall.Flock(int(lf.Fd()), syscall.LOCK_EX))
	oldLegacy, newLegacy := filepath.Join(dir, ".tmp-B3.xml-0a0b"), filepath.Join(dir, ".tmp-B4.xml-0c0d")
	for _, p := range []string{oldLegacy, newLegacy} {
		require.NoError(t, os.WriteFile(p, []byte("<?xml"), 0o640))
	}
	hourAgo := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(oldLegacy, hourAgo, hourAgo))

	f.exporter(t, f.store, dir)
	require.NoFileExists(t, dead, "a killed writer's file is removed")
	require.FileExists(t, live, "a live writer's file is kept")
	require.NoFileExists(t, oldLegacy)
	require.FileExists(t, newLegacy, "a recent file of the earlier layout may be a live writer's")
}
