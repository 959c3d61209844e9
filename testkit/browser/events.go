package browser

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
)

// Message is one thing the page wrote to its console: a console call
// (console.log, console.error, …), an uncaught exception, or an entry of
// the browser's log (where Chromium reports CSP violations, failed loads
// and other security and network errors).
type Message struct {
	// Kind is the console call's type ("log", "warning", "error", …),
	// "exception", or the log entry's level ("verbose", "info",
	// "warning", "error").
	Kind string
	// Source is the log entry's source ("security", "network",
	// "javascript", …); "console" for console calls, "exception" for
	// exceptions.
	Source string
	// Text is the message.
	Text string
	// URL is where it came from, when known.
	URL string
}

// IsError reports whether the message is an error: console.error or
// console.assert, an uncaught exception, or a log entry of level error.
func (m Message) IsError() bool {
	switch m.Kind {
	case "error", "assert", "exception":
		return true
	}
	return false
}

// String is "kind (source): text [url]".
func (m Message) String() string {
	s := fmt.Sprintf("%s (%s): %s", m.Kind, m.Source, m.Text)
	if m.URL != "" {
		s += " [" + m.URL + "]"
	}
	return s
}

// Messages returns every console message and log entry of the tab so far,
// in order. Events the page sent before this call are all in.
func (b *Browser) Messages() []Message {
	b.t.Helper()
	b.sync("read the console")
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.messages...)
}

// Errors returns the errors among Messages, as strings: a test asserts
// that none happened. A CSP violation is one, e.g. "error (security):
// Executing inline script violates the following Content Security Policy
// directive … The action has been blocked. [url]". The browser's own
// request for /favicon.ico, which no page asked for, is left out when it
// fails (Messages has it).
func (b *Browser) Errors() []string {
	b.t.Helper()
	var errs []string
	for _, m := range b.Messages() {
		if m.IsError() && !(m.Source == "network" && strings.HasSuffix(m.URL, "/favicon.ico")) {
			errs = append(errs, m.String())
		}
	}
	return errs
}

// listen runs on chromedp's reading goroutine, for each event of the tab,
// before the reply of any later command is read: it must not block.
func (b *Browser) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		m := Message{Kind: string(ev.Type), Source: "console", Text: argsText(ev.Args)}
		if ev.StackTrace != nil && len(ev.StackTrace.CallFrames) > 0 {
			m.URL = ev.StackTrace.CallFrames[0].URL
		}
		b.add(m)
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		if d == nil {
			return
		}
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		b.add(Message{Kind: "exception", Source: "exception", Text: text, URL: d.URL})
	case *log.EventEntryAdded:
		if e := ev.Entry; e != nil {
			b.add(Message{Kind: string(e.Level), Source: string(e.Source), Text: e.Text, URL: e.URL})
		}
	case *page.EventFrameStartedLoading:
		if ev.FrameID == b.mainFrame() {
			b.loads(func() { b.started++ })
		}
	case *page.EventLoadEventFired:
		b.loads(func() { b.finished = b.started })
	case *page.EventFrameStoppedLoading:
		if ev.FrameID == b.mainFrame() {
			b.loads(func() { b.finished = b.started })
		}
	}
}

func (b *Browser) add(m Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.messages = append(b.messages, m)
}

// loads changes the load counters and wakes whoever waits on them.
func (b *Browser) loads(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f()
	close(b.changed)
	b.changed = make(chan struct{})
}

// argsText joins a console call's arguments as the console shows them.
func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		if a == nil {
			continue
		}
		switch {
		case len(a.Value) > 0:
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else {
				parts = append(parts, string(a.Value))
			}
		case a.UnserializableValue != "":
			parts = append(parts, string(a.UnserializableValue))
		case a.Description != "":
			parts = append(parts, a.Description)
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}
