package export_test

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
)

// reportFixture is a cutoff run's two batches, written, and an inbound
// directory to drop status reports in.
type reportFixture struct {
	*fixture
	reports *export.Reports
	inbound string
	// batch holds four payments (in file order); other one, of another bank.
	batch, other export.Batch
	ids          []string
	otherID      string
	orders       map[string]string
}

func newReportFixture(t *testing.T) *reportFixture {
	t.Helper()
	f := newFixture(t)
	ids := f.submit(t, bankCNAPS, "CNY", 4, "2026-03-10")
	otherIDs := f.submit(t, bankBIC, "CNY", 1, "2026-03-10")
	f.authorize(t, append(ids, otherIDs...), at(2026, 3, 10, 9, 30))
	x := f.exporter(t, f.store, t.TempDir(), func(c *export.Config) { c.MaxPerFile = 10 })
	f.clock.Set(at(2026, 3, 10, 10, 0).Add(time.Second))
	res, err := x.RunCutoff(t.Context(), at(2026, 3, 10, 10, 0))
	require.NoError(t, err)
	require.Len(t, res.Batches, 2)
	r := &reportFixture{fixture: f, inbound: t.TempDir(), batch: res.Batches[0], other: res.Batches[1], otherID: otherIDs[0],
		orders: map[string]string{}}
	require.Equal(t, bankCNAPS, r.batch.DebtorBankID)
	r.reports = &export.Reports{Store: f.store, Dir: r.inbound, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// The payments in file order, as the clearing house sees them.
	require.NoError(t, f.store.BatchItems(t.Context(), r.batch.ID, func(it export.BatchItem) error {
		r.ids = append(r.ids, it.Payment.ID)
		r.orders[it.Payment.ID] = it.Payment.OrderRef
		return nil
	}))
	require.ElementsMatch(t, ids, r.ids)
	f.clock.Set(at(2026, 3, 10, 17, 45))
	return r
}

// entry is a report line for a payment, naming it as the file did.
func (r *reportFixture) entry(id, status, reason string) iso20022.StatusEntry {
	return iso20022.StatusEntry{OriginalEndToEndID: r.orders[id], OriginalTransactionID: strings.ReplaceAll(id, "-", ""),
		Status: status, ReasonCode: reason}
}

// drop writes a pacs.002 report on batchID into the inbound directory.
func (r *reportFixture) drop(t *testing.T, name, msgID, batchID string, entries ...iso20022.StatusEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, iso20022.WriteStatusReport(&buf, iso20022.StatusReport{
		MessageID: msgID, CreatedAt: time.Date(2026, 3, 10, 9, 45, 0, 0, time.UTC), OriginalMessageID: batchID, Entries: entries,
	}))
	require.NoError(t, os.WriteFile(filepath.Join(r.inbound, name), buf.Bytes(), 0o600))
	return buf.Bytes()
}

// statusReport is a status_reports row.
type statusReport struct {
	FileName, MessageID, Outcome, Reason string
	Entries                              int
}

func (r *reportFixture) statusReports(t *testing.T) map[string]statusReport {
	t.Helper()
	rows, err := r.pool.Query(t.Context(), `SELECT file_name, message_id, outcome, reason, entries FROM status_reports`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]statusReport{}
	for rows.Next() {
		var s statusReport
		require.NoError(t, rows.Scan(&s.FileName, &s.MessageID, &s.Outcome, &s.Reason, &s.Entries))
		out[s.FileName] = s
	}
	require.NoError(t, rows.Err())
	return out
}

// requireQuarantined checks a file was moved to quarantine/ beside a
// reason that contains why.
func (r *reportFixture) requireQuarantined(t *testing.T, name, why string) {
	t.Helper()
	require.NoFileExists(t, filepath.Join(r.inbound, name))
	require.FileExists(t, filepath.Join(r.inbound, "quarantine", name))
	reason, err := os.ReadFile(filepath.Join(r.inbound, "quarantine", name+".reason.txt"))
	require.NoError(t, err)
	require.Contains(t, string(reason), why)
	row, ok := r.statusReports(t)[name]
	require.True(t, ok, "status_reports records %s", name)
	require.Equal(t, "quarantined", row.Outcome)
	require.Contains(t, row.Reason, why)
}

// TestReports settles and returns payments from a clearing house's
// pacs.002, ignores the same file again, and quarantines whole what it
// cannot apply whole.
func TestReports(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r := newReportFixture(t)
	p := r.ids

	// Two settled, one returned (AC04), one pending.
	report := r.drop(t, "pacs002-0001.xml", "CNAPS-STS-0001", r.batch.ID,
		r.entry(p[0], "ACSC", ""), r.entry(p[1], "ACCC", ""), r.entry(p[2], "RJCT", "AC04"), r.entry(p[3], "PDNG", ""))
	require.NoError(t, os.WriteFile(filepath.Join(r.inbound, ".pacs002-0002.xml.part"), []byte("<half"), 0o600))
	sum, err := r.reports.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.ImportSummary{Files: 1, Applied: 1, Payments: 3}, sum)
	states := r.states(t, p)
	require.Equal(t, payment.StateSettled, states[p[0]])
	require.Equal(t, payment.StateSettled, states[p[1]])
	require.Equal(t, payment.StateReturned, states[p[2]])
	require.Equal(t, payment.StateExported, states[p[3]], "a pending status changes nothing")
	tl, err := r.store.PaymentTimeline(ctx, p[2])
	require.NoError(t, err)
	last := tl[len(tl)-1]
	require.Equal(t, payment.ActionReturn, last.Action)
	require.Equal(t, payment.Code("AC04"), last.Code)
	require.Contains(t, last.Note, "CNAPS-STS-0001")
	require.Equal(t, "clearing", last.Actor.ID)
	q, err := r.store.PaymentGetByID(ctx, p[2])
	require.NoError(t, err)
	seq, why := payment.VerifyChain(tl, q.HeadHash)
	require.Zero(t, seq, why)
	events := r.stateEvents(t)
	require.Equal(t, []payment.State{payment.StateExported, payment.StateSettled}, events[p[0]])
	require.Equal(t, []payment.State{payment.StateExported, payment.StateReturned}, events[p[2]])
	require.Equal(t, []payment.State{payment.StateExported}, events[p[3]])
	require.FileExists(t, filepath.Join(r.inbound, "processed", "pacs002-0001.xml"))
	require.NoFileExists(t, filepath.Join(r.inbound, "pacs002-0001.xml"))
	require.FileExists(t, filepath.Join(r.inbound, ".pacs002-0002.xml.part"), "hidden files are left alone")
	require.Equal(t, statusReport{FileName: "pacs002-0001.xml", MessageID: "CNAPS-STS-0001", Outcome: "applied", Entries: 4},
		r.statusReports(t)["pacs002-0001.xml"])

	// The same report again, under another name: seen, nothing changes.
	require.NoError(t, os.WriteFile(filepath.Join(r.inbound, "pacs002-0001-again.xml"), report, 0o600))
	sum, err = r.reports.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.ImportSummary{Files: 1, Repeated: 1}, sum)
	require.Equal(t, states, r.states(t, p))
	require.Equal(t, events, r.stateEvents(t))
	require.FileExists(t, filepath.Join(r.inbound, "processed", "pacs002-0001-again.xml"))

	// A report naming a payment of another batch: refused whole, so the
	// settlement it also carries is not applied.
	r.drop(t, "pacs002-0003.xml", "CNAPS-STS-0003", r.batch.ID, r.entry(p[3], "ACSC", ""), r.entry(r.otherID, "ACSC", ""))
	sum, err = r.reports.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.ImportSummary{Files: 1, Quarantined: 1}, sum)
	r.requireQuarantined(t, "pacs002-0003.xml", "entry 2: payment "+strings.ReplaceAll(r.otherID, "-", "")+" is not in batch "+r.batch.ID)
	r.requireStates(t, []string{p[3], r.otherID}, payment.StateExported)
	require.Equal(t, events, r.stateEvents(t))

	// Not a pacs.002 at all.
	require.NoError(t, os.WriteFile(filepath.Join(r.inbound, "garbage.xml"), []byte("<Document><Nonsense/>"), 0o600))
	// A transaction id that is no payment id.
	r.drop(t, "pacs002-0004.xml", "CNAPS-STS-0004", r.batch.ID, iso20022.StatusEntry{OriginalTransactionID: "TX-1", Status: "ACSC"})
	// A return after a settlement: a settled payment cannot be returned.
	r.drop(t, "pacs002-0005.xml", "CNAPS-STS-0005", r.batch.ID, r.entry(p[0], "RJCT", "AM04"))
	// The whole file rejected at group level, with no transaction status:
	// the batch is rejected (its payments stay exported until the file is
	// re-issued), the report applied.
	var whole bytes.Buffer
	require.NoError(t, iso20022.WriteStatusReport(&whole, iso20022.StatusReport{
		MessageID: "CNAPS-STS-0006", CreatedAt: time.Date(2026, 3, 10, 9, 50, 0, 0, time.UTC), OriginalMessageID: r.other.ID,
		GroupStatus: "RJCT", GroupReasonCode: "FF01", GroupAdditionalInfo: "Invalid file format",
	}))
	require.NoError(t, os.WriteFile(filepath.Join(r.inbound, "pacs002-0006.xml"), whole.Bytes(), 0o600))
	sum, err = r.reports.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.ImportSummary{Files: 4, Applied: 1, Quarantined: 3}, sum)
	r.requireQuarantined(t, "garbage.xml", "not a readable pacs.002 report")
	r.requireQuarantined(t, "pacs002-0004.xml", `transaction id "TX-1" is not a b2bpay payment id`)
	r.requireQuarantined(t, "pacs002-0005.xml", "payment "+p[0]+" is settled; a report cannot return it")
	require.FileExists(t, filepath.Join(r.inbound, "processed", "pacs002-0006.xml"))
	rejected, err := r.store.BatchGet(ctx, r.other.ID)
	require.NoError(t, err)
	require.Equal(t, export.BatchRejected, rejected.State)
	require.Equal(t, "RJCT", rejected.Delivery.AckStatus)
	require.Equal(t, "FF01 Invalid file format", rejected.Delivery.AckReason)
	require.Equal(t, states, r.states(t, p))
	r.requireStates(t, []string{r.otherID}, payment.StateExported)
	require.Equal(t, events, r.stateEvents(t))

	// A quarantined report dropped again is quarantined again, not taken
	// for one processed before.
	bad, err := os.ReadFile(filepath.Join(r.inbound, "quarantine", "pacs002-0005.xml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(r.inbound, "pacs002-0005-retry.xml"), bad, 0o600))
	sum, err = r.reports.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.ImportSummary{Files: 1, Quarantined: 1}, sum)
	require.FileExists(t, filepath.Join(r.inbound, "quarantine", "pacs002-0005-retry.xml"))
	reason, err := os.ReadFile(filepath.Join(r.inbound, "quarantine", "pacs002-0005-retry.xml.reason.txt"))
	require.NoError(t, err)
	require.Contains(t, string(reason), "is settled; a report cannot return it")
	require.NoFileExists(t, filepath.Join(r.inbound, "processed", "pacs002-0005-retry.xml"))

	// Nothing left waiting but the hidden file.
	require.Equal(t, []string{".pacs002-0002.xml.part", "processed", "quarantine"}, dirNames(t, r.inbound))
}

// TestReportsOversized quarantines a file over the size limit.
func TestReportsOversized(t *testing.T) {
	t.Parallel()
	r := newReportFixture(t)
	big, err := os.Create(filepath.Join(r.inbound, "huge.xml"))
	require.NoError(t, err)
	require.NoError(t, big.Truncate(export.MaxReportBytes+1))
	require.NoError(t, big.Close())
	sum, err := r.reports.RunOnce(t.Context())
	require.NoError(t, err)
	require.Equal(t, export.ImportSummary{Files: 1, Quarantined: 1}, sum)
	require.FileExists(t, filepath.Join(r.inbound, "quarantine", "huge.xml"))
	reason, err := os.ReadFile(filepath.Join(r.inbound, "quarantine", "huge.xml.reason.txt"))
	require.NoError(t, err)
	require.Equal(t, "file is larger than 67108864 bytes\n", string(reason))
	r.requireStates(t, r.ids, payment.StateExported)
}

// TestReportsMissingDir reports an inbound directory that is not there.
func TestReportsMissingDir(t *testing.T) {
	t.Parallel()
	_, err := (&export.Reports{Dir: filepath.Join(t.TempDir(), "absent")}).RunOnce(t.Context())
	require.ErrorContains(t, err, "inbound directory")
}
