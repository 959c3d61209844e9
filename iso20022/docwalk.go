package iso20022

import (
	"encoding/xml"
	"errors"
	"io"

	"github.com/b2bpay/b2bpay/payment"
)

// doc is the walk the bounded readers (ReadStatusReport,
// ReadNotification) share: the token loop over a capReader, the refusals
// that hold for any message (not well-formed, a declaration, an element
// after the root or inside a text leaf, nesting past maxReportDepth, a
// root other than Document in the message's namespace holding one body
// element) and the open elements' path. A message's reader embeds it and
// says what its elements mean (docElements).
type doc struct {
	dec  *xml.Decoder
	path []string // open elements; "" for one outside the namespace
	leaf string   // path of the leaf whose text is being read, or ""
	text []byte
	done bool // the root element has ended

	ns, body string // the message's namespace and its element under Document
	bodySeen bool
	fail     func(format string, args ...any) error // the message's refusal
}

// docElements is what a message's reader does with the elements doc walks.
type docElements interface {
	// open follows doc's checks, with t on the path.
	open(t xml.StartElement) error
	// close comes before t leaves the path.
	close() error
	chars(t xml.CharData) error
}

// newDoc starts a walk of in for a message of namespace ns whose Document
// holds one body element; fail makes its refusals.
func newDoc(in io.Reader, ns, body string, fail func(format string, args ...any) error) doc {
	return doc{dec: xml.NewDecoder(in), ns: ns, body: body, fail: fail}
}

// walk reads every token of in through e.
func (d *doc) walk(in *capReader, e docElements) error {
	for {
		tok, err := d.dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			var syn *xml.SyntaxError
			switch {
			case in.err != nil:
				return in.err
			case errors.As(err, &syn):
				return d.fail("not well-formed XML: line %d: %s", syn.Line, payment.Clip(syn.Msg, 200))
			default:
				return d.fail("not readable XML: %s", payment.Clip(err.Error(), 200))
			}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err = d.enter(t); err == nil {
				err = e.open(t)
			}
		case xml.EndElement:
			err = e.close()
			d.path = d.path[:len(d.path)-1]
			if len(d.path) == 0 {
				d.done = true
			}
		case xml.CharData:
			err = e.chars(t)
		case xml.Directive:
			err = d.fail("declarations (<!%s) are not allowed", payment.Clip(string(t), 20))
		}
		if err != nil {
			return err
		}
	}
	if !d.done {
		return d.fail("no root element: the input is empty or not XML")
	}
	return nil
}

// enter checks an element any message refuses and puts it on the path.
func (d *doc) enter(t xml.StartElement) error {
	if d.done {
		return d.fail("<%s> after the root element", payment.Clip(t.Name.Local, 40))
	}
	if d.leaf != "" {
		return d.fail("%s holds an element <%s>; it must hold text only", d.leaf, payment.Clip(t.Name.Local, 40))
	}
	if len(d.path) == maxReportDepth {
		return d.fail("elements nested deeper than %d", maxReportDepth)
	}
	name := t.Name.Local
	if t.Name.Space != d.ns {
		name = ""
	}
	switch len(d.path) {
	case 0:
		if name != "Document" {
			return d.fail("root element is <%s> in namespace %q, want <Document> in %q",
				payment.Clip(t.Name.Local, 40), payment.Clip(t.Name.Space, 80), d.ns)
		}
	case 1:
		if name != d.body || d.bodySeen {
			return d.fail("Document holds <%s> in namespace %q, want one <%s>",
				payment.Clip(t.Name.Local, 40), payment.Clip(t.Name.Space, 80), d.body)
		}
		d.bodySeen = true
	}
	d.path = append(d.path, name)
	return nil
}
