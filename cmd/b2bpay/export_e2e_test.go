package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/b2bpay/b2bpay/approval"
	"github.com/b2bpay/b2bpay/calendar"
	"github.com/b2bpay/b2bpay/export"
	"github.com/b2bpay/b2bpay/iso20022"
	"github.com/b2bpay/b2bpay/payment"
)

// TestSeedToSettlement takes a payment the whole way: request, the three
// approvals, the cutoff that writes it into an XSD-valid pacs.008 file,
// and the pacs.002 report that settles it; then the status API and the
// hash chain tell the whole story.
func TestSeedToSettlement(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sched, err := calendar.NewSchedule(shanghai(), calendar.Weekdays(), "0 10 * * *", "30 22 * * *")
	require.NoError(t, err)
	e.app.Approval.SetNextCutoff(sched.Next)
	outbound, inbound := t.TempDir(), t.TempDir()
	x, err := export.New(e.app.Store, export.Config{Dir: outbound, Format: iso20022.Pacs008(), MaxPerFile: 100,
		Schedule: sched, Calendar: calendar.Weekdays(), Location: shanghai(), Runner: "test"})
	require.NoError(t, err)
	reports := &export.Reports{Store: e.app.Store, Dir: inbound}

	ann := e.enroll(t, "ann")
	rita := e.person(t, "rita", "C1", payment.RoleReviewer)
	alex := e.person(t, "alex", "C1", payment.RoleAuthorizer)
	p := e.submit(t, request("settle-1"))
	require.Equal(t, approval.Applied, e.decide(t, ann.token, p.ID, payment.StageConfirmation, payment.VerdictApprove, ann.code(t), p.Digest(), "").Outcome)
	require.Equal(t, approval.Applied, e.decide(t, rita.token, p.ID, payment.StageReview, payment.VerdictApprove, rita.code(t), p.Digest(), "").Outcome)
	res := e.decide(t, alex.token, p.ID, payment.StageAuthorization, payment.VerdictApprove, alex.code(t), p.Digest(), "")
	require.Equal(t, payment.StateAuthorized, res.State, res.Reason)
	require.NotNil(t, res.NextCutoff, "the authorizer is told which cutoff the payment makes")
	require.True(t, res.NextCutoff.After(time.Now().Add(-time.Minute)))

	run, err := x.RunCutoff(ctx, time.Now())
	require.NoError(t, err)
	require.Len(t, run.Batches, 1)
	b := run.Batches[0]
	require.Equal(t, 1, b.Count)
	require.Equal(t, payment.StateExported, e.payment(t, p.ID).State)

	// The file is valid pacs.008.001.08 and its manifest matches it.
	file := filepath.Join(outbound, b.FileName)
	out, err := exec.Command("xmllint", "--noout", "--schema", "../../iso20022/testdata/xsd/pacs.008.001.08.xsd", file).CombinedOutput()
	require.NoError(t, err, string(out))
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Contains(t, string(raw), "<EndToEndId>SO-settle-1</EndToEndId>")
	require.Contains(t, string(raw), "1286400.50")
	var m export.Manifest
	mb, err := os.ReadFile(file + ".manifest.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(mb, &m))
	require.Equal(t, 1, m.Count)
	require.Equal(t, "1286400.50", m.ControlSum)
	written, err := e.app.Store.BatchGet(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, "written", written.State)
	require.Equal(t, written.SHA256, m.SHA256)

	// The clearing house settles it.
	var rep bytes.Buffer
	require.NoError(t, iso20022.WriteStatusReport(&rep, iso20022.StatusReport{
		MessageID: "CNAPS-STS-0001", CreatedAt: time.Now().UTC().Truncate(time.Second), OriginalMessageID: b.ID,
		Entries: []iso20022.StatusEntry{{OriginalEndToEndID: "SO-settle-1", OriginalTransactionID: strings.ReplaceAll(p.ID, "-", ""), Status: "ACSC"}},
	}))
	require.NoError(t, os.WriteFile(filepath.Join(inbound, "pacs002-0001.xml"), rep.Bytes(), 0o600))
	sum, err := reports.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, sum.Applied)
	require.Equal(t, payment.StateSettled, e.payment(t, p.ID).State)

	// The customer's staff see the whole story; the chain holds.
	var view struct {
		Payment  struct{ State string } `json:"payment"`
		Timeline []struct {
			Action string `json:"action"`
			Note   string `json:"note"`
		} `json:"timeline"`
	}
	require.Equal(t, http.StatusOK, e.api(t, http.MethodGet, "/v1/payments/"+p.ID, rita.token, nil, &view))
	require.Equal(t, "settled", view.Payment.State)
	var actions []string
	for _, en := range view.Timeline {
		actions = append(actions, en.Action)
	}
	require.Equal(t, []string{"receive", "request_confirmation", "confirm", "approve", "authorize", "export", "settle"}, actions)
	require.Contains(t, view.Timeline[5].Note, b.FileName)
	q := e.payment(t, p.ID)
	tl, err := e.app.Store.PaymentTimeline(ctx, p.ID)
	require.NoError(t, err)
	seq, why := payment.VerifyChain(tl, q.HeadHash)
	require.Zero(t, seq, why)
}

// exporter is an exporter of e's store writing to dir, with one cutoff at
// 10:00 Shanghai on weekdays: for tests that run a cutoff by hand.
func (e *env) exporter(t *testing.T, dir string) *export.Exporter {
	t.Helper()
	sched, err := calendar.NewSchedule(shanghai(), calendar.Weekdays(), "0 10 * * *")
	require.NoError(t, err)
	x, err := export.New(e.app.Store, export.Config{Dir: dir, Format: iso20022.Pacs008(), MaxPerFile: 100,
		Schedule: sched, Calendar: calendar.Weekdays(), Location: shanghai(), Runner: "test"})
	require.NoError(t, err)
	return x
}
