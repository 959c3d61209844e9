package iso20022

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// Pacs002Namespace is the XML namespace of pacs.002.001.10.
const Pacs002Namespace = "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10"

// ErrInvalidReport marks a status report that ReadStatusReport refuses or
// WriteStatusReport cannot write.
var ErrInvalidReport = errors.New("invalid status report")

// Limits on what ReadStatusReport accepts.
const (
	// MaxReportBytes is the largest input ReadStatusReport reads (64 MiB).
	MaxReportBytes = 64 << 20
	// MaxReportEntries is the most transaction statuses in one report.
	MaxReportEntries = 100_000
)

// originalMessageName is what WriteStatusReport puts in OrgnlMsgNmId: b2bpay
// sends pacs.008.001.08, so its status reports answer those.
const originalMessageName = "pacs.008.001.08"

// transactionStatuses is the set of ExternalPaymentTransactionStatus1Code
// values accepted in TxSts (ISO 20022 external code sets):
//
//	ACCC accepted, settlement completed on the creditor's account
//	ACCP accepted, customer profile checked
//	ACFC accepted, funds checked
//	ACIS accepted, cheque issued
//	ACPD accepted, clearing processed
//	ACSC accepted, settlement completed on the debtor's account
//	ACSP accepted, settlement in process
//	ACTC accepted, technical validation passed
//	ACWC accepted with change
//	ACWP accepted without posting
//	BLCK blocked
//	CANC cancelled
//	PATC partially accepted, technically correct
//	PDNG pending
//	PRES presented
//	RCVD received
//	RJCT rejected
//
// Any other code is refused: an unknown status must not be guessed into
// settled or rejected.
var transactionStatuses = map[string]bool{
	"ACCC": true, "ACCP": true, "ACFC": true, "ACIS": true, "ACPD": true, "ACSC": true,
	"ACSP": true, "ACTC": true, "ACWC": true, "ACWP": true, "BLCK": true, "CANC": true,
	"PATC": true, "PDNG": true, "PRES": true, "RCVD": true, "RJCT": true,
}

// isGroupStatus accepts an ExternalPaymentGroupStatus1Code in GrpSts: the
// transaction codes plus PART (some transactions rejected).
func isGroupStatus(code string) bool {
	return code == "PART" || transactionStatuses[code]
}

// StatusReport is a pacs.002.001.10 FIToFIPmtStsRpt: a clearing system's or
// bank's answer to one file b2bpay sent.
type StatusReport struct {
	// MessageID is the report's own GrpHdr/MsgId.
	MessageID string
	// CreatedAt is GrpHdr/CreDtTm, in UTC. A time without an offset is
	// read as UTC.
	CreatedAt time.Time
	// OriginalMessageID is the MsgId of the file the report answers
	// (OrgnlGrpInfAndSts/OrgnlMsgId, or every TxInfAndSts/OrgnlGrpInf/
	// OrgnlMsgId when the group part is absent).
	OriginalMessageID string
	// GroupStatus is OrgnlGrpInfAndSts/GrpSts, empty when absent.
	GroupStatus string
	// GroupReasonCode, GroupReasonProprietary and GroupAdditionalInfo are
	// OrgnlGrpInfAndSts/StsRsnInf, read like an entry's reason: why a whole
	// file was rejected, for instance.
	GroupReasonCode, GroupReasonProprietary, GroupAdditionalInfo string
	// Entries are the TxInfAndSts in document order.
	Entries []StatusEntry
}

// StatusEntry is one transaction's status (a TxInfAndSts).
type StatusEntry struct {
	// OriginalInstructionID, OriginalEndToEndID and OriginalTransactionID
	// echo the pacs.008 ids; at least one is present.
	OriginalInstructionID, OriginalEndToEndID, OriginalTransactionID string
	// Status is TxSts, one of the codes ReadStatusReport accepts: ACSC,
	// ACCC, ACSP, PDNG, RJCT ...
	Status string
	// ReasonCode is the first StsRsnInf/Rsn/Cd (an ExternalStatusReason1Code
	// such as AC01 or AM04), empty when absent.
	ReasonCode string
	// ReasonProprietary is the first StsRsnInf/Rsn/Prtry, a reason outside
	// the external code list, empty when absent.
	ReasonProprietary string
	// AdditionalInfo is every StsRsnInf/AddtlInf, joined with "\n".
	AdditionalInfo string
}

// WriteStatusReport writes r as an XSD-valid pacs.002.001.10 document, for
// tests and tools (a simulated clearing answer). OrgnlMsgNmId is
// "pacs.008.001.08"; CreatedAt is written in UTC with seconds precision;
// AdditionalInfo is split on "\n" into AddtlInf elements of 1-105
// characters. It refuses what ReadStatusReport would refuse, so
// ReadStatusReport gives r back.
func WriteStatusReport(w io.Writer, r StatusReport) error {
	if err := checkReport(r); err != nil {
		return fmt.Errorf("iso20022: write status report %q: %w", payment.Clip(r.MessageID, 40), err)
	}
	x := newWriter(w, Pacs002Namespace)
	x.start("FIToFIPmtStsRpt")
	x.start("GrpHdr")
	x.text("MsgId", r.MessageID)
	x.text("CreDtTm", formatDateTime(r.CreatedAt))
	x.end("GrpHdr")
	x.start("OrgnlGrpInfAndSts")
	x.text("OrgnlMsgId", r.OriginalMessageID)
	x.text("OrgnlMsgNmId", originalMessageName)
	x.optText("GrpSts", r.GroupStatus)
	writeReasons(x, r.GroupReasonCode, r.GroupReasonProprietary, r.GroupAdditionalInfo)
	x.end("OrgnlGrpInfAndSts")
	for _, e := range r.Entries {
		writeStatusEntry(x, e)
	}
	x.end("FIToFIPmtStsRpt")
	if err := x.close(); err != nil {
		return fmt.Errorf("iso20022: write status report %q: %w", payment.Clip(r.MessageID, 40), err)
	}
	return nil
}

// writeStatusEntry writes one TxInfAndSts (PaymentTransaction110) in the
// XSD's order.
func writeStatusEntry(x *writer, e StatusEntry) {
	x.start("TxInfAndSts")
	x.optText("OrgnlInstrId", e.OriginalInstructionID)
	x.optText("OrgnlEndToEndId", e.OriginalEndToEndID)
	x.optText("OrgnlTxId", e.OriginalTransactionID)
	x.text("TxSts", e.Status)
	writeReasons(x, e.ReasonCode, e.ReasonProprietary, e.AdditionalInfo)
	x.end("TxInfAndSts")
}

// writeReasons writes StsRsnInf (StatusReasonInformation12): Rsn, then one
// AddtlInf per line of info. A code and a proprietary reason cannot share
// one Rsn (it is a choice), so both make a second StsRsnInf.
func writeReasons(x *writer, code, prtry, info string) {
	if code == "" && prtry == "" && info == "" {
		return
	}
	x.start("StsRsnInf")
	switch {
	case code != "":
		reason(x, "Cd", code)
	case prtry != "":
		reason(x, "Prtry", prtry)
	}
	if info != "" {
		for _, line := range strings.Split(info, "\n") {
			x.text("AddtlInf", line)
		}
	}
	x.end("StsRsnInf")
	if code != "" && prtry != "" {
		x.start("StsRsnInf")
		reason(x, "Prtry", prtry)
		x.end("StsRsnInf")
	}
}

// reason writes <Rsn><kind>code</kind></Rsn>.
func reason(x *writer, kind, code string) {
	x.start("Rsn")
	x.text(kind, code)
	x.end("Rsn")
}

// checkReport applies the reader's rules to a report before writing it.
func checkReport(r StatusReport) error {
	if err := checkReportText("GrpHdr/MsgId", r.MessageID, 35); err != nil {
		return err
	}
	if p := timeProblem(r.CreatedAt); p != "" {
		return reportError("GrpHdr/CreDtTm %s", p)
	}
	if err := checkReportText("OrgnlGrpInfAndSts/OrgnlMsgId", r.OriginalMessageID, 35); err != nil {
		return err
	}
	if r.GroupStatus != "" && !isGroupStatus(r.GroupStatus) {
		return reportError("OrgnlGrpInfAndSts/GrpSts %q is not a known group status", payment.Clip(r.GroupStatus, 10))
	}
	err := checkReasons(r.GroupReasonCode, r.GroupReasonProprietary)
	if err == nil {
		err = checkInfoLines(r.GroupAdditionalInfo)
	}
	if err != nil {
		return fmt.Errorf("OrgnlGrpInfAndSts: %w", err)
	}
	if len(r.Entries) > MaxReportEntries {
		return reportError("%d transaction statuses, at most %d", len(r.Entries), MaxReportEntries)
	}
	if r.GroupStatus == "" && len(r.Entries) == 0 {
		return reportError("neither a group status nor a transaction status")
	}
	for i, e := range r.Entries {
		err := checkEntry(e)
		if err == nil {
			err = checkInfoLines(e.AdditionalInfo)
		}
		if err != nil {
			return fmt.Errorf("TxInfAndSts %d: %w", i+1, err)
		}
	}
	return nil
}

// checkEntry checks one transaction status: ids, a known TxSts, reasons.
func checkEntry(e StatusEntry) error {
	if e.OriginalInstructionID == "" && e.OriginalEndToEndID == "" && e.OriginalTransactionID == "" {
		return reportError("none of OrgnlInstrId, OrgnlEndToEndId, OrgnlTxId")
	}
	for _, f := range []struct{ field, s string }{
		{"OrgnlInstrId", e.OriginalInstructionID},
		{"OrgnlEndToEndId", e.OriginalEndToEndID},
		{"OrgnlTxId", e.OriginalTransactionID},
	} {
		if f.s != "" {
			if err := checkReportText(f.field, f.s, 35); err != nil {
				return err
			}
		}
	}
	if e.Status == "" {
		return reportError("TxSts is missing")
	}
	if !transactionStatuses[e.Status] {
		return reportError("TxSts %q is not a known ExternalPaymentTransactionStatus1Code", payment.Clip(e.Status, 10))
	}
	return checkReasons(e.ReasonCode, e.ReasonProprietary)
}

// checkReasons checks a reason code (1-4 characters) and a proprietary
// reason (1-35), either of which may be empty.
func checkReasons(code, prtry string) error {
	if code != "" {
		if err := checkReportText("StsRsnInf/Rsn/Cd", code, 4); err != nil {
			return err
		}
	}
	if prtry != "" {
		if err := checkReportText("StsRsnInf/Rsn/Prtry", prtry, 35); err != nil {
			return err
		}
	}
	return nil
}

// checkInfoLines checks that every line of info fits one AddtlInf (1-105
// characters), as WriteStatusReport writes them.
func checkInfoLines(info string) error {
	if info == "" {
		return nil
	}
	for i, line := range strings.Split(info, "\n") {
		if err := checkReportText(fmt.Sprintf("StsRsnInf/AddtlInf line %d", i+1), line, 105); err != nil {
			return err
		}
	}
	return nil
}

// checkReportText is checkText for a report: the error wraps
// ErrInvalidReport.
func checkReportText(field, s string, max int) error { return checkTextAs(reportError, field, s, max) }

// reportError formats a refusal that wraps ErrInvalidReport.
var reportError = refusal(ErrInvalidReport)

// refusal makes the error constructor of a message kind's refusals: the
// formatted text wrapping sentinel.
func refusal(sentinel error) func(format string, args ...any) error {
	return func(format string, args ...any) error {
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), sentinel)
	}
}

// checkTextAs is checkText with the refusal errf makes.
func checkTextAs(errf func(format string, args ...any) error, field, s string, max int) error {
	if p := textProblem(s, max); p != "" {
		return errf("%s %s", field, p)
	}
	return nil
}
