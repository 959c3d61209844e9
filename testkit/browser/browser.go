// Package browser is the headless-browser kit of b2bpay's end-to-end tests:
// Debian's chromium, driven with chromedp, one fresh browser per test.
//
//	b := browser.New(t)
//	b.Go(srv.URL + "/login")
//	b.Fill("#user", "张三")
//	b.Submit("#user")
//	if got := b.Text("h1"); got != "待办" { … }
//
// Every action waits for what it needs (an element visible, a page loaded)
// up to the kit's timeout (10 s, or $B2BPAY_BROWSER_TIMEOUT) and fails the
// test with a message naming the selector. Tests only: the binary never
// links this package (scripts/imports.sh checks that no test kit reaches
// ./cmd/b2bpay).
//
// scripts/browser.sh installs chromium and a CJK font (fonts-noto-cjk);
// make services runs it. With B2BPAY_UNIT=1 New skips the test, as testkit
// does for the services; otherwise a missing chromium or CJK font fails it.
package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/b2bpay/b2bpay/testkit"
)

// Environment variables of the kit.
const (
	// ChromiumEnv names the browser to run instead of DefaultChromium.
	ChromiumEnv = "B2BPAY_CHROMIUM"
	// TimeoutEnv sets each action's timeout: a Go duration ("30s") or
	// seconds ("30").
	TimeoutEnv = "B2BPAY_BROWSER_TIMEOUT"
	// ScreenshotsEnv names the directory Shot writes to (made if missing);
	// unset, screenshots go to the test's temporary directory.
	ScreenshotsEnv = "B2BPAY_SCREENSHOTS"
)

// DefaultChromium is the browser Debian's chromium package installs.
const DefaultChromium = "/usr/bin/chromium"

// DefaultTimeout bounds each action when TimeoutEnv is unset.
const DefaultTimeout = 10 * time.Second

// Window is the size of the browser's window (its viewport when headless).
const (
	WindowWidth  = 1280
	WindowHeight = 800
)

// Browser is one headless chromium with one tab, closed when its test ends.
// Its methods fail the test (t.Fatalf) on any error: call them from the
// test's goroutine.
type Browser struct {
	t       testing.TB
	ctx     context.Context // the tab's; no deadline (it would end the browser)
	timeout time.Duration
	stderr  *lockedBuffer

	mu       sync.Mutex
	messages []Message // console calls, exceptions and log entries, in order
	started  int       // main-frame loads started
	finished int       // main-frame loads finished (loaded or stopped)
	changed  chan struct{}
}

var fontOnce sync.Once
var fontErr error

// New starts chromium ($B2BPAY_CHROMIUM, else /usr/bin/chromium) headless
// with a fresh profile in t.TempDir(), a 1280x800 window and the language
// zh-CN, and closes it when the test ends. It skips the test under
// B2BPAY_UNIT=1 and fails it when chromium or a CJK font is missing.
func New(t testing.TB) *Browser {
	t.Helper()
	if testkit.Unit() {
		t.Skipf("needs chromium (%s is set)", testkit.UnitEnv)
	}
	timeout, err := timeoutFromEnv()
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	path := os.Getenv(ChromiumEnv)
	if path == "" {
		path = DefaultChromium
	}
	if _, err := exec.LookPath(path); err != nil {
		t.Fatalf("browser: this test needs chromium at %s: %v (bash scripts/browser.sh or make services installs it; set %s to use another; %s=1 skips the tests that need it)",
			path, err, ChromiumEnv, testkit.UnitEnv)
	}
	fontOnce.Do(func() { fontErr = checkCJKFont() })
	if fontErr != nil {
		t.Fatalf("browser: %v (bash scripts/browser.sh installs fonts-noto-cjk; without a CJK font Chinese renders as boxes)", fontErr)
	}

	b := &Browser{t: t, timeout: timeout, stderr: &lockedBuffer{}, changed: make(chan struct{})}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.Flag("accept-lang", "zh-CN,zh"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(WindowWidth, WindowHeight),
		chromedp.CombinedOutput(b.stderr),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	t.Cleanup(func() {
		// A graceful close first, then the allocator waits for the process.
		_ = chromedp.Cancel(ctx)
		cancel()
		allocCancel()
		if t.Failed() {
			if out := b.output(4000); out != "" {
				t.Logf("browser: chromium's output (without D-Bus's complaints):\n%s", out)
			}
		}
	})

	// The first Run starts the browser with the tab's context, which must
	// have no deadline: the launch is bounded from here instead.
	started := make(chan error, 1)
	go func() {
		started <- chromedp.Listen(ctx, b.listen)
	}()
	launch := 3 * timeout
	select {
	case err = <-started:
	case <-time.After(launch):
		cancel()
		err = <-started
		err = fmt.Errorf("not started after %v: %w", launch, err)
	}
	if err != nil {
		t.Fatalf("browser: could not start %s: %v\n%s", path, err, b.output(2000))
	}
	// Headless, the window's size is not the page's: the viewport is set.
	b.Viewport(WindowWidth, WindowHeight)
	return b
}

// timeoutFromEnv reads TimeoutEnv.
func timeoutFromEnv() (time.Duration, error) {
	v := strings.TrimSpace(os.Getenv(TimeoutEnv))
	if v == "" {
		return DefaultTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, err2 := strconv.Atoi(v)
		if err2 != nil {
			return 0, fmt.Errorf("%s=%q: want a duration such as 30s, or seconds", TimeoutEnv, v)
		}
		d = time.Duration(secs) * time.Second
	}
	if d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration", TimeoutEnv, v)
	}
	return d, nil
}

// checkCJKFont asks fontconfig for a font that covers Chinese.
func checkCJKFont() error {
	out, err := exec.Command("fc-list", ":lang=zh").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(exit.Stderr))
		}
		return fmt.Errorf("fc-list :lang=zh (fontconfig) failed: %v", err)
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return errors.New("no font for Chinese is installed (fc-list :lang=zh lists none)")
	}
	return nil
}

// mainFrame is the tab's top frame (a page target's id is its main frame's).
func (b *Browser) mainFrame() cdp.FrameID {
	c := chromedp.FromContext(b.ctx)
	if c == nil || c.Target == nil {
		return ""
	}
	return cdp.FrameID(c.Target.TargetID)
}

// lockedBuffer collects chromium's output, written from another goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 1<<20 { // keep the start; the rest is noise
		return len(p), nil
	}
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// output is the end of chromium's output, up to n bytes, without the
// lines where it complains that a container has no D-Bus.
func (b *Browser) output(n int) string {
	var keep []string
	for _, line := range strings.Split(b.stderr.String(), "\n") {
		if !strings.Contains(line, ":ERROR:dbus/") && strings.TrimSpace(line) != "" {
			keep = append(keep, line)
		}
	}
	return tail(strings.Join(keep, "\n"), n)
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
