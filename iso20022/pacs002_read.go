package iso20022

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// maxReportDepth bounds element nesting; pacs.002 needs about a dozen.
const maxReportDepth = 64

// reportLeaves are the elements ReadStatusReport takes text from, by path
// below FIToFIPmtStsRpt, with their maximum length in characters (0: a
// date and time).
var reportLeaves = map[string]int{
	"GrpHdr/MsgId":                          35,
	"GrpHdr/CreDtTm":                        0,
	"OrgnlGrpInfAndSts/OrgnlMsgId":          35,
	"OrgnlGrpInfAndSts/OrgnlMsgNmId":        35,
	"OrgnlGrpInfAndSts/GrpSts":              4,
	"TxInfAndSts/OrgnlGrpInf/OrgnlMsgId":    35,
	"TxInfAndSts/OrgnlInstrId":              35,
	"TxInfAndSts/OrgnlEndToEndId":           35,
	"TxInfAndSts/OrgnlTxId":                 35,
	"TxInfAndSts/TxSts":                     4,
	"TxInfAndSts/StsRsnInf/Rsn/Cd":          4,
	"TxInfAndSts/StsRsnInf/Rsn/Prtry":       35,
	"TxInfAndSts/StsRsnInf/AddtlInf":        105,
	"OrgnlGrpInfAndSts/StsRsnInf/Rsn/Cd":    4,
	"OrgnlGrpInfAndSts/StsRsnInf/Rsn/Prtry": 35,
	"OrgnlGrpInfAndSts/StsRsnInf/AddtlInf":  105,
}

// ReadStatusReport reads one pacs.002.001.10 FIToFIPmtStsRpt document. It
// streams with encoding/xml's Decoder.Token, so memory is bounded by the
// limits below, and it checks what b2bpay relies on (it is not a schema
// validator; unknown elements are skipped). It refuses, with an error
// wrapping ErrInvalidReport that names the element:
//
//   - input that is not well-formed XML, declares a DOCTYPE or an encoding
//     other than UTF-8, or nests deeper than 64 elements;
//   - a root other than Document in namespace Pacs002Namespace, or a
//     Document without FIToFIPmtStsRpt;
//   - a missing or duplicate GrpHdr/MsgId or GrpHdr/CreDtTm, a creation
//     time that is not an ISODateTime;
//   - more than one OrgnlGrpInfAndSts, one without OrgnlMsgId or
//     OrgnlMsgNmId, an original message id that TxInfAndSts/OrgnlGrpInf
//     contradicts, or none at all;
//   - a GrpSts outside the transaction codes plus PART;
//   - a reason code (StsRsnInf/Rsn/Cd) over 4 characters or a proprietary
//     reason (Rsn/Prtry) over 35;
//   - a TxInfAndSts without any of OrgnlInstrId, OrgnlEndToEndId,
//     OrgnlTxId, without TxSts, or with a TxSts outside the accepted
//     ExternalPaymentTransactionStatus1Code set (see transactionStatuses:
//     ACCC ACCP ACFC ACIS ACPD ACSC ACSP ACTC ACWC ACWP BLCK CANC PATC
//     PDNG PRES RCVD RJCT);
//   - text that is empty or longer than its ISO 20022 type allows;
//   - a report with neither a group status nor a transaction status;
//   - more than MaxReportEntries transaction statuses or more than
//     MaxReportBytes of input;
//   - a token (tag, text run, comment …) over MaxReportTokenBytes, an
//     element with more than MaxReportAttributes attributes, or more than
//     MaxReportTokens tokens: checked on the bytes before the decoder
//     builds the token, so memory stays bounded whatever the input.
//
// Of several StsRsnInf, the first Rsn/Cd and the first Rsn/Prtry are
// kept and every AddtlInf is kept, joined with "\n"; this holds for the
// group (GroupReasonCode ...) and for each entry. Errors reading r are
// returned as they are, not as ErrInvalidReport.
func ReadStatusReport(r io.Reader) (StatusReport, error) {
	in := &capReader{r: &boundReader{r: r}, left: MaxReportBytes}
	rd := &reportReader{doc: newDoc(in, Pacs002Namespace, "FIToFIPmtStsRpt", reportError), seen: map[string]bool{}}
	rep, err := rd.read(in)
	if err != nil {
		return StatusReport{}, fmt.Errorf("iso20022: read status report: %w", err)
	}
	return rep, nil
}

// errTooLarge is what capReader returns past MaxReportBytes.
var errTooLarge = fmt.Errorf("input is larger than %d bytes: %w", MaxReportBytes, ErrInvalidReport)

// capReader passes at most left bytes and fails with errTooLarge if there
// are more. It remembers the underlying reader's error.
type capReader struct {
	r    io.Reader
	left int64
	err  error
}

// Read implements io.Reader.
func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var probe [1]byte
		n, err := c.r.Read(probe[:])
		if n > 0 {
			err = errTooLarge
		}
		if err != nil && err != io.EOF {
			c.err = err
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// reportReader holds the state of one ReadStatusReport.
type reportReader struct {
	doc
	seen     map[string]bool // single report-level leaves already read
	rep      StatusReport
	groups   int    // OrgnlGrpInfAndSts elements
	nameID   string // OrgnlGrpInfAndSts/OrgnlMsgNmId
	txOrigID string // TxInfAndSts/OrgnlGrpInf/OrgnlMsgId, all equal
	txOrigN  int    // entries that carry it
	entry    entryState
	group    reasons // OrgnlGrpInfAndSts/StsRsnInf
}

// entryState is the TxInfAndSts being read.
type entryState struct {
	e       StatusEntry
	seen    map[string]bool
	reasons reasons
	origID  string
}

// read runs the token loop and the final checks.
func (rd *reportReader) read(in *capReader) (StatusReport, error) {
	if err := rd.walk(in, rd); err != nil {
		return StatusReport{}, err
	}
	return rd.finish()
}

// open decides whether an element's text is wanted (doc.enter checked it).
func (rd *reportReader) open(t xml.StartElement) error {
	switch key := rd.key(); key {
	case "OrgnlGrpInfAndSts":
		if rd.groups++; rd.groups > 1 {
			return reportError("more than one OrgnlGrpInfAndSts: a report must answer one file")
		}
	case "TxInfAndSts":
		if len(rd.rep.Entries) == MaxReportEntries {
			return reportError("more than %d transaction statuses", MaxReportEntries)
		}
		rd.entry = entryState{seen: map[string]bool{}}
	default:
		if _, ok := reportLeaves[key]; ok {
			rd.leaf, rd.text = key, rd.text[:0]
		}
	}
	return nil
}

// key is the open element's path below FIToFIPmtStsRpt, or "" outside it
// or under an element of another namespace.
func (rd *reportReader) key() string {
	if len(rd.path) < 3 {
		return ""
	}
	for _, n := range rd.path[2:] {
		if n == "" {
			return ""
		}
	}
	return strings.Join(rd.path[2:], "/")
}

// chars collects a wanted leaf's text and refuses text outside the root.
func (rd *reportReader) chars(t xml.CharData) error {
	if rd.leaf != "" {
		if len(rd.text)+len(t) > 4*reportLeaves[rd.leaf]+64 {
			return reportError("%s is too long", rd.leaf)
		}
		rd.text = append(rd.text, t...)
		return nil
	}
	if len(rd.path) == 0 && len(bytes.TrimSpace(t)) > 0 {
		return reportError("text outside the root element: the input is not an XML document")
	}
	return nil
}

// close ends an element: a leaf's text is stored, an entry is checked.
func (rd *reportReader) close() error {
	key := rd.key()
	var err error
	switch {
	case rd.leaf != "":
		err = rd.store(rd.leaf, string(rd.text))
		rd.leaf = ""
	case key == "TxInfAndSts":
		err = rd.endEntry()
	}
	return err
}
