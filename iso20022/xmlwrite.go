package iso20022

import (
	"encoding/xml"
	"fmt"
	"io"
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

// writer wraps an xml.Encoder with a sticky error, so a format's code reads
// as the element tree it emits. Elements without a namespace inherit the
// root's default namespace.
type writer struct {
	w   io.Writer
	enc *xml.Encoder
	err error
}

// newWriter writes the XML declaration and opens <Document xmlns=ns>.
func newWriter(w io.Writer, ns string) *writer {
	_, err := io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	x := &writer{w: w, enc: enc, err: err}
	x.token(xml.StartElement{Name: xml.Name{Local: "Document"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: ns}}})
	return x
}

// token encodes one token unless an earlier one failed.
func (x *writer) token(t xml.Token) {
	if x.err == nil {
		x.err = x.enc.EncodeToken(t)
	}
}

// start opens an element.
func (x *writer) start(local string) {
	x.token(xml.StartElement{Name: xml.Name{Local: local}})
}

// end closes an element.
func (x *writer) end(local string) {
	x.token(xml.EndElement{Name: xml.Name{Local: local}})
}

// text writes <local>s</local>; encoding/xml escapes s.
func (x *writer) text(local, s string) {
	x.start(local)
	x.token(xml.CharData(s))
	x.end(local)
}

// optText writes <local>s</local> when s is not empty.
func (x *writer) optText(local, s string) {
	if s != "" {
		x.text(local, s)
	}
}

// amount writes <local Ccy="currency">decimal</local> with exactly the
// currency's minor digits.
func (x *writer) amount(local string, minor int64, currency string) {
	x.token(xml.StartElement{Name: xml.Name{Local: local}, Attr: []xml.Attr{{Name: xml.Name{Local: "Ccy"}, Value: currency}}})
	x.token(xml.CharData(payment.FormatAmount(minor, currency)))
	x.end(local)
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

// close closes <Document>, flushes, and ends the file with a newline.
func (x *writer) close() error {
	x.end("Document")
	if x.err != nil {
		return x.err
	}
	if err := x.enc.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(x.w, "\n")
	return err
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
func textProblem(s string, max int) string {
	if s == "" {
		return "is empty"
	}
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
	return false, fieldError(field, "%q is neither a 12-digit CNAPS code nor a BIC", clip(id, 40))
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
	return fmt.Sprintf("transaction %d (end-to-end id %q)", n, clip(tx.EndToEndID, 40))
}
