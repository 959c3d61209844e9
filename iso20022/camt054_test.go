package iso20022

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

const camt054XSD = "testdata/xsd/camt.054.001.08.xsd"

func sampleNotification() Notification {
	day := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	return Notification{
		MessageID: "CAMT-20261207-0001", CreatedAt: time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC), ID: "N-1", Account: "6217000010009999",
		Entries: []NotificationEntry{
			{EntryRef: "E1", EndToEndID: "PO-1", TransactionID: "0123456789abcdef0123456789abcdef", MessageID: "B1",
				AmountMinor: 128640050, Currency: "CNY", Status: "BOOK", BookingDate: day},
			{EndToEndID: "PO-2", AmountMinor: 5, Currency: "USD", Status: "BOOK", BookingDate: day, Credit: true,
				Returned: true, ReturnCode: "AC04", ReturnInfo: "account closed\nsecond line"},
			{EndToEndID: "PO-3", AmountMinor: 100, Currency: "JPY", Status: "PDNG", Reversal: true},
		},
	}
}

// TestNotificationRoundTrip writes a notification, validates it against
// the XSD and reads the same back.
func TestNotificationRoundTrip(t *testing.T) {
	t.Parallel()
	n := sampleNotification()
	var buf bytes.Buffer
	if err := WriteNotification(&buf, n); err != nil {
		t.Fatal(err)
	}
	validate(t, camt054XSD, buf.Bytes())
	got, err := ReadNotification(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got.MessageID != n.MessageID || !got.CreatedAt.Equal(n.CreatedAt) || got.ID != n.ID || got.Account != n.Account {
		t.Fatalf("header: got %+v", got)
	}
	if len(got.Entries) != len(n.Entries) {
		t.Fatalf("%d entries, want %d", len(got.Entries), len(n.Entries))
	}
	for i := range n.Entries {
		w, g := n.Entries[i], got.Entries[i]
		if !w.BookingDate.Equal(g.BookingDate) {
			t.Errorf("entry %d booking date %v, want %v", i, g.BookingDate, w.BookingDate)
		}
		w.BookingDate, g.BookingDate = time.Time{}, time.Time{}
		if w != g {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if !got.Entries[1].IsReturn() || got.Entries[0].IsReturn() || !got.Entries[2].IsReturn() {
		t.Error("IsReturn")
	}
}

// TestNotificationEntryWithoutDetails: an Ntry without TxDtls gives one
// entry without references, with the Ntry's amount; several TxDtls each
// need their own Amt.
func TestNotificationEntryWithoutDetails(t *testing.T) {
	t.Parallel()
	doc := camtDoc(`<Ntry><Amt Ccy="CNY">10.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BkTxCd/></Ntry>`)
	n, err := ReadNotification(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Entries) != 1 || n.Entries[0].AmountMinor != 1000 || n.Entries[0].EndToEndID != "" {
		t.Fatalf("%+v", n.Entries)
	}
	two := camtDoc(`<Ntry><Amt Ccy="CNY">10.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BkTxCd/>` +
		`<NtryDtls><TxDtls><Refs><EndToEndId>A</EndToEndId></Refs></TxDtls><TxDtls><Refs><EndToEndId>B</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>`)
	if _, err := ReadNotification(strings.NewReader(two)); !errors.Is(err, ErrInvalidNotification) || !strings.Contains(err.Error(), "has no Amt") {
		t.Fatalf("got %v", err)
	}
}

func camtDoc(body string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><Document xmlns="` + Camt054Namespace + `"><BkToCstmrDbtCdtNtfctn>` +
		`<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-12-07T18:00:00Z</CreDtTm></GrpHdr><Ntfctn><Id>N1</Id>` +
		`<Acct><Id><Othr><Id>1</Id></Othr></Id></Acct>` + body + `</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>`
}

const okNtry = `<Ntry><Amt Ccy="CNY">10.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BkTxCd/></Ntry>`

// TestReadNotificationRefuses: hostile and malformed input is refused with
// ErrInvalidNotification naming what is wrong.
func TestReadNotificationRefuses(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct{ doc, want string }{
		"xxe": {`<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>` +
			strings.TrimPrefix(camtDoc(okNtry), `<?xml version="1.0" encoding="UTF-8"?>`), "declarations"},
		"wrong namespace": {strings.Replace(camtDoc(okNtry), Camt054Namespace, "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02", 1), "want <Document>"},
		"pacs.002":        {strings.Replace(camtDoc(okNtry), Camt054Namespace, Pacs002Namespace, 1), "want <Document>"},
		"float amount":    {camtDoc(strings.Replace(okNtry, "10.00", "1e3", 1)), "Amt"},
		"too many digits": {camtDoc(strings.Replace(okNtry, "10.00", "10.001", 1)), "decimal places"},
		"no currency":     {camtDoc(strings.Replace(okNtry, ` Ccy="CNY"`, "", 1)), "Amt"},
		"no status":       {camtDoc(strings.Replace(okNtry, "<Sts><Cd>BOOK</Cd></Sts>", "", 1)), "Sts is missing"},
		"bad indicator":   {camtDoc(strings.Replace(okNtry, "DBIT", "DBIX", 1)), "neither CRDT nor DBIT"},
		"twice amount":    {camtDoc(strings.Replace(okNtry, "</Amt>", `</Amt><Amt Ccy="CNY">1</Amt>`, 1)), "appears twice"},
		"no ntfctn":       {strings.Replace(strings.Replace(camtDoc(""), "<Ntfctn><Id>N1</Id><Acct><Id><Othr><Id>1</Id></Othr></Id></Acct></Ntfctn>", "", 1), "", "", 1), "no Ntfctn"},
		"no msgid":        {strings.Replace(camtDoc(okNtry), "<MsgId>M1</MsgId>", "", 1), "MsgId is missing"},
		"long ref":        {camtDoc(strings.Replace(okNtry, "<Amt", "<NtryRef>"+strings.Repeat("R", 36)+"</NtryRef><Amt", 1)), "NtryRef"},
		"element in leaf": {camtDoc(strings.Replace(okNtry, "BOOK", "<b>BOOK</b>", 1)), "text only"},
		"not xml":         {"hello", "not an XML document"},
		"empty":           {"", "no root element"},
		"huge token":      {camtDoc(strings.Replace(okNtry, "<Ntry>", "<Ntry><!--"+strings.Repeat("x", MaxReportTokenBytes+1)+"-->", 1)), "longer than"},
		"latin1":          {strings.Replace(camtDoc(okNtry), "UTF-8", "ISO-8859-1", 1), "not readable"},
	} {
		_, err := ReadNotification(strings.NewReader(c.doc))
		if !errors.Is(err, ErrInvalidNotification) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrInvalidNotification with %q", name, err, c.want)
		}
	}
}

// TestReadNotificationSizeLimit: input past MaxReportBytes (comments
// forever) is refused without reading it all into memory.
func TestReadNotificationSizeLimit(t *testing.T) {
	t.Parallel()
	comment := "<!--" + strings.Repeat("x", 60_000) + "-->"
	parts := []io.Reader{strings.NewReader(strings.TrimSuffix(camtDoc(""), "</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"))}
	for range MaxReportBytes/len(comment) + 2 {
		parts = append(parts, strings.NewReader(comment))
	}
	_, err := ReadNotification(io.MultiReader(parts...))
	if !errors.Is(err, ErrInvalidNotification) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v", err)
	}
}
