package iso20022

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/b2bpay/b2bpay/payment"
)

// dateLayout is ISODate (xs:date without a zone).
const dateLayout = "2006-01-02"

// dateTimeLayout is ISODateTime up to the seconds; formatDateTime appends
// the offset. An explicit "+00:00" rather than "Z": both are valid
// xs:dateTime, and usage guidelines that restrict the form (CBPR+, the
// Fedwire samples) use the offset.
const dateTimeLayout = "2006-01-02T15:04:05"

// writer writes indented XML (two spaces a level, as encoding/xml's
// Encoder with Indent("", "  ") does, byte for byte) into a buffer it
// hands to the underlying writer a block at a time, with a sticky error,
// so a format's code reads as the element tree it emits. Elements without
// a namespace inherit the root's default namespace. It writes directly
// rather than through encoding/xml's token encoder, which costs several
// allocations an element: a file of a million transactions has tens of
// millions of elements. Nothing it writes allocates once the buffer and
// the stack of open elements have grown.
type writer struct {
	w   io.Writer
	buf []byte
	err error
	// open is the stack of open elements, checked when each closes.
	open []string
	// inText is true between a start tag and its first child or end: an
	// end tag right after text stays on the text's line.
	inText bool
	// started is true once the first element is written.
	started bool
	// currency and exponent are the last amount's currency and its minor
	// digits, looked up once for a file's amounts.
	currency string
	exponent int
}

// writeBlock is how much the writer buffers before handing it on.
const writeBlock = 64 << 10

// newWriter writes the XML declaration and opens <Document xmlns=ns>.
func newWriter(w io.Writer, ns string) *writer {
	x := &writer{w: w, buf: make([]byte, 0, writeBlock+4<<10), open: make([]string, 0, 16)}
	x.buf = append(x.buf, xml.Header...)
	x.startAttr("Document", "xmlns", ns)
	return x
}

// newlineIndent is a line break and the indentation of the deepest
// element, sliced for each depth.
const newlineIndent = "\n                                                                "

// indent starts a new line at the current depth, except before the first
// element.
func (x *writer) indent() {
	d := 2 * len(x.open)
	if !x.started {
		x.started = true
		x.buf = append(x.buf, newlineIndent[1:1+d]...)
		return
	}
	if 1+d > len(newlineIndent) {
		x.buf = append(x.buf, '\n')
		for range len(x.open) {
			x.buf = append(x.buf, "  "...)
		}
		return
	}
	x.buf = append(x.buf, newlineIndent[:1+d]...)
}

// start opens an element.
func (x *writer) start(local string) { x.startAttr(local, "", "") }

// startAttr opens an element with one attribute, when attr is not empty.
func (x *writer) startAttr(local, attr, value string) {
	if x.err != nil {
		return
	}
	x.indent()
	x.buf = append(x.buf, '<')
	x.buf = append(x.buf, local...)
	if attr != "" {
		x.buf = append(x.buf, ' ')
		x.buf = append(x.buf, attr...)
		x.buf = append(x.buf, `="`...)
		x.buf = appendEscaped(x.buf, value, true)
		x.buf = append(x.buf, '"')
	}
	x.buf = append(x.buf, '>')
	x.open = append(x.open, local)
	x.inText = true
}

// end closes an element, and hands the buffer on once it holds a block.
func (x *writer) end(local string) {
	if x.err != nil {
		return
	}
	n := len(x.open)
	if n == 0 || x.open[n-1] != local {
		x.err = fmt.Errorf("iso20022: end element </%s> does not match the open element", local)
		return
	}
	x.open = x.open[:n-1]
	if !x.inText {
		x.indent()
	}
	x.inText = false
	x.buf = append(x.buf, "</"...)
	x.buf = append(x.buf, local...)
	x.buf = append(x.buf, '>')
	if len(x.buf) >= writeBlock {
		x.flush()
	}
}

// flush hands the buffer to the underlying writer.
func (x *writer) flush() {
	if x.err != nil || len(x.buf) == 0 {
		return
	}
	n, err := x.w.Write(x.buf)
	if err == nil && n < len(x.buf) {
		err = io.ErrShortWrite
	}
	x.err = err
	x.buf = x.buf[:0]
}

// text writes <local>s</local>, escaped: what start, the escaped text and
// end would write, without pushing local on the stack of open elements.
func (x *writer) text(local, s string) {
	if x.err != nil {
		return
	}
	x.indent()
	x.buf = append(x.buf, '<')
	x.buf = append(x.buf, local...)
	x.buf = append(x.buf, '>')
	x.buf = appendEscaped(x.buf, s, false)
	x.buf = append(x.buf, "</"...)
	x.buf = append(x.buf, local...)
	x.buf = append(x.buf, '>')
	x.inText = false
	if len(x.buf) >= writeBlock {
		x.flush()
	}
}

// optText writes <local>s</local> when s is not empty.
func (x *writer) optText(local, s string) {
	if s != "" {
		x.text(local, s)
	}
}

// amount writes <local Ccy="currency">decimal</local> with exactly the
// currency's minor digits, as payment.FormatAmount writes them.
func (x *writer) amount(local string, minor int64, currency string) {
	x.startAttr(local, "Ccy", currency)
	if x.err == nil {
		x.buf = appendAmount(x.buf, minor, x.exponentOf(currency))
	}
	x.end(local)
}

// exponentOf returns the currency's minor digits (2 for an unknown code,
// as payment.FormatAmount), looked up again only when the currency
// changes.
func (x *writer) exponentOf(currency string) int {
	if currency != x.currency || x.currency == "" {
		exp, ok := payment.CurrencyExponent(currency)
		if !ok {
			exp = 2
		}
		x.currency, x.exponent = currency, exp
	}
	return x.exponent
}

// appendAmount appends minor units as a decimal with exp fraction digits,
// byte for byte as payment.FormatAmount writes them: a leading zero below
// one, a minus sign for a negative amount.
func appendAmount(dst []byte, minor int64, exp int) []byte {
	var digits [24]byte
	var u []byte
	if minor < 0 {
		dst = append(dst, '-')
		// Negating math.MinInt64 overflows; its digits are those of its
		// uint64 magnitude.
		u = strconv.AppendUint(digits[:0], uint64(-(minor+1))+1, 10)
	} else {
		u = strconv.AppendUint(digits[:0], uint64(minor), 10)
	}
	if exp <= 0 {
		return append(dst, u...)
	}
	if len(u) <= exp {
		dst = append(dst, '0', '.')
		for range exp - len(u) {
			dst = append(dst, '0')
		}
		return append(dst, u...)
	}
	dst = append(dst, u[:len(u)-exp]...)
	dst = append(dst, '.')
	return append(dst, u[len(u)-exp:]...)
}

// agent writes a BranchAndFinancialInstitutionIdentification6: a 12-digit
// CNAPS code as a clearing-system member, a BIC as BICFI. The id must have
// passed checkAgent.
func (x *writer) agent(local, id string) {
	x.start(local)
	x.start("FinInstnId")
	if isCNAPS(id) {
		x.start("ClrSysMmbId")
		x.start("ClrSysId")
		x.text("Cd", "CNAPS")
		x.end("ClrSysId")
		x.text("MmbId", id)
		x.end("ClrSysMmbId")
	} else {
		x.text("BICFI", id)
	}
	x.end("FinInstnId")
	x.end(local)
}

// close closes <Document>, ends the file with a newline and hands the
// rest of the buffer on.
func (x *writer) close() error {
	x.end("Document")
	if x.err != nil {
		return x.err
	}
	if len(x.open) != 0 {
		return fmt.Errorf("iso20022: unclosed element <%s>", x.open[len(x.open)-1])
	}
	x.buf = append(x.buf, '\n')
	x.flush()
	return x.err
}

// plainASCII marks the ASCII bytes escaping leaves as they are: XML
// characters other than the five markup characters, tab, newline and
// carriage return.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"'&<>` {
		t[c] = false
	}
	return t
}()

// isPlain3 reports whether s holds at i a three-byte UTF-8 sequence of
// U+1000-U+CFFF or U+E000-U+EFFF (Chinese among them): valid, XML
// characters, written as they are. The other three-byte lead bytes (E0,
// ED, EF) can start an overlong form, a surrogate or U+FFFE/U+FFFF, and
// are left to the decoder.
func isPlain3(s string, i int) bool {
	if i+2 >= len(s) {
		return false
	}
	c := s[i]
	return (c >= 0xE1 && c <= 0xEC || c == 0xEE) && s[i+1]&0xC0 == 0x80 && s[i+2]&0xC0 == 0x80
}

// appendEscaped appends s as XML character data (or, with inAttr, as an
// attribute value), escaping as encoding/xml does: the five markup
// characters, tab and carriage return as character references (and
// newline, in an attribute), and anything outside XML's characters as
// U+FFFD. Runs of plain ASCII are copied without decoding.
func appendEscaped(dst []byte, s string, inAttr bool) []byte {
	last := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf && plainASCII[c] {
			i++
			continue
		}
		if isPlain3(s, i) {
			i += 3
			continue
		}
		r, width := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == '"':
			esc = "&#34;"
		case r == '\'':
			esc = "&#39;"
		case r == '&':
			esc = "&amp;"
		case r == '<':
			esc = "&lt;"
		case r == '>':
			esc = "&gt;"
		case r == '\t':
			esc = "&#x9;"
		case r == '\n':
			if inAttr {
				esc = "&#xA;"
			}
		case r == '\r':
			esc = "&#xD;"
		case !isXMLChar(r) || (r == utf8.RuneError && width == 1):
			esc = "\uFFFD"
		}
		if esc != "" {
			dst = append(dst, s[last:i]...)
			dst = append(dst, esc...)
			last = i + width
		}
		i += width
	}
	return append(dst, s[last:]...)
}

// formatDateTime writes t as ISODateTime in UTC, seconds precision.
func formatDateTime(t time.Time) string {
	return t.UTC().Format(dateTimeLayout) + "+00:00"
}

// checkTime refuses a zero time or a year xs:dateTime cannot hold in four
// digits.
func checkTime(field string, t time.Time) error {
	if p := timeProblem(t); p != "" {
		return fieldError(field, "%s", p)
	}
	return nil
}

// timeProblem says what is wrong with t, or "".
func timeProblem(t time.Time) string {
	if t.IsZero() {
		return "is missing"
	}
	for _, y := range []int{t.Year(), t.UTC().Year()} {
		if y < 1 || y > 9999 {
			return fmt.Sprintf("year %d is outside 0001-9999", y)
		}
	}
	return ""
}

// checkText refuses text ISO 20022 and XML 1.0 cannot carry; see
// textProblem.
func checkText(field, s string, max int) error {
	if p := textProblem(s, max); p != "" {
		return fieldError(field, "%s", p)
	}
	return nil
}

// textProblem says why s is not a 1-max character ISO 20022 text, or "":
// empty, not UTF-8, a character outside XML's Char production (most C0
// controls, surrogates, U+FFFE, U+FFFF), or more than max characters.
//
// It checks in one pass, ASCII without decoding, and leaves saying what
// is wrong to textProblemOf.
func textProblem(s string, max int) string {
	if s == "" {
		return "is empty"
	}
	n := 0
	for i := 0; i < len(s); n++ {
		if c := s[i]; c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return textProblemOf(s, max)
			}
			i++
			continue
		}
		if isPlain3(s, i) {
			i += 3
			continue
		}
		r, width := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && width == 1 || !isXMLChar(r) {
			return textProblemOf(s, max)
		}
		i += width
	}
	if n > max {
		return textProblemOf(s, max)
	}
	return ""
}

// textProblemOf says what is wrong with a text textProblem refuses.
func textProblemOf(s string, max int) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	n := 0
	for _, r := range s {
		if !isXMLChar(r) {
			return fmt.Sprintf("contains %U, which XML 1.0 cannot hold", r)
		}
		n++
	}
	if n > max {
		return fmt.Sprintf("is %d characters, at most %d", n, max)
	}
	return ""
}

// isXMLChar reports whether r is in XML 1.0's Char production.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// checkAgent accepts a bank id: a 12-digit CNAPS code or a BIC (8 or 11
// characters, ISO 9362). It reports whether the id is a CNAPS code.
func checkAgent(field, id string) (cnaps bool, err error) {
	if isCNAPS(id) {
		return true, nil
	}
	if isBIC(id) {
		return false, nil
	}
	return false, fieldError(field, "%q is neither a 12-digit CNAPS code nor a BIC", payment.Clip(id, 40))
}

// isCNAPS reports whether id is 12 ASCII digits.
func isCNAPS(id string) bool {
	if len(id) != 12 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// isBIC matches BICFIDec2014Identifier:
// [A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?.
func isBIC(id string) bool {
	if len(id) != 8 && len(id) != 11 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		upper := c >= 'A' && c <= 'Z'
		if i == 4 || i == 5 {
			if !upper {
				return false
			}
		} else if !upper && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// describe names a transaction in an error: its position and order
// reference.
func describe(n int, tx Transaction) string {
	return fmt.Sprintf("transaction %d (end-to-end id %q)", n, payment.Clip(tx.EndToEndID, 40))
}
