package iso20022

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/b2bpay/b2bpay/payment"
)

// Pieces of hand-built reports.
const (
	hdr      = `<GrpHdr><MsgId>R-1</MsgId><CreDtTm>2026-11-27T10:00:00Z</CreDtTm></GrpHdr>`
	grp      = `<OrgnlGrpInfAndSts><OrgnlMsgId>B2B-1</OrgnlMsgId><OrgnlMsgNmId>pacs.008.001.08</OrgnlMsgNmId></OrgnlGrpInfAndSts>`
	okTx     = `<TxInfAndSts><OrgnlEndToEndId>PO-1</OrgnlEndToEndId><TxSts>ACSC</TxSts></TxInfAndSts>`
	docOpen  = `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"><FIToFIPmtStsRpt>`
	docClose = `</FIToFIPmtStsRpt></Document>`
)

// report wraps body in Document and FIToFIPmtStsRpt.
func report(body ...string) string { return docOpen + strings.Join(body, "") + docClose }

// tx builds a TxInfAndSts from its inner elements.
func tx(inner string) string { return "<TxInfAndSts>" + inner + "</TxInfAndSts>" }

// TestReadStatusReportRefuses checks every refusal and its message.
func TestReadStatusReportRefuses(t *testing.T) {
	t.Parallel()
	valid := report(hdr, grp, okTx)
	deep := docOpen + strings.Repeat("<SplmtryData>", 70) + strings.Repeat("</SplmtryData>", 70) + docClose
	cases := []struct{ name, in, want string }{
		{"empty", "", "no root element"},
		{"plain text", "hello", "text outside the root element"},
		{"JSON", `{"msg_id": "R-1"}`, "text outside the root element"},
		{"truncated", valid[:len(valid)/2], "not well-formed XML"},
		{"unclosed tag", "<Document", "not well-formed XML"},
		{"mismatched tags", docOpen + "<GrpHdr></MsgId>" + docClose, "not well-formed XML"},
		{"wrong root", "<Foo/>", `root element is <Foo> in namespace ""`},
		{"pacs.008", `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"/>`, `namespace "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"`},
		{"older version", `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.002.001.09"/>`, "pacs.002.001.09"},
		{"no namespace", "<Document><FIToFIPmtStsRpt/></Document>", `root element is <Document> in namespace ""`},
		{"other message", strings.Replace(valid, "FIToFIPmtStsRpt", "FIToFICstmrCdtTrf", 2), "Document holds <FIToFICstmrCdtTrf>"},
		{"two messages", docOpen + docClose[:len("</FIToFIPmtStsRpt>")] + "<FIToFIPmtStsRpt/>" + "</Document>", "want one <FIToFIPmtStsRpt>"},
		{"no MsgId", report(`<GrpHdr><CreDtTm>2026-11-27T10:00:00Z</CreDtTm></GrpHdr>`, grp, okTx), "GrpHdr/MsgId is missing"},
		{"two MsgId", report(`<GrpHdr><MsgId>A</MsgId><MsgId>B</MsgId></GrpHdr>`, grp, okTx), "GrpHdr/MsgId appears twice"},
		{"empty MsgId", report(`<GrpHdr><MsgId/><CreDtTm>2026-11-27T10:00:00Z</CreDtTm></GrpHdr>`, grp, okTx), "GrpHdr/MsgId is empty"},
		{"long MsgId", strings.Replace(valid, "R-1", strings.Repeat("R", 36), 1), "GrpHdr/MsgId is 36 characters, at most 35"},
		{"huge MsgId", strings.Replace(valid, "R-1", strings.Repeat("R", 1<<20), 1), "GrpHdr/MsgId is too long"},
		{"no CreDtTm", report(`<GrpHdr><MsgId>R-1</MsgId></GrpHdr>`, grp, okTx), "GrpHdr/CreDtTm is missing"},
		{"bad CreDtTm", strings.Replace(valid, "2026-11-27T10:00:00Z", "27/11/2026 10:00", 1), `GrpHdr/CreDtTm "27/11/2026 10:00" is not an ISODateTime`},
		{"two original groups", report(hdr, grp, grp, okTx), "more than one OrgnlGrpInfAndSts"},
		{"no OrgnlMsgId", report(hdr, `<OrgnlGrpInfAndSts><OrgnlMsgNmId>pacs.008.001.08</OrgnlMsgNmId></OrgnlGrpInfAndSts>`, okTx), "OrgnlGrpInfAndSts/OrgnlMsgId is missing"},
		{"no OrgnlMsgNmId", report(hdr, `<OrgnlGrpInfAndSts><OrgnlMsgId>B2B-1</OrgnlMsgId></OrgnlGrpInfAndSts>`, okTx), "OrgnlMsgNmId is missing"},
		{"no original id", report(hdr, okTx), "no original message id"},
		{"some entries without original id", report(hdr,
			tx(`<OrgnlGrpInf><OrgnlMsgId>B2B-1</OrgnlMsgId><OrgnlMsgNmId>pacs.008.001.08</OrgnlMsgNmId></OrgnlGrpInf><OrgnlTxId>T</OrgnlTxId><TxSts>ACSC</TxSts>`), okTx), "no original message id"},
		{"entry contradicts group", report(hdr, grp,
			tx(`<OrgnlGrpInf><OrgnlMsgId>B2B-2</OrgnlMsgId><OrgnlMsgNmId>pacs.008.001.08</OrgnlMsgNmId></OrgnlGrpInf><OrgnlTxId>T</OrgnlTxId><TxSts>ACSC</TxSts>`)),
			`OrgnlGrpInf/OrgnlMsgId "B2B-2" differs from OrgnlGrpInfAndSts/OrgnlMsgId "B2B-1"`},
		{"entries contradict", report(hdr,
			tx(`<OrgnlGrpInf><OrgnlMsgId>B2B-1</OrgnlMsgId><OrgnlMsgNmId>x</OrgnlMsgNmId></OrgnlGrpInf><OrgnlTxId>T</OrgnlTxId><TxSts>ACSC</TxSts>`),
			tx(`<OrgnlGrpInf><OrgnlMsgId>B2B-3</OrgnlMsgId><OrgnlMsgNmId>x</OrgnlMsgNmId></OrgnlGrpInf><OrgnlTxId>T</OrgnlTxId><TxSts>ACSC</TxSts>`)),
			`TxInfAndSts 2: OrgnlGrpInf/OrgnlMsgId "B2B-3" differs`},
		{"entry without ids", report(hdr, grp, okTx, tx(`<StsId>S</StsId><TxSts>RJCT</TxSts>`)), "TxInfAndSts 2: none of OrgnlInstrId, OrgnlEndToEndId, OrgnlTxId"},
		{"entry without status", report(hdr, grp, tx(`<OrgnlTxId>T</OrgnlTxId>`)), "TxInfAndSts 1: TxSts is missing"},
		{"unknown status", report(hdr, grp, tx(`<OrgnlTxId>T</OrgnlTxId><TxSts>DONE</TxSts>`)), `TxSts "DONE" is not a known ExternalPaymentTransactionStatus1Code`},
		{"lowercase status", report(hdr, grp, tx(`<OrgnlTxId>T</OrgnlTxId><TxSts>rjct</TxSts>`)), `TxSts "rjct"`},
		{"status with spaces", report(hdr, grp, tx(`<OrgnlTxId>T</OrgnlTxId><TxSts> RJCT</TxSts>`)), "TxInfAndSts 1: TxSts is 5 characters, at most 4"},
		{"long status", report(hdr, grp, tx(`<OrgnlTxId>T</OrgnlTxId><TxSts>REJECTED</TxSts>`)), "TxInfAndSts 1: TxSts is 8 characters, at most 4"},
		{"two statuses", report(hdr, grp, tx(`<OrgnlTxId>T</OrgnlTxId><TxSts>ACSC</TxSts><TxSts>RJCT</TxSts>`)), "TxInfAndSts 1: TxSts appears twice"},
		{"unknown group status", report(hdr, strings.Replace(grp, "</OrgnlMsgNmId>", "</OrgnlMsgNmId><GrpSts>OK</GrpSts>", 1)), `GrpSts "OK" is not a known group status`},
		{"long reason code", report(hdr, grp, tx(`<OrgnlTxId>T</OrgnlTxId><TxSts>RJCT</TxSts><StsRsnInf><Rsn><Cd>AC041</Cd></Rsn></StsRsnInf>`)), "Rsn/Cd is 5 characters, at most 4"},
		{"element in a leaf", report(`<GrpHdr><MsgId><b>R</b></MsgId></GrpHdr>`, grp, okTx), "GrpHdr/MsgId holds an element <b>"},
		{"control character", strings.Replace(valid, "PO-1", "PO&#x1;", 1), "not well-formed XML"},
		{"undefined entity", strings.Replace(valid, "PO-1", "PO&nbsp;", 1), "not well-formed XML"},
		{"DOCTYPE", `<?xml version="1.0"?><!DOCTYPE Document [<!ENTITY a "aaaa">]>` + valid, "declarations (<!DOCTYPE"},
		{"GBK", `<?xml version="1.0" encoding="GBK"?>` + valid, `not readable XML: xml: encoding "GBK" declared`},
		{"text after root", valid + "trailing", "text outside the root element"},
		{"second root", valid + valid, "<Document> after the root element"},
		{"nothing reported", report(hdr, grp), "neither a group status (GrpSts) nor a transaction status"},
		{"too deep", deep, "elements nested deeper than 64"},
		{"too many entries", report(hdr, grp, strings.Repeat(okTx, MaxReportEntries+1)), "more than 100000 transaction statuses"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadStatusReport(strings.NewReader(c.in))
			if !errors.Is(err, ErrInvalidReport) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want ErrInvalidReport with %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "iso20022: read status report: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if !reflect.DeepEqual(got, StatusReport{}) {
				t.Errorf("a refused report returned data: %+v", got)
			}
		})
	}
}

// TestReadStatusReportSizeLimit accepts exactly MaxReportBytes and refuses
// one byte more, without reading it all into memory first.
func TestReadStatusReportSizeLimit(t *testing.T) {
	t.Parallel()
	valid := report(hdr, grp, okTx)
	pad := func(extra int) io.Reader {
		// Comments of at most 60,000 bytes each (a token may not pass
		// MaxReportTokenBytes), filling exactly n bytes.
		n := MaxReportBytes - len(valid) + extra
		parts := []io.Reader{strings.NewReader(valid[:len(docOpen)])}
		for n > 0 {
			c := min(n, 60_000)
			if n-c > 0 && n-c < 7 {
				c -= 7
			}
			parts = append(parts, strings.NewReader("<!--"), io.LimitReader(repeatReader('x'), int64(c-7)), strings.NewReader("-->"))
			n -= c
		}
		return io.MultiReader(append(parts, strings.NewReader(valid[len(docOpen):]))...)
	}
	if _, err := ReadStatusReport(pad(0)); err != nil {
		t.Fatalf("exactly %d bytes: %v", MaxReportBytes, err)
	}
	_, err := ReadStatusReport(pad(1))
	if !errors.Is(err, ErrInvalidReport) || !strings.Contains(err.Error(), "input is larger than 67108864 bytes") {
		t.Fatalf("one byte over: got %v", err)
	}
}

// repeatReader yields one byte forever.
type repeatReader byte

// Read implements io.Reader.
func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// TestReadStatusReportReadError passes a reader's error through, not as
// ErrInvalidReport.
func TestReadStatusReportReadError(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	_, err := ReadStatusReport(io.MultiReader(strings.NewReader(docOpen+hdr), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || errors.Is(err, ErrInvalidReport) {
		t.Fatalf("got %v, want the reader's error", err)
	}
}

// FuzzReadStatusReport never panics, refuses with clean errors, and gives
// back what it accepted when the result is written and read again.
func FuzzReadStatusReport(f *testing.F) {
	files, _ := filepath.Glob("testdata/pacs002/*.xml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var buf bytes.Buffer
	if err := WriteStatusReport(&buf, sampleReport()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(report(hdr, grp, tx(`<OrgnlTxId>T</OrgnlTxId><TxSts>DONE</TxSts>`))))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ReadStatusReport(bytes.NewReader(in))
		if err != nil {
			msg := err.Error()
			if !errors.Is(err, ErrInvalidReport) || !utf8.ValidString(msg) || len(msg) > 1000 ||
				!strings.HasPrefix(msg, "iso20022: read status report: ") {
				t.Fatalf("unclean error (%d bytes): %q", len(msg), payment.Clip(msg, 300))
			}
			return
		}
		r.CreatedAt = r.CreatedAt.Truncate(time.Second)
		if r.CreatedAt.IsZero() || !infoWritable(r) {
			return // what WriteStatusReport cannot write in the same form
		}
		var out bytes.Buffer
		if err := WriteStatusReport(&out, r); err != nil {
			t.Fatalf("cannot write an accepted report: %v", err)
		}
		again, err := ReadStatusReport(&out)
		if err != nil {
			t.Fatalf("cannot read a written report: %v", err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip\n got %+v\nwant %+v", again, r)
		}
	})
}

// infoWritable reports whether every AdditionalInfo splits into lines of
// 1-105 characters, as WriteStatusReport writes them.
func infoWritable(r StatusReport) bool {
	if checkInfoLines(r.GroupAdditionalInfo) != nil {
		return false
	}
	for _, e := range r.Entries {
		if checkInfoLines(e.AdditionalInfo) != nil {
			return false
		}
	}
	return true
}
