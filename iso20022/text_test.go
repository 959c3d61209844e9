package iso20022

import (
	"strings"
	"testing"
)

// FuzzTextProblem checks textProblem's one-pass check against
// textProblemOf, which says what is wrong: they must agree on every text
// and every limit.
func FuzzTextProblem(f *testing.F) {
	for _, s := range []string{"plain", "a\tb\nc\rd", "\x00", "\x1f", "\x7f", "\xff", "\xed\xa0\x80", "\uFFFE", "\uFFFD",
		"上海华东机电设备有限公司", "\U0001F600", strings.Repeat("x", 35), strings.Repeat("x", 36), strings.Repeat("采", 36)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return
		}
		for _, max := range []int{1, 12, 35, 140} {
			if got, want := textProblem(s, max), textProblemOf(s, max); got != want {
				t.Fatalf("textProblem(%q, %d) = %q, textProblemOf says %q", s, max, got, want)
			}
		}
	})
}
