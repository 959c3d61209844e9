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
func writePacs008Transaction(x *writer, tx Transaction) {
	x.start("CdtTrfTxInf")
	x.start("PmtId")
	x.optText("InstrId", tx.InstructionID)
	x.text("EndToEndId", tx.EndToEndID)
	x.optText("TxId", tx.TransactionID)
	x.end("PmtId")
	x.amount("IntrBkSttlmAmt", tx.AmountMinor, tx.Currency)
	x.text("ChrgBr", "SLEV")
	party(x, "Dbtr", tx.DebtorName)
	account(x, "DbtrAcct", tx.DebtorAccount)
	x.agent("DbtrAgt", tx.DebtorAgent)
	x.agent("CdtrAgt", tx.CreditorAgent)
	party(x, "Cdtr", tx.CreditorName)
	account(x, "CdtrAcct", tx.CreditorAccount)
	if tx.Remittance != "" {
		x.start("RmtInf")
		x.text("Ustrd", tx.Remittance)
		x.end("RmtInf")
	}
	x.end("CdtTrfTxInf")
}

// party writes a PartyIdentification135 with its name only.
func party(x *writer, local, name string) {
	x.start(local)
	x.text("Nm", name)
	x.end(local)
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
