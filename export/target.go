package export

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TargetSettings configure delivery as the command line gives them.
type TargetSettings struct {
	// Spec is sftp://user@host:port/dir or dir:/path ("" for no delivery).
	Spec string
	// KeyFile is the SSH private key (OpenSSH or PEM, unencrypted) for
	// sftp.
	KeyFile string
	// KnownHosts is a known_hosts file naming the gateway's host key, or
	// its fingerprint (SHA256:…): the host key is pinned, never trusted on
	// first use.
	KnownHosts string
	// Timeout bounds connecting and each file's transfer (5 min by default).
	Timeout time.Duration
}

// ParseTarget checks the delivery settings and builds the target; nil
// with no error when Spec is empty (files stay in the outbound directory,
// as before delivery existed).
func ParseTarget(s TargetSettings) (Target, error) {
	switch {
	case s.Spec == "":
		return nil, nil
	case strings.HasPrefix(s.Spec, "dir:"):
		dir := strings.TrimPrefix(s.Spec, "dir:")
		if dir == "" {
			return nil, errors.New("--deliver dir:/path: the path is empty")
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("--deliver %s: %w", s.Spec, err)
		}
		return &DirTarget{Dir: filepath.Clean(abs)}, nil
	case strings.HasPrefix(s.Spec, "sftp://"):
		u, err := url.Parse(s.Spec)
		if err != nil {
			return nil, fmt.Errorf("--deliver: %w", err)
		}
		if u.User == nil || u.User.Username() == "" {
			return nil, fmt.Errorf("--deliver %s: a user is required (sftp://user@host:port/dir)", u.Redacted())
		}
		if _, set := u.User.Password(); set {
			return nil, errors.New("--deliver: no password in the URL: b2bpay authenticates with a key (--deliver-key)")
		}
		if u.Hostname() == "" {
			return nil, errors.New("--deliver: the host is missing (sftp://user@host:port/dir)")
		}
		port := u.Port()
		if port == "" {
			port = "22"
		}
		if _, err := strconv.Atoi(port); err != nil {
			return nil, fmt.Errorf("--deliver: port %q: %w", port, err)
		}
		if s.KeyFile == "" || s.KnownHosts == "" {
			return nil, errors.New("--deliver sftp://…: --deliver-key and --deliver-known-hosts are required (key authentication, pinned host key)")
		}
		t, err := NewSFTPTarget(SFTPConfig{
			Addr: net.JoinHostPort(u.Hostname(), port), User: u.User.Username(), Dir: u.Path,
			KeyFile: s.KeyFile, KnownHosts: s.KnownHosts, Timeout: s.Timeout,
		})
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, fmt.Errorf("--deliver %q: want sftp://user@host:port/dir or dir:/path", s.Spec)
}

// DirTarget delivers into a local directory (a mounted share the gateway
// reads): written under a temporary name in its .tmp/, fsynced, then
// linked to the final name, which never replaces a file. A directory that
// is the outbound directory itself already holds the file: it is checked.
type DirTarget struct{ Dir string }

// Name implements Target.
func (t *DirTarget) Name() string { return "dir:" + t.Dir }

// Put implements Target.
func (t *DirTarget) Put(_ context.Context, name, local, sum string) error {
	final := filepath.Join(t.Dir, name)
	if found, err := existing(final, sum); found || err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(t.Dir, TempDir), 0o750); err != nil {
		return err
	}
	src, err := os.Open(local)
	if err != nil {
		return err
	}
	defer src.Close()
	var r [6]byte
	_, _ = rand.Read(r[:])
	tmp := filepath.Join(t.Dir, TempDir, name+"-"+hex.EncodeToString(r[:]))
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			_, err = existing(final, sum)
		}
		return err
	}
	return syncDir(t.Dir)
}

// existing checks the file at path against the SHA-256 sum: found is
// false when there is none; err wraps ErrRemoteDiffers when its bytes
// differ.
func existing(path, sum string) (found bool, err error) {
	got, err := fileSHA256(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if got != sum {
		return true, fmt.Errorf("%s: %w (SHA-256 %s there, %s here)", path, ErrRemoteDiffers, got, sum)
	}
	return true, nil
}
