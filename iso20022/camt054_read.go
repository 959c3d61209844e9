package iso20022

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/b2bpay/b2bpay/payment"
)

// notificationLeaves are the elements ReadNotification takes text from, by
// path below BkToCstmrDbtCdtNtfctn (Ntry stands for Ntfctn/Ntry, Tx for
// Ntfctn/Ntry/NtryDtls/TxDtls), with their maximum length (0: a date or
// time, -1: an amount, whose Ccy attribute is read too).
var notificationLeaves = map[string]int{
	"GrpHdr/MsgId":           35,
	"GrpHdr/CreDtTm":         0,
	"Ntfctn/Id":              35,
	"Ntfctn/Acct/Id/Othr/Id": 34,
	"Ntry/NtryRef":           35,
	"Ntry/Amt":               -1,
	"Ntry/CdtDbtInd":         4,
	"Ntry/RvslInd":           5,
	"Ntry/Sts/Cd":            4,
	"Ntry/Sts/Prtry":         35,
	"Ntry/BookgDt/Dt":        0,
	"Ntry/BookgDt/DtTm":      0,
	"Tx/Refs/MsgId":          35,
	"Tx/Refs/EndToEndId":     35,
	"Tx/Refs/TxId":           35,
	"Tx/Amt":                 -1,
	"Tx/CdtDbtInd":           4,
	"Tx/RtrInf/Rsn/Cd":       4,
	"Tx/RtrInf/Rsn/Prtry":    35,
	"Tx/RtrInf/AddtlInf":     105,
}

// ReadNotification reads one camt.054.001.08 BkToCstmrDbtCdtNtfctn in the
// style of ReadStatusReport: streamed through encoding/xml's Token with
// the same bounds on the bytes before the decoder (MaxReportBytes of
// input, MaxReportTokenBytes per token, MaxReportAttributes per element,
// MaxReportTokens), no DOCTYPE or other declaration (so no entities,
// internal or external), UTF-8 only, 64 levels of nesting. It is not a
// schema validator: unknown elements are skipped. It refuses, with an
// error wrapping ErrInvalidNotification:
//
//   - a root other than Document in Camt054Namespace, or a Document
//     without BkToCstmrDbtCdtNtfctn;
//   - a missing or repeated GrpHdr/MsgId or GrpHdr/CreDtTm, no Ntfctn;
//   - an Ntry without Amt, CdtDbtInd or Sts; an amount that is not a plain
//     positive decimal with the currency's digits (never a float), an
//     unknown currency, CdtDbtInd other than CRDT or DBIT;
//   - a TxDtls without its own Amt in an Ntry of several TxDtls;
//   - text empty or longer than its ISO 20022 type allows; a booking date
//     that is not an ISODate;
//   - more than MaxNotificationEntries transactions.
func ReadNotification(r io.Reader) (Notification, error) {
	in := &capReader{r: &boundReader{r: r}, left: MaxReportBytes}
	rd := &notificationReader{doc: newDoc(in, Camt054Namespace, "BkToCstmrDbtCdtNtfctn", notificationError), seen: map[string]bool{}}
	n, err := rd.read(in)
	if err != nil {
		if errors.Is(err, ErrInvalidReport) && !errors.Is(err, ErrInvalidNotification) {
			// A bound of the shared lexer: the same refusal, this message's error.
			err = notificationError("%s", strings.TrimSuffix(err.Error(), ": "+ErrInvalidReport.Error()))
		}
		return Notification{}, fmt.Errorf("iso20022: read notification: %w", err)
	}
	return n, nil
}

// notificationReader holds the state of one ReadNotification.
type notificationReader struct {
	doc
	seen      map[string]bool
	n         Notification
	ntfctns   int
	ntryCount int // Ntry elements ended
	ntry      ntryState
	tx        txState
	ccy       string // the Ccy attribute of the amount being read
}

// ntryState is the Ntry being read.
type ntryState struct {
	seen     map[string]bool
	amount   int64
	ccy, cd  string
	reversal bool
	status   string
	booked   time.Time
	ref      string
	txs      []txState
}

// txState is the TxDtls being read.
type txState struct {
	seen             map[string]bool
	e2e, txID, msgID string
	amount           int64
	ccy, cd          string
	returned         bool
	rcode            string
	rinfo            []string
}

func (rd *notificationReader) read(in *capReader) (Notification, error) {
	if err := rd.walk(in, rd); err != nil {
		return Notification{}, err
	}
	return rd.finish()
}

// open decides whether an element's text is wanted (doc.enter checked it).
func (rd *notificationReader) open(t xml.StartElement) error {
	switch key := rd.key(); key {
	case "Ntfctn":
		rd.ntfctns++
	case "Ntry":
		rd.ntry = ntryState{seen: map[string]bool{}}
	case "Tx":
		if len(rd.n.Entries)+len(rd.ntry.txs) >= MaxNotificationEntries {
			return notificationError("more than %d entries", MaxNotificationEntries)
		}
		rd.tx = txState{seen: map[string]bool{}}
	case "Tx/RtrInf":
		rd.tx.returned = true
	default:
		if max, ok := notificationLeaves[key]; ok {
			rd.leaf, rd.text, rd.ccy = key, rd.text[:0], ""
			if max < 0 {
				for _, a := range t.Attr {
					if a.Name.Local == "Ccy" && a.Name.Space == "" {
						rd.ccy = a.Value
					}
				}
			}
		}
	}
	return nil
}

// key is the open element's path below BkToCstmrDbtCdtNtfctn with
// Ntfctn/Ntry shortened to Ntry and Ntry/NtryDtls/TxDtls to Tx, or ""
// outside it or under an element of another namespace.
func (rd *notificationReader) key() string {
	if len(rd.path) < 3 {
		return ""
	}
	for _, n := range rd.path[2:] {
		if n == "" {
			return ""
		}
	}
	k := strings.Join(rd.path[2:], "/")
	if rest, ok := strings.CutPrefix(k, "Ntfctn/Ntry"); ok && (rest == "" || rest[0] == '/') {
		k = "Ntry" + rest
		if rest, ok := strings.CutPrefix(k, "Ntry/NtryDtls/TxDtls"); ok && (rest == "" || rest[0] == '/') {
			k = "Tx" + rest
		}
	}
	return k
}

func (rd *notificationReader) chars(t xml.CharData) error {
	if rd.leaf != "" {
		max := notificationLeaves[rd.leaf]
		if max <= 0 {
			max = 40
		}
		if len(rd.text)+len(t) > 4*max+64 {
			return notificationError("%s is too long", rd.leaf)
		}
		rd.text = append(rd.text, t...)
		return nil
	}
	if len(rd.path) == 0 && len(bytes.TrimSpace(t)) > 0 {
		return notificationError("text outside the root element: the input is not an XML document")
	}
	return nil
}

func (rd *notificationReader) close() error {
	key := rd.key()
	var err error
	switch {
	case rd.leaf != "":
		err = rd.store(rd.leaf, string(rd.text))
		rd.leaf = ""
	case key == "Tx":
		rd.ntry.txs = append(rd.ntry.txs, rd.tx)
	case key == "Ntry":
		err = rd.endNtry()
	}
	return err
}

// store checks a leaf's text and puts it where it belongs.
func (rd *notificationReader) store(key, s string) error {
	where := key
	seen := rd.seen
	switch {
	case strings.HasPrefix(key, "Tx/"):
		seen = rd.tx.seen
		where = fmt.Sprintf("Ntry %d: %s", rd.ntryNumber(), key)
	case strings.HasPrefix(key, "Ntry/"):
		seen = rd.ntry.seen
		where = fmt.Sprintf("Ntry %d: %s", rd.ntryNumber(), key)
	case strings.HasPrefix(key, "Ntfctn/"):
		if rd.ntfctns > 1 {
			return nil // the first notification's id and account name the file
		}
	}
	if key == "Tx/RtrInf/AddtlInf" {
		if p := textProblem(s, 105); p != "" {
			return notificationError("%s %s", where, p)
		}
		rd.tx.rinfo = append(rd.tx.rinfo, s)
		return nil
	}
	if seen[key] {
		return notificationError("%s appears twice", where)
	}
	seen[key] = true
	switch max := notificationLeaves[key]; {
	case max == 0:
		return rd.storeTime(key, where, s)
	case max < 0:
		minor, err := payment.ParseAmount(s, rd.ccy)
		if err != nil {
			return notificationError("%s %q (Ccy %q): %s", where, payment.Clip(s, 40), payment.Clip(rd.ccy, 10), payment.Clip(err.Error(), 120))
		}
		if key == "Tx/Amt" {
			rd.tx.amount, rd.tx.ccy = minor, rd.ccy
		} else {
			rd.ntry.amount, rd.ntry.ccy = minor, rd.ccy
		}
		return nil
	default:
		if p := textProblem(s, max); p != "" {
			return notificationError("%s %s", where, p)
		}
	}
	switch key {
	case "GrpHdr/MsgId":
		rd.n.MessageID = s
	case "Ntfctn/Id":
		rd.n.ID = s
	case "Ntfctn/Acct/Id/Othr/Id":
		rd.n.Account = s
	case "Ntry/NtryRef":
		rd.ntry.ref = s
	case "Ntry/CdtDbtInd", "Tx/CdtDbtInd":
		if s != "CRDT" && s != "DBIT" {
			return notificationError("%s %q is neither CRDT nor DBIT", where, payment.Clip(s, 10))
		}
		if key == "Tx/CdtDbtInd" {
			rd.tx.cd = s
		} else {
			rd.ntry.cd = s
		}
	case "Ntry/RvslInd":
		if s != "true" && s != "false" {
			return notificationError("%s %q is neither true nor false", where, payment.Clip(s, 10))
		}
		rd.ntry.reversal = s == "true"
	case "Ntry/Sts/Cd", "Ntry/Sts/Prtry":
		if rd.ntry.status != "" {
			return notificationError("%s: Sts has both Cd and Prtry", where)
		}
		rd.ntry.status = s
	case "Tx/Refs/MsgId":
		rd.tx.msgID = s
	case "Tx/Refs/EndToEndId":
		rd.tx.e2e = s
	case "Tx/Refs/TxId":
		rd.tx.txID = s
	case "Tx/RtrInf/Rsn/Cd", "Tx/RtrInf/Rsn/Prtry":
		if rd.tx.rcode == "" {
			rd.tx.rcode = s
		}
	}
	return nil
}

// storeTime reads GrpHdr/CreDtTm and the booking date.
func (rd *notificationReader) storeTime(key, where, s string) error {
	switch key {
	case "GrpHdr/CreDtTm":
		t, err := parseDateTime(s)
		if err != nil {
			return notificationError("GrpHdr/CreDtTm %q is not an ISODateTime", payment.Clip(s, 40))
		}
		if p := timeProblem(t); p != "" {
			return notificationError("GrpHdr/CreDtTm %s", p)
		}
		rd.n.CreatedAt = t
	case "Ntry/BookgDt/Dt":
		t, err := time.Parse(dateLayout, s)
		if err != nil {
			return notificationError("%s %q is not an ISODate", where, payment.Clip(s, 40))
		}
		rd.ntry.booked = t
	case "Ntry/BookgDt/DtTm":
		t, err := parseDateTime(s)
		if err != nil {
			return notificationError("%s %q is not an ISODateTime", where, payment.Clip(s, 40))
		}
		rd.ntry.booked = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return nil
}

// ntryNumber is the position of the Ntry being read in the document.
func (rd *notificationReader) ntryNumber() int { return rd.ntryCount + 1 }

// endNtry turns the Ntry just read into entries, one per TxDtls.
func (rd *notificationReader) endNtry() error {
	nt := &rd.ntry
	where := fmt.Sprintf("Ntry %d", rd.ntryNumber())
	rd.ntryCount++
	for _, k := range []string{"Ntry/Amt", "Ntry/CdtDbtInd"} {
		if !nt.seen[k] {
			return notificationError("%s: %s is missing", where, strings.TrimPrefix(k, "Ntry/"))
		}
	}
	if nt.status == "" {
		return notificationError("%s: Sts is missing", where)
	}
	txs := nt.txs
	if len(txs) == 0 {
		txs = []txState{{}}
	}
	for i, tx := range txs {
		e := NotificationEntry{EntryRef: nt.ref, EndToEndID: tx.e2e, TransactionID: tx.txID, MessageID: tx.msgID,
			AmountMinor: tx.amount, Currency: tx.ccy, Credit: nt.cd == "CRDT", Reversal: nt.reversal, Status: nt.status,
			BookingDate: nt.booked, ReturnCode: tx.rcode, ReturnInfo: strings.Join(tx.rinfo, "\n"), Returned: tx.returned}
		if tx.cd != "" {
			e.Credit = tx.cd == "CRDT"
		}
		if e.Currency == "" {
			if len(txs) > 1 {
				return notificationError("%s: TxDtls %d has no Amt in an entry of %d transactions", where, i+1, len(txs))
			}
			e.AmountMinor, e.Currency = nt.amount, nt.ccy
		}
		if err := checkNotificationEntry(e); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		rd.n.Entries = append(rd.n.Entries, e)
	}
	return nil
}

func (rd *notificationReader) finish() (Notification, error) {
	for _, k := range []string{"GrpHdr/MsgId", "GrpHdr/CreDtTm"} {
		if !rd.seen[k] {
			return Notification{}, notificationError("%s is missing", k)
		}
	}
	if rd.ntfctns == 0 {
		return Notification{}, notificationError("no Ntfctn")
	}
	return rd.n, nil
}
