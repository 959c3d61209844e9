package export_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/export/sftptest"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
)

// deliverer delivers the fixture's files to target on its clock, the
// first retry a minute after a failure.
func (f *fixture) deliverer(target export.Target, dir string, log *slog.Logger) *export.Deliverer {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &export.Deliverer{Store: f.store, Target: target, Dir: dir, MinBackoff: time.Minute, MaxBackoff: time.Hour,
		AckTimeout: 2 * time.Hour, Log: log, Now: f.clock.Now}
}

// fileEvents returns, per payment, the file statuses its upstream was told
// ("<status> <batch>"), in order.
func (f *fixture) fileEvents(t *testing.T) map[string][]string {
	t.Helper()
	rows, err := f.pool.Query(t.Context(), `SELECT body FROM outbox ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var body []byte
		require.NoError(t, rows.Scan(&body))
		var ev payment.Event
		require.NoError(t, json.Unmarshal(body, &ev))
		if ev.Kind == payment.EventFileStatus {
			require.Equal(t, payment.StateExported, ev.State, "the payment's state is told as it is")
			out[ev.PaymentID] = append(out[ev.PaymentID], ev.FileStatus+" "+ev.BatchID)
		}
	}
	require.NoError(t, rows.Err())
	return out
}

// requireDelivered checks the gateway directory holds exactly the batches'
// files, each by name with the bytes recorded, nothing else.
func requireDelivered(t *testing.T, dir string, bs ...export.Batch) {
	t.Helper()
	var want []string
	for _, b := range bs {
		want = append(want, b.FileName)
		require.Equal(t, b.SHA256, fileSHA256(t, filepath.Join(dir, b.FileName)), b.FileName)
	}
	slices.Sort(want)
	require.Equal(t, want, dirNames(t, dir))
}

func (f *fixture) batch(t *testing.T, id string) export.Batch {
	t.Helper()
	b, err := f.store.BatchGet(t.Context(), id)
	require.NoError(t, err)
	return b
}

// TestDeliveryGatewayDownOverCutoff runs a cutoff while the gateway (a
// real sshd) is down: the files are written, their delivery fails and
// waits with exponential backoff; once the gateway is up and the next
// attempt has come they are delivered, exactly once by name and bytes.
// Then the deliverer is stopped after an upload, before recording it: the
// next pass finds the same bytes there and records the delivery.
func TestDeliveryGatewayDownOverCutoff(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	g := sftptest.New(t)
	g.Stop()
	out := t.TempDir()
	ids := f.submit(t, bankCNAPS, "CNY", 5, "2026-03-10")
	f.authorize(t, ids, at(2026, 3, 10, 9, 30))
	x := f.exporter(t, f.store, out)
	d := f.deliverer(g.Target(t), out, nil)

	f.clock.Set(at(2026, 3, 10, 10, 0).Add(time.Second))
	res, err := x.RunCutoff(ctx, at(2026, 3, 10, 10, 0))
	require.NoError(t, err)
	require.Len(t, res.Batches, 2)
	sum, err := d.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.DeliverySummary{Failed: 2}, sum)
	first := f.clock.Now()
	for _, b := range res.Batches {
		got := f.batch(t, b.ID)
		require.Equal(t, export.BatchDeliveryFailed, got.State)
		require.Equal(t, 1, got.Delivery.Attempts)
		require.WithinDuration(t, first.Add(time.Minute), *got.Delivery.NextAttemptAt, time.Millisecond)
		require.Contains(t, got.Delivery.LastError, "connection refused")
	}
	// Not due yet: nothing tried.
	sum, err = d.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.DeliverySummary{}, sum)
	// Due, still down: the wait doubles.
	f.clock.Set(first.Add(time.Minute))
	sum, err = d.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.DeliverySummary{Failed: 2}, sum)
	got := f.batch(t, res.Batches[0].ID)
	require.Equal(t, 2, got.Delivery.Attempts)
	require.WithinDuration(t, first.Add(3*time.Minute), *got.Delivery.NextAttemptAt, time.Millisecond)

	g.Start()
	f.clock.Set(first.Add(2 * time.Minute))
	sum, err = d.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.DeliverySummary{}, sum, "the gateway is up, the next attempt not yet due")
	f.clock.Set(first.Add(3 * time.Minute))
	sum, err = d.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.DeliverySummary{Delivered: 2}, sum)
	var delivered []export.Batch
	for _, b := range res.Batches {
		got := f.batch(t, b.ID)
		require.Equal(t, export.BatchDelivered, got.State)
		require.Equal(t, 0, got.Delivery.Attempts)
		require.Empty(t, got.Delivery.LastError)
		require.Equal(t, g.Target(t).Name(), got.Delivery.To)
		delivered = append(delivered, got)
	}
	requireDelivered(t, g.Dir, delivered...)
	events := f.fileEvents(t)
	require.Len(t, events, 5)
	for _, id := range ids {
		require.Len(t, events[id], 1)
		require.True(t, strings.HasPrefix(events[id][0], "delivered "), events[id][0])
	}
	f.requireStates(t, ids, payment.StateExported)
	sum, err = d.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.DeliverySummary{}, sum, "nothing delivered twice")

	// Stopped after the upload, before the delivery is recorded.
	more := f.submit(t, bankCNAPS, "CNY", 2, "2026-03-10")
	f.authorize(t, more, at(2026, 3, 10, 13, 0))
	f.clock.Set(at(2026, 3, 10, 14, 0).Add(time.Second))
	res, err = x.RunCutoff(ctx, at(2026, 3, 10, 14, 0))
	require.NoError(t, err)
	require.Len(t, res.Batches, 1)
	type stop struct{}
	d.Crash = func(point string) {
		if point == export.CrashDeliveryAfterUpload {
			panic(stop{})
		}
	}
	func() {
		defer func() { require.Equal(t, stop{}, recover()) }()
		_, _ = d.RunOnce(ctx)
	}()
	require.Equal(t, export.BatchWritten, f.batch(t, res.Batches[0].ID).State, "the upload is not recorded")
	require.Contains(t, g.Files(t), res.Batches[0].FileName, "but it is on the gateway")
	d.Crash = nil
	sum, err = d.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.DeliverySummary{Delivered: 1}, sum)
	delivered = append(delivered, f.batch(t, res.Batches[0].ID))
	requireDelivered(t, g.Dir, delivered...)
	require.Equal(t, export.BatchDelivered, delivered[2].State)
}

// reportDrop writes a pacs.002 with a group status (and entries) on a
// batch into dir.
func reportDrop(t *testing.T, dir, name, batchID, group, reason string, entries ...iso20022.StatusEntry) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, iso20022.WriteStatusReport(&buf, iso20022.StatusReport{
		MessageID: "STS-" + strings.TrimSuffix(name, ".xml"), CreatedAt: time.Date(2026, 3, 10, 9, 45, 0, 0, time.UTC),
		OriginalMessageID: batchID, GroupStatus: group, GroupReasonCode: reason, Entries: entries,
	}))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o600))
}

// TestAcknowledgeRejectReissue delivers into a directory, acknowledges one
// file and rejects the other by pacs.002 group status, re-issues the
// rejected one (new message id, same payments, the old one superseded,
// audited, a payment live in one batch only, enforced by the database),
// delivers the new file, raises the alert when it is not acknowledged in
// time, and re-issues the lost one again.
func TestAcknowledgeRejectReissue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	f := newFixture(t)
	out, gw, inbound := t.TempDir(), t.TempDir(), t.TempDir()
	ids := f.submit(t, bankCNAPS, "CNY", 4, "2026-03-10")
	f.authorize(t, ids, at(2026, 3, 10, 9, 30))
	x := f.exporter(t, f.store, out)
	var logs bytes.Buffer
	target, err := export.ParseTarget(export.TargetSettings{Spec: "dir:" + gw})
	require.NoError(t, err)
	d := f.deliverer(target, out, slog.New(slog.NewTextHandler(&logs, nil)))
	var acked []export.AckOutcome
	reports := &export.Reports{Store: f.store, Dir: inbound, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Acked: func(o export.AckOutcome) { acked = append(acked, o) }}

	f.clock.Set(at(2026, 3, 10, 10, 0).Add(time.Second))
	res, err := x.RunCutoff(ctx, at(2026, 3, 10, 10, 0))
	require.NoError(t, err)
	require.Len(t, res.Batches, 2)
	a, b := res.Batches[0], res.Batches[1]
	require.Equal(t, 3, a.Count)
	require.Equal(t, 1, b.Count)
	_, err = x.Reissue(ctx, b.ID, "ops.li", "not delivered yet")
	require.ErrorContains(t, err, "only a rejected file, or one delivered and never acknowledged, is re-issued")
	sum, err := d.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.DeliverySummary{Delivered: 2}, sum)
	requireDelivered(t, gw, f.batch(t, a.ID), f.batch(t, b.ID))

	reportDrop(t, inbound, "ack-a.xml", a.ID, "ACCP", "")
	reportDrop(t, inbound, "rjct-b.xml", b.ID, "RJCT", "FF01")
	reportDrop(t, inbound, "unknown.xml", "B20990101000000-0001", "ACCP", "")
	isum, err := reports.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.ImportSummary{Files: 3, Applied: 2, Quarantined: 1}, isum)
	require.Equal(t, []export.AckOutcome{{Changed: true, State: export.BatchAcknowledged}, {Changed: true, State: export.BatchRejected}}, acked)
	ga, gb := f.batch(t, a.ID), f.batch(t, b.ID)
	require.Equal(t, export.BatchAcknowledged, ga.State)
	require.Equal(t, "ACCP", ga.Delivery.AckStatus)
	require.Equal(t, export.BatchRejected, gb.State)
	require.Equal(t, "FF01", gb.Delivery.AckReason)
	f.requireStates(t, ids, payment.StateExported)
	reason, err := os.ReadFile(filepath.Join(inbound, "quarantine", "unknown.xml.reason.txt"))
	require.NoError(t, err)
	require.Contains(t, string(reason), "is not a b2bpay file")

	_, err = x.Reissue(ctx, a.ID, "ops.li", "try")
	require.ErrorContains(t, err, "is acknowledged")
	_, err = x.Reissue(ctx, b.ID, "", "")
	require.ErrorContains(t, err, "--operator")
	f.clock.Set(at(2026, 3, 10, 11, 0))
	nb, err := x.Reissue(ctx, b.ID, "ops.li", "clearing rejected FF01")
	require.NoError(t, err)
	require.Equal(t, b.ID+"-R1", nb.ID)
	require.Equal(t, export.BatchWritten, nb.State)
	require.Equal(t, b.Count, nb.Count)
	require.Equal(t, b.ControlSumMinor, nb.ControlSumMinor)
	validate(t, filepath.Join(out, nb.FileName))
	require.Equal(t, paymentsInFile(t, filepath.Join(out, b.FileName)), paymentsInFile(t, filepath.Join(out, nb.FileName)),
		"the same payments under a new message id")
	xml, err := os.ReadFile(filepath.Join(out, nb.FileName))
	require.NoError(t, err)
	require.Contains(t, string(xml), "<MsgId>"+nb.ID+"</MsgId>")
	old := f.batch(t, b.ID)
	require.Equal(t, export.BatchSuperseded, old.State)
	require.Equal(t, nb.ID, old.Delivery.SupersededBy)
	require.Equal(t, b.ID, f.batch(t, nb.ID).Delivery.ReissueOf)
	for p, batch := range f.batchOf(t) {
		if batch != a.ID {
			require.Equal(t, nb.ID, batch, p)
		}
	}
	var audit string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT actor || ' ' || detail FROM audit_log WHERE event = 'batch_reissued'`).Scan(&audit))
	require.Equal(t, "operator:ops.li batch "+b.ID+" (rejected) re-issued as "+nb.ID+": clearing rejected FF01", audit)
	// The database keeps a payment live in one batch.
	_, err = f.pool.Exec(ctx, `INSERT INTO batch_payments (batch_id, seq, payment_id, debtor_name)
		SELECT $1, 99, payment_id, debtor_name FROM batch_payments WHERE batch_id = $2`, a.ID, nb.ID)
	require.ErrorContains(t, err, "batch_payments_one_live")
	_, err = x.Reissue(ctx, b.ID, "ops.li", "again")
	require.ErrorContains(t, err, "is superseded")

	// The new file goes through delivery like any other.
	sum, err = d.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.DeliverySummary{Delivered: 1}, sum)
	requireDelivered(t, gw, ga, old, f.batch(t, nb.ID))
	events := f.fileEvents(t)
	for p, evs := range events {
		if slices.Contains(evs, "acknowledged "+a.ID) {
			require.Equal(t, []string{"delivered " + a.ID, "acknowledged " + a.ID}, evs, p)
		} else {
			require.Equal(t, []string{"delivered " + b.ID, "rejected " + b.ID, "reissued " + nb.ID, "delivered " + nb.ID}, evs, p)
		}
	}
	require.Len(t, events, 4)

	// Not acknowledged in time: the alert, once.
	f.clock.Set(at(2026, 3, 10, 12, 59))
	late, err := d.Unacknowledged(ctx)
	require.NoError(t, err)
	require.Empty(t, late)
	f.clock.Set(at(2026, 3, 10, 13, 1))
	late, err = d.Unacknowledged(ctx)
	require.NoError(t, err)
	require.Len(t, late, 1)
	require.Equal(t, nb.ID, late[0].ID)
	_, err = d.Unacknowledged(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(logs.String(), "alert=batch_unacknowledged"), logs.String())
	_, unacked, err := f.store.DeliveryStats(ctx, f.clock.Now().Add(-2*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, unacked)

	// Lost: re-issued again; a late acceptance of the lost file is an alert
	// and changes nothing.
	nb2, err := x.Reissue(ctx, nb.ID, "ops.li", "no acknowledgement from the clearing")
	require.NoError(t, err)
	require.Equal(t, b.ID+"-R2", nb2.ID)
	reportDrop(t, inbound, "late.xml", nb.ID, "ACSP", "")
	_, err = reports.RunOnce(ctx)
	require.NoError(t, err)
	require.Contains(t, logs.String(), "alert=superseded_batch_accepted")
	require.Equal(t, export.BatchSuperseded, f.batch(t, nb.ID).State)
	_, err = d.RunOnce(ctx)
	require.NoError(t, err)
	requireDelivered(t, gw, ga, old, f.batch(t, nb.ID), f.batch(t, nb2.ID))

	// Transaction statuses without a group status settle the payments and
	// acknowledge the file they name; on the superseded file they are
	// refused.
	var moved string
	for p, batch := range f.batchOf(t) {
		if batch == nb2.ID {
			moved = p
		}
	}
	require.NotEmpty(t, moved)
	entry := iso20022.StatusEntry{OriginalTransactionID: strings.ReplaceAll(moved, "-", ""), Status: "ACSC"}
	reportDrop(t, inbound, "old-file.xml", b.ID, "", "", entry)
	reportDrop(t, inbound, "settled.xml", nb2.ID, "", "", entry)
	isum, err = reports.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.ImportSummary{Files: 2, Applied: 1, Quarantined: 1, Payments: 1}, isum)
	reason, err = os.ReadFile(filepath.Join(inbound, "quarantine", "old-file.xml.reason.txt"))
	require.NoError(t, err)
	require.Contains(t, string(reason), "is not in batch "+b.ID)
	settled := f.batch(t, nb2.ID)
	require.Equal(t, export.BatchAcknowledged, settled.State)
	require.Equal(t, export.AckByTransactions, settled.Delivery.AckStatus)
	f.requireStates(t, []string{moved}, payment.StateSettled)
}

// TestDeliveryRemoteConflict keeps a batch failed, with the alert, when
// the gateway holds another file of its name.
func TestDeliveryRemoteConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t)
	out, gw := t.TempDir(), t.TempDir()
	ids := f.submit(t, bankCNAPS, "CNY", 1, "2026-03-10")
	f.authorize(t, ids, at(2026, 3, 10, 9, 30))
	x := f.exporter(t, f.store, out)
	f.clock.Set(at(2026, 3, 10, 10, 0).Add(time.Second))
	res, err := x.RunCutoff(ctx, at(2026, 3, 10, 10, 0))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(gw, res.Batches[0].FileName), []byte("<other/>"), 0o600))
	var logs bytes.Buffer
	d := f.deliverer(&export.DirTarget{Dir: gw}, out, slog.New(slog.NewTextHandler(&logs, nil)))
	sum, err := d.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, export.DeliverySummary{Failed: 1}, sum)
	got := f.batch(t, res.Batches[0].ID)
	require.Equal(t, export.BatchDeliveryFailed, got.State)
	require.Contains(t, got.Delivery.LastError, export.ErrRemoteDiffers.Error())
	require.Contains(t, logs.String(), "alert=delivery_conflict")
	b, err := os.ReadFile(filepath.Join(gw, res.Batches[0].FileName))
	require.NoError(t, err)
	require.Equal(t, "<other/>", string(b))
}
