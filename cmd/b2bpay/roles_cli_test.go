package main

import (
	"bytes"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/testkit"
)

// TestServeUnknownRole: serve refuses a role it does not know, naming the
// valid ones, before it touches anything.
func TestServeUnknownRole(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(b2bpayBinary(t), "serve", "--roles", "intake,bogus")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), `--roles: unknown role "bogus": the roles are intake,decisions,relay,scheduler,http,console (or all)`)
}

// syncBuffer is a process's output written by one goroutine, read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeRolesBinary runs `b2bpay serve --roles intake` with a broker
// list and a database URL whose first address is dead: it serves through
// the live ones, logs its roles, answers /readyz with 200 on the metrics
// port, and binds no API port.
func TestServeRolesBinary(t *testing.T) {
	t.Parallel()
	dbURL, amqpURL := testkit.NewDatabase(t), testkit.OwnVhost(t)
	deadFirst := func(raw string) string {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		live := u.String()
		u.Host = "127.0.0.1:1"
		return u.String() + "," + live
	}
	d, err := url.Parse(dbURL)
	require.NoError(t, err)
	d.Host = "127.0.0.1:1," + d.Host
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		return ln.Addr().String()
	}
	apiAddr, metricsAddr := free(), free()

	cmd := exec.Command(b2bpayBinary(t), "serve", "--roles", "intake", "--allow-privileged-db-role",
		"--http-addr", apiAddr, "--metrics-addr", metricsAddr)
	cmd.Env = append(os.Environ(), "B2BPAY_DATABASE_URL="+d.String(), "B2BPAY_AMQP_URL="+deadFirst(amqpURL),
		"B2BPAY_TIMEZONE=Asia/Shanghai", "B2BPAY_CALENDAR=cn", "B2BPAY_OUTBOUND_DIR="+filepath.Join(t.TempDir(), "out"),
		"B2BPAY_INBOUND_DIR="+filepath.Join(t.TempDir(), "in"), "B2BPAY_MASTER_KEY="+base64.StdEncoding.EncodeToString(secret.NewKey()))
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	})

	readyz := func() (int, string) {
		resp, err := http.Get("http://" + metricsAddr + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { code, _ := readyz(); return code == http.StatusOK }, 60*time.Second, 100*time.Millisecond,
		"serve ready; logs:\n%s", &logs)
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "b2bpay serving") }, 10*time.Second, 50*time.Millisecond)
	require.Contains(t, logs.String(), "roles=[intake]")
	_, err = net.DialTimeout("tcp", apiAddr, time.Second)
	require.Error(t, err, "no API without the http role")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err, "an orderly stop; logs:\n%s", &logs)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s")
	}
	require.NotContains(t, logs.String(), "guest:guest@", "no broker password in the logs")
}
