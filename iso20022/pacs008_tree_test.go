package iso20022

import (
	"bytes"
	"io"
	"testing"

	"github.com/b2bpay/b2bpay/payment"
)

// writePacs008TransactionTree writes one CdtTrfTxInf element by element:
// the tree writePacs008Transaction writes as text, which must give the
// same bytes.
func writePacs008TransactionTree(x *writer, tx Transaction) {
	x.start("CdtTrfTxInf")
	x.start("PmtId")
	x.optText("InstrId", tx.InstructionID)
	x.text("EndToEndId", tx.EndToEndID)
	x.optText("TxId", tx.TransactionID)
	x.end("PmtId")
	x.amount("IntrBkSttlmAmt", tx.AmountMinor, tx.Currency)
	x.text("ChrgBr", "SLEV")
	treeParty(x, "Dbtr", tx.DebtorName)
	account(x, "DbtrAcct", tx.DebtorAccount)
	x.agent("DbtrAgt", tx.DebtorAgent)
	x.agent("CdtrAgt", tx.CreditorAgent)
	treeParty(x, "Cdtr", tx.CreditorName)
	account(x, "CdtrAcct", tx.CreditorAccount)
	if tx.Remittance != "" {
		x.start("RmtInf")
		x.text("Ustrd", tx.Remittance)
		x.end("RmtInf")
	}
	x.end("CdtTrfTxInf")
}

// treeParty writes a PartyIdentification135 with its name only.
func treeParty(x *writer, local, name string) {
	x.start(local)
	x.text("Nm", name)
	x.end(local)
}

// writeTree writes the file Pacs008().Write writes for g and txs, with
// the transactions written element by element.
func writeTree(t testing.TB, g Group, txs []Transaction) []byte {
	t.Helper()
	var buf bytes.Buffer
	x := newWriter(&buf, Pacs008Namespace)
	x.start("FIToFICstmrCdtTrf")
	writePacs008Header(x, g)
	for _, tx := range txs {
		writePacs008TransactionTree(x, tx)
	}
	x.end("FIToFICstmrCdtTrf")
	if err := x.close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzPacs008TransactionMatchesTree writes files of fuzzed valid
// transactions (optional fields present or not, CNAPS codes and BICs,
// text with markup characters and Chinese) both ways: the bytes must be
// the same.
func FuzzPacs008TransactionMatchesTree(f *testing.F) {
	f.Add("INSTR-1", "PO-1", "TX-1", "上海华东机电设备有限公司", "采购合同 第二期", "340058712345", int64(128640050), uint8(0), "104100000004", "105290036005")
	f.Add("", `e2e"'<&>`, "", "A & B <Ltd>\t", "", "1\r2", int64(1), uint8(1), "BKCHCNBJ", "ICBKCNBJSHI")
	f.Add("i", "e", "t", "\x00\xff\uFFFE名", "]]>\n", "0", int64(payment.MaxAmountMinor), uint8(4), "x", "yy")
	f.Fuzz(func(t *testing.T, instr, e2e, txID, name, remit, acct string, amount int64, ccy uint8, agentA, agentB string) {
		if amount < 0 {
			amount = -(amount + 1)
		}
		currency := fuzzCurrencies[int(ccy)%len(fuzzCurrencies)]
		txs := make([]Transaction, 3)
		for i := range txs {
			txs[i] = Transaction{
				InstructionID:   fuzzText(instr, 35, ""),
				EndToEndID:      fuzzText(e2e, 35, "E"),
				TransactionID:   fuzzText(txID, 35, ""),
				AmountMinor:     (amount+int64(i))%payment.MaxAmountMinor + 1,
				Currency:        currency,
				DebtorName:      fuzzText(name, 140, "D"),
				DebtorAccount:   fuzzText(acct, 34, "1"),
				DebtorAgent:     fuzzAgent(agentA + string(rune('a'+i))),
				CreditorName:    fuzzText(remit+name, 140, "C"),
				CreditorAccount: fuzzText(acct+name, 34, "2"),
				CreditorAgent:   fuzzAgent(agentB + string(rune('a'+i))),
				Remittance:      fuzzText(remit, 140, ""),
			}
		}
		txs[1].InstructionID, txs[2].TransactionID, txs[2].Remittance = "", "", ""
		g := sampleGroup(txs)
		var buf bytes.Buffer
		if err := Pacs008().Write(&buf, g, slice(txs)); err != nil {
			t.Fatalf("write: %v", err)
		}
		if want := writeTree(t, g, txs); !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("the transactions written as text differ from the element tree:\n%s\n----\n%s", buf.Bytes(), want)
		}
	})
}

// TestPacs008TransactionDepth: the text is indented for CdtTrfTxInf
// under FIToFICstmrCdtTrf; anywhere else it is an error, not a file
// indented wrong.
func TestPacs008TransactionDepth(t *testing.T) {
	x := newWriter(io.Discard, Pacs008Namespace)
	writePacs008Transaction(x, sampleTx(1))
	if x.err == nil {
		t.Fatal("a transaction written under Document alone was accepted")
	}
}
