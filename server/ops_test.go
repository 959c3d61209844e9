package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/intake"
	"github.com/b2bpay/b2bpay/ops"
	"github.com/b2bpay/b2bpay/payment"
	"github.com/b2bpay/b2bpay/postgres"
	"github.com/b2bpay/b2bpay/route"
	"github.com/b2bpay/b2bpay/secret"
	"github.com/b2bpay/b2bpay/testkit"
)

// TestOperationsViews builds every operations view over a real database and
// broker: three payments through intake, authorized and exported by a
// manual cutoff into two files (one settled by a status report, so its
// batch is partly settled), a quarantined report, a refused request, an
// unreadable message with a long body, an outbox backlog with a failing
// message, a scheduled run days ago (so the scheduled cutoffs since are
// missed) and a customer registered after the queues were declared.
func TestOperationsViews(t *testing.T) {
	ctx := t.Context()
	url := testkit.NewDatabase(t)
	amqpURL := testkit.OwnVhost(t)
	sec, err := NewSecurity(secret.NewKey(), 15*time.Minute, nil)
	require.NoError(t, err)
	a, err := Open(ctx, Config{DatabaseURL: url, AMQPURL: amqpURL, Location: shanghai(), Logger: slog.New(slog.DiscardHandler)}, sec)
	require.NoError(t, err)
	t.Cleanup(a.Close)

	cust := payment.Customer{ID: "CUST-310115000123", Name: "上海浦东精密机械有限公司", OnlinePayment: true, Active: true}
	up := payment.Upstream{ID: "erp", Name: "ERP", AMQPUser: "erp", Active: true, Customers: []string{cust.ID}}
	require.NoError(t, a.Store.CustomerCreate(ctx, cust))
	require.NoError(t, a.Store.BankCreate(ctx, payment.Bank{ID: bankB2B, Name: "Bank", B2B: true}))
	require.NoError(t, a.Store.AccountCreate(ctx, payment.Account{Number: "340058712340", BankID: bankB2B, CustomerID: cust.ID, Currency: "CNY", Active: true}))
	require.NoError(t, a.Store.UserCreate(ctx, payment.User{ID: "zhang.wei", CustomerID: cust.ID, Name: "Zhang Wei",
		Roles: []payment.Role{payment.RoleApplicant}, Active: true}))
	require.NoError(t, a.Store.UpstreamCreate(ctx, up, nil, 0))

	today := time.Now().In(shanghai()).Format(payment.DateLayout)
	submit := func(n int, account string) intake.Outcome {
		body, err := json.Marshal(map[string]any{
			"schema_version": 1, "request_id": fmt.Sprintf("req-%d", n), "order_ref": fmt.Sprintf("PO-%d", n),
			"customer_id": cust.ID, "applicant": "zhang.wei", "bank_id": bankB2B, "debtor_account": account,
			"creditor": map[string]string{"name": "上海华东机电设备有限公司", "account": "31001520313050012345", "bank_id": "105290036005"},
			"amount":   fmt.Sprintf("%d.25", 1000+n), "currency": "CNY", "remittance_info": "货款", "execution_date": today,
		})
		require.NoError(t, err)
		r, err := payment.Decode(body)
		require.NoError(t, err)
		out, err := a.Store.IntakeSubmit(ctx, intake.Submission{Upstream: up, Request: r, BodySHA256: sha256.Sum256(body)})
		require.NoError(t, err)
		return out
	}
	var ids []string
	for n := range 3 {
		out := submit(n, "340058712340")
		require.NotNil(t, out.Payment, out.Answer.Reason)
		ids = append(ids, out.Payment.ID)
	}
	refused := submit(9, "999999999999") // an account the customer does not hold
	require.Nil(t, refused.Payment)

	// Authorized (sealed fixture decisions), then exported by a manual
	// cutoff, two payments a file.
	_, err = a.Pool.Exec(ctx, `UPDATE payments SET state = 'authorized', updated_at = now() - interval '1 minute' WHERE id::text = ANY($1)`, ids)
	require.NoError(t, err)
	_, err = postgres.ApproveFixture(ctx, a.Pool, a.Ring.MAC)
	require.NoError(t, err)
	outDir, inDir := t.TempDir(), t.TempDir()
	ec, err := LoadExport(ExportSettings{Outbound: outDir, Inbound: inDir, Cutoffs: "0 10 * * *; 30 22 * * *", Calendar: "weekdays", MaxPerFile: 2}, shanghai())
	require.NoError(t, err)
	require.NoError(t, a.CutoffRun(ctx, io.Discard, ec, time.Time{}, false))

	// A scheduled run three days ago: the scheduled cutoffs since are missed.
	threeDays := time.Now().Add(-72 * time.Hour).Truncate(time.Second)
	_, err = a.Pool.Exec(ctx, `INSERT INTO cutoff_runs (cutoff_at, started_at, finished_at, runner, kind) VALUES ($1, $1, $1, 'old', 'scheduled')`, threeDays)
	require.NoError(t, err)

	o, err := a.Operations(ec)
	require.NoError(t, err)

	// Batches: two files, 2 + 1 payments, sums in minor units.
	bs, err := o.Batches(ctx, 0)
	require.NoError(t, err)
	require.Len(t, bs, 2)
	total, count := int64(0), 0
	for _, b := range bs {
		require.Equal(t, ops.BatchWritten, b.State)
		require.Equal(t, b.FileName+".manifest.json", b.Manifest)
		require.Len(t, b.Sums, 1)
		require.Equal(t, "CNY", b.Sums[0].Currency)
		require.Equal(t, b.Payments, b.States[payment.StateExported])
		require.Equal(t, time.UTC, b.CreatedAt.Location())
		total += b.Sums[0].Minor
		count += b.Payments
	}
	require.Equal(t, 3, count)
	require.Equal(t, int64(100025+100125+100225), total)

	// A report settles one payment of the two-payment batch: partly.
	var two ops.BatchView
	for _, b := range bs {
		if b.Payments == 2 {
			two = b
		}
	}
	var inTwo []string
	require.NoError(t, a.Pool.QueryRow(ctx, `SELECT array_agg(payment_id::text ORDER BY seq) FROM batch_payments WHERE batch_id = $1`, two.ID).Scan(&inTwo))
	_, err = a.Store.StatusReportApply(ctx, "aa11", "report-1.xml", "RPT-1", []export.ReportEntry{{BatchID: two.ID, PaymentID: inTwo[0], Status: "ACSC"}})
	require.NoError(t, err)
	require.NoError(t, a.Store.StatusReportQuarantine(ctx, "bb22", "report-2.xml", "RPT-2", "entry 1: payment x is not in batch y"))
	bs, err = o.Batches(ctx, 10)
	require.NoError(t, err)
	for _, b := range bs {
		if b.ID == two.ID {
			require.Equal(t, ops.BatchPartly, b.State)
			require.Equal(t, 1, b.States[payment.StateSettled])
		}
	}

	reports, err := o.Reports(ctx, 10)
	require.NoError(t, err)
	require.Len(t, reports, 2)
	byFile := map[string]ops.ReportView{}
	for _, r := range reports {
		byFile[r.FileName] = r
	}
	require.Equal(t, "applied", byFile["report-1.xml"].Outcome)
	require.Equal(t, 1, byFile["report-1.xml"].Entries)
	require.Equal(t, "quarantined", byFile["report-2.xml"].Outcome)
	require.Contains(t, byFile["report-2.xml"].Reason, "not in batch")

	// The file as written, its manifest; a file changed on disk is refused.
	name, body, manifest, err := o.BatchFile(ctx, two.ID)
	require.NoError(t, err)
	require.Equal(t, two.FileName, name)
	onDisk, err := os.ReadFile(filepath.Join(outDir, name))
	require.NoError(t, err)
	require.Equal(t, onDisk, body)
	require.Contains(t, string(manifest), two.ID)
	require.NoError(t, os.WriteFile(filepath.Join(outDir, name), append(onDisk, ' '), 0o600))
	_, _, _, err = o.BatchFile(ctx, two.ID)
	require.ErrorContains(t, err, "not the one written")
	_, _, _, err = o.BatchFile(ctx, "../../etc/passwd")
	require.ErrorIs(t, err, payment.ErrNotFound)
	// A batch whose recorded name is a path is refused, never opened.
	_, err = a.Pool.Exec(ctx, `UPDATE batches SET file_name = '../x.xml' WHERE id = $1`, two.ID)
	require.NoError(t, err)
	_, _, _, err = o.BatchFile(ctx, two.ID)
	require.ErrorContains(t, err, "not a plain file name")

	// Dead letters: the refused request, and an unreadable message whose
	// body is shown clipped.
	long := []byte(`{"garbage": "` + strings.Repeat("x", 5000) + `"}`)
	orig := route.Original{Key: "k-unreadable", MessageID: "m-1", Body: long}
	_, err = a.Store.IntakeReject(ctx, intake.Rejection{Key: orig.Key, Code: payment.CodeMalformed, Reason: "body is not JSON",
		DeadLetter: route.DeadLetter(orig, payment.CodeMalformed, "body is not JSON")})
	require.NoError(t, err)
	dls, err := o.DeadLetters(ctx, 10)
	require.NoError(t, err)
	require.Len(t, dls, 2)
	bySource := map[string]ops.DeadLetterView{}
	for _, d := range dls {
		bySource[d.Source] = d
	}
	rej := bySource[ops.DeadRejected]
	require.Equal(t, "k-unreadable", rej.Key)
	require.Equal(t, string(payment.CodeMalformed), rej.Code)
	require.Equal(t, "body is not JSON", rej.Reason)
	require.Equal(t, len(long), rej.BodyBytes)
	require.True(t, rej.Clipped)
	require.True(t, strings.HasPrefix(rej.Excerpt, `{"garbage": "xxx`))
	require.LessOrEqual(t, len(rej.Excerpt), ops.ExcerptBytes+len("…"))
	ref := bySource[ops.DeadRefused]
	require.Equal(t, "erp", ref.UpstreamID)
	require.Equal(t, "req-9", ref.RequestID)
	require.Equal(t, string(refused.Answer.Code), ref.Code)
	require.NotEmpty(t, ref.Reason)

	// Outbox: every event and the dead letter are pending (no relay runs);
	// one publish failed.
	var pending int
	require.NoError(t, a.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&pending))
	require.Positive(t, pending)
	claimed, err := a.Store.OutboxClaim(ctx, 1)
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.NoError(t, a.Store.OutboxMark(ctx, claimed, []error{errors.New("broker said no: " + strings.Repeat("!", 1000))}))
	ob, err := o.Outbox(ctx)
	require.NoError(t, err)
	require.Equal(t, pending, ob.Pending)
	require.Positive(t, ob.OldestAge)
	require.Equal(t, 1, ob.Failing)
	require.Len(t, ob.FailingShown, 1)
	require.Equal(t, claimed[0].MessageID, ob.FailingShown[0].MessageID)
	require.Equal(t, 1, ob.FailingShown[0].Attempts)
	require.True(t, strings.HasPrefix(ob.FailingShown[0].LastError, "broker said no"))
	require.LessOrEqual(t, len(ob.FailingShown[0].LastError), ops.ReasonChars+len("…"))

	// Cutoffs: the schedule, the next one, the runs, the missed ones.
	cv, err := o.Cutoffs(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"0 10 * * *", "30 22 * * *"}, cv.Specs)
	require.Equal(t, "Asia/Shanghai", cv.Zone)
	require.Equal(t, "weekdays", cv.Calendar)
	require.True(t, cv.Next.After(cv.Now))
	require.Equal(t, time.UTC, cv.Next.Location())
	require.Len(t, cv.Runs, 2)
	require.Equal(t, "manual", cv.Runs[0].Kind)
	require.Equal(t, ops.RunFinished, cv.Runs[0].Result)
	require.Equal(t, 2, cv.Runs[0].Batches)
	require.Equal(t, 3, cv.Runs[0].Payments)
	require.Equal(t, "scheduled", cv.Runs[1].Kind)
	require.Equal(t, ops.RunEmpty, cv.Runs[1].Result)
	sched, err := calendar.NewSchedule(shanghai(), calendar.Weekdays(), "0 10 * * *", "30 22 * * *")
	require.NoError(t, err)
	var want []time.Time
	for _, c := range sched.Between(threeDays, cv.Now.Add(-5*time.Minute)) {
		want = append(want, c.UTC())
	}
	require.NotEmpty(t, want)
	require.Equal(t, want, cv.Missed)

	// Queues: none before the broker is there; then b2bpay's, with depths,
	// and a customer's task queues missing until declared.
	_, err = o.Queues(ctx)
	require.ErrorContains(t, err, "not connected")
	require.NoError(t, a.OpenBroker(ctx, "ops-test", 10*time.Second))
	require.NoError(t, a.Declare(ctx))
	require.NoError(t, a.Store.CustomerCreate(ctx, payment.Customer{ID: "CUST-LATE", Name: "Late", OnlinePayment: true, Active: true}))
	// An upstream registered late too: its missing status queue comes
	// before erp's, which is still read (a missing queue closes the channel).
	require.NoError(t, a.Store.UpstreamCreate(ctx, payment.Upstream{ID: "aaa", Name: "AAA", AMQPUser: "aaa", Active: true,
		Customers: []string{cust.ID}}, nil, 0))
	publish(t, amqpURL, route.IntakeDeadQueue, 2)
	depths := map[string]ops.QueueDepth{}
	require.Eventually(t, func() bool {
		qs, err := o.Queues(ctx)
		require.NoError(t, err)
		for _, q := range qs {
			depths[q.Name] = q
		}
		return depths[route.IntakeDeadQueue].Messages == 2
	}, 10*time.Second, 100*time.Millisecond)
	for _, name := range []string{route.IntakeQueue, route.DecisionsQueue, route.DecisionsDeadQueue, route.StatusQueue("erp"),
		route.TaskQueue(cust.ID, payment.StageReview)} {
		require.Contains(t, depths, name)
		require.False(t, depths[name].Missing, name)
	}
	require.True(t, depths[route.TaskQueue("CUST-LATE", payment.StageConfirmation)].Missing)
	require.True(t, depths[route.StatusQueue("aaa")].Missing)
	// The passive declares created nothing: still missing when read again.
	qs, err := o.Queues(ctx)
	require.NoError(t, err)
	for _, q := range qs {
		if q.Name == route.TaskQueue("CUST-LATE", payment.StageConfirmation) {
			require.True(t, q.Missing)
		}
	}
}

// publish puts n messages straight into queue.
func publish(t *testing.T, url, queue string, n int) {
	t.Helper()
	conn, err := amqp.Dial(url)
	require.NoError(t, err)
	defer conn.Close()
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, ch.Confirm(false))
	for i := range n {
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), "", queue, true, false,
			amqp.Publishing{Body: []byte(fmt.Sprint("dead ", i)), DeliveryMode: amqp.Persistent})
		require.NoError(t, err)
		ok, err := dc.WaitContext(t.Context())
		require.NoError(t, err)
		require.True(t, ok)
	}
}
