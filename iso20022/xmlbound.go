package iso20022

import "io"

// Bounds of ReadStatusReport on the XML it reads, checked on the bytes
// before encoding/xml sees them: the decoder builds a whole token (a start
// element with every attribute, a text run, a comment) in memory before
// it returns it, so a bound checked on tokens would come too late.
const (
	// MaxReportTokenBytes is the longest single token: a tag with its
	// attributes, a text run, a comment, a CDATA section or a processing
	// instruction (pacs.002 needs a few hundred bytes).
	MaxReportTokenBytes = 64 << 10
	// MaxReportAttributes is the most attributes one element may carry
	// (pacs.002 needs the namespace declarations of Document).
	MaxReportAttributes = 32
	// MaxReportTokens is the most tokens (tags, text runs, comments) in a
	// report: 64 per transaction status and some to spare.
	MaxReportTokens = 64*MaxReportEntries + 4096
)

// lexState is where boundReader is in the XML text.
type lexState uint8

const (
	lexText      lexState = iota // character data
	lexOpen                      // just after '<'
	lexBang                      // after "<!": a comment, CDATA or a declaration
	lexComment                   // in <!-- … -->
	lexCDATA                     // in <![CDATA[ … ]]>
	lexDirective                 // in <!… > (refused by the reader anyway)
	lexPI                        // in <? … ?>
	lexTag                       // in a start or end tag
)

// boundReader passes r's bytes through and fails, with an error wrapping
// ErrInvalidReport, once the text breaks one of the bounds above. It is a
// lexer just precise enough to find where tokens and attributes begin and
// end: inside a tag, quotes are honoured and each '=' outside them is an
// attribute.
type boundReader struct {
	r      io.Reader
	state  lexState
	quote  byte   // the open quote inside a tag, or 0
	bang   []byte // what followed "<!" so far
	tail   [2]byte
	length int // bytes of the current token
	attrs  int // attributes of the current tag
	tokens int
}

// Read implements io.Reader.
func (b *boundReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	for _, c := range p[:n] {
		if lerr := b.step(c); lerr != nil {
			return 0, lerr
		}
	}
	return n, err
}

// step takes one byte.
func (b *boundReader) step(c byte) error {
	b.length++
	switch b.state {
	case lexText:
		if c == '<' {
			return b.begin(lexOpen)
		}
		if b.length == 1 { // a text run begins
			if err := b.count(); err != nil {
				return err
			}
		}
	case lexOpen:
		switch c {
		case '!':
			b.state, b.bang = lexBang, b.bang[:0]
		case '?':
			b.state = lexPI
		default:
			b.state, b.attrs, b.quote = lexTag, 0, 0
		}
	case lexBang:
		b.bang = append(b.bang, c)
		switch s := string(b.bang); {
		case s == "--":
			b.state = lexComment
		case s == "[CDATA[":
			b.state = lexCDATA
		case !isPrefix(s, "--") && !isPrefix(s, "[CDATA["):
			b.state = lexDirective
		}
	case lexComment:
		if c == '>' && b.tail == [2]byte{'-', '-'} {
			b.end()
		}
	case lexCDATA:
		if c == '>' && b.tail == [2]byte{']', ']'} {
			b.end()
		}
	case lexPI:
		if c == '>' && b.tail[1] == '?' {
			b.end()
		}
	case lexDirective:
		if c == '>' {
			b.end()
		}
	case lexTag:
		switch {
		case b.quote != 0:
			if c == b.quote {
				b.quote = 0
			}
		case c == '"' || c == '\'':
			b.quote = c
		case c == '=':
			if b.attrs++; b.attrs > MaxReportAttributes {
				return reportError("an element has more than %d attributes", MaxReportAttributes)
			}
		case c == '>':
			b.end()
		}
	}
	b.tail = [2]byte{b.tail[1], c}
	if b.length > MaxReportTokenBytes {
		return reportError("a tag, text, comment or other token is longer than %d bytes", MaxReportTokenBytes)
	}
	return nil
}

// begin starts a markup token.
func (b *boundReader) begin(s lexState) error {
	b.state, b.length = s, 1
	return b.count()
}

// end closes a markup token; text may follow.
func (b *boundReader) end() {
	b.state, b.length = lexText, 0
}

// count counts one more token.
func (b *boundReader) count() error {
	if b.tokens++; b.tokens > MaxReportTokens {
		return reportError("more than %d tokens", MaxReportTokens)
	}
	return nil
}

func isPrefix(s, of string) bool { return len(s) <= len(of) && of[:len(s)] == s }
