package iso20022

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"testing"

	"github.com/b2bpay/b2bpay/payment"
)

// encodingXML is what encoding/xml writes for s as character data and as
// an attribute value: the writer must match it byte for byte, so files
// stay identical to those written before it stopped using the encoder.
func encodingXML(t testing.TB, s string) (chars, attr string) {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	if err := enc.EncodeToken(xml.StartElement{Name: xml.Name{Local: "a"}, Attr: []xml.Attr{{Name: xml.Name{Local: "v"}, Value: s}}}); err != nil {
		t.Fatal(err)
	}
	if err := enc.EncodeToken(xml.CharData(s)); err != nil {
		t.Fatal(err)
	}
	if err := enc.EncodeToken(xml.EndElement{Name: xml.Name{Local: "a"}}); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	open := len(`<a v="`)
	end := bytes.IndexByte(b.Bytes()[open:], '"') + open
	return out[end+2 : len(out)-len("</a>")], out[open:end]
}

func ours(s string, inAttr bool) string {
	return string(appendEscaped([]byte("prefix"), s, inAttr)[len("prefix"):])
}

func FuzzEscapeMatchesEncodingXML(f *testing.F) {
	for _, s := range []string{"", "plain", `<&>"'`, "a\tb\nc\rd", "\x00\x01\x7f", "\xff\xfe", "\uFFFD", "\uFFFE\uFFFF",
		"上海华东机电设备有限公司", "\U0001F600", "\xed\xa0\x80", "x]]>y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		chars, attr := encodingXML(t, s)
		if got := ours(s, false); got != chars {
			t.Fatalf("character data of %q: got %q, encoding/xml writes %q", s, got, chars)
		}
		if got := ours(s, true); got != attr {
			t.Fatalf("attribute value of %q: got %q, encoding/xml writes %q", s, got, attr)
		}
	})
}

// TestWriterMatchesEncodingXML writes the same tree, 40 levels deep with
// text, attributes and siblings, with the writer and with encoding/xml's
// indenting encoder: the bytes must be the same.
func TestWriterMatchesEncodingXML(t *testing.T) {
	var ours, theirs bytes.Buffer
	x := newWriter(&ours, "urn:test")
	theirs.WriteString(xml.Header)
	enc := xml.NewEncoder(&theirs)
	enc.Indent("", "  ")
	tok := func(tk xml.Token) {
		if err := enc.EncodeToken(tk); err != nil {
			t.Fatal(err)
		}
	}
	tok(xml.StartElement{Name: xml.Name{Local: "Document"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: "urn:test"}}})
	var names []string
	for d := range 40 {
		name := "L" + string(rune('A'+d%26))
		names = append(names, name)
		x.start(name)
		tok(xml.StartElement{Name: xml.Name{Local: name}})
		x.text("T", "a<b>&\"c'\t\n")
		tok(xml.StartElement{Name: xml.Name{Local: "T"}})
		tok(xml.CharData("a<b>&\"c'\t\n"))
		tok(xml.EndElement{Name: xml.Name{Local: "T"}})
		x.amount("Amt", int64(d+1), "CNY")
		tok(xml.StartElement{Name: xml.Name{Local: "Amt"}, Attr: []xml.Attr{{Name: xml.Name{Local: "Ccy"}, Value: "CNY"}}})
		tok(xml.CharData(fmt.Sprintf("0.%02d", d+1)))
		tok(xml.EndElement{Name: xml.Name{Local: "Amt"}})
	}
	x.start("Empty")
	x.end("Empty")
	tok(xml.StartElement{Name: xml.Name{Local: "Empty"}})
	tok(xml.EndElement{Name: xml.Name{Local: "Empty"}})
	for i := len(names) - 1; i >= 0; i-- {
		x.end(names[i])
		tok(xml.EndElement{Name: xml.Name{Local: names[i]}})
	}
	if err := x.close(); err != nil {
		t.Fatal(err)
	}
	tok(xml.EndElement{Name: xml.Name{Local: "Document"}})
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	theirs.WriteString("\n")
	if ours.String() != theirs.String() {
		t.Fatalf("the writer differs from encoding/xml:\n%s\n----\n%s", ours.String(), theirs.String())
	}
}

// An end tag that does not close the open element is an error, as it is
// for encoding/xml.
func TestWriterRefusesMismatchedEnd(t *testing.T) {
	x := newWriter(io.Discard, "urn:test")
	x.start("A")
	x.end("B")
	if err := x.close(); err == nil {
		t.Fatal("mismatched end element accepted")
	}
}

// appendAmount writes what payment.FormatAmount writes, for every
// exponent in use and amounts at the edges of their digits.
func TestAppendAmountMatchesFormatAmount(t *testing.T) {
	values := []int64{0, 1, 9, 10, 99, 100, 101, 999, 1000, 1001, 123456, 128640050,
		payment.MaxAmountMinor, MaxControlSumMinor, math.MaxInt64, -1, -99, -100, -123456, math.MinInt64 + 1, math.MinInt64}
	for p := int64(1); p > 0 && p <= math.MaxInt64/10; p *= 10 {
		values = append(values, p-1, p, p+1, -p)
	}
	for _, currency := range []string{"JPY", "CNY", "KWD", "CLF", "XXX-unknown"} {
		exp, ok := payment.CurrencyExponent(currency)
		if !ok {
			exp = 2
		}
		for _, v := range values {
			want := payment.FormatAmount(v, currency)
			if got := string(appendAmount([]byte("x"), v, exp)[1:]); got != want {
				t.Errorf("%d %s: got %q, payment.FormatAmount writes %q", v, currency, got, want)
			}
		}
	}
}
