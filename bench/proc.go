package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc reads processes' CPU times from a /proc tree (Linux): Root is its
// path ("/proc", or a fake tree in tests) and Tick the clock ticks per
// second its times count in (sysconf CLK_TCK).
type Proc struct {
	Root string
	Tick float64
}

// ProcStat is what b2bpay reads of /proc/PID/stat: the process, its
// parent, and its CPU times in clock ticks: its own (user, system) and
// those of its children it has waited for (cutime, cstime).
type ProcStat struct {
	PID, PPID                    int
	Comm                         string
	UTime, STime, CUTime, CSTime uint64
}

// Ticks is the process's own CPU time and its reaped children's, in
// clock ticks.
func (s ProcStat) Ticks() uint64 { return s.UTime + s.STime + s.CUTime + s.CSTime }

// ParseStat reads one /proc/PID/stat line (proc(5)): pid, (comm), state,
// ppid, …, utime (14th field), stime, cutime, cstime (17th). The command
// name may hold spaces and parentheses; it ends at the last ')'.
func ParseStat(b []byte) (ProcStat, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return ProcStat{}, fmt.Errorf("proc stat: no (comm) in %q", clip(b))
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return ProcStat{}, fmt.Errorf("proc stat: pid: %w", err)
	}
	// After the command: state (3rd field) ppid (4th) … so field n is rest[n-3].
	rest := strings.Fields(string(b[end+1:]))
	if len(rest) < 17-2 {
		return ProcStat{}, fmt.Errorf("proc stat: %d fields after the command, want at least 15", len(rest))
	}
	s := ProcStat{PID: pid, Comm: string(b[open+1 : end])}
	if s.PPID, err = strconv.Atoi(rest[4-3]); err != nil {
		return ProcStat{}, fmt.Errorf("proc stat: ppid: %w", err)
	}
	for i, dst := range []*uint64{&s.UTime, &s.STime, &s.CUTime, &s.CSTime} {
		// cutime and cstime are signed in proc(5); never negative in practice.
		v, err := strconv.ParseInt(rest[14-3+i], 10, 64)
		if err != nil || v < 0 {
			return ProcStat{}, fmt.Errorf("proc stat: field %d: %q", 14+i, rest[14-3+i])
		}
		*dst = uint64(v)
	}
	return s, nil
}

func clip(b []byte) []byte { return b[:min(len(b), 80)] }

// Stat reads one process's stat.
func (p Proc) Stat(pid int) (ProcStat, error) {
	b, err := os.ReadFile(filepath.Join(p.Root, strconv.Itoa(pid), "stat"))
	if err != nil {
		return ProcStat{}, err
	}
	return ParseStat(b)
}

// Cmdline is a process's command line, arguments joined by spaces; a
// PostgreSQL backend's is its title ("postgres: 15/main: USER DATABASE
// HOST(PORT) STATE").
func (p Proc) Cmdline(pid int) (string, error) {
	b, err := os.ReadFile(filepath.Join(p.Root, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")), nil
}

// Tree is the stat of the process root and of every process descending
// from it.
func (p Proc) Tree(root int) ([]ProcStat, error) {
	all, err := p.All()
	if err != nil {
		return nil, err
	}
	children := map[int][]ProcStat{}
	var top *ProcStat
	for i, s := range all {
		children[s.PPID] = append(children[s.PPID], s)
		if s.PID == root {
			top = &all[i]
		}
	}
	if top == nil {
		return nil, fmt.Errorf("proc: process %d not found", root)
	}
	var out []ProcStat
	todo := []ProcStat{*top}
	for len(todo) > 0 {
		s := todo[len(todo)-1]
		todo = append(todo[:len(todo)-1], children[s.PID]...)
		out = append(out, s)
	}
	return out, nil
}

// All reads the stat of every process; processes that end while it reads
// (or whose stat cannot be read) are left out.
func (p Proc) All() ([]ProcStat, error) {
	ents, err := os.ReadDir(p.Root)
	if err != nil {
		return nil, err
	}
	var out []ProcStat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := p.Stat(pid)
		if err != nil {
			// Ended meanwhile (no such file, ESRCH, or an empty read of
			// a process being reaped): it is no longer in any tree.
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// TreeSeconds is the CPU time, in seconds, of the process root and every
// process descending from it, with the children they have waited for:
// each live process's own and reaped children's ticks, so a backend that
// ended stays counted (in its parent's cutime, cstime).
func (p Proc) TreeSeconds(root int) (float64, error) {
	tree, err := p.Tree(root)
	if err != nil {
		return 0, err
	}
	var ticks uint64
	for _, s := range tree {
		ticks += s.Ticks()
	}
	return float64(ticks) / p.Tick, nil
}

// Listener is the process listening on TCP port (IPv4 or IPv6): the
// sockets in LISTEN state on that port from net/tcp and net/tcp6, and the
// process holding one of them open (the topmost, when a child inherited
// it). Reading other users' fd directories needs root or their user.
func (p Proc) Listener(port int) (int, error) {
	inodes := map[string]bool{}
	for _, name := range []string{"net/tcp", "net/tcp6"} {
		f, err := os.Open(filepath.Join(p.Root, name))
		if err != nil {
			continue // no IPv6, say
		}
		err = listening(f, port, inodes)
		_ = f.Close()
		if err != nil {
			return 0, fmt.Errorf("proc %s: %w", name, err)
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("proc: nothing listens on TCP port %d", port)
	}
	ents, err := os.ReadDir(p.Root)
	if err != nil {
		return 0, err
	}
	holders := map[int]bool{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(filepath.Join(p.Root, e.Name(), "fd"))
		if err != nil {
			continue // ended, or not ours to read
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(p.Root, e.Name(), "fd", fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") && inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				holders[pid] = true
				break
			}
		}
	}
	for pid := range holders {
		if s, err := p.Stat(pid); err == nil && !holders[s.PPID] {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("proc: no readable process holds the socket listening on TCP port %d (run as root or as the server's user)", port)
}

// listening adds to inodes the inode of every socket of a net/tcp table
// in state LISTEN (0A) on port.
func listening(f *os.File, port int, inodes map[string]bool) error {
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		i := strings.LastIndexByte(fs[1], ':')
		if i < 0 || fs[3] != "0A" {
			continue
		}
		if pt, err := strconv.ParseUint(fs[1][i+1:], 16, 16); err == nil && int(pt) == port {
			inodes[fs[9]] = true
		}
	}
	return sc.Err()
}

// ByName are the processes whose command name (comm) is name, each a
// root of its own (a process whose parent is also named name is left out:
// it is counted in its parent's tree).
func (p Proc) ByName(name string) ([]int, error) {
	all, err := p.All()
	if err != nil {
		return nil, err
	}
	named := map[int]bool{}
	for _, s := range all {
		if s.Comm == name {
			named[s.PID] = true
		}
	}
	var out []int
	for _, s := range all {
		if named[s.PID] && !named[s.PPID] {
			out = append(out, s.PID)
		}
	}
	return out, nil
}

// atClkTck is the auxiliary vector's entry for the clock ticks per second
// (AT_CLKTCK, getauxval(3)): the value sysconf(_SC_CLK_TCK) returns.
const atClkTck = 17

// ClockTicks is the clock ticks per second /proc counts CPU times in: the
// kernel's AT_CLKTCK from /proc/self/auxv (what sysconf(_SC_CLK_TCK)
// returns), else `getconf CLK_TCK`, else 100 (Linux's USER_HZ everywhere
// it runs).
func ClockTicks() float64 {
	if b, err := os.ReadFile("/proc/self/auxv"); err == nil && strconv.IntSize == 64 {
		if t := auxv(b, atClkTck); t > 0 {
			return float64(t)
		}
	}
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if t, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && t > 0 {
			return float64(t)
		}
	}
	return 100
}

// auxv is the value of key in an auxiliary vector of 64-bit little-endian
// pairs (amd64, arm64), or 0.
func auxv(b []byte, key uint64) uint64 {
	for ; len(b) >= 16; b = b[16:] {
		k, v := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		if k == key {
			return v
		}
		if k == 0 {
			break
		}
	}
	return 0
}
