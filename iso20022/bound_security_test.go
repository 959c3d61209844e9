package iso20022

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

// TestSecurityReportReaderBoundedMemory: reports built to make the decoder
// hold a huge token (a root with 5.5 million attributes, one 60 MB text,
// comment or attribute value, millions of tiny elements) are refused with
// ErrInvalidReport after allocating little (the many elements after
// MaxReportTokens: each token is garbage once read), and a valid report
// still reads.
func TestSecurityReportReaderBoundedMemory(t *testing.T) {
	const size = 60 << 20
	cases := []struct {
		name, head string
		unit       func(i int) string
		tail, want string
		streamed   bool // many small tokens: garbage, never held at once
	}{
		{"attributes", `<Document xmlns="` + Pacs002Namespace + `"`, func(i int) string { return fmt.Sprintf(" a%d=\"1\"", i) },
			`/>`, "more than 32 attributes", false},
		{"one attribute value", `<Document xmlns="` + Pacs002Namespace + `" a="`, func(int) string { return "x" },
			`"/>`, "longer than 65536 bytes", false},
		{"text", docOpen + `<GrpHdr><Nm>`, func(int) string { return "x" }, `</Nm></GrpHdr>` + docClose, "longer than 65536 bytes", false},
		{"comment", docOpen + `<!--`, func(int) string { return "x" }, `-->` + docClose, "longer than 65536 bytes", false},
		{"elements", docOpen, func(int) string { return "<a/>" }, docClose, "tokens", true},
	}
	for _, c := range cases {
		in := io.MultiReader(strings.NewReader(c.head), io.LimitReader(&genReader{next: c.unit}, size), strings.NewReader(c.tail))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := ReadStatusReport(in)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrInvalidReport) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want a refusal with %q", c.name, err, c.want)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; !c.streamed && alloc > 32<<20 {
			t.Errorf("%s: allocated %d MB to refuse it", c.name, alloc>>20)
		}
	}
	if _, err := ReadStatusReport(strings.NewReader(report(hdr, grp, okTx))); err != nil {
		t.Fatalf("a valid report: %v", err)
	}
}

// genReader yields next(0), next(1), … forever.
type genReader struct {
	next func(i int) string
	i    int
	buf  string
}

// Read implements io.Reader.
func (g *genReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if g.buf == "" {
			g.buf, g.i = g.next(g.i), g.i+1
		}
		c := copy(p[n:], g.buf)
		g.buf, n = g.buf[c:], n+c
	}
	return n, nil
}
