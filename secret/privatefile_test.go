package secret

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSecurityPrivateFiles: the session file and the OTP QR code are
// written 0600 even over a file with a looser mode, and a symlink planted
// at their path is replaced, never followed.
func TestSecurityPrivateFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	// A file already there, world-readable: it ends up 0600.
	loose := filepath.Join(dir, "session.json")
	require.NoError(t, os.WriteFile(loose, []byte("old"), 0o644))
	require.NoError(t, os.Chmod(loose, 0o644))
	require.NoError(t, WritePrivateFile(loose, []byte("token")))
	requirePrivate(t, loose, "token")

	// A symlink to a file the attacker can read: the target is untouched.
	target := filepath.Join(dir, "attacker-readable")
	require.NoError(t, os.WriteFile(target, nil, 0o666))
	link := filepath.Join(dir, "alice-otp.png")
	require.NoError(t, os.Symlink(target, link))
	require.NoError(t, WritePrivateFile(link, []byte("png")))
	requirePrivate(t, link, "png")
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Empty(t, got, "the symlink was followed")

	// The session written by `b2bpay login` and the QR of `users enrol-otp`
	// go through WritePrivateFile; a fresh path is 0600 too.
	fresh := filepath.Join(dir, "new.png")
	require.NoError(t, WritePrivateFile(fresh, []byte("x")))
	requirePrivate(t, fresh, "x")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 4, "no temporary file is left behind")
}

func requirePrivate(t *testing.T, path, content string) {
	t.Helper()
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular(), "%s is %s, not a regular file", path, fi.Mode())
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, content, string(b))
}
