package iso20022

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Vendored schemas (testdata/xsd/SOURCES.md says where they come from).
const (
	pacs008XSD = "testdata/xsd/pacs.008.001.08.xsd"
	pacs002XSD = "testdata/xsd/pacs.002.001.10.xsd"
)

// validate checks doc against an XSD with xmllint and fails the test with
// xmllint's output.
func validate(t testing.TB, xsd string, doc []byte) {
	t.Helper()
	if out, err := xmllint(t, xsd, doc); err != nil {
		t.Fatalf("xmllint --schema %s: %v\n%s\ndocument (first 3000 bytes):\n%s", xsd, err, out, head(doc, 3000))
	}
}

// xmllint runs xmllint --noout --schema xsd on doc.
func xmllint(t testing.TB, xsd string, doc []byte) ([]byte, error) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatalf("xmllint not found (Debian: apt-get install -y libxml2-utils, or make services): %v", err)
	}
	file := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return exec.Command(bin, "--noout", "--schema", xsd, file).CombinedOutput()
}

// TestXSDValidationCatchesErrors makes sure validation is not vacuous:
// files broken the ways a writer could break them fail it.
func TestXSDValidationCatchesErrors(t *testing.T) {
	t.Parallel()
	txs := many(1)
	good := write(t, sampleGroup(txs), txs)
	validate(t, pacs008XSD, good)
	for name, edit := range map[string][2]string{
		"element order":  {"<ChrgBr>SLEV</ChrgBr>", ""},
		"code value":     {"<SttlmMtd>CLRG</SttlmMtd>", "<SttlmMtd>CASH</SttlmMtd>"},
		"id length":      {"<MsgId>B2B-20261127-0001</MsgId>", "<MsgId>" + strings.Repeat("M", 36) + "</MsgId>"},
		"minor digits":   {`Ccy="CNY">0.02<`, `Ccy="CNY">0.021234<`},
		"currency case":  {`Ccy="CNY">0.02<`, `Ccy="cny">0.02<`},
		"namespace":      {Pacs008Namespace, "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.09"},
		"date-time form": {"2026-11-27T09:30:00+00:00", "2026-11-27 09:30:00"},
	} {
		bad := bytes.Replace(good, []byte(edit[0]), []byte(edit[1]), 1)
		if bytes.Equal(bad, good) {
			t.Fatalf("%s: edit %q matched nothing", name, edit[0])
		}
		if _, err := xmllint(t, pacs008XSD, bad); err == nil {
			t.Errorf("%s: a broken file passed validation", name)
		}
	}
}

// head returns at most the first n bytes of b.
func head(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// sampleGroup returns a header matching txs.
func sampleGroup(txs []Transaction) Group {
	g := Group{
		MessageID:        "B2B-20261127-0001",
		CreatedAt:        time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC),
		SettlementDate:   time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		Currency:         "CNY",
		Count:            len(txs),
		InstructingAgent: "104100000004",
		InstructedAgent:  "BKCHCNBJXXX",
	}
	if len(txs) > 0 {
		g.Currency = txs[0].Currency
	}
	for _, tx := range txs {
		g.ControlSumMinor += tx.AmountMinor
	}
	return g
}

// sampleTx returns the i-th of a run of plain CNY transactions.
func sampleTx(i int) Transaction {
	return Transaction{
		InstructionID:   fmt.Sprintf("INSTR-%08d", i),
		EndToEndID:      fmt.Sprintf("PO-2026-%08d", i),
		TransactionID:   fmt.Sprintf("TX-%08d", i),
		AmountMinor:     int64(i%100000 + 1),
		Currency:        "CNY",
		DebtorName:      "Shanghai Dongfang Trading Co., Ltd.",
		DebtorAccount:   "340058712345",
		DebtorAgent:     "104100000004",
		CreditorName:    "上海华东机电设备有限公司",
		CreditorAccount: "31001520313050012345",
		CreditorAgent:   "105290036005",
		Remittance:      fmt.Sprintf("采购合同 HT-2026-0215 第 %d 期货款", i),
	}
}

// slice yields the transactions of txs one by one.
func slice(txs []Transaction) func() (Transaction, bool, error) {
	i := 0
	return func() (Transaction, bool, error) {
		if i == len(txs) {
			return Transaction{}, false, nil
		}
		i++
		return txs[i-1], true, nil
	}
}

// write writes txs under their sample group and fails the test on error.
func write(t testing.TB, g Group, txs []Transaction) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Pacs008().Write(&buf, g, slice(txs)); err != nil {
		t.Fatalf("write: %v", err)
	}
	return buf.Bytes()
}
