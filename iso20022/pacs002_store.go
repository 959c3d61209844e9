package iso20022

import (
	"fmt"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// reasons collects the StsRsnInf of a group or an entry: the first Rsn/Cd,
// the first Rsn/Prtry, and every AddtlInf.
type reasons struct {
	code, prtry string
	info        []string
}

// add takes one StsRsnInf leaf; it reports false for another key.
func (r *reasons) add(key, s string) bool {
	_, leaf, _ := strings.Cut(key, "/StsRsnInf/")
	switch leaf {
	case "Rsn/Cd":
		if r.code == "" {
			r.code = s
		}
	case "Rsn/Prtry":
		if r.prtry == "" {
			r.prtry = s
		}
	case "AddtlInf":
		r.info = append(r.info, s)
	default:
		return false
	}
	return true
}

// joined is every AddtlInf, one per line.
func (r *reasons) joined() string { return strings.Join(r.info, "\n") }

// store checks a leaf's text and puts it where it belongs.
func (rd *reportReader) store(key, s string) error {
	if key == "GrpHdr/CreDtTm" {
		t, err := parseDateTime(s)
		if err != nil {
			return reportError("GrpHdr/CreDtTm %q is not an ISODateTime", payment.Clip(s, 40))
		}
		if p := timeProblem(t); p != "" {
			return reportError("GrpHdr/CreDtTm %s", p)
		}
		if rd.seen[key] {
			return reportError("%s appears twice", key)
		}
		rd.seen[key] = true
		rd.rep.CreatedAt = t
		return nil
	}
	if p := textProblem(s, reportLeaves[key]); p != "" {
		return reportError("%s %s", rd.where(key), p)
	}
	e := &rd.entry
	seen, rs := rd.seen, &rd.group
	if strings.HasPrefix(key, "TxInfAndSts/") {
		seen, rs = e.seen, &e.reasons
	}
	if rs.add(key, s) {
		return nil
	}
	if seen[key] {
		return reportError("%s appears twice", rd.where(key))
	}
	seen[key] = true
	switch key {
	case "GrpHdr/MsgId":
		rd.rep.MessageID = s
	case "OrgnlGrpInfAndSts/OrgnlMsgId":
		rd.rep.OriginalMessageID = s
	case "OrgnlGrpInfAndSts/OrgnlMsgNmId":
		rd.nameID = s
	case "OrgnlGrpInfAndSts/GrpSts":
		if !isGroupStatus(s) {
			return reportError("OrgnlGrpInfAndSts/GrpSts %q is not a known group status", s)
		}
		rd.rep.GroupStatus = s
	case "TxInfAndSts/OrgnlGrpInf/OrgnlMsgId":
		e.origID = s
	case "TxInfAndSts/OrgnlInstrId":
		e.e.OriginalInstructionID = s
	case "TxInfAndSts/OrgnlEndToEndId":
		e.e.OriginalEndToEndID = s
	case "TxInfAndSts/OrgnlTxId":
		e.e.OriginalTransactionID = s
	case "TxInfAndSts/TxSts":
		e.e.Status = s
	}
	return nil
}

// where names a leaf for an error: an entry's leaves by the entry's
// position and their path inside it.
func (rd *reportReader) where(key string) string {
	if rest, ok := strings.CutPrefix(key, "TxInfAndSts/"); ok {
		return fmt.Sprintf("TxInfAndSts %d: %s", len(rd.rep.Entries)+1, rest)
	}
	return key
}

// endEntry checks the TxInfAndSts just read and keeps it.
func (rd *reportReader) endEntry() error {
	e := rd.entry.e
	rs := &rd.entry.reasons
	e.ReasonCode, e.ReasonProprietary, e.AdditionalInfo = rs.code, rs.prtry, rs.joined()
	n := len(rd.rep.Entries) + 1
	if err := checkEntry(e); err != nil {
		return fmt.Errorf("TxInfAndSts %d: %w", n, err)
	}
	if id := rd.entry.origID; id != "" {
		if rd.txOrigID != "" && rd.txOrigID != id {
			return reportError("TxInfAndSts %d: OrgnlGrpInf/OrgnlMsgId %q differs from %q in an earlier TxInfAndSts", n, id, rd.txOrigID)
		}
		rd.txOrigID = id
		rd.txOrigN++
	}
	rd.rep.Entries = append(rd.rep.Entries, e)
	return nil
}

// finish checks what must be present once the whole document is read.
func (rd *reportReader) finish() (StatusReport, error) {
	r := rd.rep
	r.GroupReasonCode, r.GroupReasonProprietary, r.GroupAdditionalInfo = rd.group.code, rd.group.prtry, rd.group.joined()
	for _, key := range []string{"GrpHdr/MsgId", "GrpHdr/CreDtTm"} {
		if !rd.seen[key] {
			return StatusReport{}, reportError("%s is missing", key)
		}
	}
	switch {
	case rd.groups == 1 && r.OriginalMessageID == "":
		return StatusReport{}, reportError("OrgnlGrpInfAndSts/OrgnlMsgId is missing")
	case rd.groups == 1 && rd.nameID == "":
		return StatusReport{}, reportError("OrgnlGrpInfAndSts/OrgnlMsgNmId is missing")
	case rd.groups == 1 && rd.txOrigID != "" && rd.txOrigID != r.OriginalMessageID:
		return StatusReport{}, reportError("TxInfAndSts/OrgnlGrpInf/OrgnlMsgId %q differs from OrgnlGrpInfAndSts/OrgnlMsgId %q",
			rd.txOrigID, r.OriginalMessageID)
	case rd.groups == 0 && (len(r.Entries) == 0 || rd.txOrigN < len(r.Entries)):
		return StatusReport{}, reportError("no original message id: OrgnlGrpInfAndSts is missing and not every TxInfAndSts has OrgnlGrpInf/OrgnlMsgId")
	case rd.groups == 0:
		r.OriginalMessageID = rd.txOrigID
	}
	if r.GroupStatus == "" && len(r.Entries) == 0 {
		return StatusReport{}, reportError("neither a group status (GrpSts) nor a transaction status (TxInfAndSts)")
	}
	return r, nil
}

// parseDateTime reads an ISODateTime (xs:dateTime) with or without
// fractional seconds; one without an offset is taken as UTC.
func parseDateTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC)
	}
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
