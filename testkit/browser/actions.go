package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// navGrace is how long Click and Press (Enter, Space) wait for a page load
// to start before they take it that the action loads none. Chromium starts
// the load of a submitted form only after it answers the click (measured:
// a link's before, a form's after), so there is no sure sign sooner.
const navGrace = 500 * time.Millisecond

// run runs one action under the kit's timeout and fails the test, naming
// what was done (with its selector) and the page, when it does not succeed.
func run[T any](b *Browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("not done within %v (%s): is the selector right, the element there and visible?", b.timeout, TimeoutEnv)
		}
		b.t.Fatalf("browser: %s: %v (page %s)", what, err, b.where())
	}
	return v
}

// where is the page's URL for failure messages, or why it is unknown.
func (b *Browser) where() string {
	ctx, cancel := context.WithTimeout(b.ctx, time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown: " + err.Error()
	}
	return u
}

// sync makes one round trip to the page: every event the page sent before
// it has been handled (listen runs before the reply is read).
func (b *Browser) sync(what string) {
	b.t.Helper()
	run(b, what, chromedp.Evaluate[int]("0"))
}

// loading runs an action that may load a page (a click on a link, a form
// submitted), then waits for that page if one starts loading within grace.
// With grace 0 the action must load a page: it waits for one up to the
// timeout.
func (b *Browser) loading(what string, grace time.Duration, a chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.mu.Lock()
	before := b.started
	b.mu.Unlock()
	run(b, what, a)

	var graceC <-chan time.Time
	if grace > 0 {
		timer := time.NewTimer(grace)
		defer timer.Stop()
		graceC = timer.C
	}
	deadline := time.NewTimer(b.timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		started, finished, changed := b.started, b.finished, b.changed
		b.mu.Unlock()
		switch {
		case started == before:
			select {
			case <-changed:
			case <-graceC:
				return // no page load: the action changed the page in place
			case <-deadline.C:
				b.t.Fatalf("browser: %s: no page load followed within %v (%s) (page %s)", what, b.timeout, TimeoutEnv, b.where())
			}
		case finished >= started:
			return
		default:
			select {
			case <-changed:
			case <-deadline.C:
				b.t.Fatalf("browser: %s: the page it loads did not finish loading within %v (%s) (page %s)", what, b.timeout, TimeoutEnv, b.where())
			}
		}
	}
}

// Go loads url and waits for its load event.
func (b *Browser) Go(url string) {
	b.t.Helper()
	run(b, fmt.Sprintf("go to %s", url), chromedp.Navigate(url))
}

// Fill empties the input or textarea sel (once visible) and types text
// into it, key by key, as a person would (input events fire).
func (b *Browser) Fill(sel, text string) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	run(b, fmt.Sprintf("fill %q", sel), chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(sel)),
		script(fmt.Sprintf(clearJS, q)),
		chromedp.SendKeys(chromedp.CSS(sel), text),
	))
}

// clearJS empties an input or textarea as a person selecting its text and
// deleting it would: an input event follows.
const clearJS = `((sel) => {
	const el = document.querySelector(sel);
	if (!el) return "nothing matches the selector";
	if (!("value" in el) || el.nodeName === "BUTTON" || el.nodeName === "SELECT") return "it is a " + el.nodeName.toLowerCase() + ", not a text field";
	if (el.value !== "") {
		el.value = "";
		el.dispatchEvent(new Event("input", {bubbles: true}));
	}
	return "";
})(%s)`

// script runs JavaScript that returns "" when it did its work, else why
// not.
func script(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		msg, err := chromedp.Evaluate[string](js)(ctx, t)
		if err == nil && msg != "" {
			err = errors.New(msg)
		}
		return err
	})
}

// Click clicks the middle of sel once it is visible, as a mouse would, and
// waits for the page it loads, if any.
func (b *Browser) Click(sel string) {
	b.t.Helper()
	b.loading(fmt.Sprintf("click %q", sel), navGrace, chromedp.Click(chromedp.CSS(sel)))
}

// submitJS submits the form of the element (or the form itself) the way a
// click on its button does: submit event, validation, and the button's
// name and value among the fields when the element is a submit button.
const submitJS = `((sel) => {
	const el = document.querySelector(sel);
	if (!el) return "nothing matches the selector";
	const form = el.nodeName === "FORM" ? el : (el.form || el.closest("form"));
	if (!form) return "the element is not in a form";
	if (!form.checkValidity()) {
		const bad = form.querySelector(":invalid");
		return "the form is not valid, so a browser would not send it: " +
			(bad ? (bad.name || bad.id || bad.nodeName.toLowerCase()) + ": " + bad.validationMessage : "");
	}
	const button = el.form === form && (el.type === "submit" || el.type === "image");
	form.requestSubmit(button ? el : undefined);
	return "";
})(%s)`

// Submit submits the form of sel (a form, or an element in one; a submit
// button is sent as the submitter), then waits for the page it loads: one
// must load. A form the browser's validation refuses (a required field
// empty, …) fails the test, naming the field; to test that refusal, Click
// the button and check that the page stayed.
func (b *Browser) Submit(sel string) {
	b.t.Helper()
	what := fmt.Sprintf("submit %q", sel)
	q, _ := json.Marshal(sel)
	b.loading(what, 0, chromedp.Steps(
		chromedp.WaitReady(chromedp.CSS(sel)),
		script(fmt.Sprintf(submitJS, q)),
	))
}

// keys are the names Press knows, beside single characters.
var keys = map[string]string{
	"Tab": kb.Tab, "Enter": kb.Enter, "Space": " ", "Escape": kb.Escape,
	"Backspace": kb.Backspace, "Delete": kb.Delete,
	"ArrowUp": kb.ArrowUp, "ArrowDown": kb.ArrowDown, "ArrowLeft": kb.ArrowLeft, "ArrowRight": kb.ArrowRight,
	"Home": kb.Home, "End": kb.End,
}

// Press presses keys one after the other on the focused element, as a
// keyboard would: "Tab", "Shift+Tab", "Enter", "Space", "Escape",
// "Backspace", "Delete", the arrows ("ArrowDown", …), "Home", "End", or
// one character. After Enter and Space (which press buttons and follow
// links) it waits for the page they load, if any.
func (b *Browser) Press(names ...string) {
	b.t.Helper()
	for _, name := range names {
		key, shift := strings.CutPrefix(name, "Shift+")
		code, ok := keys[key]
		if !ok && len([]rune(key)) == 1 {
			code, ok = key, true
		}
		if !ok {
			b.t.Fatalf("browser: press %q: no such key (want Tab, Shift+Tab, Enter, Space, Escape, Backspace, Delete, ArrowUp/Down/Left/Right, Home, End, or one character)", name)
		}
		var opts []chromedp.KeyOption
		if shift {
			opts = append(opts, chromedp.KeyModifiers(chromedp.ModifierShift))
		}
		grace := time.Duration(0)
		if key == "Enter" || key == "Space" {
			grace = navGrace
		}
		what := fmt.Sprintf("press %q", name)
		if grace == 0 {
			run(b, what, chromedp.KeyEvent(code, opts...))
			continue
		}
		b.loading(what, grace, chromedp.KeyEvent(code, opts...))
	}
}

// Text returns the visible text (innerText) of sel, once it is there.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	return run(b, fmt.Sprintf("text of %q", sel), chromedp.Text(chromedp.CSS(sel)))
}

// Value returns the current value of the input, textarea or select sel.
func (b *Browser) Value(sel string) string {
	b.t.Helper()
	return run(b, fmt.Sprintf("value of %q", sel), chromedp.Value(chromedp.CSS(sel)))
}

// Exists reports whether sel matches an element now (it does not wait).
func (b *Browser) Exists(sel string) bool {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	return run(b, fmt.Sprintf("exists %q", sel),
		chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%s) !== null", q)))
}

// WaitVisible waits until sel is there and visible.
func (b *Browser) WaitVisible(sel string) {
	b.t.Helper()
	run(b, fmt.Sprintf("wait for %q to be visible", sel), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// Focused describes the element that has the keyboard focus, as
// "tag#id" or "tag" ("body" when none has).
func (b *Browser) Focused() string {
	b.t.Helper()
	return run(b, "read the focus", chromedp.Evaluate[string](
		`(() => { const e = document.activeElement; if (!e) return ""; const t = e.nodeName.toLowerCase(); return e.id ? t + "#" + e.id : t; })()`))
}

// Title returns the page's title.
func (b *Browser) Title() string {
	b.t.Helper()
	return run(b, "read the title", chromedp.Title())
}

// URL returns the page's address.
func (b *Browser) URL() string {
	b.t.Helper()
	return run(b, "read the URL", chromedp.Location())
}

// HTML returns the page's document as HTML, as it is now.
func (b *Browser) HTML() string {
	b.t.Helper()
	return run(b, "read the HTML", chromedp.OuterHTML(chromedp.CSS("html")))
}

// Viewport sets the size of the page's viewport in CSS pixels (the window
// is 1280x800 until then).
func (b *Browser) Viewport(w, h int) {
	b.t.Helper()
	if w <= 0 || h <= 0 {
		b.t.Fatalf("browser: viewport %dx%d: want a positive width and height", w, h)
	}
	run(b, fmt.Sprintf("set the viewport to %dx%d", w, h), chromedp.EmulateViewport(int64(w), int64(h)))
}

// Shot takes a PNG of the whole page (beyond the viewport's height; the
// viewport's width) and writes it to $B2BPAY_SCREENSHOTS/<name>.png, or
// to the test's temporary directory when that is unset. It logs and
// returns the file's path. name is a file name without a directory or
// extension, such as "tasks-reviewer".
func (b *Browser) Shot(name string) string {
	b.t.Helper()
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		b.t.Fatalf("browser: screenshot %q: want a file name without a directory", name)
	}
	png := run(b, fmt.Sprintf("screenshot %q", name), chromedp.FullScreenshot(100))
	dir := os.Getenv(ScreenshotsEnv)
	if dir == "" {
		dir = b.t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatalf("browser: screenshot %q: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("browser: screenshot %q: %v", name, err)
	}
	b.t.Logf("browser: screenshot %s", path)
	return path
}

// Int evaluates a JavaScript expression of the page that gives a whole
// number, such as "document.documentElement.scrollWidth".
func (b *Browser) Int(expr string) int {
	b.t.Helper()
	return run(b, fmt.Sprintf("evaluate %q", expr), chromedp.Evaluate[int](expr))
}
