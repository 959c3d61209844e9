package payment

import (
	"strings"
	"unicode/utf8"
)

// Text makes s safe to store and carry as text: valid UTF-8 (each invalid
// byte becomes U+FFFD), no NUL. PostgreSQL's text and jsonb refuse NUL and
// invalid UTF-8, and AMQP headers are read as UTF-8, so whatever a sender
// put in an id or a reason goes through Text before it is stored or sent.
func Text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// Cut returns the longest prefix of s of at most n bytes that does not end
// inside a character: a bound on size (a header, a column) that never
// splits a character of valid UTF-8.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Clip shortens s for an error message or a log line, so hostile input
// never floods them: valid UTF-8 (each invalid byte becomes U+FFFD), at
// most n bytes of it, cut on a character boundary, and "…" appended when
// something was cut.
func Clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	return Cut(s, n) + "…"
}
