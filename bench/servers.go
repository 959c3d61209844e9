package bench

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// Servers reads, from /proc, the CPU time of the PostgreSQL and RabbitMQ
// servers a benchmark runs against: each the process listening on the
// URL's port and its descendants (PostgreSQL's postmaster and every
// backend and worker; RabbitMQ's beam.smp). The servers are shared: other
// users' work on them counts too.
type Servers struct {
	proc         Proc
	postgres, mq []int
	// database is the benchmark's database: its backends' CPU is
	// counted apart too (what the benchmark's own connections cost).
	database string
	// Note says which processes are measured, or why one is not.
	Note string
	// WAL, when set, reads PostgreSQL's WAL position in bytes
	// (pg_current_wal_lsn): the server's whole WAL, other sessions'
	// writes included.
	WAL func() (int64, error)
}

// FindServers finds the servers of databaseURL and amqpURL on this
// machine: the process listening on each URL's port (the default ports
// when the URL names none), else every process named "postgres" or
// "beam.smp". A server on another host is not measured (its seconds stay
// 0, and Note says so).
func FindServers(databaseURL, amqpURL string) *Servers {
	s := &Servers{proc: Proc{Root: "/proc", Tick: ClockTicks()}}
	var notes []string
	find := func(raw, def, comm, what string) []int {
		host, port, err := hostPort(raw, def)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s not measured: %v", what, err))
			return nil
		}
		if !local(host) {
			notes = append(notes, fmt.Sprintf("%s not measured: %s is not this machine", what, host))
			return nil
		}
		if pid, err := s.proc.Listener(port); err == nil {
			notes = append(notes, fmt.Sprintf("%s: pid %d (listening on %d) and its descendants", what, pid, port))
			return []int{pid}
		}
		pids, err := s.proc.ByName(comm)
		if err != nil || len(pids) == 0 {
			notes = append(notes, fmt.Sprintf("%s not measured: no process listens on %d or is named %s", what, port, comm))
			return nil
		}
		notes = append(notes, fmt.Sprintf("%s: every process named %s (pids %v) and its descendants", what, comm, pids))
		return pids
	}
	s.postgres = find(databaseURL, "5432", "postgres", "PostgreSQL")
	if u, err := url.Parse(databaseURL); err == nil && len(s.postgres) > 0 {
		s.database = strings.TrimPrefix(u.Path, "/")
	}
	s.mq = find(amqpURL, "5672", "beam.smp", "RabbitMQ")
	s.Note = strings.Join(notes, "; ")
	return s
}

// hostPort is the host and port of a URL (postgres:// or amqp://), the
// port def when it names none.
func hostPort(raw, def string) (string, int, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0, err
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = def
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", port, err)
	}
	return host, n, nil
}

// local reports whether host is this machine: empty (a Unix socket),
// localhost, a loopback address or an address of one of its interfaces.
func local(host string) bool {
	if host == "" || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// ServerSample is the servers' CPU time at one moment.
type ServerSample struct {
	// Postgres and RabbitMQ are the whole servers' CPU seconds so far
	// (every process of each tree, and the children they reaped); 0 for a
	// server not measured or whose processes could not be read.
	Postgres, RabbitMQ float64
	// pgRead and mqRead say the server was measured and read.
	pgRead, mqRead bool
	// WAL is the WAL position in bytes; walRead says it was read.
	WAL     int64
	walRead bool
	// backends are the ticks of each live backend of the benchmark's
	// database, by pid.
	backends map[int]uint64
}

// Seconds is the CPU time so far of the PostgreSQL and RabbitMQ
// processes, in seconds; 0 for a server not measured or whose processes
// could not be read.
func (s *Servers) Seconds() (postgres, rabbitmq float64) {
	x := s.Sample()
	return x.Postgres, x.RabbitMQ
}

// Sample reads the servers' CPU time now.
func (s *Servers) Sample() ServerSample {
	out := ServerSample{backends: map[int]uint64{}}
	sum := func(pids []int, each func(ProcStat)) (float64, bool) {
		var ticks uint64
		for _, pid := range pids {
			tree, err := s.proc.Tree(pid)
			if err != nil {
				return 0, false
			}
			for _, st := range tree {
				ticks += st.Ticks()
				if each != nil {
					each(st)
				}
			}
		}
		return float64(ticks) / s.proc.Tick, len(pids) > 0
	}
	out.Postgres, out.pgRead = sum(s.postgres, func(st ProcStat) {
		if s.database == "" || st.Comm != "postgres" {
			return
		}
		if title, err := s.proc.Cmdline(st.PID); err == nil && backendOf(title, s.database) {
			out.backends[st.PID] = st.UTime + st.STime
		}
	})
	out.RabbitMQ, out.mqRead = sum(s.mq, nil)
	if s.WAL != nil {
		if w, err := s.WAL(); err == nil {
			out.WAL, out.walRead = w, true
		}
	}
	return out
}

// backendOf reports whether a PostgreSQL process title ("postgres:
// 15/main: USER DATABASE HOST(PORT) STATE") is a backend connected to
// database.
func backendOf(title, database string) bool {
	return strings.HasPrefix(title, "postgres: ") && slices.Contains(strings.Fields(title), database)
}

// Own is the CPU seconds, between before and after, of the backends of
// the benchmark's database alive at after: a part of the whole server's
// that other sessions' work does not inflate (but the server's shared
// processes, the WAL writer and the checkpointer, and backends that ended
// meanwhile, are not in it).
func (s *Servers) Own(before, after ServerSample) float64 {
	var ticks uint64
	for pid, t := range after.backends {
		if b := before.backends[pid]; b <= t {
			ticks += t - b
		}
	}
	return float64(ticks) / s.proc.Tick
}

// measured is the servers every Meter reads at its start and stop; nil:
// none (the meter then reports 0 for them).
var measured atomic.Pointer[Servers]

// MeasureServers makes every Meter started from now on also measure the
// CPU of s's servers (nil: stop); it returns the servers measured before.
func MeasureServers(s *Servers) *Servers { return measured.Swap(s) }
