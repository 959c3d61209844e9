package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/b2bpay/b2bpay/export"
)

// The demo's clearing gateway: OpenSSH's sshd on a loopback port of its
// own, serving only SFTP (internal-sftp) to one key, with a host key the
// demo pins. The interbank file is delivered to it as serve delivers with
// --deliver sftp://…; without sshd the demo delivers to a directory.

const sshdPath = "/usr/sbin/sshd"

// gateway is a running sshd and what a client needs to reach it.
type gateway struct {
	settings export.TargetSettings
	inbox    string
	cmd      *exec.Cmd
}

// startGateway starts sshd under dir, or returns nil when it is not
// installed (the demo then delivers to dir/gateway).
func startGateway(ctx context.Context, dir string) (*gateway, error) {
	home, err := filepath.Abs(filepath.Join(dir, "gateway"))
	if err != nil {
		return nil, err
	}
	_ = os.RemoveAll(home)
	inbox := filepath.Join(home, "inbox")
	if err := os.MkdirAll(inbox, 0o755); err != nil {
		return nil, err
	}
	if _, err := os.Stat(sshdPath); err != nil {
		return &gateway{settings: export.TargetSettings{Spec: "dir:" + inbox}, inbox: inbox}, nil
	}
	if os.Geteuid() == 0 {
		_ = os.MkdirAll("/run/sshd", 0o755) // sshd run by root wants it
	}
	me, err := user.Current()
	if err != nil {
		return nil, err
	}
	host, err := writeKey(filepath.Join(home, "host_ed25519"))
	if err != nil {
		return nil, err
	}
	client, err := writeKey(filepath.Join(home, "client_ed25519"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(home, "authorized_keys"), ssh.MarshalAuthorizedKey(client.PublicKey()), 0o600); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	known := filepath.Join(home, "known_hosts")
	if err := os.WriteFile(known, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, host.PublicKey())+"\n"), 0o600); err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	config := filepath.Join(home, "sshd_config")
	cfg := fmt.Sprintf("Port %s\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nAuthorizedKeysFile %s\nAllowUsers %s\n"+
		"PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"+
		"UsePAM no\nStrictModes no\nX11Forwarding no\nAllowTcpForwarding no\nSubsystem sftp internal-sftp\nForceCommand internal-sftp\nLogLevel ERROR\n",
		port, filepath.Join(home, "host_ed25519"), filepath.Join(home, "sshd.pid"), filepath.Join(home, "authorized_keys"), me.Username)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, sshdPath, "-D", "-e", "-f", config)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sshd: %w", err)
	}
	g := &gateway{settings: export.TargetSettings{Spec: "sftp://" + me.Username + "@" + addr + inbox,
		KeyFile: filepath.Join(home, "client_ed25519"), KnownHosts: known, Timeout: 30 * time.Second}, inbox: inbox, cmd: cmd}
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return g, nil
		}
		if time.Now().After(deadline) {
			g.stop()
			return nil, fmt.Errorf("sshd did not answer on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends sshd and the sessions it forked.
func (g *gateway) stop() {
	if g == nil || g.cmd == nil || g.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-g.cmd.Process.Pid, syscall.SIGTERM)
	_ = g.cmd.Process.Kill()
	_ = g.cmd.Wait()
}

// writeKey makes an ed25519 key and writes it in OpenSSH form.
func writeKey(path string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}
