package server

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/testkit"
	"github.com/b2bpay/b2bpay/testlog"
)

// buildBinary builds b2bpay as an operator gets it.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "b2bpay")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/b2bpay").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// cleanEnv is the environment without b2bpay's own variables, so that the
// flags a test gives are the whole configuration.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "B2BPAY_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func runBinary(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	return string(out)
}

// TestCutoffNextCommand runs `b2bpay cutoff next` as the README shows it,
// from fixed times around the end of the data in cn.txt.
func TestCutoffNextCommand(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)

	// As shipped: never New Year's Day 2027, whether 2027 runs on the
	// fallback or on its notice.
	out := runBinary(t, bin, "cutoff", "next", "--at", "2026-12-31T22:30:00+08:00", "--count", "5")
	require.NotContains(t, out, "2027-01-01", "New Year's Day 2027 is no business day")
	require.True(t, strings.HasPrefix(out, "Mon 2027-01-04 10:00 CST"), out)
	if !calendar.China().Covers(calendar.Date{Year: 2027, Month: time.January, Day: 1}) {
		require.Equal(t, "Mon 2027-01-04 10:00 CST  (no notice: statutory holidays only)\n"+
			"Mon 2027-01-04 14:00 CST  (no notice: statutory holidays only)\n"+
			"Mon 2027-01-04 17:15 CST  (no notice: statutory holidays only)\n"+
			"Mon 2027-01-04 22:30 CST  (no notice: statutory holidays only)\n"+
			"Tue 2027-01-05 10:00 CST  (no notice: statutory holidays only)\n"+
			"calendar: 2027 has no State Council notice in calendar/data/cn.txt; using statutory holidays only (no make-up workdays)\n", out)
	}

	// cn.txt as it stood at the end of 2026, given with --calendar.
	cn2026 := filepath.Join(t.TempDir(), "cn-2026.txt")
	writeFile(t, cn2026, cnWith(t, ""))
	out = runBinary(t, bin, "cutoff", "next", "--calendar", cn2026, "--at", "2026-12-31T22:30:00+08:00", "--count", "2")
	require.Equal(t, "Mon 2027-01-04 10:00 CST  (no notice: statutory holidays only)\n"+
		"Mon 2027-01-04 14:00 CST  (no notice: statutory holidays only)\n"+
		"calendar: 2027 has no State Council notice in "+cn2026+"; using statutory holidays only (no make-up workdays)\n", out)

	out = runBinary(t, bin, "cutoff", "next", "--calendar", cn2026, "--at", "2027-02-04T22:30:00+08:00", "--count", "1", "--timezone", "Asia/Shanghai")
	require.True(t, strings.HasPrefix(out, "Thu 2027-02-11 10:00 CST"), "over Spring Festival 2027 and the days made up for its weekend:\n%s", out)

	// Every year named, once each.
	out = runBinary(t, bin, "cutoff", "next", "--calendar", cn2026, "--at", "2027-12-31T17:15:00+08:00", "--count", "3")
	require.Contains(t, out, "calendar: 2027 has no State Council notice")
	require.Contains(t, out, "calendar: 2028 has no State Council notice")
	require.Equal(t, 1, strings.Count(out, "calendar: 2028"))

	// Within the notices, near their end: a warning, no fallback year.
	out = runBinary(t, bin, "cutoff", "next", "--calendar", cn2026, "--at", "2026-12-06T12:00:00+08:00", "--count", "2")
	require.Equal(t, "Mon 2026-12-07 10:00 CST\nMon 2026-12-07 14:00 CST\n"+
		"calendar: the data in "+cn2026+" ends 2026-12-31, in 25 days; add the next State Council notice\n", out)
	out = runBinary(t, bin, "cutoff", "next", "--at", "2026-06-01T12:00:00+08:00", "--count", "1")
	require.Equal(t, "Mon 2026-06-01 14:00 CST\n", out)

	// The operator's copy of cn.txt with the next notice added: one file.
	path := filepath.Join(t.TempDir(), "cn.txt")
	writeFile(t, path, cnWith(t, notice2027))
	out = runBinary(t, bin, "cutoff", "next", "--calendar", path, "--at", "2026-12-31T22:30:00+08:00", "--count", "1")
	require.Equal(t, "Mon 2027-01-04 10:00 CST\n", out)
	out = runBinary(t, bin, "cutoff", "next", "--calendar", path, "--at", "2027-12-31T22:30:00+08:00", "--count", "1")
	require.Equal(t, "Tue 2028-01-04 10:00 CST  (no notice: statutory holidays only)\n"+
		"calendar: 2028 has no State Council notice in "+path+"; using statutory holidays only (no make-up workdays)\n", out)

	// Another country's file has no fallback: weekends only, said so.
	xs := filepath.Join(t.TempDir(), "xs.txt")
	writeFile(t, xs, "2026-03-10 holiday Founders' Day\n")
	out = runBinary(t, bin, "cutoff", "next", "--calendar", xs, "--at", "2026-12-31T22:30:00+08:00", "--count", "1")
	require.Equal(t, "Fri 2027-01-01 10:00 CST  (no notice: weekends only)\n"+
		"warning: calendar "+xs+" has no holiday data for 2027; only weekends are known\n", out)

	cmd := exec.Command(bin, "cutoff", "next", "--at", "tomorrow")
	cmd.Env = cleanEnv()
	b, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(b), "--at")
}

// TestServeCalendarCommand runs `b2bpay serve --calendar FILE` as a real
// process: it warns at start that the data has run out, exports the days
// left, reloads the file on SIGHUP, and keeps its calendar when the new
// file is bad.
func TestServeCalendarCommand(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	dbURL := testkit.NewDatabase(t)
	amqpURL := testkit.OwnVhost(t)

	dir := t.TempDir()
	path := filepath.Join(dir, "calendar.txt")
	today := calendar.DateOf(time.Now(), shanghai())
	y := today.Year
	// Data for last year only: it has run out.
	writeFile(t, path, fmt.Sprintf("fallback cn-statutory\n%d-10-01 holiday National Day\n", y-1))

	cmd := exec.Command(bin, "serve", "--database-url", dbURL, "--amqp-url", amqpURL, "--calendar", path,
		"--http-addr", "127.0.0.1:0", "--allow-privileged-db-role", "--metrics-addr", "127.0.0.1:0", "--outbound-dir", filepath.Join(dir, "out"), "--inbound-dir", filepath.Join(dir, "in"))
	cmd.Env = cleanEnv("B2BPAY_MASTER_KEY=" + hex.EncodeToString(secret.NewKey()))
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	var log testlog.Buffer
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			_, _ = log.Write([]byte(line + "\n"))
			if m := regexp.MustCompile(`msg="b2bpay serving".* metrics_addr=(\S+)`).FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		waitErr = cmd.Wait()
		close(exited)
	}()
	var metricsAddr string
	select {
	case metricsAddr = <-addr:
	case <-exited:
		t.Fatalf("serve exited: %v\n%s", waitErr, log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start\n%s", log.String())
	}
	daysLeft := func() int {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		m := regexp.MustCompile(`(?m)^b2bpay_calendar_days_left (\S+)$`).FindStringSubmatch(string(b))
		require.NotNil(t, m, "no gauge in /metrics")
		v, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		return int(v)
	}

	lastYearEnd := calendar.Date{Year: y - 1, Month: time.December, Day: 31}
	require.Equal(t, lastYearEnd.Sub(today), daysLeft())
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "calendar data runs out") }, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, log.String(), fmt.Sprintf("covered_through=%s days_left=%d from_year=%d then=\"statutory holidays only, no make-up workdays\"",
		lastYearEnd, lastYearEnd.Sub(today), y))

	// The operator adds this year's and next year's notices and sends SIGHUP.
	writeFile(t, path, fmt.Sprintf("fallback cn-statutory\n%d-10-01 holiday\n%d-10-01 holiday\n%d-10-01 holiday\n", y-1, y, y+1))
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "calendar reloaded") }, 10*time.Second, 20*time.Millisecond)
	nextYearEnd := calendar.Date{Year: y + 1, Month: time.December, Day: 31}
	require.Equal(t, nextYearEnd.Sub(today), daysLeft())

	// A bad file: logged, and the calendar in use stays.
	writeFile(t, path, "fallback cn-statutory\nnonsense\n")
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool {
		return strings.Contains(log.String(), "calendar reload failed; keeping the calendar in use")
	}, 10*time.Second, 20*time.Millisecond)
	require.Contains(t, log.String(), "line 2:")
	require.Equal(t, nextYearEnd.Sub(today), daysLeft())

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited:
		require.NoError(t, waitErr, log.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
