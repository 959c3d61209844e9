package iso20022

import (
	"fmt"
	"io"
	"strconv"

	"github.com/b2bpay/b2bpay/payment"
)

// Pacs008Namespace is the XML namespace of pacs.008.001.08.
const Pacs008Namespace = "urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"

// pacs008 writes FIToFICustomerCreditTransferV08 files.
type pacs008 struct{}

// Pacs008 returns the pacs.008.001.08 format (FIToFICstmrCdtTrf, the
// interbank customer credit transfer), settled through a clearing system
// (SttlmMtd CLRG) with charges following the service level (ChrgBr SLEV).
func Pacs008() Format { return pacs008{} }

// Name returns "pacs.008.001.08".
func (pacs008) Name() string { return "pacs.008.001.08" }

// Extension returns ".xml".
func (pacs008) Extension() string { return ".xml" }

// Write streams one FIToFICstmrCdtTrf document. See Format.Write.
//
// The header is written before any transaction is read; count and control
// sum are checked as transactions arrive (too many, or a running sum above
// the group's, fails at once) and at the end.
func (f pacs008) Write(w io.Writer, g Group, next func() (Transaction, bool, error)) error {
	if err := checkGroup(g); err != nil {
		return fmt.Errorf("iso20022: %s group %q: %w", f.Name(), payment.Clip(g.MessageID, 40), err)
	}
	x := newWriter(w, Pacs008Namespace)
	x.start("FIToFICstmrCdtTrf")
	writePacs008Header(x, g)
	n, sum := 0, int64(0)
	for {
		tx, ok, err := next()
		if err != nil {
			return fmt.Errorf("iso20022: %s: reading transaction %d: %w", f.Name(), n+1, err)
		}
		if !ok {
			break
		}
		n++
		if n > g.Count {
			return fmt.Errorf("iso20022: %s: more than the group's %d transactions: %w", f.Name(), g.Count, ErrMismatch)
		}
		if err := checkTransaction(tx, g.Currency); err != nil {
			return fmt.Errorf("iso20022: %s: %s: %w", f.Name(), describe(n, tx), err)
		}
		sum += tx.AmountMinor // no overflow: sum ≤ MaxControlSumMinor + MaxAmountMinor
		if sum > g.ControlSumMinor {
			return fmt.Errorf("iso20022: %s: %s: amounts exceed the control sum %s: %w",
				f.Name(), describe(n, tx), payment.FormatAmount(g.ControlSumMinor, g.Currency), ErrMismatch)
		}
		writePacs008Transaction(x, tx)
		if x.err != nil {
			return fmt.Errorf("iso20022: %s: writing %s: %w", f.Name(), describe(n, tx), x.err)
		}
	}
	if n != g.Count {
		return fmt.Errorf("iso20022: %s: %d transactions, the group says %d: %w", f.Name(), n, g.Count, ErrMismatch)
	}
	if sum != g.ControlSumMinor {
		return fmt.Errorf("iso20022: %s: amounts sum to %s, the group says %s: %w", f.Name(),
			payment.FormatAmount(sum, g.Currency), payment.FormatAmount(g.ControlSumMinor, g.Currency), ErrMismatch)
	}
	x.end("FIToFICstmrCdtTrf")
	if err := x.close(); err != nil {
		return fmt.Errorf("iso20022: %s: %w", f.Name(), err)
	}
	return nil
}

// writePacs008Header writes GrpHdr (GroupHeader93) in the XSD's order:
// MsgId, CreDtTm, NbOfTxs, CtrlSum, TtlIntrBkSttlmAmt, IntrBkSttlmDt,
// SttlmInf, InstgAgt, InstdAgt.
func writePacs008Header(x *writer, g Group) {
	x.start("GrpHdr")
	x.text("MsgId", g.MessageID)
	x.text("CreDtTm", formatDateTime(g.CreatedAt))
	x.text("NbOfTxs", strconv.Itoa(g.Count))
	x.text("CtrlSum", payment.FormatAmount(g.ControlSumMinor, g.Currency))
	x.amount("TtlIntrBkSttlmAmt", g.ControlSumMinor, g.Currency)
	x.text("IntrBkSttlmDt", g.SettlementDate.Format(dateLayout))
	x.start("SttlmInf")
	x.text("SttlmMtd", "CLRG")
	x.end("SttlmInf")
	if g.InstructingAgent != "" {
		x.agent("InstgAgt", g.InstructingAgent)
	}
	if g.InstructedAgent != "" {
		x.agent("InstdAgt", g.InstructedAgent)
	}
	x.end("GrpHdr")
}

// writePacs008Transaction writes one CdtTrfTxInf (CreditTransferTransaction39)
// in the XSD's order: PmtId, IntrBkSttlmAmt, ChrgBr, Dbtr, DbtrAcct,
// DbtrAgt, CdtrAgt, Cdtr, CdtrAcct, RmtInf.
//
// This is the writer's inner loop, so the markup is written as the text
// it is (indented for CdtTrfTxInf's depth, under Document and
// FIToFICstmrCdtTrf) rather than element by element: the same bytes, with
// about 40 appends a transaction instead of some 250 writes. The tests
// hold it to the element tree written with start, text and end
// (pacs008_tree_test.go). The transaction must have passed
// checkTransaction.
func writePacs008Transaction(x *writer, tx Transaction) {
	if x.err != nil {
		return
	}
	if len(x.open) != 2 || !x.started {
		x.err = fmt.Errorf("iso20022: CdtTrfTxInf written at depth %d", len(x.open))
		return
	}
	b := append(x.buf, "\n    <CdtTrfTxInf>\n      <PmtId>"...)
	if tx.InstructionID != "" {
		b = appendText(b, "\n        <InstrId>", tx.InstructionID, "</InstrId>")
	}
	b = appendText(b, "\n        <EndToEndId>", tx.EndToEndID, "</EndToEndId>")
	if tx.TransactionID != "" {
		b = appendText(b, "\n        <TxId>", tx.TransactionID, "</TxId>")
	}
	b = append(b, "\n      </PmtId>\n      <IntrBkSttlmAmt Ccy=\""...)
	b = appendEscaped(b, tx.Currency, true)
	b = append(b, `">`...)
	b = appendAmount(b, tx.AmountMinor, x.exponentOf(tx.Currency))
	b = append(b, "</IntrBkSttlmAmt>\n      <ChrgBr>SLEV</ChrgBr>"...)
	b = appendText(b, "\n      <Dbtr>\n        <Nm>", tx.DebtorName, "</Nm>\n      </Dbtr>")
	b = appendText(b, "\n      <DbtrAcct>\n        <Id>\n          <Othr>\n            <Id>", tx.DebtorAccount,
		"</Id>\n          </Othr>\n        </Id>\n      </DbtrAcct>")
	b = appendAgent(b, "\n      <DbtrAgt>", tx.DebtorAgent, "\n      </DbtrAgt>")
	b = appendAgent(b, "\n      <CdtrAgt>", tx.CreditorAgent, "\n      </CdtrAgt>")
	b = appendText(b, "\n      <Cdtr>\n        <Nm>", tx.CreditorName, "</Nm>\n      </Cdtr>")
	b = appendText(b, "\n      <CdtrAcct>\n        <Id>\n          <Othr>\n            <Id>", tx.CreditorAccount,
		"</Id>\n          </Othr>\n        </Id>\n      </CdtrAcct>")
	if tx.Remittance != "" {
		b = appendText(b, "\n      <RmtInf>\n        <Ustrd>", tx.Remittance, "</Ustrd>\n      </RmtInf>")
	}
	x.buf = append(b, "\n    </CdtTrfTxInf>"...)
	x.inText = false
	if len(x.buf) >= writeBlock {
		x.flush()
	}
}

// appendText appends open, s escaped, and end.
func appendText(b []byte, open, s, end string) []byte {
	b = append(b, open...)
	b = appendEscaped(b, s, false)
	return append(b, end...)
}

// appendAgent appends a transaction's agent as writer.agent writes it, one
// level below CdtTrfTxInf, between open and end.
func appendAgent(b []byte, open, id, end string) []byte {
	b = append(b, open...)
	if isCNAPS(id) {
		b = appendText(b, "\n        <FinInstnId>\n          <ClrSysMmbId>\n            <ClrSysId>\n              <Cd>CNAPS</Cd>\n            </ClrSysId>\n            <MmbId>",
			id, "</MmbId>\n          </ClrSysMmbId>\n        </FinInstnId>")
	} else {
		b = appendText(b, "\n        <FinInstnId>\n          <BICFI>", id, "</BICFI>\n        </FinInstnId>")
	}
	return append(b, end...)
}

// account writes a CashAccount38 identified by a domestic number
// (Id/Othr/Id; IBANs are not used by CNAPS).
func account(x *writer, local, number string) {
	x.start(local)
	x.start("Id")
	x.start("Othr")
	x.text("Id", number)
	x.end("Othr")
	x.end("Id")
	x.end(local)
}
