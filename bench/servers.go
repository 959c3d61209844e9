package bench

import (
	"fmt"
	"net"
	"net/url"
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
	// Note says which processes are measured, or why one is not.
	Note string
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

// Seconds is the CPU time so far of the PostgreSQL and RabbitMQ
// processes, in seconds; 0 for a server not measured or whose processes
// could not be read.
func (s *Servers) Seconds() (postgres, rabbitmq float64) {
	sum := func(pids []int) float64 {
		var t float64
		for _, pid := range pids {
			v, err := s.proc.TreeSeconds(pid)
			if err != nil {
				return 0
			}
			t += v
		}
		return t
	}
	return sum(s.postgres), sum(s.mq)
}

// measured is the servers every Meter reads at its start and stop; nil:
// none (the meter then reports 0 for them).
var measured atomic.Pointer[Servers]

// MeasureServers makes every Meter started from now on also measure the
// CPU of s's servers (nil: stop); it returns the servers measured before.
func MeasureServers(s *Servers) *Servers { return measured.Swap(s) }
