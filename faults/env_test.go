package faults

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/crash"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/postgres/pgtest"
	"github.com/b2bpay/b2bpay/rabbitmq"
	"github.com/b2bpay/b2bpay/rabbitmq/rabbitmqtest"
	"github.com/b2bpay/b2bpay/secret"
)

// The registry every scenario seeds: customer C1 (online payment) with its
// applicant ann and an account at a B2B bank, customer C2 (not enabled for
// online payment) with dan, upstream erp identified by the broker user
// (user_id guest) and upstream mall by an HMAC key.
const (
	bankB2B   = "104100000004"
	accountC1 = "6217000010001234567"
	accountC2 = "6222000030005555555"
)

// application_name of the connections of b2bpay processes and of the
// checker: faults pick b2bpay's backends by it.
const (
	serveApp   = "b2bpay-faults-serve"
	checkerApp = "b2bpay-faults-checker"
)

// env is one scenario's world: its own database and vhost, a seeded
// registry, the b2bpay processes it started, and the checker's view.
type env struct {
	t         *testing.T
	name      string
	began     time.Time
	dir       string
	dbName    string
	dbURL     string // b2bpay processes' URL (application_name serveApp)
	amqpURL   string
	vhost     string
	amqpUser  string // the broker user of b2bpay and of upstream erp (its user_id)
	masterKey string
	mallKey   []byte
	pool      *pgxpool.Pool // the checker's connections
	collector *collector

	// scenarioEnv is more environment for every b2bpay process of the
	// scenario, such as the export scenarios' cutoffs and calendar.
	scenarioEnv []string

	mu      sync.Mutex
	servers []*server
	faults  int
}

// world is where a scenario's vhost and database are made: the system
// broker and PostgreSQL the tests share, or the cluster (cluster_test.go).
type world struct {
	amqpURL  string                     // base AMQP URL, or a comma-separated list of a cluster's nodes
	dbURL    string                     // base database URL (several hosts allowed)
	amqpUser string                     // the broker user b2bpay and upstream erp connect as
	ctl      func(args ...string) error // rabbitmqctl against that broker
}

// systemWorld is the local broker and PostgreSQL of the test kits.
func systemWorld() world {
	return world{amqpURL: rabbitmqtest.BaseURL(), dbURL: pgtest.BaseURL(), amqpUser: "guest",
		ctl: func(args ...string) error { return rabbitmq.Ctl(nil, args...) }}
}

// newEnv creates the scenario's database and vhost on the system broker
// and PostgreSQL and seeds the registry with the b2bpay command line.
func newEnv(t *testing.T, name string) *env {
	t.Helper()
	return newEnvOn(t, name, systemWorld())
}

// newEnvOn is newEnv in a world of the caller's.
func newEnvOn(t *testing.T, name string, w world) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("the fault suite runs real processes: not in -short")
	}
	ctx := context.Background()
	e := &env{t: t, name: name, began: time.Now(), dir: t.TempDir(), amqpUser: w.amqpUser,
		masterKey: base64.StdEncoding.EncodeToString(secret.NewKey())}

	amqpURL, dropVhost, err := rabbitmq.NewVhostCtl(w.amqpURL, "b2bpay-test-", w.ctl)
	require.NoError(t, err)
	t.Cleanup(dropVhost)
	e.amqpURL = amqpURL
	e.vhost, err = rabbitmqtest.VhostOf(amqpURL)
	require.NoError(t, err)

	dbURL, dropDB, err := postgres.NewDatabase(ctx, w.dbURL, "b2bpay_test_")
	require.NoError(t, err)
	t.Cleanup(dropDB)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	e.dbName = strings.TrimPrefix(u.Path, "/")
	e.dbURL = withParam(dbURL, "application_name", serveApp)
	e.pool, err = pgxpool.New(ctx, withParam(dbURL, "application_name", checkerApp))
	require.NoError(t, err)
	t.Cleanup(e.pool.Close)

	// Cleanups run last first: every process is gone before the database
	// and the vhost are dropped.
	t.Cleanup(e.killAll)
	e.seed()
	return e
}

func withParam(rawURL, k, v string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

var hmacKeyLine = regexp.MustCompile(`HMAC key [^:]*: ([0-9a-f]{64})`)

func (e *env) seed() {
	e.cli("customer", "add", "--id", "C1", "--name", "上海华东机电设备有限公司", "--online")
	e.cli("customer", "add", "--id", "C2", "--name", "北京远航贸易有限公司")
	e.cli("bank", "add", "--id", bankB2B, "--name", "中国银行", "--b2b")
	e.cli("account", "add", "--customer", "C1", "--bank", bankB2B, "--number", accountC1)
	e.cli("account", "add", "--customer", "C2", "--bank", bankB2B, "--number", accountC2)
	e.cli("user", "add", "--id", "ann", "--customer", "C1", "--name", "王丽", "--role", "applicant")
	e.cli("user", "add", "--id", "dan", "--customer", "C2", "--name", "李强", "--role", "applicant")
	e.cli("upstream", "add", "--id", "erp", "--name", "ERP", "--amqp-user", e.amqpUser, "--customer", "C1", "--customer", "C2")
	out := e.cli("upstream", "add", "--id", "mall", "--name", "B2B mall", "--hmac", "--customer", "C1")
	m := hmacKeyLine.FindStringSubmatch(out)
	require.NotNil(e.t, m, "upstream add --hmac printed no key: %s", out)
	key, err := hex.DecodeString(m[1])
	require.NoError(e.t, err)
	e.mallKey = key
}

// environ is the environment of a b2bpay process of this scenario: the
// test's own, without any B2BPAY_ variable, plus the scenario's.
func (e *env) environ(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "B2BPAY_") {
			out = append(out, kv)
		}
	}
	return append(append(out,
		"B2BPAY_DATABASE_URL="+e.dbURL,
		"B2BPAY_AMQP_URL="+e.amqpURL,
		"B2BPAY_MASTER_KEY="+e.masterKey,
		// The suite connects as the test server's superuser.
		"B2BPAY_ALLOW_PRIVILEGED_DB_ROLE=true",
		"B2BPAY_LOG_FORMAT=text",
		"B2BPAY_LOG_LEVEL=info",
		"B2BPAY_OUTBOUND_DIR="+filepath.Join(e.dir, "outbound"),
		"B2BPAY_INBOUND_DIR="+filepath.Join(e.dir, "inbound"),
	), append(append([]string(nil), e.scenarioEnv...), extra...)...)
}

// cli runs one b2bpay command and returns its standard output.
func (e *env) cli(args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(e.t, cmd.Run(), "b2bpay %s: %s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

// injected counts n faults injected.
func (e *env) injected(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults += n
}

func (e *env) faultCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faults
}

// server is one `b2bpay serve` process.
type server struct {
	e      *env
	n      int
	crash  string
	cmd    *exec.Cmd
	log    *logBuffer
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// serve starts `b2bpay serve`; crashAt, when set, is its B2BPAY_CRASH_AT.
// It does not wait for the process to be ready (see ready).
func (e *env) serve(crashAt string) *server {
	e.t.Helper()
	return e.serveWith(crashAt, nil, nil)
}

// serveWith starts `b2bpay serve` with more flags and more environment
// (which wins over the scenario's).
func (e *env) serveWith(crashAt string, args, environ []string) *server {
	e.t.Helper()
	e.mu.Lock()
	n := len(e.servers) + 1
	e.mu.Unlock()
	extra := append([]string(nil), environ...)
	if crashAt != "" {
		extra = append(extra, crash.EnvVar+"="+crashAt)
	}
	s := &server{e: e, n: n, crash: crashAt, exited: make(chan struct{})}
	f, err := os.Create(filepath.Join(e.dir, fmt.Sprintf("serve-%d.log", n)))
	require.NoError(e.t, err)
	s.log = &logBuffer{file: f, ready: make(chan struct{})}
	if os.Getenv("B2BPAY_TEST_LOG") != "" {
		s.log.echo = func(b []byte) { e.t.Logf("serve %d: %s", n, bytes.TrimRight(b, "\n")) }
	}
	s.cmd = exec.Command(bin, append([]string{"serve", "--http-addr", "127.0.0.1:0", "--drain-timeout", "5s"}, args...)...)
	s.cmd.Env = e.environ(extra...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	require.NoError(e.t, s.cmd.Start())
	go func() {
		s.err = s.cmd.Wait()
		_ = f.Close()
		close(s.exited)
	}()
	e.mu.Lock()
	e.servers = append(e.servers, s)
	e.mu.Unlock()
	return s
}

// serveReady starts serve and waits until it serves.
func (e *env) serveReady() *server {
	e.t.Helper()
	s := e.serve("")
	s.ready()
	return s
}

// ready waits until serve logs that it serves.
func (s *server) ready() {
	s.e.t.Helper()
	select {
	case <-s.log.ready:
	case <-s.exited:
		s.e.t.Fatalf("serve %d exited at start: %v\n%s", s.n, s.err, s.log.tail(30))
	case <-time.After(30 * time.Second):
		s.e.t.Fatalf("serve %d not ready within 30 s\n%s", s.n, s.log.tail(30))
	}
}

// kill9 sends SIGKILL and waits for the process to be gone.
func (s *server) kill9() {
	s.e.t.Helper()
	require.NoError(s.e.t, s.cmd.Process.Signal(syscall.SIGKILL))
	<-s.exited
	var ee *exec.ExitError
	require.True(s.e.t, errors.As(s.err, &ee), "serve %d: %v", s.n, s.err)
	require.Equal(s.e.t, "signal: killed", ee.Error())
}

// stop sends SIGTERM and waits for an orderly exit with status 0.
func (s *server) stop() {
	s.e.t.Helper()
	require.NoError(s.e.t, s.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-s.exited:
		require.NoError(s.e.t, s.err, "serve %d did not stop cleanly\n%s", s.n, s.log.tail(30))
	case <-time.After(30 * time.Second):
		s.e.t.Fatalf("serve %d did not stop within 30 s of SIGTERM\n%s", s.n, s.log.tail(30))
	}
}

// crashed waits for the process to exit at its crash point: status 3 and
// the crash line on stderr.
func (s *server) crashed(timeout time.Duration) {
	s.e.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(timeout):
		s.e.t.Fatalf("serve %d did not crash at %s within %s\n%s", s.n, s.crash, timeout, s.log.tail(30))
	}
	var ee *exec.ExitError
	require.True(s.e.t, errors.As(s.err, &ee), "serve %d: want exit status %d, got %v", s.n, crash.ExitCode, s.err)
	require.Equal(s.e.t, crash.ExitCode, ee.ExitCode(), s.log.tail(30))
	require.Equal(s.e.t, 1, strings.Count(s.log.String(), "crashing at "+s.crash), s.log.tail(30))
	s.e.injected(1)
}

// running reports whether the process has not exited.
func (s *server) running() bool {
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// killAll kills every process of the scenario still running; on failure
// it shows the end of each one's log.
func (e *env) killAll() {
	e.mu.Lock()
	servers := append([]*server(nil), e.servers...)
	e.mu.Unlock()
	for _, s := range servers {
		if s.running() {
			_ = s.cmd.Process.Signal(syscall.SIGKILL)
			<-s.exited
		}
		if e.t.Failed() {
			e.t.Logf("serve %d (crash at %q) log tail:\n%s", s.n, s.crash, s.log.tail(40))
		}
	}
}

// logs is every serve process's output so far.
func (e *env) logs() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b strings.Builder
	for _, s := range e.servers {
		b.WriteString(s.log.String())
	}
	return b.String()
}

// logBuffer keeps a process's output in memory and in a file, and closes
// ready when the process logs that it serves.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	file    *os.File
	ready   chan struct{}
	isReady bool
	echo    func([]byte)
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	_, _ = l.file.Write(p)
	if !l.isReady && bytes.Contains(l.buf.Bytes(), []byte(`msg="b2bpay serving"`)) {
		l.isReady = true
		close(l.ready)
	}
	if l.echo != nil {
		l.echo(p)
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// tail is the last n lines.
func (l *logBuffer) tail(n int) string {
	lines := strings.Split(strings.TrimRight(l.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// connections counts the connections open on the scenario's vhost.
func (e *env) connections() int {
	e.t.Helper()
	out, err := exec.Command("rabbitmqctl", "--quiet", "list_connections", "--no-table-headers", "-p", e.vhost, "name").CombinedOutput()
	require.NoError(e.t, err, string(out))
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n
}

// closeConnections injects a broker fault: the broker closes every
// connection of the scenario's vhost (CONNECTION_FORCED).
func (e *env) closeConnections(reason string) error {
	err := rabbitmqtest.CloseConnections(e.vhost, reason)
	if err == nil {
		e.injected(1)
	}
	return err
}

// terminateBackends injects a database fault: every backend of b2bpay
// processes on the scenario's database is terminated. Other databases and
// the checker's own connections are left alone.
func (e *env) terminateBackends(ctx context.Context) (int, error) {
	var n int
	err := e.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 AND pid <> pg_backend_pid()`,
		e.dbName, serveApp).Scan(&n)
	return n, err
}

// count runs a count query on the scenario's database.
func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
