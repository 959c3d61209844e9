package export

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SFTPConfig configures an SFTPTarget.
type SFTPConfig struct {
	// Addr is host:port of the gateway's SSH server.
	Addr, User string
	// Dir is the remote directory files go to ("" for the login directory).
	Dir string
	// KeyFile is the private key (unencrypted OpenSSH or PEM).
	KeyFile string
	// KnownHosts is a known_hosts file, or the host key's SHA256:
	// fingerprint as ssh-keygen -l prints it.
	KnownHosts string
	// Timeout bounds the connection and each transfer (5 min by default).
	Timeout time.Duration
}

// SFTPTarget delivers files to the clearing gateway by SFTP (OpenSSH's
// internal-sftp or any SFTP v3 server): key authentication only, the host
// key pinned. A file is uploaded as .<name>.part-<random> in the remote
// directory, synced (fsync@openssh.com when offered), then renamed to its
// name; a rename never replaces a file there (SSH_FXP_RENAME fails on an
// existing name), so a name holds one whole file or nothing. Each Put
// opens its own connection: delivery is a few files a cutoff.
type SFTPTarget struct {
	cfg    SFTPConfig
	client *ssh.ClientConfig
}

// NewSFTPTarget reads the key and the pinned host key.
func NewSFTPTarget(cfg SFTPConfig) (*SFTPTarget, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	pem, err := os.ReadFile(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--deliver-key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("--deliver-key %s: %w (an unencrypted private key is needed)", cfg.KeyFile, err)
	}
	hostKey, err := pinnedHostKey(cfg.KnownHosts)
	if err != nil {
		return nil, err
	}
	return &SFTPTarget{cfg: cfg, client: &ssh.ClientConfig{
		User: cfg.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKey, Timeout: cfg.Timeout,
	}}, nil
}

// pinnedHostKey checks the gateway's host key against a known_hosts file
// or a SHA256: fingerprint.
func pinnedHostKey(spec string) (ssh.HostKeyCallback, error) {
	if fp, ok := strings.CutPrefix(spec, "SHA256:"); ok {
		want := "SHA256:" + fp
		return func(host string, _ net.Addr, key ssh.PublicKey) error {
			if got := ssh.FingerprintSHA256(key); got != want {
				return fmt.Errorf("alert=delivery_host_key: host key of %s is %s, not the pinned %s", host, got, want)
			}
			return nil
		}, nil
	}
	cb, err := knownhosts.New(spec)
	if err != nil {
		return nil, fmt.Errorf("--deliver-known-hosts: %w", err)
	}
	return func(host string, remote net.Addr, key ssh.PublicKey) error {
		if err := cb(host, remote, key); err != nil {
			return fmt.Errorf("alert=delivery_host_key: host key of %s (%s) refused: %w", host, ssh.FingerprintSHA256(key), err)
		}
		return nil
	}, nil
}

// Name implements Target.
func (t *SFTPTarget) Name() string {
	return "sftp://" + t.cfg.User + "@" + t.cfg.Addr + "/" + strings.TrimPrefix(t.cfg.Dir, "/")
}

// Put implements Target.
func (t *SFTPTarget) Put(ctx context.Context, name, local, sum string) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	d := net.Dialer{Timeout: t.cfg.Timeout}
	nc, err := d.DialContext(ctx, "tcp", t.cfg.Addr)
	if err != nil {
		return fmt.Errorf("sftp %s: %w", t.cfg.Addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() }) // a timeout or a stop cuts the transfer
	defer stop()
	conn, chans, reqs, err := ssh.NewClientConn(nc, t.cfg.Addr, t.client)
	if err != nil {
		_ = nc.Close()
		return fmt.Errorf("sftp %s: %w", t.cfg.Addr, err)
	}
	sc := ssh.NewClient(conn, chans, reqs)
	defer sc.Close()
	c, err := sftp.NewClient(sc, sftp.UseConcurrentWrites(true))
	if err != nil {
		return fmt.Errorf("sftp %s: %w", t.cfg.Addr, err)
	}
	defer c.Close()
	err = t.put(c, name, local, sum)
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("sftp %s: %w (%w)", t.cfg.Addr, err, ctx.Err())
	}
	return err
}

func (t *SFTPTarget) put(c *sftp.Client, name, local, sum string) error {
	final := path.Join(t.cfg.Dir, name)
	if t.cfg.Dir == "" {
		final = name
	}
	if found, err := remoteExisting(c, final, sum); found || err != nil {
		return err
	}
	t.removeStale(c, name)
	src, err := os.Open(local)
	if err != nil {
		return err
	}
	defer src.Close()
	var r [6]byte
	_, _ = rand.Read(r[:])
	tmp := path.Join(path.Dir(final), "."+name+".part-"+hex.EncodeToString(r[:]))
	dst, err := c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("sftp create %s: %w", tmp, err)
	}
	_, err = dst.ReadFrom(src)
	if err == nil {
		if serr := dst.Sync(); serr != nil && !isUnsupported(serr) {
			err = serr
		}
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = c.Remove(tmp)
		return fmt.Errorf("sftp upload %s: %w", name, err)
	}
	if err := c.Rename(tmp, final); err != nil {
		_ = c.Remove(tmp)
		// Another attempt may have put it there meanwhile: the same bytes
		// are delivered, others are a conflict.
		if found, xerr := remoteExisting(c, final, sum); found || xerr != nil {
			return xerr
		}
		return fmt.Errorf("sftp rename %s: %w", name, err)
	}
	found, err := remoteExisting(c, final, sum)
	if err == nil && !found {
		err = fmt.Errorf("sftp: %s is not there after its rename", final)
	}
	return err
}

// remoteExisting checks the remote file against sum: found is false when
// there is none; err wraps ErrRemoteDiffers when its bytes differ.
func remoteExisting(c *sftp.Client, p, sum string) (found bool, err error) {
	f, err := c.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sftp open %s: %w", p, err)
	}
	defer f.Close()
	got, err := readerSHA256(f)
	if err != nil {
		return true, fmt.Errorf("sftp read %s: %w", p, err)
	}
	if got != sum {
		return true, fmt.Errorf("%s: %w (SHA-256 %s there, %s here)", p, ErrRemoteDiffers, got, sum)
	}
	return true, nil
}

// removeStale removes the temporary files of earlier attempts at name
// (cut mid-transfer); one deliverer runs at a time (the scheduler's leader).
func (t *SFTPTarget) removeStale(c *sftp.Client, name string) {
	dir := t.cfg.Dir
	if dir == "" {
		dir = "."
	}
	entries, err := c.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + name + ".part-"
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			_ = c.Remove(path.Join(dir, e.Name()))
		}
	}
}

func isUnsupported(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported
}
