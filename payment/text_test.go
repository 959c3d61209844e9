package payment_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/payment"
)

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"付款", "付款"},
		{"a\x00b", "ab"},
		{"a\xffb", "a\uFFFDb"},
		{"\x00\xff\x00", "\uFFFD"},
		{"\xe4\xbb", "\uFFFD"}, // a cut rune
	}
	for _, tt := range tests {
		got := payment.Text(tt.in)
		require.Equal(t, tt.want, got, "payment.Text(%q)", tt.in)
		require.True(t, utf8.ValidString(got), "invalid UTF-8 in %q", got)
		require.NotContains(t, got, "\x00")
	}
}

func TestCutAndClip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		n        int
		cut, clp string
	}{
		{"", 4, "", ""},
		{"abcd", 4, "abcd", "abcd"},
		{"abcde", 4, "abcd", "abcd…"},
		// 3-byte characters: a cut never splits one.
		{"付款付款", 4, "付", "付…"},
		{"付款付款", 6, "付款", "付款" + "…"},
		{"付款", 6, "付款", "付款"},
		{"a", 0, "", "…"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.cut, payment.Cut(tt.in, tt.n), "Cut(%q, %d)", tt.in, tt.n)
		require.Equal(t, tt.clp, payment.Clip(tt.in, tt.n), "Clip(%q, %d)", tt.in, tt.n)
	}
	// Clip makes hostile input valid UTF-8 before it measures it.
	got := payment.Clip("a\xffb"+strings.Repeat("x", 100), 10)
	require.True(t, utf8.ValidString(got))
	require.Equal(t, "a\uFFFDbxxxxx…", got)
}
