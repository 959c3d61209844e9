package iso20022

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleReport is a report with every field b2bpay reads.
func sampleReport() StatusReport {
	return StatusReport{
		MessageID:           "RPT-20261127-0001",
		CreatedAt:           time.Date(2026, 11, 27, 17, 45, 12, 0, time.UTC),
		OriginalMessageID:   "B2B-20261127-0001",
		GroupStatus:         "PART",
		GroupReasonCode:     "NARR",
		GroupAdditionalInfo: "two of three settled",
		Entries: []StatusEntry{
			{OriginalInstructionID: "INSTR-1", OriginalEndToEndID: "PO-2026-0310-8841", OriginalTransactionID: "TX-1", Status: "ACSC"},
			{OriginalEndToEndID: "PO-2", Status: "ACCC"},
			{OriginalEndToEndID: "PO-3", Status: "RJCT", ReasonCode: "AC04",
				AdditionalInfo: "Creditor account closed\n收款账户已销户 <&> \"核实\""},
			{OriginalTransactionID: "TX-4", Status: "RJCT", ReasonCode: "AM04", ReasonProprietary: "CN:HVPS:E1023"},
			{OriginalInstructionID: "INSTR-5", Status: "RJCT", ReasonProprietary: strings.Repeat("P", 35),
				AdditionalInfo: strings.Repeat("长", 105) + "\n" + strings.Repeat("x", 105)},
			{OriginalEndToEndID: strings.Repeat("E", 35), Status: "PDNG", AdditionalInfo: "queued"},
			{OriginalEndToEndID: "PO-7", Status: "ACSP"},
		},
	}
}

// writeReport writes r and fails the test on error.
func writeReport(t testing.TB, r StatusReport) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteStatusReport(&buf, r); err != nil {
		t.Fatalf("write status report: %v", err)
	}
	return buf.Bytes()
}

// TestStatusReportRoundTrip writes reports, validates them against the
// XSD and reads them back unchanged.
func TestStatusReportRoundTrip(t *testing.T) {
	t.Parallel()
	groupOnly := StatusReport{MessageID: "R", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		OriginalMessageID: "B2B-9", GroupStatus: "RJCT", GroupReasonProprietary: "FILE-DUP"}
	big := StatusReport{MessageID: "BIG", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), OriginalMessageID: "B2B-10"}
	for i := range 5000 {
		big.Entries = append(big.Entries, StatusEntry{OriginalEndToEndID: "PO-" + strings.Repeat("9", i%30+1), Status: "ACSC"})
	}
	for name, r := range map[string]StatusReport{"sample": sampleReport(), "group only": groupOnly, "5000 entries": big} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc := writeReport(t, r)
			validate(t, pacs002XSD, doc)
			got, err := ReadStatusReport(bytes.NewReader(doc))
			if err != nil {
				t.Fatalf("read: %v\n%s", err, head(doc, 3000))
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, r)
			}
			if again := writeReport(t, got); !bytes.Equal(again, doc) {
				t.Fatal("writing the read report gives other bytes")
			}
		})
	}
}

// TestStatusReportSamples reads hand-written reports (each valid against
// the XSD) with settlement, rejection reasons, prefixes and skipped
// elements.
func TestStatusReportSamples(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UTC()
	}
	cases := map[string]StatusReport{
		"settled.xml": {
			MessageID: "CNAPS-RPT-20261127-0001", CreatedAt: at("2026-11-27T09:45:12.25Z"),
			OriginalMessageID: "B2B-20261127-0001", GroupStatus: "ACSC",
			Entries: []StatusEntry{
				{OriginalInstructionID: "INSTR-00000001", OriginalEndToEndID: "PO-2026-0310-8841", OriginalTransactionID: "TX-00000001", Status: "ACSC"},
				{OriginalEndToEndID: "PO-2026-0310-8842", Status: "ACCC"},
			},
		},
		"partial.xml": {
			MessageID: "RPT-2026-11-27-77", CreatedAt: at("2026-11-27T10:02:03Z"),
			OriginalMessageID: "B2B-20261127-0002", GroupStatus: "PART",
			Entries: []StatusEntry{
				{OriginalEndToEndID: "PO-1", OriginalTransactionID: "TX-1", Status: "ACSP"},
				{OriginalEndToEndID: "PO-2", Status: "RJCT", ReasonCode: "AC04",
					AdditionalInfo: "Creditor account closed\n收款账户已销户 & 请核实"},
				{OriginalInstructionID: "INSTR-3", Status: "RJCT", ReasonCode: "AM04",
					ReasonProprietary: "CN:HVPS:E1023", AdditionalInfo: "Insufficient funds"},
			},
		},
		"prefixed.xml": {
			MessageID: "PND-1", CreatedAt: at("2026-11-27T09:31:00Z"), OriginalMessageID: "B2B-20261127-0003",
			Entries: []StatusEntry{{OriginalEndToEndID: "PO-9", Status: "PDNG", AdditionalInfo: "Queued for the next HVPS window"}},
		},
		"file-rejected.xml": {
			MessageID: "REJ-0001", CreatedAt: at("2026-11-27T09:30:05Z"), OriginalMessageID: "B2B-20261127-0004",
			GroupStatus: "RJCT", GroupReasonCode: "FF01", GroupAdditionalInfo: "Invalid file format",
		},
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			doc, err := os.ReadFile("testdata/pacs002/" + file)
			if err != nil {
				t.Fatal(err)
			}
			validate(t, pacs002XSD, doc)
			got, err := ReadStatusReport(bytes.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestWriteStatusReportRefuses checks that the writer applies the reader's
// rules.
func TestWriteStatusReportRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		f    func(*StatusReport)
		want string
	}{
		{"no message id", func(r *StatusReport) { r.MessageID = "" }, "GrpHdr/MsgId is empty"},
		{"no creation time", func(r *StatusReport) { r.CreatedAt = time.Time{} }, "GrpHdr/CreDtTm is missing"},
		{"no original id", func(r *StatusReport) { r.OriginalMessageID = "" }, "OrgnlMsgId is empty"},
		{"unknown group status", func(r *StatusReport) { r.GroupStatus = "DONE" }, `GrpSts "DONE"`},
		{"nothing to say", func(r *StatusReport) { r.GroupStatus, r.Entries = "", nil }, "neither a group status nor a transaction status"},
		{"entry without ids", func(r *StatusReport) { r.Entries[1].OriginalEndToEndID = "" }, "TxInfAndSts 2: none of OrgnlInstrId"},
		{"unknown status", func(r *StatusReport) { r.Entries[0].Status = "OK" }, `TxInfAndSts 1: TxSts "OK" is not a known`},
		{"no status", func(r *StatusReport) { r.Entries[0].Status = "" }, "TxSts is missing"},
		{"long reason code", func(r *StatusReport) { r.Entries[2].ReasonCode = "AC041" }, "Rsn/Cd is 5 characters, at most 4"},
		{"empty info line", func(r *StatusReport) { r.Entries[2].AdditionalInfo = "a\n\nb" }, "AddtlInf line 2 is empty"},
		{"long info line", func(r *StatusReport) { r.GroupAdditionalInfo = strings.Repeat("i", 106) }, "OrgnlGrpInfAndSts: StsRsnInf/AddtlInf line 1 is 106 characters"},
		{"control character", func(r *StatusReport) { r.Entries[0].OriginalTransactionID = "T\x02" }, "OrgnlTxId contains U+0002"},
		{"too many entries", func(r *StatusReport) { r.Entries = make([]StatusEntry, MaxReportEntries+1) }, "100001 transaction statuses"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sampleReport()
			c.f(&r)
			var buf bytes.Buffer
			err := WriteStatusReport(&buf, r)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if buf.Len() != 0 {
				t.Errorf("a refused report wrote %d bytes", buf.Len())
			}
		})
	}
}
