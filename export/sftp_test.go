package export_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/export/sftptest"
)

// bigFile writes size bytes that do not compress into dir and returns its
// path and SHA-256.
func bigFile(t *testing.T, dir, name string, size int) (string, string) {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	require.NoError(t, err)
	h := sha256.New()
	block := sha256.Sum256([]byte(name))
	buf := make([]byte, 0, 1<<20)
	for written := 0; written < size; {
		buf = buf[:0]
		for len(buf) < cap(buf) {
			block = sha256.Sum256(block[:])
			buf = append(buf, block[:]...)
		}
		n := min(len(buf), size-written)
		_, err := f.Write(buf[:n])
		require.NoError(t, err)
		h.Write(buf[:n])
		written += n
	}
	require.NoError(t, f.Close())
	return p, hex.EncodeToString(h.Sum(nil))
}

// TestSFTPCutMidTransfer kills the gateway's sshd while a large file is
// uploading: the final name never appears, only the temporary one; after
// a restart the next attempt delivers it exactly once, by name and bytes,
// and leaves no temporary file; a third attempt finds it and changes
// nothing.
func TestSFTPCutMidTransfer(t *testing.T) {
	t.Parallel()
	g := sftptest.New(t)
	local, sum := bigFile(t, t.TempDir(), "B20260310100000-0001.pacs.008.xml", 96<<20)
	target := g.Target(t)

	done := make(chan error, 1)
	go func() { done <- target.Put(t.Context(), filepath.Base(local), local, sum) }()
	// Cut once part of the file is on the gateway under its temporary name.
	var partial string
	deadline := time.Now().Add(30 * time.Second)
	for partial == "" && time.Now().Before(deadline) {
		for _, n := range g.Files(t) {
			if fi, err := os.Stat(filepath.Join(g.Dir, n)); err == nil && strings.HasPrefix(n, ".") && fi.Size() > 1<<20 {
				partial = n
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the upload finished (%v) before it could be cut", err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	require.NotEmpty(t, partial, "a temporary file appeared on the gateway")
	g.Stop()
	err := <-done
	require.Error(t, err, "the cut transfer fails")
	require.NotContains(t, g.Files(t), filepath.Base(local), "a partial upload never has the final name")
	fi, serr := os.Stat(filepath.Join(g.Dir, partial))
	require.NoError(t, serr)
	require.Less(t, fi.Size(), int64(96<<20), "the transfer was cut mid-file")
	require.True(t, strings.HasPrefix(partial, "."+filepath.Base(local)+".part-"), partial)

	g.Start()
	require.NoError(t, target.Put(t.Context(), filepath.Base(local), local, sum))
	require.Equal(t, []string{filepath.Base(local)}, g.Files(t), "delivered once; the cut attempt's temporary file is gone")
	require.Equal(t, sum, fileSHA256(t, filepath.Join(g.Dir, filepath.Base(local))))
	require.NoError(t, target.Put(t.Context(), filepath.Base(local), local, sum), "delivering again is a no-op")
	require.Equal(t, []string{filepath.Base(local)}, g.Files(t))
}

// TestSFTPHostKeyPinned refuses a gateway whose host key is not the
// pinned one, by known_hosts file and by fingerprint; the right
// fingerprint is accepted.
func TestSFTPHostKeyPinned(t *testing.T) {
	t.Parallel()
	g := sftptest.New(t)
	local, sum := bigFile(t, t.TempDir(), "f.xml", 1000)

	other := sftptest.WriteKey(t, filepath.Join(t.TempDir(), "other"))
	wrongHosts := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(wrongHosts, []byte("[127.0.0.1]:"+strings.Split(g.Addr(), ":")[1]+" "+
		strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other.PublicKey())))+"\n"), 0o600))
	for _, pin := range []string{wrongHosts, ssh.FingerprintSHA256(other.PublicKey()), filepath.Join(t.TempDir(), "empty")} {
		if strings.HasSuffix(pin, "empty") {
			require.NoError(t, os.WriteFile(pin, nil, 0o600)) // no key known: refused, never trusted on first use
		}
		tg, err := export.ParseTarget(export.TargetSettings{Spec: g.Spec(), KeyFile: g.KeyFile, KnownHosts: pin})
		require.NoError(t, err)
		err = tg.Put(t.Context(), "f.xml", local, sum)
		require.ErrorContains(t, err, "alert=delivery_host_key", pin)
		require.Empty(t, g.Files(t), "nothing sent to a host with another key")
	}
	tg, err := export.ParseTarget(export.TargetSettings{Spec: g.Spec(), KeyFile: g.KeyFile, KnownHosts: ssh.FingerprintSHA256(g.HostKey)})
	require.NoError(t, err)
	require.NoError(t, tg.Put(t.Context(), "f.xml", local, sum))
	require.Equal(t, []string{"f.xml"}, g.Files(t))

	// A key the gateway does not authorize is refused too.
	stranger := filepath.Join(t.TempDir(), "stranger")
	sftptest.WriteKey(t, stranger)
	tg, err = export.ParseTarget(export.TargetSettings{Spec: g.Spec(), KeyFile: stranger, KnownHosts: g.KnownHosts})
	require.NoError(t, err)
	require.ErrorContains(t, tg.Put(t.Context(), "g.xml", local, sum), "unable to authenticate")
}

// TestSFTPRemoteDiffers leaves a gateway file of the same name with other
// bytes as it is, and says so.
func TestSFTPRemoteDiffers(t *testing.T) {
	t.Parallel()
	g := sftptest.New(t)
	local, sum := bigFile(t, t.TempDir(), "f.xml", 1000)
	require.NoError(t, os.WriteFile(filepath.Join(g.Dir, "f.xml"), []byte("someone else's file"), 0o644))
	err := g.Target(t).Put(t.Context(), "f.xml", local, sum)
	require.True(t, errors.Is(err, export.ErrRemoteDiffers), "%v", err)
	got, rerr := os.ReadFile(filepath.Join(g.Dir, "f.xml"))
	require.NoError(t, rerr)
	require.True(t, bytes.Equal([]byte("someone else's file"), got), "never replaced")
	require.Equal(t, []string{"f.xml"}, g.Files(t), "no temporary file left")
}

// TestParseTarget refuses settings that would not authenticate safely.
func TestParseTarget(t *testing.T) {
	t.Parallel()
	for spec, want := range map[string]string{
		"sftp://host/dir":           "a user is required",
		"sftp://u:pw@host/dir":      "no password",
		"sftp://u@host:x/dir":       "port",
		"ftp://u@host/dir":          "want sftp://",
		"dir:":                      "path is empty",
		"sftp://u@127.0.0.1:22/dir": "--deliver-key and --deliver-known-hosts are required",
	} {
		_, err := export.ParseTarget(export.TargetSettings{Spec: spec})
		require.ErrorContains(t, err, want, spec)
	}
	tg, err := export.ParseTarget(export.TargetSettings{})
	require.NoError(t, err)
	require.Nil(t, tg)
}
