package inbound_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/inbound"
)

func write(t *testing.T, path, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(body), 0o640))
}

func TestWaitingMoveAndPrepare(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b.xml"), "b")
	write(t, filepath.Join(dir, "a.xml"), "a")
	write(t, filepath.Join(dir, ".a.xml.part"), "partial")
	// A file where the processed/ folder belongs: moved aside, logged.
	write(t, filepath.Join(dir, inbound.Processed), "in the way")
	var logs bytes.Buffer
	require.NoError(t, inbound.Prepare(context.Background(), dir, "camt054", slog.New(slog.NewTextHandler(&logs, nil))))
	require.Contains(t, logs.String(), "alert=inbound_blocked")
	for _, sub := range []string{inbound.Processed, inbound.Quarantine} {
		fi, err := os.Stat(filepath.Join(dir, sub))
		require.NoError(t, err)
		require.True(t, fi.IsDir(), sub)
	}

	names, err := inbound.Waiting(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"a.xml", "b.xml", "processed~1"}, names, "name order, no hidden file, no folder")

	// A move never replaces a file of the same name: the second is a.xml~1.
	write(t, filepath.Join(dir, inbound.Processed, "a.xml"), "earlier")
	to, err := inbound.Move(dir, "a.xml", inbound.Processed)
	require.NoError(t, err)
	require.Equal(t, "a~1.xml", to)
	b, err := os.ReadFile(filepath.Join(dir, inbound.Processed, "a.xml"))
	require.NoError(t, err)
	require.Equal(t, "earlier", string(b))
	_, err = os.Stat(filepath.Join(dir, "a.xml"))
	require.True(t, os.IsNotExist(err), "the old name is gone")
}
