package bench

import (
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses ends at the last ')'.
	s, err := ParseStat([]byte("4242 (a) b (c) S 17 4242 4242 0 -1 4194304 52044 5079188 0 81 190 16705 13564 20 20 0 1 0 3139 222543872\n"))
	require.NoError(t, err)
	require.Equal(t, ProcStat{PID: 4242, PPID: 17, Comm: "a) b (c", UTime: 190, STime: 16705, CUTime: 13564, CSTime: 20}, s)
	require.Equal(t, uint64(190+16705+13564+20), s.Ticks())

	for _, bad := range []string{"", "12 postgres S 1", "x (p) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14", "12 (p) S 1 2 3",
		"12 (p) S 1 2 3 4 5 6 7 8 9 10 -11 12 13 14"} {
		_, err := ParseStat([]byte(bad))
		require.Error(t, err, "%q", bad)
	}
}

// fakeProc writes a /proc tree: a postmaster (100) with two backends, one
// of which has a child; a broker (200) listening on 5672 over IPv6; an
// unrelated process (300) whose parent is 1; and a PostgreSQL listening
// on 5432 over IPv4.
func fakeProc(t *testing.T) Proc {
	root := t.TempDir()
	stat := func(pid, ppid int, comm string, u, s, cu, cs int) {
		dir := filepath.Join(root, strconv.Itoa(pid))
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
		line := strconv.Itoa(pid) + " (" + comm + ") S " + strconv.Itoa(ppid) + " 1 1 0 -1 0 0 0 0 0 " +
			strconv.Itoa(u) + " " + strconv.Itoa(s) + " " + strconv.Itoa(cu) + " " + strconv.Itoa(cs) + " 20 0 1 0 1 1 1\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"), []byte(line), 0o644))
	}
	sock := func(pid, fd int, inode string) {
		require.NoError(t, os.Symlink("socket:["+inode+"]", filepath.Join(root, strconv.Itoa(pid), "fd", strconv.Itoa(fd))))
	}
	stat(1, 0, "init", 5, 5, 0, 0)
	stat(100, 1, "postgres", 10, 20, 300, 400) // cutime, cstime: backends that ended
	stat(101, 100, "postgres", 1, 2, 0, 0)
	stat(102, 100, "postgres", 3, 4, 0, 0)
	stat(103, 102, "postgres", 50, 50, 0, 0)
	stat(200, 1, "beam.smp", 700, 100, 0, 0)
	stat(201, 200, "erl_child_setup", 1, 1, 0, 0)
	stat(300, 1, "postgres", 9, 9, 0, 0) // another PostgreSQL, not listening
	require.NoError(t, os.WriteFile(filepath.Join(root, "self"), nil, 0o644))
	title := func(pid int, s string) {
		require.NoError(t, os.WriteFile(filepath.Join(root, strconv.Itoa(pid), "cmdline"), []byte(s+"\x00\x00\x00"), 0o644))
	}
	title(100, "/usr/lib/postgresql/15/bin/postgres\x00-D\x00/var/lib/postgresql/15/main")
	title(101, "postgres: 15/main: postgres b2bpay_test_1 127.0.0.1(43536) idle")
	title(102, "postgres: 15/main: postgres b2bpay_test_10 127.0.0.1(43550) UPDATE")
	title(103, "postgres: 15/main: postgres b2bpay_test_1 127.0.0.1(43551) idle")
	sock(100, 3, "5555") // the postmaster's listening socket, inherited by a backend
	sock(101, 3, "5555")
	sock(101, 9, "6000") // a connection
	sock(200, 7, "7777")
	require.NoError(t, os.Symlink("/dev/null", filepath.Join(root, "200", "fd", "0")))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "net"), 0o755))
	tcp := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 5555 1 0 100 0 0 10 0\n" +
		"   1: 0100007F:1538 0100007F:D3A2 01 00000000:00000000 00:00000000 00000000   104        0 6000 1 0 20 4 30 10 -1\n" +
		"   2: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 8888 1 0 100 0 0 10 0\n"
	tcp6 := "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 00000000000000000000000000000000:1628 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 7777 1 0 100 0 0 10 0\n"
	require.NoError(t, os.WriteFile(filepath.Join(root, "net", "tcp"), []byte(tcp), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "net", "tcp6"), []byte(tcp6), 0o644))
	return Proc{Root: root, Tick: 100}
}

func TestProcFake(t *testing.T) {
	p := fakeProc(t)
	title, err := p.Cmdline(100)
	require.NoError(t, err)
	require.Equal(t, "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main", title)
	pid, err := p.Listener(5432)
	require.NoError(t, err)
	require.Equal(t, 100, pid, "the postmaster, not the backend that inherited its socket")
	pid, err = p.Listener(5672)
	require.NoError(t, err)
	require.Equal(t, 200, pid, "found over IPv6")
	_, err = p.Listener(5433)
	require.ErrorContains(t, err, "nothing listens")
	_, err = p.Listener(8080) // listening, but no process of the tree holds it
	require.ErrorContains(t, err, "no readable process")

	sec, err := p.TreeSeconds(100)
	require.NoError(t, err)
	// The postmaster 10+20+300+400, backends 1+2 and 3+4, the backend's child 50+50: 840 ticks.
	require.InDelta(t, 8.40, sec, 1e-9)
	sec, err = p.TreeSeconds(200)
	require.NoError(t, err)
	require.InDelta(t, 8.02, sec, 1e-9)
	_, err = p.TreeSeconds(999)
	require.Error(t, err)

	roots, err := p.ByName("postgres")
	require.NoError(t, err)
	require.ElementsMatch(t, []int{100, 300}, roots, "backends are in their postmaster's tree")
}

// TestProcReal reads the real /proc: this test process is found listening
// on a port it opens, and its CPU time grows by about what it spins.
func TestProcReal(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	tick := ClockTicks()
	require.Positive(t, tick)
	p := Proc{Root: "/proc", Tick: tick}
	s, err := p.Stat(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, os.Getppid(), s.PPID)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	pid, err := p.Listener(l.Addr().(*net.TCPAddr).Port)
	if err != nil && os.Getuid() != 0 {
		t.Logf("listener not found (not root, another process's fd may be unreadable): %v", err)
	} else {
		require.NoError(t, err)
		require.Equal(t, os.Getpid(), pid)
	}

	// Spin until the kernel's own account (getrusage) shows 0.2 s more;
	// /proc must agree with it within a few ticks at both ends.
	read := func() (proc, rusage float64) {
		r0 := cpuTime().Seconds()
		v, err := p.TreeSeconds(os.Getpid())
		require.NoError(t, err)
		return v, (r0 + cpuTime().Seconds()) / 2
	}
	before, rb := read()
	require.InDelta(t, rb, before, 0.05, "/proc and getrusage agree")
	for cpuTime().Seconds() < rb+0.2 {
	}
	after, ra := read()
	require.InDelta(t, ra, after, 0.05, "/proc and getrusage agree")
	require.InDelta(t, 0.2, after-before, 0.06)
}

// TestServersOwn: the backends of the benchmark's database are counted
// apart, by their title, from the same tree as the whole server.
func TestServersOwn(t *testing.T) {
	p := fakeProc(t)
	s := &Servers{proc: p, postgres: []int{100}, mq: []int{200}, database: "b2bpay_test_1"}
	x := s.Sample()
	require.InDelta(t, 8.40, x.Postgres, 1e-9)
	require.InDelta(t, 8.02, x.RabbitMQ, 1e-9)
	// Backends 101 (1+2 ticks) and 103 (50+50), not 102 (another database whose name starts alike).
	require.Equal(t, map[int]uint64{101: 3, 103: 100}, x.backends)
	later := ServerSample{Postgres: 9, backends: map[int]uint64{101: 13, 104: 7}}
	// 101 grew by 10 ticks, 104 is new (7), 103 ended (its time is lost): 0.17 s.
	require.InDelta(t, 0.17, s.Own(x, later), 1e-9)
	require.True(t, backendOf("postgres: 15/main: postgres b2bpay_test_1 [local] idle", "b2bpay_test_1"))
	require.False(t, backendOf("postgres: 15/main: checkpointer", "b2bpay_test_1"))
	require.False(t, backendOf("/usr/bin/b2bpay_test_1", "b2bpay_test_1"))
}

func TestAuxv(t *testing.T) {
	var b []byte
	for _, kv := range [][2]uint64{{33, 7}, {17, 250}, {0, 0}, {17, 1}} {
		b = binary.LittleEndian.AppendUint64(b, kv[0])
		b = binary.LittleEndian.AppendUint64(b, kv[1])
	}
	require.Equal(t, uint64(250), auxv(b, atClkTck))
	require.Equal(t, uint64(0), auxv(b[16*2:], atClkTck), "nothing after AT_NULL")
	require.Equal(t, uint64(0), auxv(b[:20], 99), "a short vector")
}

func TestServersLocal(t *testing.T) {
	require.True(t, local("127.0.0.1"))
	require.True(t, local("localhost"))
	require.True(t, local("::1"))
	require.False(t, local("db.example.com"))
	require.False(t, local("192.0.2.7"))
	host, port, err := hostPort("postgres://postgres@127.0.0.1/test", "5432")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
	require.Equal(t, 5432, port)
	s := FindServers("postgres://db.example.com:5432/x", "amqp://guest:guest@192.0.2.7:5672/")
	require.Contains(t, s.Note, "not this machine")
	pg, mq := s.Seconds()
	require.Zero(t, pg)
	require.Zero(t, mq)
}
