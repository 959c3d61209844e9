// Package sftptest runs a real OpenSSH sshd on a free loopback port as the
// clearing gateway of the delivery tests (export's and the fault suite's):
// its own host key, key authentication only, internal-sftp forced, files
// landing in a plain directory. It can be stopped mid-transfer (the
// listener and every session process it forked are killed) and started
// again on the same port with the same keys.
package sftptest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/testkit"
)

// SSHD is OpenSSH's server, installed by scripts/services.sh.
const SSHD = "/usr/sbin/sshd"

// Gateway is a real OpenSSH sshd on a free loopback port standing in for
// the clearing gateway: its own host key, key authentication only, the
// internal-sftp subsystem forced, files landing in Dir.
type Gateway struct {
	t testing.TB
	// Dir is where delivered files land.
	Dir          string
	home, config string
	port         int
	user         string
	// KeyFile is the client's private key, KnownHosts a known_hosts file
	// pinning HostKey.
	KeyFile, KnownHosts string
	HostKey             ssh.PublicKey
	cmd                 *exec.Cmd
	log                 *bytes.Buffer
}

// New writes the keys and the configuration and starts sshd; it is
// stopped when the test ends.
func New(t testing.TB) *Gateway {
	t.Helper()
	if testkit.Unit() {
		t.Skip("needs OpenSSH's sshd (" + testkit.UnitEnv + " is set)")
	}
	if _, err := os.Stat(SSHD); err != nil {
		t.Fatalf("%s: %v (install openssh-server: scripts/services.sh)", SSHD, err)
	}
	if os.Geteuid() == 0 {
		// sshd run by root wants its privilege separation directory.
		require.NoError(t, os.MkdirAll("/run/sshd", 0o755))
	}
	me, err := user.Current()
	require.NoError(t, err)
	home := t.TempDir()
	g := &Gateway{t: t, home: home, Dir: filepath.Join(home, "inbox"), user: me.Username}
	require.NoError(t, os.MkdirAll(g.Dir, 0o755))
	hostKey := WriteKey(t, filepath.Join(home, "host_ed25519"))
	g.HostKey = hostKey.PublicKey()
	client := WriteKey(t, filepath.Join(home, "client_ed25519"))
	g.KeyFile = filepath.Join(home, "client_ed25519")
	require.NoError(t, os.WriteFile(filepath.Join(home, "authorized_keys"), ssh.MarshalAuthorizedKey(client.PublicKey()), 0o600))
	g.port = freePort(t)
	g.KnownHosts = filepath.Join(home, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(g.Addr())}, g.HostKey)
	require.NoError(t, os.WriteFile(g.KnownHosts, []byte(line+"\n"), 0o600))
	g.config = filepath.Join(home, "sshd_config")
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AllowUsers %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
Subsystem sftp internal-sftp
ForceCommand internal-sftp
LogLevel ERROR
`, g.port, filepath.Join(home, "host_ed25519"), filepath.Join(home, "sshd.pid"), filepath.Join(home, "authorized_keys"), g.user)
	require.NoError(t, os.WriteFile(g.config, []byte(cfg), 0o600))
	g.Start()
	t.Cleanup(g.Stop)
	return g
}

// WriteKey makes an ed25519 key, writes it in OpenSSH form, returns its signer.
func WriteKey(t testing.TB, path string) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return signer
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is the gateway's host:port.
func (g *Gateway) Addr() string { return "127.0.0.1:" + strconv.Itoa(g.port) }

// Spec is the --deliver value for the gateway.
func (g *Gateway) Spec() string { return "sftp://" + g.user + "@" + g.Addr() + g.Dir }

// Target is an SFTP target pinned to the gateway's host key.
func (g *Gateway) Target(t testing.TB) export.Target {
	t.Helper()
	tg, err := export.ParseTarget(export.TargetSettings{Spec: g.Spec(), KeyFile: g.KeyFile, KnownHosts: g.KnownHosts, Timeout: 30 * time.Second})
	require.NoError(t, err)
	return tg
}

// Start runs sshd in the foreground (-D) and waits until it answers.
func (g *Gateway) Start() {
	t := g.t
	t.Helper()
	g.log = &bytes.Buffer{}
	g.cmd = exec.Command(SSHD, "-D", "-e", "-f", g.config)
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	require.NoError(t, g.cmd.Start())
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", g.Addr(), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not start on %s: %v\n%s", g.Addr(), err, g.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills sshd and every session process it forked (they run in
// sessions of their own, so a process group would miss them): a
// transfer in flight is cut as a gateway crash would cut it.
func (g *Gateway) Stop() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	pids := append(descendants(g.cmd.Process.Pid), g.cmd.Process.Pid)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = g.cmd.Wait()
	g.cmd = nil
	// The session processes are not our children: wait until they are gone.
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// descendants lists the processes under pid, read from /proc.
func descendants(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces: read after ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[p] = pp
	}
	var out []int
	frontier := []int{pid}
	for len(frontier) > 0 {
		cur := frontier[0]
		frontier = frontier[1:]
		for p, pp := range parent {
			if pp == cur {
				out = append(out, p)
				frontier = append(frontier, p)
			}
		}
	}
	return out
}

// Files lists the gateway directory's entries (temporary ones included).
func (g *Gateway) Files(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(g.Dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
