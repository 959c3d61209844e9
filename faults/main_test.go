package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// bin is the b2bpay binary TestMain builds for the scenarios to run.
var bin string

// Modes of the run.
var (
	// long runs the slow scenarios and bigger counts (make faults).
	long = os.Getenv("B2BPAY_FAULTS") == "1"
	// disruptive runs the scenarios that restart the whole broker or the
	// whole PostgreSQL server.
	disruptive = os.Getenv("B2BPAY_FAULTS_DISRUPTIVE") == "1"
)

// size picks a count for the quick run or the long one.
func size(quick, full int) int {
	if long {
		return full
	}
	return quick
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "b2bpay-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "b2bpay")
	build := exec.Command("go", "build", "-o", bin, "./cmd/b2bpay")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "faults: go build ./cmd/b2bpay: %v\n%s", err, out)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	report()
	clusterReport()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// row is one scenario's line of the table.
type row struct {
	Scenario   string
	Messages   int // distinct messages published
	Publishes  int // publishes, retries included
	Faults     int
	Lost       int
	Duplicated int
	Unexpected int
	Answers    string // distinct answers received / expected
	Dead       string // distinct dead letters received / expected
	Pending    int    // outbox rows not yet sent at the end
	Took       time.Duration
	Failed     bool
}

var table struct {
	sync.Mutex
	rows []row
}

func record(r row) {
	table.Lock()
	defer table.Unlock()
	table.rows = append(table.rows, r)
}

const header = "SCENARIO              MESSAGES  PUBLISHES  FAULTS  LOST  DUPLICATED  UNEXPECTED  ANSWERS      DEAD     PENDING  SECONDS  RESULT"

func (r row) String() string {
	result := "ok"
	if r.Failed {
		result = "FAIL"
	}
	return fmt.Sprintf("%-21s %8d  %9d  %6d  %4d  %10d  %10d  %-11s  %-7s  %7d  %7.1f  %s",
		r.Scenario, r.Messages, r.Publishes, r.Faults, r.Lost, r.Duplicated, r.Unexpected, r.Answers, r.Dead,
		r.Pending, r.Took.Seconds(), result)
}

// report prints the table of every scenario run, and writes it to
// B2BPAY_FAULTS_REPORT when that names a file.
func report() {
	table.Lock()
	defer table.Unlock()
	if len(table.rows) == 0 {
		return
	}
	var b strings.Builder
	mode := "quick"
	if long {
		mode = "long"
	}
	if disruptive {
		mode += " + disruptive"
	}
	fmt.Fprintf(&b, "b2bpay fault suite (%s), %s\n%s\n", mode, time.Now().UTC().Format(time.RFC3339), header)
	for _, r := range table.rows {
		b.WriteString(r.String() + "\n")
	}
	fmt.Print(b.String())
	if path := os.Getenv("B2BPAY_FAULTS_REPORT"); path != "" {
		err := os.MkdirAll(filepath.Dir(path), 0o755)
		if err == nil {
			err = os.WriteFile(path, []byte(b.String()), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "faults: write report:", err)
		}
	}
}
