package recon_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/recon"
)

// TestPickup: the scheduled pickup imports a good file into processed/,
// quarantines a hostile one beside its reason, and takes the same file
// dropped again as seen before, kept under a name of its own.
func TestPickup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ps, day := f.exported(t, "CNY", 1)
	dir := filepath.Join(t.TempDir(), "camt054")
	require.NoError(t, os.MkdirAll(dir, 0o750))
	good := writeCamt(t, dir, "camt-a", settle(ps[0], day))
	raw, err := os.ReadFile(good)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "evil.xml"), []byte(`<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>`), 0o600))
	// A file where quarantine/ belongs is moved aside and read like any.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "quarantine"), []byte("not a directory"), 0o600))
	p := &recon.Pickup{Importer: f.im, Dir: dir, Log: f.im.Log}
	sum, err := p.RunOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, recon.PickupSummary{Files: 3, Imported: 1, Quarantined: 2}, sum)
	require.FileExists(t, filepath.Join(dir, "quarantine", "quarantine~1"))
	require.Contains(t, f.logs.String(), "alert=inbound_blocked")
	require.FileExists(t, filepath.Join(dir, "processed", "camt-a.xml"))
	require.FileExists(t, filepath.Join(dir, "quarantine", "evil.xml"))
	reason, err := os.ReadFile(filepath.Join(dir, "quarantine", "evil.xml.reason.txt"))
	require.NoError(t, err)
	require.Contains(t, string(reason), "declarations")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "camt-a.xml"), raw, 0o600))
	sum, err = p.RunOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, recon.PickupSummary{Files: 1, Repeated: 1}, sum)
	require.FileExists(t, filepath.Join(dir, "processed", "camt-a~1.xml"))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "only processed/ and quarantine/ are left")
}
