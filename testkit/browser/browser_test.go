package browser

import (
	"bytes"
	"fmt"
	"html"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/b2bpay/b2bpay/testkit"
)

const formPage = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>付款</title></head>
<body><h1>填写付款</h1>
<form method="post" action="/done">
<label for="payee">收款人</label> <input id="payee" name="payee" required>
<button id="send" type="submit" name="action" value="send">提交</button>
</form>
<a id="next" href="/done?payee=link&action=link">下一页</a>
</body></html>`

// site is the pages the tests drive: a form with Chinese text, its
// result, a page whose inline script CSP blocks, a clean page under the
// same CSP, and a long page.
func site(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, formPage)
	})
	mux.HandleFunc("/done", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>已提交</title></head>
<body><p id="result">已提交：%s %s</p></body></html>`,
			html.EscapeString(r.Form.Get("payee")), html.EscapeString(r.Form.Get("action")))
	})
	const csp = "default-src 'none'; script-src 'self'; style-src 'self'"
	mux.HandleFunc("/csp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", csp)
		fmt.Fprint(w, `<!doctype html><html><head><meta charset="utf-8"><title>csp</title></head>
<body><p id="p">内联脚本</p><script>document.title = "ran";</script></body></html>`)
	})
	mux.HandleFunc("/clean", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", csp)
		fmt.Fprint(w, `<!doctype html><html><head><meta charset="utf-8"><title>clean</title></head>
<body><p id="p">没有脚本</p></body></html>`)
	})
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><meta charset="utf-8"><title>long</title>
<style>body{margin:0} div{height:2000px;background:#eef}</style></head><body><div>长页面</div></body></html>`)
	})
	mux.HandleFunc("/lang", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>lang</title></head>
<body><p id="header">%s</p><p id="js"></p>
<script>document.getElementById("js").textContent = navigator.language;</script></body></html>`,
			html.EscapeString(r.Header.Get("Accept-Language")))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestFormWithChineseText(t *testing.T) {
	b := New(t)
	srv := site(t)
	b.Go(srv.URL + "/")
	if got := b.Title(); got != "付款" {
		t.Errorf("Title() = %q, want 付款", got)
	}
	if got := b.Text("h1"); got != "填写付款" {
		t.Errorf("Text(h1) = %q, want 填写付款", got)
	}
	b.Fill("#payee", "先填别的")
	b.Fill("#payee", "上海某某贸易有限公司")
	if got := b.Value("#payee"); got != "上海某某贸易有限公司" {
		t.Errorf("Value(#payee) = %q after a second Fill, want only the second text", got)
	}
	if !b.Exists("#payee") || b.Exists("#result") {
		t.Errorf("Exists: #payee %v, #result %v on the form page", b.Exists("#payee"), b.Exists("#result"))
	}
	b.Submit("#send")
	// Submit waited for the next page: these read it, not the form.
	if got := b.URL(); got != srv.URL+"/done" {
		t.Errorf("URL() after Submit = %q, want %s/done", got, srv.URL)
	}
	if got := b.Title(); got != "已提交" {
		t.Errorf("Title() after Submit = %q, want 已提交", got)
	}
	if got, want := b.Text("#result"), "已提交：上海某某贸易有限公司 send"; got != want {
		t.Errorf("Text(#result) = %q, want %q (the submit button is sent)", got, want)
	}
	if h := b.HTML(); !strings.Contains(h, `<p id="result">已提交：上海某某贸易有限公司 send</p>`) {
		t.Errorf("HTML() has no result paragraph:\n%s", h)
	}
	if errs := b.Errors(); len(errs) != 0 {
		t.Errorf("Errors() = %q, want none", errs)
	}
}

func TestChineseLanguage(t *testing.T) {
	b := New(t)
	srv := site(t)
	b.Go(srv.URL + "/lang")
	if got := b.Text("#js"); got != "zh-CN" {
		t.Errorf("navigator.language = %q, want zh-CN", got)
	}
	if got := b.Text("#header"); !strings.HasPrefix(got, "zh-CN") {
		t.Errorf("Accept-Language = %q, want zh-CN first", got)
	}
}

func TestClickLoadsThePage(t *testing.T) {
	b := New(t)
	srv := site(t)
	b.Go(srv.URL + "/")
	b.Fill("#payee", "李四")
	b.Click("#send")
	if got := b.Title(); got != "已提交" {
		t.Errorf("Title() right after Click = %q, want 已提交 (Click waits for the page it loads)", got)
	}
	if got := b.Text("#result"); got != "已提交：李四 send" {
		t.Errorf("Text(#result) = %q", got)
	}
	b.Go(srv.URL + "/")
	b.Click("#next")
	if got := b.Text("#result"); got != "已提交：link link" {
		t.Errorf("after a link: Text(#result) = %q", got)
	}
}

func TestKeyboardOnlySubmit(t *testing.T) {
	b := New(t)
	srv := site(t)
	b.Go(srv.URL + "/")
	b.Fill("#payee", "张三")
	if got := b.Focused(); got != "input#payee" {
		t.Fatalf("Focused() after Fill = %q, want input#payee", got)
	}
	b.Press("Tab")
	if got := b.Focused(); got != "button#send" {
		t.Fatalf("Focused() after Tab = %q, want button#send", got)
	}
	b.Press("Shift+Tab")
	if got := b.Focused(); got != "input#payee" {
		t.Fatalf("Focused() after Shift+Tab = %q, want input#payee", got)
	}
	b.Press("Tab", "Enter")
	if got := b.Text("#result"); got != "已提交：张三 send" {
		t.Errorf("Text(#result) after Tab, Enter = %q", got)
	}
	// Space on a focused button presses it too.
	b.Go(srv.URL + "/")
	b.Fill("#payee", "王五")
	b.Press("Tab", "Space")
	if got := b.Text("#result"); got != "已提交：王五 send" {
		t.Errorf("Text(#result) after Tab, Space = %q", got)
	}
}

// pngSize decodes a PNG file's header.
func pngSize(t *testing.T, path string) (w, h int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		t.Fatalf("%s does not decode: %v", path, err)
	}
	return cfg.Width, cfg.Height
}

func TestShot(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(ScreenshotsEnv, filepath.Join(dir, "docs", "console"))
	b := New(t)
	srv := site(t)
	b.Go(srv.URL + "/")
	path := b.Shot("form")
	if want := filepath.Join(dir, "docs", "console", "form.png"); path != want {
		t.Errorf("Shot wrote %s, want %s", path, want)
	}
	if w, h := pngSize(t, path); w != WindowWidth || h != WindowHeight {
		t.Errorf("screenshot is %dx%d, want the window's %dx%d", w, h, WindowWidth, WindowHeight)
	}

	b.Viewport(600, 400)
	b.Go(srv.URL + "/long")
	w, h := pngSize(t, b.Shot("long"))
	if w != 600 || h != 2000 {
		t.Errorf("full-page screenshot at a 600x400 viewport is %dx%d, want 600x2000", w, h)
	}
}

func TestShotWithoutDirectoryGoesToTemp(t *testing.T) {
	t.Setenv(ScreenshotsEnv, "")
	b := New(t)
	b.Go("data:text/html;charset=utf-8,<p>空</p>")
	path := b.Shot("empty")
	if filepath.Base(path) != "empty.png" || !strings.HasPrefix(path, os.TempDir()) {
		t.Errorf("Shot wrote %s, want empty.png under the test's temporary directory", path)
	}
	pngSize(t, path)
}

func TestCSPViolationIsAnError(t *testing.T) {
	b := New(t)
	srv := site(t)
	b.Go(srv.URL + "/clean")
	if errs := b.Errors(); len(errs) != 0 {
		t.Fatalf("Errors() on a clean page = %q, want none", errs)
	}
	b.Go(srv.URL + "/csp")
	if got := b.Title(); got != "csp" {
		t.Errorf("Title() = %q: the inline script ran despite the CSP", got)
	}
	errs := b.Errors()
	if len(errs) != 1 || !strings.Contains(errs[0], "Content Security Policy") || !strings.Contains(errs[0], "inline script") {
		t.Errorf("Errors() = %q, want the one CSP violation of the inline script", errs)
	}
	t.Logf("the CSP violation as the kit reports it: %q", errs)
}

func TestConsoleMessages(t *testing.T) {
	b := New(t)
	b.Go(`data:text/html;charset=utf-8,<script>console.log("你好", 42); console.error("坏了"); setTimeout(() => { throw new Error("未捕获") })</script>`)
	b.WaitVisible("body")
	deadline := time.Now().Add(5 * time.Second)
	var errs []string
	for time.Now().Before(deadline) {
		if errs = b.Errors(); len(errs) == 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(errs) != 2 || !strings.Contains(errs[0], "error (console): 坏了") || !strings.Contains(errs[1], "未捕获") {
		t.Errorf("Errors() = %q, want console.error's and the exception", errs)
	}
	var logged bool
	for _, m := range b.Messages() {
		logged = logged || (m.Kind == "log" && m.Text == "你好 42")
	}
	if !logged {
		t.Errorf("Messages() = %v, want the console.log call", b.Messages())
	}
}

// recorder is a test whose Fatalf and Skipf are recorded and end its
// goroutine, so a test can check what the kit fails with.
type recorder struct {
	testing.TB
	mu      sync.Mutex
	fatal   string
	skipped string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skipped = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// within runs f with a recorder in a goroutine of its own (Goexit ends it).
func within(t *testing.T, f func(r *recorder)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestFailureNamesTheSelector(t *testing.T) {
	t.Setenv(TimeoutEnv, "1s")
	var b *Browser
	r := within(t, func(r *recorder) { b = New(r) })
	if r.skipped != "" {
		t.Skip(r.skipped)
	}
	if b == nil {
		t.Fatalf("New failed: %s", r.fatal)
	}
	srv := site(t)
	empty := "data:text/html,<p>nothing here</p>"
	for _, c := range []struct {
		page, want string
		action     func(b *Browser)
	}{
		{empty, `text of "#missing"`, func(b *Browser) { b.Text("#missing") }},
		{empty, `click "#missing"`, func(b *Browser) { b.Click("#missing") }},
		{empty, `fill "#missing"`, func(b *Browser) { b.Fill("#missing", "x") }},
		{empty, `wait for "#missing" to be visible`, func(b *Browser) { b.WaitVisible("#missing") }},
		{empty, `value of "#missing"`, func(b *Browser) { b.Value("#missing") }},
		{empty, `press "Hyper"`, func(b *Browser) { b.Press("Hyper") }},
		{empty, `exists "p["`, func(b *Browser) { b.Exists("p[") }},
		{empty, `screenshot "../escape"`, func(b *Browser) { b.Shot("../escape") }},
		{empty, `submit "p": the element is not in a form`, func(b *Browser) { b.Submit("p") }},
		{empty, `viewport 0x10`, func(b *Browser) { b.Viewport(0, 10) }},
		{srv.URL + "/", `fill "h1": it is a h1, not a text field`, func(b *Browser) { b.Fill("h1", "x") }},
		{srv.URL + "/", `submit "#send": the form is not valid, so a browser would not send it: payee: `,
			func(b *Browser) { b.Submit("#send") }},
	} {
		b.t = t
		b.Go(c.page)
		r := within(t, func(r *recorder) {
			b.t = r
			c.action(b)
		})
		if !strings.Contains(r.fatal, c.want) {
			t.Errorf("failure %q does not say %s", r.fatal, c.want)
		}
		if strings.Contains(c.want, "missing") && !strings.Contains(r.fatal, TimeoutEnv) {
			t.Errorf("failure %q does not say how to change the timeout", r.fatal)
		}
	}
	// A refused form stays where it is when clicked, as for a person.
	b.t = t
	b.Go(srv.URL + "/")
	b.Click("#send")
	if !b.Exists("#payee") || b.Exists("#result") {
		t.Errorf("an empty required field: the click sent the form")
	}
}

func TestMissingChromiumFails(t *testing.T) {
	t.Setenv(testkit.UnitEnv, "")
	t.Setenv(ChromiumEnv, filepath.Join(t.TempDir(), "no-chromium"))
	r := within(t, func(r *recorder) { New(r) })
	if !strings.Contains(r.fatal, "scripts/browser.sh") || !strings.Contains(r.fatal, "no-chromium") {
		t.Errorf("New without chromium: fatal %q, want it to name the path and scripts/browser.sh", r.fatal)
	}
	if r.skipped != "" {
		t.Errorf("New without chromium skipped (%q): it must fail", r.skipped)
	}
}

func TestUnitRunSkips(t *testing.T) {
	t.Setenv(testkit.UnitEnv, "1")
	t.Setenv(ChromiumEnv, filepath.Join(t.TempDir(), "no-chromium"))
	r := within(t, func(r *recorder) { New(r) })
	if r.skipped == "" || r.fatal != "" {
		t.Errorf("New under %s=1: skipped %q, fatal %q; want a skip", testkit.UnitEnv, r.skipped, r.fatal)
	}
}

func TestTimeoutFromEnv(t *testing.T) {
	for v, want := range map[string]time.Duration{"": DefaultTimeout, "30s": 30 * time.Second, "7": 7 * time.Second, " 2m ": 2 * time.Minute} {
		t.Setenv(TimeoutEnv, v)
		if got, err := timeoutFromEnv(); err != nil || got != want {
			t.Errorf("%s=%q: %v, %v; want %v", TimeoutEnv, v, got, err, want)
		}
	}
	for _, v := range []string{"soon", "0", "-1s"} {
		t.Setenv(TimeoutEnv, v)
		if _, err := timeoutFromEnv(); err == nil || !strings.Contains(err.Error(), TimeoutEnv) {
			t.Errorf("%s=%q: error %v, want one naming the variable", TimeoutEnv, v, err)
		}
	}
}
