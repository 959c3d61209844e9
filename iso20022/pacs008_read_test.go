package iso20022

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/b2bpay/b2bpay/payment"
)

// p8Document is the part of pacs.008.001.08 that Pacs008 writes, for a
// test-only reader built on xml.Unmarshal.
type p8Document struct {
	XMLName xml.Name `xml:"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08 Document"`
	GrpHdr  struct {
		MsgId, CreDtTm, NbOfTxs, CtrlSum string
		TtlIntrBkSttlmAmt                p8Amount
		IntrBkSttlmDt                    string
		SttlmMtd                         string   `xml:"SttlmInf>SttlmMtd"`
		InstgAgt                         *p8Agent `xml:"InstgAgt>FinInstnId"`
		InstdAgt                         *p8Agent `xml:"InstdAgt>FinInstnId"`
	} `xml:"FIToFICstmrCdtTrf>GrpHdr"`
	Txs []p8Transaction `xml:"FIToFICstmrCdtTrf>CdtTrfTxInf"`
}

// p8Amount is an amount with its currency.
type p8Amount struct {
	Ccy   string `xml:"Ccy,attr"`
	Value string `xml:",chardata"`
}

// p8Agent is a FinInstnId: a BIC or a CNAPS member.
type p8Agent struct {
	BICFI    string
	ClrSysCd string `xml:"ClrSysMmbId>ClrSysId>Cd"`
	MmbId    string `xml:"ClrSysMmbId>MmbId"`
}

// p8Transaction is one CdtTrfTxInf.
type p8Transaction struct {
	InstrId        string   `xml:"PmtId>InstrId"`
	EndToEndId     string   `xml:"PmtId>EndToEndId"`
	TxId           string   `xml:"PmtId>TxId"`
	IntrBkSttlmAmt p8Amount `xml:"IntrBkSttlmAmt"`
	ChrgBr         string
	DbtrNm         string  `xml:"Dbtr>Nm"`
	DbtrAcct       string  `xml:"DbtrAcct>Id>Othr>Id"`
	DbtrAgt        p8Agent `xml:"DbtrAgt>FinInstnId"`
	CdtrAgt        p8Agent `xml:"CdtrAgt>FinInstnId"`
	CdtrNm         string  `xml:"Cdtr>Nm"`
	CdtrAcct       string  `xml:"CdtrAcct>Id>Othr>Id"`
	Ustrd          string  `xml:"RmtInf>Ustrd"`
}

// readPacs008 reads back a file Pacs008 wrote.
func readPacs008(doc []byte) (Group, []Transaction, error) {
	var d p8Document
	if err := xml.Unmarshal(doc, &d); err != nil {
		return Group{}, nil, err
	}
	h := d.GrpHdr
	if h.SttlmMtd != "CLRG" || h.TtlIntrBkSttlmAmt.Value != h.CtrlSum {
		return Group{}, nil, fmt.Errorf("settlement %q, total %q, control sum %q", h.SttlmMtd, h.TtlIntrBkSttlmAmt.Value, h.CtrlSum)
	}
	g := Group{MessageID: h.MsgId, Currency: h.TtlIntrBkSttlmAmt.Ccy}
	var errs []error
	var err error
	g.CreatedAt, err = time.Parse(time.RFC3339, h.CreDtTm)
	g.CreatedAt = g.CreatedAt.UTC()
	errs = append(errs, err)
	g.SettlementDate, err = time.Parse(dateLayout, h.IntrBkSttlmDt)
	errs = append(errs, err)
	g.Count, err = strconv.Atoi(h.NbOfTxs)
	errs = append(errs, err)
	g.ControlSumMinor, err = parseMinor(h.CtrlSum, g.Currency)
	errs = append(errs, err)
	g.InstructingAgent, err = agentID(h.InstgAgt)
	errs = append(errs, err)
	g.InstructedAgent, err = agentID(h.InstdAgt)
	errs = append(errs, err)
	var txs []Transaction
	for _, x := range d.Txs {
		tx := Transaction{
			InstructionID: x.InstrId, EndToEndID: x.EndToEndId, TransactionID: x.TxId,
			Currency:   x.IntrBkSttlmAmt.Ccy,
			DebtorName: x.DbtrNm, DebtorAccount: x.DbtrAcct,
			CreditorName: x.CdtrNm, CreditorAccount: x.CdtrAcct,
			Remittance: x.Ustrd,
		}
		if x.ChrgBr != "SLEV" {
			errs = append(errs, fmt.Errorf("charge bearer %q", x.ChrgBr))
		}
		tx.AmountMinor, err = parseMinor(x.IntrBkSttlmAmt.Value, tx.Currency)
		errs = append(errs, err)
		tx.DebtorAgent, err = agentID(&x.DbtrAgt)
		errs = append(errs, err)
		tx.CreditorAgent, err = agentID(&x.CdtrAgt)
		errs = append(errs, err)
		txs = append(txs, tx)
	}
	return g, txs, errors.Join(errs...)
}

// parseMinor reads a decimal that must have exactly the currency's minor
// digits.
func parseMinor(s, currency string) (int64, error) {
	exp, ok := payment.CurrencyExponent(currency)
	if !ok {
		return 0, fmt.Errorf("currency %q", currency)
	}
	digits := s
	if exp > 0 {
		whole, frac, found := strings.Cut(s, ".")
		if !found || len(frac) != exp {
			return 0, fmt.Errorf("amount %q does not have %d minor digits", s, exp)
		}
		digits = whole + frac
	}
	return strconv.ParseInt(digits, 10, 64)
}

// agentID turns a FinInstnId back into a bank id.
func agentID(a *p8Agent) (string, error) {
	switch {
	case a == nil:
		return "", nil
	case a.BICFI != "" && a.MmbId == "":
		return a.BICFI, nil
	case a.BICFI == "" && a.ClrSysCd == "CNAPS" && len(a.MmbId) == 12:
		return a.MmbId, nil
	}
	return "", fmt.Errorf("agent %+v", *a)
}

// normalGroup is g as the file records it: creation time in UTC to the
// second, settlement date as a UTC midnight.
func normalGroup(g Group) Group {
	g.CreatedAt = g.CreatedAt.UTC().Truncate(time.Second)
	y, m, d := g.SettlementDate.Date()
	g.SettlementDate = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return g
}

// fuzzCurrencies covers exponents 0, 2 and 3.
var fuzzCurrencies = []string{"CNY", "JPY", "BHD", "USD", "KWD", "CLP", "EUR"}

// fuzzText makes s a valid text of 1-max characters: invalid UTF-8 and
// characters XML cannot hold are dropped, the rest cut to max.
func fuzzText(s string, max int, fallback string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.ToValidUTF8(s, "") {
		if isXMLChar(r) && n < max {
			b.WriteRune(r)
			n++
		}
	}
	if b.Len() == 0 {
		return fallback
	}
	return b.String()
}

// fuzzAgent makes a CNAPS code or a BIC out of any string.
func fuzzAgent(s string) string {
	h := uint64(len(s))
	for i := 0; i < len(s); i++ {
		h = h*131 + uint64(s[i])
	}
	if h%2 == 0 {
		return fmt.Sprintf("%012d", h%1_000_000_000_000)
	}
	const alnum, upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	n := 8 + 3*int(h/2%2)
	b := make([]byte, n)
	for i := range b {
		h = h*6364136223846793005 + 1442695040888963407
		if i == 4 || i == 5 {
			b[i] = upper[h>>33%26]
		} else {
			b[i] = alnum[h>>33%36]
		}
	}
	return string(b)
}

// FuzzPacs008RoundTrip writes files from fuzzed fields, made valid, and
// reads them back: parse(write(x)) must be x.
func FuzzPacs008RoundTrip(f *testing.F) {
	f.Add("B2B-1", "PO-1", "上海华东机电设备有限公司", "采购合同 第二期", int64(128640050), uint8(0), uint8(0), "104100000004")
	f.Add("B<&>", `e2e"'`, "A & B <Ltd>", "]]>\r\n\t", int64(999_999_999_999_999), uint8(1), uint8(3), "BKCHCNBJ")
	f.Add(strings.Repeat("m", 40), "\x00\x01", "\xff\xfe", "", int64(-1), uint8(2), uint8(255), "")
	f.Fuzz(func(t *testing.T, msgID, e2e, name, remit string, amount int64, ccy, n uint8, agent string) {
		if amount < 0 {
			amount = -(amount + 1)
		}
		currency := fuzzCurrencies[int(ccy)%len(fuzzCurrencies)]
		txs := make([]Transaction, 1+int(n)%4)
		for i := range txs {
			txs[i] = Transaction{
				InstructionID:   fuzzText(e2e+"/i", 35, ""),
				EndToEndID:      fuzzText(fmt.Sprint(i, e2e), 35, "E"),
				TransactionID:   fuzzText(remit, 35, ""),
				AmountMinor:     (amount%payment.MaxAmountMinor+int64(i))%payment.MaxAmountMinor + 1,
				Currency:        currency,
				DebtorName:      fuzzText(name, 140, "D"),
				DebtorAccount:   fuzzText(e2e, 34, "1"),
				DebtorAgent:     fuzzAgent(agent),
				CreditorName:    fuzzText(remit+name, 140, "C"),
				CreditorAccount: fuzzText(msgID, 34, "2"),
				CreditorAgent:   fuzzAgent(agent + name),
				Remittance:      fuzzText(remit, 140, ""),
			}
		}
		g := sampleGroup(txs)
		g.MessageID = fuzzText(msgID, 35, "M")
		g.CreatedAt = time.Unix(amount%(1<<35), amount%1e9).In(time.FixedZone("", int(n)*60))
		g.InstructedAgent = fuzzAgent(msgID)
		if n%3 == 0 {
			g.InstructingAgent = ""
		}
		var buf bytes.Buffer
		if err := Pacs008().Write(&buf, g, slice(txs)); err != nil {
			t.Fatalf("write: %v", err)
		}
		if !utf8.Valid(buf.Bytes()) {
			t.Fatal("output is not UTF-8")
		}
		gotG, gotTxs, err := readPacs008(buf.Bytes())
		if err != nil {
			t.Fatalf("read back: %v\n%s", err, buf.Bytes())
		}
		if want := normalGroup(g); gotG != want {
			t.Fatalf("group\n got %+v\nwant %+v", gotG, want)
		}
		if !reflect.DeepEqual(gotTxs, txs) {
			t.Fatalf("transactions\n got %+v\nwant %+v", gotTxs, txs)
		}
	})
}
